//! `POST /oauth2/introspect` (RFC 7662), for resource servers.
//!
//! The same request handling as revocation (the same order of checks),
//! except that only resource servers may ask: confidential clients that
//! authenticate with their secret and that the operator marked as resource
//! servers. Anyone else, a public client's bare `client_id` included, gets
//! `401 invalid_client` (RFC 7662 §2.1 and §4: a public client id is in
//! every browser bundle, and introspection must not become a scanning
//! oracle).
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
use crate::auth::Acted;
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

/// The introspection endpoint: parse → admit → introspect → answer.
#[tracing::instrument(name = "introspect", skip_all, fields(client.id = field::Empty, presenter = field::Empty, hint = field::Empty, outcome = field::Empty))]
pub async fn introspect(
    State(app): State<AppState>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let answer = match token_request::parse(&app, &headers, &uri, body).await {
        Ok(asked) => admit_and_introspect(&app, caller, &asked).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(answer) => {
            let outcome = match &answer {
                Answer::Active { cached: false, .. } => "active",
                Answer::Active { cached: true, .. } => "active_cached",
                Answer::Inactive | Answer::StalePresenter => "inactive",
            };
            Span::current().record("outcome", outcome);
            tracing::info!(outcome, "introspection");
            app.metrics.introspection(outcome);
            (StatusCode::OK, NO_STORE, Json(claims(&answer))).into_response()
        }
        Err(error) => {
            app.metrics.introspection(error.code());
            error.into_response()
        }
    }
}

/// The limits, then the use case within the deadline; a presenter that
/// changed again between a fresh verification and the lookup is refused.
async fn admit_and_introspect(
    app: &AppState,
    caller: ClientAddress,
    asked: &Asked<'_>,
) -> Result<Answer, OAuthError> {
    token_request::admit(app, caller, &asked.credentials)?;
    let introspected = token_request::within_deadline(
        app,
        app.introspector
            .introspect_for(&asked.credentials, &asked.token),
    )
    .await?;
    let Acted { answer, .. } =
        introspected.map_err(|error| token_request::refused(app, caller, asked, error))?;
    if matches!(answer, Answer::StalePresenter) {
        return Err(rejected(
            OAuthError::invalid_client(asked.challenge),
            "client credentials changed during the request",
        ));
    }
    Ok(answer)
}

/// RFC 7662 §2.2: the claims of an active token; `active: false` alone
/// otherwise.
fn claims(answer: &Answer) -> Introspected<'_> {
    match answer {
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
    }
}
