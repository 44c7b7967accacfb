//! Client authentication (docs/behaviour.md, Client authentication; RFC 6749 §2.3): Basic, post, public, anonymous.

use base64::Engine as _;
use rescind::domain::client::{ClientId, ClientKind};
use rescind::domain::secret::ClientSecret;
use rescind::provisioning;

use crate::helpers::{
    Backend, ISSUER, TestApp, assert_oauth_error, assert_revocation_ok, basic_header, encode,
    header, header_map, now,
};
use crate::on_both_backends;

/// `WWW-Authenticate` as docs/behaviour.md (Answers every endpoint shares) words it.
fn challenge() -> String {
    format!("Basic realm=\"{ISSUER}\", error=\"invalid_client\"")
}

/// Gives `id` a chosen secret, through the same code as `client rotate-secret`.
async fn set_secret(app: &TestApp, id: &str, secret: &str) {
    let id = ClientId::parse(id).unwrap_or_else(|e| panic!("{e}"));
    provisioning::set_secret(
        app.store.as_ref(),
        &id,
        &ClientSecret::new(secret.to_owned()),
        None,
        now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

async fn a_confidential_client_revokes_with_basic_and_with_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    let first = app.grant("web").await;
    let second = app.grant("web").await;
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &first.access_token)])
            .await,
    )
    .await;
    let post = [
        ("token", second.refresh_token.as_str()),
        ("client_id", "web"),
        ("client_secret", secret.as_str()),
    ];
    assert_revocation_ok(app.revoke(&post).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
    assert_eq!(
        app.db
            .audit_records()
            .await
            .iter()
            .filter(|r| r.presenter_kind == "confidential")
            .count(),
        2
    );
}

async fn basic_credentials_use_rfc6749_appendix_b_decoding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.confidential_client("web").await;
    set_secret(&app, "web", " %&+\u{a3}\u{20ac}").await;
    let grant = app.grant("web").await;
    // The Appendix B vector, sent encoded exactly as the RFC shows it.
    let encoded = base64::engine::general_purpose::STANDARD.encode("web:+%25%26%2B%C2%A3%E2%82%AC");
    let headers = header_map(&[("authorization", &format!("Basic {encoded}"))]);
    assert_revocation_ok(
        app.revoke_raw(encode(&[("token", &grant.access_token)]), headers)
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn a_secret_containing_a_colon_works_by_both_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.confidential_client("web:app").await;
    set_secret(&app, "web:app", "pa:ss:wo:rd").await;
    let first = app.grant("web:app").await;
    let second = app.grant("web:app").await;
    assert_revocation_ok(
        app.revoke_basic("web:app", "pa:ss:wo:rd", &[("token", &first.access_token)])
            .await,
    )
    .await;
    let post = [
        ("token", second.access_token.as_str()),
        ("client_id", "web:app"),
        ("client_secret", "pa:ss:wo:rd"),
    ];
    assert_revocation_ok(app.revoke(&post).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn bad_credentials_are_401_and_never_fall_back_to_anonymous(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("web").await;
    let token = grant.access_token.as_str();

    // Over Basic: 401 with the challenge.
    for (id, password) in [
        ("web", "wrong"),
        ("nobody", secret.as_str()),
        ("spa", "anything"),
        ("", "x"),
    ] {
        let headers = assert_oauth_error(
            app.revoke_basic(id, password, &[("token", token)]).await,
            401,
            "invalid_client",
        )
        .await;
        assert_eq!(
            headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some(challenge().as_str()),
            "{id}"
        );
    }
    // In the body: 401 without a challenge.
    for params in [
        vec![
            ("token", token),
            ("client_id", "web"),
            ("client_secret", "wrong"),
        ],
        vec![
            ("token", token),
            ("client_id", "nobody"),
            ("client_secret", "x"),
        ],
        vec![("token", token), ("client_id", "nobody")],
        vec![("token", token), ("client_id", "web")],
        vec![
            ("token", token),
            ("client_id", "spa"),
            ("client_secret", "x"),
        ],
        vec![("token", token), ("client_id", "bad\u{7f}id")],
    ] {
        let headers = assert_oauth_error(app.revoke(&params).await, 401, "invalid_client").await;
        assert!(headers.get("www-authenticate").is_none(), "{params:?}");
    }
    assert_eq!(
        app.db.live_tokens().await,
        2,
        "nothing was revoked by a caller that failed to authenticate"
    );
}

async fn an_unknown_client_and_a_wrong_secret_get_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.confidential_client("web").await;
    let known = app.revoke_basic("web", "wrong", &[("token", "x")]).await;
    let unknown = app.revoke_basic("nobody", "wrong", &[("token", "x")]).await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(
        header(&known, "www-authenticate"),
        header(&unknown, "www-authenticate")
    );
    let (known, unknown) = (
        known.text().await.unwrap_or_default(),
        unknown.text().await.unwrap_or_default(),
    );
    assert_eq!(known, unknown);
}

async fn a_disabled_client_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    app.create_client("spa", ClientKind::Public).await;
    let web = app.grant("web").await;
    let spa = app.grant("spa").await;
    for id in ["web", "spa"] {
        app.disable_client(id).await;
    }
    assert_oauth_error(
        app.revoke_basic("web", &secret, &[("token", &web.access_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    let spa_request = [("token", spa.access_token.as_str()), ("client_id", "spa")];
    assert_oauth_error(app.revoke(&spa_request).await, 401, "invalid_client").await;
    assert_eq!(app.db.live_tokens().await, 4);
}

async fn another_authorization_scheme_is_401_with_a_basic_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let headers = header_map(&[("authorization", "Bearer some-access-token")]);
    let answer = assert_oauth_error(
        app.revoke_raw("token=abc", headers).await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(
        answer.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some(challenge().as_str())
    );
}

async fn malformed_basic_credentials_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let no_colon = base64::engine::general_purpose::STANDARD.encode("web");
    let bad_escape = base64::engine::general_purpose::STANDARD.encode("web:%zz");
    for value in [
        "Basic",
        "Basic ***",
        &format!("Basic {no_colon}"),
        &format!("Basic {bad_escape}"),
    ] {
        let response = app
            .revoke_raw("token=abc", header_map(&[("authorization", value)]))
            .await;
        assert_oauth_error(response, 400, "invalid_request").await;
    }
}

async fn credentials_by_two_methods_or_a_differing_client_id_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("web").await;
    let grant = app.grant("web").await;
    let token = grant.access_token.as_str();
    let both = app
        .revoke_raw(
            encode(&[("token", token), ("client_secret", &secret)]),
            basic_header("web", &secret),
        )
        .await;
    assert_oauth_error(both, 400, "invalid_request").await;
    let differing = app
        .revoke_raw(
            encode(&[("token", token), ("client_id", "other")]),
            basic_header("web", &secret),
        )
        .await;
    assert_oauth_error(differing, 400, "invalid_request").await;
    let orphan_secret = app
        .revoke(&[("token", token), ("client_secret", &secret)])
        .await;
    assert_oauth_error(orphan_secret, 400, "invalid_request").await;
    // The same client_id in the body as in the header is fine.
    let same = app
        .revoke_raw(
            encode(&[("token", token), ("client_id", "web")]),
            basic_header("web", &secret),
        )
        .await;
    assert_revocation_ok(same).await;
}

async fn a_public_client_revokes_with_its_client_id_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await,
    )
    .await;
    let records = app.db.audit_records().await;
    assert_eq!(
        (
            records[0].presenter_kind.as_str(),
            records[0].presenter_client_id.as_deref()
        ),
        ("public", Some("spa"))
    );
}

on_both_backends!(
    a_confidential_client_revokes_with_basic_and_with_post,
    basic_credentials_use_rfc6749_appendix_b_decoding,
    a_secret_containing_a_colon_works_by_both_methods,
    bad_credentials_are_401_and_never_fall_back_to_anonymous,
    an_unknown_client_and_a_wrong_secret_get_the_same_answer,
    a_disabled_client_is_refused,
    another_authorization_scheme_is_401_with_a_basic_challenge,
    malformed_basic_credentials_are_400,
    credentials_by_two_methods_or_a_differing_client_id_are_400,
    a_public_client_revokes_with_its_client_id_alone,
);
