//! RFC 8414 metadata (docs/behaviour.md, Metadata).

use serde_json::json;

use crate::helpers::{Backend, TestApp, assert_revocation_ok, get_json, header};
use crate::on_both_backends;

async fn the_document_names_the_issuer_and_the_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, headers, document) =
        get_json(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(status, 200);
    assert_eq!(
        document,
        json!({
            "issuer": "https://rescind.test",
            "revocation_endpoint": "https://rescind.test/oauth2/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint": "https://rescind.test/oauth2/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })
    );
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(get("content-type").as_deref(), Some("application/json"));
    assert_eq!(
        get("cache-control").as_deref(),
        Some("public, max-age=3600")
    );
    assert_eq!(get("access-control-allow-origin").as_deref(), Some("*"));
    let post = app
        .http
        .post(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await;
    assert_eq!(post.map(|r| r.status().as_u16()).ok(), Some(405));
}

async fn an_issuer_with_a_path_serves_everything_under_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        "https://id.example.com/tenant1".clone_into(&mut s.issuer);
    })
    .await;
    let inserted = get_json(&app, "/.well-known/oauth-authorization-server/tenant1").await;
    let appended = get_json(&app, "/tenant1/.well-known/oauth-authorization-server").await;
    assert_eq!((inserted.0, appended.0), (200, 200));
    assert_eq!(inserted.2, appended.2);
    assert_eq!(inserted.2["issuer"], "https://id.example.com/tenant1");
    assert_eq!(
        inserted.2["revocation_endpoint"],
        "https://id.example.com/tenant1/oauth2/revoke"
    );
    assert_eq!(
        get_json(&app, "/.well-known/oauth-authorization-server")
            .await
            .0,
        404
    );

    // The published endpoint is where the server answers; health stays at the root.
    let grant = {
        app.create_client("spa", rescind::domain::client::ClientKind::Public)
            .await;
        app.grant("spa").await
    };
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    let root_revoke = app
        .http
        .post(app.url("/oauth2/revoke"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(root_revoke.status().as_u16(), 404);
    assert_eq!(
        header(&root_revoke, "content-type"),
        Some("application/json")
    );
    assert_eq!(get_json(&app, "/health/live").await.0, 200);
}

async fn extra_metadata_is_merged_without_empty_arrays(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        let extra = &mut s.metadata.extra;
        extra.insert(
            "authorization_endpoint".to_owned(),
            json!("https://rescind.test/authorize"),
        );
        extra.insert("response_types_supported".to_owned(), json!(["code"]));
        extra.insert("scopes_supported".to_owned(), json!([]));
        s.metadata.max_age = std::time::Duration::from_secs(120);
    })
    .await;
    let (_, headers, document) = get_json(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(
        document["authorization_endpoint"],
        "https://rescind.test/authorize"
    );
    assert_eq!(document["response_types_supported"], json!(["code"]));
    assert!(document.get("scopes_supported").is_none());
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("public, max-age=120")
    );
}

on_both_backends!(
    the_document_names_the_issuer_and_the_endpoints,
    an_issuer_with_a_path_serves_everything_under_it,
    extra_metadata_is_merged_without_empty_arrays,
);
