//! The format of tokens Rescind mints (docs/behaviour.md, Token format), checkable offline by scanners.
//!
//! `<prefix>_<random>_<check>`: `random` is 30 characters of `[0-9A-Za-z]` from a
//! CSPRNG; `check` is the CRC-32 (ISO-HDLC, as zlib computes it) of the ASCII
//! bytes of `<prefix>_<random>`, in base62 (`0-9A-Za-z`), most significant digit
//! first, left-padded with `0` to 6 characters. A candidate with this shape and a
//! bad checksum is a typo or a forgery: it is unknown without a database lookup.

use rand::Rng as _;

use super::token::TokenKind;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 30;
const CHECK_LEN: usize = 6;

/// The prefixes in force; validated by configuration to be 1–16 ASCII
/// alphanumerics and distinct, so `_` only ever separates the three parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFormat {
    access_prefix: String,
    refresh_prefix: String,
}

/// What a presented value looks like, judged without the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Minted by Rescind with these prefixes, checksum intact.
    Minted(TokenKind),
    /// Minted shape and one of our prefixes, but the checksum fails.
    BadChecksum,
    /// Any other value (for instance from another authorisation server).
    Other,
}

/// Why a prefix is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("a token prefix must be 1 to 16 ASCII letters or digits")]
    Invalid,
    #[error("the access and refresh token prefixes must differ")]
    NotDistinct,
}

impl TokenFormat {
    /// The default prefixes, `rat` and `rrt`.
    #[must_use]
    pub fn default_prefixes() -> Self {
        Self {
            access_prefix: "rat".to_owned(),
            refresh_prefix: "rrt".to_owned(),
        }
    }

    /// Builds a format from configured prefixes.
    pub fn new(access_prefix: &str, refresh_prefix: &str) -> Result<Self, PrefixError> {
        let valid =
            |p: &str| (1..=16).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid(access_prefix) || !valid(refresh_prefix) {
            return Err(PrefixError::Invalid);
        }
        if access_prefix == refresh_prefix {
            return Err(PrefixError::NotDistinct);
        }
        Ok(Self {
            access_prefix: access_prefix.to_owned(),
            refresh_prefix: refresh_prefix.to_owned(),
        })
    }

    fn prefix(&self, kind: TokenKind) -> &str {
        match kind {
            TokenKind::Access => &self.access_prefix,
            TokenKind::Refresh => &self.refresh_prefix,
        }
    }

    /// Mints a new token of `kind` from the given CSPRNG.
    pub fn mint(
        &self,
        kind: TokenKind,
        rng: &mut (impl rand::CryptoRng + rand::RngCore),
    ) -> String {
        let mut token = String::with_capacity(self.prefix(kind).len() + RANDOM_LEN + CHECK_LEN + 2);
        token.push_str(self.prefix(kind));
        token.push('_');
        for _ in 0..RANDOM_LEN {
            token.push(char::from(BASE62[rng.gen_range(0..BASE62.len())]));
        }
        let check = checksum(&token);
        token.push('_');
        token.push_str(&check);
        token
    }

    /// Classifies a presented value (docs/behaviour.md, Token format).
    #[must_use]
    pub fn classify(&self, candidate: &str) -> Shape {
        let Some((body, check)) = candidate.rsplit_once('_') else {
            return Shape::Other;
        };
        let Some((prefix, random)) = body.rsplit_once('_') else {
            return Shape::Other;
        };
        let kind = if prefix == self.access_prefix {
            TokenKind::Access
        } else if prefix == self.refresh_prefix {
            TokenKind::Refresh
        } else {
            return Shape::Other;
        };
        let base62 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
        if random.len() != RANDOM_LEN
            || check.len() != CHECK_LEN
            || !base62(random)
            || !base62(check)
        {
            return Shape::Other;
        }
        if checksum(body) == check {
            Shape::Minted(kind)
        } else {
            Shape::BadChecksum
        }
    }

    /// The regular expression published for secret scanners (README).
    #[must_use]
    pub fn scanner_regex(&self) -> String {
        format!(
            "(?:{}|{})_[0-9A-Za-z]{{{RANDOM_LEN}}}_[0-9A-Za-z]{{{CHECK_LEN}}}",
            self.access_prefix, self.refresh_prefix
        )
    }
}

/// CRC-32/ISO-HDLC of `body`, as 6 base62 digits.
fn checksum(body: &str) -> String {
    let mut crc = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECK_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    // 62^6 > 2^32, so nothing is left over.
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_crc32_in_six_base62_digits() {
        // CRC-32("123456789") = 0xCBF43926 = 3421780262, the standard check value.
        // 3421780262 in base62 with this alphabet is "3jZRME".
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum("123456789"), "3jZRME");
        assert_eq!(checksum(""), "000000");
    }

    #[test]
    fn minted_tokens_have_the_published_shape_and_classify_as_minted() {
        let format = TokenFormat::default_prefixes();
        let mut rng = rand::rngs::OsRng;
        let access = format.mint(TokenKind::Access, &mut rng);
        let refresh = format.mint(TokenKind::Refresh, &mut rng);
        assert!(
            access.starts_with("rat_") && access.len() == 4 + 30 + 1 + 6,
            "{access}"
        );
        assert!(refresh.starts_with("rrt_"));
        assert_eq!(format.classify(&access), Shape::Minted(TokenKind::Access));
        assert_eq!(format.classify(&refresh), Shape::Minted(TokenKind::Refresh));
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let format = TokenFormat::default_prefixes();
        let token = format.mint(TokenKind::Access, &mut rand::rngs::OsRng);
        let mut bytes = token.into_bytes();
        bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(format.classify(&tampered), Shape::BadChecksum);
    }

    #[test]
    fn other_shapes_are_looked_up_by_hash() {
        let format = TokenFormat::default_prefixes();
        for candidate in [
            "opaque-token-from-elsewhere",
            "rat_short_AAAAAA",
            "xyz_abcdefghijabcdefghijabcdefghij_AAAAAA",
            "rat_abcdefghijabcdefghijabcdefgh-j_AAAAAA",
            "rat_abcdefghijabcdefghijabcdefghij_AAAAA",
            "",
        ] {
            assert_eq!(format.classify(candidate), Shape::Other, "{candidate}");
        }
    }

    #[test]
    fn configured_prefixes_must_be_alphanumeric_and_distinct() {
        assert_eq!(TokenFormat::new("a_b", "rrt"), Err(PrefixError::Invalid));
        assert_eq!(TokenFormat::new("", "rrt"), Err(PrefixError::Invalid));
        assert_eq!(
            TokenFormat::new("same", "same"),
            Err(PrefixError::NotDistinct)
        );
        assert!(TokenFormat::new("acme", "acmer").is_ok());
    }

    #[test]
    fn the_published_regex_names_both_prefixes() {
        assert_eq!(
            TokenFormat::default_prefixes().scanner_regex(),
            "(?:rat|rrt)_[0-9A-Za-z]{30}_[0-9A-Za-z]{6}"
        );
    }
}
