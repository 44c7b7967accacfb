//! No token, secret, `Authorization` header or request URI in any log line,
//! at any level (SPEC §5). The real binary runs at `trace`, so the logs of
//! hyper, sqlx and rustls are checked too.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use rescind::domain::client::ClientKind;

use crate::helpers::{Backend, TestApp, basic_header, encode, free_port, header_map, http_client};
use crate::on_both_backends;

/// `rescind serve` as a child process, logging at `trace` to a pipe. Killed
/// if the test fails half way.
struct LoggingServer {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl LoggingServer {
    /// Starts the binary on `app`'s database and waits until it is live.
    async fn start(app: &TestApp) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_rescind"))
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("RESCIND_CONFIG")
            .env("RESCIND_DATABASE__URL", app.db.url())
            .env("RESCIND_DATA_DIR", app.db.data_dir())
            .env("RESCIND_TLS__MODE", "proxy")
            .env("RESCIND_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RESCIND_LOG__LEVEL", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: http_client(None),
        };
        let started = Instant::now();
        while server
            .http
            .get(format!("{}/health/live", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// POSTs a form body to `path`; returns the status.
    async fn post(&self, path: &str, body: String, headers: HeaderMap) -> u16 {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .headers(headers)
            .body(body)
            .send()
            .await;
        response.map_or_else(|e| panic!("{e}"), |r| r.status().as_u16())
    }

    /// Stops the server with SIGTERM, checks it exited cleanly, returns its logs.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let terminated = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(terminated.is_ok_and(|status| status.success()));
        let mut logs = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr
                .read_to_string(&mut logs)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let status = self.child.wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            status.success(),
            "SIGTERM shuts the server down cleanly: {status}"
        );
        logs
    }
}

impl Drop for LoggingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn nothing_secret_reaches_the_logs_at_trace_level(backend: Backend) {
    // The test app seeds the database; the binary under test serves it.
    let seeder = TestApp::spawn(backend).await;
    let secret = seeder.confidential_client("web").await;
    seeder.create_client("spa", ClientKind::Public).await;
    let revoked = seeder.grant("web").await;
    let foreign = seeder.grant("spa").await;
    let server = LoggingServer::start(&seeder).await;

    let (revoke, none) = ("/oauth2/revoke", HeaderMap::new);
    let basic = basic_header("web", &secret);
    let cases = [
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
                ("client_secret", &secret),
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
    ];
    for (path, body, headers, status) in cases {
        assert_eq!(server.post(path, body, headers).await, status, "{path}");
    }
    assert_eq!(
        seeder.db.live_tokens().await,
        0,
        "the requests did reach the store"
    );
    let logs = server.stop();

    assert!(
        logs.contains("outcome") && logs.contains("request_id"),
        "the logs were captured"
    );
    let basic = basic
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
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
    ] {
        assert!(!logs.contains(value), "the {what} appears in the logs");
    }
}

on_both_backends!(nothing_secret_reaches_the_logs_at_trace_level);
