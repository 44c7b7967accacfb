//! A revocation racing a refresh rotation that adds tokens to the same grant
//! (see docs/reliability.md): the new token is revoked too, or the addition fails;
//! never a live token in a revoked grant.

use std::time::Duration;

use reqwest::Method;
use rescind::domain::client::ClientKind;
use rescind::domain::token::TokenHash;
use serde_json::json;
use sqlx::Connection as _;

use crate::helpers::{Backend, TestApp, assert_revocation_ok, with_admin};
use crate::on_both_backends;

/// Whether the store holds `token` and reads it as live (neither revoked
/// nor expired), as `rescind token inspect` and introspection do.
async fn is_live(app: &TestApp, token: &str) -> bool {
    app.store
        .find_token(&TokenHash::of(token))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_some_and(|record| record.is_active(crate::helpers::now()))
}

/// The exact interleaving that defeats a single-statement revocation on
/// PostgreSQL: the rotation holds the grant row and has inserted its token
/// when the revocation statement starts (so the token is not in that
/// statement's snapshot); the revocation waits for the row, and the rotation
/// commits. The token committed before the grant was claimed must be revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_token_committed_while_the_revocation_waits_is_revoked_too() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let mut rotation = app.db.postgres_connection().await;
    let mut tx = rotation.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SELECT 1 FROM grants WHERE id = (SELECT grant_id FROM tokens LIMIT 1) FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(
        "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) \
         SELECT sha256('rotated-refresh-token'), grant_id, 'refresh', now() + interval '1 day', now() \
         FROM tokens LIMIT 1",
    )
    .execute(&mut *tx)
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let (base, issuer_path) = (app.base_url.clone(), app.settings.issuer_path().to_owned());
    let token = grant.access_token.clone();
    let revocation = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}{issuer_path}/oauth2/revoke"))
            .form(&[("token", token.as_str()), ("client_id", "spa")])
            .send()
            .await
            .map_or(0, |response| response.status().as_u16())
    });
    // Let the revocation statement start and wait on the grant row.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !revocation.is_finished(),
        "the revocation waits for the rotation"
    );
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revocation.await.unwrap_or_else(|e| panic!("{e}")), 200);

    assert_eq!(app.db.count("SELECT count(*) FROM tokens").await, 3);
    assert_eq!(
        app.db.live_tokens().await,
        0,
        "the rotated token is revoked too"
    );
    assert!(!is_live(&app, "rotated-refresh-token").await);
    rotation.close().await.unwrap_or_else(|e| panic!("{e}"));
}

/// The same race through the real API, many times: each rotation either
/// lands before the revocation (and is revoked with the grant) or is
/// refused with 409.
async fn rotations_racing_revocations_never_leave_a_live_token(backend: Backend) {
    const ROUNDS: usize = 40;
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, ROUNDS).await;
    let (mut added, mut refused) = (0, 0);
    for (round, grant) in grants.iter().enumerate() {
        let rotate = app
            .admin(
                Method::POST,
                &format!("/admin/grants/{}/tokens", grant.grant_id),
            )
            .json(&json!({ "tokens": [{
                "token": format!("rotated-{round}"), "kind": "refresh",
                "expires_at": "2099-01-01T00:00:00Z"
            }] }))
            .send();
        let params = [
            ("token", grant.refresh_token.as_str()),
            ("client_id", "spa"),
        ];
        let revoke = app.revoke(&params);
        let (rotated, revoked) = tokio::join!(rotate, revoke);
        let rotated = rotated.unwrap_or_else(|e| panic!("{e}")).status().as_u16();
        match rotated {
            201 => added += 1,
            409 => refused += 1,
            other => panic!("round {round}: rotation answered {other}"),
        }
        assert_revocation_ok(revoked).await;
        if rotated == 201 {
            assert!(
                !is_live(&app, &format!("rotated-{round}")).await,
                "round {round}"
            );
        }
    }
    assert_eq!(added + refused, ROUNDS);
    assert_eq!(app.db.live_tokens().await, 0);
}

/// A bulk revocation racing a rotation that holds one grant's row: the
/// batches pass the locked grant by, and the call must not answer until a
/// final batch has waited for it and revoked it. Deleting the client takes
/// the same path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_bulk_revocation_waits_for_a_locked_grant_before_answering() {
    for by_deletion in [false, true] {
        let app = TestApp::spawn_with(Backend::Postgres, with_admin).await;
        app.create_client("spa", ClientKind::Public).await;
        app.grants_with_ttl("spa", 3600, 30).await;
        let mut rotation = app.db.postgres_connection().await;
        let mut tx = rotation.begin().await.unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(
            "SELECT 1 FROM grants WHERE id = (SELECT grant_id FROM tokens LIMIT 1) FOR UPDATE",
        )
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

        let request = if by_deletion {
            app.admin(Method::DELETE, "/admin/clients/spa")
        } else {
            app.admin(Method::POST, "/admin/revocations")
                .json(&json!({ "subject": "alice" }))
        };
        let bulk = tokio::spawn(async move {
            let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body["revoked_grants"].as_u64())
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !bulk.is_finished(),
            "the bulk revocation answered while a matching grant was locked"
        );
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        let answered = bulk.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answered, (200, Some(30)), "deletion: {by_deletion}");
        assert_eq!(app.db.live_grants().await, 0, "deletion: {by_deletion}");
        assert_eq!(app.db.live_tokens().await, 0);
        rotation.close().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A deletion that stopped after marking the client deleted (the database
/// went away before its grants were revoked) is finished by calling it again.
async fn a_deletion_left_half_done_is_finished_by_a_retry(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    app.grants_with_ttl("spa", 3600, 3).await;
    let id = rescind::domain::client::ClientId::parse("spa").unwrap_or_else(|e| panic!("{e}"));
    // The first half of a deletion, as a failed call leaves it.
    app.store
        .delete_client(&id, crate::helpers::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.db.live_grants().await, 3);
    let (status, body) = app
        .admin_json(app.admin(Method::DELETE, "/admin/clients/spa"))
        .await;
    assert_eq!((status, body["revoked_grants"].as_u64()), (200, Some(3)));
    assert_eq!(app.db.live_grants().await, 0);
    // Finished: nothing is left to do, so it is unknown now.
    let (status, _) = app
        .admin_json(app.admin(Method::DELETE, "/admin/clients/spa"))
        .await;
    assert_eq!(status, 404);
}

on_both_backends!(
    rotations_racing_revocations_never_leave_a_live_token,
    a_deletion_left_half_done_is_finished_by_a_retry,
);
