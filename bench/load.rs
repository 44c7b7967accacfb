//! A closed-loop HTTP/1.1 load generator: `connections` keep-alive
//! connections (plain or TLS), each sending the next unsent request of a
//! shared list as soon as its previous answer is in. Every request is sent at
//! most once, so each token is presented once; the run is bounded by the
//! list's length and by a deadline.

// Statistics over counts far below 2^52: the float conversions are exact enough.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request as HttpRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// One prepared request.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub path: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

/// Where to send, and how.
#[derive(Clone)]
pub struct Target {
    pub address: SocketAddr,
    pub tls: Option<TlsConnector>,
}

/// Judges an answer's body; an answer it refuses counts in
/// [`Outcome::rejected`]. Introspection answers `200` whatever the token, so
/// its status alone proves nothing.
pub type Check = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What one run measured. `statuses[i]` is the answer to request `i`
/// (0: not sent, or no answer).
pub struct Outcome {
    pub elapsed: Duration,
    pub statuses: Vec<u16>,
    pub errors: usize,
    /// Answers whose body the run's [`Check`] refused.
    pub rejected: usize,
    /// Per-answer latency in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn answered(&self) -> usize {
        self.latencies_us.len()
    }

    pub fn per_second(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile of latency in milliseconds (nearest rank).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize)
            .clamp(1, self.latencies_us.len());
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }

    pub fn status_counts(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for status in self.statuses.iter().filter(|s| **s != 0) {
            *counts.entry(*status).or_insert(0) += 1;
        }
        counts
    }
}

/// Sends every request once over `connections` connections, within `deadline`.
pub async fn run(
    target: &Target,
    requests: Arc<Vec<Request>>,
    connections: usize,
    deadline: Duration,
) -> Outcome {
    run_checked(target, requests, connections, deadline, None).await
}

/// [`run`], judging every answer's body with `check`.
pub async fn run_checked(
    target: &Target,
    requests: Arc<Vec<Request>>,
    connections: usize,
    deadline: Duration,
    check: Option<Check>,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (target, requests, next, check) = (
                target.clone(),
                requests.clone(),
                next.clone(),
                check.clone(),
            );
            tokio::spawn(async move {
                worker(
                    &target,
                    &requests,
                    &next,
                    started + deadline,
                    check.as_ref(),
                )
                .await
            })
        })
        .collect();
    let mut statuses = vec![0; requests.len()];
    let mut latencies_us = Vec::with_capacity(requests.len());
    let (mut errors, mut rejected) = (0, 0);
    for worker in workers {
        let Ok(done) = worker.await else {
            errors += 1;
            continue;
        };
        errors += done.errors;
        rejected += done.rejected;
        for (index, status, latency) in done.answers {
            statuses[index] = status;
            latencies_us.push(latency);
        }
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    Outcome {
        elapsed,
        statuses,
        errors,
        rejected,
        latencies_us,
    }
}

struct WorkerResult {
    answers: Vec<(usize, u16, u32)>,
    errors: usize,
    rejected: usize,
}

async fn worker(
    target: &Target,
    requests: &[Request],
    next: &AtomicUsize,
    deadline: Instant,
    check: Option<&Check>,
) -> WorkerResult {
    let mut result = WorkerResult {
        answers: Vec::new(),
        errors: 0,
        rejected: 0,
    };
    let mut sender = None;
    while Instant::now() < deadline {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(index) else {
            break;
        };
        if sender.is_none() {
            sender = connect(target).await.ok();
        }
        let Some(open) = sender.as_mut() else {
            // Could not connect: the request counts as an error, unsent.
            result.errors += 1;
            continue;
        };
        let sent = Instant::now();
        if let Ok((status, body)) = send(open, target, request).await {
            let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
            if check.is_some_and(|check| !check(&body)) {
                result.rejected += 1;
            }
            result.answers.push((index, status, micros));
        } else {
            result.errors += 1;
            sender = None;
        }
    }
    result
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(target: &Target) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(target.address).await?;
    tcp.set_nodelay(true)?;
    if let Some(tls) = &target.tls {
        let stream = tls.connect(ServerName::try_from("localhost")?, tcp).await?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    } else {
        let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

async fn send(
    sender: &mut Sender,
    target: &Target,
    request: &Request,
) -> Result<(u16, Bytes), Box<dyn std::error::Error + Send + Sync>> {
    let mut builder = HttpRequest::builder()
        .method(request.method.clone())
        .uri(request.path)
        .header("host", target.address.to_string());
    for (name, value) in &request.headers {
        builder = builder.header(*name, value.as_str());
    }
    let http_request = builder.body(Full::new(request.body.clone()))?;
    sender.ready().await?;
    let response =
        tokio::time::timeout(Duration::from_secs(30), sender.send_request(http_request)).await??;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
