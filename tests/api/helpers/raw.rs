//! Hand-written HTTP/1.1 over TCP, for requests a client library will not
//! send (chunked bodies of a chosen shape, bodies that never arrive).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A parsed answer: status, lower-cased headers, body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as is and reads the first complete answer (head, and a
/// body of its declared length), or what came before the server closed.
/// The connection stays open meanwhile, so an incomplete request is left
/// waiting rather than cut short by our side.
pub async fn send(address: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    stream
        .write_all(request)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !complete(&answer) {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
            Err(elapsed) => panic!("the server did not answer within 30 s: {elapsed}"),
        }
    }
    parse(&answer)
}

/// Whether `answer` holds a head and a body of its declared length.
fn complete(answer: &[u8]) -> bool {
    if !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        return false;
    }
    let parsed = parse(answer);
    let length = parsed
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(0);
    parsed.body.len() >= length
}

fn parse(answer: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}
