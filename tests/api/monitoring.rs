//! The shipped monitoring files (`deploy/prometheus/alerts.yaml`,
//! `deploy/grafana/rescind.json`) are well-formed, and every `rescind_*`
//! series they query is one a running server exports: a renamed metric
//! would otherwise leave an alert that can never fire and a blank panel.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::Method;
use rescind::domain::client::ClientKind;

use crate::helpers::yaml::{self, Yaml};
use crate::helpers::{Backend, TestApp, assert_revocation_ok, free_port, with_admin};
use crate::on_both_backends;

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `rescind_[a-z0-9_]+` name in a query (digits too: `argon2`).
fn names_in(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = query.as_bytes();
    let mut from = 0;
    while let Some(found) = query[from..].find("rescind_") {
        let start = from + found;
        let mut end = start + "rescind_".len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        let joined =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if !joined {
            names.insert(query[start..end].to_owned());
        }
        from = end;
    }
    names
}

/// The series names a scrape offers to queries, from its `# TYPE` lines:
/// a counter `x` is queried as `x_total`, a histogram as `x_bucket`,
/// `x_sum` and `x_count`, a gauge as itself. With the family names.
fn exported(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut series = BTreeSet::new();
    let mut families = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest
            .split_once(' ')
            .unwrap_or_else(|| panic!("a TYPE line without a type: {line}"));
        families.insert(name.to_owned());
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "gauge" | "unknown" => &[""],
            other => panic!("a metric type the checks do not know: {other}"),
        };
        for suffix in suffixes {
            series.insert(format!("{name}{suffix}"));
        }
    }
    (series, families)
}

/// Alert rules: the structure Prometheus's rule files have, every rule
/// named once, with a severity, a summary and a description.
fn alert_queries() -> Vec<(String, String)> {
    let text = read("deploy/prometheus/alerts.yaml");
    let document = yaml::parse(&text).unwrap_or_else(|e| panic!("alerts.yaml: {e}"));
    assert_eq!(document.keys(), ["groups"], "top-level keys");
    let Some(Yaml::List(groups)) = document.get("groups") else {
        panic!("groups is not a list");
    };
    assert!(!groups.is_empty(), "no group");
    let mut queries = Vec::new();
    let mut names = BTreeSet::new();
    for group in groups {
        for key in group.keys() {
            assert!(
                ["name", "interval", "rules"].contains(&key),
                "group key {key}"
            );
        }
        assert!(
            group
                .get("name")
                .and_then(Yaml::text)
                .is_some_and(|n| !n.is_empty())
        );
        let Some(Yaml::List(rules)) = group.get("rules") else {
            panic!("a group without a rules list");
        };
        assert!(!rules.is_empty(), "a group without rules");
        for rule in rules {
            let alert = rule
                .get("alert")
                .and_then(Yaml::text)
                .unwrap_or_else(|| panic!("a rule without alert: {rule:?}"));
            assert!(names.insert(alert.to_owned()), "alert {alert} twice");
            assert!(
                alert.starts_with("Rescind") && alert.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{alert}"
            );
            for key in rule.keys() {
                assert!(
                    [
                        "alert",
                        "expr",
                        "for",
                        "keep_firing_for",
                        "labels",
                        "annotations"
                    ]
                    .contains(&key),
                    "{alert}: key {key}"
                );
            }
            let expr = rule.get("expr").and_then(Yaml::text).unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{alert}: no expr");
            assert_balanced(alert, expr);
            if let Some(wait) = rule.get("for") {
                let wait = wait.text().unwrap_or_default();
                let (digits, unit) = wait.split_at(wait.len().saturating_sub(1));
                assert!(
                    !digits.is_empty()
                        && digits.bytes().all(|b| b.is_ascii_digit())
                        && ["s", "m", "h", "d"].contains(&unit),
                    "{alert}: for = {wait}"
                );
            }
            let severity = rule.get("labels").and_then(|l| l.get("severity"));
            assert!(
                matches!(severity.and_then(Yaml::text), Some("warning" | "critical")),
                "{alert}: severity {severity:?}"
            );
            let annotations = rule.get("annotations");
            for key in ["summary", "description"] {
                assert!(
                    annotations
                        .and_then(|a| a.get(key))
                        .and_then(Yaml::text)
                        .is_some_and(|t| !t.trim().is_empty()),
                    "{alert}: no {key}"
                );
            }
            queries.push((alert.to_owned(), expr.to_owned()));
        }
    }
    queries
}

/// Brackets and quotes pair up outside strings: a cheap guard against a
/// query cut in two by an edit.
fn assert_balanced(what: &str, query: &str) {
    let mut open = Vec::new();
    let mut quoted = false;
    for c in query.chars() {
        match (quoted, c) {
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, '(' | '{' | '[') => open.push(c),
            (false, ')' | '}' | ']') => {
                let expected = match c {
                    ')' => '(',
                    '}' => '{',
                    _ => '[',
                };
                assert_eq!(open.pop(), Some(expected), "{what}: unbalanced {query}");
            }
            _ => {}
        }
    }
    assert!(open.is_empty() && !quoted, "{what}: unclosed in {query}");
}

/// Every string of the dashboard that may hold a query (panel targets,
/// template variables), with where it is.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = read("deploy/grafana/rescind.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("rescind.json: {e}"));
    assert_eq!(dashboard["uid"], "rescind");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    assert!(panels.len() > 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("a panel without id"));
        assert!(ids.insert(id), "panel id {id} twice");
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title");
        let position = &panel["gridPos"];
        for key in ["h", "w", "x", "y"] {
            assert!(position[key].is_u64(), "{title}: gridPos.{key}");
        }
        if panel["type"] != "row" {
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{title}: no query");
            for target in targets {
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(!expr.is_empty(), "{title}: an empty query");
                assert_balanced(title, expr);
            }
        }
    }
    let mut queries = Vec::new();
    collect_strings(&dashboard, "dashboard", &mut queries);
    queries
}

fn collect_strings(value: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::String(text) => out.push((at.to_owned(), text.clone())),
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_strings(item, &format!("{at}[{index}]"), out);
            }
        }
        serde_json::Value::Object(fields) => {
            let label = fields.get("title").and_then(|t| t.as_str()).unwrap_or(at);
            for (key, item) in fields {
                collect_strings(item, &format!("{label}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// Traffic that makes every labelled family show samples, then a scrape.
async fn scrape_after_traffic(backend: Backend) -> String {
    let app = TestApp::spawn_with(backend, |settings| {
        with_admin(settings);
        settings
            .events
            .webhooks
            .push(rescind::config::WebhookSettings {
                name: "sink".to_owned(),
                url: format!("http://127.0.0.1:{}/hook", free_port()),
                secret: Some("webhook-secret-0123456789abcdefghijklmnop".into()),
                ..rescind::config::WebhookSettings::default()
            });
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grant = app.grant("spa").await;
    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    let status = app
        .admin_without_token(Method::GET, "/admin/clients")
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    assert_eq!(status, 401);
    let _stream = app
        .admin(Method::GET, "/admin/events")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.metrics().await;
    app.metrics().await
}

async fn every_metric_the_alerts_and_the_dashboard_use_is_exported(backend: Backend) {
    let alerts = alert_queries();
    let dashboard = dashboard_queries();
    let text = scrape_after_traffic(backend).await;
    let (series, families) = exported(&text);
    assert!(series.contains("rescind_revocations_total"), "{series:?}");
    let mut used = BTreeSet::new();
    for (place, query) in alerts.iter().chain(&dashboard) {
        for name in names_in(query) {
            assert!(
                series.contains(&name),
                "{place} uses {name}, which the server does not export; it exports {series:?}"
            );
            used.insert(name);
        }
    }
    // And the dashboard shows every family the server has.
    let on_dashboard: BTreeSet<String> = dashboard
        .iter()
        .flat_map(|(_, query)| names_in(query))
        .collect();
    for family in &families {
        assert!(
            series
                .iter()
                .filter(|name| name.starts_with(family.as_str()))
                .any(|name| on_dashboard.contains(name)),
            "{family} is on no dashboard panel"
        );
    }
    assert!(used.len() > 15, "{used:?}");
}

#[test]
fn names_are_found_in_queries_with_their_suffixes() {
    assert_eq!(
        names_in(
            "sum(rate(rescind_a_total[5m])) / rescind_b2_bucket{x=\"rescind_c\"} + my_rescind_d"
        ),
        ["rescind_a_total", "rescind_b2_bucket", "rescind_c"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
    let (series, families) =
        exported("# TYPE rescind_a counter\n# TYPE rescind_b histogram\n# TYPE rescind_c gauge\n");
    assert_eq!(families.len(), 3);
    for name in [
        "rescind_a_total",
        "rescind_b_bucket",
        "rescind_b_count",
        "rescind_c",
    ] {
        assert!(series.contains(name), "{name}");
    }
    assert!(!series.contains("rescind_a"));
}

on_both_backends!(every_metric_the_alerts_and_the_dashboard_use_is_exported);
