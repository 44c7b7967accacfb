//! The parts a server is built from, each from the settings: the use cases
//! (built here and nowhere else), the layers around the routes, the argon2
//! verifier, the limits and the webhook dispatcher.

use secrecy::ExposeSecret as _;
use std::sync::Arc;

use crate::administration::Administration;
use crate::auth::{self, Authenticator, CredentialCache, SecretVerifier};
use crate::config::Settings;
use crate::domain::clock::Clock;
use crate::domain::minted::TokenFormat;
use crate::domain::webhook::Backoff;
use crate::events::Events;
use crate::events::webhooks::{Dispatcher, Endpoint};
use crate::http::Edge;
use crate::http::guard::Guard;
use crate::http::peer::TrustedProxies;
use crate::introspection::Introspector;
use crate::introspection::cache::AnswerCache;
use crate::limits::{LimitSettings, Limiter};
use crate::logout::{ConfiguredUpstream, LogoutReceiver};
use crate::metrics::Metrics;
use crate::revocation::{Revoker, TokenRevocation};
use crate::shared_signals::{DeliveryBounds, Transmitter, TransmitterParts};
use crate::signing::SigningKeySource;
use crate::storage::Store;

use super::StartupError;

/// The use cases the token endpoints, the scanners and the admin API
/// share, built here and nowhere else.
pub(super) struct UseCases {
    /// This instance's event handling, with the introspection answer cache
    /// registered as its hook.
    pub(super) events: Events,
    pub(super) revoker: Revoker,
    pub(super) authenticator: Authenticator,
    pub(super) token_revocation: TokenRevocation,
    pub(super) introspector: Introspector,
    pub(super) administration: Administration,
}

impl UseCases {
    pub(super) fn build(
        settings: &Settings,
        store: &Arc<dyn Store>,
        verifier: &SecretVerifier,
        clock: &Arc<dyn Clock>,
        format: &TokenFormat,
    ) -> Self {
        let answers = Arc::new(AnswerCache::new(
            settings.introspection.cache_ttl,
            settings.introspection.cache_capacity,
            clock.clone(),
        ));
        let events = Events::new(vec![answers.clone()]);
        let revoker = Revoker::new(
            store.clone(),
            format.clone(),
            settings.policy.foreign,
            clock.clone(),
            events.clone(),
        );
        let cache = CredentialCache::new(
            settings.auth.cache_ttl,
            settings.auth.cache_capacity,
            clock.clone(),
        );
        let authenticator =
            Authenticator::new(store.clone(), verifier.clone(), cache, clock.clone());
        let token_revocation = TokenRevocation::new(
            revoker.clone(),
            authenticator.clone(),
            settings.policy.anonymous,
        );
        let introspector = Introspector::new(
            store.clone(),
            authenticator.clone(),
            format.clone(),
            clock.clone(),
            answers,
            events.clone(),
        );
        let administration = Administration::new(
            store.clone(),
            revoker.clone(),
            format.clone(),
            events.clone(),
        );
        Self {
            events,
            revoker,
            authenticator,
            token_revocation,
            introspector,
            administration,
        }
    }
}

/// The layers around the public listener's routes.
pub(super) fn edge(settings: &Settings, metrics: &Arc<Metrics>) -> Edge {
    Edge {
        metrics: metrics.clone(),
        proxies: Arc::new(TrustedProxies::new(
            settings.trusted_proxies(),
            settings.server.forwarded_header,
        )),
        guard: Guard::new(
            settings.server.max_concurrent_requests,
            Some(settings.server.request_timeout),
            settings.server.retry_after.as_secs(),
            metrics.clone(),
        ),
    }
}

/// The argon2 verifier, its concurrency configured or derived from the CPUs
/// and the cgroup memory limit.
pub(super) fn secret_verifier(settings: &Settings) -> Result<SecretVerifier, StartupError> {
    let concurrency = settings.auth.argon2_concurrency.unwrap_or_else(|| {
        let (derived, memory_limit) = auth::concurrency::from_machine();
        tracing::info!(
            argon2_concurrency = derived,
            memory_limit,
            "argon2 concurrency derived from the CPUs and the cgroup memory limit"
        );
        derived
    });
    SecretVerifier::new(concurrency).map_err(StartupError::Hasher)
}

/// The abuse-control limits of `settings`.
pub(super) fn limiter(settings: &Settings) -> Limiter {
    let limits = &settings.rate_limit;
    Limiter::new(LimitSettings {
        window: limits.window,
        failed_auth_per_client: limits.failed_auth_per_client,
        failed_auth_per_address: limits.failed_auth_per_address,
        requests_per_address: limits.requests_per_address,
        requests_per_client: limits.requests_per_client,
        public_reports_per_minute: settings.secret_scanning.public_reports_per_minute,
        failed_signatures_per_minute: settings.secret_scanning.failed_signatures_per_minute,
    })
}

/// The webhook dispatcher for the configured endpoints; `None` without any.
pub(super) fn webhook_dispatcher(
    settings: &Settings,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    events: &Events,
    client: &reqwest::Client,
    metrics: &Arc<Metrics>,
) -> Result<Option<Dispatcher>, StartupError> {
    if settings.events.webhooks.is_empty() {
        return Ok(None);
    }
    let mut endpoints = Vec::new();
    for (index, webhook) in settings.events.webhooks.iter().enumerate() {
        let secret = match (&webhook.secret, &webhook.secret_file) {
            (Some(secret), _) => secret.expose_secret().as_bytes().to_vec(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).as_bytes().to_vec())
                .map_err(|source| StartupError::SecretFile {
                    key: format!("events.webhooks[{index}].secret_file"),
                    source,
                })?,
            // Validation requires one of the two.
            (None, None) => Vec::new(),
        };
        // Checked for `secret` by validation already; a file is read here.
        if secret.len() < crate::config::MIN_WEBHOOK_SECRET {
            return Err(StartupError::ShortSecret(format!(
                "events.webhooks[{index}].secret_file"
            )));
        }
        endpoints.push(Endpoint {
            name: webhook.name.clone(),
            // Validated as a URL already.
            url: reqwest::Url::parse(&webhook.url)
                .map_err(|_| StartupError::WebhookUrl(format!("events.webhooks[{index}].url")))?,
            secret,
            timeout: webhook.timeout,
            backoff: Backoff {
                initial: webhook.retry_initial,
                max: webhook.retry_max,
                max_attempts: webhook.max_attempts,
            },
        });
    }
    Ok(Some(Dispatcher {
        events: events.clone(),
        store: store.clone(),
        clock: clock.clone(),
        endpoints,
        issuer: settings.issuer.clone(),
        client: client.clone(),
        metrics: metrics.clone(),
    }))
}

/// The back-channel logout receiver, when `[[logout.upstream]]` names any
/// authorisation server (validated settings: every entry builds).
pub(super) fn logout_receiver(
    settings: &Settings,
    store: &Arc<dyn Store>,
    revoker: &Revoker,
    clock: &Arc<dyn Clock>,
    outbound: &reqwest::Client,
) -> Option<Arc<LogoutReceiver>> {
    let upstreams: Vec<ConfiguredUpstream> = settings
        .logout
        .upstream
        .iter()
        .filter_map(|upstream| ConfiguredUpstream::from_settings(upstream, outbound.clone()))
        .collect();
    (!upstreams.is_empty()).then(|| {
        Arc::new(LogoutReceiver::new(
            upstreams,
            store.clone(),
            revoker.clone(),
            clock.clone(),
        ))
    })
}

/// The Shared Signals transmitter when `ssf.enabled`, its signing keys
/// opened (a key generated on first start) from the data folder.
pub(super) fn transmitter(
    settings: &Settings,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    events: &Events,
    metrics: &Arc<Metrics>,
) -> Result<Option<Transmitter>, StartupError> {
    let ssf = &settings.ssf;
    if !ssf.enabled {
        return Ok(None);
    }
    let source = match &ssf.key_file {
        Some(path) => SigningKeySource::File(path.clone()),
        None => SigningKeySource::Generate(ssf.algorithm),
    };
    let keys = crate::signing::store::open(
        &settings.data_dir.join(crate::signing::store::FOLDER),
        &source,
        ssf.rotation_overlap,
        clock.now(),
    )?;
    Ok(Some(Transmitter::new(TransmitterParts {
        store: store.clone(),
        push: store.clone(),
        outbox: store.clone(),
        keys: Arc::new(keys),
        clock: clock.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        issuer: settings.issuer.clone(),
        issuer_base: settings.issuer_base().to_owned(),
        bounds: DeliveryBounds::from_settings(ssf),
    })))
}
