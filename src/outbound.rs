//! The pieces every call Rescind makes out shares (webhooks, Shared
//! Signals push, scanner and upstream key sets, span export): an HTTP
//! client that never follows redirects, a failure in a few words, and an
//! answer read up to a bound.

/// An HTTP client that never follows redirects: a call goes where it was
/// configured to, or fails.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rescind/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A failed request in a few words (never its URL or body).
#[must_use]
pub fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirected"
    } else {
        "request failed"
    }
}

/// Why an answer's body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading the answer failed: {0}")]
    Read(#[source] reqwest::Error),
}

/// `response`'s body, refused past `max` bytes without reading further
/// (a declared length past it is refused before any byte is read).
pub async fn read_bounded(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > max as u64)
    {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
