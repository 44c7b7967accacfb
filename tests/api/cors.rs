//! CORS on the revocation endpoint (docs/behaviour.md, CORS).

use rescind::domain::client::ClientKind;

use crate::helpers::{Backend, TestApp, encode, header, header_map};
use crate::on_both_backends;

const ALLOWED: &str = "https://app.example.com";

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.cors.allowed_origins = vec![ALLOWED.to_owned()];
    })
    .await
}

fn access_control_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url("/oauth2/revoke"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn a_preflight_from_an_allowed_origin_is_answered(backend: Backend) {
    let app = spawn(backend).await;
    let response = preflight(&app, ALLOWED).await;
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(ALLOWED)
    );
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        Some("POST")
    );
    assert_eq!(
        header(&response, "access-control-allow-headers"),
        Some("Authorization, Content-Type")
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials"),
        None,
        "credentials mode stays off"
    );
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
}

async fn other_origins_and_null_get_no_cors_headers(backend: Backend) {
    let app = spawn(backend).await;
    for origin in [
        "https://evil.example.com",
        "null",
        "https://app.example.com.evil.com",
        "http://app.example.com",
    ] {
        let response = preflight(&app, origin).await;
        assert_eq!(response.status().as_u16(), 204, "{origin}");
        assert!(
            access_control_headers(&response).is_empty(),
            "{origin}: {:?}",
            access_control_headers(&response)
        );
        let actual = app
            .revoke_raw("token=abc", header_map(&[("origin", origin)]))
            .await;
        assert!(access_control_headers(&actual).is_empty(), "{origin}");
    }
}

async fn answers_to_an_allowed_origin_carry_the_origin_success_and_error_alike(backend: Backend) {
    let app = spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let origin = header_map(&[("origin", ALLOWED)]);
    let ok = app
        .revoke_raw(
            encode(&[("token", &grant.access_token), ("client_id", "spa")]),
            origin.clone(),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(ALLOWED));
    let error = app.revoke_raw("token=", origin.clone()).await;
    assert_eq!(error.status().as_u16(), 400);
    assert_eq!(header(&error, "access-control-allow-origin"), Some(ALLOWED));
    let unauthorized = app
        .revoke_raw(encode(&[("token", "x"), ("client_id", "nobody")]), origin)
        .await;
    assert_eq!(unauthorized.status().as_u16(), 401);
    assert_eq!(
        header(&unauthorized, "access-control-allow-origin"),
        Some(ALLOWED)
    );
}

async fn origins_registered_on_an_enabled_public_client_are_allowed(backend: Backend) {
    const SPA: &str = "https://spa.example.com";
    let app = TestApp::spawn_with(backend, crate::helpers::with_admin).await;
    assert!(access_control_headers(&preflight(&app, SPA).await).is_empty());
    let (status, created) =
        app.admin_json(app.admin(reqwest::Method::POST, "/admin/clients").json(
            &serde_json::json!({
                "client_id": "spa", "kind": "public", "allowed_origins": [SPA]
            }),
        ))
        .await;
    assert_eq!(status, 201, "{created}");
    // Another instance reads the registered origins on first use (this one
    // may keep its pooled set up to ten seconds).
    let other = TestApp::spawn_beside(&app).await;
    let response = preflight(&other, SPA).await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some(SPA));
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        Some("POST")
    );
    let grant = other.grant("spa").await;
    let actual = other
        .revoke_raw(
            encode(&[("token", &grant.access_token), ("client_id", "spa")]),
            header_map(&[("origin", SPA)]),
        )
        .await;
    assert_eq!(actual.status().as_u16(), 200);
    assert_eq!(header(&actual, "access-control-allow-origin"), Some(SPA));
    assert!(
        access_control_headers(&preflight(&other, "https://evil.example.com").await).is_empty()
    );

    // A disabled client's origins are no longer allowed.
    let (status, _) = app
        .admin_json(
            app.admin(reqwest::Method::PATCH, "/admin/clients/spa")
                .json(&serde_json::json!({ "disabled": true })),
        )
        .await;
    assert_eq!(status, 200);
    let third = TestApp::spawn_beside(&app).await;
    assert!(access_control_headers(&preflight(&third, SPA).await).is_empty());
}

on_both_backends!(
    origins_registered_on_an_enabled_public_client_are_allowed,
    a_preflight_from_an_allowed_origin_is_answered,
    other_origins_and_null_get_no_cors_headers,
    answers_to_an_allowed_origin_carry_the_origin_success_and_error_alike,
);
