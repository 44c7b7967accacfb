#![expect(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment::Error"
)]

use std::net::SocketAddr;
use std::path::Path;

use figment::Jail;
use secrecy::ExposeSecret;

use super::*;

mod deployment;

/// Lets `?` carry a configuration error out of a `Jail` closure.
fn jailed(error: &ConfigError) -> figment::Error {
    figment::Error::from(error.to_string())
}

fn load_in(jail: &mut Jail, toml: Option<&str>) -> Result<Settings, ConfigError> {
    jail.clear_env();
    match toml {
        Some(text) => {
            jail.create_file("rescind.toml", text)
                .map_err(|e| ConfigError::new("test", e.to_string()))?;
            Settings::load(Some(Path::new("rescind.toml")))
        }
        None => Settings::load(None),
    }
}

#[test]
fn the_defaults_are_valid() {
    assert_eq!(Settings::default().validate(), Ok(()));
}

#[test]
fn the_documented_example_parses_and_matches_the_defaults() {
    let text = include_str!("../../../config/rescind.example.toml");
    Jail::expect_with(|jail| {
        let loaded = load_in(jail, Some(text)).map_err(|e| jailed(&e))?;
        // Every value equals its default ...
        assert_eq!(
            serde_json::to_value(&loaded).ok(),
            serde_json::to_value(Settings::default()).ok()
        );
        // ... and every key with a default is written out (the optional ones,
        // without a default, are documented commented out).
        let written = key_paths(&figment::Figment::from(Toml::string(text)));
        let known = key_paths(&figment::Figment::from(
            figment::providers::Serialized::defaults(Settings::default()),
        ));
        assert_eq!(written, known);
        Ok(())
    });
}

#[test]
fn the_environment_overrides_the_file_and_database_url_sits_between() {
    Jail::expect_with(|jail| {
        let toml = "issuer = \"https://file.example\"\n[database]\nurl = \"sqlite://file.db\"\n";
        jail.clear_env();
        jail.create_file("rescind.toml", toml)?;
        jail.set_env("DATABASE_URL", "postgres://from-database-url/db");
        let loaded = Settings::load(Some(Path::new("rescind.toml"))).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.issuer, "https://file.example");
        assert_eq!(
            loaded
                .database
                .url
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some("postgres://from-database-url/db")
        );

        jail.set_env("RESCIND_ISSUER", "https://env.example");
        jail.set_env("RESCIND_DATABASE__URL", "postgres://from-rescind/db");
        jail.set_env("RESCIND_SERVER__BODY_LIMIT", "4096");
        let loaded = Settings::load(Some(Path::new("rescind.toml"))).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.issuer, "https://env.example");
        assert_eq!(
            loaded
                .database
                .url
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some("postgres://from-rescind/db")
        );
        assert_eq!(loaded.server.body_limit, 4096);
        Ok(())
    });
}

#[test]
fn metadata_extra_is_read_from_the_file_only() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "rescind.toml",
            "[metadata.extra]\ntoken_endpoint = \"https://id.example/token\"\n",
        )?;
        jail.set_env(
            "RESCIND_METADATA__EXTRA__AUTHORIZATION_ENDPOINT",
            "https://evil.example",
        );
        let loaded = Settings::load(Some(Path::new("rescind.toml"))).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.metadata.extra.len(), 1);
        assert_eq!(
            loaded.metadata.extra["token_endpoint"],
            "https://id.example/token"
        );
        Ok(())
    });
}

#[test]
fn a_syntax_error_is_reported_on_one_line_naming_the_file() {
    Jail::expect_with(|jail| {
        let error = load_in(
            jail,
            Some("issuer = \"https://x.example\"\n[server\nlisten = 1\n"),
        )
        .err();
        let shown = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(
            shown.contains("rescind.toml") && shown.contains("line 2"),
            "{shown}"
        );
        Ok(())
    });
}

#[test]
fn kubernetes_service_link_variables_are_not_configuration() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        // A Service `rescind` and a Service `rescind-admin`, as Kubernetes
        // links them into every pod of the namespace.
        for service in ["RESCIND", "RESCIND_ADMIN"] {
            for (suffix, value) in [
                ("_SERVICE_HOST", "10.0.0.7"),
                ("_SERVICE_PORT", "8443"),
                ("_SERVICE_PORT_HTTP", "8443"),
                ("_PORT", "tcp://10.0.0.7:8443"),
                ("_PORT_8443_TCP", "tcp://10.0.0.7:8443"),
                ("_PORT_8443_TCP_PROTO", "tcp"),
                ("_PORT_8443_TCP_PORT", "8443"),
                ("_PORT_8443_TCP_ADDR", "10.0.0.7"),
            ] {
                jail.set_env(format!("{service}{suffix}"), value);
            }
        }
        jail.set_env("RESCIND_SERVER__LISTEN", "0.0.0.0:9443");
        let loaded = Settings::load(None).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.server.listen.port(), 9443);
        jail.set_env("RESCIND_SERVR__LISTEN", "0.0.0.0:9443");
        let typo = Settings::load(None).err();
        assert_eq!(
            typo.as_ref().map(ConfigError::key),
            Some("servr"),
            "a typo is still refused"
        );
        Ok(())
    });
}

#[test]
fn no_configuration_key_is_taken_for_a_service_link() {
    for key in every_key() {
        let name = format!("RESCIND_{}", key.replace('.', "__").to_ascii_uppercase());
        assert!(
            !service_links::is_service_link(&name),
            "{name} would be ignored as a Kubernetes service link"
        );
    }
}

#[test]
fn a_missing_file_and_an_unknown_key_are_named() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let missing = Settings::load(Some(Path::new("nope.toml"))).err();
        assert_eq!(missing.as_ref().map(ConfigError::key), Some("--config"));
        let unknown = load_in(
            jail,
            Some("[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n"),
        )
        .err();
        assert_eq!(
            unknown.as_ref().map(ConfigError::key),
            Some("server.listen_port")
        );
        assert!(
            unknown
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("listen_port")
        );
        let wrong_type = load_in(jail, Some("[server]\nlisten = \"not an address\"\n")).err();
        assert_eq!(
            wrong_type.as_ref().map(ConfigError::key),
            Some("server.listen")
        );
        Ok(())
    });
}

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

/// Every leaf key of a configuration source, dotted (`server.listen`). Keys
/// without a value (`None` defaults) are left out; a section left with no
/// key counts as one leaf, so `[admin]` with only comments matches.
fn key_paths(figment: &figment::Figment) -> std::collections::BTreeSet<String> {
    use figment::value::Value;
    fn walk(prefix: &str, value: &Value, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Empty(..) => {}
            Value::Dict(_, dict) => {
                let before = out.len();
                for (key, value) in dict {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, out);
                }
                if out.len() == before && !prefix.is_empty() {
                    out.insert(prefix.to_owned());
                }
            }
            _ => {
                out.insert(prefix.to_owned());
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    let dict = figment
        .extract::<figment::value::Dict>()
        .unwrap_or_else(|error| panic!("{error}"));
    walk("", &Value::from(dict), &mut out);
    out
}

/// Every key a setting can have, optional ones included.
fn every_key() -> std::collections::BTreeSet<String> {
    let mut all = Settings::default();
    all.database.url = Some("postgres://db/rescind".into());
    all.tls.cert = Some(PathBuf::from("chain.pem"));
    all.tls.key = Some(PathBuf::from("key.pem"));
    all.auth.argon2_concurrency = Some(1);
    all.admin.listen = Some(SocketAddr::from(([127, 0, 0, 1], 9443)));
    all.admin.token_hash = Some("hash".into());
    all.tracing.endpoint = Some("http://collector:4318".to_owned());
    key_paths(&figment::Figment::from(
        figment::providers::Serialized::defaults(all),
    ))
}

/// No `Debug` and no serialization of the settings shows a secret: not the
/// database password, the admin token hash or a webhook secret.
#[test]
fn secrets_never_leave_the_settings_by_debug_or_serialization() {
    let mut settings = Settings::default();
    settings.database.url = Some("postgres://rescind:db-password-1@db/rescind".into());
    settings.admin.token_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$admin-hash-2".into());
    settings.events.webhooks = vec![super::WebhookSettings {
        name: "siem".to_owned(),
        url: "https://siem.example/hook".to_owned(),
        secret: Some("webhook-secret-3-0123456789abcdefghij".into()),
        ..super::WebhookSettings::default()
    }];
    let debug = format!("{settings:?} {settings:#?}");
    let serialized = serde_json::to_string(&settings).unwrap_or_else(|e| panic!("{e}"));
    for secret in ["db-password-1", "admin-hash-2", "webhook-secret-3"] {
        assert!(!debug.contains(secret), "Debug shows {secret}");
        assert!(!serialized.contains(secret), "serialization shows {secret}");
    }
    assert!(serialized.contains("postgres://rescind:<redacted>@db/rescind"));
    assert_eq!(
        settings.database_url().expose_secret(),
        "postgres://rescind:db-password-1@db/rescind"
    );
}
