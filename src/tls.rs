//! TLS with rustls (ring provider), TLS 1.2 and 1.3 only (SPEC §5).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Settings, TlsMode};

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
}

/// Makes ring the process-wide rustls provider, so every rustls user in the
/// process (the PostgreSQL driver included) agrees. Safe to call repeatedly.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = ring::default_provider().install_default();
}

/// The server TLS configuration for `settings`, or `None` in proxy mode.
pub fn server_config(settings: &Settings) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    match settings.tls.mode {
        TlsMode::Proxy => Ok(None),
        TlsMode::SelfSigned => {
            let (cert, key) = ensure_self_signed(&settings.data_dir.join("tls"))?;
            load(&cert, &key).map(Some)
        }
        TlsMode::Files => {
            let (Some(cert), Some(key)) = (&settings.tls.cert, &settings.tls.key) else {
                // Configuration validation requires both in this mode.
                return Err(TlsError::Certificate {
                    path: PathBuf::new(),
                    reason: "not configured".to_owned(),
                });
            };
            load(cert, key).map(Some)
        }
    }
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
/// `127.0.0.1` into `dir`, reused on every later start.
fn ensure_self_signed(dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(TlsError::Generate)?;
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())
        .map_err(write_error(&key_path))?;
    fs::write(&cert_path, generated.cert.pem()).map_err(write_error(&cert_path))?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed certificate for localhost and 127.0.0.1");
    Ok((cert_path, key_path))
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("no temp dir") };
        let first = ensure_self_signed(dir.path()).map_err(|e| e.to_string());
        let Ok((cert, key)) = first else {
            panic!("generation failed: {first:?}")
        };
        let pem = fs::read(&cert).unwrap_or_default();
        assert!(load(&cert, &key).is_ok());
        assert!(ensure_self_signed(dir.path()).is_ok());
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
