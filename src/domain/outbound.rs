//! The rule for every URL Rescind calls out to (webhooks, scanner and
//! upstream keys, Shared Signals push endpoints): `https`, or `http` to a
//! loopback address (a local relay, the tests); never with user
//! information, which would end in logs.

use url::Url;

/// The longest outbound URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// `raw` parsed, when Rescind may call it. The error completes the sentence
/// "the URL …".
pub fn outbound_url(raw: &str) -> Result<Url, &'static str> {
    if raw.len() > MAX_URL_LEN {
        return Err("is longer than 2048 characters");
    }
    let Ok(parsed) = Url::parse(raw) else {
        return Err("is not a URL");
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry user information");
    }
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err("must be an https URL (http only to a loopback address)"),
    }
}

/// An origin an operator lets a Shared Signals receiver push to, as
/// `scheme://host[:port]` (the default port left out): an outbound URL with
/// no path, query or fragment.
pub fn push_origin(raw: &str) -> Result<String, &'static str> {
    let url = outbound_url(raw)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || raw.ends_with('/')
    {
        return Err("must be an origin (scheme://host[:port], no path)");
    }
    Ok(url.origin().ascii_serialization())
}

/// Whether `endpoint` lies under one of `origins` (each from
/// [`push_origin`]): same scheme, host and port.
#[must_use]
pub fn within_origins(endpoint: &Url, origins: &[String]) -> bool {
    let origin = endpoint.origin().ascii_serialization();
    origins.contains(&origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        for good in [
            "https://receiver.example/events",
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://localhost:9/x",
        ] {
            assert!(outbound_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://receiver.example/events",
            "https://user:pw@receiver.example/",
            "ftp://receiver.example/",
            "file:///etc/passwd",
            "not a url",
            "http://10.0.0.1/x",
        ] {
            assert!(outbound_url(bad).is_err(), "{bad}");
        }
        assert!(outbound_url(&format!("https://r.example/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn a_push_origin_is_normalised_and_matches_only_its_own_endpoints() {
        assert_eq!(
            push_origin("https://Receiver.Example:443"),
            Ok("https://receiver.example".to_owned())
        );
        for bad in [
            "https://receiver.example/",
            "https://receiver.example/path",
            "https://receiver.example?q",
            "http://receiver.example",
        ] {
            assert!(push_origin(bad).is_err(), "{bad}");
        }
        let origins = vec![push_origin("https://receiver.example").unwrap_or_default()];
        let at = |raw: &str| Url::parse(raw).map(|url| within_origins(&url, &origins));
        assert_eq!(at("https://receiver.example/ssf/events"), Ok(true));
        assert_eq!(at("https://receiver.example:443/x"), Ok(true));
        assert_eq!(at("https://receiver.example:8443/x"), Ok(false));
        assert_eq!(at("http://receiver.example/x"), Ok(false));
        assert_eq!(at("https://receiver.example.evil/x"), Ok(false));
    }
}
