//! `rescind healthcheck`, the container health check: the binary asks the
//! configured server's `/health/ready`, over its own TLS or plain HTTP.

use rescind::config::TlsMode;
use serde_json::json;

use crate::helpers::command::{failure_line, json_line, rescind_with};
use crate::helpers::{Backend, TestApp, TestDatabase, free_port};
use crate::on_both_backends;

/// `rescind healthcheck` configured as `app`'s server, on `port`.
async fn healthcheck(app: &TestApp, tls: &str, port: u16) -> std::process::Output {
    let listen = format!("0.0.0.0:{port}");
    rescind_with(
        app.db.url(),
        app.db.data_dir(),
        &["healthcheck"],
        None,
        &[
            ("RESCIND_TLS__MODE", tls),
            ("RESCIND_SERVER__LISTEN", &listen),
        ],
    )
    .await
}

async fn a_ready_server_passes_over_plain_http_and_over_its_self_signed_tls(backend: Backend) {
    let plain = TestApp::spawn(backend).await;
    let passed = healthcheck(&plain, "proxy", plain.address.port()).await;
    assert_eq!(json_line(&passed), json!({ "status": "ready" }));

    let tls = TestApp::spawn_with(backend, |s| s.tls.mode = TlsMode::SelfSigned).await;
    let passed = healthcheck(&tls, "self-signed", tls.address.port()).await;
    assert_eq!(json_line(&passed), json!({ "status": "ready" }));
    // The same probe in plain HTTP against the TLS listener fails.
    let wrong = healthcheck(&tls, "proxy", tls.address.port()).await;
    assert_eq!(wrong.status.code(), Some(1));
    failure_line(&wrong);
}

async fn an_unready_or_absent_server_fails_with_one_line(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    let unready = TestApp::spawn_on(db, |s| s.database.migrate_on_start = false).await;
    let failed = healthcheck(&unready, "proxy", unready.address.port()).await;
    assert_eq!(failed.status.code(), Some(1));
    let line = failure_line(&failed);
    assert!(
        line.contains("503") && line.contains("migrations_pending"),
        "{line}"
    );

    let absent = healthcheck(&unready, "proxy", free_port()).await;
    assert_eq!(absent.status.code(), Some(1));
    assert!(failure_line(&absent).contains("cannot connect"));
}

on_both_backends!(
    a_ready_server_passes_over_plain_http_and_over_its_self_signed_tls,
    an_unready_or_absent_server_fails_with_one_line,
);
