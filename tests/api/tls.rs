//! HTTPS with the self-signed development certificate (docs/behaviour.md, Transport).

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

/// A TLS ClientHello built by hand, since no modern client library will offer
/// TLS 1.0 or only weak suites. `version` is the legacy `client_version`
/// (no `supported_versions` extension, so it is the highest offered).
fn client_hello(version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(body);
        out
    }
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1.
    extensions.extend(extension(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]));
    // ec_point_formats: uncompressed.
    extensions.extend(extension(0x000b, &[1, 0]));
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
    extensions.extend(extension(
        0x000d,
        &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01],
    ));
    // server_name: localhost.
    let name = b"localhost";
    let mut sni = vec![
        0,
        u8::try_from(name.len() + 3).unwrap_or(0),
        0,
        0,
        u8::try_from(name.len()).unwrap_or(0),
    ];
    sni.extend_from_slice(name);
    extensions.extend(extension(0x0000, &sni));

    let mut hello = version.to_vec();
    hello.extend_from_slice(&[7; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap_or(0).to_be_bytes());
    for suite in suites {
        hello.extend_from_slice(&suite.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]); // compression: null only
    hello.extend_from_slice(&u16::try_from(extensions.len()).unwrap_or(0).to_be_bytes());
    hello.extend(extensions);

    let length = u32::try_from(hello.len()).unwrap_or(0).to_be_bytes();
    let mut handshake = vec![1, length[1], length[2], length[3]]; // ClientHello
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 framing
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap_or(0).to_be_bytes());
    record.extend(handshake);
    record
}

/// The first record the server sends back: (content type, first body byte).
/// A ServerHello is (0x16, 0x02); an alert is (0x15, level).
async fn first_record(address: std::net::SocketAddr, hello: &[u8]) -> Option<(u8, u8)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream.write_all(hello).await.ok()?;
    let mut head = [0_u8; 6];
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_exact(&mut head),
    )
    .await
    .ok()?
    .ok()?;
    Some((head[0], head[5]))
}

const ECDHE_ECDSA_AES128_GCM: u16 = 0xc02b;
const ECDHE_RSA_AES128_GCM: u16 = 0xc02f;

/// TLS 1.0 and 1.1 are refused, and so is a hello offering only weak suites
/// (RC4, 3DES, CBC). The same hello with TLS 1.2 and a modern suite gets a
/// ServerHello: the control that shows the hand-built hellos are well formed.
async fn old_protocols_and_weak_suites_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tls.mode = TlsMode::SelfSigned).await;
    let modern = [ECDHE_ECDSA_AES128_GCM, ECDHE_RSA_AES128_GCM];
    let server_hello = Some((0x16, 0x02));
    let fatal_alert = Some((0x15, 0x02));

    let control = first_record(app.address, &client_hello([3, 3], &modern)).await;
    assert_eq!(
        control, server_hello,
        "TLS 1.2 with a modern suite is served"
    );

    for (name, version) in [("TLS 1.0", [3, 1]), ("TLS 1.1", [3, 2])] {
        let answer = first_record(app.address, &client_hello(version, &modern)).await;
        assert_eq!(answer, fatal_alert, "{name}");
    }

    // RC4-SHA, 3DES-CBC-SHA, AES128-CBC-SHA, ECDHE-RSA-AES128-CBC-SHA.
    let weak = [0x0005, 0x000a, 0x002f, 0xc013];
    let answer = first_record(app.address, &client_hello([3, 3], &weak)).await;
    assert_eq!(answer, fatal_alert, "weak suites only");
}

/// A fresh self-signed pair for `localhost`, as PEM (certificate, key).
fn certificate_pair() -> (String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    (generated.cert.pem(), generated.signing_key.serialize_pem())
}

/// Whether a client trusting only `cert_pem` completes a request now (a new
/// connection each time).
async fn served_with(app: &TestApp, cert_pem: &str) -> bool {
    let root =
        reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    http_client(Some(root))
        .get(format!(
            "https://localhost:{}/health/live",
            app.address.port()
        ))
        .send()
        .await
        .is_ok_and(|response| response.status().as_u16() == 200)
}

async fn spawn_with_files(
    backend: Backend,
    dir: &std::path::Path,
    interval: std::time::Duration,
) -> TestApp {
    let (cert, key) = (dir.join("chain.pem"), dir.join("key.pem"));
    TestApp::spawn_with(backend, |s| {
        s.tls.mode = TlsMode::Files;
        s.tls.cert = Some(cert);
        s.tls.key = Some(key);
        s.tls.reload_interval = interval;
    })
    .await
}

fn write_pair(dir: &std::path::Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("key.pem"), key).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("chain.pem"), cert).unwrap_or_else(|e| panic!("{e}"));
}

async fn wait_until_served_with(app: &TestApp, cert_pem: &str) {
    let started = std::time::Instant::now();
    while !served_with(app, cert_pem).await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the renewed certificate was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn a_renewed_certificate_is_served_without_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (first, second) = (certificate_pair(), certificate_pair());
    write_pair(dir.path(), &first);
    let app = spawn_with_files(backend, dir.path(), std::time::Duration::from_millis(200)).await;
    assert!(served_with(&app, &first.0).await);
    assert!(
        !served_with(&app, &second.0).await,
        "a client trusting only the next one"
    );

    write_pair(dir.path(), &second);
    wait_until_served_with(&app, &second.0).await;
    assert!(!served_with(&app, &first.0).await);

    // A broken renewal is skipped: the current certificate stays.
    std::fs::write(dir.path().join("chain.pem"), "not a certificate")
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(served_with(&app, &second.0).await);
}

async fn sighup_reloads_the_certificate_at_once(backend: Backend) {
    use tokio::signal::unix::{SignalKind, signal};
    // Our own handler first: once one is installed, SIGHUP no longer ends
    // the process (the default action), whatever else is running.
    let _ours = signal(SignalKind::hangup()).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (first, second) = (certificate_pair(), certificate_pair());
    write_pair(dir.path(), &first);
    // No polling: only the signal can reload.
    let app = spawn_with_files(backend, dir.path(), std::time::Duration::ZERO).await;
    assert!(served_with(&app, &first.0).await);
    write_pair(dir.path(), &second);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        served_with(&app, &first.0).await,
        "nothing reloads without the signal"
    );
    let pid = std::process::id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .is_ok_and(|status| status.success());
    assert!(sent);
    wait_until_served_with(&app, &second.0).await;
}

on_both_backends!(
    the_self_signed_mode_serves_https_for_localhost,
    old_protocols_and_weak_suites_are_refused,
    a_renewed_certificate_is_served_without_a_restart,
    sighup_reloads_the_certificate_at_once,
);
