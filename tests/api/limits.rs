//! Abuse control and overload (docs/behaviour.md, Abuse control): the failed-authentication lockout
//! with the default limits, trusted proxies against spoofed forwarding
//! headers, request limits, load shedding and the request time bound.

use std::time::{Duration, Instant};

use rescind::config::{RateLimitSettings, Settings};
use rescind::domain::client::ClientKind;

use crate::helpers::raw;
use crate::helpers::{
    Backend, TestApp, assert_no_store, assert_oauth_error, assert_revocation_ok, header, header_map,
};
use crate::on_both_backends;

/// The shipped limits (test servers turn the lockout off by default).
/// The default budgets over a ten-minute window instead of one minute: a
/// test that makes a hundred argon2 verifications on a loaded machine can
/// take longer than a minute, and the budget would refill meanwhile.
fn default_limits(settings: &mut Settings) {
    settings.rate_limit = RateLimitSettings {
        window: WINDOW,
        ..RateLimitSettings::default()
    };
}

const WINDOW: Duration = Duration::from_secs(600);

/// A Basic-authenticated revocation sent through a proxy that says the
/// client is `forwarded_for`.
async fn revoke_as(
    app: &TestApp,
    secret: &str,
    token: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    let mut headers = crate::helpers::basic_header("web", secret);
    headers.extend(header_map(&[("x-forwarded-for", forwarded_for)]));
    app.revoke_raw(crate::helpers::encode(&[("token", token)]), headers)
        .await
}

async fn assert_locked_out(response: reqwest::Response) {
    assert_no_store(&response);
    let retry_after: u64 = header(&response, "retry-after")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    assert!(
        (1..=WINDOW.as_secs()).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_oauth_error(response, 429, "temporarily_unavailable").await;
}

async fn ten_failed_authentications_lock_the_pair_out_for_the_window(backend: Backend) {
    let app = TestApp::spawn_with(backend, default_limits).await;
    let secret = app.confidential_client("web").await;
    app.create_client("other", ClientKind::Public).await;
    let grant = app.grant("web").await;
    for attempt in 0..10 {
        let response = app
            .revoke_basic("web", "wrong", &[("token", &grant.access_token)])
            .await;
        assert_eq!(response.status().as_u16(), 401, "attempt {attempt}");
    }
    // Locked out: even the right secret waits, and nothing is verified.
    assert_locked_out(
        app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 2);
    // Only that pair: another client from the same address goes on.
    assert_revocation_ok(
        app.revoke(&[("token", &grant.access_token), ("client_id", "other")])
            .await,
    )
    .await;
}

async fn an_address_locked_out_for_secrets_still_revokes_without_one(backend: Backend) {
    let app = TestApp::spawn_with(backend, default_limits).await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, 3).await;
    // 200 wrong secrets over 20 client ids: the address's budget (100) is
    // spent, so it is locked out for secrets.
    for n in 0..200 {
        let id = format!("guess-{}", n % 20);
        let status = app
            .revoke_basic(&id, "wrong", &[("token", "never-issued")])
            .await
            .status()
            .as_u16();
        assert!(status == 401 || status == 429, "attempt {n}: {status}");
    }
    assert_locked_out(
        app.revoke_basic("guess-0", "wrong", &[("token", "never-issued")])
            .await,
    )
    .await;
    // A revocation that needs no secret still goes through: anonymous, and
    // by a public client's id.
    assert_revocation_ok(app.revoke(&[("token", &grants[0].access_token)]).await).await;
    assert_revocation_ok(
        app.revoke(&[("token", &grants[1].refresh_token), ("client_id", "spa")])
            .await,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 2, "two grants revoked");
}

/// A back end whose secret this instance verified lately is no guesser: a
/// lockout of the address it shares (a NAT) does not cut off its logouts.
async fn a_lately_verified_secret_passes_its_addresss_lockout(backend: Backend) {
    let app = TestApp::spawn_with(backend, default_limits).await;
    let secret = app.confidential_client("web").await;
    let grants = app.grants_with_ttl("web", 3600, 2).await;
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &grants[0].access_token)])
            .await,
    )
    .await;
    for n in 0..200 {
        let id = format!("guess-{}", n % 20);
        let response = app
            .revoke_basic(&id, "wrong", &[("token", "never-issued")])
            .await;
        assert!(matches!(response.status().as_u16(), 401 | 429));
    }
    assert_locked_out(
        app.revoke_basic("guess-0", "wrong", &[("token", "never-issued")])
            .await,
    )
    .await;
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &grants[1].access_token)])
            .await,
    )
    .await;
    // A wrong secret for that same client is still a guess, and refused.
    assert_locked_out(
        app.revoke_basic("web", "wrong", &[("token", "never-issued")])
            .await,
    )
    .await;
}

async fn successful_revocations_are_not_limited_by_default(backend: Backend) {
    let app = TestApp::spawn_with(backend, default_limits).await;
    let secret = app.confidential_client("web").await;
    for grant in app.grants_with_ttl("web", 3600, 60).await {
        assert_revocation_ok(
            app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
                .await,
        )
        .await;
    }
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn a_trusted_proxy_names_the_client_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        default_limits(settings);
        settings.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let secret = app.confidential_client("web").await;
    let grant = app.grant("web").await;
    for _ in 0..10 {
        let response = revoke_as(&app, "wrong", &grant.access_token, "203.0.113.1").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_locked_out(revoke_as(&app, &secret, &grant.access_token, "203.0.113.1").await).await;
    // Another client behind the same proxy is another address.
    assert_revocation_ok(revoke_as(&app, &secret, &grant.access_token, "203.0.113.2").await).await;
}

async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = TestApp::spawn_with(backend, default_limits).await;
    let secret = app.confidential_client("web").await;
    let grant = app.grant("web").await;
    for n in 0..10 {
        // Each attempt claims a fresh address; none is believed.
        let spoofed = format!("198.51.100.{n}");
        let response = revoke_as(&app, "wrong", &grant.access_token, &spoofed).await;
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_locked_out(revoke_as(&app, &secret, &grant.access_token, "198.51.100.77").await).await;
    assert_eq!(app.db.live_tokens().await, 2);
}

async fn a_configured_request_limit_answers_429_past_its_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.rate_limit.requests_per_address = 3;
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, 4).await;
    for grant in &grants[..3] {
        assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    }
    assert_locked_out(app.revoke(&[("token", &grants[3].access_token)]).await).await;
    assert_eq!(
        app.db.live_grants().await,
        1,
        "the refused request revoked nothing"
    );
}

/// A request whose body never finishes holds its slot until the body timeout.
fn stalled_request(app: &TestApp) -> Vec<u8> {
    format!(
        "POST {}/oauth2/revoke HTTP/1.1\r\nhost: localhost\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ntoken=",
        app.settings.issuer_path()
    )
    .into_bytes()
}

async fn past_the_concurrency_limit_requests_are_shed_with_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.max_concurrent_requests = 1;
        settings.server.body_timeout = Duration::from_secs(2);
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let (address, request) = (app.address, stalled_request(&app));
    let stalled = tokio::spawn(async move { raw::send(address, &request).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let shed = app.revoke(&[("token", &grant.access_token)]).await;
    assert!(started.elapsed() < Duration::from_secs(1), "shed at once");
    assert_eq!(header(&shed, "retry-after"), Some("5"));
    assert_oauth_error(shed, 503, "temporarily_unavailable").await;
    let stalled = stalled.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stalled.status, 408,
        "the stalled request ends at its body timeout"
    );
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
}

async fn a_request_longer_than_the_request_timeout_gets_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.request_timeout = Duration::from_secs(1);
        settings.server.body_timeout = Duration::from_secs(10);
    })
    .await;
    let started = Instant::now();
    let answer = raw::send(app.address, &stalled_request(&app)).await;
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

/// The address in the access log is the one limits count: the forwarded one
/// from a trusted proxy, the peer otherwise.
async fn the_access_log_shows_the_resolved_client_address(backend: Backend) {
    use crate::helpers::child::{ChildServer, Logs};
    let app = TestApp::spawn(backend).await;
    let forwarded = header_map(&[
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
    ]);
    for (trusted, expected_ip) in [(true, "203.0.113.7"), (false, "127.0.0.1")] {
        let env: &[(&str, &str)] = if trusted {
            &[("RESCIND_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]")]
        } else {
            &[]
        };
        let server = ChildServer::start_with(&app, Logs::Captured("info"), env).await;
        let status = server
            .post(
                "/oauth2/revoke",
                "token=unknown".to_owned(),
                forwarded.clone(),
            )
            .await;
        assert_eq!(status, 200);
        let logs = server.stop();
        let line = logs
            .lines()
            .find(|line| line.contains("request finished") && line.contains("/oauth2/revoke"))
            .unwrap_or_else(|| panic!("no access log line in:\n{logs}"));
        assert!(line.contains(&format!("client_ip={expected_ip}")), "{line}");
        assert_eq!(line.contains("203.0.113.7"), trusted, "{line}");
        assert_eq!(
            line.contains("forwarded_proto=\"https\""),
            trusted,
            "{line}"
        );
    }
}

on_both_backends!(
    a_lately_verified_secret_passes_its_addresss_lockout,
    an_address_locked_out_for_secrets_still_revokes_without_one,
    the_access_log_shows_the_resolved_client_address,
    ten_failed_authentications_lock_the_pair_out_for_the_window,
    successful_revocations_are_not_limited_by_default,
    a_trusted_proxy_names_the_client_address,
    a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored,
    a_configured_request_limit_answers_429_past_its_budget,
    past_the_concurrency_limit_requests_are_shed_with_503,
    a_request_longer_than_the_request_timeout_gets_503,
);
