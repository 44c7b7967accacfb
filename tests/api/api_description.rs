//! The OpenAPI documents say what the server does: a request the admin
//! API's schema allows is accepted (or refused for a state, `404`/`409`),
//! one it forbids is refused with `400`, at each documented bound; and the
//! public listener publishes its own document, whose every operation is
//! served. (`tests/schemathesis/run` checks the same property-based, at
//! random, against the running binary.)

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, with_admin};
use crate::on_both_backends;

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, with_admin).await
}

async fn admin_document(app: &TestApp) -> Value {
    let response = app
        .admin_without_token(Method::GET, "/admin/openapi.json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    response.json().await.unwrap_or(Value::Null)
}

/// The schema of a request body's property, or of a parameter.
fn property(document: &Value, schema: &str, name: &str) -> Value {
    document["components"]["schemas"][schema]["properties"][name].clone()
}

fn parameter(document: &Value, path: &str, method: &str, name: &str) -> Value {
    document["paths"][path][method]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|parameter| parameter["name"] == name)
        .map_or(Value::Null, |parameter| parameter["schema"].clone())
}

async fn the_admin_document_declares_the_bounds_the_handlers_enforce(backend: Backend) {
    let app = spawn(backend).await;
    let document = admin_document(&app).await;

    // Page sizes: 1 to 1000 on every list.
    for path in [
        "/admin/clients",
        "/admin/audit/revocations",
        "/admin/audit/actions",
        "/admin/webhooks/deliveries",
    ] {
        let limit = parameter(&document, path, "get", "limit");
        assert_eq!(
            (&limit["minimum"], &limit["maximum"]),
            (&json!(1), &json!(1000)),
            "{path}"
        );
        let ok = app
            .admin(Method::GET, &format!("{path}?limit=1000"))
            .send()
            .await;
        let too_many = app
            .admin(Method::GET, &format!("{path}?limit=1001"))
            .send()
            .await;
        let status = |r: reqwest::Result<reqwest::Response>| r.map_or(0, |r| r.status().as_u16());
        assert_eq!((status(ok), status(too_many)), (200, 400), "{path}");
    }
    // Client ids, origins, subjects, the event id and the state filter.
    let client_id = parameter(&document, "/admin/clients/{id}", "get", "id");
    assert_eq!(client_id["pattern"], "^[ -~]{1,255}$");
    assert_eq!(client_id["maxLength"], 255);
    let origins = property(&document, "NewClient", "allowed_origins");
    assert_eq!(origins["maxItems"], 100);
    assert_eq!(origins["items"]["maxLength"], 300);
    assert!(origins["items"]["pattern"].is_string());
    assert_eq!(
        property(&document, "MintRequest", "subject")["maxLength"],
        1024
    );
    let event_id = parameter(&document, "/admin/events", "get", "Last-Event-ID");
    assert_eq!(event_id["pattern"], r"^[0-9]{1,18}\.[0-9]{1,18}$");
    let state = parameter(&document, "/admin/webhooks/deliveries", "get", "state");
    assert_eq!(state["enum"], json!(["pending", "delivered", "dead"]));
    assert!(property(&document, "Rotation", "grace_period")["pattern"].is_string());
    for body in [
        "NewClient",
        "Changes",
        "Rotation",
        "GrantRegistration",
        "MintRequest",
        "BulkRequest",
        "TokenField",
    ] {
        assert_eq!(
            document["components"]["schemas"][body]["additionalProperties"], false,
            "{body}"
        );
    }
    assert!(document["components"]["schemas"]["TokenField"]["oneOf"].is_array());
    assert!(document["components"]["schemas"]["BulkRequest"]["anyOf"].is_array());

    // The subject bound is in characters, as JSON Schema counts them.
    app.confidential_client("web").await;
    let mint = |subject: String, extra: Value| {
        let mut body = json!({ "client_id": "web", "subject": subject });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        app.admin(Method::POST, "/admin/grants/issue").json(&body)
    };
    let (status, _) = app.admin_json(mint("é".repeat(1024), json!({}))).await;
    assert_eq!(
        status, 201,
        "1024 two-byte characters are within maxLength 1024"
    );
    let (status, _) = app.admin_json(mint("é".repeat(1025), json!({}))).await;
    assert_eq!(status, 400);
    // A whole number written as a float is an integer to JSON Schema.
    let (status, _) = app
        .admin_json(mint(
            "alice".to_owned(),
            json!({ "access_ttl": 60.0, "count": 2e0 }),
        ))
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin_json(mint("alice".to_owned(), json!({ "access_ttl": 60.5 })))
        .await;
    assert_eq!(status, 400);
}

async fn grace_periods_and_event_ids_outside_their_patterns_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    app.confidential_client("web").await;
    // Grace periods: one unit, at most 90 days, however it is written.
    for (grace, expected) in [
        ("90d", 200),
        ("2160h", 200),
        ("7776000s", 200),
        ("91d", 400),
        ("2161h", 400),
        ("1h 30m", 400),
        ("1hour", 400),
    ] {
        let (status, _) = app
            .admin_json(
                app.admin(Method::POST, "/admin/clients/web/secret")
                    .json(&json!({ "grace_period": grace })),
            )
            .await;
        assert_eq!(status, expected, "{grace}");
    }

    // An event id whose parts do not fit the pattern is refused.
    let response = app
        .admin(Method::GET, "/admin/events")
        .header("Last-Event-ID", "1234567890123456789.1")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 400);
}

/// A change that does not fit the client as it is, though the request is
/// well formed, is a conflict with its state: `409`, as the document says.
async fn a_change_that_does_not_fit_the_clients_kind_is_a_conflict(backend: Backend) {
    let app = spawn(backend).await;
    app.confidential_client("web").await;
    let (status, _) = app
        .admin_json(
            app.admin(Method::POST, "/admin/clients")
                .json(&json!({ "client_id": "spa", "kind": "public" })),
        )
        .await;
    assert_eq!(status, 201);
    for (method, path, body) in [
        (
            Method::PATCH,
            "/admin/clients/web",
            json!({ "allowed_origins": ["https://app.example.com"] }),
        ),
        (
            Method::PATCH,
            "/admin/clients/spa",
            json!({ "resource_server": true }),
        ),
        (Method::POST, "/admin/clients/spa/secret", json!({})),
    ] {
        let (status, answer) = app
            .admin_json(app.admin(method.clone(), path).json(&body))
            .await;
        assert_eq!(
            (status, &answer["error"]),
            (409, &json!("conflict")),
            "{method} {path}"
        );
    }
    // In a registration the kind is in the request: a malformed request.
    let (status, _) = app
        .admin_json(
            app.admin(Method::POST, "/admin/clients").json(
                &json!({ "client_id": "web2", "allowed_origins": ["https://app.example.com"] }),
            ),
        )
        .await;
    assert_eq!(status, 400);
}

async fn the_public_listener_describes_its_own_endpoints(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        "https://id.example.com/tenant1".clone_into(&mut settings.issuer);
    })
    .await;
    let response = reqwest::get(app.url("/tenant1/openapi.json"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap_or_default();
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("not OpenAPI 3.1: {e}"));
    let version = spec.validate_version().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((version.major, version.minor), (3, 1));
    let document: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert_eq!(document["servers"][0]["url"], "https://id.example.com");
    assert_eq!(
        document["components"]["securitySchemes"]["client_secret_basic"]["scheme"],
        "basic"
    );
    let mut paths: Vec<&str> = document["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(path, _)| path.as_str())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/.well-known/oauth-authorization-server/tenant1",
            "/health/live",
            "/health/ready",
            "/tenant1/.well-known/oauth-authorization-server",
            "/tenant1/credentials/revoke",
            "/tenant1/oauth2/backchannel-logout",
            "/tenant1/oauth2/introspect",
            "/tenant1/oauth2/revoke",
            "/tenant1/secret-scanning/github",
            "/tenant1/secret-scanning/gitlab",
        ]
    );
    let mut ids = std::collections::BTreeSet::new();
    let http = reqwest::Client::new();
    for (path, method, operation) in spec.operations() {
        let here = format!("{method} {path}");
        operation
            .request_body(&spec)
            .unwrap_or_else(|e| panic!("{here}: request body: {e}"));
        assert!(
            ids.insert(operation.operation_id.clone()),
            "{here}: a repeated id"
        );
        // Routed: the fallback's 404 and a 405 are the only answers that
        // say it is not (the scanners and the logout receiver answer 404
        // too when they are off, with the same body, so they are asked with
        // POST and checked for their own Allow on GET).
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = http
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(response.status().as_u16(), 405, "{here}");
        if !path.contains("/secret-scanning/")
            && !path.contains("/credentials/")
            && !path.ends_with("/backchannel-logout")
        {
            assert_ne!(response.status().as_u16(), 404, "{here}");
        }
        let wrong_method = http
            .put(app.url(&path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            wrong_method.status().as_u16(),
            405,
            "{here}: PUT is routed to it"
        );
    }
    assert_eq!(ids.len(), 13);
    // Every error answer has the RFC 6749 body.
    let revoke = &document["paths"]["/tenant1/oauth2/revoke"]["post"];
    for status in ["400", "401", "413", "429", "503"] {
        assert_eq!(
            revoke["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/OAuthError",
            "{status}"
        );
    }
}

on_both_backends!(
    the_admin_document_declares_the_bounds_the_handlers_enforce,
    grace_periods_and_event_ids_outside_their_patterns_are_refused,
    a_change_that_does_not_fit_the_clients_kind_is_a_conflict,
    the_public_listener_describes_its_own_endpoints,
);
