//! Validation: each bad value refused by name, with the reason.

use super::*;

fn rejection(change: impl FnOnce(&mut Settings)) -> Option<String> {
    let mut settings = Settings::default();
    change(&mut settings);
    settings
        .validate()
        .err()
        .map(|error| error.key().to_owned())
}

#[test]
fn an_issuer_must_be_https_without_query_or_fragment() {
    for bad in [
        "http://id.example.com",
        "https://id.example.com?x=1",
        "https://id.example.com/#frag",
        "https://",
        "https://user@id.example.com",
        "https://id.example.com/a//b",
        "https://id.example.com/{tenant}",
        "id.example.com",
    ] {
        assert_eq!(
            rejection(|s| s.issuer = bad.to_owned()),
            Some("issuer".to_owned()),
            "{bad}"
        );
    }
    for good in [
        "https://id.example.com",
        "https://id.example.com/",
        "https://id.example.com:8443/tenant-1/eu",
    ] {
        assert_eq!(rejection(|s| s.issuer = good.to_owned()), None, "{good}");
    }
}

#[test]
fn the_issuer_path_is_where_endpoints_live() {
    let mut settings = Settings {
        issuer: "https://id.example.com/tenant1/".to_owned(),
        ..Settings::default()
    };
    assert_eq!(settings.issuer_path(), "/tenant1");
    assert_eq!(settings.issuer_base(), "https://id.example.com/tenant1");
    settings.issuer = "https://id.example.com".to_owned();
    assert_eq!(settings.issuer_path(), "");
}

#[test]
fn reserved_metadata_keys_are_refused_by_name() {
    let key = rejection(|s| {
        s.metadata.extra.insert(
            "revocation_endpoint".to_owned(),
            "https://evil.example".into(),
        );
    });
    assert_eq!(key.as_deref(), Some("metadata.extra.revocation_endpoint"));
}

#[test]
fn other_bad_values_name_their_key() {
    assert_eq!(
        rejection(|s| s.tls.mode = TlsMode::Files).as_deref(),
        Some("tls.cert")
    );
    assert_eq!(
        rejection(|s| s.database.url = Some("mysql://x".into())).as_deref(),
        Some("database.url")
    );
    assert_eq!(
        rejection(|s| s.database.url = Some("sqlite::memory:".into())).as_deref(),
        Some("database.url")
    );
    assert_eq!(
        rejection(|s| s.database.batch_workers = 0).as_deref(),
        Some("database.batch_workers")
    );
    assert_eq!(
        rejection(|s| s.cors.allowed_origins = vec!["null".to_owned()]).as_deref(),
        Some("cors.allowed_origins")
    );
    assert_eq!(
        rejection(|s| s.cors.allowed_origins = vec!["https://a.example/path".to_owned()])
            .as_deref(),
        Some("cors.allowed_origins")
    );
    assert_eq!(
        rejection(|s| s.tokens.access_prefix = "r_t".to_owned()).as_deref(),
        Some("tokens.access_prefix")
    );
    assert_eq!(
        rejection(|s| s.server.body_limit = 10).as_deref(),
        Some("server.body_limit")
    );
    assert_eq!(
        rejection(|s| s.log.level = "[[".to_owned()).as_deref(),
        Some("log.level")
    );
    assert_eq!(
        rejection(|s| {
            s.ssf.enabled = true;
            s.ssf.poll_wait = s.server.request_timeout;
        })
        .as_deref(),
        Some("ssf.poll_wait")
    );
    assert_eq!(
        rejection(|s| s.server.request_timeout = s.ssf.poll_wait),
        None,
        "not while off"
    );
    assert_eq!(
        rejection(|s| s.ssf.max_poll_waiters = 0).as_deref(),
        Some("ssf.max_poll_waiters")
    );
    assert_eq!(
        rejection(|s| s.ssf.max_events = 1001).as_deref(),
        Some("ssf.max_events")
    );
    assert_eq!(
        rejection(|s| s.ssf.max_queued_sets = s.ssf.max_events - 1).as_deref(),
        Some("ssf.max_queued_sets")
    );
}

#[test]
fn trace_export_is_off_by_default_and_when_the_endpoint_is_empty() {
    assert_eq!(Settings::default().tracing.traces_url(), None);
    Jail::expect_with(|jail| {
        let loaded = load_in(jail, None).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.tracing.endpoint, None);
        assert_eq!(loaded.tracing.traces_url(), None);
        jail.set_env("RESCIND_TRACING__ENDPOINT", "");
        let loaded = Settings::load(None).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.tracing.traces_url(), None);
        Ok(())
    });
}

#[test]
fn trace_export_is_configured_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("RESCIND_TRACING__ENDPOINT", "http://collector:4318");
        jail.set_env("RESCIND_TRACING__SERVICE_NAME", "rescind-eu");
        jail.set_env("RESCIND_TRACING__SAMPLE_RATIO", "0.25");
        let loaded = Settings::load(None).map_err(|e| jailed(&e))?;
        // A URL without a path gets the OTLP traces path ...
        assert_eq!(
            loaded.tracing.traces_url().map(String::from).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(loaded.tracing.service_name, "rescind-eu");
        assert!((loaded.tracing.sample_ratio - 0.25).abs() < f64::EPSILON);
        // ... and one with a path is taken as it is.
        jail.set_env(
            "RESCIND_TRACING__ENDPOINT",
            "https://otel.example/otlp/v1/traces",
        );
        jail.set_env("RESCIND_TRACING__SAMPLE_RATIO", "1");
        let loaded = Settings::load(None).map_err(|e| jailed(&e))?;
        assert_eq!(
            loaded.tracing.traces_url().map(String::from).as_deref(),
            Some("https://otel.example/otlp/v1/traces")
        );
        Ok(())
    });
}

#[test]
fn bad_trace_export_settings_name_their_key() {
    for endpoint in [
        "collector:4318",
        "ftp://collector/v1/traces",
        "unix:///run/otel.sock",
        "http://user:password@collector:4318/v1/traces",
        "http://collector:4318/v1/traces?token=x",
    ] {
        assert_eq!(
            rejection(|s| s.tracing.endpoint = Some(endpoint.to_owned())).as_deref(),
            Some("tracing.endpoint"),
            "{endpoint}"
        );
    }
    for ratio in [-0.1, 1.5, f64::NAN] {
        assert_eq!(
            rejection(|s| s.tracing.sample_ratio = ratio).as_deref(),
            Some("tracing.sample_ratio")
        );
    }
    assert_eq!(
        rejection(|s| s.tracing.service_name = String::new()).as_deref(),
        Some("tracing.service_name")
    );
}

#[test]
fn durations_past_ten_years_are_refused_by_name_so_no_clock_addition_overflows() {
    let huge = std::time::Duration::from_secs(u64::MAX / 4);
    assert_eq!(
        rejection(|s| s.introspection.cache_ttl = huge).as_deref(),
        Some("introspection.cache_ttl")
    );
    assert_eq!(
        rejection(|s| s.retention.interval = huge).as_deref(),
        Some("retention.interval")
    );
    assert_eq!(
        rejection(|s| s.auth.cache_ttl = super::MAX_DURATION + std::time::Duration::from_secs(1))
            .as_deref(),
        Some("auth.cache_ttl")
    );
    assert_eq!(
        rejection(|s| s.tokens.refresh_ttl = super::MAX_DURATION),
        None,
        "exactly the bound is accepted"
    );
    let webhook = || super::WebhookSettings {
        name: "audit".to_owned(),
        url: "https://hooks.example/rescind".to_owned(),
        secret: Some("s".repeat(32).into()),
        ..super::WebhookSettings::default()
    };
    assert_eq!(
        rejection(|s| s.events.webhooks = vec![super::WebhookSettings {
            retry_max: huge,
            ..webhook()
        }])
        .as_deref(),
        Some("events.webhooks[0].retry_max")
    );
    assert_eq!(rejection(|s| s.events.webhooks = vec![webhook()]), None);
}

#[test]
fn a_webhook_secret_is_at_least_32_bytes() {
    let with_secret = |secret: &str| {
        let secret = secret.to_owned();
        rejection(move |s| {
            s.events.webhooks = vec![super::WebhookSettings {
                name: "audit".to_owned(),
                url: "https://hooks.example/rescind".to_owned(),
                secret: Some(secret.into()),
                ..super::WebhookSettings::default()
            }];
        })
    };
    assert_eq!(
        with_secret(&"s".repeat(31)).as_deref(),
        Some("events.webhooks[0].secret")
    );
    assert_eq!(with_secret(&"s".repeat(32)), None);
}

#[test]
fn several_logout_upstreams_must_each_name_their_clients() {
    let upstream = |issuer: &str, clients: &[&str]| super::UpstreamSettings {
        issuer: issuer.to_owned(),
        audience: "rescind".to_owned(),
        jwks_file: Some("/etc/rescind/jwks.json".into()),
        clients: clients.iter().map(|&id| id.to_owned()).collect(),
        ..super::UpstreamSettings::default()
    };
    assert_eq!(
        rejection(|s| s.logout.upstream = vec![upstream("https://a.example", &[])]),
        None,
        "one upstream may serve every client"
    );
    assert_eq!(
        rejection(|s| {
            s.logout.upstream = vec![
                upstream("https://a.example", &["web"]),
                upstream("https://b.example", &[]),
            ];
        })
        .as_deref(),
        Some("logout.upstream[1].clients")
    );
    assert_eq!(
        rejection(|s| {
            s.logout.upstream = vec![
                upstream("https://a.example", &["web"]),
                upstream("https://b.example", &["mobile"]),
            ];
        }),
        None
    );
}
