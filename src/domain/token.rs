//! Tokens as presented by callers and as stored (by hash only).

use std::fmt;

use sha2::{Digest as _, Sha256};

/// The two token kinds of OAuth 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    /// Parses the stored form written by [`TokenKind::as_str`].
    #[must_use]
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "access" => Some(Self::Access),
            "refresh" => Some(Self::Refresh),
            _ => None,
        }
    }
}

/// RFC 7009 §2.1 `token_type_hint`. Unknown values parse to `None` and are
/// ignored (RFC 7009 §2.2), so a hint never changes an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "access_token" => Some(Self::AccessToken),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// The SHA-256 of a token value: the only form in which a token is stored.
///
/// `Debug` prints no bytes, so even a hash cannot be correlated from logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

/// Lower-case hexadecimal, as secret-scanning feedback and signatures print
/// digests.
#[must_use]
pub fn lower_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

impl TokenHash {
    /// The hash in lower-case hexadecimal (GitHub's `token_hash`).
    #[must_use]
    pub fn to_hex(&self) -> String {
        lower_hex(&self.0)
    }

    /// Hashes a token value.
    #[must_use]
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Rebuilds a hash read from the store; `None` when it is not 32 bytes.
    #[must_use]
    pub fn from_stored(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A token value received from a caller. Never logged; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedToken(String);

impl PresentedToken {
    /// Wraps a presented value; `None` for an empty one (RFC 6749 §3.2: an
    /// empty parameter counts as absent).
    #[must_use]
    pub fn parse(raw: String) -> Option<Self> {
        (!raw.is_empty()).then_some(Self(raw))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_sha256_of_the_value() {
        let hash = TokenHash::of("abc");
        assert_eq!(
            hash.as_bytes()[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts with ba7816bf"
        );
    }

    #[test]
    fn an_empty_token_counts_as_absent() {
        assert!(PresentedToken::parse(String::new()).is_none());
        assert!(PresentedToken::parse("x".to_owned()).is_some());
    }

    #[test]
    fn unknown_hints_are_ignored() {
        assert_eq!(
            TokenTypeHint::parse("refresh_token"),
            Some(TokenTypeHint::RefreshToken)
        );
        assert_eq!(TokenTypeHint::parse("id_token"), None);
        assert_eq!(TokenTypeHint::parse("ACCESS_TOKEN"), None);
    }

    #[test]
    fn debug_output_never_shows_the_token_or_its_hash() {
        let token = PresentedToken::parse("rat_secretvalue".to_owned())
            .map(|t| format!("{t:?} {:?}", t.hash()));
        let shown = token.unwrap_or_default();
        assert!(!shown.contains("secretvalue"));
        assert_eq!(shown, "PresentedToken(<redacted>) TokenHash(..)");
    }

    #[test]
    fn a_stored_hash_must_be_32_bytes() {
        assert!(TokenHash::from_stored(&[0; 31]).is_none());
        assert_eq!(TokenHash::from_stored(&[7; 32]).map(|h| h.0), Some([7; 32]));
    }
}
