use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::storage::PoolSettings;

/// On a runtime with one thread, a task ticking every millisecond keeps
/// ticking while a confidential client is registered: argon2 hashing
/// (tens of milliseconds of CPU) runs on the blocking pool, not on the
/// thread that serves requests.
#[tokio::test(flavor = "current_thread")]
async fn registering_a_client_does_not_stall_the_runtime() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("db").display());
    let pool = PoolSettings {
        max_connections: 1,
        batch_workers: 1,
        timeout: Duration::from_secs(5),
    };
    let store = crate::storage::open(&url, &pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .migrate(crate::storage::ContractSteps::HoldBack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let mut hashed = Duration::ZERO;
    let mut progress = 0;
    for n in 0..4 {
        let id = ClientId::parse(&format!("backend-{n}")).unwrap_or_else(|e| panic!("{e}"));
        let before = ticks.load(Ordering::Relaxed);
        let started = std::time::Instant::now();
        create_client(
            store.as_ref(),
            NewClient::plain(id, ClientKind::Confidential),
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        hashed += started.elapsed();
        progress += ticks.load(Ordering::Relaxed) - before;
    }
    ticker.abort();
    // Hashing takes well over 4 × 10 ms; a stalled runtime ticks ~never.
    let expected = u64::try_from(hashed.as_millis() / 4).unwrap_or(u64::MAX);
    assert!(
        progress >= expected.min(20),
        "{progress} ticks while hashing for {hashed:?}"
    );
}
