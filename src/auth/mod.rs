//! Client authentication (RFC 6749 §2.3), free of HTTP types: the HTTP layer
//! turns headers and form fields into [`Credentials`], this module turns those
//! into a [`Presenter`](crate::domain::presenter::Presenter) or a refusal.

mod cache;
mod client;
pub mod concurrency;
mod current;
mod password;

pub use cache::CredentialCache;
pub use client::{AuthError, Authenticator, Credentials, FailureReason, Purpose};
pub use current::Acted;
pub use password::{SecretVerifier, hash_secret};
