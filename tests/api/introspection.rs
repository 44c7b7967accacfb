//! Introspection (RFC 7662; docs/behaviour.md, Introspection): only resource servers (confidential clients
//! with their secret, marked by the operator) may ask; `active: false` and
//! nothing else for unknown, expired, revoked or disabled-client tokens, the
//! claims of a live one, and the credential and answer caches kept honest.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use rescind::domain::client::ClientKind;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_no_store, assert_oauth_error, assert_revocation_ok, basic_header,
    encode, header, with_admin,
};
use crate::on_both_backends;

/// POSTs form parameters to the introspection endpoint.
pub(crate) async fn introspect(
    app: &TestApp,
    params: &[(&str, &str)],
    headers: HeaderMap,
) -> reqwest::Response {
    app.http
        .post(app.url(&format!("{}/oauth2/introspect", app.settings.issuer_path())))
        .header("content-type", "application/x-www-form-urlencoded")
        .headers(headers)
        .body(encode(params))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) async fn answer(response: reqwest::Response) -> Value {
    assert_eq!(response.status().as_u16(), 200);
    assert_no_store(&response);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    response.json().await.unwrap_or(Value::Null)
}

async fn a_live_token_is_active_with_its_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.resource_server("resource-server").await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let basic = basic_header("resource-server", &secret);
    let access =
        answer(introspect(&app, &[("token", &grant.access_token)], basic.clone()).await).await;
    let now = crate::helpers::now().timestamp();
    assert_eq!(access["active"], true);
    assert_eq!(access["client_id"], "spa");
    assert_eq!(access["sub"], "alice");
    assert_eq!(access["scope"], "openid");
    assert_eq!(access["token_type"], "Bearer");
    let (exp, iat) = (
        access["exp"].as_i64().unwrap_or(0),
        access["iat"].as_i64().unwrap_or(0),
    );
    assert!((now - 60..=now + 1).contains(&iat), "iat {iat}");
    assert!((iat + 3590..=iat + 3610).contains(&exp), "exp {exp}");
    // client_secret_post works too; a hint changes nothing.
    let refresh = answer(
        introspect(
            &app,
            &[
                ("token", &grant.refresh_token),
                ("token_type_hint", "access_token"),
                ("client_id", "resource-server"),
                ("client_secret", &secret),
            ],
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (refresh["active"].as_bool(), refresh["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    assert_eq!(
        app.db.live_tokens().await,
        2,
        "introspection revokes nothing"
    );
}

async fn unknown_expired_revoked_and_disabled_client_tokens_are_inactive_and_say_nothing_else(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let secret = app.resource_server("resource-server").await;
    app.create_client("spa", ClientKind::Public).await;
    app.create_client("gone", ClientKind::Public).await;
    let expired = app.grant_with_ttl("spa", 0).await;
    let revoked = app.grant("spa").await;
    let of_disabled = app.grant("gone").await;
    assert_revocation_ok(app.revoke(&[("token", &revoked.refresh_token)]).await).await;
    app.disable_client("gone").await;
    let format = app.token_format();
    let mut bad_checksum = format.mint(rescind::domain::token::TokenKind::Access, &mut rand_rng());
    // Another alphanumeric last character: the minted shape, a wrong checksum.
    let last = bad_checksum.pop();
    bad_checksum.push(if last == Some('0') { '1' } else { '0' });
    assert_eq!(
        format.classify(&bad_checksum),
        rescind::domain::minted::Shape::BadChecksum
    );
    let basic = basic_header("resource-server", &secret);
    for token in [
        "never-issued-token",
        expired.access_token.as_str(),
        revoked.access_token.as_str(),
        of_disabled.access_token.as_str(),
        bad_checksum.as_str(),
    ] {
        let body = answer(introspect(&app, &[("token", token)], basic.clone()).await).await;
        assert_eq!(body, json!({ "active": false }), "{token}");
    }
}

fn rand_rng() -> impl rand::CryptoRng + rand::RngCore {
    rand::rngs::OsRng
}

async fn anonymous_callers_and_bad_credentials_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.resource_server("resource-server").await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let headers = assert_oauth_error(
        introspect(&app, &[("token", &grant.access_token)], HeaderMap::new()).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(headers.get("www-authenticate").is_none());
    let headers = assert_oauth_error(
        introspect(
            &app,
            &[("token", &grant.access_token)],
            basic_header("resource-server", "wrong"),
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(headers.get("www-authenticate").is_some());
    for params in [
        vec![
            ("client_id", "resource-server"),
            ("client_secret", secret.as_str()),
        ],
        vec![("token", "a"), ("token", "b"), ("client_id", "spa")],
    ] {
        assert_oauth_error(
            introspect(&app, &params, HeaderMap::new()).await,
            400,
            "invalid_request",
        )
        .await;
    }
    let get = app
        .http
        .get(app.url("/oauth2/introspect"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(header(&get, "allow"), Some("POST"));
}

async fn a_disabled_resource_server_is_refused_even_with_cached_credentials(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::spawn_beside(&first).await;
    // No message between instances: the check must hold without one.
    first.db.silence_client_change_marks().await;
    let secret = first.resource_server("resource-server").await;
    first.create_client("spa", ClientKind::Public).await;
    let grant = first.grant("spa").await;
    let basic = basic_header("resource-server", &secret);
    // Cached on the second instance...
    let body =
        answer(introspect(&second, &[("token", &grant.access_token)], basic.clone()).await).await;
    assert_eq!(body["active"], true);
    // ...disabled through the first...
    first.disable_client("resource-server").await;
    // ...and refused by the second on its very next call, although the
    // answer is in the second's cache and its credentials too.
    assert_oauth_error(
        introspect(&second, &[("token", &grant.access_token)], basic).await,
        401,
        "invalid_client",
    )
    .await;
}

async fn only_marked_confidential_resource_servers_may_introspect(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.db.silence_client_change_marks().await;
    app.create_client("spa", ClientKind::Public).await;
    let plain_secret = app.confidential_client("backend").await;
    let grant = app.grant("spa").await;
    let token = [("token", grant.access_token.as_str())];
    // A public client's bare id, by the body and with an empty Basic password.
    let public = assert_oauth_error(
        introspect(
            &app,
            &[("token", &grant.access_token), ("client_id", "spa")],
            HeaderMap::new(),
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(public.get("www-authenticate").is_none());
    let basic_public = assert_oauth_error(
        introspect(&app, &token, basic_header("spa", "")).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(basic_public.get("www-authenticate").is_some());
    // A confidential client with its right secret, not marked: refused, and
    // refused again after a revocation cached its credentials.
    let basic = basic_header("backend", &plain_secret);
    assert_revocation_ok(
        app.revoke_basic("backend", &plain_secret, &[("token", "never-issued")])
            .await,
    )
    .await;
    for _ in 0..2 {
        assert_oauth_error(
            introspect(&app, &token, basic.clone()).await,
            401,
            "invalid_client",
        )
        .await;
    }
    // Marked through the admin API: it may introspect.
    let (status, client) = app
        .admin_json(
            app.admin(reqwest::Method::PATCH, "/admin/clients/backend")
                .json(&json!({ "resource_server": true })),
        )
        .await;
    assert_eq!((status, &client["resource_server"]), (200, &json!(true)));
    let body = answer(introspect(&app, &token, basic.clone()).await).await;
    assert_eq!(body["active"], true);
    // Unmarked again: refused at once, cached answer or not.
    let (status, _) = app
        .admin_json(
            app.admin(reqwest::Method::PATCH, "/admin/clients/backend")
                .json(&json!({ "resource_server": false })),
        )
        .await;
    assert_eq!(status, 200);
    assert_oauth_error(introspect(&app, &token, basic).await, 401, "invalid_client").await;
    // A public client cannot be marked: a conflict with its kind (in a
    // registration, which names the kind, a malformed request).
    let (status, _) = app
        .admin_json(
            app.admin(reqwest::Method::PATCH, "/admin/clients/spa")
                .json(&json!({ "resource_server": true })),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .admin_json(
            app.admin(reqwest::Method::POST, "/admin/clients")
                .json(&json!({ "client_id": "spa2", "kind": "public", "resource_server": true })),
        )
        .await;
    assert_eq!(status, 400);
    // Created marked through the admin API.
    let (status, created) = app
        .admin_json(
            app.admin(reqwest::Method::POST, "/admin/clients")
                .json(&json!({ "client_id": "rs2", "resource_server": true })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["resource_server"], true);
    let secret = created["client_secret"].as_str().unwrap_or_default();
    let body = answer(introspect(&app, &token, basic_header("rs2", secret)).await).await;
    assert_eq!(body["active"], true);
}

async fn a_rotated_resource_server_is_refused_on_another_instance_at_its_next_call(
    backend: Backend,
) {
    let first = TestApp::spawn_with(backend, with_admin).await;
    let second = TestApp::spawn_beside(&first).await;
    // No message between instances: the check must hold without one.
    first.db.silence_client_change_marks().await;
    let secret = first.resource_server("resource-server").await;
    first.create_client("spa", ClientKind::Public).await;
    let grant = first.grant("spa").await;
    let basic = basic_header("resource-server", &secret);
    let token = [("token", grant.access_token.as_str())];
    active_then_cached(&second, &token, &basic).await;
    let (status, _) = first
        .admin_json(
            first
                .admin(
                    reqwest::Method::POST,
                    "/admin/clients/resource-server/secret",
                )
                .json(&json!({})),
        )
        .await;
    assert_eq!(status, 200);
    assert_oauth_error(
        introspect(&second, &token, basic).await,
        401,
        "invalid_client",
    )
    .await;
}

/// Introspects `token` on `app`: active, and then active from the cache.
/// The cache serves only while the instance's outbox follower read within
/// the last second, which on a loaded machine can be late, so it asks
/// again (up to 5 s) until an answer comes from it.
async fn active_then_cached(app: &TestApp, token: &[(&str, &str)], basic: &HeaderMap) {
    assert_eq!(
        answer(introspect(app, token, basic.clone()).await).await["active"],
        true
    );
    until_within(Duration::from_secs(5), || async {
        answer(introspect(app, token, basic.clone()).await).await["active"] == true
            && introspections(app, "active_cached").await >= 1
    })
    .await;
}

/// Polls `done` until it holds, failing if that takes longer than `limit`;
/// answers how long it took.
pub(crate) async fn until_within<F, Fut>(limit: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still not done after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `rescind_introspections_total` count for `outcome`.
async fn introspections(app: &TestApp, outcome: &str) -> u64 {
    let text = app.metrics().await;
    let prefix = format!("rescind_introspections_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.trim().parse().unwrap_or(0))
}

async fn a_revocation_on_one_instance_ends_cached_answers_on_another_within_a_second(
    backend: Backend,
) {
    let first = TestApp::spawn_with(backend, with_admin).await;
    let second = TestApp::spawn_beside(&first).await;
    let secret = first.resource_server("resource-server").await;
    first.create_client("spa", ClientKind::Public).await;
    let basic = basic_header("resource-server", &secret);
    let is_active = |app: &TestApp, token: String| {
        let basic = basic.clone();
        let app_url = app.url(&format!("{}/oauth2/introspect", app.settings.issuer_path()));
        let http = app.http.clone();
        async move {
            let response = http
                .post(app_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .headers(basic)
                .body(encode(&[("token", &token)]))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            answer(response).await["active"] == true
        }
    };
    for round in 0..3 {
        let grant = first.grant("spa").await;
        // Read once from the database, then served from the second's cache.
        assert!(is_active(&second, grant.access_token.clone()).await);
        // (The cache serves only while the second's outbox follower has read
        // within the last second, which a starved machine can miss: ask
        // again until an answer comes from the cache.)
        let started = std::time::Instant::now();
        loop {
            let cached_before = introspections(&second, "active_cached").await;
            assert!(is_active(&second, grant.access_token.clone()).await);
            if introspections(&second, "active_cached").await == cached_before + 1 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no answer came from the cache"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Revoked through the first instance: by the refresh token, or in bulk.
        if round < 2 {
            assert_revocation_ok(first.revoke(&[("token", &grant.refresh_token)]).await).await;
        } else {
            first.revoke_all_grants_of("spa").await;
        }
        let elapsed = until_within(Duration::from_secs(1), || {
            let token = grant.access_token.clone();
            let second = &second;
            let is_active = &is_active;
            async move { !is_active(second, token).await }
        })
        .await;
        println!("round {round}: inactive on the other instance after {elapsed:?}");
    }
}

async fn a_revocation_ends_this_instances_cached_answer_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let secret = app.resource_server("resource-server").await;
    app.create_client("spa", ClientKind::Public).await;
    let basic = basic_header("resource-server", &secret);
    let grant = app.grant("spa").await;
    let token = [("token", grant.access_token.as_str())];
    active_then_cached(&app, &token, &basic).await;
    assert_revocation_ok(app.revoke(&[("token", &grant.refresh_token)]).await).await;
    let body = answer(introspect(&app, &[("token", &grant.access_token)], basic).await).await;
    assert_eq!(body, json!({ "active": false }));
}

/// On PostgreSQL, lookups that arrive together are read by one statement
/// per worker (`database.batch_workers`, 2 by default, as for
/// revocations), each checking its own resource server: with `tokens`
/// locked by another transaction, twenty lookups of distinct tokens put two
/// statements in the database and queue the rest (one statement per lookup
/// would take every free connection of the pool). Queued with them: a
/// second resource server's lookup, that server disabled in the database
/// once its lookup waits (past authentication; no message between
/// instances), and a cached answer's presenter check. Once the lock goes each is answered for its
/// own token and its own presenter.
#[tokio::test]
async fn postgres_lookups_waiting_together_are_read_in_batches() {
    use sqlx::Connection as _;
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        let defaults = rescind::config::Settings::default().database;
        settings.database.max_connections = defaults.max_connections;
        settings.database.batch_workers = defaults.batch_workers;
        // The waits below must not outlast the statements' timeout.
        settings.database.timeout = Duration::from_secs(60);
    })
    .await;
    app.db.silence_client_change_marks().await;
    let secret = app.resource_server("resource-server").await;
    let other_secret = app.resource_server("other-server").await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, 21).await;
    let (cached, grants) = grants.split_at(1);
    for grant in grants.iter().step_by(2) {
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    }
    let basic = basic_header("resource-server", &secret);
    let other = basic_header("other-server", &other_secret);
    // First calls: each secret verified (and cached), and one answer
    // cached, so the calls below only read.
    let cached_token = [("token", cached[0].access_token.as_str())];
    assert_eq!(
        answer(introspect(&app, &cached_token, basic.clone()).await).await["active"],
        true
    );
    answer(introspect(&app, &[("token", "unknown")], other.clone()).await).await;
    let mut holder = app.db.postgres_connection().await;
    let mut lock = holder.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = app.url(&format!("{}/oauth2/introspect", app.settings.issuer_path()));
    let send = |token: &str, headers: HeaderMap| {
        let (http, url) = (app.http.clone(), url.clone());
        let body = encode(&[("token", token)]);
        tokio::spawn(async move {
            let response = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let lookups: Vec<_> = grants
        .iter()
        .map(|grant| send(&grant.access_token, basic.clone()))
        .collect();
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock'";
    let started = Instant::now();
    while app.db.count(waiting).await < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no lookup waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Queued in this order, so that the disabled server's lookup is not the
    // first of its batch: each row must check its own presenter.
    let rechecked = send(&cached[0].access_token, basic);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = send(&grants[1].access_token, other);
    // Time for it to pass authentication and queue, and for more
    // statements to reach the database, were there any.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Disabled once its lookup waits: only the batch's own check of each
    // presenter can refuse it now.
    app.db
        .execute("UPDATE clients SET disabled = true WHERE id = 'other-server'")
        .await;
    assert_eq!(app.db.count(waiting).await, 2, "lookup statements waiting");
    lock.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    for (n, lookup) in lookups.into_iter().enumerate() {
        let (status, body) = lookup.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200, "lookup {n}: {body}");
        assert_eq!(body["active"], n % 2 == 1, "lookup {n}: {body}");
    }
    let (status, body) = refused.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let (status, body) = rechecked.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
}

on_both_backends!(
    a_live_token_is_active_with_its_claims,
    unknown_expired_revoked_and_disabled_client_tokens_are_inactive_and_say_nothing_else,
    anonymous_callers_and_bad_credentials_are_refused,
    a_disabled_resource_server_is_refused_even_with_cached_credentials,
    only_marked_confidential_resource_servers_may_introspect,
    a_rotated_resource_server_is_refused_on_another_instance_at_its_next_call,
    a_revocation_on_one_instance_ends_cached_answers_on_another_within_a_second,
    a_revocation_ends_this_instances_cached_answer_at_once,
);
