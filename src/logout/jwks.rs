//! An upstream issuer's public keys, from its JSON Web Key Set (RFC 7517).
//!
//! The document is someone else's and arrives over the network, so it is
//! bounded: at most [`MAX_JWKS_BYTES`] and [`MAX_KEYS`] keys, or it is
//! refused whole. A document with a private key member (`d`, `p`, `k`, …)
//! is refused whole too: such keys are compromised, and a symmetric key
//! must never verify anything here. Keys Rescind cannot use for signatures
//! are skipped, so an issuer adding an encryption key or a new key type
//! breaks nothing: `use` other than `sig`, `key_ops` without `verify`, an
//! unknown `kty`, `crv` or `alg`, an RSA key under 2,048 bits, a point of
//! the wrong size. Usable: RSA, EC P-256 and P-384, and Ed25519.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use super::LogoutAlgorithm;
use super::error::LogoutTokenError;
use crate::key_fetch::KeyError;

/// The largest key set document accepted.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The most keys a document may list (issuers publish a handful).
pub const MAX_KEYS: usize = 32;
/// The smallest RSA modulus used, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The longest `kid` kept.
const MAX_KID_BYTES: usize = 256;

/// JWK members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a key is, which decides the algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyType {
    fn verifies(self, alg: LogoutAlgorithm) -> bool {
        use LogoutAlgorithm as A;
        match self {
            Self::Rsa => matches!(
                alg,
                A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512
            ),
            Self::EcP256 => alg == A::Es256,
            Self::EcP384 => alg == A::Es384,
            Self::Ed25519 => alg == A::EdDsa,
        }
    }
}

/// One usable public key.
pub struct UpstreamKey {
    pub kid: Option<String>,
    pub key_type: KeyType,
    /// The key's own `alg`, when it names one: then only that one.
    pub alg: Option<LogoutAlgorithm>,
    pub(super) decoding: DecodingKey,
}

impl std::fmt::Debug for UpstreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl UpstreamKey {
    fn verifies(&self, alg: LogoutAlgorithm) -> bool {
        self.key_type.verifies(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// The usable keys of one issuer.
#[derive(Debug)]
pub struct UpstreamKeySet {
    keys: Vec<UpstreamKey>,
}

impl UpstreamKeySet {
    /// Parses a key set document. Never empty: a document without one
    /// usable key is refused.
    pub fn parse(text: &[u8]) -> Result<Self, KeyError> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(KeyError::TooLarge(MAX_JWKS_BYTES));
        }
        let document: Value =
            serde_json::from_slice(text).map_err(|_| KeyError::Invalid("not JSON"))?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(KeyError::Invalid("no \"keys\" array"));
        };
        if entries.len() > MAX_KEYS {
            return Err(KeyError::Invalid("too many keys"));
        }
        let mut keys = Vec::new();
        for entry in entries {
            let Value::Object(jwk) = entry else {
                return Err(KeyError::Invalid("a key is not a JSON object"));
            };
            if PRIVATE_MEMBERS
                .iter()
                .any(|member| jwk.contains_key(*member))
            {
                return Err(KeyError::Invalid("a key has private or symmetric members"));
            }
            keys.extend(usable_key(jwk));
        }
        if keys.is_empty() {
            return Err(KeyError::Invalid("no usable signing key"));
        }
        Ok(Self { keys })
    }

    /// Whether a refetch could not help a token naming `kid`: a key has
    /// that id (or, without one, there are keys at all).
    #[must_use]
    pub fn knows(&self, kid: Option<&str>) -> bool {
        kid.is_none_or(|kid| self.keys.iter().any(|key| key.kid.as_deref() == Some(kid)))
    }

    /// The key that verifies a token signed with `alg` naming `kid`. With a
    /// `kid`, the one key of that id that verifies `alg`. Without one, the
    /// only key of the set that verifies `alg`: OpenID Connect requires a
    /// `kid` once an issuer has several keys, and guessing among them would
    /// let the token pick.
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: LogoutAlgorithm,
    ) -> Result<&UpstreamKey, LogoutTokenError> {
        let mut named = self
            .keys
            .iter()
            .filter(|key| kid.is_none() || key.kid.as_deref() == kid)
            .peekable();
        if named.peek().is_none() {
            return Err(LogoutTokenError::UnknownKeyId);
        }
        let mut usable = named.filter(|key| key.verifies(alg));
        match (usable.next(), usable.next()) {
            (Some(key), None) => Ok(key),
            (None, _) => Err(LogoutTokenError::KeyAlgorithmMismatch),
            (Some(_), Some(_)) if kid.is_some() => Err(LogoutTokenError::AmbiguousKey),
            (Some(_), Some(_)) => Err(LogoutTokenError::MissingKeyId),
        }
    }
}

/// The key `jwk` describes, if Rescind can verify signatures with it.
fn usable_key(jwk: &Map<String, Value>) -> Option<UpstreamKey> {
    let text = |name: &str| match jwk.get(name) {
        Some(Value::String(value)) => Some(value.as_str()),
        _ => None,
    };
    if jwk.get("use").is_some_and(|key_use| key_use != "sig") {
        return None;
    }
    if let Some(operations) = jwk.get("key_ops")
        && !operations
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"))
    {
        return None;
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(name)) => Some(LogoutAlgorithm::from_name(name)?),
        Some(_) => return None,
    };
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) if kid.len() <= MAX_KID_BYTES => Some(kid.clone()),
        Some(_) => return None,
    };
    let decoded_len = |value: &str| URL_SAFE_NO_PAD.decode(value).ok().map(|bytes| bytes.len());
    let (key_type, decoding) = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            let (n, e) = (text("n")?, text("e")?);
            let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
            let leading_zeros = modulus.iter().take_while(|byte| **byte == 0).count();
            if (modulus.len() - leading_zeros) * 8 < MIN_RSA_BITS || decoded_len(e)? == 0 {
                return None;
            }
            (KeyType::Rsa, DecodingKey::from_rsa_components(n, e).ok()?)
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let (x, y) = (text("x")?, text("y")?);
            let (key_type, size) = if curve == "P-256" {
                (KeyType::EcP256, 32)
            } else {
                (KeyType::EcP384, 48)
            };
            if decoded_len(x)? != size || decoded_len(y)? != size {
                return None;
            }
            (key_type, DecodingKey::from_ec_components(x, y).ok()?)
        }
        ("OKP", Some("Ed25519")) => {
            let x = text("x")?;
            if decoded_len(x)? != 32 {
                return None;
            }
            (KeyType::Ed25519, DecodingKey::from_ed_components(x).ok()?)
        }
        _ => return None,
    };
    let key = UpstreamKey {
        kid,
        key_type,
        alg,
        decoding,
    };
    // A key whose own `alg` it cannot verify is of no use.
    alg.is_none_or(|alg| key.key_type.verifies(alg))
        .then_some(key)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa(kid: &str) -> Value {
        let mut n = vec![0xc5_u8];
        n.extend([0x17; 255]);
        json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB"})
    }

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&[1; 32]), "y": b64(&[2; 32])})
    }

    fn parse(keys: &[Value]) -> Result<UpstreamKeySet, KeyError> {
        UpstreamKeySet::parse(json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn unusable_keys_are_skipped_and_usable_ones_kept() {
        let mut small = rsa("small");
        small["n"] = json!(b64(&[0xc5; 128]));
        let mut encryption = rsa("enc");
        encryption["use"] = json!("enc");
        let mut wrap = ec("wrap");
        wrap["key_ops"] = json!(["wrapKey"]);
        let mut p521 = ec("p521");
        p521["crv"] = json!("P-521");
        let mut short_point = ec("short");
        short_point["x"] = json!(b64(&[1; 31]));
        let mut hmac_alg = rsa("hs");
        hmac_alg["alg"] = json!("HS256");
        let mut wrong_alg = ec("es384-on-p256");
        wrong_alg["alg"] = json!("ES384");
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(&[3; 32])});
        let x25519 = json!({"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64(&[3; 32])});
        let set = parse(&[
            rsa("r"),
            ec("e"),
            ed,
            small,
            encryption,
            wrap,
            p521,
            short_point,
            hmac_alg,
            wrong_alg,
            x25519,
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let kids: Vec<_> = set
            .keys
            .iter()
            .filter_map(|key| key.kid.as_deref())
            .collect();
        assert_eq!(kids, ["r", "e", "ed"]);
    }

    #[test]
    fn a_document_with_private_members_or_too_many_keys_is_refused_whole() {
        for member in PRIVATE_MEMBERS {
            let mut private = rsa("r");
            private[member] = json!("AQAB");
            assert!(
                matches!(parse(&[ec("e"), private]), Err(KeyError::Invalid(_))),
                "{member}"
            );
        }
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(parse(&[oct]).is_err());
        let many: Vec<_> = (0..=MAX_KEYS).map(|i| ec(&i.to_string())).collect();
        assert!(parse(&many).is_err());
        assert!(parse(&many[..MAX_KEYS]).is_ok());
        let padded = format!("{{\"keys\": [{}]}}{}", ec("e"), " ".repeat(MAX_JWKS_BYTES));
        assert!(matches!(
            UpstreamKeySet::parse(padded.as_bytes()),
            Err(KeyError::TooLarge(_))
        ));
        assert!(parse(&[]).is_err());
        assert!(UpstreamKeySet::parse(b"[]").is_err());
    }

    #[test]
    fn a_key_is_chosen_by_kid_or_as_the_only_one_for_the_algorithm() {
        let set = parse(&[rsa("r1"), rsa("r2"), ec("e")]).unwrap_or_else(|e| panic!("{e}"));
        let kid = |key: Result<&UpstreamKey, LogoutTokenError>| key.map(|k| k.kid.clone());
        assert_eq!(
            kid(set.select(Some("r2"), LogoutAlgorithm::Rs256)),
            Ok(Some("r2".to_owned()))
        );
        assert_eq!(
            kid(set.select(Some("r3"), LogoutAlgorithm::Rs256)),
            Err(LogoutTokenError::UnknownKeyId)
        );
        assert_eq!(
            kid(set.select(Some("e"), LogoutAlgorithm::Rs256)),
            Err(LogoutTokenError::KeyAlgorithmMismatch)
        );
        // Without a kid: the one EC key, but not one of two RSA keys.
        assert_eq!(
            kid(set.select(None, LogoutAlgorithm::Es256)),
            Ok(Some("e".to_owned()))
        );
        assert_eq!(
            kid(set.select(None, LogoutAlgorithm::Rs256)),
            Err(LogoutTokenError::MissingKeyId)
        );
        assert!(set.knows(Some("r1")) && set.knows(None) && !set.knows(Some("r3")));
    }
}
