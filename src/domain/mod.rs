//! Pure domain types: no I/O, no HTTP, no SQL.
//!
//! Everything that arrives from the network is parsed into one of these types
//! at the edge (`ClientId::parse`, `PresentedToken::parse`), so the rest of the
//! code never handles an unchecked string.

pub mod audit;
pub mod client;
pub mod clock;
pub mod event;
pub mod fault;
pub mod grant;
pub mod health;
pub mod introspection;
pub mod minted;
pub mod origin;
pub mod outbound;
pub mod presenter;
pub mod recorded;
pub mod revocation;
pub mod revocation_rule;
pub mod secret;
pub mod security_event;
pub mod session;
pub mod shared_signals;
pub mod token;
pub mod webhook;
