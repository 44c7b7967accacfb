//! The database failing under a running server (SPEC §2: `503` with
//! `Retry-After`, never `500`, never `200`; recovery without a restart).

use std::time::{Duration, Instant};

use rescind::domain::client::ClientKind;
use rescind::domain::revocation::AnonymousPolicy;
use sha2::Digest as _;

use crate::helpers::cluster::PgCluster;
use crate::helpers::{TestApp, TestDatabase, assert_oauth_error, assert_revocation_ok, header};

async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_oauth_error(response, 503, "temporarily_unavailable").await;
}

async fn ready_status(app: &TestApp) -> u16 {
    let response = app.http.get(app.url("/health/ready")).send().await;
    response.map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_a_running_server_answers_503_then_recovers() {
    let cluster = PgCluster::start();
    let db = TestDatabase::create_in(&cluster.url()).await;
    let app = TestApp::spawn_on(db, |s| s.database.timeout = Duration::from_secs(1)).await;
    let strict_db = TestDatabase::create_in(&cluster.url()).await;
    let strict =
        TestApp::spawn_on(strict_db, |s| s.policy.anonymous = AnonymousPolicy::Reject).await;
    app.create_client("spa", ClientKind::Public).await;
    let before = app.grant("spa").await;
    let during = app.grant("spa").await;
    let untouched = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &before.access_token)]).await).await;

    cluster.stop_immediately();
    let started = Instant::now();
    assert_unavailable(app.revoke(&[("token", &during.access_token)]).await).await;
    assert_unavailable(
        app.revoke(&[("token", &during.refresh_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers stay bounded by the configured timeout"
    );
    assert_eq!(ready_status(&app).await, 503);
    let live = app
        .http
        .get(app.url("/health/live"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(
        live.ok(),
        Some(200),
        "liveness does not depend on the database"
    );

    // Answers that need no database still work: a bad-checksum candidate, and
    // the anonymous policy's refusal.
    let mut bad_checksum = during.access_token.clone();
    bad_checksum.replace_range(4..5, if &bad_checksum[4..5] == "A" { "B" } else { "A" });
    assert_revocation_ok(app.revoke(&[("token", &bad_checksum)]).await).await;
    assert_oauth_error(
        strict.revoke(&[("token", &during.access_token)]).await,
        401,
        "invalid_client",
    )
    .await;

    cluster.start_again();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let response = app.revoke(&[("token", &during.access_token)]).await;
        let status = response.status().as_u16();
        assert!(
            status == 200 || status == 503,
            "only 200 or 503 while recovering, got {status}"
        );
        if status == 200 || Instant::now() > deadline {
            break status;
        }
        assert!(header(&response, "retry-after").is_some());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 200, "the server recovers without a restart");
    assert_eq!(ready_status(&app).await, 200);
    assert_eq!(
        app.db.live_tokens().await,
        2,
        "only the untouched grant is live"
    );
    assert_eq!(app.db.audit_records().await.len(), 2);
    let untouched_hash = sha2::Sha256::digest(untouched.access_token.as_bytes()).to_vec();
    assert!(
        app.db
            .audit_records()
            .await
            .iter()
            .all(|r| r.presented_token_hash != untouched_hash)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_answers_503_within_the_timeout_then_recovers() {
    let db = TestDatabase::create(crate::helpers::Backend::Sqlite).await;
    let app = TestApp::spawn_on(db, |s| s.database.timeout = Duration::from_millis(500)).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;

    let mut locker = app.db.sqlite_connection().await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let response = app.revoke(&[("token", &grant.access_token)]).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the configured timeout"
    );
    assert_unavailable(response).await;
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    assert_eq!(
        app.db.live_tokens().await,
        0,
        "the grant is revoked whole once the lock is gone"
    );
}
