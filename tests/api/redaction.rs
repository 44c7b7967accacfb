//! No token, secret, `Authorization` header or request URI in any log line,
//! at any level (SPEC §5). The real binary runs at `trace`, so the logs of
//! hyper, sqlx and rustls are checked too.

use reqwest::header::HeaderMap;
use rescind::domain::client::ClientKind;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::{Backend, TestApp, basic_header, encode, header_map};
use crate::on_both_backends;

async fn nothing_secret_reaches_the_logs_at_trace_level(backend: Backend) {
    // The test app seeds the database; the binary under test serves it.
    let seeder = TestApp::spawn(backend).await;
    let secret = seeder.confidential_client("web").await;
    seeder.create_client("spa", ClientKind::Public).await;
    let revoked = seeder.grant("web").await;
    let foreign = seeder.grant("spa").await;
    let server = ChildServer::start(&seeder, Logs::Captured("trace")).await;

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
