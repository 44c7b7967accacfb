//! The command-line interface, run as the real binary against the test database.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::command::{failure_line, json_line, rescind, rescind_with, run};
use crate::helpers::{
    Backend, TestApp, TestDatabase, assert_oauth_error, assert_revocation_ok, basic_header,
    free_port, with_admin,
};
use crate::introspection::{answer, introspect, until_within};
use crate::on_both_backends;

fn is_minted(token: &str, prefix: &str) -> bool {
    let parts: Vec<&str> = token.split('_').collect();
    let alnum = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric());
    parts.len() == 3 && parts[0] == prefix && alnum(parts[1], 30) && alnum(parts[2], 6)
}

async fn client_create_shows_the_secret_once_and_refuses_a_duplicate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = json_line(
        &run(
            &app,
            &["client", "create", "--id", "web", "--name", "Web app"],
        )
        .await,
    );
    let secret = created["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(created["client_id"], "web");
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    let public = json_line(&run(&app, &["client", "create", "--id", "spa", "--public"]).await);
    assert_eq!(
        public,
        serde_json::json!({ "client_id": "spa", "client_secret": null, "resource_server": false })
    );
    assert!(
        failure_line(&run(&app, &["client", "create", "--id", "web"]).await)
            .contains("already exists")
    );
    assert!(
        failure_line(&run(&app, &["client", "create", "--id", ""]).await)
            .contains("invalid client id")
    );

    let listed = json_line(&run(&app, &["client", "list"]).await);
    let ids: Vec<_> = listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["client_id"].clone())
        .collect();
    assert_eq!(ids, ["spa", "web"]);
    assert_eq!(listed[1]["kind"], "confidential");
    assert_eq!(listed[1]["name"], "Web app");
    let text = listed.to_string();
    assert!(
        !text.contains(&secret) && !text.contains("argon2"),
        "no secret or hash is listed"
    );

    let grant = app.grant("web").await;
    assert_revocation_ok(
        app.revoke_basic("web", &secret, &[("token", &grant.access_token)])
            .await,
    )
    .await;
}

async fn rotate_secret_replaces_the_secret_and_disable_stops_the_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old =
        json_line(&run(&app, &["client", "create", "--id", "web"]).await)["client_secret"].clone();
    let old = old.as_str().unwrap_or_default();
    let new =
        json_line(&run(&app, &["client", "rotate-secret", "--id", "web"]).await)["client_secret"]
            .clone();
    let new = new.as_str().unwrap_or_default();
    assert_ne!(old, new);
    let grant = app.grant("web").await;
    assert_oauth_error(
        app.revoke_basic("web", old, &[("token", &grant.access_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    assert_revocation_ok(
        app.revoke_basic("web", new, &[("token", &grant.access_token)])
            .await,
    )
    .await;

    run(&app, &["client", "create", "--id", "spa", "--public"]).await;
    assert!(
        failure_line(&run(&app, &["client", "rotate-secret", "--id", "spa"]).await)
            .contains("public")
    );
    assert!(
        failure_line(&run(&app, &["client", "rotate-secret", "--id", "ghost"]).await)
            .contains("no client")
    );

    let disabled = json_line(&run(&app, &["client", "disable", "--id", "web"]).await);
    assert_eq!(disabled["disabled"], true);
    let other = app.grant("spa").await;
    assert_oauth_error(
        app.revoke_basic("web", new, &[("token", &other.access_token)])
            .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(
        failure_line(&run(&app, &["client", "disable", "--id", "ghost"]).await)
            .contains("no client")
    );
    assert!(
        failure_line(
            &run(
                &app,
                &["token", "issue", "--client", "web", "--subject", "a"]
            )
            .await
        )
        .contains("disabled")
    );
}

async fn token_issue_mints_revocable_tokens_in_the_published_format(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    run(&app, &["client", "create", "--id", "spa", "--public"]).await;
    let args = [
        "token",
        "issue",
        "--client",
        "spa",
        "--subject",
        "alice",
        "--scope",
        "openid",
        "--access-ttl",
        "600",
        "--count",
        "3",
    ];
    let output = run(&app, &args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert!(
            is_minted(line["access_token"].as_str().unwrap_or_default(), "rat"),
            "{line}"
        );
        assert!(
            is_minted(line["refresh_token"].as_str().unwrap_or_default(), "rrt"),
            "{line}"
        );
        assert_eq!(line["expires_in"], 600);
        assert_eq!(line["grant_id"].as_str().map(str::len), Some(36));
    }
    assert_ne!(lines[0]["access_token"], lines[1]["access_token"]);
    assert_eq!(app.db.live_tokens().await, 6);
    let token = lines[1]["refresh_token"].as_str().unwrap_or_default();
    assert_revocation_ok(app.revoke(&[("token", token), ("client_id", "spa")]).await).await;
    assert_eq!(app.db.live_tokens().await, 4);

    let unknown = failure_line(
        &run(
            &app,
            &["token", "issue", "--client", "ghost", "--subject", "a"],
        )
        .await,
    );
    assert!(unknown.contains("no client"), "{unknown}");
    assert!(
        !run(
            &app,
            &[
                "token",
                "issue",
                "--client",
                "spa",
                "--subject",
                "a",
                "--count",
                "0"
            ]
        )
        .await
        .status
        .success()
    );
}

async fn token_inspect_reports_a_token_before_and_after_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    let grant = app.grant("spa").await;
    let before = json_line(
        &rescind(
            app.db.url(),
            app.db.data_dir(),
            &["token", "inspect"],
            Some(&format!("{}\n", grant.access_token)),
        )
        .await,
    );
    assert_eq!(before["found"], true);
    assert_eq!(before["active"], true);
    assert_eq!(before["kind"], "access");
    assert_eq!(before["client_id"], "spa");
    assert_eq!(before["grant_id"], grant.grant_id.to_string());
    assert_eq!(before["revoked_at"], Value::Null);

    assert_revocation_ok(app.revoke(&[("token", &grant.access_token)]).await).await;
    let after = json_line(
        &rescind(
            app.db.url(),
            app.db.data_dir(),
            &["token", "inspect"],
            Some(&grant.refresh_token),
        )
        .await,
    );
    assert_eq!(
        (
            after["found"].clone(),
            after["active"].clone(),
            after["kind"].clone()
        ),
        (true.into(), false.into(), "refresh".into())
    );
    assert!(
        after["revoked_at"]
            .as_str()
            .is_some_and(|at| chrono::DateTime::parse_from_rfc3339(at).is_ok())
    );

    let unknown = json_line(
        &rescind(
            app.db.url(),
            app.db.data_dir(),
            &["token", "inspect"],
            Some("nope\r\n"),
        )
        .await,
    );
    assert_eq!(unknown["found"], false);
    assert_eq!(unknown["kind"], Value::Null);
}

async fn a_bad_configuration_stops_every_command_naming_the_key(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let bad_issuer = |args: &'static [&'static str]| {
        let (url, dir) = (db.url().to_owned(), db.data_dir().to_owned());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_rescind"))
                .args(args)
                .env("RESCIND_DATABASE__URL", url)
                .env("RESCIND_DATA_DIR", dir)
                .env("RESCIND_ISSUER", "http://insecure.example")
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
        })
    };
    for args in [
        &["serve"][..],
        &["migrate"],
        &["client", "list"],
        &["token", "inspect"],
    ] {
        let output = bad_issuer(args).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let line = failure_line(&output);
        assert!(
            line.contains("`issuer`") && line.contains("https"),
            "{line}"
        );
    }
    let missing = rescind(
        db.url(),
        db.data_dir(),
        &["--config", "/nonexistent/rescind.toml", "client", "list"],
        None,
    )
    .await;
    assert!(failure_line(&missing).contains("--config"));
}

async fn migrate_prepares_an_empty_database(backend: Backend) {
    let db = TestDatabase::create_empty(backend).await;
    let output = rescind(db.url(), db.data_dir(), &["migrate"], None).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clients").await,
        0,
        "the schema exists"
    );
    let again = rescind(db.url(), db.data_dir(), &["migrate"], None).await;
    assert!(again.status.success(), "migrating twice is harmless");
}

async fn config_check_prints_the_values_in_force_with_secrets_redacted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let hashed = run_with_input(&app, &["admin", "hash-token"], ADMIN_TOKEN).await;
    let hash = json_line(&hashed)["token_hash"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let url = "postgres://rescind:hunter2-secret@db.internal:5432/rescind";
    let output = rescind_with(
        url,
        app.db.data_dir(),
        &["config", "check"],
        None,
        &[
            ("RESCIND_ADMIN__LISTEN", "127.0.0.1:9443"),
            ("RESCIND_ADMIN__TOKEN_HASH", &hash),
            ("RESCIND_SERVER__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]"),
            (
                "RESCIND_EVENTS__WEBHOOKS",
                "[{name=\"rs\",url=\"https://rs.example/hook\",secret=\"webhook-secret-value-0123456789-abcdef\"}]",
            ),
        ],
    )
    .await;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = json_line(&output);
    assert_eq!(report["valid"], true);
    let settings = &report["settings"];
    assert_eq!(
        settings["database"]["url"],
        "postgres://rescind:<redacted>@db.internal:5432/rescind"
    );
    assert_eq!(settings["admin"]["token_hash"], "<redacted>");
    assert_eq!(settings["admin"]["listen"], "127.0.0.1:9443");
    assert_eq!(
        settings["server"]["trusted_proxies"],
        serde_json::json!(["10.0.0.0/8"])
    );
    assert_eq!(settings["rate_limit"]["failed_auth_per_client"], 10);
    assert_eq!(settings["retention"]["keep_expired"], "7days");
    assert_eq!(settings["events"]["webhooks"][0]["secret"], "<redacted>");
    assert_eq!(
        settings["events"]["webhooks"][0]["url"],
        "https://rs.example/hook"
    );
    assert!(!printed.contains("hunter2") && !printed.contains(&hash));
    assert!(!printed.contains("webhook-secret-value"));

    // A bad value: exit 2, one line naming the key, nothing printed.
    let bad = rescind_with(
        app.db.url(),
        app.db.data_dir(),
        &["config", "check"],
        None,
        &[("RESCIND_ADMIN__LISTEN", "127.0.0.1:9443")],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(failure_line(&bad).contains("admin.token_hash"));
}

/// The admin bearer token of these tests: long enough for `hash-token`.
const ADMIN_TOKEN: &str = "cli-test-admin-token-0123456789-abcdefghij";

async fn run_with_input(app: &TestApp, args: &[&str], input: &str) -> Output {
    rescind(app.db.url(), app.db.data_dir(), args, Some(input)).await
}

async fn admin_hash_token_prints_a_hash_the_server_accepts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let output = run_with_input(&app, &["admin", "hash-token"], &format!("{ADMIN_TOKEN}\n")).await;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let hash = json_line(&output)["token_hash"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        !printed.contains(ADMIN_TOKEN),
        "the token itself is never printed"
    );
    let short = run_with_input(&app, &["admin", "hash-token"], "short").await;
    assert_eq!(short.status.code(), Some(2));
    assert!(failure_line(&short).contains("at least 32 characters"));

    // A server configured with that hash takes the token, and only it.
    let server = TestApp::spawn_on(TestDatabase::create(backend).await, |settings| {
        settings.admin.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        settings.admin.token_hash = Some(hash.clone().into());
    })
    .await;
    let accepted = server
        .admin_without_token(reqwest::Method::GET, "/admin/clients")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accepted.status().as_u16(), 200);
    let refused = server
        .admin_without_token(reqwest::Method::GET, "/admin/clients")
        .bearer_auth(format!("{ADMIN_TOKEN}x"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status().as_u16(), 401);
}

/// `rescind client set-origins --id ID --origin …`.
async fn set_origins(app: &TestApp, id: &str, origins: &[&str]) -> Output {
    let mut args = vec!["client", "set-origins", "--id", id];
    for origin in origins {
        args.extend(["--origin", origin]);
    }
    run(app, &args).await
}

async fn client_enable_delete_and_set_origins_do_what_the_admin_api_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    run(&app, &["client", "create", "--id", "spa", "--public"]).await;

    let set = json_line(
        &set_origins(
            &app,
            "spa",
            &["https://app.example.com", "http://localhost:3000"],
        )
        .await,
    );
    assert_eq!(
        set,
        json!({
            "client_id": "spa",
            "allowed_origins": ["https://app.example.com", "http://localhost:3000"],
        })
    );
    let listed = json_line(&run(&app, &["client", "list"]).await);
    assert_eq!(listed[0]["allowed_origins"], set["allowed_origins"]);
    let bad = set_origins(&app, "spa", &["https://x.example/path"]).await;
    assert!(failure_line(&bad).contains("https://x.example/path"));
    let cleared = json_line(&set_origins(&app, "spa", &[]).await);
    assert_eq!(cleared["allowed_origins"], json!([]));
    run(&app, &["client", "create", "--id", "web"]).await;
    let confidential = set_origins(&app, "web", &["https://app.example.com"]).await;
    assert_eq!(confidential.status.code(), Some(1));
    assert!(failure_line(&confidential).contains("only a public client"));

    // Disabled, then enabled again: the client works again.
    let grant = app.grant("spa").await;
    run(&app, &["client", "disable", "--id", "spa"]).await;
    let spa = [("token", grant.access_token.as_str()), ("client_id", "spa")];
    assert_oauth_error(app.revoke(&spa).await, 401, "invalid_client").await;
    let enabled = json_line(&run(&app, &["client", "enable", "--id", "spa"]).await);
    assert_eq!(enabled, json!({ "client_id": "spa", "disabled": false }));
    assert_revocation_ok(app.revoke(&spa).await).await;
    assert!(
        failure_line(&run(&app, &["client", "enable", "--id", "ghost"]).await)
            .contains("no client")
    );

    // Deleted: its live grants are revoked and audited, its id stays taken.
    let live = app.grant("spa").await;
    let deleted = json_line(&run(&app, &["client", "delete", "--id", "spa"]).await);
    assert_eq!(
        deleted,
        json!({ "client_id": "spa", "deleted": true, "revoked_grants": 1 })
    );
    assert_eq!(app.db.live_tokens().await, 0);
    let records = app.db.audit_records().await;
    let last = records.last().unwrap_or_else(|| panic!("no record"));
    assert_eq!(last.reason, "client_deleted");
    assert!(last.request_id.starts_with("cli-"), "{}", last.request_id);
    assert_oauth_error(
        app.revoke(&[("token", &live.access_token), ("client_id", "spa")])
            .await,
        401,
        "invalid_client",
    )
    .await;
    let again = run(&app, &["client", "delete", "--id", "spa"]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(failure_line(&again).contains("no client"));
    assert!(
        failure_line(&run(&app, &["client", "create", "--id", "spa", "--public"]).await)
            .contains("already exists")
    );
}

async fn grant_revoke_revokes_every_grant_of_a_subject_or_a_client_in_batches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for id in ["web", "other"] {
        app.create_client(id, rescind::domain::client::ClientKind::Public)
            .await;
    }
    // More grants than one batch, all of alice at web.
    let batch = usize::try_from(rescind::revocation::BULK_BATCH).unwrap_or(500);
    app.grants_with_ttl("web", 3600, 2 * batch + 1).await;
    run(
        &app,
        &["token", "issue", "--client", "web", "--subject", "bob"],
    )
    .await;
    run(
        &app,
        &["token", "issue", "--client", "other", "--subject", "alice"],
    )
    .await;

    let neither = run(&app, &["grant", "revoke"]).await;
    assert_eq!(neither.status.code(), Some(2));
    assert!(failure_line(&neither).contains("--subject"));

    let both = json_line(
        &run(
            &app,
            &["grant", "revoke", "--subject", "alice", "--client", "web"],
        )
        .await,
    );
    assert_eq!(both, json!({ "revoked_grants": 2 * batch + 1 }));
    let subject = json_line(&run(&app, &["grant", "revoke", "--subject", "alice"]).await);
    assert_eq!(subject, json!({ "revoked_grants": 1 }));
    let client = json_line(&run(&app, &["grant", "revoke", "--client", "web"]).await);
    assert_eq!(client, json!({ "revoked_grants": 1 }));
    let nothing_left = json_line(&run(&app, &["grant", "revoke", "--client", "web"]).await);
    assert_eq!(nothing_left, json!({ "revoked_grants": 0 }));
    assert_eq!(app.db.live_tokens().await, 0);

    // One record per grant, as the admin API's bulk revocation writes them.
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 2 * batch + 3);
    assert!(records.iter().all(|r| r.reason == "admin_bulk"
        && r.presenter_kind == "admin"
        && r.presented_token_hash.is_none()
        && r.request_id.starts_with("cli-")));
    assert!(
        failure_line(&run(&app, &["grant", "revoke", "--client", "caf\u{e9}"]).await)
            .contains("invalid client id")
    );
}

/// `rescind token revoke` with `input` on standard input.
async fn token_revoke(db_url: &str, app: &TestApp, input: Option<&str>) -> Output {
    rescind_with(
        db_url,
        app.db.data_dir(),
        &["token", "revoke"],
        input,
        &[("RESCIND_DATABASE__TIMEOUT", "1s")],
    )
    .await
}

/// Neither output of a command shows `token`.
fn assert_never_shown(output: &Output, token: &str) {
    for (name, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !String::from_utf8_lossy(text).contains(token),
            "the token appears on {name}"
        );
    }
}

async fn token_revoke_revokes_the_whole_grant_of_a_token_read_on_standard_input(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let secret = app.resource_server("resource-server").await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    let (grant, other) = (app.grant("spa").await, app.grant("spa").await);
    let basic = basic_header("resource-server", &secret);
    let active = |token: String| {
        let (app, basic) = (&app, basic.clone());
        async move { answer(introspect(app, &[("token", &token)], basic).await).await["active"] == true }
    };
    // The running server has the access token cached as active.
    assert!(active(grant.access_token.clone()).await);

    let revoked = token_revoke(
        app.db.url(),
        &app,
        Some(&format!("{}\n", grant.refresh_token)),
    )
    .await;
    assert_never_shown(&revoked, &grant.refresh_token);
    assert_eq!(
        json_line(&revoked),
        json!({ "outcome": "revoked", "grant_id": grant.grant_id.to_string() })
    );
    // The whole grant is dead, and the running server learns it from the
    // outbox (its cached answer goes); the other grant lives on.
    until_within(Duration::from_secs(5), || {
        let still = active(grant.access_token.clone());
        async move { !still.await }
    })
    .await;
    assert!(!active(grant.refresh_token.clone()).await);
    assert!(active(other.access_token.clone()).await);
    assert_eq!(app.db.live_tokens().await, 2);

    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (
            record.presenter_kind.as_str(),
            record.reason.as_str(),
            record.presented_kind.as_str(),
            record.presenter_client_id.as_deref(),
            record.foreign_client,
        ),
        ("operator", "operator_request", "refresh", None, false)
    );
    assert!(
        record.request_id.starts_with("cli-"),
        "{}",
        record.request_id
    );
    assert_eq!(
        record.presented_token_hash.as_deref(),
        Some(&Sha256::digest(grant.refresh_token.as_bytes())[..])
    );
    let (status, listed) = app
        .admin_json(app.admin(reqwest::Method::GET, "/admin/audit/revocations"))
        .await;
    assert_eq!(
        (
            status,
            &listed["items"][0]["presenter_kind"],
            &listed["items"][0]["reason"]
        ),
        (200, &json!("operator"), &json!("operator_request"))
    );
    let event =
        "SELECT client_id, subject, token_kinds, presenter_kind, reason FROM revocation_events";
    let expected = [
        "spa",
        "alice",
        "access,refresh",
        "operator",
        "operator_request",
    ]
    .map(String::from);
    let [client, subject, kinds, presenter, reason] = expected;
    assert_eq!(
        app.db.rows(event).await,
        [(client, subject, kinds, presenter, reason)]
    );

    // Already revoked, or never issued: exit 0, named, nothing written.
    let again = token_revoke(app.db.url(), &app, Some(&grant.access_token)).await;
    assert_never_shown(&again, &grant.access_token);
    assert_eq!(
        json_line(&again),
        json!({ "outcome": "already_revoked", "grant_id": null })
    );
    let unknown = token_revoke(app.db.url(), &app, Some("  rat_never_issued \r\n")).await;
    assert_eq!(
        json_line(&unknown),
        json!({ "outcome": "unknown_token", "grant_id": null })
    );
    assert_eq!(app.db.audit_records().await.len(), 1);
    assert_eq!(
        app.db.count("SELECT count(*) FROM revocation_events").await,
        1
    );
}

async fn token_revoke_refuses_what_cannot_be_a_token_and_a_database_it_cannot_reach(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_client("spa", rescind::domain::client::ClientKind::Public)
        .await;
    let grant = app.grant("spa").await;
    for empty in [None, Some(" \r\n\n")] {
        let refused = token_revoke(app.db.url(), &app, empty).await;
        assert_eq!(refused.status.code(), Some(2));
        assert!(failure_line(&refused).contains("no token on standard input"));
    }
    // The longest token the revocation endpoint takes in its default body
    // (16 KiB, `token=` first) is looked up; one byte more is refused.
    let longest = "x".repeat(16_384 - "token=".len());
    let looked_up = token_revoke(app.db.url(), &app, Some(&format!("{longest}\n"))).await;
    assert_eq!(json_line(&looked_up)["outcome"], "unknown_token");
    let too_long = token_revoke(app.db.url(), &app, Some(&format!("{longest}y"))).await;
    assert_eq!(too_long.status.code(), Some(2));
    assert!(failure_line(&too_long).contains("longer than the 16378 bytes"));
    assert_never_shown(&too_long, &longest);

    // No database: exit 1, one line, no token, nothing revoked.
    let unreachable = match backend {
        Backend::Postgres => format!("postgres://rescind@127.0.0.1:{}/rescind", free_port()),
        Backend::Sqlite => format!(
            "sqlite://{}/missing/rescind.db",
            app.db.data_dir().display()
        ),
    };
    let down = token_revoke(&unreachable, &app, Some(&grant.access_token)).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(failure_line(&down).starts_with("rescind: "));
    assert_never_shown(&down, &grant.access_token);
    assert_eq!(app.db.live_tokens().await, 2);
}

on_both_backends!(
    token_revoke_revokes_the_whole_grant_of_a_token_read_on_standard_input,
    token_revoke_refuses_what_cannot_be_a_token_and_a_database_it_cannot_reach,
    config_check_prints_the_values_in_force_with_secrets_redacted,
    admin_hash_token_prints_a_hash_the_server_accepts,
    client_create_shows_the_secret_once_and_refuses_a_duplicate,
    rotate_secret_replaces_the_secret_and_disable_stops_the_client,
    token_issue_mints_revocable_tokens_in_the_published_format,
    token_inspect_reports_a_token_before_and_after_revocation,
    a_bad_configuration_stops_every_command_naming_the_key,
    migrate_prepares_an_empty_database,
    client_enable_delete_and_set_origins_do_what_the_admin_api_does,
    grant_revoke_revokes_every_grant_of_a_subject_or_a_client_in_batches,
);
