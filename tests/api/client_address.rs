//! Who the caller is behind a trusted proxy: only the forwarding header the
//! operator's proxy writes names the client, and only a trusted proxy's
//! `X-Request-Id` reaches the audit record.

use rescind::config::{ForwardedHeader, RateLimitSettings};

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, assert_revocation_ok, basic_header, encode, header,
    header_map,
};
use crate::on_both_backends;

/// A Basic-authenticated revocation carrying `forwarding` headers.
async fn revoke_with(
    app: &TestApp,
    secret: &str,
    token: &str,
    forwarding: &[(&str, &str)],
) -> reqwest::Response {
    let mut headers = basic_header("web", secret);
    headers.extend(header_map(forwarding));
    app.revoke_raw(encode(&[("token", token)]), headers).await
}

/// The reproduced attack: the proxy (loopback, trusted) appends the
/// attacker's real address to the header it writes, and passes the other
/// header, forged by the attacker to name a victim, through untouched. The
/// failures must count against the real address, whichever header the
/// proxy writes.
async fn a_forged_forwarding_header_the_proxy_does_not_write_names_no_one(backend: Backend) {
    let attacker = "198.51.100.66";
    let victim = "203.0.113.9";
    for written in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
        let app = TestApp::spawn_with(backend, |settings| {
            settings.rate_limit = RateLimitSettings {
                // Ten argon2 verifications on a loaded machine can outlast
                // the default minute; the lockout, not its window, is tested.
                window: std::time::Duration::from_secs(3600),
                ..RateLimitSettings::default()
            };
            settings.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
            settings.server.forwarded_header = written;
        })
        .await;
        let secret = app.confidential_client("web").await;
        let grant = app.grant("web").await;
        let real = format!("for={attacker}");
        let forged = format!("for={victim}");
        let (through_proxy, forged_by_client) = match written {
            ForwardedHeader::XForwardedFor => (
                [("x-forwarded-for", attacker)],
                [("forwarded", forged.as_str())],
            ),
            ForwardedHeader::Forwarded => (
                [("forwarded", real.as_str())],
                [("x-forwarded-for", victim)],
            ),
        };
        let both: Vec<(&str, &str)> = forged_by_client
            .iter()
            .chain(through_proxy.iter())
            .copied()
            .collect();
        for attempt in 0..10 {
            let response = revoke_with(&app, "wrong", &grant.access_token, &both).await;
            assert_eq!(response.status().as_u16(), 401, "{written:?} {attempt}");
        }
        // The attacker's own address is locked out...
        assert_oauth_error(
            revoke_with(&app, &secret, &grant.access_token, &both).await,
            429,
            "temporarily_unavailable",
        )
        .await;
        // ...and the victim, coming through the same proxy, is not.
        let victim_through_proxy = match written {
            ForwardedHeader::XForwardedFor => [("x-forwarded-for", victim)],
            ForwardedHeader::Forwarded => [("forwarded", forged.as_str())],
        };
        assert_revocation_ok(
            revoke_with(&app, &secret, &grant.access_token, &victim_through_proxy).await,
        )
        .await;
    }
}

/// A caller's own `X-Request-Id` would be written into the audit record as
/// if Rescind had made it: it is taken only from a trusted proxy.
async fn a_request_id_is_taken_from_a_trusted_proxy_only(backend: Backend) {
    for trusted in [false, true] {
        let app = TestApp::spawn_with(backend, |settings| {
            if trusted {
                settings.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
            }
        })
        .await;
        app.create_client("spa", rescind::domain::client::ClientKind::Public)
            .await;
        let grant = app.grant("spa").await;
        let response = app
            .revoke_raw(
                encode(&[("token", &grant.access_token), ("client_id", "spa")]),
                header_map(&[("x-request-id", "chosen-by-caller-1")]),
            )
            .await;
        let echoed = header(&response, "x-request-id").map(str::to_owned);
        assert_revocation_ok(response).await;
        let records = app.db.audit_records().await;
        assert_eq!(records.len(), 1);
        let recorded = records[0].request_id.as_str();
        assert_eq!(
            echoed.as_deref(),
            Some(recorded),
            "the answer names the record's id"
        );
        assert_eq!(
            recorded == "chosen-by-caller-1",
            trusted,
            "trusted: {trusted}"
        );
    }
}

on_both_backends!(
    a_forged_forwarding_header_the_proxy_does_not_write_names_no_one,
    a_request_id_is_taken_from_a_trusted_proxy_only,
);
