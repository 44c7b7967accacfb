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
use crate::auth::Acted;
use crate::domain::revocation::RevocationOutcome;
use crate::revocation::PresentedRevocationError;

/// The revocation endpoint: parse → admit → revoke → answer.
#[tracing::instrument(name = "revoke", skip_all, fields(client.id = field::Empty, presenter = field::Empty, hint = field::Empty, outcome = field::Empty))]
pub async fn revoke(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let asked = match token_request::parse(&app, &headers, &uri, body).await {
        Ok(asked) => asked,
        Err(error) => return refuse(&app, "none", error),
    };
    let presenter_kind = asked.credentials.kind_label();
    match admit_and_revoke(&app, caller, &request_id, &asked).await {
        Ok(outcome) => {
            Span::current().record("outcome", outcome.label());
            tracing::info!(outcome = outcome.label(), "revocation");
            app.metrics.revocation(outcome.label(), presenter_kind);
            (StatusCode::OK, NO_STORE).into_response()
        }
        Err(error) => refuse(&app, presenter_kind, error),
    }
}

fn refuse(app: &AppState, presenter_kind: &'static str, error: OAuthError) -> Response {
    app.metrics.revocation(error.code(), presenter_kind);
    error.into_response()
}

/// The limits, then the use case within the deadline, then its outcome as
/// `200` or a refusal.
async fn admit_and_revoke(
    app: &AppState,
    caller: ClientAddress,
    request_id: &RequestId,
    asked: &Asked<'_>,
) -> Result<RevocationOutcome, OAuthError> {
    token_request::admit(app, caller, &asked.credentials)?;
    let revoked = token_request::within_deadline(
        app,
        app.token_revocation
            .revoke(&asked.credentials, &asked.token, request_id.as_str()),
    )
    .await?;
    let Acted {
        answer: outcome, ..
    } = revoked.map_err(|error| match error {
        PresentedRevocationError::AnonymousRejected => rejected(
            OAuthError::invalid_client(None),
            "anonymous presenters are not accepted",
        ),
        PresentedRevocationError::Auth(error) => token_request::refused(app, caller, asked, error),
    })?;
    match outcome {
        RevocationOutcome::ForeignRejected => Err(rejected(
            OAuthError::unauthorized_client(
                "this client may not revoke a token issued to another client",
            ),
            "foreign token refused by policy",
        )),
        // Changed again between a fresh verification and the revocation.
        RevocationOutcome::StalePresenter => Err(rejected(
            OAuthError::invalid_client(asked.challenge),
            "client credentials changed during the request",
        )),
        RevocationOutcome::Revoked { .. }
        | RevocationOutcome::Unknown
        | RevocationOutcome::AlreadyRevoked => Ok(outcome),
    }
}
