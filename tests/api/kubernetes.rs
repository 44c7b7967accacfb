//! The Kubernetes manifests in `deploy/kubernetes/`: the binary loads its
//! configuration with exactly the environment each manifest gives a pod,
//! including the service-link variables of every Service there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// Every document of every manifest.
fn manifests() -> Vec<Yaml> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn of_kind<'a>(documents: &'a [Yaml], kind: &str) -> impl Iterator<Item = &'a Yaml> {
    documents
        .iter()
        .filter(move |doc| doc["kind"].as_str() == Some(kind))
}

fn text(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// What the kubelet adds for each Service of the namespace when service
/// links are on (its `envvars` package): `<NAME>_SERVICE_HOST`,
/// `<NAME>_SERVICE_PORT[_<PORT NAME>]`, and the Docker-link style
/// `<NAME>_PORT[_<port>_<PROTO>[_PROTO|_PORT|_ADDR]]`.
fn service_links(documents: &[Yaml]) -> BTreeMap<String, String> {
    let mut links = BTreeMap::new();
    for (index, service) in of_kind(documents, "Service").enumerate() {
        let name = text(&service["metadata"]["name"])
            .to_ascii_uppercase()
            .replace('-', "_");
        let host = format!("10.96.0.{}", index + 10);
        let ports = service["spec"]["ports"]
            .as_vec()
            .cloned()
            .unwrap_or_default();
        for (n, port) in ports.iter().enumerate() {
            let number = text(&port["port"]);
            let protocol = port["protocol"].as_str().unwrap_or("TCP").to_owned();
            let url = format!("{}://{host}:{number}", protocol.to_ascii_lowercase());
            let prefix = format!("{name}_PORT_{number}_{protocol}");
            if n == 0 {
                links.insert(format!("{name}_SERVICE_HOST"), host.clone());
                links.insert(format!("{name}_SERVICE_PORT"), number.clone());
                links.insert(format!("{name}_PORT"), url.clone());
            }
            if let Some(port_name) = port["name"].as_str() {
                let port_name = port_name.to_ascii_uppercase().replace('-', "_");
                links.insert(format!("{name}_SERVICE_PORT_{port_name}"), number.clone());
            }
            links.insert(format!("{prefix}_PROTO"), protocol.to_ascii_lowercase());
            links.insert(format!("{prefix}_PORT"), number);
            links.insert(format!("{prefix}_ADDR"), host.clone());
            links.insert(prefix, url);
        }
    }
    links
}

/// The value of a `secretKeyRef` or `configMapKeyRef`.
fn referenced(documents: &[Yaml], source: &Yaml) -> String {
    let (kind, field, reference) = if source["secretKeyRef"].is_badvalue() {
        ("ConfigMap", "data", &source["configMapKeyRef"])
    } else {
        ("Secret", "stringData", &source["secretKeyRef"])
    };
    let (name, key) = (text(&reference["name"]), text(&reference["key"]));
    let object = of_kind(documents, kind)
        .find(|doc| doc["metadata"]["name"].as_str() == Some(name.as_str()))
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    let value = text(&object[field][key.as_str()]);
    if value.starts_with("CHANGE-ME") && key == "admin-token-hash" {
        // The placeholder an operator replaces: a real hash stands in.
        return rescind::auth::hash_secret(&rescind::domain::secret::ClientSecret::new(
            "an-admin-token-of-at-least-32-characters".to_owned(),
        ))
        .map_or_else(|e| panic!("{e}"), |hash| hash.as_phc().to_owned());
    }
    value
}

/// Writes each `ConfigMap` volume's files into `root`, returning (mount
/// path, folder) pairs so that paths in the environment can be mapped.
fn mount_config_maps(
    documents: &[Yaml],
    pod: &Yaml,
    container: &Yaml,
    root: &Path,
) -> Vec<(String, PathBuf)> {
    let volumes = pod["volumes"].as_vec().cloned().unwrap_or_default();
    let mounts = container["volumeMounts"]
        .as_vec()
        .cloned()
        .unwrap_or_default();
    let mut mapped = Vec::new();
    for mount in &mounts {
        let volume_name = text(&mount["name"]);
        let Some(volume) = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(volume_name.as_str()))
        else {
            continue;
        };
        let Some(config_map) = volume["configMap"]["name"].as_str() else {
            continue;
        };
        let object = of_kind(documents, "ConfigMap")
            .find(|doc| doc["metadata"]["name"].as_str() == Some(config_map))
            .unwrap_or_else(|| panic!("no ConfigMap {config_map}"));
        let folder = root.join(&volume_name);
        std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
        for (key, value) in object["data"].as_hash().cloned().unwrap_or_default() {
            std::fs::write(folder.join(text(&key)), text(&value)).unwrap_or_else(|e| panic!("{e}"));
        }
        mapped.push((text(&mount["mountPath"]), folder));
    }
    mapped
}

#[test]
fn every_pod_s_environment_loads_with_every_service_link() {
    let documents = manifests();
    let links = service_links(&documents);
    assert!(
        links.contains_key("RESCIND_ADMIN_PORT") && links.contains_key("RESCIND_SERVICE_HOST"),
        "both Services are linked: {links:?}"
    );
    let mut checked = 0;
    for workload in of_kind(&documents, "Deployment").chain(of_kind(&documents, "Job")) {
        let name = text(&workload["metadata"]["name"]);
        let pod = &workload["spec"]["template"]["spec"];
        assert_eq!(
            pod["enableServiceLinks"].as_bool(),
            Some(false),
            "{name}: enableServiceLinks: false"
        );
        for container in pod["containers"].as_vec().cloned().unwrap_or_default() {
            let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let mounts = mount_config_maps(&documents, pod, &container, scratch.path());
            let mut env = links.clone();
            for variable in container["env"].as_vec().cloned().unwrap_or_default() {
                let value = if variable["value"].is_badvalue() {
                    referenced(&documents, &variable["valueFrom"])
                } else {
                    text(&variable["value"])
                };
                // A path inside a mounted ConfigMap points at its copy here.
                let value = mounts
                    .iter()
                    .find_map(|(mount, folder)| {
                        let rest = value.strip_prefix(mount.as_str())?;
                        Some(format!("{}{rest}", folder.display()))
                    })
                    .unwrap_or(value);
                env.insert(text(&variable["name"]), value);
            }
            let output = Command::new(env!("CARGO_BIN_EXE_rescind"))
                .args(["config", "check"])
                .env_clear()
                .envs(&env)
                .current_dir(scratch.path())
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                output.status.success(),
                "{name}: exit {:?}: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            );
            let shown: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                shown["settings"]["tls"]["mode"], "proxy",
                "{name}: the ConfigMap's file was read"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2, "the Deployment's and the Job's containers");
}
