//! What the token endpoints (`/oauth2/revoke`, `/oauth2/introspect`) share:
//! reading the request in the order of docs/behaviour.md, Revocation (content type → body size → form
//! → parameters → credentials), the rate limits, and client authentication
//! with its metrics and lockout accounting.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Uri, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use tracing::Span;

use super::AppState;
use super::credentials::{self, Authorization};
use super::error::OAuthError;
use super::form::{Duplicate, Form};
use super::peer::ClientAddress;
use crate::auth::{AuthError, Credentials};
use crate::domain::token::{PresentedToken, TokenTypeHint};

/// The OAuth parameters that must never travel in a URL (docs/behaviour.md, Revocation).
const OAUTH_PARAMETERS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

/// What a token request asks, once parsed.
pub struct Asked<'a> {
    pub token: PresentedToken,
    pub credentials: Credentials,
    /// The realm of the `WWW-Authenticate` challenge, when the request used
    /// an `Authorization` header (RFC 6749 §5.2).
    pub challenge: Option<&'a str>,
}

/// Content type → body size → form parsing → parameters → credentials; the
/// first check that fails answers.
pub async fn parse<'a>(
    app: &'a AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Asked<'a>, OAuthError> {
    require_form_content_type(headers)?;
    let body = read_body(headers, body, app.body_limit, app.body_timeout).await?;
    let form = Form::parse(&body)
        .map_err(|_| OAuthError::invalid_request("the body is not valid form data"))?;
    reject_oauth_parameters_in_query(uri)?;

    let token = form.single("token").map_err(duplicate)?;
    let hint = form.single("token_type_hint").map_err(duplicate)?;
    let client_id = form.single("client_id").map_err(duplicate)?;
    let client_secret = form.single("client_secret").map_err(duplicate)?;
    let token = token
        .and_then(|token| PresentedToken::parse(token.to_owned()))
        .ok_or(OAuthError::invalid_request(
            "the token parameter is required",
        ))?;
    if let Some(hint) = hint.and_then(TokenTypeHint::parse) {
        Span::current().record("hint", hint.as_str());
    }
    let authorization = Authorization::from_headers(headers);
    let challenge = authorization.was_used().then_some(app.issuer.as_str());
    let credentials = credentials::combine(authorization, client_id, client_secret, &app.issuer)?;
    Ok(Asked {
        token,
        credentials,
        challenge,
    })
}

/// The rate limits and lockouts, before any verification (`429`). A
/// lockout refuses only guesses: requests carrying a secret that this
/// instance has not verified lately.
pub fn admit(
    app: &AppState,
    caller: ClientAddress,
    credentials: &Credentials,
) -> Result<(), OAuthError> {
    app.limiter
        .admit(
            caller.ip,
            credentials.client_id(),
            credentials.carries_secret() && !app.authenticator.recently_verified(credentials),
        )
        .map_err(|refusal| {
            app.metrics.rate_limited(refusal.limit);
            rejected(
                OAuthError::too_many_requests(refusal.retry_after),
                "rate limited",
            )
        })
}

/// The answer to a presenter the use case could not serve: a failed
/// authentication is counted (metrics, lockout) and answered `401
/// invalid_client`, a store fault `503`.
pub fn refused(
    app: &AppState,
    caller: ClientAddress,
    asked: &Asked<'_>,
    error: AuthError,
) -> OAuthError {
    match error {
        AuthError::InvalidClient(reason) => {
            app.metrics.client_auth_failure(reason.metric_label());
            tracing::info!(
                auth_failure = reason.label(),
                "client authentication failed"
            );
            // Only a guessed secret is brute force; a lockout refuses only
            // requests that carry one.
            if asked.credentials.carries_secret() {
                app.limiter
                    .failed_authentication(caller.ip, asked.credentials.client_id());
            }
            rejected(
                OAuthError::invalid_client(asked.challenge),
                "client authentication failed",
            )
        }
        AuthError::Store(error) => app.unavailable(&error),
    }
}

/// Bounds the database part of a request by the deadline (`503` past it).
pub async fn within_deadline<T>(
    app: &AppState,
    work: impl std::future::Future<Output = T>,
) -> Result<T, OAuthError> {
    tokio::time::timeout(app.deadline, work).await.map_err(|_| {
        tracing::warn!("request exceeded its deadline");
        OAuthError::temporarily_unavailable(app.retry_after_secs)
    })
}

/// `application/x-www-form-urlencoded`, with any parameters (docs/behaviour.md, Revocation, accepts
/// a `charset`). The body is decoded as UTF-8 whatever it claims: that is the
/// only encoding RFC 6749 Appendix B defines, and other bytes are refused by
/// the form decoder.
pub(super) fn require_form_content_type(headers: &HeaderMap) -> Result<(), OAuthError> {
    let wrong = || {
        OAuthError::invalid_request("the content type must be application/x-www-form-urlencoded")
    };
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(wrong());
    };
    let media_type = value
        .to_str()
        .map_err(|_| wrong())?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(())
    } else {
        Err(wrong())
    }
}

/// Reads at most `limit` bytes (exactly `limit` is accepted), chunked or not.
/// A declared length over the limit is refused before reading anything.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, OAuthError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(OAuthError::body_too_large());
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| OAuthError::body_timeout())?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(OAuthError::body_too_large())
        }
        Err(_) => Err(OAuthError::invalid_request(
            "the request body could not be read",
        )),
    }
}

/// Tokens and secrets must not travel in URLs (docs/behaviour.md, Revocation; RFC 6749 §3.1).
fn reject_oauth_parameters_in_query(uri: &Uri) -> Result<(), OAuthError> {
    let Some(query) = uri.query() else {
        return Ok(());
    };
    let query = Form::parse(query.as_bytes())
        .map_err(|_| OAuthError::invalid_request("the query string is malformed"))?;
    if query.contains_any(OAUTH_PARAMETERS) {
        return Err(OAuthError::invalid_request(
            "OAuth parameters must be sent in the body, not the URL",
        ));
    }
    Ok(())
}

fn duplicate(Duplicate(name): Duplicate) -> OAuthError {
    OAuthError::invalid_request(match name {
        "token" => "the token parameter was sent more than once",
        "token_type_hint" => "the token_type_hint parameter was sent more than once",
        "client_id" => "the client_id parameter was sent more than once",
        _ => "the client_secret parameter was sent more than once",
    })
}

/// Logs a refusal with the `rejected` outcome (docs/behaviour.md, Logging and redaction) and passes it on.
pub fn rejected(error: OAuthError, why: &'static str) -> OAuthError {
    Span::current().record("outcome", "rejected");
    tracing::info!(outcome = "rejected", reason = why, "request refused");
    error
}
