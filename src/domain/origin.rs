//! Browser origins allowed to call the revocation endpoint (docs/behaviour.md, CORS), from
//! configuration or from a public client's registration.

/// The longest origin accepted (a scheme, a DNS name and a port fit easily).
pub const MAX_ORIGIN_LEN: usize = 300;

/// Checks `origin` is `scheme://host[:port]` and nothing more. `null` and `*`
/// are refused because they would open the endpoint to any page. The error
/// completes the sentence "the origin …".
pub fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin.len() > MAX_ORIGIN_LEN || !origin.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("must be at most 300 printable ASCII characters without spaces");
    }
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err("is not an origin like https://app.example.com");
    };
    if !matches!(scheme, "https" | "http") {
        return Err("must use http or https");
    }
    if host.is_empty() || host.contains(['/', '?', '#', '@', '*', '\\']) {
        return Err("must be scheme://host[:port] without path, wildcard or user information");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_origins_pass_and_everything_else_is_named() {
        for good in ["https://app.example.com", "http://localhost:3000"] {
            assert_eq!(check_origin(good), Ok(()), "{good}");
        }
        for bad in [
            "null",
            "*",
            "https://*.example.com",
            "https://app.example.com/",
            "ftp://example.com",
            "https://user@example.com",
            "https://exa mple.com",
            "https://example.com\n",
            "https://",
        ] {
            assert!(check_origin(bad).is_err(), "{bad:?}");
        }
        assert!(check_origin(&format!("https://{}.com", "a".repeat(300))).is_err());
    }
}
