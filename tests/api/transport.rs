//! Connections below HTTP: those that send nothing are closed, their number
//! is bounded under the open-files limit, HTTP/2 is not served, and a `413`
//! over TLS reaches a client still sending its body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rescind::config::TlsMode;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject as _;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::{Backend, TestApp, http_client};
use crate::on_both_backends;

/// Waits for the server to close `stream`; how long that took, or `None`
/// if it was still open after `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0_u8; 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + within),
            stream.read(&mut buffer),
        )
        .await
        {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// A connection that never sends a byte is closed at `server.header_timeout`,
/// on the plain listener (behind a load balancer) and with TLS alike. (The
/// HTTP/1-or-2 detection used before waited for a first byte with no timer.)
async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout(backend: Backend) {
    for mode in [TlsMode::Proxy, TlsMode::SelfSigned] {
        let app = TestApp::spawn_with(backend, |settings| {
            settings.tls.mode = mode;
            settings.server.header_timeout = Duration::from_secs(1);
        })
        .await;
        let mut silent = TcpStream::connect(app.address)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let closed = closed_by_server(&mut silent, Duration::from_secs(5)).await;
        assert!(
            closed.is_some_and(|after| after >= Duration::from_millis(900)),
            "{mode:?}: closed after {closed:?}"
        );
    }
}

/// The measured outage: idle connections past the open-files limit made
/// `accept` fail, and the server answered no one. Under a limit of 256
/// files, 300 connections that send nothing are opened and held; the
/// server keeps answering `/health/live` meanwhile, says so once in its
/// log, and counts the connections it closed.
async fn idle_connections_past_the_open_files_limit_leave_the_server_reachable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = ChildServer::start_limited(
        &app,
        Logs::Captured("warn"),
        &[("RESCIND_SERVER__HEADER_TIMEOUT", "60s")],
        &["-n 256"],
    )
    .await;
    let address = server.address();
    let mut idle = Vec::new();
    let started = Instant::now();
    for _ in 0..300 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "bounded in time"
        );
        match TcpStream::connect(address).await {
            Ok(stream) => idle.push(stream),
            Err(error) => panic!("connect: {error}"),
        }
    }
    for attempt in 0..5 {
        let asked = Instant::now();
        let live = tokio::time::timeout(
            Duration::from_secs(5),
            http_client(None)
                .get(format!("{}/health/live", server.base))
                .send(),
        )
        .await;
        let status = match live {
            Ok(Ok(response)) => response.status().as_u16(),
            Ok(Err(error)) => panic!("attempt {attempt}: {error}"),
            Err(elapsed) => panic!("attempt {attempt}: no answer within 5 s ({elapsed})"),
        };
        assert_eq!(status, 200, "attempt {attempt}");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "attempt {attempt}"
        );
    }
    let logs = server.stop();
    drop(idle);
    assert_eq!(
        logs.matches("at server.max_connections").count(),
        1,
        "logged once:\n{logs}"
    );
}

/// A soft open-files limit below the hard one is raised at start.
async fn the_soft_open_files_limit_is_raised_to_the_hard_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server =
        ChildServer::start_limited(&app, Logs::Discarded, &[], &["-S -n 256", "-H -n 4096"]).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid()))
        .unwrap_or_else(|e| panic!("{e}"));
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{limits}"));
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
    server.stop();
}

/// An HTTP/2 connection with prior knowledge: the handshake, then one
/// request. `Ok(status)` if HTTP/2 was served.
async fn h2_request<T>(io: T, authority: &str) -> Result<u16, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let exchange = async {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let request = hyper::Request::get(format!("https://{authority}/health/live"))
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        sender
            .send_request(request)
            .await
            .map(|response| response.status().as_u16())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

/// A TLS client trusting the server's self-signed certificate, offering
/// `alpn` (none if empty).
fn tls_connector(app: &TestApp, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(app.settings.data_dir.join("tls/self-signed.crt"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(certificate.unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("{e}"))
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// HTTP/1.1 only (see `serve` in src/server/listen.rs for why), checked with a
/// real HTTP/2 client: prior knowledge on the plain listener and over TLS
/// gets no HTTP/2 answer, and a TLS client offering only `h2` is refused.
async fn http2_is_not_served(backend: Backend) {
    let plain = TestApp::spawn(backend).await;
    let served = h2_request(connect(plain.address).await, &plain.address.to_string()).await;
    assert!(
        served.is_err(),
        "h2 with prior knowledge, plain: {served:?}"
    );

    let tls = TestApp::spawn_with(backend, |s| s.tls.mode = TlsMode::SelfSigned).await;
    let name = ServerName::try_from("localhost").unwrap_or_else(|e| panic!("{e}"));
    let only_h2 = tls_connector(&tls, &[b"h2"])
        .connect(name.clone(), connect(tls.address).await)
        .await;
    match only_h2 {
        Err(_) => {}
        Ok(stream) => assert_ne!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "h2 negotiated"
        ),
    }
    let without_alpn = tls_connector(&tls, &[])
        .connect(name, connect(tls.address).await)
        .await
        .unwrap_or_else(|e| panic!("TLS without ALPN: {e}"));
    let served = h2_request(without_alpn, &format!("localhost:{}", tls.address.port())).await;
    assert!(served.is_err(), "h2 with prior knowledge, TLS: {served:?}");

    // HTTP/1.1 over the same TLS listener works.
    let http1 = tls_connector(&tls, &[b"h2", b"http/1.1"])
        .connect(
            ServerName::try_from("localhost").unwrap_or_else(|e| panic!("{e}")),
            connect(tls.address).await,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(http1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

/// A client sending an over-limit body over TLS reads the `413` and its
/// OAuth JSON body, every time: the server does not close the connection
/// under the client while it is still writing.
async fn an_over_limit_body_over_tls_gets_a_readable_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tls.mode = TlsMode::SelfSigned).await;
    let pem = std::fs::read(app.settings.data_dir.join("tls/self-signed.crt"))
        .unwrap_or_else(|e| panic!("{e}"));
    let root = reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
    let client = http_client(Some(root));
    let url = format!("https://localhost:{}/oauth2/revoke", app.address.port());
    let started = Instant::now();
    for round in 0..4 {
        for size in [
            64 << 10,
            100_000,
            128 << 10,
            256 << 10,
            500_000,
            512 << 10,
            768 << 10,
            1 << 20,
        ] {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "bounded in time"
            );
            let body = format!("token={}", "a".repeat(size - 6));
            let response = client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("round {round}, {size} bytes: no answer: {e:?}"));
            assert_eq!(response.status().as_u16(), 413, "{size} bytes");
            let error: serde_json::Value = response
                .json()
                .await
                .unwrap_or_else(|e| panic!("round {round}, {size} bytes: {e:?}"));
            assert_eq!(error["error"], "invalid_request", "{error}");
        }
    }
}

on_both_backends!(
    a_connection_that_sends_nothing_is_closed_at_the_header_timeout,
    idle_connections_past_the_open_files_limit_leave_the_server_reachable,
    the_soft_open_files_limit_is_raised_to_the_hard_one,
    http2_is_not_served,
    an_over_limit_body_over_tls_gets_a_readable_413,
);
