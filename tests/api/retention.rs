//! The retention task (README.md, Running in production): expired tokens, the grants they leave
//! empty and old audit records go; live data stays; one instance at a time.

use std::time::{Duration, Instant};

use rescind::config::Settings;
use rescind::domain::client::ClientKind;
use sqlx::Connection as _;

use crate::helpers::{Backend, TestApp, assert_revocation_ok, with_admin};
use crate::on_both_backends;

fn purge_often(settings: &mut Settings) {
    with_admin(settings);
    settings.retention.keep_expired = Duration::ZERO;
    settings.retention.audit_days = 30;
    settings.retention.interval = Duration::from_secs(1);
}

/// Waits until `sql` counts `expected`, for at most ten seconds.
async fn eventually(app: &TestApp, sql: &str, expected: i64) {
    let started = Instant::now();
    loop {
        let count = app.db.count(sql).await;
        if count == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{sql}: {count}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const AN_OLD_TIME: &str = "'2000-01-01 00:00:00+00:00'";

async fn expired_tokens_empty_grants_and_old_records_are_purged(backend: Backend) {
    let app = TestApp::spawn_with(backend, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    let expired = app.grant_with_ttl("spa", 0).await;
    let live = app.grant("spa").await;
    let revoked = app.grant("spa").await;
    let recent = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &revoked.access_token)]).await).await;
    assert_revocation_ok(app.revoke(&[("token", &recent.access_token)]).await).await;
    let (status, _) = app
        .admin_json(app.admin(reqwest::Method::GET, "/admin/clients"))
        .await;
    assert_eq!(status, 200);
    // Age one revocation record, every admin call and every event past audit_days.
    app.db
        .execute(&format!(
            "UPDATE revocations SET revoked_at = {AN_OLD_TIME} WHERE grant_id = \
             (SELECT t.grant_id FROM tokens t JOIN grants g ON g.id = t.grant_id \
              WHERE t.kind = 'access' AND g.revoked_at IS NOT NULL \
              ORDER BY t.created_at LIMIT 1)"
        ))
        .await;
    app.db
        .execute(&format!(
            "UPDATE admin_actions SET started_at = {AN_OLD_TIME}"
        ))
        .await;
    app.db
        .execute(&format!(
            "UPDATE revocation_events SET revoked_at = {AN_OLD_TIME}"
        ))
        .await;

    eventually(&app, "SELECT count(*) FROM admin_actions", 0).await;
    eventually(&app, "SELECT count(*) FROM revocation_events", 0).await;
    eventually(&app, "SELECT count(*) FROM revocations", 1).await;
    // The expired grant's two tokens and the grant itself are gone.
    eventually(&app, "SELECT count(*) FROM tokens", 6).await;
    eventually(&app, "SELECT count(*) FROM grants", 3).await;
    // Live tokens were not touched, and still revoke.
    assert_revocation_ok(app.revoke(&[("token", &live.refresh_token)]).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
    assert!(expired.grant_id != live.grant_id);
}

/// A logout token's id is remembered until its token expires, then
/// deleted; an expired grant goes with its session and device labels.
async fn expired_logout_token_ids_and_labels_of_purged_grants_go(backend: Backend) {
    let app = TestApp::spawn_with(backend, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    let template = rescind::provisioning::GrantTemplate {
        client_id: rescind::domain::client::ClientId::parse("spa")
            .unwrap_or_else(|e| panic!("{e}")),
        subject: "alice".to_owned(),
        scope: None,
        origin: rescind::domain::grant::GrantOrigin {
            session_id: rescind::domain::session::SessionId::parse("s-1").ok(),
            device_id: None,
        },
        access_ttl_secs: 0,
        refresh_ttl_secs: 0,
    };
    rescind::provisioning::issue_grants(
        app.store.as_ref(),
        &app.token_format(),
        &template,
        1,
        crate::helpers::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    app.db
        .execute(&format!(
            "INSERT INTO logout_tokens_seen (issuer, jti, expires_at, claimed_at) VALUES \
             ('https://op.example', 'old', {AN_OLD_TIME}, {AN_OLD_TIME}), \
             ('https://op.example', 'current', '2099-01-01 00:00:00+00:00', {AN_OLD_TIME})"
        ))
        .await;
    eventually(&app, "SELECT count(*) FROM logout_tokens_seen", 1).await;
    assert_eq!(
        app.db.texts("SELECT jti FROM logout_tokens_seen").await,
        ["current"]
    );
    eventually(&app, "SELECT count(*) FROM grants", 0).await;
    eventually(&app, "SELECT count(*) FROM grant_origins", 0).await;
}

/// A live grant keeps every token while any of them can still be used: a
/// logout with an expired access token still revokes the grant.
async fn an_expired_token_of_a_live_grant_is_kept_and_still_revokes_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    let gone = app.grant_with_ttl("spa", 0).await;
    let live = app.grant("spa").await;
    // The access token expired long ago; the refresh token lives on.
    app.db
        .execute(&format!(
            "UPDATE tokens SET expires_at = {AN_OLD_TIME} WHERE kind = 'access' \
             AND grant_id = (SELECT grant_id FROM tokens WHERE expires_at > {AN_OLD_TIME} \
             AND kind = 'refresh' ORDER BY expires_at DESC LIMIT 1)"
        ))
        .await;
    // The wholly expired grant goes: retention has run.
    eventually(&app, "SELECT count(*) FROM grants", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.db.count("SELECT count(*) FROM tokens").await, 2);
    assert_revocation_ok(app.revoke(&[("token", &live.access_token)]).await).await;
    assert_eq!(app.db.live_tokens().await, 0, "the grant was revoked");
    assert_eq!(app.db.audit_records().await.len(), 1);
    assert!(gone.grant_id != live.grant_id);
}

/// While another instance holds the retention lock, this one purges nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_instance_at_a_time_purges() {
    let app = TestApp::spawn_with(Backend::Postgres, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    let mut other = app.db.postgres_connection().await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(rescind::storage::postgres::RETENTION_LOCK)
        .execute(&mut other)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.grants_with_ttl("spa", 0, 5).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        app.db.count("SELECT count(*) FROM tokens").await,
        10,
        "held elsewhere"
    );
    other.close().await.unwrap_or_else(|e| panic!("{e}"));
    eventually(&app, "SELECT count(*) FROM tokens", 0).await;
}

const DAY: u64 = 24 * 60 * 60;

/// The partitions (table names) that hold the rows of `table` matching `filter`.
async fn homes(app: &TestApp, table: &str, filter: &str) -> Vec<String> {
    app.db
        .texts(&format!(
            "SELECT tableoid::regclass::text FROM {table} WHERE {filter}"
        ))
        .await
}

/// The name of `table`'s partition for the month (UTC) `days` from now.
async fn month_of(app: &TestApp, table: &str, days: u64) -> String {
    app.db
        .texts(&format!(
            "SELECT '{table}_' || to_char((now() + interval '{days} days') AT TIME ZONE 'UTC', \
             'YYYY_MM')"
        ))
        .await
        .concat()
}

/// How many of the named tables exist.
fn existing(names: &[&str]) -> String {
    format!(
        "SELECT count(*) FROM pg_class WHERE relname IN ('{}')",
        names.join("', '")
    )
}

/// On PostgreSQL the audit records and the outbox are partitioned by month
/// (UTC): retention creates months ahead of the clock, drops a month whole
/// once it ended `audit_days` ago (the old table the upgrade attached
/// included), takes the webhook deliveries of dropped events with it, moves
/// a row the DEFAULT partition took into its month once that month is
/// created, and keeps what is younger, the month the cutoff falls in whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_drops_whole_months_and_creates_months_ahead() {
    let app = TestApp::spawn_with(Backend::Postgres, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    let first = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &first.access_token)]).await).await;
    let first_filter = format!("grant_id = '{}'", first.grant_id);
    assert_eq!(
        homes(&app, "revocations", &first_filter).await,
        ["revocations_before_partitioning"],
        "this month is the first partition's (migration 18)"
    );
    // Six weeks on, a month partition takes the record.
    app.clock.advance(Duration::from_secs(45 * DAY));
    let second = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &second.access_token)]).await).await;
    let (records_month, events_month) = (
        month_of(&app, "revocations", 45).await,
        month_of(&app, "revocation_events", 45).await,
    );
    let second_filter = format!("grant_id = '{}'", second.grant_id);
    assert_eq!(
        homes(&app, "revocations", &second_filter).await,
        [records_month.as_str()]
    );
    // An event from a clock far ahead: no month of it exists yet.
    app.db
        .execute(
            "INSERT INTO revocation_events (grant_id, client_id, subject, token_kinds, \
             presenter_kind, reason, revoked_at) VALUES (gen_random_uuid(), 'spa', 'far', \
             'access', 'public', 'client_request', now() + interval '150 days')",
        )
        .await;
    let far = "subject = 'far'";
    assert_eq!(
        homes(&app, "revocation_events", far).await,
        ["revocation_events_default"]
    );
    // Each event so far delivered to a webhook.
    app.db
        .execute(
            "INSERT INTO webhook_deliveries (endpoint, event_id, state, next_attempt_at, \
             created_at, updated_at) SELECT 'https://receiver.example', id, 'delivered', now(), \
             now() - interval '1 day', now() FROM revocation_events",
        )
        .await;

    // 100 days after the first: a record in the month that will straddle
    // the cutoff.
    app.clock.advance(Duration::from_secs(55 * DAY));
    let straddling = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &straddling.access_token)]).await).await;
    // 130 days after the first: the first two months ended more than 30
    // days ago, the straddling one has not.
    app.clock.advance(Duration::from_secs(30 * DAY));
    let third = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &third.access_token)]).await).await;
    let dropped = [
        "revocations_before_partitioning",
        "revocation_events_before_partitioning",
        &records_month,
        &events_month,
    ];
    eventually(&app, &existing(&dropped), 0).await;
    eventually(&app, "SELECT count(*) FROM webhook_deliveries", 1).await;
    assert_eq!(
        app.db
            .texts(
                "SELECT e.subject FROM webhook_deliveries d \
                 JOIN revocation_events e ON e.id = d.event_id"
            )
            .await,
        ["far"],
        "the delivery of a kept event stays"
    );
    let mut kept = app.db.texts("SELECT grant_id::text FROM revocations").await;
    kept.sort_unstable();
    let mut younger = vec![straddling.grant_id.to_string(), third.grant_id.to_string()];
    younger.sort_unstable();
    assert_eq!(kept, younger, "the younger records stay");
    let events_left = "SELECT count(*) FROM revocation_events WHERE subject <> 'far'";
    assert_eq!(app.db.count(events_left).await, 2);
    // Months are created two ahead of the clock, and the far event moved
    // into its own.
    let ahead = month_of(&app, "revocations", 190).await;
    eventually(&app, &existing(&[&ahead]), 1).await;
    assert_eq!(
        homes(&app, "revocation_events", far).await,
        [month_of(&app, "revocation_events", 150).await]
    );
}

/// The value of the one series of `metrics` that starts with `series`.
fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in {metrics}"))
}

/// A month whose drop cannot get its lock (a long transaction reads the
/// audit records) stays whole: the run counts the failure, deletes nothing
/// of the month row by row (a month has no index by time, and such deletes
/// would outlast every run), and the month goes at a later run once the
/// lock is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_month_that_cannot_be_dropped_is_kept_whole_until_it_can() {
    use sqlx::Connection as _;
    let app = TestApp::spawn_with(Backend::Postgres, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    app.clock.advance(Duration::from_secs(45 * DAY));
    let old = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &old.access_token)]).await).await;
    let month = month_of(&app, "revocations", 45).await;
    let mut reader = app.db.postgres_connection().await;
    let mut long = reader.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SELECT count(*) FROM revocations")
        .execute(&mut *long)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    app.clock.advance(Duration::from_secs(85 * DAY));
    let failed = "rescind_retention_audit_partitions_total{action=\"failed\"}";
    let started = Instant::now();
    while metric(&app.metrics().await, failed) < 1.0 {
        assert!(started.elapsed() < Duration::from_secs(15), "no failed run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.db.count("SELECT count(*) FROM revocations").await,
        1,
        "the month's record is kept while its month cannot be dropped"
    );
    long.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    eventually(&app, &existing(&[&month]), 0).await;
    assert_eq!(app.db.count("SELECT count(*) FROM revocations").await, 0);
}

/// Retention creates and drops months while revocations run, and neither
/// waits for the other in a cycle: every revocation is answered `200` with
/// its grant revoked, and no partition change fails. (A deadlock would fail
/// one side: a revocation's batch is retried once, then answered `503`; a
/// partition change is counted as failed.) The clock moves a month at a
/// time, so each retention run changes partitions while eight callers
/// revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_months_come_and_go_while_revocations_run() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const CALLERS: usize = 8;
    const STEPS: usize = 6;
    let app = TestApp::spawn_with(Backend::Postgres, purge_often).await;
    app.create_client("spa", ClientKind::Public).await;
    // Tokens that outlive the run's 186 days, so none expires or is purged.
    let grants = app.grants_with_ttl("spa", 400 * DAY, 2_400).await;
    let series =
        |action: &str| format!("rescind_retention_audit_partitions_total{{action=\"{action}\"}}");
    let count = |metrics: &str, action: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series(action).as_str()))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = app.metrics().await;
    let moving = Arc::new(AtomicBool::new(true));
    let callers: Vec<_> = grants
        .chunks(grants.len() / CALLERS)
        .map(|chunk| {
            let tokens: Vec<String> = chunk.iter().map(|g| g.access_token.clone()).collect();
            let (http, url, moving) = (
                app.http.clone(),
                app.url("/oauth2/revoke"),
                Arc::clone(&moving),
            );
            tokio::spawn(async move {
                let mut answers = Vec::new();
                // Round and round until the clock stops (a second round,
                // on a slow machine, finds its grants revoked: reads only,
                // still answered 200).
                for token in tokens.iter().cycle() {
                    if !moving.load(Ordering::SeqCst) {
                        break;
                    }
                    let status = http
                        .post(&url)
                        .form(&[("token", token.as_str())])
                        .send()
                        .await
                        .map_or(0, |response| response.status().as_u16());
                    answers.push(status);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let presented = answers.len().min(tokens.len());
                (answers, presented)
            })
        })
        .collect();
    let mut created = count(&before, "created");
    for _ in 0..STEPS {
        app.clock.advance(Duration::from_secs(31 * DAY));
        // A month or more ahead for each table: the next run made it.
        let started = Instant::now();
        loop {
            let now = count(&app.metrics().await, "created");
            if now >= created + 2.0 {
                created = now;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no month created"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    moving.store(false, Ordering::SeqCst);
    let mut revoked = 0;
    for caller in callers {
        let (answers, presented) = caller.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(answers.iter().all(|&status| status == 200), "{answers:?}");
        revoked += presented;
    }
    let after = app.metrics().await;
    assert!(
        count(&after, "failed") - count(&before, "failed") < 0.5,
        "a partition change failed: {after}"
    );
    assert!(
        count(&after, "dropped") - count(&before, "dropped") >= 4.0,
        "months were dropped: {after}"
    );
    let revoked = i64::try_from(revoked).unwrap_or(i64::MAX);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
            .await,
        revoked
    );
}

/// Creating a month whose rows piled up in the DEFAULT partition (months
/// left uncreated for long) is refused past `move_at_most` rows, with what
/// to do instead, rather than holding grants locked while it moves them;
/// run by hand with no limit, it moves every one.
#[tokio::test]
async fn postgres_a_month_piled_up_in_default_is_created_by_hand() {
    use sqlx::Connection as _;
    let app = TestApp::spawn(Backend::Postgres).await;
    app.db
        .execute(
            "INSERT INTO revocation_events (grant_id, client_id, subject, token_kinds, \
             presenter_kind, reason, revoked_at) SELECT gen_random_uuid(), 'spa', 'piled', \
             'access', 'public', 'client_request', now() + interval '200 days' \
             FROM generate_series(1, 3)",
        )
        .await;
    let through = "now() + interval '210 days'";
    let mut connection = app.db.postgres_connection().await;
    let refused = sqlx::query(&format!(
        "SELECT create_audit_partitions('revocation_events', {through}, 2)"
    ))
    .execute(&mut connection)
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        refused.contains("holds more than 2 rows") && refused.contains("quiet hour"),
        "{refused}"
    );
    let piled = "subject = 'piled'";
    assert_eq!(
        homes(&app, "revocation_events", piled).await,
        ["revocation_events_default"; 3]
    );
    sqlx::query(&format!(
        "SELECT create_audit_partitions('revocation_events', {through}, NULL)"
    ))
    .execute(&mut connection)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    connection.close().await.unwrap_or_else(|e| panic!("{e}"));
    let month = month_of(&app, "revocation_events", 200).await;
    assert_eq!(
        homes(&app, "revocation_events", piled).await,
        [month.as_str(); 3]
    );
}

on_both_backends!(
    expired_logout_token_ids_and_labels_of_purged_grants_go,
    expired_tokens_empty_grants_and_old_records_are_purged,
    an_expired_token_of_a_live_grant_is_kept_and_still_revokes_it,
);
