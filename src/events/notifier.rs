//! Tells the other instances that this one committed revocations, at most
//! once per [`COALESCE`]: a logout storm costs the database one `NOTIFY`
//! per instance every 50 ms, not one per revocation.

use std::sync::Arc;
use std::time::Duration;

use super::Events;
use crate::storage::EventStore;

/// The shortest time between two notices from this instance.
pub const COALESCE: Duration = Duration::from_millis(50);

/// Sends a notice after each burst of local revocations, forever.
pub async fn run(events: Events, store: Arc<dyn EventStore>) {
    loop {
        // A wake-up while a notice is being sent is kept (one permit), so
        // the revocations it stands for get the next notice.
        events.notifier_woken().await;
        if let Err(error) = store.notify_changes().await {
            // The other instances' polls still find the events.
            tracing::warn!(%error, "cannot notify the other instances");
        }
        tokio::time::sleep(COALESCE).await;
    }
}
