//! OpenID Connect Back-Channel Logout 1.0 received (docs/behaviour.md,
//! Back-channel logout): logout tokens signed by an independent library
//! (PyJWT, tests/support/jose.py) posted to the running server. A valid
//! one revokes exactly its session's grants; every bad one, and every
//! replay (also on another instance), is refused and revokes nothing.

use std::path::Path;

use rescind::config::{Settings, UpstreamSettings};
use rescind::domain::client::{ClientId, ClientKind};
use rescind::domain::grant::GrantOrigin;
use rescind::domain::session::SessionId;
use rescind::logout::token::BACKCHANNEL_LOGOUT_EVENT;
use rescind::provisioning::{self, GrantTemplate};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_no_store, assert_oauth_error, now};
use crate::jose::{case, python, with_changes};
use crate::on_both_backends;

pub const ISSUER: &str = "https://op.example";
pub const AUDIENCE: &str = "rescind";
const SESSION: &str = "08a5019c-17e1-4977-8f42-65a12843ea02";

/// A valid logout token's claims, issued now, with these changes.
pub fn claims(changes: &[(&str, Option<Value>)]) -> Value {
    let at = now().timestamp();
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": at - 5,
        "exp": at + 115,
        "jti": "jti-valid",
        "sub": "alice",
        "sid": SESSION,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    with_changes(claims, changes)
}

/// Signs `cases` with fresh keys in jose.py; writes the key set to
/// `folder/jwks.json`; answers the tokens by case name.
pub fn sign(folder: &Path, cases: &[Value]) -> Value {
    let answer = python(&json!({ "op": "logout-tokens", "cases": cases }));
    std::fs::write(folder.join("jwks.json"), answer["jwks"].to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    answer["tokens"].clone()
}

/// A case signed by the RSA key, its header naming it.
pub fn signed(name: &str, claims: &Value) -> Value {
    case(name, "rsa", "RS256", "rsa", claims, json!({}))
}

/// The upstream `https://op.example`, keys from `folder/jwks.json`, whose
/// clients are `web` and `spa`.
pub fn with_upstream(folder: &Path) -> impl FnOnce(&mut Settings) + '_ {
    move |settings| {
        settings.logout.upstream = vec![UpstreamSettings {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            jwks_file: Some(folder.join("jwks.json")),
            clients: vec!["web".to_owned(), "spa".to_owned()],
            ..UpstreamSettings::default()
        }];
    }
}

/// Posts a logout body.
pub async fn post_logout(app: &TestApp, body: String) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn logout(app: &TestApp, token: &Value) -> reqwest::Response {
    let token = token.as_str().unwrap_or_else(|| panic!("no such token"));
    post_logout(app, format!("logout_token={token}")).await
}

/// `count` grants of `client` for alice, in `session` (or none).
async fn grants(app: &TestApp, client: &str, session: Option<&str>, count: usize) {
    let template = GrantTemplate {
        client_id: ClientId::parse(client).unwrap_or_else(|e| panic!("{e}")),
        subject: "alice".to_owned(),
        scope: None,
        origin: GrantOrigin {
            session_id: session.map(|sid| SessionId::parse(sid).unwrap_or_else(|e| panic!("{e}"))),
            device_id: None,
        },
        access_ttl_secs: 3600,
        refresh_ttl_secs: 3600,
    };
    provisioning::issue_grants(
        app.store.as_ref(),
        &app.token_format(),
        &template,
        count,
        now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

async fn setup(app: &TestApp) {
    for id in ["web", "spa", "other"] {
        app.create_client(id, ClientKind::Public).await;
    }
    grants(app, "web", Some(SESSION), 2).await;
    grants(app, "spa", Some(SESSION), 1).await;
    // Not a client of this upstream: its grants are not this logout's.
    grants(app, "other", Some(SESSION), 1).await;
    grants(app, "web", Some("another-session"), 1).await;
    grants(app, "web", None, 1).await;
}

async fn a_valid_logout_token_revokes_exactly_its_session_s_grants(backend: Backend) {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tokens = sign(
        folder.path(),
        &[
            signed("session", &claims(&[])),
            signed(
                "subject",
                &claims(&[("sid", None), ("jti", Some(json!("jti-subject")))]),
            ),
        ],
    );
    let app = TestApp::spawn_with(backend, with_upstream(folder.path())).await;
    setup(&app).await;
    assert_eq!(app.db.live_grants().await, 6);

    let answer = logout(&app, &tokens["session"]).await;
    assert_eq!(answer.status().as_u16(), 200);
    assert_no_store(&answer);
    assert_eq!(app.db.live_grants().await, 3, "web's two and spa's one");
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.presenter_kind == "backchannel_logout"
                && r.reason == "backchannel_logout"
                && r.presented_token_hash.is_none())
    );
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM revocation_events WHERE presenter_kind = 'backchannel_logout'"
            )
            .await,
        3
    );

    // Replayed, here and on another instance: refused, and a grant of the
    // session given since stays live.
    grants(&app, "web", Some(SESSION), 1).await;
    assert_oauth_error(
        logout(&app, &tokens["session"]).await,
        400,
        "invalid_request",
    )
    .await;
    let beside = TestApp::spawn_beside(&app).await;
    assert_oauth_error(
        logout(&beside, &tokens["session"]).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(app.db.live_grants().await, 4);

    // Only a subject: every grant of it among the upstream's clients.
    let answer = logout(&app, &tokens["subject"]).await;
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(app.db.live_grants().await, 1, "other's grant stays");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM logout_tokens_seen")
            .await,
        2
    );
}

/// Each bad token: claims changed, or made wrongly, in jose.py.
fn bad_cases() -> Vec<Value> {
    let at = now().timestamp();
    let changed = |name: &str, changes: &[(&str, Option<Value>)]| signed(name, &claims(changes));
    vec![
        changed("expired", &[("exp", Some(json!(at - 60)))]),
        changed("future", &[("iat", Some(json!(at + 600)))]),
        changed("wrong-aud", &[("aud", Some(json!("someone-else")))]),
        changed("wrong-iss", &[("iss", Some(json!("https://evil.example")))]),
        changed("nonce", &[("nonce", Some(json!("n-0S6_WzA2Mj")))]),
        changed("no-events", &[("events", None)]),
        case(
            "alg-none",
            "rsa",
            "none",
            "rsa",
            &claims(&[]),
            json!({"form": "none"}),
        ),
        case(
            "hmac-public",
            "rsa",
            "HS256",
            "rsa",
            &claims(&[]),
            json!({"form": "hmac-public"}),
        ),
        case(
            "unknown-kid",
            "rsa",
            "RS256",
            "rotated-away",
            &claims(&[]),
            json!({}),
        ),
    ]
}

async fn every_bad_logout_token_is_refused_and_revokes_nothing(backend: Backend) {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases = bad_cases();
    let tokens = sign(folder.path(), &cases);
    let app = TestApp::spawn_with(backend, with_upstream(folder.path())).await;
    setup(&app).await;
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default();
        let answer = logout(&app, &tokens[name]).await;
        assert_eq!(answer.status().as_u16(), 400, "{name}");
        assert_oauth_error(answer, 400, "invalid_request").await;
    }
    let token = tokens["expired"].as_str().unwrap_or_default();
    for (body, content_type) in [
        (String::new(), "application/x-www-form-urlencoded"),
        (
            "logout_token=".to_owned(),
            "application/x-www-form-urlencoded",
        ),
        (
            "logout_token=not.a.jwt".to_owned(),
            "application/x-www-form-urlencoded",
        ),
        (
            format!("logout_token={token}&logout_token={token}"),
            "application/x-www-form-urlencoded",
        ),
        (format!("logout_token={token}"), "application/json"),
    ] {
        let answer = app
            .http
            .post(app.url("/oauth2/backchannel-logout"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            answer.status().as_u16(),
            400,
            "{body:.40} as {content_type}"
        );
        assert_oauth_error(answer, 400, "invalid_request").await;
    }
    assert_eq!(app.db.live_grants().await, 6, "nothing revoked");
    assert_eq!(app.db.audit_records().await.len(), 0);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM logout_tokens_seen")
            .await,
        0,
        "no refused token is remembered"
    );
}

/// A delivery cut off before its revocation finished (its request timed
/// out, the database went away) leaves its token id claimed but not done:
/// the same token is refused while the claim may still be at work, and
/// taken over once it has stood longer than any request may take, so the
/// issuer's retry revokes what is left. A finished one stays refused.
async fn a_logout_cut_off_half_way_is_finished_by_a_later_delivery(backend: Backend) {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let at = now().timestamp();
    let tokens = sign(
        folder.path(),
        &[signed(
            "lasting",
            &claims(&[
                ("exp", Some(json!(at + 3600))),
                ("jti", Some(json!("jti-cut"))),
            ]),
        )],
    );
    let app = TestApp::spawn_with(backend, with_upstream(folder.path())).await;
    setup(&app).await;
    assert_eq!(
        logout(&app, &tokens["lasting"]).await.status().as_u16(),
        200
    );
    assert_eq!(app.db.live_grants().await, 3);

    // As if that delivery had been cut off before it finished.
    app.db
        .execute("UPDATE logout_tokens_seen SET completed = FALSE")
        .await;
    grants(&app, "web", Some(SESSION), 1).await;
    assert_oauth_error(
        logout(&app, &tokens["lasting"]).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(app.db.live_grants().await, 4, "the claim still stands");

    app.clock.advance(std::time::Duration::from_secs(150));
    assert_eq!(
        logout(&app, &tokens["lasting"]).await.status().as_u16(),
        200,
        "an unfinished claim is taken over"
    );
    assert_eq!(app.db.live_grants().await, 3, "what was left is revoked");
    assert_oauth_error(
        logout(&app, &tokens["lasting"]).await,
        400,
        "invalid_request",
    )
    .await;
}

/// The issuer's keys cannot be read: `503`, which the issuer retries,
/// not a `400` that would end its attempts.
async fn without_the_issuer_s_keys_a_logout_is_put_off(backend: Backend) {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tokens = sign(folder.path(), &[signed("session", &claims(&[]))]);
    std::fs::remove_file(folder.path().join("jwks.json")).unwrap_or_else(|e| panic!("{e}"));
    let app = TestApp::spawn_with(backend, with_upstream(folder.path())).await;
    setup(&app).await;
    assert_oauth_error(
        logout(&app, &tokens["session"]).await,
        503,
        "temporarily_unavailable",
    )
    .await;
    assert_eq!(app.db.live_grants().await, 6);
}

/// Tokens refused for their signature or key count against the sender's
/// address like a scanner's bad signatures: past the budget, the address
/// is refused before its body is read, even with a good token.
async fn forged_logout_tokens_lock_the_sender_out(backend: Backend) {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let forged = case(
        "forged",
        "rsa",
        "RS256",
        "rotated-away",
        &claims(&[]),
        json!({}),
    );
    let tokens = sign(folder.path(), &[forged, signed("session", &claims(&[]))]);
    let app = TestApp::spawn_with(backend, with_upstream(folder.path())).await;
    setup(&app).await;
    for attempt in 0..10 {
        let answer = logout(&app, &tokens["forged"]).await;
        assert_eq!(answer.status().as_u16(), 400, "{attempt}");
    }
    assert_oauth_error(
        logout(&app, &tokens["session"]).await,
        429,
        "temporarily_unavailable",
    )
    .await;
    assert_eq!(app.db.live_grants().await, 6);
}

/// No upstream configured: the endpoint is not there.
async fn without_an_upstream_the_endpoint_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = post_logout(&app, "logout_token=a.b.c".to_owned()).await;
    assert_oauth_error(answer, 404, "not_found").await;
}

on_both_backends!(
    a_valid_logout_token_revokes_exactly_its_session_s_grants,
    every_bad_logout_token_is_refused_and_revokes_nothing,
    without_an_upstream_the_endpoint_is_not_found,
    a_logout_cut_off_half_way_is_finished_by_a_later_delivery,
    without_the_issuer_s_keys_a_logout_is_put_off,
    forged_logout_tokens_lock_the_sender_out,
);
