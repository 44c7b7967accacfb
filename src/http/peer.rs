//! Who is calling: the client address used for rate limits, logs and the
//! admin audit, resolved through trusted proxies only.
//!
//! The forwarding header is read only when the TCP peer is in
//! `server.trusted_proxies`; from anyone else it is ignored, or any caller
//! could pick the address its rate limit is counted against. Only the one
//! header the operator's proxy writes (`server.forwarded_header`) is read:
//! `X-Forwarded-For` with `X-Forwarded-Proto`, or `Forwarded` (RFC 7239)
//! with its `for=` and `proto=`. A proxy appends to its own header and
//! passes the other through as the client sent it, so believing both would
//! let the client choose. The chain is walked from the right (the hop
//! nearest to us): trusted hops are skipped, and the first untrusted one is
//! the client.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::config::ForwardedHeader;

/// The resolved caller, available to handlers as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: IpAddr,
    /// `https`/`http` as a trusted proxy reported it; `None` otherwise.
    pub forwarded_https: Option<bool>,
}

/// The networks whose forwarding header is believed, and which header that
/// is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    #[must_use]
    pub const fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { networks, header }
    }

    /// Whether `ip` is a trusted proxy (its forwarding header and its
    /// `X-Request-Id` are believed).
    #[must_use]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|network| network.contains(&ip))
    }

    /// The caller behind `peer`, as far as trusted hops vouch for it.
    #[must_use]
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return ClientAddress {
                ip: peer,
                forwarded_https: None,
            };
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(client) => client = ip.to_canonical(),
                // An unparsable or obfuscated hop: stop at the last address
                // a trusted proxy vouched for.
                _ => break,
            }
            if !self.trusts(client) {
                break;
            }
        }
        ClientAddress {
            ip: client,
            forwarded_https: forwarded_proto(headers, self.header),
        }
    }
}

/// The hops of `Forwarded` (`for=`), leftmost first, every header line in
/// order. `None` marks a hop that is not an address (`unknown`, `_hidden`,
/// garbage).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    header_values(headers, &header::FORWARDED)
        .iter()
        .flat_map(|line| line.split(','))
        .map(|element| {
            element
                .split(';')
                .find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    name.trim().eq_ignore_ascii_case("for").then_some(value)
                })
                .and_then(parse_node)
        })
        .collect()
}

/// The hops of `X-Forwarded-For`, as [`forwarded_for`] reads `Forwarded`.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    header_values(headers, &X_FORWARDED_FOR)
        .iter()
        .flat_map(|line| line.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// An RFC 7239 node (`192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`) or
/// a plain address.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bracketed = node.strip_prefix('[')?;
    bracketed.split_once(']')?.0.parse().ok()
}

/// The scheme the nearest trusted proxy saw: `Forwarded`'s last `proto=`,
/// or `X-Forwarded-Proto`'s last value, whichever header the proxy writes.
fn forwarded_proto(headers: &HeaderMap, header: ForwardedHeader) -> Option<bool> {
    let proto = match header {
        ForwardedHeader::Forwarded => header_values(headers, &header::FORWARDED)
            .iter()
            .flat_map(|line| line.split([',', ';']))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("proto")
                    .then(|| value.trim().trim_matches('"'))
            })
            .next_back()
            .map(str::to_owned),
        ForwardedHeader::XForwardedFor => header_values(headers, &X_FORWARDED_PROTO)
            .iter()
            .flat_map(|line| line.split(','))
            .next_back()
            .map(|value| value.trim().to_owned()),
    }?;
    match proto.to_ascii_lowercase().as_str() {
        "https" => Some(true),
        "http" => Some(false),
        _ => None,
    }
}

static X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: header::HeaderName = header::HeaderName::from_static("x-forwarded-proto");

fn header_values<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect()
}

/// Middleware: resolves the caller and stores it as a [`ClientAddress`]
/// extension (the peer itself when the connection info is missing).
pub async fn resolve_client(
    axum::extract::State(proxies): axum::extract::State<std::sync::Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    let client = proxies.resolve(peer, request.headers());
    // Into the request span opened by the outer layer: the access log line
    // shows the resolved address and, behind a trusted proxy, the scheme the
    // client used.
    let span = tracing::Span::current();
    span.record("client_ip", tracing::field::display(client.ip));
    if let Some(https) = client.forwarded_https {
        span.record("forwarded_proto", if https { "https" } else { "http" });
    }
    request.extensions_mut().insert(client);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies_writing(header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(
            vec![
                "10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!()),
                "2001:db8:ffff::/48"
                    .parse()
                    .unwrap_or_else(|_| unreachable!()),
            ],
            header,
        )
    }

    fn proxies() -> TrustedProxies {
        proxies_writing(ForwardedHeader::XForwardedFor)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let resolved = proxies().resolve(
            ip("198.51.100.9"),
            &headers(&[
                ("x-forwarded-for", "203.0.113.1"),
                ("forwarded", "for=203.0.113.2"),
            ]),
        );
        assert_eq!(resolved.ip, ip("198.51.100.9"));
        assert_eq!(resolved.forwarded_https, None);
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_a_spoofed_left_part_is_ignored() {
        // The client sent "X-Forwarded-For: 1.2.3.4" itself; the proxy appended
        // the real address.
        let resolved = proxies().resolve(
            ip("10.1.1.1"),
            &headers(&[
                ("x-forwarded-for", "1.2.3.4, 203.0.113.7"),
                ("x-forwarded-proto", "https"),
            ]),
        );
        assert_eq!(resolved.ip, ip("203.0.113.7"));
        assert_eq!(resolved.forwarded_https, Some(true));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_from_the_right() {
        let resolved = proxies().resolve(
            ip("10.0.0.2"),
            &headers(&[
                ("x-forwarded-for", "203.0.113.7, 10.0.0.9"),
                ("x-forwarded-for", "10.0.0.3"),
            ]),
        );
        assert_eq!(resolved.ip, ip("203.0.113.7"));
    }

    #[test]
    fn a_client_s_forwarded_header_is_ignored_when_the_proxy_writes_x_forwarded_for() {
        // The proxy appended the real address to X-Forwarded-For and passed
        // the client's own Forwarded header through.
        let resolved = proxies().resolve(
            ip("10.0.0.2"),
            &headers(&[
                ("forwarded", "for=203.0.113.9;proto=https"),
                ("x-forwarded-for", "198.51.100.66"),
                ("x-forwarded-proto", "http"),
            ]),
        );
        assert_eq!(resolved.ip, ip("198.51.100.66"));
        assert_eq!(resolved.forwarded_https, Some(false));
    }

    #[test]
    fn with_forwarded_configured_x_forwarded_for_is_ignored_and_node_forms_parse() {
        let resolved = proxies_writing(ForwardedHeader::Forwarded).resolve(
            ip("10.0.0.2"),
            &headers(&[
                (
                    "forwarded",
                    "for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.5",
                ),
                ("x-forwarded-for", "203.0.113.99"),
                ("x-forwarded-proto", "http"),
            ]),
        );
        assert_eq!(resolved.ip, ip("2001:db8::1"));
        assert_eq!(resolved.forwarded_https, Some(true));
        let without = proxies_writing(ForwardedHeader::Forwarded).resolve(
            ip("10.0.0.2"),
            &headers(&[("x-forwarded-for", "203.0.113.99")]),
        );
        assert_eq!(
            without.ip,
            ip("10.0.0.2"),
            "X-Forwarded-For alone names no one"
        );
    }

    #[test]
    fn an_unknown_hop_stops_the_walk_at_the_last_vouched_address() {
        let resolved = proxies_writing(ForwardedHeader::Forwarded).resolve(
            ip("10.0.0.2"),
            &headers(&[("forwarded", "for=203.0.113.1, for=unknown")]),
        );
        assert_eq!(resolved.ip, ip("10.0.0.2"));
    }

    #[test]
    fn ipv4_mapped_peers_are_matched_as_ipv4() {
        let resolved = proxies().resolve(
            ip("::ffff:10.0.0.2"),
            &headers(&[("x-forwarded-for", "203.0.113.7")]),
        );
        assert_eq!(resolved.ip, ip("203.0.113.7"));
    }
}
