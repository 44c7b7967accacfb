//! Process lifecycle (docs/behaviour.md, Transport): SIGTERM stops accepting, drains the requests
//! in flight within `server.shutdown_grace`, closes the pool and exits 0.

use std::time::{Duration, Instant};

use rescind::domain::client::ClientKind;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

async fn sigterm_drains_the_request_in_flight_and_refuses_new_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let server = ChildServer::start(&app, Logs::Captured("info")).await;

    // A request in flight: headers and half its body sent.
    let body = format!("token={}&client_id=spa", grant.access_token);
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(server.address())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /oauth2/revoke HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{first_half}",
        body.len()
    );
    in_flight
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let terminated_at = Instant::now();
    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // No new connection is accepted once draining started.
    let refused = match TcpStream::connect(server.address()).await {
        Err(_) => true,
        Ok(mut late) => {
            let _ = late
                .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
                .await;
            let mut buffer = [0_u8; 64];
            matches!(
                tokio::time::timeout(Duration::from_secs(2), late.read(&mut buffer)).await,
                Ok(Ok(0) | Err(_))
            )
        }
    };
    assert!(refused, "a new connection was served during the drain");

    // The request in flight completes and is answered.
    in_flight
        .write_all(second_half.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        in_flight.read_to_string(&mut answer),
    )
    .await
    .unwrap_or_else(|e| panic!("no answer during the drain: {e}"))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let logs = tokio::task::spawn_blocking(move || server.wait_for_exit())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        terminated_at.elapsed() < Duration::from_secs(10),
        "exits within the grace period"
    );
    for line in ["shutting down: draining in-flight requests", "stopped"] {
        assert!(logs.contains(line), "missing {line:?} in:\n{logs}");
    }
    assert_eq!(app.db.live_tokens().await, 0, "the drained request revoked");
}

on_both_backends!(sigterm_drains_the_request_in_flight_and_refuses_new_ones);
