//! Secret-scanning partner programs: GitHub's and GitLab's scanners report
//! tokens they found in public code, in signed requests; each is revoked as
//! an anonymous report with reason `secret_scanning`, its URL in the audit
//! record, and the scanner learns which tokens Rescind knew.

pub mod keys;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use self::keys::{KeySource, ScannerKeys};
use crate::config::ScannerKeySettings;
use crate::domain::revocation::RevocationOutcome;
use crate::domain::token::{PresentedToken, TokenHash};
use crate::revocation::Revoker;
use crate::storage::StoreError;

/// Reports per request at most (GitHub batches up to a few thousand).
pub const MAX_REPORTS: usize = 10_000;

/// Reports revoked at once: the pool's connections shared with the
/// revocation endpoint.
const IN_FLIGHT: usize = 8;

/// The configured scanner programs.
#[derive(Clone)]
pub struct Scanners {
    pub github: Option<std::sync::Arc<Scanner>>,
    pub gitlab: Option<std::sync::Arc<Scanner>>,
    /// Whether `POST /credentials/revoke` is on.
    pub public_reports: bool,
    /// Partner reports whose body is being read or handled, at most
    /// [`MAX_BODIES_AT_ONCE`]: a report's key ids are public, so a
    /// well-formed but forged signature passes every check that can be made
    /// before the body; this bounds the memory such reports can take
    /// (4 MiB each) however many arrive at once.
    pub bodies: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Partner report bodies read or handled at once, over both programs.
pub const MAX_BODIES_AT_ONCE: usize = 4;

impl Scanners {
    /// The programs `settings` turn on, fetching keys with `client`.
    #[must_use]
    pub fn from_settings(
        settings: &crate::config::SecretScanningSettings,
        client: &reqwest::Client,
    ) -> Self {
        Self {
            github: Scanner::from_settings("github", "Github", &settings.github, client)
                .map(std::sync::Arc::new),
            gitlab: Scanner::from_settings("gitlab", "Gitlab", &settings.gitlab, client)
                .map(std::sync::Arc::new),
            public_reports: settings.public_reports_per_minute > 0,
            bodies: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_BODIES_AT_ONCE)),
        }
    }
}

/// One scanner program: its header names and its keys.
pub struct Scanner {
    /// `github` or `gitlab` (logs, metrics).
    pub label: &'static str,
    /// `Github` or `Gitlab`: the prefix of its `-Public-Key-Identifier` and
    /// `-Public-Key-Signature` headers.
    pub header_prefix: &'static str,
    keys: ScannerKeys,
}

/// A request whose signature does not verify (for whatever reason: the
/// caller learns none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

impl Scanner {
    /// The scanner `settings` configure; `None` when it is off.
    #[must_use]
    pub fn from_settings(
        label: &'static str,
        header_prefix: &'static str,
        settings: &ScannerKeySettings,
        client: &reqwest::Client,
    ) -> Option<Self> {
        let source = match (&settings.keys_file, &settings.keys_url) {
            (Some(path), _) => KeySource::File(path.clone()),
            (None, Some(url)) => KeySource::Url(reqwest::Url::parse(url).ok()?),
            (None, None) => return None,
        };
        Some(Self {
            label,
            header_prefix,
            keys: ScannerKeys::new(source, settings.refresh, client.clone()),
        })
    }

    /// The key `key_id` names and the decoded `signature` (base64 of a DER
    /// ECDSA P-256 SHA-256 signature), both checked before the body is
    /// read: a report by an unknown key (after the throttled refetch of
    /// [`keys::ScannerKeys::key`]) or with a signature that is not base64 is
    /// refused without reading it.
    pub async fn prepare(
        &self,
        key_id: &str,
        signature: &str,
    ) -> Result<PendingSignature, BadSignature> {
        let signature = STANDARD
            .decode(signature.trim())
            .map_err(|_| BadSignature)?;
        let point = self.keys.key(key_id).await.ok_or(BadSignature)?;
        Ok(PendingSignature { point, signature })
    }
}

/// A known key and a decoded signature, waiting for the body.
pub struct PendingSignature {
    point: Vec<u8>,
    signature: Vec<u8>,
}

impl PendingSignature {
    /// Checks the signature over the raw `body`.
    pub fn verify(&self, body: &[u8]) -> Result<(), BadSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            &self.point,
        )
        .verify(body, &self.signature)
        .map_err(|_| BadSignature)
    }
}

/// One token a scanner found. GitHub sends `token`, `type`, `url`,
/// `source`; GitLab `type`, `token`, `url`.
#[derive(Debug, Deserialize)]
pub struct Report {
    pub token: String,
    #[serde(rename = "type", default)]
    pub token_type: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub source: String,
}

/// GitHub's feedback for one reported token.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Feedback {
    /// SHA-256 of the token, lower-case hex.
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive`: a token Rescind issued (now revoked, or already);
    /// `false_positive`: one it does not know.
    pub label: &'static str,
}

/// Revokes the grant of every reported token, `IN_FLIGHT` at a time, and
/// answers the feedback in the reports' order. The batch is first looked up
/// in one statement per thousand tokens: only the tokens the store holds
/// (usually few) take a revocation's round trip, so a batch of never-issued
/// tokens costs the database one cheap statement, not one per token. A
/// database fault fails the whole batch (the scanner retries; revocations
/// done stay done and answer `true_positive` next time).
pub async fn revoke_reports(
    revoker: &Revoker,
    reports: Vec<Report>,
    request_id: &str,
) -> Result<Vec<Feedback>, StoreError> {
    let hashes: Vec<TokenHash> = reports
        .iter()
        .map(|report| TokenHash::of(&report.token))
        .collect();
    let stored = revoker.stored(&hashes).await?;
    futures_util::stream::iter(reports.into_iter().zip(hashes))
        .map(|(report, hash)| {
            let stored = stored.contains(&hash);
            async move {
                let known = match PresentedToken::parse(report.token) {
                    Some(token) if stored => matches!(
                        revoker
                            .revoke_found(&token, &report.url, request_id)
                            .await?,
                        RevocationOutcome::Revoked { .. } | RevocationOutcome::AlreadyRevoked
                    ),
                    _ => false,
                };
                Ok(Feedback {
                    token_hash: hash.to_hex(),
                    token_type: report.token_type,
                    label: if known {
                        "true_positive"
                    } else {
                        "false_positive"
                    },
                })
            }
        })
        .buffered(IN_FLIGHT)
        .collect::<Vec<Result<Feedback, StoreError>>>()
        .await
        .into_iter()
        .collect()
}

/// How long a scanner's request body may take to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A scanner's request body at most (thousands of reports).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;
