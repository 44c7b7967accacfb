//! The HTTP layer: routes, extraction of credentials, and the wire format of
//! answers. The only module that knows axum.

pub mod admin;
mod cors;
pub mod credentials;
pub mod error;
pub mod form;
pub mod guard;
mod health;
mod introspect;
mod logout;
mod metadata;
pub mod observe;
pub mod openapi;
pub mod peer;
mod revoke;
mod scanning;
mod ssf;
mod token_request;
mod unread;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use self::cors::CorsPolicy;
use self::error::{NO_STORE, OAuthError};
use self::guard::Guard;
use self::metadata::MetadataDocument;
use self::peer::TrustedProxies;
use crate::administration::Administration;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::domain::clock::Clock;
use crate::domain::fault::Fault;
use crate::domain::minted::TokenFormat;
use crate::domain::revocation::AnonymousPolicy;
use crate::events::Events;
use crate::introspection::Introspector;
use crate::limits::Limiter;
use crate::logout::LogoutReceiver;
use crate::metrics::Metrics;
use crate::revocation::{Revoker, TokenRevocation};
use crate::scanning::Scanners;
use crate::shared_signals::Transmitter;

/// The services both listeners share, built once by the server.
#[derive(Clone)]
pub struct Services {
    pub administration: Administration,
    pub authenticator: Authenticator,
    pub revoker: Revoker,
    pub token_revocation: TokenRevocation,
    pub introspector: Introspector,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<Limiter>,
    pub clock: Arc<dyn Clock>,
    pub format: TokenFormat,
    pub events: Events,
    pub scanners: Scanners,
    /// The back-channel logout receiver; `None` when no upstream is set.
    pub logout: Option<Arc<LogoutReceiver>>,
    /// The outbox backlog, read when `/metrics` is scraped.
    pub backlog: Arc<crate::events::backlog::Backlog>,
    /// The Shared Signals transmitter, when `ssf.enabled`.
    pub transmitter: Option<Transmitter>,
}

/// What every handler can reach. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// Readiness and the stored CORS origins.
    pub administration: Administration,
    pub authenticator: Authenticator,
    /// Revocations the secret-scanning endpoints ask for.
    pub revoker: Revoker,
    pub token_revocation: TokenRevocation,
    pub introspector: Introspector,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<Limiter>,
    /// Whether the public scanner reports are taken.
    pub anonymous_policy: AnonymousPolicy,
    pub issuer: String,
    pub body_limit: usize,
    pub body_timeout: Duration,
    /// Bounds the database part of a request (authentication and revocation).
    pub deadline: Duration,
    pub retry_after_secs: u64,
    pub metadata: MetadataDocument,
    pub cors: CorsPolicy,
    pub scanners: Scanners,
    pub logout: Option<Arc<LogoutReceiver>>,
    pub transmitter: Option<Transmitter>,
    /// The issuer without a trailing `/`.
    pub issuer_base: String,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Assembles the state from validated settings and opened services.
    #[must_use]
    pub fn new(settings: &Settings, services: &Services) -> Self {
        Self(Arc::new(Shared {
            administration: services.administration.clone(),
            authenticator: services.authenticator.clone(),
            revoker: services.revoker.clone(),
            token_revocation: services.token_revocation.clone(),
            introspector: services.introspector.clone(),
            metrics: services.metrics.clone(),
            limiter: services.limiter.clone(),
            anonymous_policy: settings.policy.anonymous,
            issuer: settings.issuer.clone(),
            body_limit: settings.server.body_limit,
            body_timeout: settings.server.body_timeout,
            // One pool wait plus one statement, with room for the argon2 queue.
            deadline: settings.database.timeout * 2,
            retry_after_secs: settings.server.retry_after.as_secs(),
            metadata: MetadataDocument::new(settings),
            cors: CorsPolicy::new(
                &settings.cors.allowed_origins,
                services.administration.clone(),
            ),
            scanners: services.scanners.clone(),
            logout: services.logout.clone(),
            transmitter: services.transmitter.clone(),
            issuer_base: settings.issuer_base().to_owned(),
        }))
    }

    /// Maps a store fault to `503` and logs it once, here at the boundary: a
    /// database fault is never a `500` and never a `200` (docs/behaviour.md,
    /// Answers every endpoint shares).
    fn unavailable(&self, error: &impl Fault) -> OAuthError {
        if error.is_outage() {
            tracing::warn!(error = %error, "database unavailable");
        } else {
            tracing::error!(error = %error, "unexpected store fault");
        }
        OAuthError::temporarily_unavailable(self.retry_after_secs)
    }
}

/// Builds the public router: endpoints under the issuer's path, health at
/// the root.
pub fn router(app: AppState, issuer_path: &str, edge: &Edge) -> Router {
    let revoke = post(revoke::revoke)
        .fallback(|| async { OAuthError::method_not_allowed("POST, OPTIONS") })
        .layer(from_fn_with_state(app.clone(), cors::revoke_cors))
        .layer(map_response(no_store));
    let introspect = post(introspect::introspect)
        .fallback(|| async { OAuthError::method_not_allowed("POST") })
        .layer(map_response(no_store));
    let report = |handler: axum::routing::MethodRouter<AppState>| {
        handler
            .fallback(|| async { OAuthError::method_not_allowed("POST") })
            .layer(map_response(no_store))
    };
    let mut router = Router::new()
        .route(&format!("{issuer_path}/oauth2/revoke"), revoke)
        .route(&format!("{issuer_path}/oauth2/introspect"), introspect)
        .route(
            &format!("{issuer_path}/secret-scanning/github"),
            report(post(scanning::github)),
        )
        .route(
            &format!("{issuer_path}/secret-scanning/gitlab"),
            report(post(scanning::gitlab)),
        )
        .route(
            &format!("{issuer_path}/credentials/revoke"),
            report(post(scanning::public_report)),
        )
        .route(
            &format!("{issuer_path}/oauth2/backchannel-logout"),
            report(post(logout::backchannel_logout)),
        )
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route(
            &format!("{issuer_path}/openapi.json"),
            admin::openapi::serve(&openapi::document(&app.issuer, issuer_path))
                .fallback(|| async { OAuthError::method_not_allowed("GET, HEAD") }),
        );
    for path in metadata::paths(issuer_path) {
        router = router.route(
            &path,
            get(metadata::metadata)
                .fallback(|| async { OAuthError::method_not_allowed("GET, HEAD") }),
        );
    }
    let router = ssf::routes(
        router,
        app.transmitter.as_ref(),
        &app.issuer_base,
        issuer_path,
    );
    let router = router
        .fallback(|| async { OAuthError::not_found() })
        .route_layer(from_fn(observe::record_route))
        .with_state(app);
    edge.wrap(router, observe::Listener::Public)
}

/// The layers around every listener's routes, outermost first: request id,
/// span, access log and duration metric; the caller's address through
/// trusted proxies; `Connection: close` when a body is left unread; load
/// shedding and the request time bound; panics caught as `500`.
#[derive(Clone)]
pub struct Edge {
    pub metrics: Arc<Metrics>,
    pub proxies: Arc<TrustedProxies>,
    pub guard: Guard,
}

impl Edge {
    /// Wraps `router` (routes already in, state applied) in the edge layers.
    pub fn wrap(&self, router: Router, listener: observe::Listener) -> Router {
        router
            .layer(CatchPanicLayer::custom(|_panic| {
                // The payload is not logged: it is not ours to trust with secrets.
                tracing::error!("a handler panicked");
                OAuthError::internal().into_response()
            }))
            .layer(from_fn_with_state(self.guard.clone(), guard::guard))
            .layer(from_fn(unread::close_if_unread))
            .layer(from_fn_with_state(
                self.proxies.clone(),
                peer::resolve_client,
            ))
            .layer(from_fn_with_state(
                observe::Observer {
                    metrics: self.metrics.clone(),
                    listener,
                    proxies: self.proxies.clone(),
                },
                observe::observe,
            ))
    }
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` to every answer.
async fn no_store(mut response: Response) -> Response {
    for (name, value) in NO_STORE {
        response.headers_mut().insert(name, value);
    }
    response
}
