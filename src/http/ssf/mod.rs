//! The Shared Signals Framework transmitter's endpoints (docs/shared-signals.md),
//! mounted only when `ssf.enabled`: the discovery document and key set
//! ([`discovery`]), stream management by the authenticated receiver
//! ([`streams`]) and poll delivery ([`poll`]).

mod discovery;
mod poll;
mod streams;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::map_response;
use axum::response::Response;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::OAuthError;
use super::peer::ClientAddress;
use super::token_request::read_body;
use crate::domain::shared_signals::Receiver;
use crate::shared_signals::{SsfError, Transmitter};

/// Where the endpoints live under the issuer's path.
pub const CONFIGURATION: &str = "/ssf/streams";
pub const STATUS: &str = "/ssf/status";
pub const VERIFICATION: &str = "/ssf/verify";
pub const JWKS: &str = "/ssf/jwks.json";
pub const POLL: &str = "/ssf/poll";

/// Adds the endpoints to `router` when the transmitter runs.
pub fn routes(
    router: Router<AppState>,
    transmitter: Option<&Transmitter>,
    issuer_base: &str,
    issuer_path: &str,
) -> Router<AppState> {
    let Some(transmitter) = transmitter else {
        return router;
    };
    let document = discovery::document(transmitter.issuer(), issuer_base);
    let mut router = router
        .route(
            &format!("{issuer_path}{JWKS}"),
            get(discovery::jwks).fallback(|| async { OAuthError::method_not_allowed("GET, HEAD") }),
        )
        .route(
            &format!("{issuer_path}{CONFIGURATION}"),
            get(streams::read)
                .post(streams::create)
                .patch(streams::update)
                .put(streams::replace)
                .delete(streams::delete)
                .fallback(|| async {
                    OAuthError::method_not_allowed("GET, HEAD, POST, PATCH, PUT, DELETE")
                })
                .layer(map_response(super::no_store)),
        )
        .route(
            &format!("{issuer_path}{STATUS}"),
            get(streams::status)
                .post(streams::set_status)
                .fallback(|| async { OAuthError::method_not_allowed("GET, HEAD, POST") })
                .layer(map_response(super::no_store)),
        )
        .route(
            &format!("{issuer_path}{VERIFICATION}"),
            post(streams::verify)
                .fallback(|| async { OAuthError::method_not_allowed("POST") })
                .layer(map_response(super::no_store)),
        )
        .route(
            &format!("{issuer_path}{POLL}/{{stream_id}}"),
            post(poll::poll)
                .fallback(|| async { OAuthError::method_not_allowed("POST") })
                .layer(map_response(super::no_store)),
        );
    for path in super::metadata::well_known_paths("/.well-known/ssf-configuration", issuer_path) {
        let document = document.clone();
        router = router.route(
            &path,
            get(move || std::future::ready(discovery::serve(document.clone())))
                .fallback(|| async { OAuthError::method_not_allowed("GET, HEAD") }),
        );
    }
    router
}

/// The transmitter, which [`routes`] only mounts handlers for when it runs.
fn transmitter(app: &AppState) -> Result<&Transmitter, OAuthError> {
    app.transmitter.as_ref().ok_or_else(OAuthError::not_found)
}

/// A call by an authenticated receiver: the receiver the request's
/// `Authorization: Bearer` credential belongs to. A missing, malformed,
/// unknown or wrong credential is `401` at the same cost (one SHA-256, one
/// indexed read) and counts against the caller's address like a failed
/// client authentication. Extracted before the body, so an
/// unauthenticated caller's body is never read.
pub struct ReceiverCall {
    pub transmitter: Transmitter,
    pub receiver: Receiver,
}

impl FromRequestParts<AppState> for ReceiverCall {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, OAuthError> {
        let transmitter = transmitter(app)?.clone();
        let caller = parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .ok_or_else(OAuthError::internal)?;
        if let Err(refusal) = app.limiter.admit(caller.ip, None, true) {
            app.metrics.rate_limited(refusal.limit);
            return Err(OAuthError::too_many_requests(refusal.retry_after));
        }
        match transmitter.authenticate(bearer(&parts.headers)).await {
            Ok(Some(receiver)) => Ok(Self {
                transmitter,
                receiver,
            }),
            Ok(None) => {
                app.limiter.failed_authentication(caller.ip, None);
                tracing::info!(
                    outcome = "rejected",
                    "shared signals call without a valid receiver credential"
                );
                Err(OAuthError::invalid_token())
            }
            Err(error) => Err(refused(app, error)),
        }
    }
}

/// A JSON body read within `server.body_limit`; an empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = OAuthError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, OAuthError> {
        let (parts, body) = request.into_parts();
        let bytes: Bytes =
            read_body(&parts.headers, body, app.body_limit, app.body_timeout).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(Self).map_err(|error| {
            OAuthError::invalid_request(match error.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "the body is not valid JSON"
                }
                serde_json::error::Category::Data | serde_json::error::Category::Io => {
                    "the body has an unknown member or a member of the wrong type or size"
                }
            })
        })
    }
}

/// The one `Authorization: Bearer …` value, if well formed.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A transmitter refusal as an answer: never the request's values.
fn refused(app: &AppState, error: SsfError) -> OAuthError {
    match error {
        SsfError::Invalid(description) => OAuthError::invalid_request(description),
        SsfError::NotFound => OAuthError::no_such_stream(),
        SsfError::Conflict => OAuthError::conflict("the receiver already has its stream"),
        SsfError::TooSoon(wait) => OAuthError::too_many_requests(wait),
        SsfError::Store(error) => app.unavailable(&error),
        SsfError::Sign(error) => {
            tracing::error!(%error, "cannot sign a security event token");
            OAuthError::internal()
        }
    }
}

/// Parses the query string; unknown parameters are refused.
fn query<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, OAuthError> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|_| {
        OAuthError::invalid_request("the query string has an unknown or malformed parameter")
    })
}

/// A handler's outcome as an answer.
fn answer(outcome: Result<Response, OAuthError>) -> Response {
    outcome.unwrap_or_else(axum::response::IntoResponse::into_response)
}
