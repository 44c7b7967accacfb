//! The HTTP layer: routes, extraction of credentials, and the wire format of
//! answers. The only module that knows axum.

mod cors;
mod credentials;
pub mod error;
mod form;
mod health;
mod metadata;
pub mod observe;
mod revoke;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use self::cors::CorsPolicy;
use self::error::{NO_STORE, OAuthError};
use self::metadata::MetadataDocument;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::domain::revocation::AnonymousPolicy;
use crate::revocation::Revoker;
use crate::storage::{Store, StoreError};

/// What every handler can reach. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub authenticator: Authenticator,
    pub revoker: Revoker,
    pub anonymous_policy: AnonymousPolicy,
    pub issuer: String,
    pub body_limit: usize,
    pub body_timeout: Duration,
    /// Bounds the database part of a request (authentication and revocation).
    pub deadline: Duration,
    pub retry_after_secs: u64,
    pub metadata: MetadataDocument,
    pub cors: CorsPolicy,
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
    pub fn new(
        settings: &Settings,
        store: Arc<dyn Store>,
        authenticator: Authenticator,
        revoker: Revoker,
    ) -> Self {
        Self(Arc::new(Shared {
            store,
            authenticator,
            revoker,
            anonymous_policy: settings.policy.anonymous,
            issuer: settings.issuer.clone(),
            body_limit: settings.server.body_limit,
            body_timeout: settings.server.body_timeout,
            // One pool wait plus one statement, with room for the argon2 queue.
            deadline: settings.database.timeout * 2,
            retry_after_secs: settings.server.retry_after.as_secs(),
            metadata: MetadataDocument::new(settings),
            cors: CorsPolicy::new(&settings.cors.allowed_origins),
        }))
    }

    /// Maps a store fault to `503` and logs it once, here at the boundary.
    /// Exhaustive, so a new fault does not compile until it gets its answer:
    /// a database fault is never a `500` and never a `200` (SPEC §2).
    fn unavailable(&self, error: &StoreError) -> OAuthError {
        match error {
            StoreError::Unavailable(_) => tracing::warn!(error = %error, "database unavailable"),
            StoreError::Conflict
            | StoreError::MissingReference
            | StoreError::Corrupt(_)
            | StoreError::Migration(_) => {
                tracing::error!(error = %error, "unexpected store fault");
            }
        }
        OAuthError::temporarily_unavailable(self.retry_after_secs)
    }
}

/// Builds the router: endpoints under the issuer's path, health at the root.
pub fn router(app: AppState, issuer_path: &str) -> Router {
    let revoke = post(revoke::revoke)
        .fallback(|| async { OAuthError::method_not_allowed("POST, OPTIONS") })
        .layer(from_fn_with_state(app.clone(), cors::revoke_cors))
        .layer(map_response(no_store));
    let mut router = Router::new()
        .route(&format!("{issuer_path}/oauth2/revoke"), revoke)
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready));
    for path in metadata::paths(issuer_path) {
        router = router.route(
            &path,
            get(metadata::metadata)
                .fallback(|| async { OAuthError::method_not_allowed("GET, HEAD") }),
        );
    }
    router
        .fallback(|| async { OAuthError::not_found() })
        .route_layer(from_fn(observe::record_route))
        .with_state(app)
        .layer(CatchPanicLayer::custom(|_panic| {
            // The payload is not logged: it is not ours to trust with secrets.
            tracing::error!("a handler panicked");
            OAuthError::internal().into_response()
        }))
        .layer(from_fn(observe::observe))
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` to every answer.
async fn no_store(mut response: Response) -> Response {
    for (name, value) in NO_STORE {
        response.headers_mut().insert(name, value);
    }
    response
}
