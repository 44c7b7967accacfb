//! `/health/live` and `/health/ready` (docs/behaviour.md, Health).

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDatabase, get_json};
use crate::on_both_backends;

async fn status_of(app: &TestApp, path: &str) -> (u16, Value) {
    let (status, _, body) = get_json(app, path).await;
    (status, body)
}

async fn a_migrated_database_is_ready(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        status_of(&app, "/health/live").await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(
        status_of(&app, "/health/ready").await,
        (200, json!({ "status": "ready" }))
    );
}

async fn pending_migrations_are_not_ready(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    let app = TestApp::spawn_on(db, |s| s.database.migrate_on_start = false).await;
    assert_eq!(status_of(&app, "/health/live").await.0, 200);
    let (status, body) = status_of(&app, "/health/ready").await;
    assert_eq!(status, 503);
    assert_eq!(body["reason"], "migrations_pending");
    assert_eq!(body["expected"], rescind::storage::needed_version());
    app.store
        .migrate(rescind::storage::ContractSteps::HoldBack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status_of(&app, "/health/ready").await.0, 200);
}

async fn a_stopped_server_drains_and_refuses_new_connections(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |s| {
        s.server.shutdown_grace = std::time::Duration::from_secs(2);
    })
    .await;
    assert_eq!(status_of(&app, "/health/live").await.0, 200);
    assert!(
        app.stop(std::time::Duration::from_secs(10)).await,
        "the server stops cleanly within the grace period"
    );
    let after = reqwest::Client::new()
        .get(app.url("/health/live"))
        .send()
        .await;
    assert!(
        after.is_err(),
        "no new connection is accepted after shutdown"
    );
}

on_both_backends!(
    a_migrated_database_is_ready,
    pending_migrations_are_not_ready,
    a_stopped_server_drains_and_refuses_new_connections,
);
