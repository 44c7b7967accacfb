//! The Shared Signals Framework transmitter (docs/shared-signals.md) through
//! the real HTTP stack: discovery, receivers, stream management and poll
//! delivery, every polled token checked by an independent Python JOSE
//! library against the key set it fetched over HTTP.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rescind::config::Settings;
use rescind::domain::client::ClientKind;
use rescind::signing::SigningAlgorithm;
use serde_json::{Value, json};

use sha2::{Digest as _, Sha256};

use crate::helpers::command::{json_line, run};
use crate::helpers::{Backend, ISSUER, TestApp, assert_revocation_ok, with_admin};
use crate::jose::python;
use crate::on_both_backends;

pub(crate) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub(crate) const CREDENTIAL_COMPROMISE: &str =
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";
pub(crate) const VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";
const POLL: &str = "urn:ietf:rfc:8936";

/// A server with the transmitter on (ES256: a P-256 key is made at once;
/// the RS256 default is tested once) and the admin listener.
pub(crate) async fn transmitter(backend: Backend) -> TestApp {
    transmitter_signing_with(backend, SigningAlgorithm::Es256).await
}

async fn transmitter_signing_with(backend: Backend, algorithm: SigningAlgorithm) -> TestApp {
    transmitter_with(backend, |settings| settings.ssf.algorithm = algorithm).await
}

/// [`transmitter`], its settings then changed by `adjust`.
pub(crate) async fn transmitter_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        with_admin(settings);
        settings.ssf.enabled = true;
        settings.ssf.algorithm = SigningAlgorithm::Es256;
        settings.ssf.poll_wait = Duration::from_secs(2);
        adjust(settings);
    })
    .await
}

/// Registers receiver `id` through the admin API; its credential.
async fn receiver(app: &TestApp, id: &str) -> String {
    let (status, body) = app
        .admin_json(
            app.admin(Method::POST, "/admin/ssf/receivers")
                .json(&json!({"id": id, "audience": format!("https://{id}.example")})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["credential"]
        .as_str()
        .unwrap_or_else(|| panic!("no credential: {body}"))
        .to_owned()
}

/// A Shared Signals request with `credential`, answering status and JSON.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    credential: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(credential);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates the receiver's stream asking for `events`; its id.
async fn stream(app: &TestApp, credential: &str, events: &[&str]) -> String {
    let (status, body) = call(
        app,
        Method::POST,
        "/ssf/streams",
        credential,
        Some(json!({"events_requested": events, "delivery": {"method": POLL}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["stream_id"].as_str().unwrap_or_default().to_owned()
}

/// Polls once; the answer.
async fn poll(app: &TestApp, credential: &str, stream: &str, body: Value) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        &format!("/ssf/poll/{stream}"),
        credential,
        Some(body),
    )
    .await
}

/// Polls until `count` tokens are queued (the outbox is read within its
/// poll interval), without acknowledging; the `sets` object.
async fn polled(app: &TestApp, credential: &str, stream: &str, count: usize) -> Value {
    for _ in 0..20 {
        let (status, body) = poll(app, credential, stream, json!({"maxEvents": 50})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["sets"].as_object().map_or(0, serde_json::Map::len) >= count {
            return body["sets"].clone();
        }
    }
    panic!("{count} tokens never arrived")
}

/// Each polled token checked by tests/support/jose.py, which fetches the
/// key set from the advertised `jwks_uri`; the claims by `jti`.
pub(crate) async fn verified(app: &TestApp, sets: &Value, audience: &str) -> Vec<Value> {
    let request = json!({
        "op": "verify-polled",
        "jwks_uri": app.url("/ssf/jwks.json"),
        "sets": sets,
        "issuer": ISSUER,
        "audience": audience,
    });
    let answer = tokio::task::spawn_blocking(move || python(&request))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let results = answer.as_object().cloned().unwrap_or_default();
    assert_eq!(
        results.len(),
        sets.as_object().map_or(0, serde_json::Map::len)
    );
    results
        .into_values()
        .map(|result| {
            assert_eq!(result["ok"], true, "{result}");
            result["claims"].clone()
        })
        .collect()
}

pub(crate) fn event_type(claims: &Value) -> String {
    claims["events"]
        .as_object()
        .and_then(|events| events.keys().next().cloned())
        .unwrap_or_default()
}

/// The discovery document, with what the CAEP interoperability profile requires.
async fn check_discovery(app: &TestApp) {
    let document: Value = app
        .http
        .get(app.url("/.well-known/ssf-configuration"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(document["issuer"], ISSUER);
    assert_eq!(document["spec_version"], "1_0");
    assert_eq!(document["jwks_uri"], format!("{ISSUER}/ssf/jwks.json"));
    assert_eq!(
        document["delivery_methods_supported"],
        json!(["urn:ietf:rfc:8935", POLL])
    );
    assert_eq!(
        document["configuration_endpoint"],
        format!("{ISSUER}/ssf/streams")
    );
    assert_eq!(document["status_endpoint"], format!("{ISSUER}/ssf/status"));
    assert_eq!(
        document["verification_endpoint"],
        format!("{ISSUER}/ssf/verify")
    );
    assert_eq!(
        document["authorization_schemes"],
        json!([{"spec_urn": "urn:ietf:rfc:6750"}])
    );
    assert_eq!(document["default_subjects"], "ALL");
}

/// The polled tokens' claims, sorted by event type: both grants'
/// session-revoked, the leaked grant's compromise, the verification.
fn check_claims(claims: &[Value], id: &str, logout: &str, leaked: &str) {
    let alice = json!({"format": "iss_sub", "iss": ISSUER, "sub": "alice"});
    let compromise = &claims[2];
    assert_eq!(compromise["sub_id"], alice);
    assert_eq!(compromise["txn"], leaked);
    assert_eq!(
        compromise["events"][CREDENTIAL_COMPROMISE]["credential_type"],
        "oauth-token"
    );
    for revoked in &claims[..2] {
        assert_eq!(revoked["sub_id"], alice);
        let body = &revoked["events"][SESSION_REVOKED];
        assert!(body["event_timestamp"].is_i64(), "{body}");
        assert!(
            body["reason_admin"]["en"]
                .as_str()
                .is_some_and(|text| !text.is_empty()),
            "{body}"
        );
        let expected = if revoked["txn"] == logout {
            "user"
        } else {
            assert_eq!(revoked["txn"], leaked);
            "system"
        };
        assert_eq!(body["initiating_entity"], expected);
    }
    let verification = &claims[3];
    assert_eq!(
        verification["sub_id"],
        json!({"format": "opaque", "id": id})
    );
    assert_eq!(verification["events"][VERIFICATION]["state"], "check-1");
    assert!(verification.get("txn").is_none());
}

async fn discovery_and_polled_tokens_verify_independently(backend: Backend) {
    let app = transmitter_signing_with(backend, SigningAlgorithm::default()).await;
    check_discovery(&app).await;
    let credential = receiver(&app, "rp").await;
    let audience = "https://rp.example";
    let (status, created) = call(
        &app,
        Method::POST,
        "/ssf/streams",
        &credential,
        Some(json!({
            "events_requested": [CREDENTIAL_COMPROMISE, "urn:example:other", SESSION_REVOKED],
            "delivery": {"method": POLL},
            "description": "test stream",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["stream_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["iss"], ISSUER);
    assert_eq!(created["aud"], audience);
    assert_eq!(
        created["events_delivered"],
        json!([SESSION_REVOKED, CREDENTIAL_COMPROMISE])
    );
    assert_eq!(
        created["delivery"],
        json!({"method": POLL, "endpoint_url": format!("{ISSUER}/ssf/poll/{id}")})
    );

    // A client's own revocation (a logout), and a leaked token reported
    // without authentication.
    let secret = app
        .create_client("app", ClientKind::Confidential)
        .await
        .unwrap_or_else(|| panic!("a confidential client has a secret"));
    let logout = app.grant("app").await;
    let leaked = app.grant("app").await;
    assert_revocation_ok(
        app.revoke_basic("app", secret.expose(), &[("token", &logout.access_token)])
            .await,
    )
    .await;
    assert_revocation_ok(app.revoke(&[("token", &leaked.refresh_token)]).await).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/ssf/verify",
        &credential,
        Some(json!({"stream_id": id, "state": "check-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let sets = polled(&app, &credential, &id, 4).await;
    // Unacknowledged tokens come again, the same ones.
    assert_eq!(polled(&app, &credential, &id, 4).await, sets);
    let mut claims = verified(&app, &sets, audience).await;
    claims.sort_by_key(|claims| (event_type(claims), claims["txn"].to_string()));
    let types: Vec<String> = claims.iter().map(event_type).collect();
    assert_eq!(
        types,
        [
            SESSION_REVOKED,
            SESSION_REVOKED,
            CREDENTIAL_COMPROMISE,
            VERIFICATION
        ]
    );
    check_claims(
        &claims,
        &id,
        &logout.grant_id.to_string(),
        &leaked.grant_id.to_string(),
    );

    // Acknowledged tokens are gone.
    let jtis: Vec<&String> = sets
        .as_object()
        .map(|sets| sets.keys().collect())
        .unwrap_or_default();
    let (status, body) = poll(
        &app,
        &credential,
        &id,
        json!({"ack": jtis, "returnImmediately": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"sets": {}, "moreAvailable": false}));
    let metrics = app.metrics().await;
    for stage in ["queued", "delivered", "acknowledged"] {
        let line = format!("rescind_ssf_sets_total{{path=\"poll\",stage=\"{stage}\"}}");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&line) && !l.ends_with(" 0")),
            "{line} in {metrics}"
        );
    }
}

async fn a_paused_stream_holds_its_events_and_a_disabled_one_drops_them(backend: Backend) {
    let app = transmitter(backend).await;
    let credential = receiver(&app, "rp").await;
    let id = stream(&app, &credential, &[SESSION_REVOKED]).await;
    app.create_client("spa", ClientKind::Public).await;
    let set_status = |status: &'static str| {
        call(
            &app,
            Method::POST,
            "/ssf/status",
            &credential,
            Some(json!({"stream_id": id, "status": status, "reason": "maintenance"})),
        )
    };
    let (status, body) = set_status("paused").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"stream_id": id, "status": "paused", "reason": "maintenance"})
    );
    let (_, read) = call(
        &app,
        Method::GET,
        &format!("/ssf/status?stream_id={id}"),
        &credential,
        None,
    )
    .await;
    assert_eq!(read, body);
    let held = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &held.access_token)]).await).await;
    // Past the outbox's poll interval: settled, but held while paused.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, body) = poll(&app, &credential, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sets"], json!({}));

    assert_eq!(set_status("enabled").await.0, StatusCode::OK);
    let sets = polled(&app, &credential, &id, 1).await;
    let claims = verified(&app, &sets, "https://rp.example").await;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["txn"], held.grant_id.to_string());
    acknowledge(&app, &credential, &id, &jtis_of(&json!({ "sets": sets }))).await;

    // Disabled: queued and new events are dropped, not delivered later.
    let queued = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &queued.access_token)]).await).await;
    polled(&app, &credential, &id, 1).await;
    assert_eq!(set_status("disabled").await.0, StatusCode::OK);
    let dropped = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &dropped.access_token)]).await).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(set_status("enabled").await.0, StatusCode::OK);
    let (_, body) = poll(&app, &credential, &id, json!({"returnImmediately": true})).await;
    assert_eq!(body["sets"], json!({}), "nothing from the disabled time");
}

/// The value of the `rescind_ssf_sets_total` counter for `path` and `stage`.
pub(crate) async fn sets_counted(app: &TestApp, path: &str, stage: &str) -> u64 {
    let line = format!("rescind_ssf_sets_total{{path=\"{path}\",stage=\"{stage}\"}} ");
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// The jtis of a poll answer's `sets`.
fn jtis_of(body: &Value) -> Vec<String> {
    body["sets"]
        .as_object()
        .map(|sets| sets.keys().cloned().collect())
        .unwrap_or_default()
}

/// Acknowledges `jtis` without asking for more.
async fn acknowledge(app: &TestApp, credential: &str, stream: &str, jtis: &[String]) {
    let (status, body) = poll(
        app,
        credential,
        stream,
        json!({"ack": jtis, "returnImmediately": true, "maxEvents": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_backlog_is_signed_a_poll_answer_at_a_time(backend: Backend) {
    let app = transmitter(backend).await;
    let credential = receiver(&app, "rp").await;
    let id = stream(&app, &credential, &[SESSION_REVOKED]).await;
    app.create_client("spa", ClientKind::Public).await;
    for _ in 0..5 {
        let grant = app.grant("spa").await;
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    }
    // Past the outbox's poll interval: the backlog is settled.
    tokio::time::sleep(Duration::from_millis(700)).await;

    let mut delivered = std::collections::BTreeSet::new();
    let mut ack: Vec<String> = Vec::new();
    let mut answers = 0;
    loop {
        let (status, body) = poll(
            &app,
            &credential,
            &id,
            json!({"maxEvents": 2, "returnImmediately": true, "ack": ack}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ack = jtis_of(&body);
        assert!(ack.len() <= 2, "{body}");
        // Never more signed and queued than one answer holds.
        let queued = sets_counted(&app, "poll", "queued").await;
        let acknowledged = sets_counted(&app, "poll", "acknowledged").await;
        assert!(
            queued - acknowledged <= 2,
            "{queued} queued, {acknowledged} acknowledged"
        );
        delivered.extend(ack.iter().cloned());
        answers += 1;
        if body["moreAvailable"] == false && delivered.len() == 5 {
            break;
        }
        assert!(answers < 20, "the backlog never drained: {body}");
    }
    assert!(answers >= 3, "5 events in answers of 2 take 3 polls");
    acknowledge(&app, &credential, &id, &ack).await;
    assert_eq!(sets_counted(&app, "poll", "queued").await, 5);
    assert_eq!(sets_counted(&app, "poll", "acknowledged").await, 5);
}

/// A verification request of stream `id`; its status.
async fn verify(app: &TestApp, credential: &str, id: &str) -> StatusCode {
    let body = json!({ "stream_id": id });
    call(app, Method::POST, "/ssf/verify", credential, Some(body))
        .await
        .0
}

async fn verification_is_spaced_and_a_full_queue_holds_the_cursor(backend: Backend) {
    let app = transmitter_with(backend, |settings| {
        settings.ssf.max_events = 2;
        settings.ssf.max_queued_sets = 2;
        settings.ssf.min_verification_interval = Duration::from_secs(1);
    })
    .await;
    let credential = receiver(&app, "rp").await;
    let id = stream(&app, &credential, &[SESSION_REVOKED]).await;
    let path = format!("/ssf/streams?stream_id={id}");
    let (_, read) = call(&app, Method::GET, &path, &credential, None).await;
    assert_eq!(read["min_verification_interval"], 1, "{read}");

    assert_eq!(verify(&app, &credential, &id).await, StatusCode::NO_CONTENT);
    assert_eq!(
        verify(&app, &credential, &id).await,
        StatusCode::TOO_MANY_REQUESTS,
        "sooner than the interval"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(verify(&app, &credential, &id).await, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        verify(&app, &credential, &id).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the queue is full"
    );

    // With the queue full, a revocation waits in the outbox, not lost.
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, body) = poll(&app, &credential, &id, json!({"returnImmediately": true})).await;
    assert_eq!(jtis_of(&body).len(), 2, "{body}");
    assert_eq!(body["moreAvailable"], true, "{body}");
    assert_eq!(sets_counted(&app, "poll", "queued").await, 2);
    acknowledge(&app, &credential, &id, &jtis_of(&body)).await;
    let sets = polled(&app, &credential, &id, 1).await;
    let claims = verified(&app, &sets, "https://rp.example").await;
    assert_eq!(claims[0]["txn"], grant.grant_id.to_string());
}

async fn unacknowledged_tokens_go_with_the_audit_retention(backend: Backend) {
    let app = transmitter_with(backend, |settings| {
        settings.retention.audit_days = 30;
        settings.retention.interval = Duration::from_secs(1);
    })
    .await;
    let credential = receiver(&app, "rp").await;
    let id = stream(&app, &credential, &[SESSION_REVOKED]).await;
    assert_eq!(verify(&app, &credential, &id).await, StatusCode::NO_CONTENT);
    let queued = "SELECT count(*) FROM ssf_poll_queue";
    assert_eq!(app.db.count(queued).await, 1);
    // Younger than audit_days: kept over a few retention runs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.db.count(queued).await, 1);
    app.db
        .execute("UPDATE ssf_poll_queue SET queued_at = '2000-01-01 00:00:00+00:00'")
        .await;
    for _ in 0..100 {
        if app.db.count(queued).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a token queued long ago was never purged");
}

async fn a_receiver_never_reaches_another_receiver_s_stream(backend: Backend) {
    let app = transmitter(backend).await;
    let owner = receiver(&app, "owner").await;
    let other = receiver(&app, "other").await;
    let id = stream(&app, &owner, &[SESSION_REVOKED]).await;
    let attempts = [
        (Method::GET, format!("/ssf/streams?stream_id={id}"), None),
        (
            Method::PATCH,
            "/ssf/streams".to_owned(),
            Some(json!({"stream_id": id, "events_requested": []})),
        ),
        (
            Method::PUT,
            "/ssf/streams".to_owned(),
            Some(json!({"stream_id": id, "events_requested": []})),
        ),
        (Method::DELETE, format!("/ssf/streams?stream_id={id}"), None),
        (Method::GET, format!("/ssf/status?stream_id={id}"), None),
        (
            Method::POST,
            "/ssf/status".to_owned(),
            Some(json!({"stream_id": id, "status": "disabled"})),
        ),
        (
            Method::POST,
            "/ssf/verify".to_owned(),
            Some(json!({"stream_id": id})),
        ),
        (Method::POST, format!("/ssf/poll/{id}"), Some(json!({}))),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = call(&app, method.clone(), &path, &other, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    let (_, listed) = call(&app, Method::GET, "/ssf/streams", &other, None).await;
    assert_eq!(listed, json!([]));
    // The owner's stream is as it was; a second one is refused.
    let (status, mine) = call(&app, Method::GET, "/ssf/streams", &owner, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine[0]["events_delivered"], json!([SESSION_REVOKED]));
    let (_, state) = call(
        &app,
        Method::GET,
        &format!("/ssf/status?stream_id={id}"),
        &owner,
        None,
    )
    .await;
    assert_eq!(state["status"], "enabled");
    let (status, _) = call(
        &app,
        Method::POST,
        "/ssf/streams",
        &owner,
        Some(json!({"events_requested": [SESSION_REVOKED]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn bad_credentials_are_refused_alike(backend: Backend) {
    let app = transmitter(backend).await;
    let credential = receiver(&app, "rp").await;
    let removed = receiver(&app, "gone").await;
    let (status, _) = app
        .admin_json(app.admin(Method::DELETE, "/admin/ssf/receivers/gone"))
        .await;
    assert_eq!(status, 204);
    let mut wrong = credential.clone();
    wrong.pop();
    wrong.push(if credential.ends_with('A') { 'B' } else { 'A' });
    let mut answers = Vec::new();
    for presented in [
        None,
        Some("unknown-credential"),
        Some(wrong.as_str()),
        Some(removed.as_str()),
    ] {
        let mut request = app.http.get(app.url("/ssf/streams"));
        if let Some(presented) = presented {
            request = request.bearer_auth(presented);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        answers.push(response.text().await.unwrap_or_default());
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "{answers:?}"
    );
    let (status, _) = call(&app, Method::GET, "/ssf/streams", &credential, None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn every_bad_poll_or_stream_request_is_a_clear_400(backend: Backend) {
    let app = transmitter(backend).await;
    let credential = receiver(&app, "rp").await;
    let id = stream(&app, &credential, &[SESSION_REVOKED]).await;
    let too_many: Vec<String> = (0..1001).map(|n| format!("jti-{n}")).collect();
    let polls = [
        json!({"maxEvents": -1}),
        json!({"maxEvents": "10"}),
        json!({"returnImmediately": "yes"}),
        json!({"ack": "jti"}),
        json!({"ack": [""]}),
        json!({"ack": too_many}),
        json!({"setErrs": {"jti": {"description": "no err"}}}),
        json!({"unknown": 1}),
        json!([]),
    ];
    for body in polls {
        let (status, answer) = poll(&app, &credential, &id, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{answer}");
        assert!(answer["error_description"].is_string());
    }
    let response = app
        .http
        .post(app.url(&format!("/ssf/poll/{id}")))
        .bearer_auth(&credential)
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .http
        .post(app.url(&format!("/ssf/poll/{id}")))
        .bearer_auth(&credential)
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let streams = [
        (
            Method::PATCH,
            json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8935"}}),
        ),
        (Method::PATCH, json!({"events_requested": []})),
        (
            Method::PATCH,
            json!({"stream_id": id, "events_requested": "x"}),
        ),
        (
            Method::PUT,
            json!({"stream_id": id, "description": "a\u{0}b"}),
        ),
        (Method::PATCH, json!({"stream_id": id, "surprise": true})),
    ];
    for (method, body) in streams {
        let (status, answer) = call(
            &app,
            method,
            "/ssf/streams",
            &credential,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (status, _) = call(
        &app,
        Method::POST,
        "/ssf/status",
        &credential,
        Some(json!({"stream_id": id, "status": "sleeping"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, Method::GET, "/ssf/status", &credential, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn a_long_poll_waits_a_bounded_time_and_wakes_for_an_event(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        with_admin(settings);
        settings.ssf.enabled = true;
        settings.ssf.algorithm = SigningAlgorithm::Es256;
        settings.ssf.poll_wait = Duration::from_secs(1);
        settings.ssf.max_poll_waiters = 1;
    })
    .await;
    let credential = receiver(&app, "rp").await;
    let id = stream(&app, &credential, &[SESSION_REVOKED]).await;
    let started = std::time::Instant::now();
    let (status, body) = poll(&app, &credential, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sets"], json!({}));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // One waiter per receiver here: a second poll meanwhile answers at once.
    let first = poll(&app, &credential, &id, json!({}));
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let answer = poll(&app, &credential, &id, json!({})).await;
        (answer, started.elapsed())
    };
    let (_, ((status, _), quick)) = tokio::join!(first, second);
    assert_eq!(status, StatusCode::OK);
    assert!(quick < Duration::from_millis(600), "{quick:?}");

    // A revocation during the wait is answered before the wait ends.
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let waiting = poll(&app, &credential, &id, json!({"maxEvents": 5}));
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    };
    let ((status, body), ()) = tokio::join!(waiting, revoke);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["sets"].as_object().map_or(0, serde_json::Map::len),
        1,
        "{body}"
    );
}

async fn the_transmitter_is_off_by_default(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    for path in [
        "/.well-known/ssf-configuration",
        "/ssf/jwks.json",
        "/ssf/streams",
    ] {
        let response = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = app
        .admin_json(app.admin(Method::GET, "/admin/ssf/receivers"))
        .await;
    assert_eq!(status, 404);
}

async fn a_path_issuer_serves_discovery_at_both_locations(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.issuer = format!("{ISSUER}/tenant1");
        settings.ssf.enabled = true;
        settings.ssf.algorithm = SigningAlgorithm::Es256;
    })
    .await;
    for path in [
        "/.well-known/ssf-configuration/tenant1",
        "/tenant1/.well-known/ssf-configuration",
    ] {
        let document: Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_default();
        assert_eq!(document["issuer"], format!("{ISSUER}/tenant1"), "{path}");
        assert_eq!(
            document["jwks_uri"],
            format!("{ISSUER}/tenant1/ssf/jwks.json")
        );
    }
    let jwks: Value = app
        .http
        .get(app.url("/tenant1/ssf/jwks.json"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(jwks["keys"][0].get("d").is_none(), "public members only");
}

/// Receivers through the admin API and the command line: the credential
/// shown once, stored only as its hash, a duplicate refused, removal final.
async fn receivers_are_registered_listed_and_removed_by_the_operator(backend: Backend) {
    let app = transmitter(backend).await;
    let (status, created) = app
        .admin_json(
            app.admin(Method::POST, "/admin/ssf/receivers")
                .json(&json!({"id": "rp"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["audience"], "rp",
        "the id when no audience is given"
    );
    let credential = created["credential"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(credential.len(), 43, "256 bits, base64url");
    let hex = rescind::domain::token::lower_hex(&Sha256::digest(credential.as_bytes()));
    let column = match backend {
        Backend::Postgres => "encode(credential_hash, 'hex')",
        Backend::Sqlite => "lower(hex(credential_hash))",
    };
    let stored = app
        .db
        .texts(&format!(
            "SELECT {column} FROM ssf_receivers WHERE id = 'rp'"
        ))
        .await;
    assert_eq!(stored, [hex], "the SHA-256 only");
    let (status, _) = app
        .admin_json(
            app.admin(Method::POST, "/admin/ssf/receivers")
                .json(&json!({"id": "rp"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .admin_json(
            app.admin(Method::POST, "/admin/ssf/receivers")
                .json(&json!({"id": "a b"})),
        )
        .await;
    assert_eq!(status, 400);

    let added = json_line(
        &run(
            &app,
            &[
                "receiver",
                "add",
                "--id",
                "cli-rp",
                "--audience",
                "https://cli.example",
            ],
        )
        .await,
    );
    assert_eq!(added["audience"], "https://cli.example");
    let cli_credential = added["credential"].as_str().unwrap_or_default().to_owned();
    let (status, _) = call(&app, Method::GET, "/ssf/streams", &cli_credential, None).await;
    assert_eq!(status, StatusCode::OK);
    let listed = json_line(&run(&app, &["receiver", "list"]).await);
    let (_, over_http) = app
        .admin_json(app.admin(Method::GET, "/admin/ssf/receivers"))
        .await;
    for list in [&listed, &over_http] {
        let ids: Vec<&str> = list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item["id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ids, ["cli-rp", "rp"]);
        assert!(
            !list.to_string().contains(&credential) && !list.to_string().contains("credential")
        );
    }
    json_line(&run(&app, &["receiver", "remove", "--id", "cli-rp"]).await);
    let (status, _) = call(&app, Method::GET, "/ssf/streams", &cli_credential, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .admin_json(app.admin(Method::DELETE, "/admin/ssf/receivers/rp"))
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .admin_json(app.admin(Method::DELETE, "/admin/ssf/receivers/rp"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.db.count("SELECT count(*) FROM ssf_receivers").await, 0);
}

on_both_backends!(
    receivers_are_registered_listed_and_removed_by_the_operator,
    discovery_and_polled_tokens_verify_independently,
    a_paused_stream_holds_its_events_and_a_disabled_one_drops_them,
    a_backlog_is_signed_a_poll_answer_at_a_time,
    verification_is_spaced_and_a_full_queue_holds_the_cursor,
    unacknowledged_tokens_go_with_the_audit_retention,
    a_receiver_never_reaches_another_receiver_s_stream,
    bad_credentials_are_refused_alike,
    every_bad_poll_or_stream_request_is_a_clear_400,
    a_long_poll_waits_a_bounded_time_and_wakes_for_an_event,
    the_transmitter_is_off_by_default,
    a_path_issuer_serves_discovery_at_both_locations,
);
