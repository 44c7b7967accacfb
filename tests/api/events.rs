//! The revocation event outbox (docs/behaviour.md, Revocation events): one event per committed grant
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

/// The outbox after `head` once `settled` events are settled. Settling
/// waits for every older transaction of the cluster, and other tests share
/// it (some hold a transaction open for a second or two): wait up to 10 s.
async fn settled_page(
    app: &TestApp,
    head: rescind::domain::event::EventPosition,
    settled: usize,
) -> rescind::domain::event::EventPage {
    let started = std::time::Instant::now();
    loop {
        let page = app
            .store
            .events_after(head, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if page.settled >= settled || started.elapsed() > std::time::Duration::from_secs(10) {
            assert_eq!(page.settled, settled);
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits for the next notice on `feed`, for at most two seconds.
async fn notice_within_two_seconds(feed: &mut Box<dyn rescind::storage::ChangeFeed>) -> bool {
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), feed.changed()).await,
        Ok(Ok(()))
    )
}

/// PostgreSQL: another instance's revocation notice and a client change
/// both reach a listening instance (`LISTEN rescind_changes`); the outbox
/// read finds the revocation's event. (SQLite has no feed: one instance.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_change_notices_reach_listening_instances() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut feed = app
        .store
        .change_feed()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("PostgreSQL offers a change feed"));
    let head = app
        .store
        .event_head()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.store
        .notify_changes()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        notice_within_two_seconds(&mut feed).await,
        "revocation notice"
    );
    app.create_client("rs", ClientKind::Public).await;
    app.disable_client("rs").await;
    assert!(
        notice_within_two_seconds(&mut feed).await,
        "client change notice"
    );
    // A revocation through the server: its event follows the head.
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    let page = settled_page(&app, head, 1).await;
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].client_id, "spa");
    assert!(page.settled_position(head) > head);
}

/// PostgreSQL: an event whose transaction commits after a later id's is
/// not skipped. While a transaction that wrote an event is open, events of
/// newer transactions are read but not settled (a reader does not move past
/// them); once it commits, both are settled, the older transaction's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readers_never_move_past_an_event_still_being_committed() {
    use sqlx::Connection as _;
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let head = app
        .store
        .event_head()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut slow = app.db.postgres_connection().await;
    let mut open = slow.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(
        "INSERT INTO revocation_events (grant_id, client_id, subject, token_kinds, \
         presenter_kind, reason, revoked_at) \
         VALUES (gen_random_uuid(), 'slow', 's', 'access', 'admin', 'admin_bulk', now())",
    )
    .execute(&mut *open)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    let page = app
        .store
        .events_after(head, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        page.events.len(),
        1,
        "the open transaction's event is not visible"
    );
    assert_eq!(
        page.settled, 0,
        "nor is the committed one settled while it is open"
    );
    open.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let page = settled_page(&app, head, 2).await;
    let clients: Vec<&str> = page.events.iter().map(|e| e.client_id.as_str()).collect();
    assert_eq!(clients, ["slow", "spa"], "in transaction order");
    assert_eq!(page.settled, 2);
}

on_both_backends!(
    every_committed_revocation_has_one_event_and_nothing_else_has,
    concurrent_revocations_of_one_grant_make_one_event,
);
