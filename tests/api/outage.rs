//! The database failing under a running server (docs/behaviour.md, Revocation: `503` with
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
            .all(|r| r.presented_token_hash.as_deref() != Some(&untouched_hash[..]))
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

/// A slow database (docs/reliability.md): another session holds an exclusive lock on the
/// tokens table. Eight concurrent revocations answer `503` + `Retry-After`
/// within the 1 s statement timeout (plus the pool wait), none hangs; once
/// the lock is released the same tokens revoke, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_postgres_table_answers_503_within_the_timeout_then_recovers() {
    let db = TestDatabase::create(crate::helpers::Backend::Postgres).await;
    let app = TestApp::spawn_on(db, |s| s.database.timeout = Duration::from_secs(1)).await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, 8).await;

    let mut locker = app.db.postgres_connection().await;
    for statement in ["BEGIN", "LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE"] {
        sqlx::query(statement)
            .execute(&mut locker)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let started = Instant::now();
    let answers = futures_of(&app, &grants).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout: took {:?}",
        started.elapsed()
    );
    for answer in answers {
        assert_unavailable(answer).await;
    }
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    for answer in futures_of(&app, &grants).await {
        assert_revocation_ok(answer).await;
    }
    assert_eq!(app.db.live_tokens().await, 0, "every grant revoked whole");
    assert_eq!(app.db.audit_records().await.len(), grants.len());
}

/// Revokes each grant's access token, all at once (one task each).
async fn futures_of(
    app: &TestApp,
    grants: &[rescind::provisioning::MintedGrant],
) -> Vec<reqwest::Response> {
    let url = app.url(&format!("{}/oauth2/revoke", app.settings.issuer_path()));
    let tasks: Vec<_> = grants
        .iter()
        .map(|grant| {
            let request = app
                .http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={}", grant.access_token));
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap_or_else(|e| panic!("{e}"));
        answers.push(answer.unwrap_or_else(|e| panic!("request failed: {e}")));
    }
    answers
}

/// docs/reliability.md: distinct tokens revoked by 8 tasks while PostgreSQL is stopped
/// (`-m immediate`) one second in and started again two seconds later.
/// Bounded: at most 2 400 requests and 12 s. Every answer is `200`, or `503`
/// with `Retry-After`, within the request deadline; every grant answered
/// `200` is revoked with one record; no grant is left half revoked; and
/// revocations succeed again after the restart, without restarting Rescind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_under_load_through_a_database_restart() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const GRANTS: usize = 1_200;
    const TASKS: usize = 8;
    let cluster = PgCluster::start();
    let db = TestDatabase::create_in(&cluster.url()).await;
    let app = TestApp::spawn_on(db, |s| s.database.timeout = Duration::from_secs(1)).await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = Arc::new(app.grants_with_ttl("spa", 3600, GRANTS).await);
    let app = Arc::new(app);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let load: Vec<_> = (0..TASKS)
        .map(|_| {
            let (app, grants, next) = (app.clone(), grants.clone(), next.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= 2 * GRANTS || started.elapsed() > Duration::from_secs(12) {
                        return answers;
                    }
                    // Each grant is presented once through each of its tokens.
                    let grant = &grants[index % GRANTS];
                    let token = if index < GRANTS {
                        &grant.access_token
                    } else {
                        &grant.refresh_token
                    };
                    let sent = Instant::now();
                    let answer = app.revoke(&[("token", token.as_str())]).await;
                    let retry_after = answer.headers().contains_key("retry-after");
                    answers.push((
                        index % GRANTS,
                        answer.status().as_u16(),
                        retry_after,
                        sent.elapsed(),
                        sent - started,
                    ));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.stop_immediately();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.start_again();

    let mut answers = Vec::new();
    for task in load {
        answers.extend(task.await.unwrap_or_else(|e| panic!("{e}")));
    }
    let mut revoked = std::collections::BTreeSet::new();
    let (mut unavailable, mut after_restart_ok) = (0, 0);
    for &(grant, status, retry_after, took, at) in &answers {
        assert!(
            took < Duration::from_secs(5),
            "an answer took {took:?}: longer than the request deadline allows"
        );
        match status {
            200 => {
                revoked.insert(grant);
                if at > Duration::from_secs(4) {
                    after_restart_ok += 1;
                }
            }
            503 => {
                assert!(retry_after, "a 503 without Retry-After");
                unavailable += 1;
            }
            other => panic!("answered {other}: only 200 and 503 are allowed"),
        }
    }
    assert!(
        unavailable > 0,
        "the outage was never hit: the test proves nothing"
    );
    assert!(
        after_restart_ok > 0,
        "no revocation succeeded after the restart"
    );

    let revoked: Vec<String> = revoked
        .iter()
        .map(|&i| grants[i].grant_id.to_string())
        .collect();
    assert_consistent_after_outage(&app, &revoked).await;
}

/// Every grant in `answered_ok` is revoked, and each revoked grant has
/// exactly one record and an event.
pub async fn assert_consistent_after_outage(app: &TestApp, answered_ok: &[String]) {
    let ids: Vec<String> = answered_ok.iter().map(|id| format!("'{id}'")).collect();
    let answered = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    let still_live = app
        .db
        .count(&format!(
            "SELECT count(*) FROM grants WHERE revoked_at IS NULL AND id IN ({})",
            ids.join(",")
        ))
        .await;
    assert_eq!(still_live, 0, "a grant answered 200 is not revoked");
    // A token's state is its grant's, so a grant cannot be half revoked;
    // its event is written in the same statement as its record.
    let without_event = app
        .db
        .count(
            "SELECT count(*) FROM grants g WHERE g.revoked_at IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM revocation_events e WHERE e.grant_id = g.id)",
        )
        .await;
    assert_eq!(without_event, 0, "a revoked grant has no event");
    let revoked_grants = app
        .db
        .count("SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
        .await;
    assert!(revoked_grants >= answered);
    assert_eq!(
        i64::try_from(app.db.audit_records().await.len()).unwrap_or(-1),
        revoked_grants,
        "one record per revoked grant"
    );
}
