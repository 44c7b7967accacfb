//! Hostile requests (docs/reliability.md): each gets a bounded, well-formed answer, and
//! the server stays up and keeps answering afterwards. Sent as raw bytes,
//! since a client library would refuse to send most of them.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::raw;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

/// A POST to the revocation endpoint with `body` as is.
fn post(body: &[u8]) -> Vec<u8> {
    post_to("/oauth2/revoke", body)
}

/// A form POST to `path` with `body` as is.
fn post_to(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// One hostile request and the answers that are acceptable for it.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    expected: &'static [u16],
}

fn cases() -> Vec<Case> {
    let ten_thousand_parameters = "p=1&".repeat(10_000);
    let repeated_key = "token=a&".repeat(1_000);
    let megabyte_token = format!("token={}", "A".repeat(1 << 20));
    vec![
        Case {
            name: "a declared body of a gigabyte",
            request: b"POST /oauth2/revoke HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 1000000000\r\n\r\ntoken=x"
                .to_vec(),
            expected: &[413],
        },
        Case {
            name: "a one-megabyte token",
            request: post(megabyte_token.as_bytes()),
            expected: &[413],
        },
        Case {
            name: "ten thousand parameters",
            request: post(ten_thousand_parameters.as_bytes()),
            expected: &[413],
        },
        Case {
            name: "the token key a thousand times",
            request: post(repeated_key.as_bytes()),
            expected: &[400],
        },
        Case {
            name: "invalid UTF-8 in the body",
            request: post(b"token=\xff\xfe\xfd"),
            expected: &[400],
        },
        Case {
            name: "an escaped invalid UTF-8 sequence",
            request: post(b"token=%ff%fe"),
            expected: &[400],
        },
        // A NUL is a character like any other in a token nobody issued.
        Case {
            name: "a raw NUL byte in the body",
            request: post(b"token=ab\0cd"),
            expected: &[200],
        },
        Case {
            name: "an escaped NUL byte in the token",
            request: post(b"token=ab%00cd"),
            expected: &[200],
        },
        Case {
            name: "a broken percent escape",
            request: post(b"token=%zz"),
            expected: &[400],
        },
        // Within hyper's head buffer: served. Past it: 431, connection closed.
        Case {
            name: "a header of 64 KiB",
            request: format!(
                "POST /oauth2/revoke HTTP/1.1\r\nHost: localhost\r\nX-Filler: {}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\ntoken=x",
                "f".repeat(64 * 1024)
            )
            .into_bytes(),
            expected: &[200],
        },
        Case {
            name: "a header of 1 MiB",
            request: format!(
                "GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Filler: {}\r\n\r\n",
                "f".repeat(1 << 20)
            )
            .into_bytes(),
            expected: &[431],
        },
        Case {
            name: "HTTP/1.0 without Host",
            request: b"POST /oauth2/revoke HTTP/1.0\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\ntoken=x"
                .to_vec(),
            expected: &[200],
        },
        Case {
            name: "a request line of garbage",
            request: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
            expected: &[400],
        },
    ]
}

/// Hostile requests to the back-channel logout endpoint: none revokes or
/// remembers anything.
fn logout_cases() -> Vec<Case> {
    let logout = |body: &[u8]| post_to("/oauth2/backchannel-logout", body);
    let huge_header = format!("{}.e30.c2ln", "e".repeat(12 * 1024));
    let many_dots = format!("logout_token={}", ".".repeat(10_000));
    vec![
        Case {
            name: "logout: a declared body of a gigabyte",
            request: b"POST /oauth2/backchannel-logout HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 1000000000\r\n\r\nlogout_token=x"
                .to_vec(),
            expected: &[413],
        },
        Case {
            name: "logout: a one-megabyte token",
            request: logout(format!("logout_token={}", "A".repeat(1 << 20)).as_bytes()),
            expected: &[413],
        },
        Case {
            name: "logout: the key a thousand times",
            request: logout("logout_token=a&".repeat(1_000).as_bytes()),
            expected: &[400],
        },
        Case {
            name: "logout: invalid UTF-8",
            request: logout(b"logout_token=\xff\xfe\xfd"),
            expected: &[400],
        },
        Case {
            name: "logout: a broken percent escape",
            request: logout(b"logout_token=%zz"),
            expected: &[400],
        },
        Case {
            name: "logout: a NUL byte in the token",
            request: logout(b"logout_token=a%00b.c.d"),
            expected: &[400],
        },
        Case {
            name: "logout: a 12 KiB header segment that is no JSON",
            request: logout(format!("logout_token={huge_header}").as_bytes()),
            expected: &[400],
        },
        Case {
            name: "logout: ten thousand dots",
            request: logout(many_dots.as_bytes()),
            expected: &[400],
        },
    ]
}

/// Whether the server still answers a plain request.
async fn still_up(app: &TestApp) -> bool {
    let answer = raw::send(
        app.address,
        b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    answer.status == 200
}

async fn every_hostile_request_gets_a_bounded_well_formed_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_each_bounded(&app, cases()).await;
    assert_eq!(
        app.db.live_tokens().await,
        0,
        "nothing was stored by any of them"
    );
}

async fn every_hostile_logout_request_gets_a_bounded_well_formed_answer(backend: Backend) {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    crate::logout::sign(folder.path(), &[]);
    let app = TestApp::spawn_with(backend, crate::logout::with_upstream(folder.path())).await;
    assert_each_bounded(&app, logout_cases()).await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM logout_tokens_seen")
            .await,
        0,
        "nothing was remembered"
    );
}

/// Sends each case: an expected answer, within 15 s, the server up after.
async fn assert_each_bounded(app: &TestApp, cases: Vec<Case>) {
    for case in cases {
        let started = Instant::now();
        let answer = raw::send(app.address, &case.request).await;
        assert!(
            case.expected.contains(&answer.status),
            "{}: answered {} (expected one of {:?}); body {:?}",
            case.name,
            answer.status,
            case.expected,
            answer.body.chars().take(200).collect::<String>()
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{}: took {:?}",
            case.name,
            started.elapsed()
        );
        assert!(
            still_up(app).await,
            "{}: the server stopped answering",
            case.name
        );
    }
}

/// Two requests in one write: two answers, in order, on one connection.
async fn pipelined_requests_are_answered_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut requests = post(b"token=first");
    requests.extend_from_slice(
        b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let mut stream = TcpStream::connect(app.address)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    stream
        .write_all(&requests)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answers))
        .await
        .unwrap_or_else(|_| panic!("the connection was not closed after the second answer"))
        .unwrap_or_else(|e| panic!("read: {e}"));
    let text = String::from_utf8_lossy(&answers);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &text[at + 9..at + 12])
        .collect();
    assert_eq!(statuses, ["200", "200"], "{text}");
    assert!(
        text.contains("\"issuer\""),
        "the second answer is the metadata"
    );
}

/// Slowloris: a request head that never ends is cut off by the server's
/// header timeout (10 s), not held open for ever. HTTP-level, so one backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_is_cut_off() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut stream = TcpStream::connect(app.address)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    stream
        .write_all(b"POST /oauth2/revoke HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let started = Instant::now();
    let mut rest = Vec::new();
    // A byte now and then, as a slowloris does, until the server hangs up.
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if stream.write_all(b"a").await.is_err() {
                return;
            }
            let mut buffer = [0_u8; 1024];
            match tokio::time::timeout(Duration::from_millis(10), stream.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(n)) => rest.extend_from_slice(&buffer[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open after 20 s");
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(15)).contains(&elapsed),
        "cut off after {elapsed:?}, expected about 10 s"
    );
    assert!(still_up(&app).await);
}

/// A request to a Shared Signals endpoint, authenticated with `credential`
/// when given, with `body` as is.
fn ssf_request(line: &str, credential: Option<&str>, headers: &str, body: &[u8]) -> Vec<u8> {
    let authorization = credential
        .map(|credential| format!("Authorization: Bearer {credential}\r\n"))
        .unwrap_or_default();
    let mut request = format!(
        "{line} HTTP/1.1\r\nHost: localhost\r\n{authorization}{headers}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A server with the transmitter on, a receiver and its stream: the
/// credential and the request line of the stream's poll endpoint.
async fn ssf_app(backend: Backend) -> (TestApp, String, String) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.ssf.enabled = true;
        settings.ssf.algorithm = rescind::signing::SigningAlgorithm::Es256;
    })
    .await;
    let credential = app.ssf_receiver("rp").await;
    let created = app
        .http
        .post(app.url("/ssf/streams"))
        .bearer_auth(&credential)
        .json(&serde_json::json!({"events_requested": []}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stream: serde_json::Value = created.json().await.unwrap_or_default();
    let poll = format!(
        "POST /ssf/poll/{}",
        stream["stream_id"].as_str().unwrap_or_default()
    );
    (app, credential, poll)
}

/// The Shared Signals endpoints under hostile requests: each a bounded,
/// well-formed answer, and an unauthenticated body is never read.
/// Push stream requests whose endpoint or authorization header is hostile.
fn push_cases(credential: &str) -> Vec<(&'static str, Vec<u8>, &'static [u16])> {
    vec![
        (
            "a push endpoint of ten thousand characters",
            ssf_request(
                "POST /ssf/streams",
                Some(credential),
                "",
                format!(
                    r#"{{"delivery": {{"method": "urn:ietf:rfc:8935", "endpoint_url": "https://x.example/{}"}}}}"#,
                    "a".repeat(10_000)
                )
                .as_bytes(),
            ),
            &[400],
        ),
        (
            "a push authorization header with a line break",
            ssf_request(
                "POST /ssf/streams",
                Some(credential),
                "",
                br#"{"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/x", "authorization_header": "Bearer a\r\nX-Injected: 1"}}"#,
            ),
            &[400],
        ),
    ]
}

async fn hostile_shared_signals_requests_get_bounded_answers(backend: Backend) {
    let (app, credential, poll) = ssf_app(backend).await;
    let credential = credential.as_str();
    let nested = "[".repeat(10_000);
    let megabyte = format!("{{\"ack\": [\"{}\"]}}", "a".repeat(1 << 20));
    let long_path = format!("POST /ssf/poll/{}", "x".repeat(6000));
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "a declared gigabyte, authenticated",
            b"POST /ssf/streams HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                .iter()
                .chain(credential.as_bytes())
                .chain(b"\r\nContent-Length: 1000000000\r\n\r\n{}")
                .copied()
                .collect(),
            &[413],
        ),
        (
            "a declared gigabyte, unauthenticated",
            b"POST /ssf/streams HTTP/1.1\r\nHost: localhost\r\n\
              Content-Length: 1000000000\r\n\r\n{}"
                .to_vec(),
            &[401],
        ),
        (
            "a megabyte of ack",
            ssf_request(&poll, Some(credential), "", megabyte.as_bytes()),
            &[413],
        ),
        (
            "JSON nested ten thousand deep",
            ssf_request(&poll, Some(credential), "", nested.as_bytes()),
            &[400],
        ),
        (
            "a body that is not UTF-8",
            ssf_request(&poll, Some(credential), "", b"{\"ack\": [\"\xff\xfe\"]}"),
            &[400],
        ),
        (
            "two Authorization headers",
            ssf_request(
                &poll,
                Some(credential),
                "Authorization: Bearer other\r\n",
                b"{}",
            ),
            &[401],
        ),
        (
            "a stream id of six thousand characters",
            ssf_request(&long_path, Some(credential), "", b"{}"),
            &[404, 414, 431],
        ),
        (
            "a stream id that is not ASCII",
            ssf_request("POST /ssf/poll/%C3%A9%00", Some(credential), "", b"{}"),
            &[404, 400],
        ),
        (
            "a query string on the status endpoint with unknown parameters",
            ssf_request(
                "GET /ssf/status?stream_id=a&stream_id=b&x=1",
                Some(credential),
                "",
                b"",
            ),
            &[400],
        ),
    ];
    for (name, request, expected) in cases.into_iter().chain(push_cases(credential)) {
        let started = Instant::now();
        let answer = raw::send(app.address, &request).await;
        assert!(
            expected.contains(&answer.status),
            "{name}: answered {} (expected one of {expected:?}); body {:?}",
            answer.status,
            answer.body.chars().take(200).collect::<String>()
        );
        assert!(started.elapsed() < Duration::from_secs(15), "{name}");
        assert!(still_up(&app).await, "{name}: the server stopped answering");
    }
}

on_both_backends!(
    every_hostile_request_gets_a_bounded_well_formed_answer,
    every_hostile_logout_request_gets_a_bounded_well_formed_answer,
    pipelined_requests_are_answered_in_order,
    hostile_shared_signals_requests_get_bounded_answers,
);
