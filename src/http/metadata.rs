//! `GET /.well-known/oauth-authorization-server` (RFC 8414; docs/behaviour.md, Metadata).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::AppState;
use crate::config::Settings;

/// The metadata document, rendered once at start: it only changes with the
/// configuration.
#[derive(Debug, Clone)]
pub struct MetadataDocument {
    json: Bytes,
    cache_control: HeaderValue,
}

/// The client authentication methods of the revocation endpoint (docs/behaviour.md, Client authentication).
pub const REVOCATION_AUTH_METHODS: [&str; 3] =
    ["client_secret_basic", "client_secret_post", "none"];

/// The client authentication methods of the introspection endpoint: a
/// resource server's secret only, never `none` (RFC 7662 §2.1).
pub const INTROSPECTION_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

impl MetadataDocument {
    /// Builds the document: the fields Rescind owns, then `metadata.extra`
    /// (arrays with no elements left out). Validation already refused an
    /// `extra` that tries to set an owned field; they are skipped here too.
    #[must_use]
    pub fn new(settings: &Settings) -> Self {
        let mut document = Map::new();
        document.insert("issuer".to_owned(), Value::from(settings.issuer.as_str()));
        document.insert(
            "revocation_endpoint".to_owned(),
            Value::from(format!("{}/oauth2/revoke", settings.issuer_base())),
        );
        document.insert(
            "revocation_endpoint_auth_methods_supported".to_owned(),
            Value::from(&REVOCATION_AUTH_METHODS[..]),
        );
        document.insert(
            "introspection_endpoint".to_owned(),
            Value::from(format!("{}/oauth2/introspect", settings.issuer_base())),
        );
        document.insert(
            "introspection_endpoint_auth_methods_supported".to_owned(),
            Value::from(&INTROSPECTION_AUTH_METHODS[..]),
        );
        let extra = settings.metadata.extra.iter().filter(|(key, value)| {
            let empty_array = matches!(value, Value::Array(items) if items.is_empty());
            !empty_array && !document.contains_key(key.as_str())
        });
        let extra: Vec<_> = extra
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        document.extend(extra);
        let json = Value::Object(document).to_string();
        let cache_control = HeaderValue::from_str(&format!(
            "public, max-age={}",
            settings.metadata.max_age.as_secs()
        ))
        .unwrap_or(HeaderValue::from_static("public, max-age=3600"));
        Self {
            json: Bytes::from(json),
            cache_control,
        }
    }
}

/// Serves the document, cacheable and open to any origin (browser clients
/// discover endpoints from it).
pub async fn metadata(State(app): State<AppState>) -> Response {
    let document = &app.metadata;
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, document.cache_control.clone()),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        document.json.clone(),
    )
        .into_response()
}

/// The paths the document is served at (docs/behaviour.md, Metadata): with an issuer path
/// `/tenant1`, both the RFC 8414 §3 inserted form and the appended form.
#[must_use]
pub fn paths(issuer_path: &str) -> Vec<String> {
    well_known_paths("/.well-known/oauth-authorization-server", issuer_path)
}

/// The paths a `/.well-known/…` document of an issuer with path
/// `issuer_path` is served at: inserted between host and path (RFC 8414
/// §3, which the Shared Signals Framework follows too), and appended.
#[must_use]
pub fn well_known_paths(well_known: &str, issuer_path: &str) -> Vec<String> {
    if issuer_path.is_empty() {
        vec![well_known.to_owned()]
    } else {
        vec![
            format!("{well_known}{issuer_path}"),
            format!("{issuer_path}{well_known}"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_issuer_is_served_at_the_inserted_and_the_appended_location() {
        assert_eq!(paths(""), ["/.well-known/oauth-authorization-server"]);
        assert_eq!(
            paths("/tenant1"),
            [
                "/.well-known/oauth-authorization-server/tenant1",
                "/tenant1/.well-known/oauth-authorization-server"
            ]
        );
    }

    #[test]
    fn extra_fields_are_merged_and_empty_arrays_left_out() {
        let mut settings = Settings {
            issuer: "https://id.example.com/t1/".to_owned(),
            ..Settings::default()
        };
        settings.metadata.extra.insert(
            "token_endpoint".to_owned(),
            "https://id.example.com/token".into(),
        );
        settings
            .metadata
            .extra
            .insert("scopes_supported".to_owned(), Value::Array(vec![]));
        let document = MetadataDocument::new(&settings);
        let parsed: Value = serde_json::from_slice(&document.json).unwrap_or_default();
        assert_eq!(parsed["issuer"], "https://id.example.com/t1/");
        assert_eq!(
            parsed["revocation_endpoint"],
            "https://id.example.com/t1/oauth2/revoke"
        );
        assert_eq!(parsed["token_endpoint"], "https://id.example.com/token");
        assert!(parsed.get("scopes_supported").is_none());
    }
}
