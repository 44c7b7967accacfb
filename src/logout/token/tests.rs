use jsonwebtoken::{EncodingKey, Header};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::json;

use super::*;
use crate::signing::SigningAlgorithm;
use crate::signing::jwk::{PublicJwk, PublishedKey};

const NOW: i64 = 1_700_000_000;

struct Issuer {
    kid: String,
    key: EncodingKey,
    keys: UpstreamKeySet,
}

fn issuer() -> Issuer {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .unwrap_or_else(|e| panic!("{e}"));
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(public) = PublicJwk::p256(pair.public_key().as_ref()) else {
        panic!("a P-256 key")
    };
    let published = PublishedKey::new(public, SigningAlgorithm::Es256);
    let jwks = json!({ "keys": [published] }).to_string();
    Issuer {
        kid: published.kid,
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        keys: UpstreamKeySet::parse(jwks.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
    }
}

fn upstream() -> Upstream {
    Upstream::new("https://op.example", "rescind")
}

fn claims() -> Value {
    json!({
        "iss": "https://op.example",
        "aud": "rescind",
        "iat": NOW - 10,
        "exp": NOW + 110,
        "jti": "j-1",
        "sub": "alice",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

impl Issuer {
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("logout+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(&self, claims: &Value) -> Result<LogoutClaims, LogoutTokenError> {
        self.check_token(&self.sign(claims))
    }

    fn check_token(&self, token: &str) -> Result<LogoutClaims, LogoutTokenError> {
        let now = DateTime::from_timestamp(NOW, 0).unwrap_or_default();
        validate(token, &upstream(), &self.keys, now)
    }
}

fn with(changes: &[(&str, Option<Value>)]) -> Value {
    let mut claims = claims();
    for (name, value) in changes {
        match (value, claims.as_object_mut()) {
            (Some(value), Some(object)) => object.insert((*name).to_owned(), value.clone()),
            (None, Some(object)) => object.remove(*name),
            _ => None,
        };
    }
    claims
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

#[test]
fn a_valid_token_gives_its_claims_and_how_long_to_remember_its_jti() {
    let issuer = issuer();
    let claims = issuer.check(&with(&[("sid", Some(json!("s-1")))]));
    assert_eq!(
        claims,
        Ok(LogoutClaims {
            iss: "https://op.example".to_owned(),
            sub: Some("alice".to_owned()),
            sid: Some("s-1".to_owned()),
            jti: "j-1".to_owned(),
            iat: at(NOW - 10),
            exp: at(NOW + 110),
            // exp is sooner than iat + 5 minutes: exp + skew.
            remember_until: at(NOW + 140),
        })
    );
    // A long-lived token is remembered only as long as its age allows.
    let long = issuer.check(&with(&[("exp", Some(json!(NOW + 86_400)))]));
    assert_eq!(long.map(|c| c.remember_until), Ok(at(NOW - 10 + 300 + 30)));
    // A NumericDate may have a fraction; an array of one audience is fine.
    let fraction = issuer.check(&with(&[
        ("iat", Some(json!(1_699_999_999.5))),
        ("aud", Some(json!(["rescind", "rescind"]))),
    ]));
    assert_eq!(fraction.map(|c| c.iat), Ok(at(NOW - 1)));
}

#[test]
fn each_claim_rule_refuses_with_its_own_error() {
    use LogoutTokenError as E;
    let issuer = issuer();
    let cases: Vec<(Value, LogoutTokenError)> = vec![
        (with(&[("iss", None)]), E::MissingClaim(Claim::Iss)),
        (
            with(&[("iss", Some(json!("https://op.example/")))]),
            E::WrongIssuer,
        ),
        (with(&[("aud", None)]), E::MissingClaim(Claim::Aud)),
        (with(&[("aud", Some(json!(["other"])))]), E::WrongAudience),
        (
            with(&[("aud", Some(json!(["rescind", "other"])))]),
            E::UntrustedAudience,
        ),
        (
            with(&[("aud", Some(json!(7)))]),
            E::MalformedClaim(Claim::Aud),
        ),
        (with(&[("iat", None)]), E::MissingClaim(Claim::Iat)),
        (
            with(&[("iat", Some(json!("now")))]),
            E::MalformedClaim(Claim::Iat),
        ),
        (with(&[("iat", Some(json!(NOW + 31)))]), E::IssuedInFuture),
        (with(&[("iat", Some(json!(NOW - 331)))]), E::TooOld),
        (
            with(&[("iat", Some(json!(1e300)))]),
            E::MalformedClaim(Claim::Iat),
        ),
        (with(&[("exp", None)]), E::MissingClaim(Claim::Exp)),
        (with(&[("exp", Some(json!(NOW - 30)))]), E::Expired),
        (with(&[("sub", None)]), E::NoSubjectOrSession),
        (
            with(&[("sub", Some(json!("")))]),
            E::MalformedClaim(Claim::Sub),
        ),
        (
            with(&[("sid", Some(json!(5)))]),
            E::MalformedClaim(Claim::Sid),
        ),
        (with(&[("events", None)]), E::MissingClaim(Claim::Events)),
        (
            with(&[("events", Some(json!([])))]),
            E::MalformedClaim(Claim::Events),
        ),
        (
            with(&[("events", Some(json!({"urn:other": {}})))]),
            E::NotALogoutEvent,
        ),
        (
            with(&[("events", Some(json!({ BACKCHANNEL_LOGOUT_EVENT: true })))]),
            E::NotALogoutEvent,
        ),
        (with(&[("nonce", Some(Value::Null))]), E::NoncePresent),
        (with(&[("jti", None)]), E::MissingClaim(Claim::Jti)),
        (
            with(&[("jti", Some(json!("j".repeat(257))))]),
            E::MalformedClaim(Claim::Jti),
        ),
    ];
    for (claims, expected) in cases {
        assert_eq!(issuer.check(&claims), Err(expected), "{claims}");
    }
    // At the edges of the skew: still accepted.
    assert!(
        issuer
            .check(&with(&[("iat", Some(json!(NOW + 30)))]))
            .is_ok()
    );
    assert!(
        issuer
            .check(&with(&[("exp", Some(json!(NOW - 29)))]))
            .is_ok()
    );
}

#[test]
fn the_form_and_header_are_checked_before_any_claim() {
    use LogoutTokenError as E;
    let issuer = issuer();
    let token = issuer.sign(&claims());
    let header = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let rest = token.split_once('.').map_or("", |(_, rest)| rest);
    let with_header = |value: Value| format!("{}.{rest}", header(&value));
    let kid = issuer.kid.clone();
    assert_eq!(issuer.check_token("a.b"), Err(E::Malformed));
    assert_eq!(issuer.check_token("a.b.c.d.e"), Err(E::Encrypted));
    assert_eq!(
        issuer.check_token(&"a".repeat(MAX_TOKEN_BYTES + 1)),
        Err(E::TooLarge)
    );
    assert_eq!(
        issuer.check_token(&with_header(
            json!({"alg": "ES256", "kid": kid, "crit": ["exp"]})
        )),
        Err(E::CriticalHeader)
    );
    assert_eq!(
        issuer.check_token(&with_header(json!({"alg": "ES384", "kid": kid}))),
        Err(E::AlgorithmNotAllowed)
    );
    assert_eq!(
        issuer.check_token(&with_header(json!({"alg": "RS256", "kid": kid}))),
        Err(E::KeyAlgorithmMismatch)
    );
    assert_eq!(
        issuer.check_token(&with_header(json!({"kid": kid}))),
        Err(E::Malformed)
    );
    // Changing the header breaks the signature; signed without a kid,
    // the issuer's only ES256 key verifies it.
    assert_eq!(
        issuer.check_token(&with_header(
            json!({"alg": "ES256", "kid": kid, "typ": "JWT"})
        )),
        Err(E::BadSignature)
    );
    let header = Header::new(jsonwebtoken::Algorithm::ES256);
    let unnamed = jsonwebtoken::encode(&header, &claims(), &issuer.key);
    assert!(issuer.check_token(&unnamed.unwrap_or_default()).is_ok());
    assert_eq!(unverified_key_id(&token), Some(issuer.kid.clone()));
}
