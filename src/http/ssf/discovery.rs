//! `GET /.well-known/ssf-configuration` (SSF 1.0 transmitter configuration
//! metadata) and the key set its `jwks_uri` names.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::json;

use super::{CONFIGURATION, JWKS, STATUS, VERIFICATION, transmitter};
use crate::domain::shared_signals::{POLL_METHOD, PUSH_METHOD};
use crate::http::AppState;

/// Bearer credentials (RFC 6750), the one authorization scheme.
const BEARER_SCHEME: &str = "urn:ietf:rfc:6750";

/// The document, rendered once at start. The CAEP interoperability profile
/// makes `spec_version`, `jwks_uri`, `delivery_methods_supported`, the
/// three endpoints, `authorization_schemes` and `default_subjects`
/// required; Rescind sends every subject's events (`ALL`: there is no
/// subject to add or remove).
#[must_use]
pub fn document(issuer: &str, issuer_base: &str) -> Bytes {
    let document = json!({
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": format!("{issuer_base}{JWKS}"),
        "delivery_methods_supported": [PUSH_METHOD, POLL_METHOD],
        "configuration_endpoint": format!("{issuer_base}{CONFIGURATION}"),
        "status_endpoint": format!("{issuer_base}{STATUS}"),
        "verification_endpoint": format!("{issuer_base}{VERIFICATION}"),
        "authorization_schemes": [{"spec_urn": BEARER_SCHEME}],
        "default_subjects": "ALL",
    });
    Bytes::from(document.to_string())
}

/// Serves the document, cacheable for an hour.
pub fn serve(document: Bytes) -> Response {
    public("application/json", "public, max-age=3600", document)
}

/// The published key set (RFC 7517): public keys only. Cacheable for five
/// minutes, so a receiver sees a new key soon after a restart.
pub async fn jwks(State(app): State<AppState>) -> Response {
    match transmitter(&app) {
        Ok(transmitter) => public(
            "application/jwk-set+json",
            "public, max-age=300",
            transmitter.jwks().to_string(),
        ),
        Err(error) => error.into_response(),
    }
}

/// A public document: cacheable, open to any origin.
fn public(content_type: &'static str, cache: &'static str, body: impl Into<Bytes>) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    ]
    .map(|(name, value)| (name, HeaderValue::from_static(value)));
    (headers, body.into()).into_response()
}
