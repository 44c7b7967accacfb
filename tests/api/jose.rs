//! Rescind's JOSE against an independent implementation (PyJWT on
//! cryptography, pinned in tests/support/python.sh): the Security Event
//! Tokens it signs verify there against the key set it publishes, and the
//! logout tokens signed there validate here, every bad one refused with the
//! rule it broke. No server: the library's functions, with the time passed
//! in.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rescind::domain::security_event::{
    ComplexMember, ComplexSubject, CredentialCompromise, CredentialType, InitiatingEntity,
    LocalizedText, SecurityEvent, SessionRevoked, Subject, SubjectIdentifier, Verification,
};
use rescind::key_fetch::KeySource;
use rescind::logout::token::BACKCHANNEL_LOGOUT_EVENT;
use rescind::logout::{Claim, LogoutTokenError, Upstream, UpstreamKeySet, UpstreamKeys};
use rescind::signing::store::{self, FOLDER, SigningKeySource};
use rescind::signing::{SecurityEventToken, SigningAlgorithm, SigningKeys};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const ISSUER: &str = "https://rescind.example";
const RECEIVER: &str = "https://receiver.example/ssf";

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(NOW + seconds, 0).unwrap_or_default()
}

/// Runs tests/support/jose.py with `request`, answering its JSON.
pub(crate) fn python(request: &Value) -> Value {
    let Some(interpreter) = std::env::var_os("TEST_PYTHON") else {
        panic!(
            "TEST_PYTHON is not set: these tests compare with a pinned Python JOSE \
             library. Run them with ./tests/run, which installs it, or run \
             `source tests/support/python.sh && ensure_test_python` first."
        )
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/jose.py");
    let mut child = Command::new(&interpreter)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", PathBuf::from(&interpreter).display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(request.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "jose.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("jose.py answered: {e}"))
}

/// The key set and tokens, verified by jose.py.
fn verify_in_python(keys: &SigningKeys, now: DateTime<Utc>, tokens: &[String]) -> Value {
    python(&json!({
        "op": "verify-sets",
        "jwks": keys.jwks(now),
        "tokens": tokens,
        "issuer": ISSUER,
        "audience": RECEIVER,
    }))
}

fn open(dir: &Path, algorithm: SigningAlgorithm, now: DateTime<Utc>) -> SigningKeys {
    store::open(
        dir,
        &SigningKeySource::Generate(algorithm),
        store::DEFAULT_OVERLAP,
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn text(language: &str, message: &str) -> LocalizedText {
    LocalizedText::new(language, message).unwrap_or_else(|| panic!("{language}: {message}"))
}

fn user() -> SubjectIdentifier {
    SubjectIdentifier::IssSub {
        iss: ISSUER.to_owned(),
        sub: "alice".to_owned(),
    }
}

/// The three kinds of event, each with the claims it must show.
fn events() -> Vec<(SecurityEventToken, Value)> {
    let revoked = SecurityEventToken::new(
        ISSUER,
        RECEIVER,
        Subject::Complex(ComplexSubject::of(ComplexMember::User, user()).and(
            ComplexMember::Session,
            SubjectIdentifier::Opaque {
                id: "grant-7".to_owned(),
            },
        )),
        SecurityEvent::SessionRevoked(SessionRevoked {
            event_timestamp: Some(at(-5)),
            initiating_entity: Some(InitiatingEntity::Admin),
            reason_admin: text("en", "Revoked by an administrator"),
            reason_user: Some(
                text("en", "You were signed out")
                    .and("de", "Sie wurden abgemeldet")
                    .unwrap_or_else(|| panic!("de")),
            ),
        }),
        at(0),
    )
    .with_txn("grant-7");
    let revoked_claims = json!({
        "iss": ISSUER, "aud": RECEIVER, "iat": NOW, "jti": revoked.jti, "txn": "grant-7",
        "sub_id": {
            "format": "complex",
            "user": {"format": "iss_sub", "iss": ISSUER, "sub": "alice"},
            "session": {"format": "opaque", "id": "grant-7"},
        },
        "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
            "event_timestamp": NOW - 5,
            "initiating_entity": "admin",
            "reason_admin": {"en": "Revoked by an administrator"},
            "reason_user": {"de": "Sie wurden abgemeldet", "en": "You were signed out"},
        }},
    });
    let compromised = SecurityEventToken::new(
        ISSUER,
        RECEIVER,
        Subject::Simple(user()),
        SecurityEvent::CredentialCompromise(CredentialCompromise {
            credential_type: CredentialType::Other("oauth-refresh-token".to_owned()),
            event_timestamp: Some(at(-60)),
            reason_admin: Some(text("en", "Reported by a secret scanner")),
            reason_user: None,
        }),
        at(0),
    );
    let compromised_claims = json!({
        "iss": ISSUER, "aud": RECEIVER, "iat": NOW, "jti": compromised.jti,
        "sub_id": {"format": "iss_sub", "iss": ISSUER, "sub": "alice"},
        "events": {"https://schemas.openid.net/secevent/risc/event-type/credential-compromise": {
            "credential_type": "oauth-refresh-token",
            "event_timestamp": NOW - 60,
            "reason_admin": {"en": "Reported by a secret scanner"},
        }},
    });
    let verification = SecurityEventToken::new(
        ISSUER,
        RECEIVER,
        Subject::Simple(SubjectIdentifier::Opaque {
            id: "stream-1".to_owned(),
        }),
        SecurityEvent::Verification(Verification {
            state: Some("VGhpcyBpcyBzdGF0ZQ".to_owned()),
        }),
        at(0),
    );
    let verification_claims = json!({
        "iss": ISSUER, "aud": RECEIVER, "iat": NOW, "jti": verification.jti,
        "sub_id": {"format": "opaque", "id": "stream-1"},
        "events": {"https://schemas.openid.net/secevent/ssf/event-type/verification": {
            "state": "VGhpcyBpcyBzdGF0ZQ",
        }},
    });
    vec![
        (revoked, revoked_claims),
        (compromised, compromised_claims),
        (verification, verification_claims),
    ]
}

#[test]
fn sets_signed_with_rs256_and_es256_verify_against_the_published_key_set() {
    for algorithm in [SigningAlgorithm::Rs256, SigningAlgorithm::Es256] {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let keys = open(&root.path().join(FOLDER), algorithm, at(0));
        let events = events();
        let tokens: Vec<String> = events
            .iter()
            .map(|(token, _)| keys.sign(token).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let answer = verify_in_python(&keys, at(0), &tokens);
        for ((_, expected), result) in events
            .iter()
            .zip(answer["results"].as_array().into_iter().flatten())
        {
            assert_eq!(result["ok"], json!(true), "{algorithm}: {result}");
            assert_eq!(
                result["header"],
                json!({"alg": algorithm.name(), "kid": keys.current().kid(), "typ": "secevent+jwt"}),
                "{algorithm}"
            );
            // Exactly these claims: no `sub`, no `exp`, one event.
            assert_eq!(&result["claims"], expected, "{algorithm}");
        }
        assert_eq!(answer["results"].as_array().map(Vec::len), Some(3));
    }
}

#[test]
fn the_generated_rsa_key_is_long_private_and_reloaded_with_the_same_kid() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = root.path().join(FOLDER);
    let keys = open(&dir, SigningAlgorithm::Rs256, at(0));
    let kid = keys.current().kid().to_owned();
    let answer = verify_in_python(&keys, at(0), &[]);
    let bits = answer["key_sizes"][&kid].as_u64().unwrap_or(0);
    assert!(bits >= 2048, "{answer}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode =
            |path: &Path| std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("current.pem")), 0o600);
    }
    let jwks = keys.jwks(at(0));
    assert_eq!(
        jwks["keys"][0].as_object().map(|key| {
            let mut members: Vec<_> = key.keys().cloned().collect();
            members.sort();
            members
        }),
        Some(
            vec!["alg", "e", "kid", "kty", "n", "use"]
                .into_iter()
                .map(str::to_owned)
                .collect()
        )
    );
    let again = open(&dir, SigningAlgorithm::Rs256, at(3600));
    assert_eq!(again.current().kid(), kid, "the next start reuses the key");
}

#[test]
fn a_rotated_key_stays_in_the_key_set_until_the_overlap_ends() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = root.path().join(FOLDER);
    let before = open(&dir, SigningAlgorithm::Rs256, at(0));
    let (event, _) = events().remove(0);
    let old_token = before.sign(&event).unwrap_or_else(|e| panic!("{e}"));

    let overlap = Duration::from_secs(3600);
    let after = store::rotate(&dir, SigningAlgorithm::Rs256, overlap, at(100))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(after.current().kid(), before.current().kid());
    let new_token = after.sign(&event).unwrap_or_else(|e| panic!("{e}"));
    let tokens = [old_token, new_token];

    // Within the overlap both verify; once it has ended only the new one.
    let during = verify_in_python(&after, at(100 + 3599), &tokens);
    assert_eq!(during["results"][0]["ok"], json!(true), "{during}");
    assert_eq!(during["results"][1]["ok"], json!(true), "{during}");
    let ended = verify_in_python(&after, at(100 + 3600), &tokens);
    assert_eq!(ended["results"][0]["ok"], json!(false), "{ended}");
    assert_eq!(ended["results"][1]["ok"], json!(true), "{ended}");

    // The retired key survives a restart within the overlap.
    let restarted = open(&dir, SigningAlgorithm::Rs256, at(200));
    let kept = verify_in_python(&restarted, at(200), &tokens);
    assert_eq!(kept["results"][0]["ok"], json!(true), "{kept}");
}

fn logout_claims() -> Value {
    json!({
        "iss": "https://op.example",
        "aud": "rescind",
        "iat": NOW - 5,
        "exp": NOW + 115,
        "jti": "bWJq",
        "sub": "248289761001",
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

fn changed(changes: &[(&str, Option<Value>)]) -> Value {
    with_changes(logout_claims(), changes)
}

/// `claims` with each change: a value set, or (`None`) the claim removed.
pub fn with_changes(mut claims: Value, changes: &[(&str, Option<Value>)]) -> Value {
    if let Some(object) = claims.as_object_mut() {
        for (name, value) in changes {
            match value {
                Some(value) => object.insert((*name).to_owned(), value.clone()),
                None => object.remove(*name),
            };
        }
    }
    claims
}

/// A logout token case for jose.py: `claims` signed with `alg` by the key
/// named `key`, the header naming `kid`, made in `form` (see jose.py).
pub fn case(name: &str, key: &str, alg: &str, kid: &str, claims: &Value, form: Value) -> Value {
    let mut case = json!({"name": name, "key": key, "alg": alg, "kid": kid, "claims": claims});
    if let (Some(case), Value::Object(form)) = (case.as_object_mut(), form) {
        case.extend(form);
    }
    case
}

/// A well-formed case, signed by the key it names.
fn signed(name: &str, key: &str, claims: &Value) -> Value {
    let alg = if key == "rsa" { "RS256" } else { "ES256" };
    case(name, key, alg, key, claims, json!({}))
}

/// Each bad token, and the rule it must be refused by.
fn refused_cases() -> Vec<(Value, LogoutTokenError)> {
    use LogoutTokenError as E;
    let other_event = json!({"http://schemas.openid.net/event/backchannel-logout-x": {}});
    let claims = [
        ("expired", "rsa", "exp", Some(json!(NOW - 60)), E::Expired),
        (
            "future",
            "ec",
            "iat",
            Some(json!(NOW + 120)),
            E::IssuedInFuture,
        ),
        ("old", "rsa", "iat", Some(json!(NOW - 3600)), E::TooOld),
        (
            "audience",
            "rsa",
            "aud",
            Some(json!("someone-else")),
            E::WrongAudience,
        ),
        (
            "issuer",
            "ec",
            "iss",
            Some(json!("https://evil.example")),
            E::WrongIssuer,
        ),
        (
            "nonce",
            "rsa",
            "nonce",
            Some(json!("n-0S6_WzA2Mj")),
            E::NoncePresent,
        ),
        (
            "no-events",
            "rsa",
            "events",
            None,
            E::MissingClaim(Claim::Events),
        ),
        (
            "other-event",
            "ec",
            "events",
            Some(other_event),
            E::NotALogoutEvent,
        ),
    ];
    let mut cases: Vec<_> = claims
        .into_iter()
        .map(|(name, key, claim, value, error)| {
            (signed(name, key, &changed(&[(claim, value)])), error)
        })
        .collect();
    let anonymous = changed(&[("sub", None), ("sid", None)]);
    cases.push((
        signed("anonymous", "rsa", &anonymous),
        E::NoSubjectOrSession,
    ));
    cases.extend(forged_cases());
    cases
}

/// Bad tokens whose claims are fine: forged or pointing at the wrong key.
fn forged_cases() -> [(Value, LogoutTokenError); 5] {
    use LogoutTokenError as E;
    let tampered = json!({
        "form": "tampered",
        "tampered_claims": changed(&[("sub", Some(json!("someone-else")))]),
    });
    let valid = logout_claims();
    [
        (
            case(
                "none",
                "rsa",
                "none",
                "rsa",
                &valid,
                json!({"form": "none"}),
            ),
            E::AlgorithmNotAllowed,
        ),
        (
            case(
                "hmac",
                "rsa",
                "HS256",
                "rsa",
                &valid,
                json!({"form": "hmac-public"}),
            ),
            E::AlgorithmNotAllowed,
        ),
        (
            case(
                "unknown-kid",
                "rsa",
                "RS256",
                "rotated-away",
                &valid,
                json!({}),
            ),
            E::UnknownKeyId,
        ),
        (
            case("wrong-key", "ec", "ES256", "rsa", &valid, json!({})),
            E::KeyAlgorithmMismatch,
        ),
        (
            case("tampered", "rsa", "RS256", "rsa", &valid, tampered),
            E::BadSignature,
        ),
    ]
}

#[tokio::test]
async fn logout_tokens_signed_elsewhere_validate_and_every_bad_one_is_refused() {
    use LogoutTokenError as E;
    let refused = refused_cases();
    let mut no_kid = signed("no-kid", "ec", &logout_claims());
    no_kid["kid"] = Value::Null;
    let mut cases = vec![
        signed("rs256", "rsa", &logout_claims()),
        signed("es256", "ec", &changed(&[("sub", None)])),
        no_kid,
    ];
    cases.extend(refused.iter().map(|(case, _)| case.clone()));
    let answer = python(&json!({"op": "logout-tokens", "cases": cases}));
    let jwks = answer["jwks"].to_string();
    let keys = UpstreamKeySet::parse(jwks.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let upstream = Upstream::new("https://op.example", "rescind");
    let token = |name: &str| {
        answer["tokens"][name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let check = |name: &str| rescind::logout::validate(&token(name), &upstream, &keys, at(0));

    let valid = check("rs256").unwrap_or_else(|e| panic!("rs256: {e}"));
    assert_eq!(
        (
            valid.iss.as_str(),
            valid.sub.as_deref(),
            valid.sid.as_deref(),
            valid.jti.as_str()
        ),
        (
            "https://op.example",
            Some("248289761001"),
            Some("08a5019c-17e1-4977-8f42-65a12843ea02"),
            "bWJq"
        )
    );
    assert_eq!((valid.iat, valid.exp), (at(-5), at(115)));
    let session_only = check("es256").unwrap_or_else(|e| panic!("es256: {e}"));
    assert_eq!(session_only.sub, None);
    assert!(
        check("no-kid").is_ok(),
        "the issuer's only EC key verifies it"
    );

    for (case, expected) in &refused {
        let name = case["name"].as_str().unwrap_or_default();
        assert_eq!(check(name), Err(*expected), "{name}");
    }

    // The same key set from a file, through the cache the server will use.
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = root.path().join("jwks.json");
    std::fs::write(&file, &jwks).unwrap_or_else(|e| panic!("{e}"));
    let cached = UpstreamKeys::new(
        KeySource::File(file),
        Duration::from_secs(300),
        reqwest::Client::new(),
    );
    assert!(
        cached
            .validate(&token("rs256"), &upstream, at(0))
            .await
            .is_ok()
    );
    assert_eq!(
        cached
            .validate(&token("unknown-kid"), &upstream, at(0))
            .await,
        Err(E::UnknownKeyId)
    );
}
