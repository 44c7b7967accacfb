//! `POST /oauth2/introspect` (RFC 7662), for resource servers.
//!
//! The same request handling as revocation (the order of docs/behaviour.md, Revocation; the same client
//! authentication methods), except that anonymous callers are refused
//! (RFC 7662 §4: introspection must not become a token-scanning oracle).
//! Unknown, expired and revoked tokens, and tokens of a disabled client, get
//! `{"active": false}` and nothing else.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use tracing::{Span, field};

use super::AppState;
use super::error::{NO_STORE, OAuthError};
use super::peer::ClientAddress;
use super::token_request::{self, Asked, rejected};
use crate::auth::Credentials;
use crate::domain::presenter::Presenter;
use crate::domain::token::TokenKind;
use crate::introspection::Answer;

/// RFC 7662 §2.2. Only `active` for an inactive token.
#[derive(Serialize)]
struct Introspected<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    /// `Bearer` for an access token, `refresh_token` for a refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

const INACTIVE: Introspected<'static> = Introspected {
    active: false,
    client_id: None,
    sub: None,
    scope: None,
    exp: None,
    iat: None,
    token_type: None,
};

/// The introspection endpoint.
#[tracing::instrument(name = "introspect", skip_all, fields(client.id = field::Empty, presenter = field::Empty, hint = field::Empty, outcome = field::Empty))]
pub async fn introspect(
    State(app): State<AppState>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match handle(&app, caller, &headers, &uri, body).await {
        Ok(answer) => {
            let outcome = match &answer {
                Answer::Active { cached: false, .. } => "active",
                Answer::Active { cached: true, .. } => "active_cached",
                Answer::Inactive | Answer::StalePresenter => "inactive",
            };
            Span::current().record("outcome", outcome);
            tracing::info!(outcome, "introspection");
            app.metrics.introspection(outcome);
            let body = match &answer {
                Answer::Active { state, .. } => Introspected {
                    active: true,
                    client_id: Some(state.client_id.as_str()),
                    sub: Some(&state.subject),
                    scope: state.scope.as_deref(),
                    exp: Some(state.expires_at.timestamp()),
                    iat: Some(state.issued_at.timestamp()),
                    token_type: Some(match state.kind {
                        TokenKind::Access => "Bearer",
                        TokenKind::Refresh => "refresh_token",
                    }),
                },
                Answer::Inactive | Answer::StalePresenter => INACTIVE,
            };
            (StatusCode::OK, NO_STORE, Json(body)).into_response()
        }
        Err(error) => {
            app.metrics.introspection(error.code());
            error.into_response()
        }
    }
}

async fn handle(
    app: &AppState,
    caller: ClientAddress,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Answer, OAuthError> {
    let Asked {
        token,
        credentials,
        challenge,
    } = token_request::parse(app, headers, uri, body).await?;
    token_request::admit(app, caller, &credentials)?;
    if matches!(credentials, Credentials::None) {
        return Err(rejected(
            OAuthError::invalid_client(None),
            "introspection needs client authentication",
        ));
    }
    let token = &token;
    let work = token_request::as_current_presenter(
        app,
        caller,
        &credentials,
        challenge,
        |answer| matches!(answer, Answer::StalePresenter),
        |presenter: Presenter| async move {
            let answer = app
                .introspector
                .introspect(&presenter, token)
                .await
                .map_err(|error| app.unavailable(&error))?;
            Ok((presenter, answer))
        },
    );
    let answer = token_request::within_deadline(app, work).await?;
    if matches!(answer, Answer::StalePresenter) {
        return Err(rejected(
            OAuthError::invalid_client(challenge),
            "client credentials changed during the request",
        ));
    }
    Ok(answer)
}
