//! Connections, below HTTP: how many may be open, which are closed to make
//! room, and how a connection ends.
//!
//! - **A bound on open connections** (`server.max_connections`, lowered at
//!   start to fit under the open-files limit). Past the limit `accept` fails
//!   and the whole server stops answering; under the bound it never gets
//!   there. At the bound, a new connection closes the oldest one that has
//!   not sent a byte yet (those are the cheap ones to hold open, and none of
//!   them has a request under way); with none such, the new one is closed.
//!   Either is logged once, not once a connection.
//! - **Lingering close**: when a connection ends after a request whose body
//!   was not read (a `413`), closing it with unread data makes the kernel
//!   send a reset, and a client still writing its body loses the answer it
//!   has not read yet (over TLS it sees an EOF). As nginx does, the write
//!   side is shut first and what the client still sends is read and thrown
//!   away, up to [`LINGER_BYTES`] and [`LINGER_TIME`].
//!
//! The header-read timeout, which also closes a connection that sends
//! nothing, is hyper's (see `server/listen.rs`); this module only counts.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;

use crate::metrics::Metrics;

/// What a closing connection may still send, read and thrown away, at most.
/// Above a 1 MiB body, with room for TLS framing and what hyper had not
/// buffered yet.
pub const LINGER_BYTES: usize = 2 * 1024 * 1024;
/// How long a closing connection is read from at most.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// File descriptors kept out of the connection bound: the database pool,
/// the listeners, the change-notice connection, webhook deliveries, key and
/// certificate files, logs.
const RESERVED_FILES: u64 = 64;

/// Raises the soft open-files limit to the hard one (an unprivileged
/// process may), so that the connection bound is not set by a low default
/// such as 1,024. Returns the soft limit now in force, if it can be read.
#[must_use]
pub fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            open_files_limit()
        }
    }
}

/// The soft open-files limit in force, if it can be read.
#[must_use]
pub fn open_files_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The connection bound in force: `configured`, lowered to leave
/// [`RESERVED_FILES`] and the database pool under the open-files limit.
#[must_use]
pub fn effective_bound(configured: usize, pool: u32, open_files: Option<u64>) -> usize {
    let Some(files) = open_files else {
        return configured;
    };
    let room = files
        .saturating_sub(RESERVED_FILES + u64::from(pool))
        .max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if room < configured {
        tracing::info!(
            configured,
            bound = room,
            open_files_limit = files,
            "server.max_connections lowered to fit under the open-files limit"
        );
    }
    configured.min(room)
}

/// The open connections of both listeners, counted against one bound.
pub struct Connections {
    max: usize,
    open: AtomicUsize,
    /// Connections that have not sent a byte yet, oldest first (entries of
    /// closed or busy ones are dropped as they are met).
    silent: Mutex<VecDeque<Weak<Slot>>>,
    /// Whether the bound was hit since the count last fell well below it.
    warned: AtomicBool,
    metrics: Arc<Metrics>,
}

/// One connection's flags, shared with [`Connections`].
#[derive(Default)]
struct Slot {
    /// Set when the connection sends its first byte.
    spoke: AtomicBool,
    /// Set to close the connection to make room.
    shed: AtomicBool,
    /// The connection's reader, woken when it is shed.
    waker: AtomicWaker,
}

impl Connections {
    #[must_use]
    pub fn new(max: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            open: AtomicUsize::new(0),
            silent: Mutex::new(VecDeque::new()),
            warned: AtomicBool::new(false),
            metrics,
        })
    }

    /// Takes a newly accepted connection in, making room if the bound is
    /// reached; an error (the connection is then closed) when there is none.
    pub fn admit(self: &Arc<Self>, stream: TcpStream) -> io::Result<Counted> {
        let open = self.open.fetch_add(1, Ordering::AcqRel);
        if open >= self.max && !self.shed_oldest_silent() {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.at_bound("refused");
            return Err(io::Error::other("at server.max_connections"));
        }
        let slot = Arc::new(Slot::default());
        let mut silent = self.silent.lock().unwrap_or_else(PoisonError::into_inner);
        if silent.len() >= self.max.saturating_mul(2) {
            silent.retain(|entry| entry.upgrade().is_some_and(|slot| slot.is_silent()));
        }
        silent.push_back(Arc::downgrade(&slot));
        drop(silent);
        Ok(Counted {
            stream: Some(stream),
            slot,
            connections: self.clone(),
        })
    }

    /// Sheds the oldest connection that has not spoken; false with none.
    fn shed_oldest_silent(&self) -> bool {
        let mut silent = self.silent.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(entry) = silent.pop_front() {
            if let Some(slot) = entry.upgrade().filter(|slot| slot.is_silent()) {
                drop(silent);
                slot.shed.store(true, Ordering::Release);
                slot.waker.wake();
                self.at_bound("shed_silent");
                return true;
            }
        }
        false
    }

    /// Counts a connection closed at the bound; logs the first of a run.
    fn at_bound(&self, action: &'static str) {
        self.metrics.connection_at_bound(action);
        if !self.warned.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                max_connections = self.max,
                "at server.max_connections: closing connections that have not sent a byte, \
                 then refusing new ones (logged once until the count falls to half)"
            );
        }
    }

    fn closed(&self) {
        let before = self.open.fetch_sub(1, Ordering::AcqRel);
        if before <= self.max / 2 {
            self.warned.store(false, Ordering::Release);
        }
    }
}

impl Slot {
    fn is_silent(&self) -> bool {
        !self.spoke.load(Ordering::Acquire) && !self.shed.load(Ordering::Acquire)
    }
}

/// An accepted TCP connection, counted until it is closed, lingering first
/// if it was used.
pub struct Counted {
    /// `None` once handed to the lingering task.
    stream: Option<TcpStream>,
    slot: Arc<Slot>,
    connections: Arc<Connections>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.slot.waker.register(cx.waker());
        if this.slot.shed.load(Ordering::Acquire) {
            // End of stream: the server side closes it, as after a client's
            // goodbye.
            return Poll::Ready(Ok(()));
        }
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        let read = Pin::new(stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.slot.spoke.store(true, Ordering::Release);
        }
        read
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let stream = self.stream.take();
        let connections = self.connections.clone();
        // A connection that never spoke, or was shed, has nothing to drain:
        // it is closed at once, which is the point of shedding it.
        let used =
            self.slot.spoke.load(Ordering::Acquire) && !self.slot.shed.load(Ordering::Acquire);
        match (stream, tokio::runtime::Handle::try_current()) {
            (Some(stream), Ok(runtime)) if used => {
                runtime.spawn(async move {
                    linger(stream).await;
                    connections.closed();
                });
            }
            _ => connections.closed(),
        }
    }
}

/// Shuts the write side (the client sees the answer end), then reads and
/// discards what the client still sends until it closes, or the bounds.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut buffer = vec![0_u8; 16 * 1024];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(read)) if read > 0 => discarded += read,
            _ => break,
        }
    }
}

/// The acceptor of both listeners (under TLS, when there is TLS): counts
/// every connection against the bound.
#[derive(Clone)]
pub struct CountingAcceptor(pub Arc<Connections>);

impl<S> axum_server::accept::Accept<TcpStream, S> for CountingAcceptor {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(self.0.admit(stream).map(|counted| (counted, service)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_leaves_room_for_the_pool_and_reserved_files() {
        assert_eq!(effective_bound(10_000, 8, Some(256)), 256 - 64 - 8);
        assert_eq!(effective_bound(100, 8, Some(1_048_576)), 100);
        assert_eq!(effective_bound(100, 8, None), 100);
        assert_eq!(effective_bound(100, 8, Some(10)), 1);
    }
}
