//! The verified-credential cache (`auth.cache_ttl`): repeated requests skip
//! argon2, and rotating or disabling a client ends its cached credentials on
//! every instance at once, because each revocation checks the client's
//! credentials revision in the database.

use rescind::domain::client::{ClientId, ClientKind};
use rescind::domain::secret::ClientSecret;
use rescind::provisioning;

use crate::helpers::{Backend, TestApp, assert_oauth_error, assert_revocation_ok, now};
use crate::on_both_backends;

fn id(raw: &str) -> ClientId {
    ClientId::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

/// Revokes one fresh grant of `client` on `app` with `secret`: a success
/// leaves the instance with the secret cached.
async fn revoke_fresh_grant(app: &TestApp, client: &str, secret: &str) -> reqwest::Response {
    let grant = app.grant(client).await;
    app.revoke_basic(client, secret, &[("token", &grant.access_token)])
        .await
}

async fn a_rotated_secret_stops_working_on_every_instance_at_once(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::spawn_beside(&first).await;
    let old = first.confidential_client("web").await;
    for app in [&first, &second] {
        assert_revocation_ok(revoke_fresh_grant(app, "web", &old).await).await;
    }

    let new = ClientSecret::generate();
    provisioning::set_secret(first.store.as_ref(), &id("web"), &new, None, now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let live_before = first.db.live_tokens().await;
    for app in [&first, &second] {
        assert_oauth_error(
            revoke_fresh_grant(app, "web", &old).await,
            401,
            "invalid_client",
        )
        .await;
    }
    assert_eq!(
        first.db.live_tokens().await,
        live_before + 4,
        "the old secret revoked nothing after the rotation"
    );
    for app in [&first, &second] {
        assert_revocation_ok(revoke_fresh_grant(app, "web", new.expose()).await).await;
    }
}

async fn a_client_disabled_after_cached_successes_is_refused_everywhere(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::spawn_beside(&first).await;
    let secret = first.confidential_client("web").await;
    first.create_client("spa", ClientKind::Public).await;
    for app in [&first, &second] {
        assert_revocation_ok(revoke_fresh_grant(app, "web", &secret).await).await;
        let grant = app.grant("spa").await;
        let public = [("token", grant.access_token.as_str()), ("client_id", "spa")];
        assert_revocation_ok(app.revoke(&public).await).await;
    }

    for client in ["web", "spa"] {
        first.disable_client(client).await;
    }

    let live_before = first.db.live_tokens().await;
    for app in [&first, &second] {
        assert_oauth_error(
            revoke_fresh_grant(app, "web", &secret).await,
            401,
            "invalid_client",
        )
        .await;
        let grant = app.grant("spa").await;
        let public = [("token", grant.access_token.as_str()), ("client_id", "spa")];
        assert_oauth_error(app.revoke(&public).await, 401, "invalid_client").await;
    }
    assert_eq!(first.db.live_tokens().await, live_before + 8);
    assert_eq!(
        first.db.audit_records().await.len(),
        4,
        "only the earlier successes"
    );
}

async fn a_wrong_secret_is_refused_after_the_right_one_was_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    assert_revocation_ok(revoke_fresh_grant(&app, "web", &secret).await).await;
    let near_miss = format!("{secret}x");
    for wrong in [near_miss.as_str(), "", &secret[..secret.len() - 1]] {
        assert_oauth_error(
            revoke_fresh_grant(&app, "web", wrong).await,
            401,
            "invalid_client",
        )
        .await;
    }
    // A failure evicts nothing: the right secret still works.
    assert_revocation_ok(revoke_fresh_grant(&app, "web", &secret).await).await;
    assert_eq!(app.db.audit_records().await.len(), 2);
}

/// White-box: swap the stored hash behind the server's back *without* moving
/// the revision. A cached secret keeps working (the cache answered, not
/// argon2); with the cache off, the same request fails. This is why every
/// legitimate change of credentials must move the revision.
async fn the_cache_answers_until_the_revision_moves(backend: Backend) {
    for (ttl, expected) in [
        (std::time::Duration::from_secs(300), 200),
        (std::time::Duration::ZERO, 401),
    ] {
        let app = TestApp::spawn_with(backend, |s| s.auth.cache_ttl = ttl).await;
        let secret = app.confidential_client("web").await;
        assert_revocation_ok(revoke_fresh_grant(&app, "web", &secret).await).await;
        let other =
            rescind::auth::hash_secret(&ClientSecret::generate()).unwrap_or_else(|e| panic!("{e}"));
        let swapped = app
            .db
            .execute(&format!(
                "UPDATE clients SET secret_hash = '{}' WHERE id = 'web'",
                other.as_phc()
            ))
            .await;
        assert_eq!(swapped, 1);
        let answer = revoke_fresh_grant(&app, "web", &secret).await;
        assert_eq!(answer.status().as_u16(), expected, "cache_ttl = {ttl:?}");
    }
}

/// A revision that moved while the credentials stayed valid (say, a
/// rotation to the same secret by another tool): the cached presenter is
/// found stale, verified afresh, and the revocation goes through.
async fn a_stale_presenter_with_valid_credentials_is_verified_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    app.create_client("spa", ClientKind::Public).await;
    assert_revocation_ok(revoke_fresh_grant(&app, "web", &secret).await).await;
    let grant = app.grant("spa").await;
    let public = [("token", grant.access_token.as_str()), ("client_id", "spa")];
    assert_revocation_ok(app.revoke(&public).await).await;

    let moved = app
        .db
        .execute("UPDATE clients SET credentials_revision = credentials_revision + 1")
        .await;
    assert_eq!(moved, 2);

    let live_before = app.db.live_tokens().await;
    assert_revocation_ok(revoke_fresh_grant(&app, "web", &secret).await).await;
    let grant = app.grant("spa").await;
    let public = [("token", grant.access_token.as_str()), ("client_id", "spa")];
    assert_revocation_ok(app.revoke(&public).await).await;
    assert_eq!(
        app.db.live_tokens().await,
        live_before,
        "both fresh grants were revoked after re-verification"
    );
    assert_eq!(app.db.audit_records().await.len(), 4);
}

/// Sixteen cold requests of one client at once (its workers logging out after
/// a deploy) all succeed through the single-flight path, and a concurrent
/// wrong secret is still refused. This checks correctness under the gate, not
/// that only one argon2 ran: that the gate admits one turn per secret at a
/// time is the unit test `turns_for_one_secret_are_taken_one_at_a_time…` in
/// `src/auth/cache.rs`.
async fn a_stampede_of_one_client_all_succeeds(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.auth.argon2_concurrency = Some(1)).await;
    let secret = app.confidential_client("web").await;
    let mut tokens = Vec::new();
    for _ in 0..16 {
        tokens.push(app.grant("web").await.access_token);
    }
    let app = std::sync::Arc::new(app);
    let revoke = |secret: String, token: String| {
        let app = app.clone();
        tokio::spawn(async move {
            app.revoke_basic("web", &secret, &[("token", &token)])
                .await
                .status()
                .as_u16()
        })
    };
    let wrong = revoke("not-the-secret".to_owned(), "x".to_owned());
    let right: Vec<_> = tokens
        .into_iter()
        .map(|token| revoke(secret.clone(), token))
        .collect();
    for task in right {
        assert_eq!(task.await.unwrap_or_else(|e| panic!("{e}")), 200);
    }
    assert_eq!(wrong.await.unwrap_or_else(|e| panic!("{e}")), 401);
    assert_eq!(app.db.audit_records().await.len(), 16);
}

on_both_backends!(
    a_stampede_of_one_client_all_succeeds,
    a_stale_presenter_with_valid_credentials_is_verified_again,
    a_rotated_secret_stops_working_on_every_instance_at_once,
    a_client_disabled_after_cached_successes_is_refused_everywhere,
    a_wrong_secret_is_refused_after_the_right_one_was_cached,
    the_cache_answers_until_the_revision_moves,
);
