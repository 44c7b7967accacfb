//! Client credentials from the `Authorization` header and the form body
//! (RFC 6749 §2.3.1), combined by the rules of docs/behaviour.md (Client authentication) into [`Credentials`].

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::error::OAuthError;
use super::form;
use crate::auth::Credentials;
use crate::domain::secret::ClientSecret;

/// What the `Authorization` header said.
#[derive(Debug)]
pub enum Authorization {
    Absent,
    /// `Basic`, decoded: base64, split at the first `:`, each half form-decoded.
    Basic {
        id: String,
        secret: ClientSecret,
    },
    /// Some other scheme (`Bearer`, …).
    OtherScheme,
    /// Repeated, not ASCII, or not decodable as Basic credentials.
    Malformed,
}

/// Standard base64; padding optional, since some clients drop it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Authorization {
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return if headers.contains_key(header::AUTHORIZATION) {
                Self::Malformed
            } else {
                Self::Absent
            };
        };
        let Ok(value) = value.to_str() else {
            return Self::Malformed;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Self::OtherScheme;
        }
        Self::decode_basic(rest.trim_matches(' ')).unwrap_or(Self::Malformed)
    }

    fn decode_basic(encoded: &str) -> Option<Self> {
        let decoded = BASE64.decode(encoded).ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let id = form::decode(&decoded[..colon]).ok()?;
        let secret = form::decode(&decoded[colon + 1..]).ok()?;
        Some(Self::Basic {
            id,
            secret: ClientSecret::new(secret),
        })
    }

    /// Whether the request used an `Authorization` header at all, which makes a
    /// `401` carry a `WWW-Authenticate` challenge (RFC 6749 §5.2).
    #[must_use]
    pub const fn was_used(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// Combines header and body credentials by the rules of docs/behaviour.md (Client authentication), first match wins.
/// `realm` is the issuer, for the `WWW-Authenticate` challenge.
pub fn combine(
    authorization: Authorization,
    body_id: Option<&str>,
    body_secret: Option<&str>,
    realm: &str,
) -> Result<Credentials, OAuthError> {
    match authorization {
        Authorization::Malformed => Err(OAuthError::invalid_request(
            "the Authorization header is not valid Basic credentials",
        )),
        Authorization::OtherScheme => Err(OAuthError::invalid_client(Some(realm))),
        Authorization::Basic { .. } if body_secret.is_some() => Err(OAuthError::invalid_request(
            "client credentials were sent by more than one method",
        )),
        Authorization::Basic { id, .. } if body_id.is_some_and(|body_id| body_id != id) => Err(
            OAuthError::invalid_request("client_id differs from the Authorization header"),
        ),
        // "id:" with an empty password names a client without a secret.
        Authorization::Basic { id, secret } if secret.expose().is_empty() => {
            Ok(Credentials::ClientId(id))
        }
        Authorization::Basic { id, secret } => Ok(Credentials::ClientSecret { id, secret }),
        Authorization::Absent => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials::ClientSecret {
                id: id.to_owned(),
                secret: ClientSecret::new(secret.to_owned()),
            }),
            (Some(id), None) => Ok(Credentials::ClientId(id.to_owned())),
            (None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret was sent without client_id",
            )),
            (None, None) => Ok(Credentials::None),
        },
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn parse(value: &str) -> Authorization {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(header::AUTHORIZATION, value);
        }
        Authorization::from_headers(&headers)
    }

    fn basic(id: &str, secret: &str) -> Authorization {
        Authorization::Basic {
            id: id.to_owned(),
            secret: ClientSecret::new(secret.to_owned()),
        }
    }

    /// A comparable description; the secret type has no `PartialEq` on purpose.
    fn describe(authorization: &Authorization) -> String {
        match authorization {
            Authorization::Absent => "absent".to_owned(),
            Authorization::Basic { id, secret } => format!("basic {id:?} {:?}", secret.expose()),
            Authorization::OtherScheme => "other scheme".to_owned(),
            Authorization::Malformed => "malformed".to_owned(),
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        // base64("client%3A1:se%2Bcret+x") — an encoded ':' in the id, '+' and a space in the secret.
        let encoded = BASE64.encode("client%3A1:se%2Bcret+x");
        assert_eq!(
            describe(&parse(&format!("Basic {encoded}"))),
            describe(&basic("client:1", "se+cret x"))
        );
    }

    #[test]
    fn the_split_is_at_the_first_colon_so_secrets_may_contain_colons() {
        let encoded = BASE64.encode("web:pa:ss:word");
        assert_eq!(
            describe(&parse(&format!("bAsIc {encoded}"))),
            describe(&basic("web", "pa:ss:word"))
        );
    }

    #[test]
    fn undecodable_basic_credentials_are_malformed() {
        for value in [
            "Basic",
            "Basic !!!",
            &format!("Basic {}", BASE64.encode("no-colon")),
            &format!("Basic {}", BASE64.encode("a%zz:b")),
        ] {
            assert_eq!(describe(&parse(value)), "malformed", "{value}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_basic_secret() {
        let encoded = BASE64.encode("web:hunter2");
        assert!(!format!("{:?}", parse(&format!("Basic {encoded}"))).contains("hunter2"));
    }

    #[test]
    fn other_schemes_are_recognised_as_such() {
        assert_eq!(describe(&parse("Bearer abc")), "other scheme");
        assert_eq!(describe(&parse("Basicx abc")), "other scheme");
    }

    #[test]
    fn a_repeated_header_is_malformed() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YTpi"),
        );
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YTpi"),
        );
        assert_eq!(
            describe(&Authorization::from_headers(&headers)),
            "malformed"
        );
    }

    #[test]
    fn a_secret_by_two_methods_or_a_differing_id_is_a_bad_request() {
        let both = combine(basic("a", "s"), None, Some("s"), "realm");
        assert_eq!(both.err().map(|e| e.status().as_u16()), Some(400));
        let differing = combine(basic("a", "s"), Some("b"), None, "realm");
        assert_eq!(differing.err().map(|e| e.status().as_u16()), Some(400));
        let same = combine(basic("a", "s"), Some("a"), None, "realm");
        assert!(matches!(same, Ok(Credentials::ClientSecret { id, .. }) if id == "a"));
    }

    #[test]
    fn body_credentials_pick_the_method() {
        assert!(matches!(
            combine(Authorization::Absent, Some("a"), Some("s"), "r"),
            Ok(Credentials::ClientSecret { .. })
        ));
        assert!(
            matches!(combine(Authorization::Absent, Some("a"), None, "r"), Ok(Credentials::ClientId(id)) if id == "a")
        );
        assert!(matches!(
            combine(Authorization::Absent, None, None, "r"),
            Ok(Credentials::None)
        ));
        let orphan = combine(Authorization::Absent, None, Some("s"), "r");
        assert_eq!(orphan.err().map(|e| e.status().as_u16()), Some(400));
    }
}
