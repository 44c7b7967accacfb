//! `POST /oauth2/revoke` (RFC 7009; docs/behaviour.md, Revocation).
//!
//! The handler is a straight line of checks in the order of docs/behaviour.md, Revocation: content type
//! → body size → form parsing → client authentication → token lookup. The
//! first that fails answers.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tracing::{Span, field};

use super::AppState;
use super::error::{NO_STORE, OAuthError};
use super::observe::RequestId;
use super::peer::ClientAddress;
use super::token_request::{self, Asked, rejected};
use crate::auth::{Credentials, Purpose};
use crate::domain::presenter::Presenter;
use crate::domain::revocation::{AnonymousPolicy, RevocationOutcome};

/// The revocation endpoint.
#[tracing::instrument(name = "revoke", skip_all, fields(client.id = field::Empty, presenter = field::Empty, hint = field::Empty, outcome = field::Empty))]
pub async fn revoke(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let mut presenter_kind = "none";
    match handle(
        &app,
        &request_id,
        caller,
        &headers,
        &uri,
        body,
        &mut presenter_kind,
    )
    .await
    {
        Ok(outcome) => {
            Span::current().record("outcome", outcome.label());
            tracing::info!(outcome = outcome.label(), "revocation");
            app.metrics.revocation(outcome.label(), presenter_kind);
            (StatusCode::OK, NO_STORE).into_response()
        }
        Err(error) => {
            app.metrics.revocation(error.code(), presenter_kind);
            error.into_response()
        }
    }
}

async fn handle(
    app: &AppState,
    request_id: &RequestId,
    caller: ClientAddress,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
    presenter_kind: &mut &'static str,
) -> Result<RevocationOutcome, OAuthError> {
    let Asked {
        token,
        credentials,
        challenge,
    } = token_request::parse(app, headers, uri, body).await?;
    *presenter_kind = credentials.kind_label();
    token_request::admit(app, caller, &credentials)?;
    if matches!(credentials, Credentials::None) && app.anonymous_policy == AnonymousPolicy::Reject {
        return Err(rejected(
            OAuthError::invalid_client(None),
            "anonymous presenters are not accepted",
        ));
    }

    let token = &token;
    let work = token_request::as_current_presenter(
        app,
        caller,
        &credentials,
        challenge,
        Purpose::Revoke,
        |outcome| *outcome == RevocationOutcome::StalePresenter,
        |presenter: Presenter| async move {
            let outcome = app
                .revoker
                .revoke(&presenter, token, request_id.as_str())
                .await
                .map_err(|error| app.unavailable(&error))?;
            Ok((presenter, outcome))
        },
    );
    let outcome = token_request::within_deadline(app, work).await?;

    match outcome {
        RevocationOutcome::ForeignRejected => Err(rejected(
            OAuthError::unauthorized_client(
                "this client may not revoke a token issued to another client",
            ),
            "foreign token refused by policy",
        )),
        // Changed again between a fresh verification and the revocation.
        RevocationOutcome::StalePresenter => Err(rejected(
            OAuthError::invalid_client(challenge),
            "client credentials changed during the request",
        )),
        RevocationOutcome::Revoked { .. }
        | RevocationOutcome::Unknown
        | RevocationOutcome::AlreadyRevoked => Ok(outcome),
    }
}
