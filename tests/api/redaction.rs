//! No token, secret, `Authorization` header or request URI in any log line,
//! at any level (docs/behaviour.md, Logging and redaction). The real binary runs at `trace`, so the logs of
//! hyper, sqlx and rustls are checked too, and the spans it exports as well.

use reqwest::header::HeaderMap;
use rescind::domain::client::ClientKind;
use rescind::provisioning::MintedGrant;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::collector::Collector;
use crate::helpers::{Backend, TestApp, basic_header, encode, header_map};
use crate::{logout, on_both_backends};

async fn nothing_secret_reaches_the_logs_at_trace_level(backend: Backend) {
    // The test app seeds the database; the binary under test serves it.
    let seeder = TestApp::spawn(backend).await;
    let secret = seeder.resource_server("web").await;
    seeder.create_client("spa", ClientKind::Public).await;
    let revoked = seeder.grant("web").await;
    let foreign = seeder.grant("spa").await;
    let folder = seeder.db.data_dir();
    let logout_tokens = logout::sign(
        folder,
        &[
            logout::signed("valid", &logout::claims(&[])),
            logout::signed(
                "refused",
                &logout::claims(&[("aud", Some(serde_json::json!("someone-else")))]),
            ),
        ],
    );
    let upstream = format!(
        "[{{issuer=\"{}\",audience=\"{}\",jwks_file=\"{}\"}}]",
        logout::ISSUER,
        logout::AUDIENCE,
        folder.join("jwks.json").display()
    );
    let (collector, endpoint) = Collector::start().await;
    let server = ChildServer::start_with(
        &seeder,
        Logs::Captured("trace"),
        &[
            ("RESCIND_TRACING__ENDPOINT", &endpoint),
            ("RESCIND_LOGOUT__UPSTREAM", &upstream),
        ],
    )
    .await;

    let basic = basic_header("web", &secret);
    let cases = public_requests(&secret, &revoked, &foreign, &basic);
    for (path, body, headers, status) in cases {
        assert_eq!(server.post(path, body, headers).await, status, "{path}");
    }
    let logout_token = |name: &str| logout_tokens[name].as_str().unwrap_or_default().to_owned();
    for (name, status) in [("valid", 200), ("refused", 400)] {
        let body = format!("logout_token={}", logout_token(name));
        let answer = server
            .post("/oauth2/backchannel-logout", body, HeaderMap::new())
            .await;
        assert_eq!(answer, status, "logout token {name}");
    }
    assert_eq!(
        seeder.db.live_tokens().await,
        0,
        "the requests did reach the store"
    );
    let logs = server.stop();
    let exported = collector
        .wait_for(std::time::Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.span.name == "introspect")
        })
        .await;

    assert!(
        logs.contains("outcome") && logs.contains("request_id"),
        "the logs were captured"
    );
    assert!(!exported.is_empty(), "the spans were exported");
    let spans = collector.raw();
    let basic = basic.get("authorization").and_then(|v| v.to_str().ok());
    let basic = basic.unwrap_or_default();
    for (what, value) in [
        ("client secret", secret.as_str()),
        ("wrong secret", "wrong-secret-value"),
        ("access token", revoked.access_token.as_str()),
        ("refresh token", revoked.refresh_token.as_str()),
        ("foreign token", foreign.refresh_token.as_str()),
        ("duplicate token", "duplicate-token-value"),
        ("Basic credentials", basic.trim_start_matches("Basic ")),
        ("bearer value", "bearer-value-not-to-log"),
        ("token in the URI", "query-token-not-to-log"),
        ("introspected token", "introspected-token-not-to-log"),
        (
            "publicly reported token",
            "publicly-reported-token-not-to-log",
        ),
    ] {
        assert_absent(&logs, "logs", what, value);
        assert_absent(&spans, "exported spans", what, value);
    }
    // Neither logout token, nor its signature or claims part alone.
    for name in ["valid", "refused"] {
        let token = logout_token(name);
        let parts: Vec<&str> = token.split('.').collect();
        for value in [token.as_str(), parts[1], parts[2]] {
            assert_absent(&logs, "logs", "logout token", value);
            assert_absent(&spans, "exported spans", "logout token", value);
        }
    }
}

/// The public requests of the log test: (path, body, headers, status),
/// each carrying a secret that must not be logged.
fn public_requests(
    secret: &str,
    revoked: &MintedGrant,
    foreign: &MintedGrant,
    basic: &HeaderMap,
) -> [(&'static str, String, HeaderMap, u16); 9] {
    let (revoke, none) = ("/oauth2/revoke", HeaderMap::new);
    [
        (
            revoke,
            encode(&[("token", &revoked.access_token)]),
            basic.clone(),
            200,
        ),
        (
            revoke,
            encode(&[
                ("token", &foreign.refresh_token),
                ("client_id", "web"),
                ("client_secret", secret),
            ]),
            none(),
            200,
        ),
        (
            revoke,
            encode(&[
                ("token", &revoked.refresh_token),
                ("client_id", "web"),
                ("client_secret", "wrong-secret-value"),
            ]),
            none(),
            401,
        ),
        (
            revoke,
            encode(&[
                ("token", &revoked.access_token),
                ("token", "duplicate-token-value"),
            ]),
            none(),
            400,
        ),
        (
            revoke,
            "token=x".to_owned(),
            header_map(&[("authorization", "Bearer bearer-value-not-to-log")]),
            401,
        ),
        (
            "/oauth2/revoke?token=query-token-not-to-log",
            String::new(),
            none(),
            400,
        ),
        (
            "/oauth2/introspect",
            encode(&[("token", "introspected-token-not-to-log")]),
            basic.clone(),
            200,
        ),
        (
            "/oauth2/introspect",
            encode(&[("token", &revoked.access_token)]),
            none(),
            401,
        ),
        (
            "/credentials/revoke",
            serde_json::json!({ "credentials": ["publicly-reported-token-not-to-log"] })
                .to_string(),
            header_map(&[("content-type", "application/json")]),
            202,
        ),
    ]
}

/// Fails naming `what` when `value` appears in `text` (the `place`).
fn assert_absent(text: &str, place: &str, what: &str, value: &str) {
    assert!(!text.contains(value), "the {what} appears in the {place}");
}

/// The admin token of the admin redaction test.
const ADMIN_TOKEN: &str = "admin-token-value-0123456789-not-to-log";

/// The admin API handles the most secrets: generated client secrets, minted
/// and handed-over tokens, the admin token. None may reach a log line (at
/// `trace`), an error body or a metric; only the answers meant to carry a
/// generated value do.
async fn nothing_secret_leaks_from_the_admin_api(backend: Backend) {
    let seeder = TestApp::spawn(backend).await;
    let hash = rescind::auth::hash_secret(&rescind::domain::secret::ClientSecret::new(
        ADMIN_TOKEN.to_owned(),
    ))
    .map(|hash| hash.as_phc().to_owned())
    .unwrap_or_default();
    let port = crate::helpers::free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = ChildServer::start_with(
        &seeder,
        Logs::Captured("trace"),
        &[
            ("RESCIND_ADMIN__LISTEN", &listen),
            ("RESCIND_ADMIN__TOKEN_HASH", &hash),
        ],
    )
    .await;
    let admin = Admin {
        http: crate::helpers::http_client(None),
        base: format!("http://{listen}"),
    };
    let expires = "2099-01-01T00:00:00Z";
    let mut bodies = String::new(); // every answer that is not meant to carry a secret
    // The values answers are meant to carry, once.
    let created = admin
        .post(
            "/admin/clients",
            serde_json::json!({ "client_id": "web" }),
            ADMIN_TOKEN,
        )
        .await;
    let rotated = admin
        .post(
            "/admin/clients/web/secret",
            serde_json::json!({ "grace_period": "1h" }),
            ADMIN_TOKEN,
        )
        .await;
    let minted = admin
        .post(
            "/admin/grants/issue",
            serde_json::json!({ "client_id": "web", "subject": "alice" }),
            ADMIN_TOKEN,
        )
        .await;
    let shown: Vec<String> = [
        &created["client_secret"],
        &rotated["client_secret"],
        &minted["grants"][0]["access_token"],
        &minted["grants"][0]["refresh_token"],
    ]
    .iter()
    .map(|value| value.as_str().unwrap_or_default().to_owned())
    .collect();
    assert!(shown.iter().all(|value| value.len() > 20), "{shown:?}");
    for (method, path, body, token, status) in calls_that_must_not_echo(expires) {
        let (answered, text) = admin.call(method, path, body, token).await;
        assert_eq!(answered, status, "{path}");
        bodies.push_str(&text);
    }
    let (_, metrics) = admin
        .call(
            reqwest::Method::GET,
            "/metrics",
            serde_json::Value::Null,
            "",
        )
        .await;
    assert!(metrics.contains("rescind_"), "metrics were scraped");
    let logs = server.stop();
    assert!(logs.contains("admin call"), "the logs were captured");

    let mut secrets: Vec<(&str, &str)> = vec![
        ("admin token", ADMIN_TOKEN),
        ("wrong admin token", "wrong-admin-token-value-not-to-log"),
        ("handed-over token", "handed-over-token-value"),
        ("misplaced token", "misplaced-token-value"),
        ("misplaced date", "misplaced-date-value"),
        ("value pasted into kind", "pasted-into-kind-value"),
        ("query value", "query-value-not-to-echo"),
    ];
    secrets.extend(
        shown
            .iter()
            .map(|value| ("generated value", value.as_str())),
    );
    for (what, value) in secrets {
        for (text, place) in [(&logs, "logs"), (&metrics, "metrics"), (&bodies, "answers")] {
            assert_absent(text, place, what, value);
        }
    }
}

/// Admin calls carrying values no answer, log line or metric may repeat:
/// method, path, body, bearer token, expected status.
fn calls_that_must_not_echo(
    expires: &str,
) -> Vec<(
    reqwest::Method,
    &'static str,
    serde_json::Value,
    &'static str,
    u16,
)> {
    vec![
        (
            reqwest::Method::POST,
            "/admin/grants",
            serde_json::json!({ "client_id": "web", "subject": "bob", "tokens": [
                { "token": "handed-over-token-value", "kind": "access", "expires_at": expires }] }),
            ADMIN_TOKEN,
            201,
        ),
        (
            reqwest::Method::POST,
            "/admin/grants",
            serde_json::json!({ "client_id": "web", "subject": "bob", "tokens": [
                { "token": "misplaced-token-value", "kind": "access", "expires_at": "misplaced-date-value" }] }),
            ADMIN_TOKEN,
            400,
        ),
        (
            reqwest::Method::POST,
            "/admin/grants",
            serde_json::json!({ "client_id": "web", "subject": "bob", "tokens": [
                { "kind": "pasted-into-kind-value", "token": "x", "expires_at": expires }] }),
            ADMIN_TOKEN,
            400,
        ),
        (
            reqwest::Method::GET,
            "/admin/audit/revocations?subject=x&client_id=query-value-not-to-echo%00",
            serde_json::Value::Null,
            ADMIN_TOKEN,
            400,
        ),
        (
            reqwest::Method::GET,
            "/admin/clients",
            serde_json::Value::Null,
            "wrong-admin-token-value-not-to-log",
            401,
        ),
    ]
}

/// A client of the child server's admin listener.
struct Admin {
    http: reqwest::Client,
    base: String,
}

impl Admin {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
        token: &str,
    ) -> (u16, String) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, body: serde_json::Value, token: &str) -> serde_json::Value {
        let (status, text) = self.call(reqwest::Method::POST, path, body, token).await;
        assert!((200..300).contains(&status), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_default()
    }
}

/// A Shared Signals receiver's credential, right or wrong, reaches no log
/// line at `trace`.
async fn no_receiver_credential_reaches_the_logs(backend: Backend) {
    let seeder = TestApp::spawn(backend).await;
    let credential = seeder.ssf_receiver("rp").await;
    let server = ChildServer::start_with(
        &seeder,
        Logs::Captured("trace"),
        &[
            ("RESCIND_SSF__ENABLED", "true"),
            ("RESCIND_SSF__ALGORITHM", "ES256"),
        ],
    )
    .await;
    let json = |credential: &str| {
        header_map(&[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {credential}")),
        ])
    };
    let created = server
        .http
        .post(format!("{}/ssf/streams", server.base))
        .headers(json(&credential))
        .body(r#"{"events_requested": []}"#)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status(), 201);
    let stream: serde_json::Value = created.json().await.unwrap_or_default();
    let poll = format!(
        "/ssf/poll/{}",
        stream["stream_id"].as_str().unwrap_or_default()
    );
    let body = r#"{"returnImmediately": true}"#.to_owned();
    assert_eq!(
        server.post(&poll, body.clone(), json(&credential)).await,
        200
    );
    let wrong = "receiver-credential-not-to-log";
    assert_eq!(server.post(&poll, body, json(wrong)).await, 401);
    let logs = server.stop();
    assert!(logs.contains("request_id"), "the logs were captured");
    assert_absent(&logs, "logs", "receiver credential", &credential);
    assert_absent(&logs, "logs", "wrong receiver credential", wrong);
}

/// A push stream's authorization header is sent to its receiver and
/// nowhere else: not in the logs at trace level, not in the stream's view.
async fn no_push_authorization_reaches_the_logs(backend: Backend) {
    let pushed = std::sync::Arc::new(tokio::sync::Notify::new());
    let told = pushed.clone();
    let sink = axum::Router::new().route(
        "/events",
        axum::routing::post(move || {
            told.notify_one();
            async { axum::http::StatusCode::ACCEPTED }
        }),
    );
    let origin = format!("http://{}", crate::helpers::serve_on_loopback(sink).await);
    let seeder = TestApp::spawn(backend).await;
    let id = rescind::domain::shared_signals::ReceiverId::parse("rp")
        .unwrap_or_else(|| unreachable!("a valid id"));
    let store: &dyn rescind::storage::SharedSignalsStore = seeder.store.as_ref();
    let (_, credential) = rescind::shared_signals::receivers::add_receiver(
        store,
        id,
        None,
        std::slice::from_ref(&origin),
        crate::helpers::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("add receiver: {e}"));
    let server = ChildServer::start_with(
        &seeder,
        Logs::Captured("trace"),
        &[
            ("RESCIND_SSF__ENABLED", "true"),
            ("RESCIND_SSF__ALGORITHM", "ES256"),
        ],
    )
    .await;
    let authorization = "Bearer push-authorization-not-to-log";
    let headers = header_map(&[
        ("content-type", "application/json"),
        ("authorization", &format!("Bearer {}", credential.expose())),
    ]);
    let created = server
        .http
        .post(format!("{}/ssf/streams", server.base))
        .headers(headers.clone())
        .body(
            serde_json::json!({
                "events_requested": [],
                "delivery": {
                    "method": "urn:ietf:rfc:8935",
                    "endpoint_url": format!("{origin}/events"),
                    "authorization_header": authorization,
                },
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status(), 201);
    let view = created.text().await.unwrap_or_default();
    assert_absent(&view, "stream's view", "push authorization", authorization);
    let stream: serde_json::Value = serde_json::from_str(&view).unwrap_or_default();
    let verify = serde_json::json!({ "stream_id": stream["stream_id"] }).to_string();
    assert_eq!(server.post("/ssf/verify", verify, headers).await, 204);
    tokio::time::timeout(std::time::Duration::from_secs(10), pushed.notified())
        .await
        .unwrap_or_else(|_| panic!("the verification event was never pushed"));
    let logs = server.stop();
    assert!(logs.contains("request_id"), "the logs were captured");
    assert_absent(
        &logs,
        "logs",
        "push authorization",
        "push-authorization-not-to-log",
    );
}

on_both_backends!(
    nothing_secret_reaches_the_logs_at_trace_level,
    nothing_secret_leaks_from_the_admin_api,
    no_receiver_credential_reaches_the_logs,
    no_push_authorization_reaches_the_logs,
);
