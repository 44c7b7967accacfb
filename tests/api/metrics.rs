//! What `/metrics` (no token needed) may show: labels from closed sets only,
//! so a caller can neither add series nor learn whether a client id exists.

use reqwest::Method;
use rescind::domain::client::ClientKind;

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, assert_revocation_ok, basic_header, with_admin,
};
use crate::introspection::{answer, introspect};
use crate::on_both_backends;

/// Sends `count` requests with invented methods, each a new one, to a route
/// and to a path no route matches.
async fn invent_methods(app: &TestApp, first: usize, count: usize) {
    for n in first..first + count {
        let method =
            Method::from_bytes(format!("BREW{n}").as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        for path in ["/oauth2/revoke", &format!("/no-such-path-{n}")] {
            let response = app
                .http
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(response.status().is_client_error(), "{path}");
        }
    }
}

async fn invented_methods_add_no_series(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    invent_methods(&app, 0, 1).await;
    // The follower's outbox lag appears after its first read of the outbox:
    // wait for it, so that only the requests below could add lines.
    let started = std::time::Instant::now();
    while !app.metrics().await.contains("consumer=\"follower\"") {
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Twice: the first scrape is counted after it answered.
    app.metrics().await;
    let before = app.metrics().await;
    invent_methods(&app, 1, 40).await;
    let after = app.metrics().await;
    assert_eq!(
        before.lines().count(),
        after.lines().count(),
        "40 new methods added lines:\n{after}"
    );
    assert!(!after.contains("BREW"), "{after}");
    assert!(
        after.contains("route=\"/oauth2/revoke\",method=\"other\",status=\"405\"} 41"),
        "{after}"
    );
    assert!(
        after.contains("route=\"unmatched\",method=\"other\",status=\"404\"} 41"),
        "{after}"
    );
}

/// The public revocation endpoint answers an unknown client and a wrong
/// secret alike; `/metrics`, which needs no token, must not tell them apart
/// either (nor a disabled client, or one using another method).
async fn metrics_do_not_tell_an_unknown_client_from_a_wrong_secret(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.confidential_client("web").await;
    app.confidential_client("off").await;
    app.disable_client("off").await;
    let failures = |count: u32| {
        format!("rescind_client_auth_failures_total{{reason=\"invalid_credentials\"}} {count}")
    };
    let mut expected = 0;
    for (id, secret) in [("nobody", "s3cret"), ("web", "wrong"), ("off", "wrong")] {
        assert_oauth_error(
            app.revoke_basic(id, secret, &[("token", "anything")]).await,
            401,
            "invalid_client",
        )
        .await;
        expected += 1;
        let text = app.metrics().await;
        assert!(text.contains(&failures(expected)), "{id}:\n{text}");
        for telling in ["unknown_client", "wrong_secret", "disabled", "wrong_method"] {
            assert!(!text.contains(telling), "{telling} shown:\n{text}");
        }
    }
}

/// The value of the one sample of `series` (name and labels) in `text`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// PostgreSQL's batches are counted by kind: every revocation and every
/// introspection lookup goes through a batch statement, so the requests
/// carried are exactly those sent, in at least one statement and at most
/// one each. SQLite batches nothing and shows zeros.
async fn batches_are_counted_where_requests_are_batched(backend: Backend) {
    const REVOCATIONS: usize = 12;
    const LOOKUPS: usize = 5;
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    let secret = app.resource_server("resource-server").await;
    let grants = app.grants_with_ttl("spa", 3600, REVOCATIONS).await;
    for grant in grants.iter().take(LOOKUPS) {
        let basic = basic_header("resource-server", &secret);
        let answered =
            answer(introspect(&app, &[("token", &grant.access_token)], basic).await).await;
        assert_eq!(answered["active"], true);
    }
    let revocations = grants.iter().map(|grant| async {
        app.revoke(&[("token", &grant.access_token), ("client_id", "spa")])
            .await
    });
    for response in futures_util::future::join_all(revocations).await {
        assert_revocation_ok(response).await;
    }
    let text = app.metrics().await;
    let counted = |name: &str, kind: &str| sample(&text, &format!("{name}{{kind=\"{kind}\"}}"));
    match backend {
        Backend::Postgres => {
            for (kind, sent) in [("revocation", REVOCATIONS), ("introspection", LOOKUPS)] {
                let sent = u64::try_from(sent).unwrap_or(u64::MAX);
                let requests = counted("rescind_db_batched_requests_total", kind);
                let statements = counted("rescind_db_batch_statements_total", kind);
                assert_eq!(requests, Some(sent), "{kind}:\n{text}");
                assert!(
                    statements.is_some_and(|n| (1..=sent).contains(&n)),
                    "{kind}:\n{text}"
                );
            }
        }
        Backend::Sqlite => {
            for kind in ["revocation", "introspection"] {
                for name in [
                    "rescind_db_batch_statements_total",
                    "rescind_db_batched_requests_total",
                ] {
                    assert_eq!(counted(name, kind), Some(0), "{name} {kind}:\n{text}");
                }
            }
        }
    }
}

on_both_backends!(
    invented_methods_add_no_series,
    metrics_do_not_tell_an_unknown_client_from_a_wrong_secret,
    batches_are_counted_where_requests_are_batched,
);
