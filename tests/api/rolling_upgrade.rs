//! Two releases on one database, as during a rolling upgrade or a rollback:
//! this binary meets the steps of a newer release's schema.

use serde_json::json;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::command::{failure_line, json_line, rescind};
use crate::helpers::{Backend, TestApp, TestDatabase, assert_revocation_ok, get_json};
use crate::on_both_backends;
use rescind::domain::client::ClientKind;
use rescind::storage::LATEST_MIGRATION;

/// A newer release's expand steps: a column with a default this binary
/// never writes, and (PostgreSQL) an index on a large table built
/// `CONCURRENTLY`, alone in a file outside a transaction.
fn newer_expand_steps(backend: Backend) -> Vec<(String, &'static str)> {
    let (column, index) = match backend {
        Backend::Postgres => (
            "ALTER TABLE clients ADD COLUMN future_flag BOOLEAN NOT NULL DEFAULT FALSE;",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY tokens_future ON tokens (created_at);\n",
        ),
        Backend::Sqlite => (
            "ALTER TABLE clients ADD COLUMN future_flag INTEGER NOT NULL DEFAULT 0;",
            "CREATE INDEX tokens_future ON tokens (created_at);",
        ),
    };
    vec![
        (
            format!("{:04}_add_future_flag.sql", LATEST_MIGRATION + 1),
            column,
        ),
        (
            format!("{:04}_index_tokens_by_creation.sql", LATEST_MIGRATION + 2),
            index,
        ),
    ]
}

async fn this_binary_starts_migrates_and_is_ready_on_a_newer_expanded_schema(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    db.migrate_as_release(LATEST_MIGRATION, &newer_expand_steps(backend))
        .await;
    if backend == Backend::Postgres {
        assert_eq!(
            db.count(
                "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                      WHERE c.relname = 'tokens_future' AND i.indisvalid"
            )
            .await,
            1,
            "the concurrent build ran outside a transaction and finished"
        );
    }

    // `rescind migrate` of this binary: nothing to do, no error.
    let migrated = json_line(&rescind(db.url(), db.data_dir(), &["migrate"], None).await);
    assert_eq!(
        migrated,
        json!({
            "applied": [],
            "held_back": [],
            "schema_version": LATEST_MIGRATION + 2,
            "ready": true,
        })
    );

    // A server of this binary migrates at start (migrate_on_start), is ready,
    // and revokes.
    let app = TestApp::spawn_on(db, |_| {}).await;
    let (status, _, body) = get_json(&app, "/health/ready").await;
    assert_eq!((status, body), (200, json!({ "status": "ready" })));
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 0);

    // So does the binary itself.
    let child = ChildServer::start(&app, Logs::Discarded).await;
    let ready = child
        .http
        .get(format!("{}/health/ready", child.base))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(ready.ok(), Some(200));
    child.stop();
}

async fn a_newer_release_s_contract_step_is_reported_and_never_served(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    let contracted = LATEST_MIGRATION + 1;
    db.migrate_as_release(
        LATEST_MIGRATION,
        &[(
            format!("{contracted:04}_contract_drop_future_table.sql"),
            "CREATE TABLE future_stand_in (id INTEGER);",
        )],
    )
    .await;

    let refused = rescind(db.url(), db.data_dir(), &["migrate"], None).await;
    assert_eq!(refused.status.code(), Some(1));
    let line = failure_line(&refused);
    assert!(
        line.contains(&format!("contract migration {contracted}")),
        "{line}"
    );

    // A server starts (a rollback must not crash-loop) but is never ready.
    let app = TestApp::spawn_on(db, |_| {}).await;
    let (status, _, body) = get_json(&app, "/health/ready").await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({
                "status": "unavailable",
                "reason": "schema_incompatible",
                "applied": contracted,
                "contracted": contracted,
                "supported": LATEST_MIGRATION,
            })
        )
    );
}

async fn migrate_force_applies_every_step(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    let forced = json_line(&rescind(db.url(), db.data_dir(), &["migrate", "--force"], None).await);
    assert_eq!(forced["held_back"], json!([]));
    assert_eq!(forced["schema_version"], json!(LATEST_MIGRATION));
    // Every step file; versions may have gaps (branches number their steps
    // apart), so the count is the files', not the latest version.
    let steps = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .map(Iterator::count)
        .ok();
    assert_eq!(forced["applied"].as_array().map(Vec::len), steps);
}

on_both_backends!(
    this_binary_starts_migrates_and_is_ready_on_a_newer_expanded_schema,
    a_newer_release_s_contract_step_is_reported_and_never_served,
    migrate_force_applies_every_step,
);

/// A SQLite database exactly as an earlier build's `rescind migrate` left it
/// (schema 8, before the comments of steps 1, 6 and 7 were reworded), kept
/// as a file: sqlx refuses a database whose recorded checksums differ from
/// the steps it knows, so this proves the reworded steps still carry the
/// checksum such databases hold.
#[tokio::test]
async fn a_database_migrated_by_an_earlier_build_is_migrated_and_served() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("rescind.db");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sqlite-schema-8.db"
    );
    std::fs::copy(fixture, &path).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let url = format!("sqlite://{}", path.display());

    // A database in use: this release's contract step waits for --force.
    let migrated = json_line(&rescind(&url, dir.path(), &["migrate"], None).await);
    assert_eq!(
        migrated["schema_version"],
        json!(rescind::storage::needed_version())
    );
    assert_eq!(
        migrated["held_back"],
        json!([LATEST_MIGRATION - 1, LATEST_MIGRATION])
    );
    assert_eq!(migrated["ready"], json!(true));

    let created = json_line(
        &rescind(
            &url,
            dir.path(),
            &["client", "create", "--id", "app", "--public"],
            None,
        )
        .await,
    );
    assert_eq!(created["client_id"], json!("app"));
}
