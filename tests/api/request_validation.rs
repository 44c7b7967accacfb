//! Request parsing in the order of docs/behaviour.md, Revocation: method → content type → body size →
//! form parsing → client authentication → token lookup.

use rescind::domain::client::ClientKind;

use crate::helpers::{
    Backend, TestApp, assert_no_store, assert_oauth_error, assert_revocation_ok, encode, header,
    header_map, raw,
};
use crate::on_both_backends;

async fn other_methods_get_405_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for method in ["GET", "PUT", "DELETE", "PATCH", "HEAD"] {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let response = app
            .http
            .request(method.clone(), app.url("/oauth2/revoke"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 405, "{method}");
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        assert_no_store(&response);
        if method != reqwest::Method::HEAD {
            assert_oauth_error(response, 405, "invalid_request").await;
        }
    }
}

async fn a_body_that_is_not_form_encoded_is_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencodedx"),
    ] {
        let mut request = app.http.post(app.url("/oauth2/revoke")).body("token=abc");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_oauth_error(response, 400, "invalid_request").await;
    }
    for accepted in [
        "application/x-www-form-urlencoded;charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded; charset=\"utf-8\"",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
    ] {
        let response = app
            .http
            .post(app.url("/oauth2/revoke"))
            .header("content-type", accepted)
            .body("token=abc")
            .send()
            .await;
        assert_revocation_ok(response.unwrap_or_else(|e| panic!("{e}"))).await;
    }
}

async fn a_body_over_the_limit_is_413_and_exactly_the_limit_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let limit = app.settings.server.body_limit;
    let padded = |size: usize| {
        let prefix = "token=abc&pad=";
        format!("{prefix}{}", "a".repeat(size - prefix.len()))
    };
    assert_revocation_ok(app.revoke_raw(padded(limit), header_map(&[])).await).await;
    assert_oauth_error(
        app.revoke_raw(padded(limit + 1), header_map(&[])).await,
        413,
        "invalid_request",
    )
    .await;

    // Chunked bodies count the same: no Content-Length to refuse early.
    for (size, status) in [(limit, 200), (limit + 1, 413)] {
        let body = padded(size);
        let (first, second) = body.split_at(size / 2);
        let request = format!(
            "POST /oauth2/revoke HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
            first.len(),
            second.len()
        );
        let answer = raw::send(app.address, request.as_bytes()).await;
        assert_eq!(answer.status, status, "chunked body of {size} bytes");
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        if status == 413 {
            assert!(
                answer.body.contains("\"invalid_request\""),
                "{}",
                answer.body
            );
        }
    }
}

async fn a_parameter_given_twice_is_400_even_when_one_copy_is_empty(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let token = &grant.access_token;
    for body in [
        format!("token={token}&token={token}"),
        format!("token={token}&token="),
        format!("token=&token={token}"),
        format!("token={token}&client_id=spa&client_id=spa"),
        format!("token={token}&token_type_hint=access_token&token_type_hint="),
        format!("token={token}&client_id=spa&client_secret=a&client_secret=b"),
    ] {
        assert_oauth_error(
            app.revoke_raw(body, header_map(&[])).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_eq!(
        app.db.live_tokens().await,
        2,
        "bad input loses nothing and revokes nothing"
    );
}

async fn an_empty_or_missing_token_is_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in [
        "",
        "token=",
        "token",
        "token_type_hint=access_token",
        "client_id=&token=",
    ] {
        assert_oauth_error(
            app.revoke_raw(body, header_map(&[])).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

async fn a_malformed_form_body_is_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in ["token=%zz", "token=abc%", "token=%C3%28", "to%ken=abc"] {
        assert_oauth_error(
            app.revoke_raw(body, header_map(&[])).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

async fn oauth_parameters_in_the_query_string_are_400_and_others_are_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    for query in [
        "token=abc",
        "client_id=spa",
        "client_secret=s",
        "token_type_hint=access_token",
        "token",
    ] {
        let response = app
            .http
            .post(app.url(&format!("/oauth2/revoke?{query}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[("token", &grant.access_token)]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_oauth_error(response, 400, "invalid_request").await;
    }
    assert_eq!(app.db.live_tokens().await, 2);
    let response = app
        .http
        .post(app.url("/oauth2/revoke?tenant=eu&trace=1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("token", &grant.access_token)]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_revocation_ok(response).await;
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn unknown_parameters_are_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let params = [
        ("foo", "1"),
        ("token", grant.access_token.as_str()),
        ("foo", "2"),
        ("client_id", "spa"),
        ("bar", ""),
    ];
    assert_revocation_ok(app.revoke(&params).await).await;
    assert_eq!(app.db.live_tokens().await, 0);
}

async fn checks_run_in_the_specified_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Wrong content type and too large: the content type answers first.
    let big = "a".repeat(app.settings.server.body_limit + 10);
    let response = app
        .http
        .post(app.url("/oauth2/revoke"))
        .header("content-type", "text/plain")
        .body(big.clone())
        .send()
        .await;
    assert_oauth_error(
        response.unwrap_or_else(|e| panic!("{e}")),
        400,
        "invalid_request",
    )
    .await;
    // Too large with bad credentials: the size answers before authentication.
    let oversized = app
        .revoke_raw(
            format!("token=x&client_id=nobody&pad={big}"),
            header_map(&[]),
        )
        .await;
    assert_oauth_error(oversized, 413, "invalid_request").await;
    // Duplicate parameter with bad credentials: form parsing answers first.
    let duplicate = app
        .revoke_raw(
            "token=a&token=b&client_id=nobody&client_secret=x",
            header_map(&[]),
        )
        .await;
    assert_oauth_error(duplicate, 400, "invalid_request").await;
    // Bad credentials and an unknown token: authentication answers (401).
    let unauthenticated = app
        .revoke(&[
            ("token", "unknown"),
            ("client_id", "nobody"),
            ("client_secret", "x"),
        ])
        .await;
    assert_oauth_error(unauthenticated, 401, "invalid_client").await;
}

async fn no_answer_echoes_the_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = "rat_secretvalueXXXXXXXXXXXXXXXXXXXXXXXX_AAAAAA";
    for body in [
        format!("token={token}&token={token}"),
        format!("token={token}&client_id=nobody"),
        format!("token={token}"),
    ] {
        let response = app.revoke_raw(body, header_map(&[])).await;
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap_or_default();
        assert!(
            !text.contains("secretvalue") && !headers.contains("secretvalue"),
            "{text} {headers}"
        );
    }
}

async fn a_body_that_never_arrives_is_cut_off_after_the_body_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.server.body_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let started = std::time::Instant::now();
    let request = "POST /oauth2/revoke HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                   Content-Length: 100\r\n\r\ntoken=abc";
    let answer = raw::send(app.address, request.as_bytes()).await;
    assert_eq!(answer.status, 408);
    assert!(
        answer.body.contains("\"invalid_request\""),
        "{}",
        answer.body
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

on_both_backends!(
    a_body_that_never_arrives_is_cut_off_after_the_body_timeout,
    other_methods_get_405_with_allow,
    a_body_that_is_not_form_encoded_is_400,
    a_body_over_the_limit_is_413_and_exactly_the_limit_is_accepted,
    a_parameter_given_twice_is_400_even_when_one_copy_is_empty,
    an_empty_or_missing_token_is_400,
    a_malformed_form_body_is_400,
    oauth_parameters_in_the_query_string_are_400_and_others_are_ignored,
    unknown_parameters_are_ignored,
    checks_run_in_the_specified_order,
    no_answer_echoes_the_token,
);
