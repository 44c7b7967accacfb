//! HTTPS with the self-signed development certificate (SPEC §5).

use rescind::config::TlsMode;
use rescind::domain::client::ClientKind;

use crate::helpers::{Backend, TestApp, encode, http_client};
use crate::on_both_backends;

async fn the_self_signed_mode_serves_https_for_localhost(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tls.mode = TlsMode::SelfSigned).await;
    assert!(app.base_url.starts_with("https://"));
    let pem = std::fs::read(app.settings.data_dir.join("tls/self-signed.crt"))
        .unwrap_or_else(|e| panic!("{e}"));
    let root = reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
    let client = http_client(Some(root));
    let port = app.address.port();

    // Verified against the generated certificate, by name and by address.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}/.well-known/oauth-authorization-server");
        let response = client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(response.status().as_u16(), 200, "{host}");
    }
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let response = client
        .post(format!("https://localhost:{port}/oauth2/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("token", &grant.access_token),
            ("client_id", "spa"),
        ]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.db.live_tokens().await, 0);

    // Plain HTTP to the TLS port gets no answer.
    let plain = http_client(None)
        .get(format!("http://127.0.0.1:{port}/health/live"))
        .send()
        .await;
    assert!(plain.map_or(true, |r| r.status().as_u16() != 200));
}

on_both_backends!(the_self_signed_mode_serves_https_for_localhost);
