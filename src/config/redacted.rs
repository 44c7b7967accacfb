//! How the secrets among the settings are written out.
//!
//! A secret setting (the database URL, which may carry a password; the admin
//! token hash; webhook secrets) is a [`SecretString`]: its `Debug` prints
//! nothing of it, and serializing the settings (as `rescind config check`
//! does) writes it redacted. Code that needs the value calls
//! `expose_secret()` at the one place it is used.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serializer;

/// What replaces a secret in serialized settings.
pub const REDACTED: &str = "<redacted>";

/// An optional secret: `<redacted>` when set.
#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with passes a reference to the field"
)]
pub fn secret<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some(REDACTED),
        None => serializer.serialize_none(),
    }
}

/// The database URL with its password redacted, and the rest kept so an
/// operator can see which database is meant.
#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with passes a reference to the field"
)]
pub fn database_url<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_some(&redact_url(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// The URL with the password of its user information, and any `password`
/// query parameter, replaced. A text that does not parse as a URL is
/// replaced whole: where its parts begin is then anyone's guess (a password
/// with an unencoded `/` or `?` would otherwise be printed).
pub fn redact_url(url: &str) -> String {
    if reqwest::Url::parse(url).is_err() {
        return REDACTED.to_owned();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{tail}")
    } else {
        format!("{scheme}://{authority}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_database_urls_are_redacted() {
        for (url, expected) in [
            (
                "postgres://rescind:s3cret@db:5432/rescind",
                "postgres://rescind:<redacted>@db:5432/rescind",
            ),
            (
                "postgres://rescind:p@ss@db/rescind?sslmode=require&password=other",
                "postgres://rescind:<redacted>@db/rescind?sslmode=require&password=<redacted>",
            ),
            ("postgres://db/rescind", "postgres://db/rescind"),
            ("sqlite://./data/rescind.db", "sqlite://./data/rescind.db"),
            ("sqlite:rescind.db?mode=rwc", "sqlite:rescind.db?mode=rwc"),
            // Unencoded `/` or `?` in the password: not a URL, all redacted.
            ("postgres://u:pa/ss@db/r", "<redacted>"),
            ("postgres://u:pa?ss@db/r", "<redacted>"),
        ] {
            assert_eq!(redact_url(url), expected);
        }
    }
}
