//! Whole-grant revocation (docs/behaviour.md, Revocation: "What happens").

use chrono::Duration;
use rescind::domain::client::ClientKind;
use rescind::domain::token::TokenKind;
use sha2::{Digest as _, Sha256};

use crate::helpers::{Backend, TestApp, assert_revocation_ok, header, insert_grant, now};
use crate::on_both_backends;

async fn revoking_an_access_token_revokes_the_whole_grant_with_one_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    let grant = app.grant("web").await;
    let bystander = app.grant("web").await;

    let response = app
        .revoke_basic("web", &secret, &[("token", &grant.access_token)])
        .await;
    let request_id = header(&response, "x-request-id").map(str::to_owned);
    assert_revocation_ok(response).await;

    assert_eq!(
        app.db.live_tokens().await,
        2,
        "only the bystander grant's two tokens stay live"
    );
    assert_eq!(app.db.live_grants().await, 1);
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.presented_kind, "access");
    assert_eq!(record.presenter_kind, "confidential");
    assert_eq!(record.presenter_client_id.as_deref(), Some("web"));
    assert!(!record.foreign_client);
    assert_eq!(record.reason, "client_request");
    assert_eq!(
        Some(record.request_id.clone()),
        request_id,
        "the record carries the answer's request id"
    );
    assert_eq!(
        record.presented_token_hash,
        Some(Sha256::digest(grant.access_token.as_bytes()).to_vec()),
        "a hash, never the token"
    );
    drop(bystander);
}

async fn revoking_a_refresh_token_takes_the_access_token_with_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(
        app.revoke(&[("token", &grant.refresh_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 0);
    assert_eq!(app.db.audit_records().await[0].presented_kind, "refresh");
}

async fn revoking_twice_answers_200_and_writes_one_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    for token in [
        &grant.access_token,
        &grant.access_token,
        &grant.refresh_token,
    ] {
        assert_revocation_ok(app.revoke(&[("token", token), ("client_id", "spa")]).await).await;
    }
    assert_eq!(app.db.audit_records().await.len(), 1);
}

async fn unknown_and_malformed_tokens_answer_200_and_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let mut bad_checksum = grant.access_token.clone();
    bad_checksum.replace_range(5..6, if &bad_checksum[5..6] == "A" { "B" } else { "A" });
    for token in [
        "not-a-token",
        "rat_short",
        &bad_checksum,
        &"x".repeat(4000),
        "\u{1F600}",
    ] {
        assert_revocation_ok(app.revoke(&[("token", token)]).await).await;
        assert_revocation_ok(app.revoke(&[("token", token), ("client_id", "spa")]).await).await;
    }
    assert_eq!(app.db.live_tokens().await, 2);
    assert!(app.db.audit_records().await.is_empty());
}

async fn expired_and_superseded_tokens_still_revoke_their_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("mobile", ClientKind::Public).await;
    let expired = app.grant_with_ttl("mobile", 0).await;
    assert_revocation_ok(
        app.revoke(&[("token", &expired.access_token), ("client_id", "mobile")])
            .await,
    )
    .await;
    assert_eq!(
        app.db.live_grants().await,
        0,
        "logging out with an expired token still logs out"
    );

    // A grant after two refresh rotations: old and new tokens, expired and live.
    let now = now();
    let past = now - Duration::hours(2);
    let old_refresh = "rotated-refresh-token-from-another-server";
    insert_grant(
        &app,
        "mobile",
        &[
            ("old-access", TokenKind::Access, past, 60),
            (old_refresh, TokenKind::Refresh, past, 60),
            ("new-access", TokenKind::Access, now, 3600),
            ("new-refresh", TokenKind::Refresh, now, 86_400),
        ],
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 4);
    assert_revocation_ok(
        app.revoke(&[("token", old_refresh), ("client_id", "mobile")])
            .await,
    )
    .await;
    assert_eq!(
        app.db.live_tokens().await,
        0,
        "every token of the grant, rotated siblings included"
    );
    assert_eq!(app.db.audit_records().await.len(), 2);
}

async fn the_hint_never_changes_the_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    for hint in [
        "access_token",
        "refresh_token",
        "id_token",
        "",
        "ACCESS_TOKEN",
    ] {
        let grant = app.grant("spa").await;
        // A refresh token hinted as an access token (and every other hint) is found.
        let params = [
            ("token", grant.refresh_token.as_str()),
            ("token_type_hint", hint),
            ("client_id", "spa"),
        ];
        assert_revocation_ok(app.revoke(&params).await).await;
        assert_revocation_ok(
            app.revoke(&[("token", "unknown"), ("token_type_hint", hint)])
                .await,
        )
        .await;
    }
    assert_eq!(app.db.live_tokens().await, 0);
    assert_eq!(app.db.audit_records().await.len(), 5);
}

async fn tokens_of_other_authorisation_servers_are_found_by_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let now = now();
    let foreign_shape = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
    insert_grant(&app, "spa", &[(foreign_shape, TokenKind::Access, now, 600)]).await;
    assert_revocation_ok(app.revoke(&[("token", foreign_shape)]).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn concurrent_revocations_of_one_grant_all_succeed_with_one_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let token = if i % 2 == 0 {
                &grant.access_token
            } else {
                &grant.refresh_token
            };
            spawn_public_revocation(&app, token, "spa")
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap_or_else(|e| panic!("{e}")), 200);
    }
    assert_eq!(
        app.db.audit_records().await.len(),
        1,
        "exactly one grant revocation record"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn two_instances_revoking_one_grant_at_once_write_one_record(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::spawn_beside(&first).await;
    first.create_client("spa", ClientKind::Public).await;
    for _ in 0..5 {
        let grant = first.grant("spa").await;
        let access = [("token", grant.access_token.as_str()), ("client_id", "spa")];
        let refresh = [
            ("token", grant.refresh_token.as_str()),
            ("client_id", "spa"),
        ];
        let (a, b) = tokio::join!(first.revoke(&access), second.revoke(&refresh));
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    }
    assert_eq!(first.db.live_tokens().await, 0);
    assert_eq!(
        first.db.audit_records().await.len(),
        5,
        "one record per grant, whichever instance won"
    );
}

/// docs/reliability.md: a grant after two refresh rotations (four tokens), revoked
/// through all four at once by 16 tasks, a hundred times over. Every answer
/// is 200 (a deadlock or serialisation failure would surface as a 503), and
/// each grant ends with one revocation record and no live token.
async fn one_grant_revoked_through_all_its_tokens_at_once_a_hundred_times(backend: Backend) {
    const ROUNDS: usize = 100;
    const TASKS: usize = 16;
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    app.create_client("mobile", ClientKind::Public).await;
    for round in 0..ROUNDS {
        let issued = now();
        let names: Vec<String> = ["a1", "r1", "a2", "r2"]
            .iter()
            .map(|name| format!("round-{round}-{name}"))
            .collect();
        let kinds = [TokenKind::Access, TokenKind::Refresh];
        let tokens: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), kinds[i % 2], issued, 3600))
            .collect();
        insert_grant(&app, "mobile", &tokens).await;
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| spawn_public_revocation(&app, &names[task % names.len()], "mobile"))
            .collect();
        for task in tasks {
            let status = task.await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(status, 200, "round {round}");
        }
    }
    assert_eq!(
        app.db.audit_records().await.len(),
        ROUNDS,
        "one record per grant"
    );
    assert_eq!(app.db.live_tokens().await, 0);
    assert_eq!(app.db.live_grants().await, 0);
}

/// A public client's revocation in a task of its own; yields the status.
fn spawn_public_revocation(
    app: &std::sync::Arc<TestApp>,
    token: &str,
    client: &'static str,
) -> tokio::task::JoinHandle<u16> {
    let (app, token) = (app.clone(), token.to_owned());
    tokio::spawn(async move {
        app.revoke(&[("token", &token), ("client_id", client)])
            .await
            .status()
            .as_u16()
    })
}

on_both_backends!(
    one_grant_revoked_through_all_its_tokens_at_once_a_hundred_times,
    two_instances_revoking_one_grant_at_once_write_one_record,
    revoking_an_access_token_revokes_the_whole_grant_with_one_record,
    revoking_a_refresh_token_takes_the_access_token_with_it,
    revoking_twice_answers_200_and_writes_one_record,
    unknown_and_malformed_tokens_answer_200_and_write_nothing,
    expired_and_superseded_tokens_still_revoke_their_grant,
    the_hint_never_changes_the_answer,
    tokens_of_other_authorisation_servers_are_found_by_hash,
    concurrent_revocations_of_one_grant_all_succeed_with_one_record,
);
