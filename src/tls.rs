//! TLS with rustls (ring provider), TLS 1.2 and 1.3 only (docs/behaviour.md, Transport).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Settings, TlsMode};
use crate::private_files::{self, PrivateFileError};

/// Why TLS could not be set up. Each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate chain {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS certificate and key cannot be used together: {0}")]
    Mismatch(#[source] rustls::Error),
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("cannot write the self-signed certificate to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Private(#[from] PrivateFileError),
}

/// Makes ring the process-wide rustls provider, so every rustls user in the
/// process (the PostgreSQL driver included) agrees. Safe to call repeatedly.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = ring::default_provider().install_default();
}

/// The certificate chain and key files in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertificateFiles {
    /// Loads the pair into a server configuration.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        load(&self.cert, &self.key)
    }

    /// The files' contents, to notice a change (cheap: a few KiB).
    fn contents(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        Some((fs::read(&self.cert).ok()?, fs::read(&self.key).ok()?))
    }
}

/// The certificate files for `settings` (generating the self-signed pair on
/// first use), or `None` in proxy mode.
pub fn certificate_files(settings: &Settings) -> Result<Option<CertificateFiles>, TlsError> {
    match settings.tls.mode {
        TlsMode::Proxy => Ok(None),
        TlsMode::SelfSigned => {
            let (cert, key) = ensure_self_signed(&settings.data_dir.join("tls"))?;
            Ok(Some(CertificateFiles { cert, key }))
        }
        TlsMode::Files => {
            let (Some(cert), Some(key)) = (&settings.tls.cert, &settings.tls.key) else {
                // Configuration validation requires both in this mode.
                return Err(TlsError::Certificate {
                    path: PathBuf::new(),
                    reason: "not configured".to_owned(),
                });
            };
            Ok(Some(CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            }))
        }
    }
}

/// Keeps the served certificate in step with its files: they are re-read
/// every `interval` (zero: never) and on SIGHUP, and a changed pair is
/// loaded into `apply`. A pair that does not load (a half-written file, a key
/// that does not match) is logged and skipped: the server keeps the
/// certificate it has, and retries at the next change or signal.
pub async fn follow_certificate_files(
    files: CertificateFiles,
    interval: std::time::Duration,
    apply: impl Fn(Arc<ServerConfig>),
) {
    let mut seen = files.contents();
    #[cfg(unix)]
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let forced = tokio::select! {
            () = sleep_or_forever(interval) => false,
            () = hangup(
                #[cfg(unix)]
                hangups.as_mut(),
            ) => true,
        };
        let now = files.contents();
        if !forced && now == seen {
            continue;
        }
        match files.load() {
            Ok(config) => {
                apply(config);
                seen = now;
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(error) => {
                tracing::error!(error = %error, "TLS certificate not reloaded; keeping the current one");
                // Try again when the files change again, or on the next signal.
                seen = now;
            }
        }
    }
}

async fn sleep_or_forever(interval: std::time::Duration) {
    if interval.is_zero() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(interval).await;
}

#[cfg(unix)]
async fn hangup(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn hangup() {
    std::future::pending::<()>().await;
}

/// Loads a PEM chain and key into a TLS 1.2/1.3 configuration. Refuses a key
/// that does not belong to the certificate.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: cert_path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no certificate in the file".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
        path: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The development certificate: generated once for `localhost` and
/// `127.0.0.1` into `dir`, reused on every later start. The folder is
/// created `0700` and the key `0600`; at every start both are checked again
/// (no symbolic link, no permission for other users), and a start with a
/// folder or key that others can read is refused, naming the path.
fn ensure_self_signed(dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    private_files::ensure_private_dir(dir)?;
    if cert_path.is_file() && fs::symlink_metadata(&key_path).is_ok() {
        private_files::check(&key_path, 0o600)?;
        return Ok((cert_path, key_path));
    }
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(TlsError::Generate)?;
    private_files::write_new_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    fs::write(&cert_path, generated.cert.pem()).map_err(|source| TlsError::Write {
        path: cert_path.clone(),
        source,
    })?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed certificate for localhost and 127.0.0.1");
    Ok((cert_path, key_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_generated_once_and_reused() {
        let root = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(root) = root else {
            panic!("no temp dir")
        };
        let dir = root.path().join("tls");
        let dir = dir.as_path();
        let first = ensure_self_signed(dir).map_err(|e| e.to_string());
        let Ok((cert, key)) = first else {
            panic!("generation failed: {first:?}")
        };
        let pem = fs::read(&cert).unwrap_or_default();
        assert!(load(&cert, &key).is_ok());
        assert!(ensure_self_signed(dir).is_ok());
        assert_eq!(
            fs::read(&cert).unwrap_or_default(),
            pem,
            "a second start reuses the certificate"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&key)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default();
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(dir)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default();
            assert_eq!(dir_mode, 0o700);
            // A key others can read is refused at the next start, by name.
            let _ = fs::set_permissions(&key, fs::Permissions::from_mode(0o644));
            let refused = ensure_self_signed(dir).map_err(|e| e.to_string());
            assert!(
                matches!(&refused, Err(message) if message.contains(&key.display().to_string())),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("no temp dir")
        };
        let (Ok((cert, _)), Ok((_, other_key))) = (
            ensure_self_signed(&dir.path().join("a")),
            ensure_self_signed(&dir.path().join("b")),
        ) else {
            panic!("generation failed")
        };
        assert!(matches!(
            load(&cert, &other_key),
            Err(TlsError::Mismatch(_))
        ));
    }
}
