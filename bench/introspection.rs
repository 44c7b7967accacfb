//! Introspection as resource servers send it (README, "Resource servers"):
//! a confidential client marked as a resource server asks about one live
//! token over and over (what a busy resource server sends, answered from
//! the instance's cache), about distinct live tokens (every one a cache
//! miss), and about revoked tokens. Introspection answers `200` whatever the
//! token, so every answer's `active` is checked against what the database
//! holds; the rows are compared with the metadata document, the cheapest
//! answer the server gives.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hyper::Method;

use crate::load::{self, Check, Request};
use crate::seed::{Failure, Minted};
use crate::{Bench, Yardsticks};

/// A resource server's credentials: `client_secret_basic`.
pub struct ResourceServer {
    authorization: String,
}

impl ResourceServer {
    fn request(&self, token: &str) -> Request {
        Request {
            method: Method::POST,
            path: "/oauth2/introspect",
            headers: vec![
                (
                    "content-type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
                ("authorization", self.authorization.clone()),
            ],
            body: Bytes::from(format!("token={token}")),
        }
    }
}

/// Accepts an answer whose `active` is `expected`.
fn expecting(expected: bool) -> Check {
    Arc::new(move |body: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|answer| answer["active"] == serde_json::Value::Bool(expected))
    })
}

impl Bench {
    /// Registers the resource server through the CLI, as an operator would.
    pub(crate) fn create_resource_server(&self) -> Result<ResourceServer, Failure> {
        let id = "rs";
        let secret = self
            .cli()
            .create_client(id, &["--resource-server", "--name", "Resource server"])?
            .ok_or("the resource server has no secret")?;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        Ok(ResourceServer {
            authorization: format!("Basic {credentials}"),
        })
    }

    /// The three introspection scenarios, on a server of their own: `live`
    /// are live tokens (the first one is the cached one), `revoked` tokens an
    /// earlier scenario revoked.
    pub(crate) async fn introspection_scenarios(
        &mut self,
        server: &ResourceServer,
        live: &[Minted],
        revoked: &[Minted],
    ) -> Result<(), Failure> {
        let metadata = self
            .rows
            .iter()
            .find(|row| row.name == crate::METADATA)
            .map(|row| row.outcome.per_second());
        let yardsticks = Yardsticks {
            metadata,
            ..Yardsticks::default()
        };
        let (process, target) = self.start_server(false).await?;
        // The resource server's first call pays one argon2 verification;
        // the scenarios measure the steady state after it.
        let warm = vec![server.request("warm-up")];
        let answer = load::run(&target, Arc::new(warm), 1, Duration::from_secs(30)).await;
        if answer.statuses.first() != Some(&200) {
            return Err(format!("resource server warm-up: {:?}", answer.status_counts()).into());
        }
        let (cached, distinct) = live.split_first().ok_or("no live tokens to introspect")?;
        let scenarios = [
            (
                "introspection, one live token (cached)",
                vec![server.request(&cached.access_token); self.sizes.cheap],
                true,
            ),
            (
                "introspection, distinct live tokens",
                distinct
                    .iter()
                    .map(|m| server.request(&m.access_token))
                    .collect(),
                true,
            ),
            (
                "introspection, revoked tokens",
                revoked
                    .iter()
                    .map(|m| server.request(&m.access_token))
                    .collect(),
                false,
            ),
        ];
        for (name, requests, active) in scenarios {
            self.measure_checked(&target, name, requests, yardsticks, expecting(active))
                .await?;
        }
        self.stop_server(process)
    }
}
