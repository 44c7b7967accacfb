//! Policies (docs/behaviour.md, Policies): anonymous presenters and foreign tokens.

use rescind::domain::client::ClientKind;
use rescind::domain::revocation::{AnonymousPolicy, ForeignPolicy};

use crate::helpers::{Backend, TestApp, assert_oauth_error, assert_revocation_ok};
use crate::on_both_backends;

async fn an_anonymous_presenter_revokes_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.confidential_client("web").await;
    let grant = app.grant("web").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.refresh_token)]).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
    let record = &app.db.audit_records().await[0];
    assert_eq!(
        (
            record.presenter_kind.as_str(),
            record.presenter_client_id.as_deref()
        ),
        ("anonymous", None)
    );
    assert_eq!(record.reason, "anonymous_report");
    assert!(!record.foreign_client);
}

async fn anonymous_reject_answers_401_before_any_lookup(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.policy.anonymous = AnonymousPolicy::Reject).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    for token in [grant.access_token.as_str(), "unknown-token"] {
        let headers =
            assert_oauth_error(app.revoke(&[("token", token)]).await, 401, "invalid_client").await;
        assert!(headers.get("www-authenticate").is_none());
    }
    assert_eq!(app.db.live_tokens().await, 2);
    // Identified clients are unaffected.
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
}

async fn a_foreign_token_is_revoked_and_marked_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.confidential_client("web").await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("web").await;
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 0);
    let record = &app.db.audit_records().await[0];
    assert!(record.foreign_client);
    assert_eq!(record.presenter_client_id.as_deref(), Some("spa"));
    assert_eq!(record.reason, "foreign_client_report");
}

async fn foreign_reject_refuses_without_revoking(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.policy.foreign = ForeignPolicy::Reject).await;
    let secret = app.confidential_client("web").await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("web").await;
    let refused = app
        .revoke(&[("token", &grant.access_token), ("client_id", "spa")])
        .await;
    assert_oauth_error(refused, 401, "unauthorized_client").await;
    assert_eq!(app.db.live_tokens().await, 2);
    assert!(app.db.audit_records().await.is_empty());
    // Unknown tokens still answer 200 to the same client, and the owner may revoke.
    assert_revocation_ok(
        app.revoke(&[("token", "unknown"), ("client_id", "spa")])
            .await,
    )
    .await;
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 0);
    // Anonymous presenters are not "foreign": the Matrix rule still applies to them.
    let other = app.grant("web").await;
    assert_revocation_ok(app.revoke(&[("token", &other.access_token)]).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
}

on_both_backends!(
    an_anonymous_presenter_revokes_by_default,
    anonymous_reject_answers_401_before_any_lookup,
    a_foreign_token_is_revoked_and_marked_by_default,
    foreign_reject_refuses_without_revoking,
);
