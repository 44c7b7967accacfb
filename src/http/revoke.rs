//! `POST /oauth2/revoke` (RFC 7009, SPEC §2).
//!
//! The handler is a straight line of checks in the SPEC's order: content type
//! → body size → form parsing → client authentication → token lookup. The
//! first that fails answers.

use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use tracing::{Span, field};

use super::AppState;
use super::credentials::{self, Authorization};
use super::error::{NO_STORE, OAuthError};
use super::form::{Duplicate, Form};
use super::observe::RequestId;
use super::peer::ClientAddress;
use crate::auth::{AuthError, Credentials};
use crate::domain::presenter::Presenter;
use crate::domain::revocation::{AnonymousPolicy, RevocationOutcome};
use crate::domain::token::{PresentedToken, TokenTypeHint};

/// The OAuth parameters that must never travel in a URL (SPEC §2).
const OAUTH_PARAMETERS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

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
    let request = Request {
        app: &app,
        id: &request_id,
        caller,
        headers: &headers,
    };
    match request.handle(&uri, body, &mut presenter_kind).await {
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

/// One revocation request and what it needs from the server.
struct Request<'a> {
    app: &'a AppState,
    id: &'a RequestId,
    caller: ClientAddress,
    headers: &'a HeaderMap,
}

/// What the request asks, once parsed.
struct Asked<'a> {
    token: PresentedToken,
    credentials: Credentials,
    /// The realm of the `WWW-Authenticate` challenge, when the request used
    /// an `Authorization` header (RFC 6749 §5.2).
    challenge: Option<&'a str>,
}

impl Request<'_> {
    /// Content type → body size → form parsing → parameters → credentials.
    async fn parse(&self, uri: &Uri, body: Body) -> Result<Asked<'_>, OAuthError> {
        let (app, headers) = (self.app, self.headers);
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
        let credentials =
            credentials::combine(authorization, client_id, client_secret, &app.issuer)?;
        Ok(Asked {
            token,
            credentials,
            challenge,
        })
    }

    async fn handle(
        &self,
        uri: &Uri,
        body: Body,
        presenter_kind: &mut &'static str,
    ) -> Result<RevocationOutcome, OAuthError> {
        let (app, request_id, caller) = (self.app, self.id, self.caller);
        let Asked {
            token,
            credentials,
            challenge,
        } = self.parse(uri, body).await?;
        *presenter_kind = credentials.kind_label();
        let named_client = credentials.client_id();
        if let Err(refusal) = app.limiter.admit(caller.ip, named_client) {
            app.metrics.rate_limited(refusal.limit);
            return Err(rejected(
                OAuthError::too_many_requests(refusal.retry_after),
                "rate limited",
            ));
        }
        if matches!(credentials, Credentials::None)
            && app.anonymous_policy == AnonymousPolicy::Reject
        {
            return Err(rejected(
                OAuthError::invalid_client(None),
                "anonymous presenters are not accepted",
            ));
        }

        let work = async {
            let authenticate = || async {
                let presenter = app.authenticator.authenticate(&credentials).await.map_err(
                    |error| match error {
                        AuthError::InvalidClient(reason) => {
                            app.metrics.client_auth_failure(reason.label());
                            app.limiter.failed_authentication(caller.ip, named_client);
                            rejected(
                                OAuthError::invalid_client(challenge),
                                "client authentication failed",
                            )
                        }
                        AuthError::Store(error) => app.unavailable(&error),
                    },
                )?;
                record_presenter(&presenter);
                Ok::<_, OAuthError>(presenter)
            };
            let token = &token;
            let revoke = |presenter: Presenter| async move {
                let outcome = app
                    .revoker
                    .revoke(&presenter, token, request_id.as_str())
                    .await
                    .map_err(|error| app.unavailable(&error))?;
                Ok::<_, OAuthError>((presenter, outcome))
            };
            let (presenter, outcome) = revoke(authenticate().await?).await?;
            if outcome != RevocationOutcome::StalePresenter {
                return Ok(outcome);
            }
            // The client was rotated or disabled since its credentials were
            // cached (possibly by another instance): verify them afresh, once.
            app.authenticator.forget(&presenter);
            let (_, outcome) = revoke(authenticate().await?).await?;
            Ok(outcome)
        };
        let outcome = tokio::time::timeout(app.deadline, work)
            .await
            .map_err(|_| {
                tracing::warn!("revocation exceeded its deadline");
                OAuthError::temporarily_unavailable(app.retry_after_secs)
            })??;

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
}

/// `application/x-www-form-urlencoded`, with any parameters (SPEC §2 accepts
/// a `charset`). The body is decoded as UTF-8 whatever it claims: that is the
/// only encoding RFC 6749 Appendix B defines, and other bytes are refused by
/// the form decoder.
fn require_form_content_type(headers: &HeaderMap) -> Result<(), OAuthError> {
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
async fn read_body(
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

/// Tokens and secrets must not travel in URLs (SPEC §2, RFC 6749 §3.1).
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

fn record_presenter(presenter: &Presenter) {
    let span = Span::current();
    span.record("presenter", presenter.kind_label());
    if let Some(id) = presenter.client_id() {
        span.record("client.id", id.as_str());
    }
}

/// Logs a refusal with the `rejected` outcome (SPEC §5) and passes it on.
fn rejected(error: OAuthError, why: &'static str) -> OAuthError {
    Span::current().record("outcome", "rejected");
    tracing::info!(outcome = "rejected", reason = why, "revocation refused");
    error
}
