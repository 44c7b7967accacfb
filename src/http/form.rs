//! A strict `application/x-www-form-urlencoded` decoder (RFC 6749 Appendix B).
//!
//! Strict where common decoders are lenient, because this is a security
//! boundary: a malformed `%` escape or invalid UTF-8 is an error rather than a
//! silently altered value, and a repeated parameter is reported rather than
//! resolved by "last one wins" (RFC 6749 §3.2).

/// Why a body, query or header half could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    Malformed,
}

/// A parameter that appears more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate(pub &'static str);

/// Decoded name/value pairs, in order. Values may be tokens or secrets, so
/// `Debug` shows the names only.
#[derive(Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Form {
    /// Decodes `name=value&…`. Empty pieces (`a=1&&b=2`, a trailing `&`) are
    /// skipped; a piece without `=` is a name with an empty value.
    pub fn parse(input: &[u8]) -> Result<Self, FormError> {
        let pairs = input
            .split(|&b| b == b'&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| {
                let (name, value) = match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                    None => (piece, &[][..]),
                };
                Ok((decode(name)?, decode(value)?))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { pairs })
    }

    /// Every decoded pair, in order.
    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of a parameter that may appear at most once. An empty value
    /// counts as absent (RFC 6749 §3.2), but still counts as a copy.
    pub fn single(&self, name: &'static str) -> Result<Option<&str>, Duplicate> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(Duplicate(name));
        }
        Ok(first.filter(|value| !value.is_empty()))
    }

    /// Whether any of `names` is present, with or without a value.
    #[must_use]
    pub fn contains_any(&self, names: &[&str]) -> bool {
        self.pairs
            .iter()
            .any(|(name, _)| names.contains(&name.as_str()))
    }
}

/// Decodes one name, value or Basic-credential half: `+` is a space, `%XX` a
/// byte, and the bytes must then be UTF-8.
pub fn decode(input: &[u8]) -> Result<String, FormError> {
    let mut bytes = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            b'%' => {
                let [high, low, ..] = *tail else {
                    return Err(FormError::Malformed);
                };
                let (Some(high), Some(low)) = (hex(high), hex(low)) else {
                    return Err(FormError::Malformed);
                };
                bytes.push(high << 4 | low);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| FormError::Malformed)
}

const fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc6749_appendix_b_vector_decodes() {
        assert_eq!(
            decode(b"+%25%26%2B%C2%A3%E2%82%AC").as_deref(),
            Ok(" %&+\u{a3}\u{20ac}")
        );
    }

    #[test]
    fn malformed_escapes_and_invalid_utf8_are_errors() {
        for bad in [&b"%"[..], b"%4", b"%zz", b"abc%g1", b"%C3%28", b"\xff"] {
            assert_eq!(decode(bad), Err(FormError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn pairs_decode_in_order_and_empty_pieces_are_skipped() {
        let form =
            Form::parse(b"token=a%2Bb&&token_type_hint=access_token&flag&").unwrap_or_default();
        assert_eq!(form.single("token"), Ok(Some("a+b")));
        assert_eq!(form.single("token_type_hint"), Ok(Some("access_token")));
        assert_eq!(form.single("flag"), Ok(None));
        assert_eq!(form.single("missing"), Ok(None));
    }

    #[test]
    fn an_empty_value_is_absent_but_still_a_copy() {
        let form = Form::parse(b"token=").unwrap_or_default();
        assert_eq!(form.single("token"), Ok(None));
        let twice = Form::parse(b"token=&token=abc").unwrap_or_default();
        assert_eq!(twice.single("token"), Err(Duplicate("token")));
    }

    #[test]
    fn an_encoded_name_is_the_same_parameter() {
        let form = Form::parse(b"token=a&%74oken=b").unwrap_or_default();
        assert_eq!(form.single("token"), Err(Duplicate("token")));
    }

    #[test]
    fn debug_output_shows_names_but_never_values() {
        let form = Form::parse(b"token=secret-token&client_secret=hunter2").unwrap_or_default();
        assert_eq!(format!("{form:?}"), r#"["token", "client_secret"]"#);
    }

    #[test]
    fn contains_any_sees_names_without_values() {
        let form = Form::parse(b"page=2&client_secret").unwrap_or_default();
        assert!(form.contains_any(&["token", "client_secret"]));
        assert!(!form.contains_any(&["token"]));
    }
}
