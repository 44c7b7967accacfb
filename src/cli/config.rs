//! `rescind config check`: the configuration in force, validated, with
//! secrets redacted (the database password, the admin token hash, webhook
//! secrets).

use serde_json::Value;

use super::{CliError, print_json};
use crate::config::Settings;

/// What replaces a secret in the printed configuration.
const REDACTED: &str = "<redacted>";

/// Prints the effective settings (defaults, file, environment merged and
/// validated: an invalid configuration never gets here, it stops at load
/// with one line naming the key).
pub fn check(settings: &Settings) -> Result<(), CliError> {
    let mut value = serde_json::to_value(settings)
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    if let Some(url) = value.pointer_mut("/database/url")
        && let Some(text) = url.as_str()
    {
        *url = Value::from(redact_url(text));
    }
    if let Some(hash) = value.pointer_mut("/admin/token_hash")
        && !hash.is_null()
    {
        *hash = Value::from(REDACTED);
    }
    if let Some(Value::Array(webhooks)) = value.pointer_mut("/events/webhooks") {
        for webhook in webhooks {
            if let Some(secret) = webhook.get_mut("secret").filter(|secret| !secret.is_null()) {
                *secret = Value::from(REDACTED);
            }
        }
    }
    print_json(&serde_json::json!({ "valid": true, "settings": value }))
}

/// The URL with the password of its user information, and any `password`
/// query parameter, replaced.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
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
        ] {
            assert_eq!(redact_url(url), expected);
        }
    }
}
