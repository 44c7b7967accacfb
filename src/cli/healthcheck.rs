//! `rescind healthcheck`: asks this configuration's own server whether it is
//! ready, for a container health check where the image has no shell and no
//! curl (the distroless image).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{CliError, print_json};
use crate::config::{Settings, TlsMode};

/// The whole probe, connection included, takes at most this long.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Exits 0 when `/health/ready` of the configured listener answers `200`,
/// printing its answer; fails with one line otherwise.
pub async fn run(settings: &Settings) -> Result<(), CliError> {
    let address = reachable(settings.server.listen);
    let scheme = if settings.tls.mode == TlsMode::Proxy {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{address}/health/ready");
    // The probe talks to this host's own listener and sends nothing secret:
    // the certificate (self-signed, or one for the public name, not for a
    // loopback address) is not what it checks.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .map_err(|error| CliError::Unhealthy(format!("cannot build the HTTP client: {error}")))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|error| CliError::Unhealthy(format!("{url}: {}", without_url(&error))))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if status != reqwest::StatusCode::OK {
        let reason = body["reason"].as_str().unwrap_or("no reason given");
        return Err(CliError::Unhealthy(format!(
            "{url}: not ready ({}, {reason})",
            status.as_u16()
        )));
    }
    print_json(&body)
}

/// Where to reach a listener bound to `listen`: a wildcard address is
/// reached on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// reqwest's error without the URL it repeats, for one short line.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_probed_on_loopback() {
        let at = |text: &str| text.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reachable(at("0.0.0.0:8443")), at("127.0.0.1:8443"));
        assert_eq!(reachable(at("[::]:8443")), at("[::1]:8443"));
        assert_eq!(reachable(at("10.1.2.3:8443")), at("10.1.2.3:8443"));
    }
}
