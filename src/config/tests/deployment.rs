//! The deployment files (Dockerfile, compose, Kubernetes) set configuration
//! through the environment: every variable they set is a key, and the
//! environment each gives a process loads.

use super::*;

/// The deployment files, which set configuration through the environment.
const DEPLOYMENT_FILES: &[(&str, &str)] = &[
    ("Dockerfile", include_str!("../../../Dockerfile")),
    (
        "deploy/compose.yaml",
        include_str!("../../../deploy/compose.yaml"),
    ),
    (
        "deploy/kubernetes/deployment.yaml",
        include_str!("../../../deploy/kubernetes/deployment.yaml"),
    ),
    (
        "deploy/kubernetes/migrate-job.yaml",
        include_str!("../../../deploy/kubernetes/migrate-job.yaml"),
    ),
];

#[test]
fn every_variable_the_deployment_files_set_is_a_configuration_key() {
    let keys = every_key();
    let mut seen = 0;
    for (file, text) in DEPLOYMENT_FILES {
        let names = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("RESCIND_") && *word != "RESCIND_ADMIN_TOKEN_HASH");
        for name in names {
            seen += 1;
            let key = name["RESCIND_".len()..]
                .to_ascii_lowercase()
                .replace("__", ".");
            assert!(
                key == "config" || keys.contains(&key),
                "{file}: {name} names no configuration key"
            );
        }
    }
    assert!(seen > 10, "the files were read ({seen} variables)");
}

#[test]
fn the_kubernetes_configuration_loads_with_the_secret_s_values() {
    let manifest = include_str!("../../../deploy/kubernetes/configmap.yaml");
    let toml: String = manifest
        .split_once("rescind.toml: |\n")
        .map(|(_, body)| body)
        .unwrap_or_default()
        .lines()
        .flat_map(|line| [line.strip_prefix("    ").unwrap_or(line), "\n"])
        .collect();
    assert!(toml.contains("[server]"), "{toml}");
    let hash = admin_token_hash();
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env(
            "RESCIND_DATABASE__URL",
            "postgres://rescind:pw@db:5432/rescind",
        );
        jail.set_env("RESCIND_ADMIN__TOKEN_HASH", &hash);
        jail.create_file("rescind.toml", &toml)?;
        let loaded = Settings::load(Some(Path::new("rescind.toml"))).map_err(|e| jailed(&e))?;
        assert_eq!(loaded.tls.mode, TlsMode::Proxy);
        assert!(!loaded.database.migrate_on_start);
        assert!(loaded.admin.listen.is_some());
        Ok(())
    });
}

#[test]
fn the_compose_environment_loads() {
    let compose = include_str!("../../../deploy/compose.yaml");
    let hash = admin_token_hash();
    Jail::expect_with(|jail| {
        jail.clear_env();
        let mut set = 0;
        for line in compose.lines() {
            let Some((name, value)) = line.trim().split_once(": ") else {
                continue;
            };
            if !name.starts_with("RESCIND_") {
                continue;
            }
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            let value = if value.starts_with("${") {
                hash.as_str()
            } else {
                value
            };
            jail.set_env(name, value);
            set += 1;
        }
        assert!(set >= 8, "{set} variables");
        let loaded = Settings::load(None).map_err(|e| jailed(&e))?;
        assert_eq!(
            loaded.server.trusted_proxies,
            vec!["172.28.0.10".to_owned()]
        );
        Ok(())
    });
}

/// A real argon2id hash for `admin.token_hash`, which validation parses.
fn admin_token_hash() -> String {
    crate::auth::hash_secret(&crate::domain::secret::ClientSecret::new(
        "a-token-of-at-least-thirty-two-characters".to_owned(),
    ))
    .map(|hash| hash.as_phc().to_owned())
    .unwrap_or_default()
}
