//! CORS for `/oauth2/revoke` (docs/behaviour.md, CORS), for browser-based public clients.
//!
//! Written here rather than with `tower_http::cors`: that layer answers every
//! preflight with `Access-Control-Allow-Methods`/`-Headers` whatever the
//! origin, while docs/behaviour.md (CORS) wants no `Access-Control-*` header at all for an
//! origin that is not allowed (nor for `null`), and origins also come from
//! the store.
//!
//! An origin is allowed when it is in `cors.allowed_origins` or registered on
//! an enabled public client. A preflight names no client, so the per-client
//! origins are pooled: any registered origin may call the endpoint (which
//! needs no secret anyway: anonymous revocation is the default). The pooled
//! set is read from the store at most every [`REFRESH_AFTER`], so a change
//! made through any instance's admin API reaches every instance within it.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::administration::Administration;

/// How stale the pooled per-client origins may be.
pub const REFRESH_AFTER: Duration = Duration::from_secs(10);

/// The origins allowed to call the revocation endpoint from a browser.
#[derive(Clone)]
pub struct CorsPolicy {
    configured: HashSet<String>,
    registered: Arc<Registered>,
    clients: Administration,
}

/// The pooled origins of public clients, and when they were read.
struct Registered {
    origins: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
    /// One refresh at a time; the others use the set they have.
    refreshing: tokio::sync::Mutex<()>,
}

impl CorsPolicy {
    /// `origins` were validated by configuration (no `null`, no `*`).
    #[must_use]
    pub fn new(origins: &[String], clients: Administration) -> Self {
        Self {
            configured: origins
                .iter()
                .map(|origin| origin.to_ascii_lowercase())
                .collect(),
            registered: Arc::new(Registered {
                origins: RwLock::new(None),
                refreshing: tokio::sync::Mutex::new(()),
            }),
            clients,
        }
    }

    /// The request's `Origin`, when there is exactly one and it is allowed.
    async fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let (Some(origin), None) = (values.next(), values.next()) else {
            return None;
        };
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        if self.configured.contains(&text) || self.registered_origins().await.contains(&text) {
            Some(origin.clone())
        } else {
            None
        }
    }

    /// The pooled per-client origins, refreshed when older than
    /// [`REFRESH_AFTER`]. If the store cannot be read, the last set read is
    /// kept (and an empty one before any read succeeded).
    async fn registered_origins(&self) -> Arc<HashSet<String>> {
        if let Some(fresh) = self.cached(true) {
            return fresh;
        }
        let _turn = self.registered.refreshing.lock().await;
        if let Some(fresh) = self.cached(true) {
            return fresh;
        }
        let set = match self.clients.public_client_origins().await {
            Ok(origins) => Arc::new(
                origins
                    .into_iter()
                    .map(|origin| origin.to_ascii_lowercase())
                    .collect(),
            ),
            Err(error) => {
                // Kept for another period too, so an outage does not cost a
                // database wait on every browser request.
                tracing::warn!(error = %error, "cannot read client origins; using the last ones read");
                self.cached(false).unwrap_or_default()
            }
        };
        *self
            .registered
            .origins
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), set.clone()));
        set
    }

    /// The cached set; with `fresh_only`, only if younger than [`REFRESH_AFTER`].
    fn cached(&self, fresh_only: bool) -> Option<Arc<HashSet<String>>> {
        let guard = self
            .registered
            .origins
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|(read_at, _)| !fresh_only || read_at.elapsed() < REFRESH_AFTER)
            .map(|(_, set)| set.clone())
    }
}

/// Answers preflights and adds `Access-Control-Allow-Origin` to actual answers
/// (success and error alike, or the browser hides them). Credentials mode stays
/// off: no `Access-Control-Allow-Credentials`.
pub async fn revoke_cors(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let origin = app.cors.allowed_origin(request.headers()).await;
    let mut response = if request.method() == Method::OPTIONS {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        preflight
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        if origin.is_some() {
            let headers = preflight.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Content-Type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        preflight
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}
