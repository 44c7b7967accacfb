//! Upgrading a database that an older release filled: the migrations of
//! this release keep every row, and the old data works with the new code.

use sha2::{Digest as _, Sha256};

use crate::helpers::{Backend, TestApp, TestDatabase, assert_revocation_ok, with_admin};
use crate::on_both_backends;

/// The schema version the previous release left.
const PREVIOUS_RELEASE: i64 = 3;

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

async fn data_written_by_the_previous_release_survives_the_upgrade(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    db.migrate_up_to(PREVIOUS_RELEASE).await;
    let (live_grant, revoked_grant) = ([0x11_u8; 16], [0x22_u8; 16]);
    let (grant_id, old_grant_id) = match backend {
        Backend::Postgres => (
            "'11111111-1111-1111-1111-111111111111'".to_owned(),
            "'22222222-2222-2222-2222-222222222222'".to_owned(),
        ),
        Backend::Sqlite => (blob(backend, &live_grant), blob(backend, &revoked_grant)),
    };
    let live_token = Sha256::digest(b"old-release-live-token");
    let revoked_token = Sha256::digest(b"old-release-revoked-token");
    let now = "'2026-11-20 10:00:00+00:00'";
    for sql in [
        format!(
            "INSERT INTO clients (id, kind, name, allowed_origins, disabled, created_at, updated_at) \
             VALUES ('spa', 'public', 'Old app', '[]', FALSE, {now}, {now})"
        ),
        format!(
            "INSERT INTO grants (id, client_id, subject, created_at) VALUES \
             ({grant_id}, 'spa', 'alice', {now})"
        ),
        format!(
            "INSERT INTO grants (id, client_id, subject, created_at, revoked_at, revocation_reason) \
             VALUES ({old_grant_id}, 'spa', 'bob', {now}, {now}, 'anonymous_report')"
        ),
        format!(
            "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) VALUES \
             ({}, {grant_id}, 'access', '2099-01-01 00:00:00+00:00', {now}), \
             ({}, {old_grant_id}, 'refresh', '2099-01-01 00:00:00+00:00', {now})",
            blob(backend, &live_token),
            blob(backend, &revoked_token),
        ),
        format!("UPDATE tokens SET revoked_at = {now} WHERE grant_id = {old_grant_id}"),
        format!(
            "INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, \
             presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at) \
             VALUES ({old_grant_id}, {}, 'refresh', 'anonymous', NULL, FALSE, \
             'anonymous_report', 'old-request', {now})",
            blob(backend, &revoked_token),
        ),
    ] {
        db.execute(&sql).await;
    }

    // This release starts on it and migrates (4: operations, 5: trigger).
    let app = TestApp::spawn_on(db, with_admin).await;
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 1, "the old revocation record is kept");
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

    // The old live token revokes its grant through the new code.
    assert_revocation_ok(app.revoke(&[("token", "old-release-live-token")]).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
    assert_eq!(app.db.audit_records().await.len(), 2);
    // And the old client can still be given more.
    let grant = app.grant("spa").await;
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
}

on_both_backends!(data_written_by_the_previous_release_survives_the_upgrade);
