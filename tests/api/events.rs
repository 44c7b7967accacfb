//! The revocation event outbox (issue 5): one event per committed grant
//! revocation, whatever path revoked it, written in the same transaction;
//! none for a request that revoked nothing.

use reqwest::Method;
use rescind::domain::client::ClientKind;

use crate::helpers::{Backend, TestApp, assert_revocation_ok, with_admin};
use crate::on_both_backends;

/// (client, subject, token kinds, presenter kind, reason) of every event, in order.
async fn events(app: &TestApp) -> Vec<(String, String, String, String, String)> {
    app.db
        .rows(
            "SELECT client_id, subject, token_kinds, presenter_kind, reason \
             FROM revocation_events ORDER BY id",
        )
        .await
}

async fn every_committed_revocation_has_one_event_and_nothing_else_has(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.refresh_token)]).await).await;
    // Already revoked, unknown: answered 200, nothing revoked, no event.
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    assert_revocation_ok(app.revoke(&[("token", "never-issued")]).await).await;
    let spa = |subject: &str, presenter: &str, reason: &str| {
        (
            "spa".to_owned(),
            subject.to_owned(),
            "access,refresh".to_owned(),
            presenter.to_owned(),
            reason.to_owned(),
        )
    };
    assert_eq!(
        events(&app).await,
        [spa("alice", "anonymous", "anonymous_report")]
    );

    // A bulk revocation: one event per grant.
    app.grants_with_ttl("spa", 3600, 3).await;
    app.revoke_all_grants_of("spa").await;
    // A client deletion: its grants' events.
    app.create_client("cli", ClientKind::Public).await;
    app.grant("cli").await;
    let (status, _) = app
        .admin_json(app.admin(Method::DELETE, "/admin/clients/cli"))
        .await;
    assert_eq!(status, 200);

    let all = events(&app).await;
    assert_eq!(all.len(), 5);
    assert!(
        all[1..4]
            .iter()
            .all(|event| *event == spa("alice", "admin", "admin_bulk"))
    );
    assert_eq!(all[4].4, "client_deleted");
    assert_eq!(
        app.db.count("SELECT count(*) FROM revocations").await,
        5,
        "one event per audit record"
    );
}

async fn concurrent_revocations_of_one_grant_make_one_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    for _ in 0..10 {
        let grant = app.grant("spa").await;
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let token = if n % 2 == 0 {
                    grant.access_token.clone()
                } else {
                    grant.refresh_token.clone()
                };
                let (http, url) = (app.http.clone(), app.url("/oauth2/revoke"));
                tokio::spawn(async move {
                    http.post(url)
                        .form(&[("token", token.as_str())])
                        .send()
                        .await
                        .map_or(0, |response| response.status().as_u16())
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap_or(0), 200);
        }
    }
    assert_eq!(
        app.db.count("SELECT count(*) FROM revocation_events").await,
        10
    );
}

on_both_backends!(
    every_committed_revocation_has_one_event_and_nothing_else_has,
    concurrent_revocations_of_one_grant_make_one_event,
);
