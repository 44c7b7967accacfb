//! The mean batch size of a scenario, read from the server's own counts
//! (`rescind_db_batch_statements_total` and
//! `rescind_db_batched_requests_total` on the admin listener's
//! `/metrics`): how many requests each statement of group commit, or of
//! introspection's grouped reads, carried while the scenario ran.

use std::net::SocketAddr;

use rescind::domain::secret::ClientSecret;

use crate::seed::Failure;

/// The admin listener needs a token hash to start; the benchmark only
/// reads `/metrics`, which needs no token, so this one is never sent.
const UNUSED_ADMIN_TOKEN: &str = "bench-admin-token-that-is-never-sent";

/// The `admin.token_hash` the benchmark's server starts with.
pub fn admin_token_hash() -> Result<String, Failure> {
    let hash = rescind::auth::hash_secret(&ClientSecret::new(UNUSED_ADMIN_TOKEN.to_owned()))
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
    /// Reads the counts from the plain-HTTP admin listener at `admin`.
    pub async fn scrape(admin: SocketAddr) -> Result<Self, Failure> {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await?
            .error_for_status()?
            .text()
            .await?;
        let read = |name: &str, kind: &str| sample(&text, &format!("{name}{{kind=\"{kind}\"}}"));
        let pair = |kind| {
            (
                read("rescind_db_batch_statements_total", kind),
                read("rescind_db_batched_requests_total", kind),
            )
        };
        Ok(Self {
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
