//! What `/metrics` (no token needed) may show: labels from closed sets only,
//! so a caller can neither add series nor learn whether a client id exists.

use reqwest::Method;

use crate::helpers::{Backend, TestApp, assert_oauth_error, with_admin};
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

on_both_backends!(
    invented_methods_add_no_series,
    metrics_do_not_tell_an_unknown_client_from_a_wrong_secret,
);
