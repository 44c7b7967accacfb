//! Secret-scanning partners (docs/behaviour.md, Secret scanning): GitHub's and GitLab's signed reports
//! revoke what they name (reason `secret_scanning`, the URL audited) and get
//! feedback; unsigned, unknown-key, tampered and replayed-with-a-bad-
//! signature requests are refused and revoke nothing; keys rotate; large
//! batches finish quickly; the public bulk endpoint is tightly limited.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderMap;
use rescind::config::Settings;
use rescind::domain::client::ClientKind;
use rescind::domain::revocation::AnonymousPolicy;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{Backend, TestApp, header_map, raw, with_admin};
use crate::on_both_backends;

/// The DER header of a P-256 `SubjectPublicKeyInfo`, before the point
/// (RFC 5480), written out independently of the server's parser.
const SPKI_P256: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

/// A signing key generated for the test, as a scanner holds it.
struct SigningKey {
    id: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn generate(id: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            id: id.to_owned(),
            pair,
        }
    }

    /// The key as GitHub publishes it.
    fn published(&self) -> Value {
        let mut der: Vec<u8> = (0..SPKI_P256.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&SPKI_P256[i..i + 2], 16).unwrap_or_default())
            .collect();
        der.extend_from_slice(self.pair.public_key().as_ref());
        json!({
            "key_identifier": self.id,
            "key": format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(der)),
            "is_current": true,
        })
    }

    /// The base64 DER signature of `body`.
    fn sign(&self, body: &[u8]) -> String {
        let signature = self
            .pair
            .sign(&SystemRandom::new(), body)
            .unwrap_or_else(|e| panic!("{e}"));
        STANDARD.encode(signature.as_ref())
    }
}

fn keys_document(keys: &[&SigningKey]) -> String {
    json!({ "public_keys": keys.iter().map(|key| key.published()).collect::<Vec<_>>() }).to_string()
}

/// Serves a keys document on loopback, as api.github.com does; the
/// document can be replaced (key rotation) and fetches are counted.
#[derive(Clone)]
struct KeyServer {
    document: Arc<Mutex<String>>,
    fetches: Arc<Mutex<u32>>,
}

impl KeyServer {
    async fn start(document: String) -> (Self, String) {
        let server = Self {
            document: Arc::new(Mutex::new(document)),
            fetches: Arc::new(Mutex::new(0)),
        };
        let state = server.clone();
        let router = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let state = state.clone();
                async move {
                    *state
                        .fetches
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                    state
                        .document
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone()
                }
            }),
        );
        let address = crate::helpers::serve_on_loopback(router).await;
        (server, format!("http://{address}/keys"))
    }

    fn fetches(&self) -> u32 {
        *self
            .fetches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self, document: String) {
        *self
            .document
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = document;
    }
}

async fn post_report(
    app: &TestApp,
    scanner: &str,
    body: &[u8],
    signed: Option<(&str, String)>,
) -> reqwest::Response {
    let prefix = if scanner == "github" {
        "Github"
    } else {
        "Gitlab"
    };
    let mut headers = HeaderMap::new();
    if let Some((key_id, signature)) = signed {
        headers = header_map(&[
            (&format!("{prefix}-Public-Key-Identifier"), key_id),
            (&format!("{prefix}-Public-Key-Signature"), &signature),
        ]);
    }
    app.http
        .post(app.url(&format!("/secret-scanning/{scanner}")))
        .header("content-type", "application/json")
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Posts `body` to `scanner`'s endpoint, signed by `key`.
async fn post_signed(
    app: &TestApp,
    scanner: &str,
    body: &[u8],
    key: &SigningKey,
) -> reqwest::Response {
    post_report(app, scanner, body, Some((&key.id, key.sign(body)))).await
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::new(), |out, byte| out + &format!("{byte:02x}"))
}

/// (reason, source URL, presenter kind) of every revocation record.
async fn audit(app: &TestApp) -> Vec<(String, String, String)> {
    app.db
        .rows(
            "SELECT reason, COALESCE(source_url, '-'), presenter_kind, '', '' \
             FROM revocations ORDER BY id",
        )
        .await
        .into_iter()
        .map(|(reason, url, presenter, _, _)| (reason, url, presenter))
        .collect()
}

/// A server taking GitHub reports signed by `k1`, served from a key server
/// (keys refreshed at most once a second).
async fn with_github_keys(backend: Backend) -> (TestApp, SigningKey, KeyServer) {
    let key = SigningKey::generate("k1");
    let (keys, keys_url) = KeyServer::start(keys_document(&[&key])).await;
    let app = TestApp::spawn_with(backend, move |settings: &mut Settings| {
        settings.secret_scanning.github.keys_url = Some(keys_url);
        settings.secret_scanning.github.refresh = Duration::from_secs(1);
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    (app, key, keys)
}

async fn github_reports_revoke_known_tokens_and_get_feedback(backend: Backend) {
    let (app, first_key, _keys) = with_github_keys(backend).await;
    let (one, two, bystander) = (
        app.grant("spa").await,
        app.grant("spa").await,
        app.grant("spa").await,
    );
    let body = json!([
        { "token": one.access_token, "type": "rescind_access_token",
          "url": "https://github.com/o/r/blob/abc/app.env", "source": "content" },
        { "token": two.refresh_token, "type": "rescind_refresh_token",
          "url": "https://gist.github.com/u/1", "source": "gist" },
        { "token": "never-issued", "type": "rescind_access_token", "url": "", "source": "commit" },
    ])
    .to_string();

    // Refused: unsigned, an unknown key, a tampered body, the same body with
    // another body's signature. Nothing is revoked by any of them.
    let stranger = SigningKey::generate("k-unknown");
    let tampered = body.replace("app.env", "app.txt");
    for (sent, signed) in [
        (body.as_str(), None),
        (
            body.as_str(),
            Some(("k-unknown", stranger.sign(body.as_bytes()))),
        ),
        (
            tampered.as_str(),
            Some(("k1", first_key.sign(body.as_bytes()))),
        ),
        (
            body.as_str(),
            Some(("k1", first_key.sign(tampered.as_bytes()))),
        ),
        (body.as_str(), Some(("k1", "not base64 at all".to_owned()))),
    ] {
        let response = post_report(&app, "github", sent.as_bytes(), signed).await;
        assert_eq!(response.status().as_u16(), 401);
        let error: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(error["error"], "invalid_signature");
    }
    assert_eq!(app.db.live_grants().await, 3, "nothing revoked");

    let response = post_signed(&app, "github", body.as_bytes(), &first_key).await;
    assert_eq!(response.status().as_u16(), 200);
    let feedback: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        feedback,
        json!([
            { "token_hash": sha256_hex(&one.access_token), "token_type": "rescind_access_token", "label": "true_positive" },
            { "token_hash": sha256_hex(&two.refresh_token), "token_type": "rescind_refresh_token", "label": "true_positive" },
            { "token_hash": sha256_hex("never-issued"), "token_type": "rescind_access_token", "label": "false_positive" },
        ])
    );
    assert_eq!(app.db.live_grants().await, 1, "only the bystander is left");
    assert!(
        app.db.live_tokens().await == 2,
        "the bystander's two tokens"
    );
    let _ = bystander;
    // Revoked concurrently: the records' order is not the reports'.
    let mut records = audit(&app).await;
    records.sort();
    assert_eq!(
        records,
        [
            (
                "secret_scanning".to_owned(),
                "https://gist.github.com/u/1".to_owned(),
                "anonymous".to_owned()
            ),
            (
                "secret_scanning".to_owned(),
                "https://github.com/o/r/blob/abc/app.env".to_owned(),
                "anonymous".to_owned()
            ),
        ]
    );
    // Reported again (GitHub retries): still known, nothing new written.
    let response = post_signed(&app, "github", body.as_bytes(), &first_key).await;
    let again: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(again, feedback);
    assert_eq!(audit(&app).await.len(), 2);
}

async fn signing_keys_rotate_without_a_restart(backend: Backend) {
    let (app, first_key, keys) = with_github_keys(backend).await;
    let rotated =
        json!([{ "token": "another-unknown", "type": "t", "url": "", "source": "content" }])
            .to_string();
    let response = post_signed(&app, "github", rotated.as_bytes(), &first_key).await;
    assert_eq!(response.status().as_u16(), 200);
    // Rotation: GitHub publishes a second key and signs with it. The
    // unknown identifier makes Rescind fetch the keys again (at most once
    // per `refresh` here, once a minute by default).
    let second_key = SigningKey::generate("k2");
    keys.publish(keys_document(&[&first_key, &second_key]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fetched_before = keys.fetches();
    let response = post_signed(&app, "github", rotated.as_bytes(), &second_key).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(keys.fetches(), fetched_before + 1);
    // Made-up key identifiers do not make Rescind hammer the key URL.
    let stranger = SigningKey::generate("made-up");
    for _ in 0..5 {
        let response = post_signed(&app, "github", rotated.as_bytes(), &stranger).await;
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_eq!(
        keys.fetches(),
        fetched_before + 1,
        "no fetch within `refresh`"
    );
    // The old key still verifies during the rotation.
    let response = post_signed(&app, "github", rotated.as_bytes(), &first_key).await;
    assert_eq!(response.status().as_u16(), 200);
    // GitLab is not configured here: its endpoint does not exist.
    let response = post_report(&app, "gitlab", rotated.as_bytes(), None).await;
    assert_eq!(response.status().as_u16(), 404);
}

async fn gitlab_reports_are_verified_with_keys_from_a_file(backend: Backend) {
    let key = SigningKey::generate("gl-1");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("gitlab-keys.json");
    std::fs::write(&path, keys_document(&[&key])).unwrap_or_else(|e| panic!("{e}"));
    let app = TestApp::spawn_with(backend, |settings: &mut Settings| {
        settings.secret_scanning.gitlab.keys_file = Some(path.clone());
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let body = json!([{ "type": "rescind", "token": grant.access_token,
                        "url": "https://gitlab.com/g/p/-/blob/main/.env" }])
    .to_string();
    let response = post_report(&app, "github", body.as_bytes(), None).await;
    assert_eq!(response.status().as_u16(), 404, "GitHub is not configured");
    let response = post_report(&app, "gitlab", body.as_bytes(), None).await;
    assert_eq!(response.status().as_u16(), 401);
    let response = post_signed(&app, "gitlab", body.as_bytes(), &key).await;
    assert_eq!(response.status().as_u16(), 202);
    let feedback: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(feedback[0]["label"], "true_positive");
    assert_eq!(app.db.live_grants().await, 0);
    assert_eq!(
        audit(&app).await[0].1,
        "https://gitlab.com/g/p/-/blob/main/.env"
    );
    // Not a JSON array of reports, correctly signed: 400, nothing revoked.
    let garbage = br#"{"token": "x"}"#;
    let response = post_report(&app, "gitlab", garbage, Some(("gl-1", key.sign(garbage)))).await;
    assert_eq!(response.status().as_u16(), 400);
}

async fn a_large_batch_finishes_well_inside_githubs_thirty_seconds(backend: Backend) {
    let key = SigningKey::generate("k1");
    let (_keys, keys_url) = KeyServer::start(keys_document(&[&key])).await;
    let app = TestApp::spawn_with(backend, move |settings: &mut Settings| {
        settings.secret_scanning.github.keys_url = Some(keys_url);
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, 2000).await;
    let mut reports: Vec<Value> = grants
        .iter()
        .map(|grant| json!({ "token": grant.access_token, "type": "t", "url": "https://github.com/o/r", "source": "content" }))
        .collect();
    reports.extend((0..1000).map(
        |n| json!({ "token": format!("unknown-{n}"), "type": "t", "url": "", "source": "content" }),
    ));
    let body = Value::Array(reports).to_string();
    let started = Instant::now();
    let response = post_signed(&app, "github", body.as_bytes(), &key).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status().as_u16(), 200);
    let feedback: Vec<Value> = response.json().await.unwrap_or_default();
    println!("3,000 reported tokens (2,000 known) answered in {elapsed:?}");
    assert_eq!(feedback.len(), 3000);
    assert_eq!(
        feedback
            .iter()
            .filter(|f| f["label"] == "true_positive")
            .count(),
        2000
    );
    assert_eq!(app.db.live_grants().await, 0);
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

async fn public_reports_revoke_answer_202_and_are_tightly_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings: &mut Settings| {
        with_admin(settings);
        settings.secret_scanning.public_reports_per_minute = 3;
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    let post = |body: String| {
        app.http
            .post(app.url("/credentials/revoke"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let known = json!({ "credentials": [grant.refresh_token, "never-issued"] }).to_string();
    let response = post(known).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(response.text().await.unwrap_or_default(), "", "no oracle");
    assert_eq!(app.db.live_grants().await, 0);
    assert_eq!(
        audit(&app).await,
        [(
            "secret_scanning".to_owned(),
            String::new(),
            "anonymous".to_owned()
        )]
    );
    let metrics = app.metrics().await;
    for label in ["true_positive", "false_positive"] {
        let line = format!(
            "rescind_secret_scanning_reports_total{{scanner=\"public\",label=\"{label}\"}} 1"
        );
        assert!(metrics.contains(&line), "missing {line}");
    }
    let too_many = json!({ "credentials": vec!["x"; 1001] }).to_string();
    let response = post(too_many).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 400);
    // The third request of this minute passes the limit (and is malformed);
    // the fourth is refused before its body is read.
    let response = post("[]".to_owned())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 400);
    let response = post(json!({ "credentials": ["x"] }).to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));

    // Off when anonymous revocation is refused.
    let strict = TestApp::spawn_with(backend, |settings: &mut Settings| {
        settings.policy.anonymous = AnonymousPolicy::Reject;
    })
    .await;
    let response = strict
        .http
        .post(strict.url("/credentials/revoke"))
        .body(json!({ "credentials": ["x"] }).to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 404);
}

/// A report that declares a 4,000,000-byte body and sends one byte of it,
/// with `signature` headers (identifier, signature) if any.
fn stalled_report(signature: Option<(&str, &str)>) -> Vec<u8> {
    let signed = signature.map_or_else(String::new, |(key_id, signature)| {
        format!(
            "github-public-key-identifier: {key_id}\r\ngithub-public-key-signature: {signature}\r\n"
        )
    });
    format!(
        "POST /secret-scanning/github HTTP/1.1\r\nhost: localhost\r\n\
         content-type: application/json\r\ncontent-length: 4000000\r\n{signed}\r\n["
    )
    .into_bytes()
}

/// Whatever can be checked without the body is checked before it is read:
/// an unsigned report, one by an unknown key, and one whose signature is
/// not base64 are answered `401` at once, while the 4 MB they declare has
/// not arrived (the body timeout is 30 s).
async fn a_report_without_a_usable_signature_is_refused_before_its_body_is_read(backend: Backend) {
    let (app, key, _keys) = with_github_keys(backend).await;
    let some_signature = key.sign(b"[]");
    for signature in [
        None,
        Some(("k-unknown", some_signature.as_str())),
        Some(("k1", "not-base64!")),
    ] {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(3),
            raw::send(app.address, &stalled_report(signature)),
        )
        .await
        .unwrap_or_else(|_| panic!("{signature:?}: no answer while the body is awaited"));
        assert_eq!(answer.status, 401, "{signature:?}: {answer:?}");
        assert!(answer.body.contains("invalid_signature"), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

/// Key ids are public, so a forged report with a real key id and a
/// well-formed signature passes every check made before the body: at most
/// four such bodies are read at once, and a fifth report is refused with
/// `503` at once instead of growing memory by 4 MiB.
async fn partner_report_bodies_are_read_a_few_at_a_time(backend: Backend) {
    let (app, key, _keys) = with_github_keys(backend).await;
    let forged = key.sign(b"some other body");
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = tokio::net::TcpStream::connect(app.address)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::io::AsyncWriteExt::write_all(&mut stream, &stalled_report(Some(("k1", &forged))))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        held.push(stream);
    }
    // Let the server take the four bodies' permits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        raw::send(app.address, &stalled_report(Some(("k1", &forged)))),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer while four bodies are awaited"));
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(
        answer.body.contains("temporarily_unavailable"),
        "{answer:?}"
    );
    // The held reports end; a well-signed one is read again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = json!([{ "token": "never-issued", "type": "t", "url": "", "source": "content" }])
        .to_string();
    let response = post_report(
        &app,
        "github",
        body.as_bytes(),
        Some(("k1", key.sign(body.as_bytes()))),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
}

/// Failed signatures count against the caller's address: past the budget
/// (10 a minute by default) every report from it gets `429` with
/// `Retry-After`, a well-signed one included, before anything is read.
async fn repeated_failed_signatures_from_one_address_get_429(backend: Backend) {
    let key = SigningKey::generate("k1");
    let (_keys, keys_url) = KeyServer::start(keys_document(&[&key])).await;
    let app = TestApp::spawn_with(backend, move |settings: &mut Settings| {
        with_admin(settings);
        settings.secret_scanning.github.keys_url = Some(keys_url);
    })
    .await;
    let body = json!([{ "token": "never-issued", "type": "t", "url": "", "source": "content" }])
        .to_string();
    for attempt in 0..10 {
        let signed = (attempt % 2 == 1).then(|| ("k1", key.sign(b"another body")));
        let response = post_report(&app, "github", body.as_bytes(), signed).await;
        assert_eq!(response.status().as_u16(), 401, "attempt {attempt}");
    }
    for signed in [None, Some(("k1", key.sign(body.as_bytes())))] {
        let response = post_report(&app, "github", body.as_bytes(), signed).await;
        assert_eq!(response.status().as_u16(), 429);
        let retry_after: u64 = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("rescind_rate_limited_total{limit=\"failed_signature_address\"} 2"),
        "{metrics}"
    );
}

/// Unauthenticated bulk reports must not starve revocations of the pool: 60
/// reports of 1,000 never-issued tokens with valid checksums, from 60
/// addresses at once (through a trusted proxy), while 400 revocations run
/// on an 8-connection pool. Every revocation answers 200, none slowly.
async fn public_reports_of_unknown_tokens_do_not_starve_revocations(backend: Backend) {
    const REPORTS: usize = 60;
    const REVOCATIONS: usize = 400;
    let app = TestApp::spawn_with(backend, |settings: &mut Settings| {
        settings.database.max_connections = 8;
        settings.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, REVOCATIONS).await;
    let format = app.token_format();
    let mut rng = rand::rngs::OsRng;
    let bodies: Vec<String> = (0..REPORTS)
        .map(|_| {
            let tokens: Vec<String> = (0..1000)
                .map(|_| format.mint(rescind::domain::token::TokenKind::Access, &mut rng))
                .collect();
            json!({ "credentials": tokens }).to_string()
        })
        .collect();
    let started = Instant::now();
    let reports =
        futures_util::future::join_all(bodies.into_iter().enumerate().map(|(n, body)| {
            let request = app
                .http
                .post(app.url("/credentials/revoke"))
                .header("content-type", "application/json")
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .body(body);
            async move {
                request
                    .send()
                    .await
                    .map_or(0, |response| response.status().as_u16())
            }
        }));
    let revocations = async {
        let mut slowest = Duration::ZERO;
        for grant in &grants {
            let sent = Instant::now();
            let status = app
                .revoke(&[("token", &grant.access_token)])
                .await
                .status()
                .as_u16();
            slowest = slowest.max(sent.elapsed());
            assert_eq!(status, 200);
        }
        slowest
    };
    let (statuses, slowest) = tokio::join!(reports, revocations);
    println!(
        "{REVOCATIONS} revocations beside {REPORTS} reports: slowest {slowest:?}, all in {:?}",
        started.elapsed()
    );
    assert!(statuses.iter().all(|status| *status == 202), "{statuses:?}");
    assert_eq!(app.db.live_grants().await, 0);
    assert!(
        slowest < Duration::from_secs(2),
        "a revocation waited {slowest:?} behind the reports"
    );
}

/// A URL with control characters (a NUL, which PostgreSQL's text refuses; a
/// line break) still revokes its token, recorded with U+FFFD in their place,
/// and fails nothing revoked beside it.
async fn a_found_at_url_with_control_characters_is_recorded_printable(backend: Backend) {
    let (app, key, _keys) = with_github_keys(backend).await;
    let (leaked, beside) = (app.grant("spa").await, app.grant("spa").await);
    let body = json!([
        { "token": leaked.access_token, "type": "rescind_access_token",
          "url": "https://github.com/o/r\u{0}/blob\n/app.env", "source": "content" },
        { "token": beside.refresh_token, "type": "rescind_refresh_token",
          "url": "https://github.com/o/r/blob/main/.env", "source": "content" },
    ])
    .to_string();
    let response = post_signed(&app, "github", body.as_bytes(), &key).await;
    assert_eq!(response.status().as_u16(), 200);
    let feedback: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(feedback[0]["label"], "true_positive", "{feedback}");
    assert_eq!(feedback[1]["label"], "true_positive", "{feedback}");
    assert_eq!(app.db.live_grants().await, 0);
    let mut urls: Vec<String> = audit(&app)
        .await
        .into_iter()
        .map(|(_, url, _)| url)
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            "https://github.com/o/r/blob/main/.env",
            "https://github.com/o/r\u{fffd}/blob\u{fffd}/app.env",
        ]
    );
}

on_both_backends!(
    a_found_at_url_with_control_characters_is_recorded_printable,
    partner_report_bodies_are_read_a_few_at_a_time,
    public_reports_of_unknown_tokens_do_not_starve_revocations,
    a_report_without_a_usable_signature_is_refused_before_its_body_is_read,
    repeated_failed_signatures_from_one_address_get_429,
    github_reports_revoke_known_tokens_and_get_feedback,
    signing_keys_rotate_without_a_restart,
    gitlab_reports_are_verified_with_keys_from_a_file,
    a_large_batch_finishes_well_inside_githubs_thirty_seconds,
    public_reports_revoke_answer_202_and_are_tightly_limited,
);
