//! Settings of the listener and what it serves: the socket and its limits,
//! TLS, CORS, the metadata document.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes (16 KiB by default; docs/behaviour.md, Revocation).
    pub body_limit: usize,
    /// How long a client may take to send its body.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The `Retry-After` sent with `503`.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Networks (CIDRs or single addresses) whose forwarding header
    /// (`forwarded_header`) is believed.
    pub trusted_proxies: Vec<String>,
    /// The one forwarding header the trusted proxies write; the other is
    /// ignored, since a proxy passes a header it does not write through
    /// untouched, and the client would choose what it says.
    pub forwarded_header: ForwardedHeader,
    /// Requests served at once per listener; beyond it, `503` at once.
    pub max_concurrent_requests: usize,
    /// The longest a public request may take once its headers are in.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a connection may take to send a request's headers, counted
    /// from the connection's start or its previous answer: a connection that
    /// sends nothing is closed then (and a TLS handshake must end by then).
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Connections open at once, both listeners together; lowered at start
    /// to fit under the open-files limit.
    pub max_connections: usize,
}

/// Which header carries the client's address (and scheme) from a trusted
/// proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` and `X-Forwarded-Proto`: what most load balancers
    /// append to.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239): its `for=` and `proto=`.
    Forwarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// A certificate for `localhost`/`127.0.0.1`, made on first start (dev).
    SelfSigned,
    /// PEM certificate chain and key from `tls.cert` and `tls.key`.
    Files,
    /// Plain HTTP behind a TLS-terminating proxy; published URLs stay `https`.
    Proxy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    pub mode: TlsMode,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// How often the certificate files are re-read (zero: only on SIGHUP).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`https://app.example.com`) allowed to call `/oauth2/revoke`.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataSettings {
    /// `Cache-Control: public, max-age=…` of the metadata document.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Merged into the metadata document (file only, not from the environment).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            body_limit: 16 * 1024,
            body_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            max_concurrent_requests: 1024,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            mode: TlsMode::SelfSigned,
            cert: None,
            key: None,
            reload_interval: Duration::from_secs(30),
        }
    }
}

impl Default for MetadataSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            extra: serde_json::Map::new(),
        }
    }
}
