//! Timing (docs/reliability.md): what a caller cannot learn from how long an answer took.
//! Requests of the two kinds alternate one at a time on one server, so drift
//! hits both; each pair is compared with the Mann-Whitney U test and the
//! medians are printed (`-- --nocapture`).
//!
//! The suite runs a small sample (`TIMING_SAMPLES`, 40 and 10 times that for
//! the fast pair by default) and fails only on a gross difference (medians
//! more than 25 % apart *and* p < 0.001): what a leak such as skipping the
//! argon2 verification for unknown clients produces (a test of that mutation
//! fails), never what scheduling noise does. The figures in
//! docs/reliability.md come from a larger run:
//! `TIMING_SAMPLES=400 ./tests/run --test api timing -- --nocapture`.

use std::time::Instant;

use rescind::domain::client::ClientKind;
use rescind::domain::revocation::ForeignPolicy;

use crate::helpers::stats::{Comparison, mann_whitney};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

fn samples(scale: usize) -> usize {
    std::env::var("TIMING_SAMPLES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(40)
        * scale
}

/// Times `a` and `b` alternately, `n` of each, after a warm-up of both.
async fn alternate<A, B, FA, FB>(n: usize, a: A, b: B) -> (Vec<f64>, Vec<f64>)
where
    A: Fn() -> FA,
    B: Fn() -> FB,
    FA: std::future::Future<Output = u16>,
    FB: std::future::Future<Output = u16>,
{
    for _ in 0..5 {
        a().await;
        b().await;
    }
    let (mut times_a, mut times_b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let started = Instant::now();
        a().await;
        times_a.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        b().await;
        times_b.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (times_a, times_b)
}

/// Times revocations of `first` and `second` alternately, presented by
/// `client_id` (anonymous when `None`), and judges them.
async fn compare_tokens(
    app: &TestApp,
    what: &str,
    client_id: Option<&str>,
    first: &str,
    second: &str,
) {
    let revoke = |token: &str| {
        let mut params = vec![("token", token.to_owned())];
        if let Some(id) = client_id {
            params.push(("client_id", id.to_owned()));
        }
        async move {
            let params: Vec<(&str, &str)> = params
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            app.revoke(&params).await.status().as_u16()
        }
    };
    let (a, b) = alternate(samples(10), || revoke(first), || revoke(second)).await;
    judge(what, &mann_whitney(&a, &b));
}

fn judge(what: &str, comparison: &Comparison) {
    eprintln!("timing: {what}: {comparison}");
    assert!(
        comparison.relative_median_difference() < 0.25 || comparison.p >= 0.001,
        "{what} can be told apart by timing: {comparison}"
    );
}

async fn an_unknown_client_and_a_wrong_secret_take_the_same_time(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.auth.argon2_concurrency = Some(1);
    })
    .await;
    app.confidential_client("web").await;
    let grant = app.grant("web").await;
    let token = [("token", grant.access_token.as_str())];
    let (unknown, wrong) = alternate(
        samples(1),
        || async {
            let response = app
                .revoke_basic("nobody", "some-secret-value", &token)
                .await;
            response.status().as_u16()
        },
        || async {
            let response = app.revoke_basic("web", "some-secret-value", &token).await;
            response.status().as_u16()
        },
    )
    .await;
    judge(
        "unknown client vs known client with a wrong secret",
        &mann_whitney(&unknown, &wrong),
    );
    assert_eq!(app.db.live_tokens().await, 2, "nothing was revoked");
}

async fn under_foreign_reject_unknown_and_foreign_tokens_take_the_same_time(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.policy.foreign = ForeignPolicy::Reject;
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    app.create_client("other", ClientKind::Public).await;
    let foreign = app.grant("other").await;
    let unknown_token = format!("{}x", foreign.access_token);
    // The answers differ anyway (200 and 401, docs/behaviour.md, Policies): timing can only add
    // what the status already says.
    compare_tokens(
        &app,
        "unknown token vs another client's live token (policy.foreign = reject)",
        Some("spa"),
        &unknown_token,
        &foreign.access_token,
    )
    .await;
    assert_eq!(app.db.live_tokens().await, 2, "nothing was revoked");

    // Where the answers are the same (200), timing must not tell a token
    // that existed from one that never did.
    let revoked = app.grant("other").await;
    let params = [("token", revoked.refresh_token.as_str())];
    assert_eq!(app.revoke(&params).await.status().as_u16(), 200);
    compare_tokens(
        &app,
        "unknown token vs another client's revoked token (policy.foreign = reject, both 200)",
        Some("spa"),
        &unknown_token,
        &revoked.access_token,
    )
    .await;
}

/// docs/behaviour.md, Policies: no timing difference the server can avoid tells an anonymous
/// caller whether a token exists. An already revoked token and an unknown one
/// both answer 200 without a write; what remains is the database finding the
/// row (docs/reliability.md has the figures).
async fn an_anonymous_caller_cannot_tell_a_revoked_token_from_an_unknown_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let revoked = app.grant("spa").await;
    let params = [("token", revoked.refresh_token.as_str())];
    assert_eq!(app.revoke(&params).await.status().as_u16(), 200);
    let unknown_token = format!("{}x", revoked.access_token);
    compare_tokens(
        &app,
        "anonymous: unknown token vs revoked token (both 200)",
        None,
        &unknown_token,
        &revoked.access_token,
    )
    .await;
    assert_eq!(
        app.db.audit_records().await.len(),
        1,
        "nothing more was written"
    );
}

/// POSTs `token` to the introspection endpoint with Basic credentials.
async fn introspect_basic(app: &TestApp, id: &str, secret: &str, token: &str) -> u16 {
    app.http
        .post(app.url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .headers(crate::helpers::basic_header(id, secret))
        .body(crate::helpers::encode(&[("token", token)]))
        .send()
        .await
        .map_or(0, |response| response.status().as_u16())
}

async fn at_introspection_a_right_secret_without_the_right_takes_a_wrong_secrets_time(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.auth.argon2_concurrency = Some(1);
    })
    .await;
    let secret = app.confidential_client("web").await;
    let grant = app.grant("web").await;
    let token = grant.access_token.as_str();
    let (right, wrong) = alternate(
        samples(1),
        || async {
            let status = introspect_basic(&app, "web", &secret, token).await;
            assert_eq!(status, 401, "web is not a resource server");
            status
        },
        || async { introspect_basic(&app, "web", "some-secret-value", token).await },
    )
    .await;
    judge(
        "introspection by a client that is no resource server: right vs wrong secret",
        &mann_whitney(&right, &wrong),
    );
}

/// A Shared Signals call without a credential, with a wrong one (a real
/// credential with its last character changed) and with an unknown one:
/// one hash and one indexed read each.
async fn missing_wrong_and_unknown_receiver_credentials_take_the_same_time(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.ssf.enabled = true;
        settings.ssf.algorithm = rescind::signing::SigningAlgorithm::Es256;
    })
    .await;
    let credential = app.ssf_receiver("rp").await;
    let mut wrong = credential.clone();
    let last = if wrong.pop() == Some('A') { 'B' } else { 'A' };
    wrong.push(last);
    let call = |presented: Option<&str>| {
        let mut request = app.http.get(app.url("/ssf/streams"));
        if let Some(presented) = presented {
            request = request.bearer_auth(presented);
        }
        async move {
            let status = request.send().await.map(|r| r.status().as_u16());
            status.unwrap_or_default()
        }
    };
    let unknown = "an-unknown-receiver-credential-of-43-chars-";
    let (a, b) = alternate(samples(10), || call(Some(&wrong)), || call(Some(unknown))).await;
    judge(
        "wrong vs unknown receiver credential",
        &mann_whitney(&a, &b),
    );
    let (a, b) = alternate(samples(10), || call(Some(&wrong)), || call(None)).await;
    judge(
        "wrong vs missing receiver credential",
        &mann_whitney(&a, &b),
    );
}

on_both_backends!(
    missing_wrong_and_unknown_receiver_credentials_take_the_same_time,
    at_introspection_a_right_secret_without_the_right_takes_a_wrong_secrets_time,
    an_anonymous_caller_cannot_tell_a_revoked_token_from_an_unknown_one,
    an_unknown_client_and_a_wrong_secret_take_the_same_time,
    under_foreign_reject_unknown_and_foreign_tokens_take_the_same_time,
);
