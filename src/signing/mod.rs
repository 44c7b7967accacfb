//! Rescind's own signing keys, and the Security Event Tokens it signs with
//! them as a Shared Signals Framework transmitter.
//!
//! One file a job: [`algorithm`] (RS256 by default, ES256 as an option),
//! [`key`] (a private key read from PEM), [`generate`] (new keys),
//! [`jwk`] (the public half and its thumbprint `kid`), [`store`] (the
//! on-disk layout and rotation), [`keys`] (the current and retired keys),
//! [`jwks`] (the published key set) and [`set`] (signing a token).
//! Every signature is ring's, through `jsonwebtoken`.

pub mod algorithm;
pub mod generate;
pub mod jwk;
pub mod jwks;
pub mod key;
pub mod keys;
pub mod set;
pub mod store;

pub use self::algorithm::SigningAlgorithm;
pub use self::key::{KeyFileError, SigningKey};
pub use self::keys::{RetiredKey, SigningKeys};
pub use self::set::{SET_TYPE, SecurityEventToken, SignError};
pub use self::store::{KeyStoreError, SigningKeySource};
