//! `GET /admin/openapi.json`: the admin API as an OpenAPI 3.1 document.
//! The router registers each handler through `utoipa-axum`, which takes its
//! path, method, parameters and body types from the handler's annotation:
//! a route cannot exist without being documented, and the schemas are the
//! very types parsed and answered with.

use axum::response::IntoResponse as _;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rescind admin API",
        description = "Clients, grants and tokens, bulk revocation and the audit log of a \
                       Rescind token revocation server. Served on the admin listener only \
                       (admin.listen); every path needs the admin bearer token. /metrics \
                       (OpenMetrics text), /health/live, /health/ready and this document \
                       need none."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "clients", description = "OAuth clients"),
        (name = "grants", description = "Grants and tokens handed over or minted"),
        (name = "revocations", description = "Bulk revocation"),
        (name = "audit", description = "Revocation records and admin calls"),
        (name = "events", description = "Revocation events: the SSE stream and webhook deliveries"),
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
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document of `routes`, served as it is (built once at start).
pub fn serve(document: &utoipa::openapi::OpenApi) -> axum::routing::MethodRouter {
    let text = document.to_json().unwrap_or_else(|error| {
        tracing::error!(error = %error, "cannot serialise the OpenAPI document");
        "{}".to_owned()
    });
    let text = std::sync::Arc::new(text);
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
