//! Upgrading a database that an older release filled: the migrations of
//! this release keep every row, and the old data works with the new code.

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::helpers::command::{json_line, rescind, rescind_with};
use crate::helpers::{
    Backend, TestApp, TestDatabase, assert_revocation_ok, basic_header, with_admin,
};
use crate::introspection::{answer, introspect};
use crate::on_both_backends;
use rescind::domain::client::ClientKind;

/// The schema version the previous release left.
const PREVIOUS_RELEASE: i64 = 3;

/// The last schema version before the audit table's presenter check took
/// `operator` (migration 9 rebuilds the table on SQLite).
const BEFORE_OPERATOR_PRESENTER: i64 = 8;

/// Every revocation record, each as one text holding all its columns.
async fn revocation_rows(db: &TestDatabase, backend: Backend) -> Vec<String> {
    db.texts(match backend {
        Backend::Postgres => "SELECT row_to_json(r)::text FROM revocations r ORDER BY id",
        Backend::Sqlite => {
            "SELECT json_array(id, hex(grant_id), hex(presented_token_hash), presented_kind, \
             presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at, \
             source_url) FROM revocations ORDER BY id"
        }
    })
    .await
}

/// The audit table's shape: columns, constraints (foreign key and checks),
/// indexes and triggers, whitespace removed, so that a rebuilt table compares
/// equal to the original.
async fn revocations_schema(db: &TestDatabase, backend: Backend) -> Vec<String> {
    let queries: &[&str] = match backend {
        Backend::Postgres => &[
            "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' \
             || COALESCE(column_default, '') FROM information_schema.columns \
             WHERE table_name = 'revocations' ORDER BY ordinal_position",
            "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'revocations'::regclass ORDER BY conname",
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'revocations' ORDER BY indexname",
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'revocations'::regclass ORDER BY tgname",
        ],
        Backend::Sqlite => &[
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'revocations'",
            "SELECT \"table\" || ' ' || \"from\" || ' ' || \"to\" || ' ' || on_delete \
             FROM pragma_foreign_key_list('revocations')",
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master \
             WHERE tbl_name = 'revocations' AND type <> 'table' ORDER BY name",
        ],
    };
    let mut shape = Vec::new();
    for query in queries {
        shape.extend(
            db.texts(query)
                .await
                .into_iter()
                .map(|line| line.split_whitespace().collect::<String>()),
        );
    }
    shape
}

/// Migrations 9's and 10's only change to the audit table: `operator` and
/// `backchannel_logout` among the presenter kinds (and, on PostgreSQL, the
/// check added without a validating scan).
fn without_new_presenters(shape: &[String]) -> Vec<String> {
    shape
        .iter()
        .map(|line| {
            let mut line = line.replace("NOTVALID", "");
            for kind in ["operator", "backchannel_logout"] {
                line = line
                    .replace(&format!(",'{kind}'::text"), "")
                    .replace(&format!(",'{kind}'"), "");
            }
            line
        })
        .collect()
}

/// The primary key and the indexes in a PostgreSQL `shape`.
fn keys_and_indexes(shape: &[String]) -> Vec<&str> {
    shape
        .iter()
        .map(String::as_str)
        .filter(|line| line.contains("PRIMARYKEY") || line.contains("INDEX"))
        .collect()
}

/// `shape` without what partitioning the audit table by month changed on
/// PostgreSQL (migration 18): its primary key and indexes (checked on their
/// own) and the generated names of its foreign key's triggers (a new table).
fn apart_from_partitioning(backend: Backend, shape: &[String]) -> Vec<String> {
    if backend == Backend::Sqlite {
        return shape.to_vec();
    }
    let keys = keys_and_indexes(shape);
    shape
        .iter()
        .filter(|line| !keys.contains(&line.as_str()))
        .map(|line| {
            if line.starts_with("RI_ConstraintTrigger") {
                "RI_ConstraintTrigger".to_owned()
            } else {
                line.clone()
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// A blob literal in each dialect.
fn blob(backend: Backend, bytes: &[u8]) -> String {
    match backend {
        Backend::Postgres => format!("'\\x{}'::bytea", hex(bytes)),
        Backend::Sqlite => format!("x'{}'", hex(bytes)),
    }
}

/// The time every row written raw carries.
const THEN: &str = "'2026-11-20 10:00:00+00:00'";

/// A grant id whose 16 bytes are all `byte`, as a literal of each dialect.
fn grant_id(backend: Backend, byte: u8) -> String {
    match backend {
        Backend::Postgres => format!("'{}'", uuid::Uuid::from_bytes([byte; 16])),
        Backend::Sqlite => blob(backend, &[byte; 16]),
    }
}

/// Schema 3's rows: a public client, a live grant and a revoked one with its
/// record. Answers the revoked token's hash.
async fn write_schema_3_rows(db: &TestDatabase, backend: Backend) -> Vec<u8> {
    let (live_grant, old_grant) = (grant_id(backend, 0x11), grant_id(backend, 0x22));
    let live_token = Sha256::digest(b"old-release-live-token");
    let revoked_token = Sha256::digest(b"old-release-revoked-token");
    for sql in [
        format!(
            "INSERT INTO clients (id, kind, name, allowed_origins, disabled, created_at, updated_at) \
             VALUES ('spa', 'public', 'Old app', '[]', FALSE, {THEN}, {THEN})"
        ),
        format!(
            "INSERT INTO grants (id, client_id, subject, created_at) VALUES \
             ({live_grant}, 'spa', 'alice', {THEN})"
        ),
        format!(
            "INSERT INTO grants (id, client_id, subject, created_at, revoked_at, revocation_reason) \
             VALUES ({old_grant}, 'spa', 'bob', {THEN}, {THEN}, 'anonymous_report')"
        ),
        format!(
            "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) VALUES \
             ({}, {live_grant}, 'access', '2099-01-01 00:00:00+00:00', {THEN}), \
             ({}, {old_grant}, 'refresh', '2099-01-01 00:00:00+00:00', {THEN})",
            blob(backend, &live_token),
            blob(backend, &revoked_token),
        ),
        format!("UPDATE tokens SET revoked_at = {THEN} WHERE grant_id = {old_grant}"),
        format!(
            "INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, \
             presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at) \
             VALUES ({old_grant}, {}, 'refresh', 'anonymous', NULL, FALSE, \
             'anonymous_report', 'old-request', {THEN})",
            blob(backend, &revoked_token),
        ),
    ] {
        db.execute(&sql).await;
    }
    revoked_token.to_vec()
}

/// Rows of the columns later releases added, on the last schema before the
/// audit table is rebuilt: an operator's bulk revocation (no presented
/// token), a secret scanner's report with its URL, and a live grant.
async fn write_schema_8_rows(db: &TestDatabase, backend: Backend) {
    let (bulk_grant, scanned_grant, later_grant) = (
        grant_id(backend, 0x33),
        grant_id(backend, 0x44),
        grant_id(backend, 0x55),
    );
    let scanned_token = Sha256::digest(b"release-8-scanned-token");
    let later_token = Sha256::digest(b"release-8-live-token");
    for sql in [
        format!(
            "INSERT INTO grants (id, client_id, subject, created_at, revoked_at, revocation_reason) \
             VALUES ({bulk_grant}, 'spa', 'carol', {THEN}, {THEN}, 'admin_bulk'), \
             ({scanned_grant}, 'spa', 'dave', {THEN}, {THEN}, 'secret_scanning')"
        ),
        format!(
            "INSERT INTO grants (id, client_id, subject, created_at) VALUES \
             ({later_grant}, 'spa', 'erin', {THEN})"
        ),
        format!(
            "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at, revoked_at) \
             VALUES ({}, {scanned_grant}, 'access', '2099-01-01 00:00:00+00:00', {THEN}, {THEN}), \
             ({}, {later_grant}, 'access', '2099-01-01 00:00:00+00:00', {THEN}, NULL)",
            blob(backend, &scanned_token),
            blob(backend, &later_token),
        ),
        format!(
            "INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, \
             presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at, \
             source_url) VALUES \
             ({bulk_grant}, NULL, NULL, 'admin', NULL, FALSE, 'admin_bulk', 'bulk-request', \
              {THEN}, NULL), \
             ({scanned_grant}, {}, 'access', 'anonymous', NULL, FALSE, 'secret_scanning', \
              'scan-request', {THEN}, 'https://github.com/o/r/blob/main/leak.txt')",
            blob(backend, &scanned_token),
        ),
    ] {
        db.execute(&sql).await;
    }
}

async fn data_written_by_the_previous_release_survives_the_upgrade(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    db.migrate_up_to(PREVIOUS_RELEASE).await;
    let revoked_token = write_schema_3_rows(&db, backend).await;
    db.migrate_up_to(BEFORE_OPERATOR_PRESENTER).await;
    write_schema_8_rows(&db, backend).await;
    let rows_before = revocation_rows(&db, backend).await;
    let shape_before = revocations_schema(&db, backend).await;

    // This release starts on it and migrates (4: operations, 5: trigger, …,
    // 9: the operator presenter, 10: sessions and devices).
    let app = TestApp::spawn_on(db, with_admin).await;
    assert_eq!(
        revocation_rows(&app.db, backend).await,
        rows_before,
        "every record kept, every column and id as it was"
    );
    let shape_after = revocations_schema(&app.db, backend).await;
    assert_ne!(shape_after, shape_before, "the presenter check changed");
    assert_eq!(
        apart_from_partitioning(backend, &without_new_presenters(&shape_after)),
        apart_from_partitioning(backend, &shape_before),
        "columns, foreign key, checks, indexes and triggers kept"
    );
    if backend == Backend::Postgres {
        assert_eq!(
            keys_and_indexes(&shape_after),
            [
                "revocations_pkeyPRIMARYKEY(id,revoked_at)",
                "CREATEINDEXrevocations_grantONONLYpublic.revocationsUSINGbtree(grant_id)",
                "CREATEUNIQUEINDEXrevocations_pkeyONONLYpublic.revocationsUSINGbtree(id,revoked_at)",
            ],
            "partitioned by month (migration 18): the key holds the month, records found by grant"
        );
    }
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 3, "the old revocation records are kept");
    assert_eq!(
        (
            records[0].presenter_kind.as_str(),
            records[0].request_id.as_str()
        ),
        ("anonymous", "old-request")
    );
    assert_eq!(
        records[0].presented_token_hash.as_deref(),
        Some(&revoked_token[..])
    );
    let (status, listed) = app
        .admin_json(app.admin(reqwest::Method::GET, "/admin/audit/revocations?subject=bob"))
        .await;
    assert_eq!(
        (status, listed["items"][0]["request_id"].as_str()),
        (200, Some("old-request"))
    );
    let (status, client) = app
        .admin_json(app.admin(reqwest::Method::GET, "/admin/clients/spa"))
        .await;
    assert_eq!((status, client["name"].as_str()), (200, Some("Old app")));

    let (status, scanned) = app
        .admin_json(app.admin(
            reqwest::Method::GET,
            "/admin/audit/revocations?subject=dave",
        ))
        .await;
    assert_eq!(
        (status, scanned["items"][0]["source_url"].as_str()),
        (200, Some("https://github.com/o/r/blob/main/leak.txt"))
    );

    // The old live tokens revoke their grants through the new code, one
    // with the presenter kind the migration added.
    assert_revocation_ok(app.revoke(&[("token", "old-release-live-token")]).await).await;
    let operator = rescind(
        app.db.url(),
        app.db.data_dir(),
        &["token", "revoke"],
        Some("release-8-live-token\n"),
    )
    .await;
    assert_eq!(
        json_line(&operator),
        json!({ "outcome": "revoked", "grant_id": "55555555-5555-5555-5555-555555555555" })
    );
    assert_eq!(app.db.live_tokens().await, 0);
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 5);
    assert_eq!(
        (
            records[4].presenter_kind.as_str(),
            records[4].reason.as_str()
        ),
        ("operator", "operator_request")
    );
    // And the old client can still be given more.
    let grant = app.grant("spa").await;
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
}

/// The schema just before this release's contract steps (migrations 19 and 20).
const BEFORE_TOKEN_STATE_FROM_GRANT: i64 = 18;

/// What `rescind token inspect` says of `token`: active, and when revoked.
async fn inspected(app: &TestApp, token: &str) -> (bool, bool) {
    let report = json_line(
        &rescind(
            app.db.url(),
            app.db.data_dir(),
            &["token", "inspect"],
            Some(&format!("{token}\n")),
        )
        .await,
    );
    (
        report["active"] == json!(true),
        report["revoked_at"].is_string(),
    )
}

/// `WHERE` the tokens of `grant`, in `backend`'s dialect.
fn of_grant(backend: Backend, grant: &rescind::provisioning::MintedGrant) -> String {
    let id = grant.grant_id.as_uuid();
    let literal = match backend {
        Backend::Postgres => format!("'{id}'"),
        Backend::Sqlite => blob(backend, id.as_bytes()),
    };
    format!("WHERE grant_id = {literal}")
}

/// Whether `tokens.revoked_at` and PostgreSQL's token trigger are there.
async fn token_state_schema(db: &TestDatabase, backend: Backend) -> (i64, i64) {
    match backend {
        Backend::Postgres => (
            db.count(
                "SELECT count(*) FROM information_schema.columns \
                 WHERE table_name = 'tokens' AND column_name = 'revoked_at'",
            )
            .await,
            db.count("SELECT count(*) FROM pg_trigger WHERE tgname = 'grants_revoke_tokens'")
                .await,
        ),
        Backend::Sqlite => (
            db.count("SELECT count(*) FROM pragma_table_info('tokens') WHERE name = 'revoked_at'")
                .await,
            0,
        ),
    }
}

/// A token's state is its grant's. This release serves a database the
/// previous release left (the column `tokens.revoked_at` and, on
/// PostgreSQL, the trigger that fills it still there: the contract step
/// waits for `--force`), and the same database once the step dropped them:
/// tokens of a grant it revoked are dead either way, in introspection and
/// in `rescind token inspect`.
async fn tokens_die_with_their_grant_before_and_after_the_contract_step(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    db.migrate_up_to(BEFORE_TOKEN_STATE_FROM_GRANT).await;
    let app = TestApp::spawn_on(db, with_admin).await;
    let expected_before = match backend {
        Backend::Postgres => (1, 1),
        Backend::Sqlite => (1, 0),
    };
    assert_eq!(
        token_state_schema(&app.db, backend).await,
        expected_before,
        "the contract steps are held back on a database in use"
    );
    app.create_client("spa", ClientKind::Public).await;
    let secret = app.resource_server("resource-server").await;
    let basic = basic_header("resource-server", &secret);
    let active = |token: String| {
        let basic = basic.clone();
        let app = &app;
        async move {
            answer(introspect(app, &[("token", &token)], basic).await).await["active"]
                == json!(true)
        }
    };

    let before = app.grant("spa").await;
    assert!(active(before.refresh_token.clone()).await);
    assert_revocation_ok(
        app.revoke(&[("token", &before.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert!(!active(before.refresh_token.clone()).await);
    assert_eq!(inspected(&app, &before.refresh_token).await, (false, true));
    if backend == Backend::Postgres {
        assert_eq!(
            app.db
                .count(&format!(
                    "SELECT count(*) FROM tokens {} AND revoked_at IS NOT NULL",
                    of_grant(backend, &before)
                ))
                .await,
            2,
            "until the step, the trigger copies the time for the previous release"
        );
    }
    // The column says the opposite of the grants: this release reads the
    // grants.
    let live = app.grant("spa").await;
    for (grant, time) in [(&before, "NULL"), (&live, THEN)] {
        let grant = of_grant(backend, grant);
        let changed = app
            .db
            .execute(&format!("UPDATE tokens SET revoked_at = {time} {grant}"))
            .await;
        assert_eq!(changed, 2, "{grant}: its access and refresh token");
    }
    assert_eq!(inspected(&app, &before.access_token).await, (false, true));
    assert_eq!(inspected(&app, &live.access_token).await, (true, false));
    assert!(active(live.refresh_token.clone()).await);

    let forced = json_line(
        &rescind(
            app.db.url(),
            app.db.data_dir(),
            &["migrate", "--force"],
            None,
        )
        .await,
    );
    assert_eq!(
        forced["applied"],
        json!([
            BEFORE_TOKEN_STATE_FROM_GRANT + 1,
            BEFORE_TOKEN_STATE_FROM_GRANT + 2
        ])
    );
    assert_eq!(token_state_schema(&app.db, backend).await, (0, 0));

    // The grant revoked before the step stays revoked, with its time.
    assert_eq!(inspected(&app, &before.access_token).await, (false, true));
    let after = app.grant("spa").await;
    assert!(active(after.access_token.clone()).await);
    assert_eq!(inspected(&app, &after.access_token).await, (true, false));
    assert_revocation_ok(
        app.revoke(&[("token", &after.refresh_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert_eq!(inspected(&app, &after.access_token).await, (false, true));
    assert_eq!(
        app.db.live_tokens().await,
        2,
        "only the grant left live keeps its two tokens"
    );
}

on_both_backends!(
    data_written_by_the_previous_release_survives_the_upgrade,
    tokens_die_with_their_grant_before_and_after_the_contract_step,
);

/// Migrations 9 and 10 need a moment of ACCESS EXCLUSIVE on a table every
/// revocation writes, and while one waits for that lock every later
/// revocation queues behind it. A transaction holding the table (here a
/// long read) makes the step give up after its lock timeout (half a
/// second; 1.5 s for migration 18)
/// instead of waiting up to the statement timeout; once the reader is
/// gone, the step runs.
async fn assert_postgres_step_gives_up_quickly_behind_a_reader_of(step: i64, table: &str) {
    use sqlx::Connection as _;
    let db = TestDatabase::create_empty(Backend::Postgres).await;
    db.migrate_up_to(step - 1).await;
    let mut reader = db.postgres_connection().await;
    let mut open = reader.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(&format!("SELECT count(*) FROM {table}"))
        .execute(&mut *open)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let started = std::time::Instant::now();
    let refused = rescind(db.url(), db.data_dir(), &["migrate"], None).await;
    let waited = started.elapsed();
    assert!(!refused.status.success(), "migrated past a held lock");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("lock timeout"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        waited < std::time::Duration::from_secs(3),
        "waited {waited:?} for the lock"
    );

    open.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    let migrated = json_line(&rescind(db.url(), db.data_dir(), &["migrate"], None).await);
    assert_eq!(migrated["applied"][0], json!(step));
}

#[tokio::test]
async fn postgres_migration_9_gives_up_quickly_behind_a_long_transaction() {
    assert_postgres_step_gives_up_quickly_behind_a_reader_of(
        BEFORE_OPERATOR_PRESENTER + 1,
        "revocations",
    )
    .await;
}

#[tokio::test]
async fn postgres_migration_10_gives_up_quickly_behind_a_long_transaction() {
    assert_postgres_step_gives_up_quickly_behind_a_reader_of(10, "revocation_events").await;
}

#[tokio::test]
async fn postgres_migration_18_gives_up_quickly_behind_a_long_transaction() {
    assert_postgres_step_gives_up_quickly_behind_a_reader_of(18, "revocations").await;
}

/// The previous release's outbox: three events, the last one delivered to
/// a webhook endpoint.
async fn write_schema_13_events(db: &TestDatabase) {
    db.execute(&format!(
        "INSERT INTO revocation_events (grant_id, client_id, subject, token_kinds, \
         presenter_kind, reason, revoked_at, session_id) VALUES \
         ('22222222-2222-2222-2222-222222222222', 'spa', 'bob', 'refresh', 'anonymous', \
          'anonymous_report', {THEN}, NULL), \
         ('33333333-3333-3333-3333-333333333333', 'spa', 'carol', 'access,refresh', 'admin', \
          'admin_bulk', {THEN}, 'sid-1'), \
         ('44444444-4444-4444-4444-444444444444', 'spa', 'dave', 'access', 'anonymous', \
          'secret_scanning', {THEN}, NULL)"
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO webhook_deliveries (endpoint, event_id, state, next_attempt_at, created_at, \
         updated_at) SELECT 'https://receiver.example', max(id), 'delivered', {THEN}, {THEN}, \
         {THEN} FROM revocation_events"
    ))
    .await;
}

/// Every row of `table`, each as JSON, in id order.
async fn rows_of(db: &TestDatabase, table: &str) -> Vec<String> {
    db.texts(&format!(
        "SELECT row_to_json(r)::text FROM {table} r ORDER BY id"
    ))
    .await
}

/// Migration 18 turns the audit table and the outbox into month partitions
/// without copying a row: every record and event keeps its columns and id,
/// the old table becomes the first partition, ids carry on past the old
/// ones, and the outbox reads on in order across the old and new rows.
#[tokio::test]
async fn postgres_audit_and_events_become_month_partitions_keeping_every_row() {
    use rescind::domain::event::EventPosition;
    let backend = Backend::Postgres;
    let db = TestDatabase::create_empty(backend).await;
    db.migrate_up_to(PREVIOUS_RELEASE).await;
    write_schema_3_rows(&db, backend).await;
    db.migrate_up_to(13).await;
    write_schema_8_rows(&db, backend).await;
    write_schema_13_events(&db).await;
    let records = rows_of(&db, "revocations").await;
    let events = rows_of(&db, "revocation_events").await;
    let deliveries = rows_of(&db, "webhook_deliveries").await;
    assert_eq!((records.len(), events.len(), deliveries.len()), (3, 3, 1));

    let app = TestApp::spawn_on(db, with_admin).await;
    assert_eq!(rows_of(&app.db, "revocations").await, records);
    assert_eq!(rows_of(&app.db, "revocation_events").await, events);
    assert_eq!(rows_of(&app.db, "webhook_deliveries").await, deliveries);
    for table in ["revocations", "revocation_events"] {
        assert_eq!(
            app.db
                .texts(&format!(
                    "SELECT c.relkind::text || ' ' || (SELECT string_agg(DISTINCT \
                     r.tableoid::regclass::text, ',') FROM {table} r) FROM pg_class c \
                     WHERE c.relname = '{table}'"
                ))
                .await,
            [format!("p {table}_before_partitioning")],
            "{table} is partitioned, its old rows in the old table"
        );
    }

    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    for table in ["revocations", "revocation_events"] {
        assert_eq!(
            app.db
                .count(&format!(
                    "SELECT count(*) FROM {table} WHERE id > 3 AND grant_id = '{}'",
                    grant.grant_id
                ))
                .await,
            1,
            "{table}: the new row's id follows the old ones"
        );
    }
    let page = app
        .store
        .events_after(EventPosition { txid: 0, id: 0 }, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let subjects: Vec<&str> = page.events.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["bob", "carol", "dave", "alice"]);
    assert_eq!(
        page.events[1]
            .origin
            .session_id
            .as_ref()
            .map(rescind::domain::session::SessionId::as_str),
        Some("sid-1")
    );
}

/// The public client `spa`, raw, on any schema.
async fn write_public_client(db: &TestDatabase) {
    db.execute(
        "INSERT INTO clients (id, kind, name, allowed_origins, disabled, created_at, updated_at) \
         VALUES ('spa', 'public', NULL, '[]', FALSE, now(), now())",
    )
    .await;
}

/// Migrations run without the statement timeout requests have: with
/// `database.timeout` at 200 ms, migration 17 waits a second for its lock
/// (another transaction holds the audit table), within its own one-minute
/// lock timeout, and the upgrade completes. Under the requests' bound it
/// would be cancelled at 200 ms, as a long index build or validation on a
/// large table would be on every retry.
#[tokio::test]
async fn postgres_migrations_outlast_the_request_statement_timeout() {
    use sqlx::Connection as _;
    let db = TestDatabase::create_empty(Backend::Postgres).await;
    db.migrate_up_to(16).await;
    let mut holder = db.postgres_connection().await;
    let mut held = holder.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("LOCK TABLE revocations IN SHARE UPDATE EXCLUSIVE MODE")
        .execute(&mut *held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let migrating = rescind_with(
        db.url(),
        db.data_dir(),
        &["migrate"],
        None,
        &[("RESCIND_DATABASE__TIMEOUT", "200ms")],
    );
    let release = async {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        held.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    };
    let (migrated, ()) = tokio::join!(migrating, release);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert_eq!(json_line(&migrated)["schema_version"], json!(18));
}

/// Grants with one live access token each, `tok-1` to `tok-{count}`.
async fn write_live_tokens(db: &TestDatabase, count: u32) {
    write_public_client(db).await;
    db.execute(&format!(
        "INSERT INTO grants (id, client_id, subject, created_at) SELECT \
         md5('grant-' || i)::uuid, 'spa', 'u' || i, now() FROM generate_series(1, {count}) i"
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) SELECT \
         sha256(('tok-' || i)::bytea), md5('grant-' || i)::uuid, 'access', \
         now() + interval '1 day', now() FROM generate_series(1, {count}) i"
    ))
    .await;
}

/// Tokens [`write_live_tokens`] wrote.
const LIVE_TOKENS: u32 = 20_000;

/// Two instances migrating at once (both with `migrate_on_start`, or a
/// `rescind` command run during an upgrade): the second waits for the first
/// without holding a snapshot, so the first one's `CREATE INDEX
/// CONCURRENTLY` steps (14 to 16), which wait for every older snapshot to
/// end, do not wait for it in a cycle. Both succeed and every index is
/// valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_migrations_at_once_both_complete() {
    let db = TestDatabase::create_empty(Backend::Postgres).await;
    db.migrate_up_to(13).await;
    let (first, second) = tokio::join!(
        rescind(db.url(), db.data_dir(), &["migrate"], None),
        rescind(db.url(), db.data_dir(), &["migrate"], None)
    );
    for output in [first, second] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
            .await,
        0
    );
}

/// The migration lock is the one sqlx's own migrator takes (an older
/// release's `rescind migrate`): while it is held, this release's waits,
/// and goes on once it is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_migration_waits_for_an_older_release_s_lock() {
    use sqlx::migrate::Migrate as _;
    let db = TestDatabase::create_empty(Backend::Postgres).await;
    db.migrate_up_to(17).await;
    let mut older = db.postgres_connection().await;
    older.lock().await.unwrap_or_else(|e| panic!("{e}"));
    let migrating = tokio::spawn({
        let (url, dir) = (db.url().to_owned(), db.data_dir().to_owned());
        async move { rescind(&url, &dir, &["migrate"], None).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!migrating.is_finished(), "migrated under another's lock");
    older.unlock().await.unwrap_or_else(|e| panic!("{e}"));
    let output = migrating.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json_line(&output)["applied"], json!([18]));
}

/// Migration 18 takes its locks in the order a revocation takes them, so
/// revocations running all through it (two batches at a time, through the
/// group commit's statement) wait for it instead of deadlocking with it:
/// the step completes, and every batch is answered, before and after. So
/// do rotations (the grant row locked, then a token added), which take
/// grants before tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_18_completes_while_revocations_run() {
    assert_steps_complete_while_revocations_run(17, &["migrate"], &[18]).await;
}

/// So do the contract steps 19 (grants only) and 20 (tokens only): a step
/// locking both would wait in a cycle with a revocation (tokens, then
/// grants) or with a rotation (grants, then tokens), whichever it took
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_contract_steps_19_and_20_complete_while_revocations_run() {
    assert_steps_complete_while_revocations_run(18, &["migrate", "--force"], &[19, 20]).await;
}

/// Runs `rescind {command}` on a database at step `from`, full of live
/// tokens, while revocations and rotations run: the steps `applied` apply,
/// and every batch and every rotation is answered.
async fn assert_steps_complete_while_revocations_run(from: i64, command: &[&str], applied: &[i64]) {
    use rescind::domain::presenter::Presenter;
    use rescind::domain::revocation::{ForeignPolicy, RevocationRequest};
    use rescind::domain::token::TokenHash;
    use rescind::storage::postgres::group_commit::{Pending, run_batch};
    use std::sync::atomic::{AtomicBool, Ordering};

    let db = TestDatabase::create_empty(Backend::Postgres).await;
    db.migrate_up_to(from).await;
    write_live_tokens(&db, LIVE_TOKENS).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .connect(db.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let migrated = AtomicBool::new(false);
    let rounds = std::sync::atomic::AtomicUsize::new(0);
    let rotations = std::sync::atomic::AtomicUsize::new(0);
    let presenter = Presenter::Anonymous;
    let batch = |from: u32| -> Vec<Pending> {
        (from..from + 8)
            .map(|n| {
                Pending::new(&RevocationRequest {
                    token_hash: &TokenHash::of(&format!("tok-{}", n % LIVE_TOKENS + 1)),
                    presenter: &presenter,
                    foreign_policy: ForeignPolicy::Revoke,
                    request_id: "during-migration",
                    now: crate::helpers::now(),
                    found_at: None,
                })
            })
            .collect()
    };
    let revoking = async {
        let mut next = 0;
        while !migrated.load(Ordering::Relaxed) {
            let (a, b) = tokio::join!(
                run_batch(&pool, batch(next)),
                run_batch(&pool, batch(next + 8))
            );
            for answer in a.into_iter().chain(b) {
                answer.unwrap_or_else(|e| panic!("batch from {next}: {e}"));
            }
            next += 16;
            rounds.fetch_add(1, Ordering::Relaxed);
        }
    };
    let rotating = rotate_until(&pool, &migrated, &rotations);
    let migrating = async {
        while rounds.load(Ordering::Relaxed) < 10 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let before = (
            rounds.load(Ordering::Relaxed),
            rotations.load(Ordering::Relaxed),
        );
        let output = rescind(db.url(), db.data_dir(), command, None).await;
        let during = (
            rounds.load(Ordering::Relaxed) - before.0,
            rotations.load(Ordering::Relaxed) - before.1,
        );
        migrated.store(true, Ordering::Relaxed);
        (output, during)
    };
    let ((output, during), (), ()) =
        tokio::time::timeout(std::time::Duration::from_secs(120), async {
            tokio::join!(migrating, revoking, rotating)
        })
        .await
        .unwrap_or_else(|_| panic!("the migration and the load did not end within 120 s"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json_line(&output)["applied"], json!(applied));
    assert!(during.0 > 0, "no revocation ran while the step did");
    assert!(during.1 > 0, "no rotation ran while the step did");
    assert_eq!(
        db.count("SELECT count(*) FROM revocations").await,
        db.count("SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
            .await
    );
}

/// As the admin API's rotation does, over and over until `stop`: a grant
/// row locked, then a token added to it (grants before tokens), counting
/// each in `rotations`. From the other end of [`write_live_tokens`]'s
/// grants, away from the revocation batches; bounded by their number
/// (20 000 at 20 ms each: far past any test's deadline).
async fn rotate_until(
    pool: &sqlx::PgPool,
    stop: &std::sync::atomic::AtomicBool,
    rotations: &std::sync::atomic::AtomicUsize,
) {
    use sqlx::Connection as _;
    use std::sync::atomic::Ordering;
    let mut n = LIVE_TOKENS;
    while n > 0 && !stop.load(Ordering::Relaxed) {
        let mut connection = pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
        let mut tx = connection.begin().await.unwrap_or_else(|e| panic!("{e}"));
        for sql in [
            format!("SELECT 1 FROM grants WHERE id = md5('grant-{n}')::uuid FOR UPDATE"),
            "SELECT pg_sleep(0.02)".to_owned(),
            format!(
                "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) \
                 VALUES (sha256('rotated-{n}'), md5('grant-{n}')::uuid, 'refresh', \
                 now() + interval '1 day', now())"
            ),
        ] {
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
        }
        tx.commit()
            .await
            .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
        rotations.fetch_add(1, Ordering::Relaxed);
        n -= 1;
    }
}
