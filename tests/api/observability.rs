//! What `/metrics` tells an operator beyond request counts: which build
//! runs, the process's CPU, memory and files, request durations up to the
//! request timeout, and how far each consumer of the revocation event
//! outbox is behind (a stalled follower, a failing webhook).

use std::time::{Duration, Instant};

use reqwest::Method;
use rescind::config::{Settings, WebhookSettings};
use rescind::domain::client::ClientKind;
use sqlx::Connection as _;

use crate::helpers::cluster::PgCluster;
use crate::helpers::{Backend, TestApp, TestDatabase, assert_revocation_ok, free_port, with_admin};
use crate::on_both_backends;

/// The value of the one sample whose name and labels are `series`, as
/// written before the value (`name{a="b"}`); `None` when absent.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split(' ').next()?.parse().ok())
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Scrapes until `done` holds for the text, for at most `limit`.
async fn scrape_until(app: &TestApp, limit: Duration, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = app.metrics().await;
        if done(&text) {
            return text;
        }
        assert!(started.elapsed() < limit, "not seen in {limit:?}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_build_and_the_process_are_described(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let text = app.metrics().await;
    let build = format!(
        "rescind_build_info{{version=\"{}\",commit=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        env!("BUILD_GIT_COMMIT")
    );
    assert!((value(&text, &build) - 1.0).abs() < f64::EPSILON);
    let commit = env!("BUILD_GIT_COMMIT");
    assert!(
        commit == "unknown" || commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{commit}"
    );
    if cfg!(target_os = "linux") {
        assert!(value(&text, "rescind_process_cpu_seconds_total") > 0.0);
        assert!(value(&text, "rescind_process_resident_memory_bytes") > f64::from(1 << 20));
        // The listeners, the pool's connections, the database file.
        assert!(value(&text, "rescind_process_open_fds") >= 3.0);
        assert!(
            value(&text, "rescind_process_max_fds") >= value(&text, "rescind_process_open_fds")
        );
        assert!(value(&text, "rescind_process_start_time_seconds") > 1.6e9);
        assert!(
            text.contains("# TYPE rescind_process_cpu_seconds counter"),
            "{text}"
        );
    }
}

async fn request_durations_have_buckets_up_to_the_request_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    assert_eq!(app.settings.server.request_timeout, Duration::from_secs(30));
    assert_revocation_ok(app.revoke(&[("token", "unknown-token")]).await).await;
    let text = app.metrics().await;
    let series = |le: &str| {
        format!(
            "rescind_http_request_duration_seconds_bucket{{le=\"{le}\",listener=\"public\",\
             route=\"/oauth2/revoke\",method=\"POST\",status=\"200\"}}"
        )
    };
    for le in ["5.0", "10.0", "30.0", "60.0", "+Inf"] {
        assert!(
            (value(&text, &series(le)) - 1.0).abs() < f64::EPSILON,
            "{le}"
        );
    }
}

/// A webhook endpoint that refuses connections (nothing listens on its
/// port), retried only after a long wait: its deliveries stay pending.
fn with_unreachable_webhook(settings: &mut Settings) {
    with_admin(settings);
    settings.events.webhooks.push(WebhookSettings {
        name: "audit-sink".to_owned(),
        url: format!("http://127.0.0.1:{}/hook", free_port()),
        secret: Some("webhook-secret-0123456789abcdefghijklmnop".into()),
        timeout: Duration::from_secs(1),
        max_attempts: 5,
        retry_initial: Duration::from_secs(600),
        retry_max: Duration::from_secs(600),
        ..WebhookSettings::default()
    });
}

const WEBHOOK_LAG: &str =
    "rescind_outbox_lag_seconds{consumer=\"webhook\",endpoint=\"audit-sink\"}";
const WEBHOOK_PENDING: &str = "rescind_webhook_pending_deliveries{endpoint=\"audit-sink\"}";
const FOLLOWER_LAG: &str = "rescind_outbox_lag_seconds{consumer=\"follower\",endpoint=\"\"}";
const SUBSCRIBERS_LAG: &str = "rescind_outbox_lag_seconds{consumer=\"subscribers\",endpoint=\"\"}";

async fn a_failing_webhook_shows_pending_deliveries_and_their_age(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_unreachable_webhook).await;
    app.create_client("spa", ClientKind::Public).await;
    // Nothing waits yet: both series are there, at zero, once the follower
    // and the dispatcher have read the outbox.
    let idle = scrape_until(&app, Duration::from_secs(5), |text| {
        sample(text, FOLLOWER_LAG).is_some()
    })
    .await;
    assert_eq!(sample(&idle, WEBHOOK_PENDING), Some(0.0), "{idle}");
    assert_eq!(sample(&idle, WEBHOOK_LAG), Some(0.0), "{idle}");
    // The endpoint's cursor starts at the outbox's head when the dispatcher
    // first runs: every revocation below must come after it.
    app.wait_for_webhook_cursors().await;

    let mut tokens = Vec::new();
    for _ in 0..3 {
        let grant = app.grant("spa").await;
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
        tokens.push(grant.access_token);
    }
    let text = scrape_until(&app, Duration::from_secs(10), |text| {
        sample(text, WEBHOOK_PENDING) == Some(3.0) && sample(text, WEBHOOK_LAG) >= Some(1.0)
    })
    .await;
    // The follower passed the events on; only the webhook is behind.
    assert!(value(&text, FOLLOWER_LAG) < 1.0, "{text}");
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token in the metrics");
    }
    assert!(!text.contains("spa"), "a client id in the metrics");
}

/// Runs `sql` on `connection`, panicking on failure.
async fn run(connection: &mut sqlx::PgConnection, sql: &str) {
    sqlx::query(sql)
        .execute(&mut *connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The README warns that a long transaction stalls delivery: events
/// committed after it started are not settled until it ends. The lag of
/// every consumer shows it, and falls back once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transaction_shows_as_outbox_lag_on_postgres() {
    let app = TestApp::spawn_with(Backend::Postgres, with_unreachable_webhook).await;
    app.create_client("spa", ClientKind::Public).await;
    scrape_until(&app, Duration::from_secs(5), |text| {
        sample(text, FOLLOWER_LAG) == Some(0.0) && sample(text, WEBHOOK_LAG) == Some(0.0)
    })
    .await;
    let stream = app
        .admin(Method::GET, "/admin/events")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status().as_u16(), 200);

    let mut long = app.db.postgres_connection().await;
    run(&mut long, "BEGIN").await;
    // A transaction id is taken at the first write or when asked for.
    run(&mut long, "SELECT pg_current_xact_id()").await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.refresh_token)]).await).await;

    let stalled = scrape_until(&app, Duration::from_secs(10), |text| {
        [FOLLOWER_LAG, SUBSCRIBERS_LAG, WEBHOOK_LAG]
            .iter()
            .all(|series| sample(text, series) >= Some(1.5))
    })
    .await;
    // Not queued yet: the event is not settled.
    assert_eq!(sample(&stalled, WEBHOOK_PENDING), Some(0.0), "{stalled}");

    run(&mut long, "ROLLBACK").await;
    let moving = scrape_until(&app, Duration::from_secs(10), |text| {
        sample(text, FOLLOWER_LAG) == Some(0.0) && sample(text, WEBHOOK_PENDING) == Some(1.0)
    })
    .await;
    // The webhook still has it, pending: its age goes on.
    assert!(value(&moving, WEBHOOK_LAG) >= 1.5, "{moving}");
    drop(stream);
    let _ = long.close().await;
}

/// `/metrics` still answers, within `database.timeout`, when the database
/// is gone; the outbox series, which would need it, are left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_without_the_database_and_leave_the_backlog_out() {
    let cluster = PgCluster::start();
    let db = TestDatabase::create_in(&cluster.url()).await;
    let app = TestApp::spawn_on(db, |settings| {
        with_unreachable_webhook(settings);
        settings.database.timeout = Duration::from_secs(1);
    })
    .await;
    scrape_until(&app, Duration::from_secs(5), |text| {
        sample(text, FOLLOWER_LAG).is_some() && sample(text, WEBHOOK_PENDING).is_some()
    })
    .await;

    cluster.stop_immediately();
    let started = Instant::now();
    let response = app
        .admin_without_token(Method::GET, "/metrics")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap_or_default();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(text.contains("rescind_build_info{"), "{text}");
    assert!(!text.contains("rescind_outbox_lag_seconds{"), "{text}");
    assert!(
        !text.contains("rescind_webhook_pending_deliveries{"),
        "{text}"
    );
}

on_both_backends!(
    the_build_and_the_process_are_described,
    request_durations_have_buckets_up_to_the_request_timeout,
    a_failing_webhook_shows_pending_deliveries_and_their_age,
);
