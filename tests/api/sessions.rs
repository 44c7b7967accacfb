//! Grants labelled with the login session and device they were given in
//! (docs/behaviour.md, Sessions and devices): set when minted or handed
//! over, shown back, carried by every revocation record and event, and
//! revoked in bulk by either.

use reqwest::Method;
use rescind::domain::client::ClientKind;
use rescind::events::set::GRANT_REVOKED;
use serde_json::{Value, json};

use crate::helpers::command::{failure_line, json_line, rescind, run};
use crate::helpers::{Backend, TestApp, with_admin};
use crate::on_both_backends;
use crate::webhooks::next_sse_event;

const EXPIRES: &str = "2099-01-01T00:00:00Z";

async fn mint(app: &TestApp, body: Value) -> Vec<String> {
    let (status, minted) = app
        .admin_json(app.admin(Method::POST, "/admin/grants/issue").json(&body))
        .await;
    assert_eq!(status, 201, "{body} -> {minted}");
    minted["grants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|grant| grant["grant_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn revoke_all(app: &TestApp, body: Value) -> (u16, Value) {
    app.admin_json(app.admin(Method::POST, "/admin/revocations").json(&body))
        .await
}

/// The (session, device) of each revocation record, by grant id, read
/// through the admin API.
async fn recorded_labels(app: &TestApp) -> Vec<(String, String, String)> {
    let (status, page) = app
        .admin_json(app.admin(Method::GET, "/admin/audit/revocations?limit=1000"))
        .await;
    assert_eq!(status, 200, "{page}");
    let mut labels: Vec<(String, String, String)> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            (
                item["grant_id"].as_str().unwrap_or_default().to_owned(),
                item["session_id"].to_string(),
                item["device_id"].to_string(),
            )
        })
        .collect();
    labels.sort();
    labels
}

/// A grant id with its session and device as JSON text.
fn labels(grant_id: &str, session: &str, device: &str) -> (String, String, String) {
    (grant_id.to_owned(), session.to_owned(), device.to_owned())
}

async fn grants_are_revoked_by_login_session_and_by_device(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    for id in ["spa", "web"] {
        app.create_client(id, ClientKind::Public).await;
    }
    let mut stream = app
        .admin(Method::GET, "/admin/events")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status().as_u16(), 200);

    // Session s-1 at two clients, minted and handed over; s-2 on the same
    // phone; one grant with no label at all.
    let s1_spa = mint(
        &app,
        json!({ "client_id": "spa", "subject": "alice", "count": 2,
                "session_id": "s-1", "device_id": "phone" }),
    )
    .await;
    let s1_web = mint(
        &app,
        json!({ "client_id": "web", "subject": "alice", "session_id": "s-1" }),
    )
    .await;
    let (status, handed) = app
        .admin_json(app.admin(Method::POST, "/admin/grants").json(&json!({
            "client_id": "web", "subject": "alice", "session_id": "s-1", "device_id": "laptop",
            "tokens": [{ "token": "handed-over-1", "kind": "access", "expires_at": EXPIRES }]
        })))
        .await;
    assert_eq!(status, 201, "{handed}");
    let s2_phone = mint(
        &app,
        json!({ "client_id": "spa", "subject": "alice", "session_id": "s-2", "device_id": "phone" }),
    )
    .await;
    let unlabelled = mint(&app, json!({ "client_id": "spa", "subject": "alice" })).await;
    assert_eq!(app.db.live_grants().await, 6);

    // A session at one client only: the filters are combined.
    let (status, done) = revoke_all(&app, json!({ "session_id": "s-1", "client_id": "web" })).await;
    assert_eq!((status, done["revoked_grants"].as_u64()), (200, Some(2)));
    let (_, done) = revoke_all(&app, json!({ "session_id": "s-1" })).await;
    assert_eq!(done["revoked_grants"], 2, "the rest of session s-1");
    let (_, again) = revoke_all(&app, json!({ "session_id": "s-1" })).await;
    assert_eq!(again["revoked_grants"], 0, "idempotent");
    let (_, by_device) = revoke_all(&app, json!({ "device_id": "phone" })).await;
    assert_eq!(by_device["revoked_grants"], 1, "s-2 on the phone");
    assert_eq!(app.db.live_grants().await, 1, "the unlabelled grant stays");
    let (_, none) = revoke_all(&app, json!({ "device_id": "nobody" })).await;
    assert_eq!(none["revoked_grants"], 0);

    // One audit record per grant, showing the grant's labels.
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 5);
    assert!(
        records
            .iter()
            .all(|r| r.presenter_kind == "admin" && r.reason == "admin_bulk")
    );
    let mut expected: Vec<(String, String, String)> = s1_spa
        .iter()
        .map(|id| labels(id, "\"s-1\"", "\"phone\""))
        .chain(s1_web.iter().map(|id| labels(id, "\"s-1\"", "null")))
        .chain(std::iter::once(labels(
            handed["grant_id"].as_str().unwrap_or_default(),
            "\"s-1\"",
            "\"laptop\"",
        )))
        .chain(s2_phone.iter().map(|id| labels(id, "\"s-2\"", "\"phone\"")))
        .collect();
    expected.sort();
    assert_eq!(recorded_labels(&app).await, expected);
    assert!(!expected.iter().any(|(id, _, _)| unlabelled.contains(id)));

    // One event per grant, carrying the labels too.
    let mut events = Vec::new();
    for _ in 0..5 {
        let (_, data) = next_sse_event(&mut stream).await;
        let event = &data["events"][GRANT_REVOKED];
        events.push((
            event["grant_id"].as_str().unwrap_or_default().to_owned(),
            event["session_id"].to_string(),
            event["device_id"].to_string(),
        ));
    }
    events.sort();
    assert_eq!(events, expected);
}

async fn bad_session_and_device_ids_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    let longest = "x".repeat(255);
    mint(
        &app,
        json!({ "client_id": "spa", "subject": "a", "session_id": longest, "device_id": longest }),
    )
    .await;
    let too_long = "x".repeat(256);
    for field in ["session_id", "device_id"] {
        for bad in [
            json!(""),
            json!(too_long),
            json!("a b"),
            json!("a\u{1}b"),
            json!("caf\u{e9}"),
            json!(5),
        ] {
            for (path, mut body) in [
                (
                    "/admin/grants/issue",
                    json!({ "client_id": "spa", "subject": "a" }),
                ),
                (
                    "/admin/grants",
                    json!({ "client_id": "spa", "subject": "a", "tokens": [
                        { "token": "never-stored", "kind": "access", "expires_at": EXPIRES }] }),
                ),
                ("/admin/revocations", json!({})),
            ] {
                body[field] = bad.clone();
                let (status, error) = app
                    .admin_json(app.admin(Method::POST, path).json(&body))
                    .await;
                assert_eq!(status, 400, "{path} {body} -> {error}");
                let described = error["error_description"].as_str().unwrap_or_default();
                if bad.is_string() {
                    assert!(described.starts_with(field), "{path} {body} -> {error}");
                    if bad != json!("") {
                        assert!(!described.contains(bad.as_str().unwrap_or_default()));
                    }
                }
            }
        }
    }
    let (status, _) = revoke_all(&app, json!({ "session_id": null, "device_id": null })).await;
    assert_eq!(status, 400, "never everything");
    assert_eq!(app.db.live_grants().await, 1);
    assert_eq!(app.db.count("SELECT count(*) FROM grant_origins").await, 1);
}

/// The session and device `rescind token inspect` shows for `token`.
async fn inspected_labels(app: &TestApp, token: Option<&str>) -> (Value, Value) {
    let token = token.unwrap_or_else(|| panic!("no token"));
    let shown = json_line(
        &rescind(
            app.db.url(),
            app.db.data_dir(),
            &["token", "inspect"],
            Some(token),
        )
        .await,
    );
    (shown["session_id"].clone(), shown["device_id"].clone())
}

async fn the_cli_issues_inspects_and_revokes_by_session_and_device(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("web", ClientKind::Public).await;
    let issue = |session: &'static str, device: &'static str| {
        let app = &app;
        async move {
            json_line(
                &run(
                    app,
                    &[
                        "token",
                        "issue",
                        "--client",
                        "web",
                        "--subject",
                        "bob",
                        "--session",
                        session,
                        "--device",
                        device,
                    ],
                )
                .await,
            )
        }
    };
    let first = issue("sid-A", "DEVICE1").await;
    issue("sid-A", "DEVICE2").await;
    issue("sid-B", "DEVICE2").await;
    let plain = json_line(
        &run(
            &app,
            &["token", "issue", "--client", "web", "--subject", "bob"],
        )
        .await,
    );

    let labelled = inspected_labels(&app, first["access_token"].as_str()).await;
    assert_eq!(labelled, (json!("sid-A"), json!("DEVICE1")));
    let unlabelled = inspected_labels(&app, plain["refresh_token"].as_str()).await;
    assert_eq!(unlabelled, (Value::Null, Value::Null));
    let unknown = inspected_labels(&app, Some("nope")).await;
    assert_eq!(unknown, (Value::Null, Value::Null));

    let by_session = json_line(&run(&app, &["grant", "revoke", "--session", "sid-A"]).await);
    assert_eq!(by_session, json!({ "revoked_grants": 2 }));
    let by_device = json_line(&run(&app, &["grant", "revoke", "--device", "DEVICE2"]).await);
    assert_eq!(by_device, json!({ "revoked_grants": 1 }));
    assert_eq!(app.db.live_grants().await, 1);
    let records = app.db.audit_records().await;
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.reason == "admin_bulk" && r.presenter_kind == "admin")
    );
}

async fn the_cli_refuses_bad_session_and_device_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_client("web", ClientKind::Public).await;
    let longer = "d".repeat(256);
    for args in [
        &["grant", "revoke", "--session", ""][..],
        &["grant", "revoke", "--device", "two words"],
        &[
            "token",
            "issue",
            "--client",
            "web",
            "--subject",
            "b",
            "--session",
            "caf\u{e9}",
        ],
        &[
            "token",
            "issue",
            "--client",
            "web",
            "--subject",
            "b",
            "--device",
            &longer,
        ],
    ] {
        let refused = run(&app, args).await;
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        let line = failure_line(&refused);
        assert!(
            line.contains("--session") || line.contains("--device"),
            "{line}"
        );
    }
    assert_eq!(app.db.live_grants().await, 0, "nothing issued");
}

/// More grants of one session than one batch holds: every one is revoked
/// before the answer.
async fn a_session_with_more_grants_than_a_batch_is_revoked_whole(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    app.create_client("spa", ClientKind::Public).await;
    let batch = rescind::revocation::BULK_BATCH;
    for _ in 0..2 {
        mint(
            &app,
            json!({ "client_id": "spa", "subject": "alice", "count": batch, "session_id": "big" }),
        )
        .await;
    }
    mint(
        &app,
        json!({ "client_id": "spa", "subject": "alice", "session_id": "other" }),
    )
    .await;
    let (status, done) = revoke_all(&app, json!({ "session_id": "big" })).await;
    assert_eq!(
        (status, done["revoked_grants"].as_u64()),
        (200, Some(2 * u64::from(batch)))
    );
    assert_eq!(app.db.live_grants().await, 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM revocation_events WHERE session_id = 'big'")
            .await,
        2 * i64::from(batch)
    );
}

on_both_backends!(
    grants_are_revoked_by_login_session_and_by_device,
    bad_session_and_device_ids_are_refused_naming_the_field,
    the_cli_issues_inspects_and_revokes_by_session_and_device,
    the_cli_refuses_bad_session_and_device_ids,
    a_session_with_more_grants_than_a_batch_is_revoked_whole,
);
