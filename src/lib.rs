//! Rescind: an OAuth 2.0 token revocation server (RFC 7009, RFC 8414).
//!
//! A presented token is found by its SHA-256 hash and revoked together with
//! every other token of its grant, in one database transaction.
//!
//! # Layout
//!
//! Calls run one way: `http` (and `cli`) → the use cases → the storage
//! traits → `domain`. Only `http` knows axum; only `storage` knows sqlx;
//! `server` builds everything once and wires it together. No two modules
//! import each other.
//!
//! - [`domain`]: pure types (client ids, secrets, token hashes, the minted
//!   token format, policies, outcomes, security events, health), the
//!   revocation rule, the injectable clock and the `Fault` a dependency's
//!   failure is seen as. No I/O.
//! - [`storage`]: one trait per concern (clients, grants, revocation,
//!   introspection, audit, outbox, webhook deliveries, maintenance), one
//!   transaction per method, each implemented once for PostgreSQL and SQLite
//!   over a dialect trait; the backends (PostgreSQL's revocations through a
//!   group commit) and their migrations.
//! - The use cases, each taking only the storage traits it needs:
//!   - [`auth`]: client authentication, argon2id off the async runtime, the
//!     verified-credential cache, the stale-presenter retry.
//!   - [`revocation`]: revoking a presented token's grant, and in bulk.
//!   - [`introspection`]: what a resource server learns, with its answer
//!     cache (emptied through an [`events::RevocationHook`]).
//!   - [`scanning`]: secret-scanning partners' signed reports.
//!   - [`provisioning`]: registering clients and minting grants (CLI and
//!     admin API); [`administration`]: the operator's use cases as the
//!     admin API and health endpoints reach them.
//!   - [`retention`]: the periodic purge of expired tokens and old records.
//!   - [`shared_signals`]: the Shared Signals transmitter: receivers, their
//!     streams, the revocation-to-event mapping, poll and push delivery.
//!   - [`logout`]: receiving back-channel logout tokens (validation, replay,
//!     revocation).
//! - [`events`]: revocation events out of the outbox: the follower that
//!   tells the hooks, the coalesced `NOTIFY`, the payload, webhook delivery.
//! - [`signing`]: Rescind's signing keys and the Security Event Tokens it
//!   signs. [`key_fetch`]: others' public keys from a file or URL, cached.
//! - [`limits`], [`metrics`]: abuse control and Prometheus metrics.
//!   [`outbound`]: what every call Rescind makes out shares (a client that
//!   never follows redirects, bounded answers).
//! - [`http`]: routes, request parsing, the `OAuthError` wire type, CORS,
//!   request ids, trusted proxies, load shedding; [`http::admin`] the admin
//!   API.
//! - [`config`]: settings, their layering and validation.
//! - [`server`]: opening the store, building the use cases and layers,
//!   serving the listeners. [`tls`], [`transport`], [`telemetry`]: TLS, the
//!   connection bound and lingering close, logging and span export.
//! - [`private_files`]: the data folder and key files, readable by the
//!   server's own user only.
//! - [`cli`]: the `rescind` commands (`src/main.rs` only dispatches).

pub mod administration;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod introspection;
pub mod key_fetch;
pub mod limits;
pub mod logout;
pub mod metrics;
pub mod outbound;
pub mod private_files;
pub mod provisioning;
pub mod retention;
pub mod revocation;
pub mod scanning;
pub mod server;
pub mod shared_signals;
pub mod signing;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod transport;
