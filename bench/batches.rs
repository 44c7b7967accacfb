//! The mean batch size of a scenario, read from the server's own counts
//! (`rescind_db_batch_statements_total` and
//! `rescind_db_batched_requests_total` on the admin listener's
//! `/metrics`): how many requests each statement of group commit, or of
//! introspection's grouped reads, carried while the scenario ran.

use std::net::SocketAddr;
use std::time::Duration;

use rescind::domain::secret::ClientSecret;

use crate::seed::Failure;

/// The `admin.token_hash` the benchmark's server starts with: the admin
/// listener needs one to start, and the benchmark only reads `/metrics`,
/// which needs no token. The token is random and never leaves this
/// process, so nobody else on the machine can use the listener.
pub fn admin_token_hash() -> Result<String, Failure> {
    let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let hash = rescind::auth::hash_secret(&ClientSecret::new(token))
        .map_err(|error| format!("hashing the admin token: {error}"))?;
    Ok(hash.as_phc().to_owned())
}

/// Statements and the requests they carried, for revocations and for
/// introspection lookups, since the server started.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    revocation: (u64, u64),
    introspection: (u64, u64),
}

impl Counts {
    /// Reads the counts from the plain-HTTP admin listener at `admin`,
    /// within 10 s; `None` (the column shows `-`) when it cannot, which
    /// costs the row its batch size and nothing else.
    pub async fn scrape(admin: SocketAddr) -> Option<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .ok()?;
        let response = client
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        let text = match response {
            Ok(response) => response.text().await.ok()?,
            Err(error) => {
                eprintln!("bench: batch counts not read: {error}");
                return None;
            }
        };
        let read = |name: &str, kind: &str| sample(&text, &format!("{name}{{kind=\"{kind}\"}}"));
        let pair = |kind| {
            (
                read("rescind_db_batch_statements_total", kind),
                read("rescind_db_batched_requests_total", kind),
            )
        };
        Some(Self {
            revocation: pair("revocation"),
            introspection: pair("introspection"),
        })
    }

    /// Requests per statement between `self` and `later`, for whichever
    /// kind ran statements meanwhile (revocations first); `None` when
    /// neither did.
    pub fn mean_batch_until(&self, later: &Self) -> Option<f64> {
        [
            (self.revocation, later.revocation),
            (self.introspection, later.introspection),
        ]
        .into_iter()
        .find_map(
            |((statements, requests), (statements_after, requests_after))| {
                let ran = statements_after.saturating_sub(statements);
                (ran > 0).then(|| requests_after.saturating_sub(requests) as f64 / ran as f64)
            },
        )
    }
}

/// The value of the one sample of `series` (name and labels) in `text`; 0
/// when absent.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}
