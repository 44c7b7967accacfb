//! Serving the listeners: HTTP/1.1 with the connection bound and the
//! header-read timeout, the periodic forgetting of idle limits, and the
//! shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::TokioTimer;

use crate::limits::Limiter;
use crate::transport::{Connections, CountingAcceptor};

/// What both listeners serve connections with.
pub(super) struct Transport {
    pub(super) tls: Option<RustlsConfig>,
    pub(super) connections: Arc<Connections>,
    pub(super) header_timeout: Duration,
}

/// Serves one listener until `handle` shuts it down: HTTP/1.1 only, every
/// connection counted against the bound, with a header-read timeout.
///
/// HTTP/1.1 only, on purpose: a revocation is one small request, so HTTP/2's
/// multiplexing buys nothing, and serving it would bring a second set of
/// limits to get right (streams per connection, its own idle and header
/// timeouts, resets). hyper's automatic protocol detection also waits for a
/// connection's first bytes before any timeout runs, which kept connections
/// that never sent a byte open for ever. TLS offers `http/1.1` alone by ALPN,
/// and a prior-knowledge HTTP/2 preface is an invalid HTTP/1.1 request.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    transport: &Transport,
    handle: Handle<SocketAddr>,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let counting = CountingAcceptor(transport.connections.clone());
    if let Some(tls) = &transport.tls {
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls.clone())
            .handshake_timeout(transport.header_timeout)
            .acceptor(counting);
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(acceptor)
            .handle(handle)
            .http1_only();
        guard_header_reads(server.http_builder(), transport.header_timeout);
        server.serve(service).await
    } else {
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(counting)
            .handle(handle)
            .http1_only();
        guard_header_reads(server.http_builder(), transport.header_timeout);
        server.serve(service).await
    }
}

/// Bounds how long a client may take to send a request's headers
/// (slowloris). hyper starts this timer when it starts waiting for a request
/// (at the connection's start, and after each answer), so it also closes a
/// connection that sends nothing, and an idle kept-alive one.
fn guard_header_reads(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Drops rate-limit state for callers not seen for a window, once a window.
pub(super) async fn forget_idle_limits(limiter: Arc<Limiter>) {
    let mut ticks = tokio::time::interval(limiter.window());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        limiter.forget_idle();
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
