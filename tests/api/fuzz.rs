//! Property-based fuzzing of the parsers that read hostile input: the form
//! body decoder, the HTTP Basic decoder, the minted token format, and the
//! configuration loader.
//!
//! `proptest`, not `cargo fuzz`: libFuzzer needs a nightly toolchain that CI
//! does not have. Inputs are the committed seeds of `fuzz/corpus/<target>/`
//! mutated at random (bytes flipped, inserted, deleted, duplicated, and the
//! characters each grammar cares about spliced in), plus fully random ones;
//! proptest shrinks a failure to a minimal input and records it in
//! `proptest-regressions/fuzz.txt`, which is committed so it is replayed
//! forever. Each target runs `FUZZ_CASES` cases (4 096 by default, about a
//! second each); a longer run: `FUZZ_CASES=1000000 cargo test --test api fuzz`.
//!
//! Beyond "never panics", each target checks what the parser promises.

use std::path::Path;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use rescind::config::Settings;
use rescind::domain::minted::{Shape, TokenFormat};
use rescind::domain::token::TokenKind;
use rescind::http::credentials::Authorization;
use rescind::http::form::Form;

/// Cases per target.
fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(4096);
    Config {
        cases,
        // One committed file, wherever the test source lives.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/fuzz.txt"
        )))),
        ..Config::default()
    }
}

/// The committed seeds of one target.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", folder.display());
    seeds.sort();
    seeds
}

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = input.len();
        match edit {
            Edit::Flip(at, mask) if len > 0 => input[at % len] ^= mask,
            Edit::Insert(at, bytes) => {
                let at = at % (len + 1);
                input.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(at, n) if len > 0 => {
                let start = at % len;
                let end = (start + n).min(len);
                input.drain(start..end);
            }
            Edit::Duplicate(at, n) if len > 0 => {
                let start = at % len;
                let end = (start + n).min(len);
                let copy = input[start..end].to_vec();
                input.splice(end..end, copy);
            }
            _ => {}
        }
    }
    input.truncate(64 * 1024);
    input
}

/// Seeds of `target` edited with bytes from `alphabet` (the characters its
/// grammar gives meaning to), or random bytes.
fn inputs(target: &str, alphabet: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    let seeds = corpus(target);
    let fragment = prop_oneof![
        proptest::sample::select(alphabet).prop_map(<[u8]>::to_vec),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    let edit = prop_oneof![
        (any::<usize>(), 1..=255_u8).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        (any::<usize>(), fragment).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 0..16_usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 0..64_usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ];
    prop_oneof![
        4 => (proptest::sample::select(seeds), proptest::collection::vec(edit, 0..12))
            .prop_map(|(seed, edits)| apply(seed, &edits)),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

/// Percent-encodes every byte but RFC 3986 unreserved ones.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

const FORM_ALPHABET: &[&[u8]] = &[
    b"&",
    b"=",
    b"%",
    b"+",
    b"%2",
    b"%zz",
    b"%C3%A9",
    b"%FF",
    b"%00",
    b"token=",
    b"client_id=",
];
const BASIC_ALPHABET: &[&[u8]] = &[b"Basic ", b" ", b"=", b":", b"%3A", b"/", b"+", b"\xff"];
const TOKEN_ALPHABET: &[&[u8]] = &[b"_", b"rat_", b"rrt_", b"0", b"Z", b"z", b"\xc3\xa9"];
const CONFIG_ALPHABET: &[&[u8]] = &[
    b"\n",
    b"[",
    b"]",
    b"=",
    b"\"",
    b"[server]\n",
    b"[metadata.extra]\n",
    b"issuer = ",
    b"0s",
    b"\"10.0.0.0/33\"",
    b"-1",
    b"\xff",
    b"{",
    b"}",
];

proptest! {
    #![proptest_config(config())]

    /// Any body: decoded or refused, never a panic; a decoded body's pairs
    /// re-encode to a body that decodes to the same pairs.
    #[test]
    fn the_form_decoder_takes_any_body(body in inputs("form", FORM_ALPHABET)) {
        if let Ok(form) = Form::parse(&body) {
            for name in ["token", "token_type_hint", "client_id", "client_secret"] {
                let _ = form.single(name);
            }
            let encoded: Vec<String> = form
                .pairs()
                .iter()
                .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
                .collect();
            let again = Form::parse(encoded.join("&").as_bytes());
            prop_assert!(again.is_ok());
            let again = again.unwrap_or_default();
            prop_assert_eq!(form.pairs(), again.pairs());
        }
    }

    /// Any pairs of Unicode text survive encoding and decoding.
    #[test]
    fn form_encoding_round_trips(pairs in proptest::collection::vec((".{1,12}", ".{0,24}"), 0..6)) {
        let body: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        let form = Form::parse(body.join("&").as_bytes());
        prop_assert!(form.is_ok());
        let decoded: Vec<(String, String)> = form.unwrap_or_default().pairs().to_vec();
        prop_assert_eq!(decoded, pairs);
    }

    /// Any `Authorization` value: a decision, never a panic.
    #[test]
    fn the_basic_decoder_takes_any_header(value in inputs("basic", BASIC_ALPHABET)) {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value);
            let decided = Authorization::from_headers(&headers);
            prop_assert!(decided.was_used());
        }
    }

    /// Any client id and secret, form-encoded then base64-encoded as RFC 6749
    /// §2.3.1 says, decode to themselves.
    #[test]
    fn basic_credentials_round_trip(id in ".{1,40}", secret in ".{0,60}") {
        let raw = format!("{}:{}", form_encode(&id), form_encode(&secret));
        let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("x")),
        );
        match Authorization::from_headers(&headers) {
            Authorization::Basic { id: decoded_id, secret: decoded_secret } => {
                prop_assert_eq!(decoded_id, id);
                prop_assert_eq!(decoded_secret.expose(), secret.as_str());
            }
            other => prop_assert!(false, "not decoded: {other:?}"),
        }
    }

    /// Any candidate: classified, never a panic; a minted shape is only ever
    /// claimed with a verified checksum.
    #[test]
    fn the_token_format_classifies_any_candidate(candidate in inputs("token", TOKEN_ALPHABET)) {
        let format = TokenFormat::new("rat", "rrt").unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&candidate);
        if let Shape::Minted(kind) = format.classify(&text) {
            let prefix = if kind == TokenKind::Access { "rat_" } else { "rrt_" };
            prop_assert!(text.starts_with(prefix));
        }
    }

    /// Changing any one character of a minted token never leaves a token
    /// that passes as minted: the CRC-32 catches every single substitution.
    #[test]
    fn one_changed_character_never_passes_the_checksum(
        seed in any::<[u8; 32]>(),
        access in any::<bool>(),
        position in any::<usize>(),
        replacement in proptest::sample::select(
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_".to_vec()
        ),
    ) {
        use rand::SeedableRng as _;
        let format = TokenFormat::new("rat", "rrt").unwrap_or_else(|e| panic!("{e}"));
        let kind = if access { TokenKind::Access } else { TokenKind::Refresh };
        let mut rng = rand::rngs::StdRng::from_seed(seed);
        let token = format.mint(kind, &mut rng);
        prop_assert_eq!(format.classify(&token), Shape::Minted(kind));
        let mut bytes = token.into_bytes();
        let at = position % bytes.len();
        // Another character of the token alphabet, never the same one.
        bytes[at] = if bytes[at] == replacement {
            if replacement == b'0' { b'1' } else { b'0' }
        } else {
            replacement
        };
        let changed = String::from_utf8(bytes).unwrap_or_default();
        prop_assert!(!matches!(format.classify(&changed), Shape::Minted(_)), "{changed}");
    }

    /// Any configuration file: loaded and valid, or refused with one line
    /// that names what is wrong; never a panic.
    #[test]
    fn the_configuration_loader_takes_any_file(file in inputs("config", CONFIG_ALPHABET)) {
        // A file in a directory of its own, not figment's Jail: the jail
        // changes the working directory of the whole test process.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("rescind.toml");
        std::fs::write(&path, &file).unwrap_or_else(|e| panic!("{e}"));
        match Settings::load(Some(&path)) {
            Ok(settings) => prop_assert!(settings.validate().is_ok()),
            Err(error) => {
                let line = error.to_string();
                prop_assert!(!line.contains('\n'), "{line}");
                prop_assert!(line.starts_with("invalid configuration: `"), "{line}");
            }
        }
    }
}
