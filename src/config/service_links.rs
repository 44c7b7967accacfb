//! The variables Kubernetes injects into every pod for each Service of its
//! namespace (unless the pod sets `enableServiceLinks: false`): for a Service
//! `rescind-admin` with port `admin` 9443/TCP on 10.0.0.7,
//!
//! ```text
//! RESCIND_ADMIN_SERVICE_HOST=10.0.0.7
//! RESCIND_ADMIN_SERVICE_PORT=9443
//! RESCIND_ADMIN_SERVICE_PORT_ADMIN=9443
//! RESCIND_ADMIN_PORT=tcp://10.0.0.7:9443
//! RESCIND_ADMIN_PORT_9443_TCP=tcp://10.0.0.7:9443
//! RESCIND_ADMIN_PORT_9443_TCP_PROTO=tcp
//! RESCIND_ADMIN_PORT_9443_TCP_PORT=9443
//! RESCIND_ADMIN_PORT_9443_TCP_ADDR=10.0.0.7
//! ```
//!
//! Any Service whose name starts with `rescind-` (or is `rescind`) shares our
//! `RESCIND_` prefix, and refusing those as unknown keys would crash-loop the
//! pod. They are recognised by their exact shape: a prefix that a Service
//! name can produce (`rescind`, then `-` and letters, digits or hyphens,
//! ending in a letter or digit, upper-cased with `-` as `_`), then one of the
//! suffixes above. A nested key is `RESCIND_<SECTION>__<KEY>`, so a name whose
//! prefix holds `__` is always taken for a key, never a link (a Service name
//! with two hyphens in a row is not recognised); a top-level key is never a
//! link either (a test checks every key).

/// The longest Service name Kubernetes accepts (an RFC 1035 label).
const MAX_SERVICE_NAME: usize = 63;

/// The longest port name (an IANA service name).
const MAX_PORT_NAME: usize = 15;

/// Whether the environment variable `name` (any case) is a service link of
/// a Service named `rescind` or `rescind-…`.
#[must_use]
pub fn is_service_link(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.match_indices("_SERVICE_")
        .chain(name.match_indices("_PORT"))
        .any(|(at, _)| is_service_prefix(&name[..at]) && is_link_suffix(&name[at..]))
}

/// `RESCIND` or `RESCIND_…` as a Service name makes it.
fn is_service_prefix(prefix: &str) -> bool {
    let Some(rest) = prefix.strip_prefix("RESCIND") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(tail) = rest.strip_prefix('_') else {
        return false;
    };
    prefix.len() <= MAX_SERVICE_NAME
        && !prefix.contains("__")
        && tail.ends_with(|c: char| c.is_ascii_alphanumeric())
        && tail
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_link_suffix(suffix: &str) -> bool {
    match suffix {
        "_SERVICE_HOST" | "_SERVICE_PORT" | "_PORT" => true,
        _ => {
            suffix
                .strip_prefix("_SERVICE_PORT_")
                .is_some_and(is_port_name)
                || suffix.strip_prefix("_PORT_").is_some_and(is_port_variable)
        }
    }
}

/// An IANA service name as Kubernetes spells a port name, upper-cased with
/// `-` as `_`.
fn is_port_name(name: &str) -> bool {
    (1..=MAX_PORT_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.chars().any(|c| c.is_ascii_uppercase())
        && !name.starts_with('_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// `9443_TCP`, optionally followed by `_PROTO`, `_PORT` or `_ADDR`.
fn is_port_variable(rest: &str) -> bool {
    let mut parts = rest.split('_');
    let number = parts.next().unwrap_or_default();
    let valid_number = !number.starts_with('0') && number.parse::<u16>().is_ok_and(|port| port > 0);
    let valid_protocol = matches!(parts.next(), Some("TCP" | "UDP" | "SCTP"));
    let valid_field = match parts.next() {
        None => true,
        Some(field) => matches!(field, "PROTO" | "PORT" | "ADDR") && parts.next().is_none(),
    };
    valid_number && valid_protocol && valid_field
}

#[cfg(test)]
mod tests {
    use super::is_service_link;

    #[test]
    fn every_variable_kubernetes_injects_for_a_rescind_service_is_a_link() {
        for service in ["RESCIND", "RESCIND_ADMIN", "RESCIND_V2_PUBLIC", "RESCIND_9"] {
            for suffix in [
                "_SERVICE_HOST",
                "_SERVICE_PORT",
                "_SERVICE_PORT_HTTP",
                "_SERVICE_PORT_ADMIN_API",
                "_PORT",
                "_PORT_8443_TCP",
                "_PORT_8443_TCP_PROTO",
                "_PORT_8443_TCP_PORT",
                "_PORT_8443_TCP_ADDR",
                "_PORT_53_UDP_ADDR",
                "_PORT_65535_SCTP",
            ] {
                let name = format!("{service}{suffix}");
                assert!(is_service_link(&name), "{name}");
                assert!(is_service_link(&name.to_ascii_lowercase()), "{name}");
            }
        }
        // Services whose own names hold the words.
        for name in [
            "RESCIND_PORT_SERVICE_HOST",
            "RESCIND_SERVICE_SERVICE_PORT",
            "RESCIND_ADMIN_PORT_PORT_9443_TCP_ADDR",
        ] {
            assert!(is_service_link(name), "{name}");
        }
    }

    #[test]
    fn configuration_keys_and_near_misses_are_not_links() {
        for name in [
            "RESCIND_ISSUER",
            "RESCIND_DATA_DIR",
            "RESCIND_CONFIG",
            "RESCIND_SERVER__LISTEN",
            "RESCIND_ADMIN__LISTEN",
            // Keys a later release could add end in `port` without being
            // links: nested keys hold `__`.
            "RESCIND_ADMIN__PORT",
            "RESCIND_SERVER__ADMIN_PORT",
            "RESCIND_SERVER__SERVICE_HOST",
            "RESCIND_SERVER__PORT_8443_TCP",
            // Not a shape Kubernetes makes.
            "RESCIND_PORTS",
            "RESCIND_PORT_",
            "RESCIND_PORT_0_TCP",
            "RESCIND_PORT_08443_TCP",
            "RESCIND_PORT_70000_TCP",
            "RESCIND_PORT_8443",
            "RESCIND_PORT_8443_HTTP",
            "RESCIND_PORT_8443_TCP_HOST",
            "RESCIND_PORT_8443_TCP_ADDR_X",
            "RESCIND_SERVICE_PORT_",
            "RESCIND_SERVICE_PORT_8443",
            "RESCIND_SERVICE_PORT_A__B",
            "RESCIND_SERVICE_PORT_THIS_NAME_IS_TOO_LONG",
            "RESCIND_SERVICE_HOSTS",
            "RESCIND__SERVICE_HOST",
            "RESCIND_ADMIN__SERVICE_HOST",
            "RESCIND_ADMIN__X_SERVICE_HOST",
            "RESCINDX_SERVICE_HOST",
            "OTHER_SERVICE_HOST",
        ] {
            assert!(!is_service_link(name), "{name}");
        }
        let longest = format!("RESCIND_{}_SERVICE_HOST", "A".repeat(63 - 8));
        assert!(is_service_link(&longest));
        let too_long = format!("RESCIND_{}_SERVICE_HOST", "A".repeat(63 - 7));
        assert!(!is_service_link(&too_long));
    }
}
