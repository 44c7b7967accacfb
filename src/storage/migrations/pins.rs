//! Checksums of released migration steps whose comments were reworded
//! afterwards, so databases migrated by an earlier release still agree with
//! this binary.

use super::Dialect;

/// A released step whose comments were reworded afterwards.
///
/// sqlx checks every applied step's SHA-384 against the step it knows and
/// refuses to run on a mismatch, and the checksum covers the whole file,
/// comments included. A database migrated by an earlier release holds the
/// checksum of the text as released, so a step whose comments changed since
/// carries that checksum: only the prose moved. Fresh databases record the
/// same value, so every database agrees.
///
/// Never pin a step whose statements changed: write a new step instead. The
/// pin also holds the SHA-384 of the released text's statements (comments
/// and blank lines dropped, see `statements_of`), and a test requires the
/// current file to have the same, so a changed statement cannot hide
/// behind a pinned checksum.
pub(super) struct Pin {
    pub(super) dialect: Dialect,
    pub(super) version: i64,
    /// The checksum of the whole text as released.
    pub(super) released: [u8; 48],
    /// The checksum of the released text's statements.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the test that holds the pins")
    )]
    pub(super) statements: [u8; 48],
}

pub(super) const PINS: &[Pin] = &[
    Pin {
        dialect: Dialect::Postgres,
        version: 1,
        released: hex48(
            "e6aa3c89bfb8d9cc0ff92389bd637fec504a5628bf8c6a6a82223298425fbe6ca730470c34481327e9141091b38a791a",
        ),
        statements: hex48(
            "1c418b008a691a5be6158ba5e7bd6cc21347f066ace47a85fdeb4842a76d9e6366be82c45dbc638fd0ffdeebbb089def",
        ),
    },
    Pin {
        dialect: Dialect::Postgres,
        version: 6,
        released: hex48(
            "ad3bf0814f10d50401534a6916462dbad6e460477c7f43490cf11b55f5c5e24968ec7238e22dafde7b658d32e22edc00",
        ),
        statements: hex48(
            "8c4847f717308c2264a0ca7f71efb1064b5da2bce74a07ecee1d8f898643ba3852b3e254fd9cad5cfea7b2f194bee552",
        ),
    },
    Pin {
        dialect: Dialect::Postgres,
        version: 7,
        released: hex48(
            "6f1e6a1e05f453700c4eff63b79a66914f58583a6d917df18dc19ea20db7f0bcc18cb51e074c3d553abbe95332fb1fcc",
        ),
        statements: hex48(
            "ec082f3d73574e7326ed008f3e88739b92fef467f921574060e321f553a988f0f4189f88f30fbee3133702bf90af2d87",
        ),
    },
    Pin {
        dialect: Dialect::Sqlite,
        version: 1,
        released: hex48(
            "42d81247cea7b9d551bda8a70b7b4318f36141dd3e523b2742b13dafe8ff8904990267b72ff0b9a5f321c1f24e397b80",
        ),
        statements: hex48(
            "ba252334c8eafa256b343943f6409290c626e351ce61788fa3a68d40433b1ebf41471a08ef0d254013fccf0ca242df29",
        ),
    },
    Pin {
        dialect: Dialect::Sqlite,
        version: 6,
        released: hex48(
            "633961afe820a23b2dfedbeb973aa81e408a9f03f2fda26b68e9f1c451dabf5cd0efdac4fbfd676414644fdc382104c5",
        ),
        statements: hex48(
            "a5916c44406cbe170494d610a5ef723ff6fe9f2d1e86689efa2f1379ab3cd9a824d8ddb076ad8748e7752e0de7dbf935",
        ),
    },
    Pin {
        dialect: Dialect::Sqlite,
        version: 7,
        released: hex48(
            "bd6eb88ed10b327fe53cb6ad9ee00196616cad9347ec430adcca6748fe1355de8bc9af687c9845702bf531e431dbcd55",
        ),
        statements: hex48(
            "1464abdddd9bcea2d6e26081eea3ebe575df4dc573fa9a7e96b74c12290602e9cc50cf1c9ebbfb1e58286e0e3743e5db",
        ),
    },
];

/// A step's statements: its text without `--` comments, trailing blanks and
/// empty lines (no step has `--` inside a string literal).
#[cfg(test)]
pub(super) fn statements_of(sql: &str) -> String {
    sql.lines()
        .map(|line| {
            line.split_once("--")
                .map_or(line, |(code, _)| code)
                .trim_end()
        })
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A SHA-384 checksum from its hex form, decoded at compile time (a typo
/// fails the build).
const fn hex48(hex: &str) -> [u8; 48] {
    const fn nibble(digit: u8) -> u8 {
        match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => panic!("a checksum is lowercase hex"),
        }
    }
    let hex = hex.as_bytes();
    assert!(hex.len() == 96, "a SHA-384 checksum is 96 hex digits");
    let mut bytes = [0; 48];
    let mut i = 0;
    while i < 48 {
        bytes[i] = nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]);
        i += 1;
    }
    bytes
}

/// The released checksum of `dialect`'s step `version`, when it is pinned.
pub(super) fn released_checksum(dialect: Dialect, version: i64) -> Option<&'static [u8]> {
    PINS.iter()
        .find(|pin| pin.dialect == dialect && pin.version == version)
        .map(|pin| pin.released.as_slice())
}
