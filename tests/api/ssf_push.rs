//! Shared Signals push delivery (RFC 8935) through the real HTTP stack: a
//! receiver on loopback takes the tokens Rescind posts, each checked by the
//! independent Python JOSE library; endpoints only under the origins the
//! operator registered; failures retried, then dead, listed and retried by
//! the operator; a paused stream holds its tokens.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse as _;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use rescind::domain::client::ClientKind;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_revocation_ok, serve_on_loopback};
use crate::on_both_backends;
use crate::shared_signals::{
    CREDENTIAL_COMPROMISE, SESSION_REVOKED, VERIFICATION, call, event_type, sets_counted,
    transmitter, transmitter_with, verified,
};

const PUSH: &str = "urn:ietf:rfc:8935";
const AUTHORIZATION: &str = "Bearer push-authorization-of-the-receiver";
const AUDIENCE: &str = "https://rp.example";

/// How the loopback receiver answers.
#[derive(Clone, Copy, Default)]
enum Answer {
    #[default]
    Accept,
    /// 503 to everything.
    Unavailable,
    /// 400 with an RFC 8935 error code.
    Refuse,
    /// Never answers (within the test).
    Hang,
}

/// A push receiver on loopback keeping what it was sent.
#[derive(Clone, Default)]
struct Sink {
    inner: Arc<Mutex<SinkState>>,
}

#[derive(Default)]
struct SinkState {
    answer: Answer,
    attempts: u32,
    /// Accepted tokens, by jti.
    accepted: serde_json::Map<String, Value>,
    /// Requests whose content type or authorization was not as configured.
    malformed: u32,
}

impl Sink {
    /// The sink and its origin (`http://127.0.0.1:<port>`).
    async fn start() -> (Self, String) {
        let sink = Self::default();
        let router = axum::Router::new()
            .route("/events", axum::routing::post(take))
            .with_state(sink.clone());
        let address = serve_on_loopback(router).await;
        (sink, format!("http://{address}"))
    }

    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, answer: Answer) {
        self.lock().answer = answer;
    }

    /// Waits (bounded) until `count` tokens were accepted; they, by jti.
    async fn accepted(&self, count: usize) -> Value {
        for _ in 0..100 {
            let accepted = self.lock().accepted.clone();
            if accepted.len() >= count {
                return Value::Object(accepted);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{count} pushed tokens never arrived")
    }

    /// Waits (bounded) until the receiver saw `count` attempts.
    async fn attempted(&self, count: u32) {
        for _ in 0..100 {
            if self.lock().attempts >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{count} push attempts never came")
    }
}

async fn take(
    State(sink): State<Sink>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let answer = {
        let mut state = sink.lock();
        state.attempts += 1;
        if header("content-type") != "application/secevent+jwt"
            || header("authorization") != AUTHORIZATION
        {
            state.malformed += 1;
        }
        state.answer
    };
    match answer {
        Answer::Unavailable => AxumStatus::SERVICE_UNAVAILABLE.into_response(),
        Answer::Refuse => (
            AxumStatus::BAD_REQUEST,
            axum::Json(json!({"err": "invalid_audience", "description": "not for us"})),
        )
            .into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            AxumStatus::ACCEPTED.into_response()
        }
        Answer::Accept => {
            let token = String::from_utf8_lossy(&body).into_owned();
            sink.lock()
                .accepted
                .insert(jti_of(&token), Value::String(token));
            AxumStatus::ACCEPTED.into_response()
        }
    }
}

/// A token's `jti`, read without verifying (the Python library verifies).
fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|claims| serde_json::from_slice::<Value>(&claims).ok())
        .and_then(|claims| claims["jti"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Registers receiver `rp` allowed to push to `origins`; its credential.
async fn push_receiver(app: &TestApp, origins: &[&str]) -> String {
    push_receiver_named(app, "rp", origins).await
}

/// Registers receiver `id` allowed to push to `origins`; its credential.
async fn push_receiver_named(app: &TestApp, id: &str, origins: &[&str]) -> String {
    let (status, body) = app
        .admin_json(
            app.admin(Method::POST, "/admin/ssf/receivers")
                .json(&json!({"id": id, "audience": AUDIENCE, "push_origins": origins})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["push_origins"], json!(origins));
    body["credential"].as_str().unwrap_or_default().to_owned()
}

/// Asks for a push stream to `endpoint`; the answer.
async fn push_stream(app: &TestApp, credential: &str, endpoint: &str) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        "/ssf/streams",
        credential,
        Some(json!({
            "events_requested": [SESSION_REVOKED, CREDENTIAL_COMPROMISE],
            "delivery": {"method": PUSH, "endpoint_url": endpoint, "authorization_header": AUTHORIZATION},
        })),
    )
    .await
}

/// The receiver's undelivered tokens, as the operator reads them.
async fn undelivered(app: &TestApp) -> Vec<Value> {
    let (status, body) = app
        .admin_json(app.admin(Method::GET, "/admin/ssf/receivers/rp/undelivered"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn pushed_tokens_verify_independently_and_leave_the_queue(backend: Backend) {
    let app = transmitter(backend).await;
    let (sink, origin) = Sink::start().await;
    let credential = push_receiver(&app, &[&origin]).await;
    let endpoint = format!("{origin}/events");
    let (status, created) = push_stream(&app, &credential, &endpoint).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["stream_id"].as_str().unwrap_or_default().to_owned();
    // The header is stored, never shown again.
    assert_eq!(
        created["delivery"],
        json!({"method": PUSH, "endpoint_url": endpoint})
    );
    let (_, read) = call(&app, Method::GET, "/ssf/streams", &credential, None).await;
    assert_eq!(read[0]["delivery"], created["delivery"]);
    assert!(!read.to_string().contains("push-authorization"), "{read}");
    // A push stream is not polled.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/ssf/poll/{id}"),
        &credential,
        Some(json!({"returnImmediately": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    app.create_client("spa", ClientKind::Public).await;
    let leaked = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &leaked.access_token)]).await).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/ssf/verify",
        &credential,
        Some(json!({"stream_id": id, "state": "push-check"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let sets = sink.accepted(3).await;
    let mut claims = verified(&app, &sets, AUDIENCE).await;
    claims.sort_by_key(event_type);
    let types: Vec<String> = claims.iter().map(event_type).collect();
    assert_eq!(
        types,
        [SESSION_REVOKED, CREDENTIAL_COMPROMISE, VERIFICATION]
    );
    for revoked in &claims[..2] {
        assert_eq!(revoked["txn"], leaked.grant_id.to_string());
    }
    assert_eq!(sink.lock().malformed, 0, "content type and authorization");
    assert_eq!(sets_counted(&app, "push", "delivered").await, 3);
    assert!(sets_counted(&app, "push", "queued").await >= 3);
    // Delivered tokens left the queue: nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.lock().attempts, 3);
    assert!(undelivered(&app).await.is_empty());
}

async fn a_push_endpoint_must_lie_under_an_origin_the_operator_registered(backend: Backend) {
    let app = transmitter(backend).await;
    let (sink, origin) = Sink::start().await;
    let credential = push_receiver(&app, &[]).await;
    let endpoint = format!("{origin}/events");
    // No origin registered: poll only.
    let (status, body) = push_stream(&app, &credential, &endpoint).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("origin")
    );

    let set_origins = |origins: Vec<String>| {
        app.admin_json(
            app.admin(Method::PUT, "/admin/ssf/receivers/rp/push-origins")
                .json(&json!({ "push_origins": origins })),
        )
    };
    for bad in [
        "http://receiver.example",
        "https://receiver.example/path",
        "ftp://x",
    ] {
        let (status, _) = set_origins(vec![bad.to_owned()]).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, body) = set_origins(vec![origin.clone()]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["push_origins"], json!([origin]));
    // Another port, another scheme, a look-alike host: refused.
    let port: u16 = origin
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_default();
    let other_port = format!("http://127.0.0.1:{}/events", port.wrapping_add(1));
    for elsewhere in [
        other_port.as_str(),
        "https://127.0.0.1/events",
        "http://10.0.0.1/events",
        "file:///etc/passwd",
    ] {
        let (status, body) = push_stream(&app, &credential, elsewhere).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{elsewhere}: {body}");
    }
    let (status, created) = push_stream(&app, &credential, &endpoint).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["stream_id"].as_str().unwrap_or_default().to_owned();
    // Moving it elsewhere later is refused alike.
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/ssf/streams",
        &credential,
        Some(json!({"stream_id": id, "delivery": {"method": PUSH, "endpoint_url": "https://127.0.0.1/x"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The operator takes the origin away: the stream is held, nothing sent.
    assert_eq!(set_origins(Vec::new()).await.0, 200);
    app.create_client("spa", ClientKind::Public).await;
    let held = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &held.access_token)]).await).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(sink.lock().attempts, 0, "held while outside the origins");
    // Listed again: what waited is delivered.
    assert_eq!(set_origins(vec![origin]).await.0, 200);
    sink.accepted(2).await;
}

async fn failed_pushes_are_retried_then_dead_listed_and_retried_by_the_operator(backend: Backend) {
    let app = transmitter_with(backend, |settings| {
        settings.ssf.push_max_attempts = 2;
        settings.ssf.push_retry_initial = Duration::from_millis(50);
        settings.ssf.push_retry_max = Duration::from_millis(100);
        settings.ssf.push_timeout = Duration::from_secs(2);
    })
    .await;
    let (sink, origin) = Sink::start().await;
    sink.answer(Answer::Unavailable);
    let credential = push_receiver(&app, &[&origin]).await;
    let (status, created) = push_stream(&app, &credential, &format!("{origin}/events")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["stream_id"].as_str().unwrap_or_default().to_owned();
    let verify = || {
        call(
            &app,
            Method::POST,
            "/ssf/verify",
            &credential,
            Some(json!({ "stream_id": id })),
        )
    };
    assert_eq!(verify().await.0, StatusCode::NO_CONTENT);
    // Two attempts, both 503: dead.
    sink.attempted(2).await;
    let mut dead = Vec::new();
    for _ in 0..40 {
        dead = undelivered(&app).await;
        if dead.first().is_some_and(|set| !set["dead_at"].is_null()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["attempts"], 2);
    assert_eq!(dead[0]["last_status"], 503);
    assert_eq!(dead[0]["last_error"], "answered 503");
    assert!(dead[0]["next_attempt_at"].is_null());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.lock().attempts, 2, "a dead token is not sent again");
    assert_eq!(sets_counted(&app, "push", "failed").await, 1);
    assert_eq!(sets_counted(&app, "push", "dead").await, 1);

    // The receiver is back; the operator retries.
    sink.answer(Answer::Accept);
    let (status, body) = app
        .admin_json(app.admin(Method::POST, "/admin/ssf/receivers/rp/undelivered/retry"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retried"], 1);
    let sets = sink.accepted(1).await;
    assert_eq!(
        sets.as_object().and_then(|sets| sets.keys().next()),
        dead[0]["jti"].as_str().map(str::to_owned).as_ref(),
        "the same token, the same jti"
    );
    assert!(undelivered(&app).await.is_empty());

    // A refusal (400 with an error code) is dead at once: the same token
    // would be refused again.
    sink.answer(Answer::Refuse);
    app.create_client("spa", ClientKind::Public).await;
    let refused = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &refused.access_token)]).await).await;
    let mut listed = Vec::new();
    for _ in 0..60 {
        listed = undelivered(&app).await;
        if listed.len() == 2 && listed.iter().all(|set| !set["dead_at"].is_null()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    for set in &listed {
        assert_eq!(set["attempts"], 1);
        assert_eq!(set["last_status"], 400);
        assert_eq!(set["last_error"], "refused: invalid_audience");
    }
    // Unknown receivers are 404s.
    let (status, _) = app
        .admin_json(app.admin(Method::GET, "/admin/ssf/receivers/nobody/undelivered"))
        .await;
    assert_eq!(status, 404);
}

async fn a_paused_push_stream_holds_its_tokens_until_enabled(backend: Backend) {
    let app = transmitter(backend).await;
    let (sink, origin) = Sink::start().await;
    let credential = push_receiver(&app, &[&origin]).await;
    let (_, created) = push_stream(&app, &credential, &format!("{origin}/events")).await;
    let id = created["stream_id"].as_str().unwrap_or_default().to_owned();
    let set_status = |status: &'static str| {
        call(
            &app,
            Method::POST,
            "/ssf/status",
            &credential,
            Some(json!({"stream_id": id, "status": status})),
        )
    };
    assert_eq!(set_status("paused").await.0, StatusCode::OK);
    app.create_client("spa", ClientKind::Public).await;
    let held = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &held.access_token)]).await).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.lock().attempts, 0, "held while paused");
    assert_eq!(set_status("enabled").await.0, StatusCode::OK);
    let sets = sink.accepted(2).await;
    let claims = verified(&app, &sets, AUDIENCE).await;
    assert!(
        claims
            .iter()
            .all(|claims| claims["txn"] == held.grant_id.to_string())
    );
}

/// Receivers that never answer hold up their own streams only: another
/// receiver gets its tokens long before their attempts time out.
async fn a_receiver_that_never_answers_holds_up_only_its_own_stream(backend: Backend) {
    let app = transmitter_with(backend, |settings| {
        settings.ssf.push_timeout = Duration::from_secs(10);
    })
    .await;
    // Three hanging receivers: without a round per stream, the healthy one
    // would wait behind whichever of them came first.
    for id in ["hang-1", "hang-2", "hang-3"] {
        let (sink, origin) = Sink::start().await;
        sink.answer(Answer::Hang);
        let credential = push_receiver_named(&app, id, &[&origin]).await;
        let (status, body) = push_stream(&app, &credential, &format!("{origin}/events")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (healthy, origin) = Sink::start().await;
    let credential = push_receiver_named(&app, "healthy", &[&origin]).await;
    let (status, body) = push_stream(&app, &credential, &format!("{origin}/events")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.create_client("spa", ClientKind::Public).await;
    let leaked = app.grant("spa").await;
    let started = std::time::Instant::now();
    assert_revocation_ok(app.revoke(&[("token", &leaked.access_token)]).await).await;
    healthy.accepted(2).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the healthy receiver waited {:?}",
        started.elapsed()
    );
}

/// Two instances racing for one token: the first's lease runs out while it
/// still sends, the second claims the token; the first's late failure must
/// not count an attempt, clear the second's lease or kill the token.
async fn an_outcome_recorded_after_its_lease_ran_out_is_dropped(backend: Backend) {
    use chrono::DurationRound as _;
    use rescind::domain::shared_signals::{QueuedSet, ReceiverId};
    use rescind::domain::webhook::AttemptOutcome;
    use rescind::storage::{PushQueueStore, SharedSignalsStore};

    let app = transmitter(backend).await;
    let (_sink, origin) = Sink::start().await;
    let credential = push_receiver(&app, &[&origin]).await;
    let (_, created) = push_stream(&app, &credential, &format!("{origin}/events")).await;
    let id = created["stream_id"].as_str().unwrap_or_default().to_owned();
    // Paused: this instance's sender leaves it alone; the test claims.
    let (status, _) = call(
        &app,
        Method::POST,
        "/ssf/status",
        &credential,
        Some(json!({"stream_id": id, "status": "paused"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let queue: &dyn SharedSignalsStore = app.store.as_ref();
    let pushes: &dyn PushQueueStore = app.store.as_ref();
    let set = QueuedSet {
        jti: "raced".to_owned(),
        token: "a.b.c".to_owned(),
    };
    let at = |offset: i64| {
        (crate::helpers::now() + chrono::Duration::seconds(offset))
            .duration_trunc(chrono::Duration::milliseconds(1))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    queue
        .queue_set(&id, &set, at(0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = pushes
        .claim_pushes(&id, at(0), at(1), 8)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.len(), 1);
    assert!(
        pushes
            .claim_pushes(&id, at(0), at(60), 8)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "leased"
    );
    let second = pushes
        .claim_pushes(&id, at(2), at(60), 8)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.len(), 1, "claimed again once the lease ran out");
    let dead = AttemptOutcome::Failed {
        status: Some(503),
        error: "answered 503".to_owned(),
        retry_at: None,
    };
    pushes
        .finish_push(&first[0], &dead, at(3))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let receiver = ReceiverId::parse("rp").unwrap_or_else(|| unreachable!());
    let listed = pushes
        .undelivered(&receiver, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        listed.is_empty(),
        "the late outcome was dropped: {listed:?}"
    );
    assert!(
        pushes
            .claim_pushes(&id, at(3), at(60), 8)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "still under the second lease"
    );
    pushes
        .finish_push(&second[0], &dead, at(4))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = pushes
        .undelivered(&receiver, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].attempts, 1);
    assert!(listed[0].dead_at.is_some());
}

on_both_backends!(
    pushed_tokens_verify_independently_and_leave_the_queue,
    a_push_endpoint_must_lie_under_an_origin_the_operator_registered,
    failed_pushes_are_retried_then_dead_listed_and_retried_by_the_operator,
    a_paused_push_stream_holds_its_tokens_until_enabled,
    an_outcome_recorded_after_its_lease_ran_out_is_dropped,
    a_receiver_that_never_answers_holds_up_only_its_own_stream,
);
