//! CORS for `/oauth2/revoke` (SPEC §5), for browser-based public clients.
//!
//! Written here rather than with `tower_http::cors`: that layer answers every
//! preflight with `Access-Control-Allow-Methods`/`-Headers` whatever the
//! origin, while the SPEC wants no `Access-Control-*` header at all for an
//! origin that is not allowed (nor for `null`), and origins will also come
//! from per-client configuration.

use std::collections::HashSet;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The origins allowed to call the revocation endpoint from a browser.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    allowed: HashSet<String>,
}

impl CorsPolicy {
    /// `origins` were validated by configuration (no `null`, no `*`).
    #[must_use]
    pub fn new(origins: &[String]) -> Self {
        Self {
            allowed: origins
                .iter()
                .map(|origin| origin.to_ascii_lowercase())
                .collect(),
        }
    }

    /// The request's `Origin`, when there is exactly one and it is allowed.
    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let (Some(origin), None) = (values.next(), values.next()) else {
            return None;
        };
        let text = origin.to_str().ok()?;
        self.allowed
            .contains(&text.to_ascii_lowercase())
            .then(|| origin.clone())
    }
}

/// Answers preflights and adds `Access-Control-Allow-Origin` to actual answers
/// (success and error alike, or the browser hides them). Credentials mode stays
/// off: no `Access-Control-Allow-Credentials`.
pub async fn revoke_cors(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let origin = app.cors.allowed_origin(request.headers());
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
