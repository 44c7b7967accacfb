//! The admin API (docs/behaviour.md, Admin API): bearer authentication and the call audit,
//! clients, secret rotation with a grace period, grant hand-over and refresh
//! rotation, minting, bulk revocation, the audit read API and metrics.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, assert_revocation_ok, header, with_admin,
};
use crate::on_both_backends;

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, with_admin).await
}

/// An admin listener reached through a trusted proxy on loopback, the only
/// way an operator's own `X-Request-Id` is taken.
async fn spawn_behind_proxy(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        with_admin(settings);
        settings.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
    })
    .await
}

async fn every_admin_route_but_metrics_and_health_needs_the_bearer_token(backend: Backend) {
    let app = spawn(backend).await;
    for (method, path) in [
        (Method::GET, "/admin/clients"),
        (Method::POST, "/admin/clients"),
        (Method::GET, "/admin/clients/web"),
        (Method::DELETE, "/admin/clients/web"),
        (Method::POST, "/admin/revocations"),
        (Method::GET, "/admin/audit/revocations"),
        (Method::GET, "/admin/audit/actions"),
    ] {
        let response = app
            .admin_without_token(method.clone(), path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 401, "{method} {path}");
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Bearer realm=\"rescind-admin\"")
        );
        let wrong = app
            .admin_without_token(method.clone(), path)
            .bearer_auth("not-the-admin-token-at-all-0123456789")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wrong.status().as_u16(), 401, "{method} {path} wrong token");
    }
    // Refused calls are recorded too, as 401; the public port has no admin API.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM admin_actions WHERE status = 401")
            .await,
        14
    );
    assert_eq!(app.db.count("SELECT count(*) FROM admin_actions").await, 14);
    let public = app
        .http
        .get(app.url("/admin/clients"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(public.status().as_u16(), 404);
    for path in ["/metrics", "/health/live", "/health/ready"] {
        let open = app
            .admin_without_token(Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(open.status().as_u16(), 200, "{path}");
    }
}

async fn every_authenticated_call_is_recorded_with_its_request_id_and_status(backend: Backend) {
    let app = spawn_behind_proxy(backend).await;
    let response = app
        .admin(Method::GET, "/admin/clients/nobody")
        .header("x-request-id", "op-lookup-1")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 404);
    let (status, created) = app
        .admin_json(
            app.admin(Method::POST, "/admin/clients")
                .header("x-request-id", "op-create-1")
                .json(&json!({ "client_id": "web" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, actions) = app
        .admin_json(app.admin(Method::GET, "/admin/audit/actions"))
        .await;
    assert_eq!(status, 200);
    let items = actions["items"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(Value, Value, Value, Value)> = items
        .iter()
        .map(|item| {
            (
                item["action"].clone(),
                item["target"].clone(),
                item["request_id"].clone(),
                item["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary[..2],
        [
            (
                json!("GET /admin/clients/{id}"),
                json!("nobody"),
                json!("op-lookup-1"),
                json!(404)
            ),
            (
                json!("POST /admin/clients"),
                Value::Null,
                json!("op-create-1"),
                json!(201)
            ),
        ]
    );
    assert_eq!(items[0]["peer"], "127.0.0.1");
    // The read itself is recorded too, before it answers.
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["action"], "GET /admin/audit/actions");
    assert!(items[2]["status"].is_null());
}

/// Answers that carry a secret or a token must not be kept by any cache.
async fn answers_carrying_secrets_or_tokens_are_not_stored(backend: Backend) {
    let app = spawn(backend).await;
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = response.status().as_u16();
        let cache_control = crate::helpers::header(&response, "cache-control").map(str::to_owned);
        let body: Value = response.json().await.unwrap_or_default();
        (status, cache_control, body)
    };
    let (status, cache_control, _) = send(
        app.admin(Method::POST, "/admin/clients")
            .json(&json!({ "client_id": "web" })),
    )
    .await;
    assert_eq!((status, cache_control.as_deref()), (201, Some("no-store")));
    let (status, cache_control, _) = send(
        app.admin(Method::POST, "/admin/clients/web/secret")
            .json(&json!({})),
    )
    .await;
    assert_eq!((status, cache_control.as_deref()), (200, Some("no-store")));
    let (status, cache_control, _) = send(app.admin(Method::POST, "/admin/grants").json(&json!({
        "client_id": "web", "subject": "alice",
        "tokens": [{ "token": "handed-over", "kind": "access", "expires_at": "2099-01-01T00:00:00Z" }]
    })))
    .await;
    assert_eq!((status, cache_control.as_deref()), (201, Some("no-store")));
    let (status, cache_control, _) = send(
        app.admin(Method::POST, "/admin/grants/issue")
            .json(&json!({ "client_id": "web", "subject": "alice" })),
    )
    .await;
    assert_eq!((status, cache_control.as_deref()), (201, Some("no-store")));
}

async fn a_client_is_created_read_and_listed_through_the_admin_api(backend: Backend) {
    let app = spawn(backend).await;
    let (status, web) = app
        .admin_json(app.admin(Method::POST, "/admin/clients").json(&json!({
            "client_id": "web", "name": "Web back end"
        })))
        .await;
    assert_eq!(status, 201, "{web}");
    assert_eq!(web["kind"], "confidential");
    let secret = web["client_secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.len() >= 43, "a generated secret of 256 bits");
    let (status, spa) = app
        .admin_json(app.admin(Method::POST, "/admin/clients").json(&json!({
            "client_id": "spa", "kind": "public", "allowed_origins": ["https://app.example.com"]
        })))
        .await;
    assert_eq!(status, 201, "{spa}");
    assert!(spa.get("client_secret").is_none());
    let (status, generated) = app
        .admin_json(
            app.admin(Method::POST, "/admin/clients")
                .json(&json!({ "kind": "public" })),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(generated["client_id"].as_str().map(str::len), Some(32));

    // The secret is shown once: never by a read.
    let (status, read) = app
        .admin_json(app.admin(Method::GET, "/admin/clients/web"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["name"], "Web back end");
    assert!(read.get("client_secret").is_none() && !read.to_string().contains(&secret));

    // Paged listing by id.
    let (_, first) = app
        .admin_json(app.admin(Method::GET, "/admin/clients?limit=2"))
        .await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let next = first["next"].as_str().unwrap_or_default().to_owned();
    let (_, second) = app
        .admin_json(app.admin(Method::GET, &format!("/admin/clients?limit=2&after={next}")))
        .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second["next"].is_null());

    // Bad input is refused, naming no value.
    for (body, why) in [
        (json!({ "client_id": "web" }), 409),
        (json!({ "client_id": "" }), 400),
        (json!({ "client_id": "x", "kind": "robot" }), 400),
        (
            json!({ "client_id": "x", "allowed_origins": ["https://a.example"] }),
            400,
        ),
        (
            json!({ "client_id": "y", "kind": "public", "allowed_origins": ["null"] }),
            400,
        ),
        (json!({ "client_id": "z", "colour": "blue" }), 400),
    ] {
        let (status, error) = app
            .admin_json(app.admin(Method::POST, "/admin/clients").json(&body))
            .await;
        assert_eq!(status, why, "{body} -> {error}");
    }
    let (status, error) = app
        .admin_json(app.admin(Method::PATCH, "/admin/clients/web").json(&json!({
            "allowed_origins": ["https://a.example"]
        })))
        .await;
    // Well formed, but not for a confidential client: a conflict with its state.
    assert_eq!((status, error["error"].as_str()), (409, Some("conflict")));
}

async fn a_client_is_changed_disabled_and_deleted_through_the_admin_api(backend: Backend) {
    let app = spawn(backend).await;
    let secret = create_confidential(&app, "web").await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    // Change, disable, re-enable.
    let (status, changed) = app
        .admin_json(app.admin(Method::PATCH, "/admin/clients/spa").json(&json!({
            "name": "Browser app", "allowed_origins": ["https://new.example.com"]
        })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        changed["allowed_origins"],
        json!(["https://new.example.com"])
    );
    let grant = app.grant("web").await;
    let (status, _) = app
        .admin_json(
            app.admin(Method::PATCH, "/admin/clients/web")
                .json(&json!({ "disabled": true })),
        )
        .await;
    assert_eq!(status, 200);
    assert_oauth_error(
        app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    let (_, enabled) = app
        .admin_json(
            app.admin(Method::PATCH, "/admin/clients/web")
                .json(&json!({ "disabled": false, "name": null })),
        )
        .await;
    assert_eq!(
        (enabled["disabled"].as_bool(), &enabled["name"]),
        (Some(false), &Value::Null)
    );
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
            .await,
    )
    .await;

    // Delete: credentials stop, grants are revoked, the id stays taken.
    let live = app.grant("web").await;
    let (status, deleted) = app
        .admin_json(app.admin(Method::DELETE, "/admin/clients/web"))
        .await;
    assert_eq!((status, deleted["revoked_grants"].as_u64()), (200, Some(1)));
    assert_eq!(app.db.live_tokens().await, 0, "{}", live.grant_id);
    let (status, _) = app
        .admin_json(app.admin(Method::GET, "/admin/clients/web"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .admin_json(app.admin(Method::DELETE, "/admin/clients/web"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .admin_json(
            app.admin(Method::POST, "/admin/clients")
                .json(&json!({ "client_id": "web" })),
        )
        .await;
    assert_eq!(status, 409, "a deleted client's id stays taken");
    assert_oauth_error(
        app.revoke_basic("web", &secret, &[("token", &live.refresh_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    let reasons: Vec<String> = app
        .db
        .audit_records()
        .await
        .into_iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(reasons, ["client_request", "client_deleted"]);
}

async fn create_confidential(app: &TestApp, id: &str) -> String {
    let (status, body) = app
        .admin_json(
            app.admin(Method::POST, "/admin/clients")
                .json(&json!({ "client_id": id })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn rotate(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.admin_json(
        app.admin(Method::POST, &format!("/admin/clients/{id}/secret"))
            .json(&body),
    )
    .await
}

async fn a_rotated_secret_keeps_working_for_its_grace_period_only(backend: Backend) {
    let app = spawn(backend).await;
    let old = create_confidential(&app, "web").await;
    // Cache the old secret on this instance first: rotation must end it anyway.
    let warm = app.grant("web").await;
    assert_revocation_ok(
        app.revoke_basic("web", &old, &[("token", &warm.access_token)])
            .await,
    )
    .await;

    let (status, rotated) = rotate(&app, "web", json!({ "grace_period": "1h" })).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    for secret in [&old, &new] {
        let grant = app.grant("web").await;
        assert_revocation_ok(
            app.revoke_basic("web", secret, &[("token", &grant.access_token)])
                .await,
        )
        .await;
    }

    // A second rotation without grace ends both older secrets at once.
    let (_, again) = rotate(&app, "web", json!({})).await;
    assert!(again["previous_secret_expires_at"].is_null());
    let newest = again["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let grant = app.grant("web").await;
    for secret in [&old, &new] {
        assert_oauth_error(
            app.revoke_basic("web", secret, &[("token", &grant.access_token)])
                .await,
            401,
            "invalid_client",
        )
        .await;
    }
    assert_revocation_ok(
        app.revoke_basic("web", &newest, &[("token", &grant.access_token)])
            .await,
    )
    .await;

    // A grace period ends on time.
    let (_, short) = rotate(&app, "web", json!({ "grace_period": "1s" })).await;
    let latest = short["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let grant = app.grant("web").await;
    app.clock.advance(std::time::Duration::from_millis(1200));
    assert_oauth_error(
        app.revoke_basic("web", &newest, &[("token", &grant.access_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    assert_revocation_ok(
        app.revoke_basic("web", &latest, &[("token", &grant.access_token)])
            .await,
    )
    .await;

    for (body, status) in [
        (json!({ "grace_period": "91days" }), 400),
        (json!({ "grace_period": "soon" }), 400),
    ] {
        assert_eq!(rotate(&app, "web", body.clone()).await.0, status, "{body}");
    }
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    assert_eq!(
        rotate(&app, "spa", json!({})).await.0,
        409,
        "a public client has no secret"
    );
    assert_eq!(rotate(&app, "nobody", json!({})).await.0, 404);
}

fn sha256_hex(token: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

async fn grants_are_handed_over_rotated_and_revoked_whole(backend: Backend) {
    let app = spawn(backend).await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    let expires = "2099-01-01T00:00:00Z";
    let (status, registered) = app
        .admin_json(app.admin(Method::POST, "/admin/grants").json(&json!({
            "client_id": "spa", "subject": "alice", "scope": "openid",
            "tokens": [
                { "token": "external-access-1", "kind": "access", "expires_at": expires },
                { "token_hash": sha256_hex("external-refresh-1"), "kind": "refresh", "expires_at": expires }
            ]
        })))
        .await;
    assert_eq!(status, 201, "{registered}");
    let grant_id = registered["grant_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Stored hashed: the raw value is nowhere in the database.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM tokens WHERE kind = 'access'")
            .await,
        1
    );

    // Refresh rotation adds tokens to the live grant.
    let (status, added) = app
        .admin_json(
            app.admin(Method::POST, &format!("/admin/grants/{grant_id}/tokens"))
                .json(&json!({ "tokens": [
                    { "token": "external-access-2", "kind": "access", "expires_at": expires }
                ] })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    for (path, body, expected) in [
        (
            format!("/admin/grants/{grant_id}/tokens"),
            json!({ "tokens": [{ "token": "external-access-2", "kind": "access", "expires_at": expires }] }),
            409,
        ),
        (
            "/admin/grants/00000000-0000-4000-8000-000000000000/tokens".to_owned(),
            json!({ "tokens": [{ "token": "x-1", "kind": "access", "expires_at": expires }] }),
            404,
        ),
        (
            "/admin/grants/not-a-uuid/tokens".to_owned(),
            json!({ "tokens": [{ "token": "x-2", "kind": "access", "expires_at": expires }] }),
            400,
        ),
        (
            "/admin/grants".to_owned(),
            json!({ "client_id": "spa", "subject": "bob", "tokens": [
                { "token_hash": "abc", "kind": "access", "expires_at": expires }] }),
            400,
        ),
        (
            "/admin/grants".to_owned(),
            json!({ "client_id": "spa", "subject": "bob", "tokens": [
                { "token": "t", "token_hash": sha256_hex("t"), "kind": "access", "expires_at": expires }] }),
            400,
        ),
        (
            "/admin/grants".to_owned(),
            json!({ "client_id": "nobody", "subject": "bob", "tokens": [
                { "token": "x-3", "kind": "access", "expires_at": expires }] }),
            404,
        ),
        (
            "/admin/grants".to_owned(),
            json!({ "client_id": "spa", "subject": "bob", "tokens": [] }),
            400,
        ),
    ] {
        let (status, error) = app
            .admin_json(app.admin(Method::POST, &path).json(&body))
            .await;
        assert_eq!(status, expected, "{path} {body} -> {error}");
    }

    // Any of its tokens revokes the whole grant, handed-over ones included.
    assert_revocation_ok(app.revoke(&[("token", "external-refresh-1")]).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
    let (status, refused) = app
        .admin_json(
            app.admin(Method::POST, &format!("/admin/grants/{grant_id}/tokens"))
                .json(&json!({ "tokens": [
                    { "token": "external-access-3", "kind": "access", "expires_at": expires }
                ] })),
        )
        .await;
    assert_eq!(status, 409, "a revoked grant gets no new token: {refused}");
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn tokens_are_minted_over_http_like_the_cli(backend: Backend) {
    let app = spawn(backend).await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    let (status, minted) = app
        .admin_json(app.admin(Method::POST, "/admin/grants/issue").json(&json!({
            "client_id": "spa", "subject": "alice", "count": 3, "access_ttl": 60
        })))
        .await;
    assert_eq!(status, 201, "{minted}");
    let grants = minted["grants"].as_array().cloned().unwrap_or_default();
    assert_eq!(grants.len(), 3);
    assert_eq!(grants[0]["expires_in"], 60);
    let format = app.token_format();
    let token = grants[1]["refresh_token"].as_str().unwrap_or_default();
    assert_eq!(
        format.classify(token),
        rescind::domain::minted::Shape::Minted(rescind::domain::token::TokenKind::Refresh)
    );
    assert_revocation_ok(app.revoke(&[("token", token), ("client_id", "spa")]).await).await;
    assert_eq!(app.db.live_tokens().await, 4);
    for body in [
        json!({ "client_id": "spa", "subject": "alice", "count": 0 }),
        json!({ "client_id": "spa", "subject": "alice", "count": 1001 }),
        json!({ "client_id": "spa", "subject": "" }),
        json!({ "client_id": "spa", "subject": "a\nb" }),
    ] {
        let (status, _) = app
            .admin_json(app.admin(Method::POST, "/admin/grants/issue").json(&body))
            .await;
        assert_eq!(status, 400, "{body}");
    }
}

async fn bulk_revocation_counts_every_grant_in_batches_and_audits_each(backend: Backend) {
    let app = spawn_behind_proxy(backend).await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    app.create_client("cli", rescind::domain::client::ClientKind::Public)
        .await;
    // 1,201 grants of alice at spa: three batches of 500.
    app.grants_with_ttl("spa", 3600, 1201).await;
    app.grants_with_ttl("cli", 3600, 2).await;
    let (status, bob) = app
        .admin_json(app.admin(Method::POST, "/admin/grants/issue").json(&json!({
            "client_id": "spa", "subject": "bob", "count": 2
        })))
        .await;
    assert_eq!(status, 201, "{bob}");

    let app = &app;
    let revoke_all = |body: Value| async move {
        app.admin_json(
            app.admin(Method::POST, "/admin/revocations")
                .header("x-request-id", "bulk-1")
                .json(&body),
        )
        .await
    };
    let (status, error) = revoke_all(json!({})).await;
    assert_eq!(status, 400, "never everything: {error}");
    let (status, done) = revoke_all(json!({ "subject": "alice", "client_id": "spa" })).await;
    assert_eq!((status, done["revoked_grants"].as_u64()), (200, Some(1201)));
    assert_eq!(
        app.db.live_grants().await,
        4,
        "cli's alice and spa's bob stay"
    );
    let (_, done) = revoke_all(json!({ "subject": "alice" })).await;
    assert_eq!(done["revoked_grants"], 2);
    let (_, again) = revoke_all(json!({ "subject": "alice" })).await;
    assert_eq!(again["revoked_grants"], 0, "idempotent");
    let (_, by_client) = revoke_all(json!({ "client_id": "spa" })).await;
    assert_eq!(by_client["revoked_grants"], 2);
    assert_eq!(
        (app.db.live_grants().await, app.db.live_tokens().await),
        (0, 0)
    );

    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 1205, "one record per grant");
    assert!(records.iter().all(|r| {
        r.presenter_kind == "admin"
            && r.reason == "admin_bulk"
            && r.request_id == "bulk-1"
            && r.presented_token_hash.is_none()
    }));
}

async fn the_audit_log_reads_back_filtered_and_paged(backend: Backend) {
    let app = spawn(backend).await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    app.create_client("cli", rescind::domain::client::ClientKind::Public)
        .await;
    let before = crate::helpers::now() - chrono::Duration::seconds(5);
    let grants = app.grants_with_ttl("spa", 3600, 3).await;
    let other = app.grant("cli").await;
    for grant in &grants {
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    }
    assert_revocation_ok(
        app.revoke(&[("token", &other.access_token), ("client_id", "cli")])
            .await,
    )
    .await;

    let app = &app;
    let read = |query: String| async move {
        let (status, body) = app
            .admin_json(app.admin(Method::GET, &format!("/admin/audit/revocations{query}")))
            .await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    let all = read(String::new()).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(4));
    let first = &all["items"][0];
    assert_eq!(first["grant_id"], grants[0].grant_id.to_string());
    assert_eq!(
        (first["client_id"].as_str(), first["subject"].as_str()),
        (Some("spa"), Some("alice"))
    );
    assert_eq!(first["presenter_kind"], "anonymous");
    let by_client = read("?client_id=cli".to_owned()).await;
    assert_eq!(by_client["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_client["items"][0]["presenter_client_id"], "cli");
    let by_grant = read(format!("?grant_id={}", grants[1].grant_id)).await;
    assert_eq!(by_grant["items"].as_array().map(Vec::len), Some(1));
    let by_subject = read("?subject=nobody".to_owned()).await;
    assert_eq!(by_subject["items"], json!([]));
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let in_range = read(format!("?since={since}&limit=3")).await;
    assert_eq!(in_range["items"].as_array().map(Vec::len), Some(3));
    let cursor = in_range["next"].as_i64().unwrap_or_default();
    let rest = read(format!("?since={since}&limit=3&after={cursor}")).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest["next"].is_null());
    let future = read("?since=2999-01-01T00:00:00Z".to_owned()).await;
    assert_eq!(future["items"], json!([]));
    for bad in [
        "?since=yesterday",
        "?limit=0",
        "?limit=1001",
        "?grant_id=x",
        "?colour=red",
    ] {
        let (status, error) = app
            .admin_json(app.admin(Method::GET, &format!("/admin/audit/revocations{bad}")))
            .await;
        assert_eq!(status, 400, "{bad}: {error}");
        assert!(!error.to_string().contains("yesterday") && !error.to_string().contains("red"));
    }
}

async fn metrics_count_revocations_failures_and_requests(backend: Backend) {
    let app = spawn(backend).await;
    let secret = create_confidential(&app, "web").await;
    let grant = app.grant("web").await;
    let scrape = || async {
        let response = app
            .admin_without_token(Method::GET, "/metrics")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            header(&response, "content-type"),
            Some(rescind::metrics::CONTENT_TYPE)
        );
        response.text().await.unwrap_or_default()
    };
    let revoked = "rescind_revocations_total{outcome=\"revoked\",presenter=\"confidential\"} 1";
    assert!(!scrape().await.contains(revoked));
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
            .await,
    )
    .await;
    assert_oauth_error(
        app.revoke_basic("web", "wrong-secret", &[("token", &grant.access_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    let text = scrape().await;
    for expected in [
        revoked,
        "rescind_revocations_total{outcome=\"invalid_client\",presenter=\"confidential\"} 1",
        "rescind_client_auth_failures_total{reason=\"invalid_credentials\"} 1",
        "rescind_http_request_duration_seconds_count{listener=\"public\",route=\"/oauth2/revoke\",method=\"POST\",status=\"200\"} 1",
        "rescind_argon2_queue_depth 0",
        "# TYPE rescind_db_pool_connections gauge",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    assert!(!text.contains(&secret) && !text.contains(&grant.access_token));
    assert!(
        !text.contains("client_id=\"web\""),
        "no client ids in labels"
    );
}

/// Every `$ref` in `value` (a JSON pointer into the same document).
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => references(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|inner| references(inner, out)),
        _ => {}
    }
}

/// Every operation needs the bearer token and declares the answers every
/// one of them can give (the bearer check, the lockout, the database and
/// load shedding, and a malformed request), each with the error body and
/// the headers it carries.
fn assert_shared_answers(document: &Value) {
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": "The admin token, whose argon2id hash is admin.token_hash \
                            (`rescind admin hash-token`)."
        })
    );
    let resolve = |answer: &Value| -> Value {
        match answer["$ref"].as_str() {
            Some(target) => document
                .pointer(target.trim_start_matches('#'))
                .cloned()
                .unwrap_or(Value::Null),
            None => answer.clone(),
        }
    };
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let here = format!("{method} {path}");
            assert_eq!(operation["security"], json!([{ "bearer": [] }]), "{here}");
            for status in ["400", "401", "429", "503"] {
                let answer = resolve(&operation["responses"][status]);
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{here}: {status}"
                );
            }
            let unauthorized = resolve(&operation["responses"]["401"]);
            assert_eq!(
                unauthorized["headers"]["WWW-Authenticate"]["required"], true,
                "{here}"
            );
            for status in ["429", "503"] {
                let answer = resolve(&operation["responses"][status]);
                if answer["headers"].is_object() {
                    assert_eq!(answer["headers"]["Retry-After"]["required"], true, "{here}");
                } else {
                    // An operation's own 503 (bulk revocation says what stays revoked).
                    assert_eq!((status, here.as_str()), ("503", "post /admin/revocations"));
                }
            }
        }
    }
}

async fn the_openapi_document_validates_and_every_operation_is_served(backend: Backend) {
    let app = spawn(backend).await;
    let response = app
        .admin_without_token(Method::GET, "/admin/openapi.json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200, "no token needed");
    let text = response.text().await.unwrap_or_default();

    // An independent OpenAPI 3.1 parser reads it, and its version is 3.1.
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("not OpenAPI 3.1: {e}"));
    let version = spec.validate_version().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((version.major, version.minor), (3, 1));
    let operations: Vec<(String, reqwest::Method)> = spec
        .operations()
        .map(|(path, method, _)| {
            let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            (path, method)
        })
        .collect();
    assert_eq!(operations.len(), 21, "{operations:?}");
    let ids: std::collections::BTreeSet<_> = spec
        .operations()
        .filter_map(|(_, _, operation)| operation.operation_id.clone())
        .collect();
    assert_eq!(ids.len(), 21, "every operation has its own id: {ids:?}");
    for (path, method, operation) in spec.operations() {
        let here = format!("{method} {path}");
        operation
            .parameters(&spec)
            .unwrap_or_else(|e| panic!("{here}: parameters: {e}"));
        operation
            .request_body(&spec)
            .unwrap_or_else(|e| panic!("{here}: request body: {e}"));
        let responses = operation.responses(&spec);
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{here}: no success answer documented"
        );
        assert!(!operation.security.is_empty(), "{here}: no security");
    }
    let document: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert_shared_answers(&document);
    // Every reference resolves.
    let mut targets = Vec::new();
    references(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.trim_start_matches('#');
        assert!(document.pointer(pointer).is_some(), "dangling {target}");
    }
    assert!(
        document
            .pointer("/components/securitySchemes/bearer")
            .is_some()
    );

    // Each documented operation is routed: no 404 from the fallback, no 405.
    for (path, method) in operations {
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let response = app
            .admin(method.clone(), &concrete)
            .json(&json!({}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status().as_u16();
        if path == "/admin/events" {
            // The event stream: served, and never ends by itself.
            assert_eq!(header(&response, "content-type"), Some("text/event-stream"));
            continue;
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(status, 405, "{method} {path}");
        assert_ne!(
            body["error_description"], "no such admin endpoint",
            "{method} {path}"
        );
    }
}

on_both_backends!(
    answers_carrying_secrets_or_tokens_are_not_stored,
    the_openapi_document_validates_and_every_operation_is_served,
    every_admin_route_but_metrics_and_health_needs_the_bearer_token,
    every_authenticated_call_is_recorded_with_its_request_id_and_status,
    a_client_is_created_read_and_listed_through_the_admin_api,
    a_client_is_changed_disabled_and_deleted_through_the_admin_api,
    a_rotated_secret_keeps_working_for_its_grace_period_only,
    grants_are_handed_over_rotated_and_revoked_whole,
    tokens_are_minted_over_http_like_the_cli,
    bulk_revocation_counts_every_grant_in_batches_and_audits_each,
    the_audit_log_reads_back_filtered_and_paged,
    metrics_count_revocations_failures_and_requests,
);
