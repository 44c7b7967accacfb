//! `POST <issuer path>/oauth2/backchannel-logout`: OpenID Connect
//! Back-Channel Logout 1.0, section 2.8. The body is a form with one
//! `logout_token`; `200` once every grant it names is revoked, `400
//! invalid_request` for a token refused (whatever the rule: the log line
//! says which, the answer does not), `503` when the database or the
//! issuer's key set cannot be reached (the issuer retries), `404` while no
//! upstream is configured.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};

use super::AppState;
use super::error::OAuthError;
use super::form::Form;
use super::observe::RequestId;
use super::peer::ClientAddress;
use super::scanning::limited;
use super::token_request::{read_body, rejected, require_form_content_type};
use crate::logout::{LogoutRefusal, LogoutTokenError};

/// The one answer to every refused token.
const REFUSED: &str = "the logout token is not valid";

/// Every token refused for its signature or keys (none matching, a wrong
/// signature, a key id the issuer does not publish) counts against the
/// caller's address like a secret scanner's bad signature: an address that
/// used up that budget is refused before its body is read.
pub async fn backchannel_logout(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(receiver) = app.logout.as_deref() else {
        return OAuthError::not_found().into_response();
    };
    let outcome = async {
        app.limiter
            .admit_signed_report(caller.ip)
            .map_err(|refusal| limited(&app, refusal))?;
        require_form_content_type(&headers)?;
        let body = read_body(&headers, body, app.body_limit, app.body_timeout).await?;
        let form = Form::parse(&body)
            .map_err(|_| OAuthError::invalid_request("the body is not valid form data"))?;
        let token = form
            .single("logout_token")
            .map_err(|_| {
                OAuthError::invalid_request("the logout_token parameter was sent more than once")
            })?
            .ok_or(OAuthError::invalid_request(
                "the logout_token parameter is required",
            ))?;
        match receiver.receive(token, request_id.as_str()).await {
            Ok(revoked) => {
                tracing::info!(revoked_grants = revoked, "back-channel logout");
                Ok(())
            }
            Err(LogoutRefusal::Store(error)) => Err(app.unavailable(&error)),
            // Not the token's fault: the issuer retries a 5xx later.
            Err(LogoutRefusal::Invalid(LogoutTokenError::KeysUnavailable)) => {
                tracing::warn!("logout token not checked: the issuer's keys cannot be loaded");
                Err(OAuthError::temporarily_unavailable(app.retry_after_secs))
            }
            Err(LogoutRefusal::Interrupted) => {
                Err(OAuthError::temporarily_unavailable(app.retry_after_secs))
            }
            Err(refusal) => {
                if refusal.is_forgery() {
                    app.limiter.failed_signature(caller.ip);
                }
                tracing::info!(reason = %refusal, "logout token refused");
                Err(rejected(
                    OAuthError::invalid_request(REFUSED),
                    "logout token refused",
                ))
            }
        }
    }
    .await;
    match outcome {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => error.into_response(),
    }
}
