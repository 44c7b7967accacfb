//! `GET /admin/openapi.json`: the admin API as an OpenAPI 3.1 document.
//! The router registers each handler through `utoipa-axum`, which takes its
//! path, method, parameters and body types from the handler's annotation:
//! a route cannot exist without being documented, and the schemas are the
//! very types parsed and answered with, their constraints those the
//! handlers check (`schema.rs`). [`complete`] then adds what every
//! operation shares (the answers of the bearer check, the rate limit and
//! the database) and the rules that tie one field to another, which the
//! derive cannot state.

use axum::response::IntoResponse as _;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rescind admin API",
        description = "Clients, grants and tokens, bulk revocation and the audit log of a \
                       Rescind token revocation server. Served on the admin listener only \
                       (admin.listen); every path needs the admin bearer token. /metrics \
                       (OpenMetrics text), /health/live, /health/ready and this document \
                       need none. The public endpoints (revocation, introspection, metadata, \
                       secret scanning, health) are described by /openapi.json under the \
                       issuer's path on the public listener."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "clients", description = "OAuth clients"),
        (name = "grants", description = "Grants and tokens handed over or minted"),
        (name = "revocations", description = "Bulk revocation"),
        (name = "audit", description = "Revocation records and admin calls"),
        (name = "events", description = "Revocation events: the SSE stream and webhook deliveries"),
        (name = "shared signals", description = "Shared Signals Framework receivers (ssf.enabled)"),
    )
)]
pub struct AdminApi;

/// The `bearer` security scheme the paths refer to.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token, whose argon2id hash is admin.token_hash \
                         (`rescind admin hash-token`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers every authenticated operation can give, whatever it does:
/// `400` (every one reads a path, query, header or body), `401` (the bearer
/// check), `429` (failed tokens lock the caller's address out) and `503`
/// (the call cannot be recorded, the database fails, or the listener sheds
/// load).
const SHARED_ANSWERS: [(&str, &str); 4] = [
    ("400", "BadRequest"),
    ("401", "Unauthorized"),
    ("429", "TooManyRequests"),
    ("503", "Unavailable"),
];

/// The shared answers as components, each with the headers it carries.
fn shared_answers() -> Value {
    let error =
        json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } });
    let retry_after = json!({
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": true,
            "schema": { "type": "integer", "minimum": 1 }
        }
    });
    json!({
        "BadRequest": {
            "description": "A malformed path, query, header or body (`invalid_request`); the \
                            description says where, never what was sent.",
            "content": error
        },
        "Unauthorized": {
            "description": "No valid admin bearer token (`invalid_token`).",
            "headers": {
                "WWW-Authenticate": {
                    "description": "`Bearer realm=\"rescind-admin\"`",
                    "required": true,
                    "schema": { "type": "string" }
                }
            },
            "content": error
        },
        "TooManyRequests": {
            "description": "Too many failed bearer tokens from this address, or a request \
                            rate limit (`temporarily_unavailable`).",
            "headers": retry_after,
            "content": error
        },
        "Unavailable": {
            "description": "The database is unavailable (nothing was changed, or the call \
                            says what was), or the listener is at its concurrency limit \
                            (`temporarily_unavailable`).",
            "headers": retry_after,
            "content": error
        }
    })
}

/// The rules between fields of one body, added to those bodies' schemas:
/// what the handlers refuse with `400` for the request alone.
fn cross_field_rules() -> [(&'static str, &'static str, Value); 3] {
    let present =
        |field: &str| json!({ "required": [field], "properties": { field: { "type": "string" } } });
    [
        // Exactly one of the raw token and its hash (`null` is absent).
        (
            "TokenField",
            "oneOf",
            json!([present("token"), present("token_hash")]),
        ),
        // A subject, a client, a session, a device, or several: never
        // every grant.
        (
            "BulkRequest",
            "anyOf",
            json!([
                present("subject"),
                present("client_id"),
                present("session_id"),
                present("device_id")
            ]),
        ),
        // Origins for public clients only, the introspection right for
        // confidential ones only (`kind` is `confidential` when absent).
        (
            "NewClient",
            "anyOf",
            json!([
                {
                    "required": ["kind"],
                    "properties": { "kind": { "const": "public" }, "resource_server": { "const": false } }
                },
                {
                    "properties": { "kind": { "const": "confidential" }, "allowed_origins": { "maxItems": 0 } }
                }
            ]),
        ),
    ]
}

/// Adds the shared answers to every authenticated operation (keeping an
/// operation's own description where it has one) and the cross-field
/// rules to their schemas.
#[must_use]
pub fn complete(document: &utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(document).unwrap_or_else(|error| {
        tracing::error!(error = %error, "cannot serialise the OpenAPI document");
        Value::Null
    });
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        let operations = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut());
        for operation in operations {
            let authenticated = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|security| !security.is_empty());
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
                .filter(|_| authenticated)
            else {
                continue;
            };
            for (status, name) in SHARED_ANSWERS {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
            }
        }
    }
    if let Some(components) = document
        .get_mut("components")
        .and_then(Value::as_object_mut)
    {
        components.insert("responses".to_owned(), shared_answers());
        let schemas = components.get_mut("schemas").and_then(Value::as_object_mut);
        if let Some(schemas) = schemas {
            for (schema, keyword, rule) in cross_field_rules() {
                if let Some(target) = schemas.get_mut(schema).and_then(Value::as_object_mut) {
                    target.insert(keyword.to_owned(), rule);
                }
            }
        }
    }
    document
}

/// Serves a document as it is (built once at start), on either listener.
pub fn serve<S: Clone + Send + Sync + 'static>(document: &Value) -> axum::routing::MethodRouter<S> {
    let text = std::sync::Arc::new(document.to_string());
    axum::routing::get(move || {
        let text = text.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                text.as_str().to_owned(),
            )
                .into_response()
        }
    })
}
