//! Where a grant was given: the authorisation server's login session (the
//! OpenID Connect `sid`) and the device it was given to (a Matrix device, a
//! mobile install). Both optional, both set once when the grant is stored,
//! both public labels (never secrets): a logout or a lost device revokes
//! every grant that carries the label.

use std::fmt;

/// Why a string is not a session or device id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("must not be empty")]
    Empty,
    #[error("is at most 255 bytes")]
    TooLong,
    #[error("may only contain visible ASCII characters (no spaces, no control characters)")]
    InvalidCharacter,
}

/// The longest label, in bytes (which equal characters: labels are ASCII).
pub const MAX_LABEL_LEN: usize = 255;

/// Checks a label: 1 to [`MAX_LABEL_LEN`] visible ASCII characters (`%x21-7E`).
/// Visible ASCII covers what identity providers and Matrix homeservers
/// generate (UUIDs, base64url, upper-case letters) while keeping a label
/// free of anything that could forge a log line or hide in a terminal, and
/// keeps bytes and characters the same, so one bound holds for the
/// database, the admin API's document and the command line alike.
fn check_label(raw: &str) -> Result<(), LabelError> {
    if raw.is_empty() {
        return Err(LabelError::Empty);
    }
    if raw.len() > MAX_LABEL_LEN {
        return Err(LabelError::TooLong);
    }
    if !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(LabelError::InvalidCharacter);
    }
    Ok(())
}

/// Defines a checked label type.
macro_rules! label {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses a label (see [`check_label`]).
            pub fn parse(raw: &str) -> Result<Self, LabelError> {
                check_label(raw).map(|()| Self(raw.to_owned()))
            }

            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    };
}

label! {
    /// The authorisation server's login session a grant belongs to (the
    /// OpenID Connect `sid` claim): every grant of one login.
    SessionId
}

label! {
    /// The device a grant was given to (a Matrix device id, a mobile
    /// install's id): every grant of one device.
    DeviceId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_one_to_255_visible_ascii_characters() {
        let longest = "x".repeat(MAX_LABEL_LEN);
        for good in [
            "a",
            "ABCDEFGHIJ",
            "08a5019c-17e1-4977-8f42-65a12843ea02",
            "a_b-c.d~!",
            &longest,
        ] {
            assert_eq!(
                SessionId::parse(good).map(|id| id.to_string()),
                Ok(good.to_owned())
            );
            assert_eq!(
                DeviceId::parse(good).map(|id| id.to_string()),
                Ok(good.to_owned())
            );
        }
        let longer = format!("{longest}x");
        for (bad, why) in [
            ("", LabelError::Empty),
            (longer.as_str(), LabelError::TooLong),
            ("a b", LabelError::InvalidCharacter),
            ("a\nb", LabelError::InvalidCharacter),
            ("a\u{7f}", LabelError::InvalidCharacter),
            ("é", LabelError::InvalidCharacter),
        ] {
            assert_eq!(SessionId::parse(bad), Err(why), "{bad:?}");
            assert_eq!(DeviceId::parse(bad), Err(why), "{bad:?}");
        }
    }
}
