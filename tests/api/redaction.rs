//! No token, secret, `Authorization` header or request URI in any log line,
//! at any level (SPEC §5). The real binary runs at `trace`, so the logs of
//! hyper, sqlx and rustls are checked too.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rescind::domain::client::ClientKind;

use crate::helpers::{Backend, TestApp, encode, header_map, http_client};
use crate::on_both_backends;

/// Kills the server if the test fails half way.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener
        .local_addr()
        .map_or_else(|e| panic!("{e}"), |a| a.port())
}

async fn nothing_secret_reaches_the_logs_at_trace_level(backend: Backend) {
    // The test app seeds the database; the binary under test serves it.
    let seeder = TestApp::spawn(backend).await;
    let secret = seeder.confidential_client("web").await;
    seeder.create_client("spa", ClientKind::Public).await;
    let revoked = seeder.grant("web").await;
    let foreign = seeder.grant("spa").await;
    let port = free_port();
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_rescind"))
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("RESCIND_CONFIG")
            .env("RESCIND_DATABASE__URL", seeder.db.url())
            .env("RESCIND_DATA_DIR", seeder.db.data_dir())
            .env("RESCIND_TLS__MODE", "proxy")
            .env("RESCIND_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RESCIND_LOG__LEVEL", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = http_client(None);
    let started = Instant::now();
    while client
        .get(format!("{base}/health/live"))
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

    let bearer = "Bearer bearer-value-that-must-not-be-logged";
    let query_token = "query-token-that-must-not-be-logged";
    let post = |body: String, headers: reqwest::header::HeaderMap, path: &str| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .headers(headers)
            .body(body)
            .send()
    };
    let requests = vec![
        post(
            encode(&[("token", &revoked.access_token)]),
            crate::helpers::basic_header("web", &secret),
            "/oauth2/revoke",
        ),
        post(
            encode(&[
                ("token", &foreign.refresh_token),
                ("client_id", "web"),
                ("client_secret", &secret),
            ]),
            header_map(&[]),
            "/oauth2/revoke",
        ),
        post(
            encode(&[
                ("token", &revoked.refresh_token),
                ("client_id", "web"),
                ("client_secret", "wrong-secret-value"),
            ]),
            header_map(&[]),
            "/oauth2/revoke",
        ),
        post(
            encode(&[
                ("token", &revoked.access_token),
                ("token", "duplicate-token-value"),
            ]),
            header_map(&[]),
            "/oauth2/revoke",
        ),
        post(
            "token=x".to_owned(),
            header_map(&[("authorization", bearer)]),
            "/oauth2/revoke",
        ),
        post(
            String::new(),
            header_map(&[]),
            &format!("/oauth2/revoke?token={query_token}"),
        ),
    ];
    for request in requests {
        let status = request
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!([200, 400, 401].contains(&status), "{status}");
    }
    assert_eq!(
        seeder.db.live_tokens().await,
        0,
        "the requests did reach the store"
    );

    let pid = server.0.id().to_string();
    let terminated = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .map(|s| s.success());
    assert_eq!(terminated.ok(), Some(true));
    let mut logs = String::new();
    if let Some(mut stderr) = server.0.stderr.take() {
        stderr
            .read_to_string(&mut logs)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let status = server.0.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.success(),
        "SIGTERM shuts the server down cleanly: {status}"
    );

    assert!(
        logs.contains("outcome") && logs.contains("request_id"),
        "the logs were captured"
    );
    let basic = crate::helpers::basic_header("web", &secret);
    let basic = basic
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let base64_part = basic.trim_start_matches("Basic ");
    for (what, value) in [
        ("client secret", secret.as_str()),
        ("wrong secret", "wrong-secret-value"),
        ("access token", revoked.access_token.as_str()),
        ("refresh token", revoked.refresh_token.as_str()),
        ("foreign token", foreign.refresh_token.as_str()),
        ("duplicate token", "duplicate-token-value"),
        ("Basic credentials", base64_part),
        ("bearer value", "bearer-value-that-must-not-be-logged"),
        ("token in the URI", query_token),
    ] {
        assert!(!logs.contains(value), "the {what} appears in the logs");
    }
}

on_both_backends!(nothing_secret_reaches_the_logs_at_trace_level);
