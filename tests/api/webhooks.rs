//! Revocation events delivered (docs/behaviour.md, Revocation events): webhooks (signed, retried through
//! failures, each event accepted exactly once, dead letters visible and
//! retried from the admin API) and the SSE stream on the admin listener.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use reqwest::Method;
use rescind::config::{Settings, WebhookSettings};
use rescind::domain::client::ClientKind;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Backend, TestApp, assert_revocation_ok, serve_on_loopback, with_admin};
use crate::on_both_backends;

const SECRET: &str = "webhook-secret-0123456789abcdefghijklmnop";
const GRANT_REVOKED: &str = "urn:rescind:event:grant-revoked";

/// A webhook receiver on loopback: it refuses the first `fail_first`
/// attempts of each event (500, then 429, ...), checks every signature and
/// timestamp, and keeps the events it accepted.
#[derive(Clone, Default)]
struct Receiver {
    inner: Arc<Mutex<Received>>,
}

#[derive(Default)]
struct Received {
    fail_first: u32,
    attempts: HashMap<String, u32>,
    accepted: Vec<Value>,
    bad_signatures: u32,
}

impl Receiver {
    async fn start(fail_first: u32) -> (Self, String) {
        let receiver = Self::default();
        receiver.lock().fail_first = fail_first;
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let address = serve_on_loopback(router).await;
        (receiver, format!("http://{address}/hook"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn accepted(&self) -> Vec<Value> {
        self.lock().accepted.clone()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("rescind-timestamp");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes())
        .unwrap_or_else(|_| unreachable!());
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .fold(String::from("v1="), |out, byte| {
            out + &format!("{byte:02x}")
        });
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|at| (crate::helpers::now().timestamp() - at).abs() <= 300);
    let mut state = receiver.lock();
    if header("rescind-signature") != expected || !fresh {
        state.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let jti = event["jti"].as_str().unwrap_or_default().to_owned();
    assert_eq!(header("rescind-event-id"), jti);
    let fail_first = state.fail_first;
    let attempt = state.attempts.entry(jti).or_insert(0);
    *attempt += 1;
    if *attempt <= fail_first {
        return if *attempt % 2 == 1 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
    }
    state.accepted.push(event);
    StatusCode::NO_CONTENT
}

fn with_webhook(url: &str, max_attempts: u32) -> impl FnOnce(&mut Settings) + '_ {
    move |settings| {
        with_admin(settings);
        settings.events.webhooks.push(WebhookSettings {
            name: "receiver".to_owned(),
            url: url.to_owned(),
            secret: Some(SECRET.into()),
            timeout: Duration::from_secs(2),
            max_attempts,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            ..WebhookSettings::default()
        });
    }
}

/// Waits until `done` holds, for at most `limit`.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not done after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn every_event_reaches_the_webhook_once_through_failures(backend: Backend) {
    let (receiver, url) = Receiver::start(2).await;
    let app = TestApp::spawn_with(backend, with_webhook(&url, 5)).await;
    // A second instance with the same endpoint: the two share the work
    // (leases, `SKIP LOCKED`), and still each event is accepted once.
    let _second = TestApp::spawn_beside(&app).await;
    app.create_client("spa", ClientKind::Public).await;
    // The endpoint's cursor starts at the outbox's head when the dispatcher
    // first runs: every revocation below must come after it.
    app.wait_for_webhook_cursors().await;
    for _ in 0..8 {
        let grant = app.grant("spa").await;
        assert_revocation_ok(app.revoke(&[("token", &grant.refresh_token)]).await).await;
    }
    app.grants_with_ttl("spa", 3600, 4).await;
    app.revoke_all_grants_of("spa").await;
    let events = app.db.count("SELECT count(*) FROM revocation_events").await;
    assert_eq!(events, 12);
    eventually(Duration::from_secs(20), || receiver.accepted().len() >= 12).await;
    // Nothing more arrives: every delivery is settled as delivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = receiver.accepted();
    let mut ids: Vec<&str> = accepted.iter().filter_map(|e| e["jti"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(accepted.len(), 12, "each event accepted exactly once");
    assert_eq!(ids.len(), 12);
    assert_eq!(receiver.lock().bad_signatures, 0);
    let attempts: Vec<u32> = receiver.lock().attempts.values().copied().collect();
    assert!(
        attempts.iter().all(|&n| n == 3),
        "two failures, then accepted: {attempts:?}"
    );

    // The payload: SET claims, the grant's details under the event type.
    // Deliveries are retried one by one, so they may be accepted in any
    // order: take an anonymous revocation's.
    let event = accepted
        .iter()
        .find(|e| e["events"][GRANT_REVOKED]["reason"] == "anonymous_report")
        .unwrap_or_else(|| panic!("no anonymous revocation among {accepted:?}"));
    assert_eq!(event["iss"], app.settings.issuer.as_str());
    let details = &event["events"][GRANT_REVOKED];
    assert_eq!(details["client_id"], "spa");
    assert_eq!(details["subject"], "alice");
    assert_eq!(details["token_kinds"], json!(["access", "refresh"]));
    assert_eq!(details["reason"], "anonymous_report");
    assert_eq!(event["txn"], details["grant_id"]);
    let reasons: Vec<&str> = accepted
        .iter()
        .filter_map(|e| e["events"][GRANT_REVOKED]["reason"].as_str())
        .collect();
    assert_eq!(reasons.iter().filter(|r| **r == "admin_bulk").count(), 4);

    // The admin API shows them delivered, three attempts each.
    let (status, page) = app
        .admin_json(app.admin(Method::GET, "/admin/webhooks/deliveries?state=delivered"))
        .await;
    assert_eq!(status, 200);
    let items = page["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 12);
    assert!(
        items
            .iter()
            .all(|d| d["attempts"] == 3 && d["endpoint"] == "receiver")
    );
}

async fn a_delivery_that_keeps_failing_is_dead_until_retried(backend: Backend) {
    // Fails the first three attempts of each event; the endpoint allows two.
    let (receiver, url) = Receiver::start(3).await;
    let app = TestApp::spawn_with(backend, with_webhook(&url, 2)).await;
    app.create_client("spa", ClientKind::Public).await;
    app.wait_for_webhook_cursors().await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    let dead = || async {
        let (status, page) = app
            .admin_json(app.admin(Method::GET, "/admin/webhooks/deliveries?state=dead"))
            .await;
        assert_eq!(status, 200);
        page["items"].as_array().cloned().unwrap_or_default()
    };
    let started = Instant::now();
    let items = loop {
        let items = dead().await;
        if !items.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(items.len(), 1, "dead after its two attempts");
    assert_eq!(items[0]["attempts"], 2);
    assert_eq!(items[0]["last_status"], 429);
    assert!(receiver.accepted().is_empty());
    let metrics = app.metrics().await;
    for expected in [
        "rescind_webhook_attempts_total{outcome=\"failed\"} 1",
        "rescind_webhook_attempts_total{outcome=\"dead\"} 1",
    ] {
        assert!(metrics.contains(expected), "missing {expected}");
    }

    // A bad id, an unknown one, then the real one: retried, and delivered
    // at its third attempt overall (the receiver's first success).
    let id = items[0]["id"].as_i64().unwrap_or_default();
    let (status, _) = app
        .admin_json(app.admin(Method::POST, "/admin/webhooks/deliveries/x/retry"))
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .admin_json(app.admin(
            Method::POST,
            &format!("/admin/webhooks/deliveries/{}/retry", id + 1),
        ))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .admin_json(app.admin(
            Method::POST,
            &format!("/admin/webhooks/deliveries/{id}/retry"),
        ))
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("pending")));
    // Attempt 3 fails (the receiver refuses three), attempt 4 succeeds.
    eventually(Duration::from_secs(10), || receiver.accepted().len() == 1).await;
    let (_, page) = app
        .admin_json(app.admin(Method::GET, "/admin/webhooks/deliveries?state=dead"))
        .await;
    assert_eq!(page["items"], json!([]));
}

async fn the_event_stream_sends_new_events_and_resumes_after_the_last_seen(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    let mut stream = app
        .admin(Method::GET, "/admin/events")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status().as_u16(), 200);
    assert_eq!(
        crate::helpers::header(&stream, "content-type"),
        Some("text/event-stream")
    );
    let first = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &first.access_token)]).await).await;
    let (id, data) = next_sse_event(&mut stream).await;
    assert_eq!(data["events"][GRANT_REVOKED]["client_id"], "spa");
    drop(stream);

    // Two revocations while disconnected, then resume from the last id.
    for _ in 0..2 {
        let grant = app.grant("spa").await;
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    }
    let mut resumed = app
        .admin(Method::GET, "/admin/events")
        .header("last-event-id", &id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (second, _) = next_sse_event(&mut resumed).await;
    let (third, _) = next_sse_event(&mut resumed).await;
    assert!(second != id && third != id && second != third);
    let all = app.db.count("SELECT count(*) FROM revocation_events").await;
    assert_eq!(all, 3);
    drop(resumed);

    let bad = app
        .admin(Method::GET, "/admin/events")
        .header("last-event-id", "not-an-id")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status().as_u16(), 400);
}

/// Reads the stream until one whole event arrived: its id and its data.
pub async fn next_sse_event(stream: &mut reqwest::Response) -> (String, Value) {
    let mut text = String::new();
    loop {
        if let Some(end) = text.find("\n\n") {
            let block = &text[..end];
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(|value| value.trim_start().to_owned())
            };
            if let (Some(id), Some(data)) = (field("id:"), field("data:")) {
                return (id, serde_json::from_str(&data).unwrap_or(Value::Null));
            }
            // A keep-alive comment: skip it.
            text.drain(..end + 2);
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event within 5 s"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the stream ended"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// A webhook secret read from a file is held to the same 32-byte minimum
/// as one in the configuration: refused at start, naming the key.
async fn a_short_secret_file_is_refused_at_start_naming_its_key(backend: Backend) {
    let db = crate::helpers::database::TestDatabase::create(backend).await;
    let short = db.data_dir().join("webhook-secret");
    std::fs::write(&short, "only-31-bytes-long-secret-text\n").unwrap_or_else(|e| panic!("{e}"));
    let mut settings = crate::helpers::base_settings(&db);
    settings.events.webhooks = vec![WebhookSettings {
        name: "audit".to_owned(),
        url: "http://127.0.0.1:9/hook".to_owned(),
        secret_file: Some(short.clone()),
        ..WebhookSettings::default()
    }];
    settings
        .validate()
        .unwrap_or_else(|e| panic!("a file's content is checked at start: {e}"));
    let store = rescind::server::open_store(&settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let refused =
        rescind::server::Server::build(&settings, store.clone(), listener, system_clock())
            .err()
            .map(|error| error.to_string());
    assert_eq!(
        refused.as_deref(),
        Some(
            "invalid configuration: `events.webhooks[0].secret_file`: the secret must be at least 32 bytes"
        )
    );
    // 32 bytes (and the trailing newline, which is not part of it) start.
    std::fs::write(&short, "exactly-32-bytes-long-secret-txt\n").unwrap_or_else(|e| panic!("{e}"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    assert!(rescind::server::Server::build(&settings, store, listener, system_clock()).is_ok());
}

on_both_backends!(
    a_short_secret_file_is_refused_at_start_naming_its_key,
    every_event_reaches_the_webhook_once_through_failures,
    a_delivery_that_keeps_failing_is_dead_until_retried,
    the_event_stream_sends_new_events_and_resumes_after_the_last_seen,
);

fn system_clock() -> std::sync::Arc<dyn rescind::domain::clock::Clock> {
    std::sync::Arc::new(rescind::domain::clock::SystemClock)
}
