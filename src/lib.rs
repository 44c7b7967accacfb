//! Rescind: an OAuth 2.0 token revocation server (RFC 7009, RFC 8414).
//!
//! A presented token is found by its SHA-256 hash and revoked together with
//! every other token of its grant, in one database transaction.
//!
//! # Layout
//!
//! Dependencies point one way: `http` → `auth` / `revocation` / `provisioning`
//! → `storage` → `domain`. Only `http` knows axum; only `storage` knows sqlx.
//!
//! - [`domain`]: pure types (client ids, secrets, token hashes, the minted
//!   token format, policies, outcomes, security events), the revocation rule
//!   and the injectable clock. No I/O.
//! - [`storage`]: one trait per concern (clients, grants, revocation,
//!   introspection, audit, outbox, webhook deliveries, maintenance), one
//!   transaction per method, each implemented once for PostgreSQL and SQLite
//!   over a dialect trait; the backends and their migrations.
//! - [`auth`]: client authentication; argon2id off the async runtime.
//! - [`revocation`], [`introspection`]: the revocation and introspection use
//!   cases, each with the stale-presenter retry of its endpoint.
//! - [`events`]: revocation events: the outbox follower, the coalesced
//!   `NOTIFY`, the event payload, webhook delivery.
//! - [`scanning`]: secret-scanning partners: signing keys, signature checks,
//!   reports. [`key_fetch`]: others' public keys from a file or URL, cached.
//! - [`signing`]: Rescind's signing keys and the Security Event Tokens it
//!   signs. [`logout`]: receiving back-channel logout tokens (validation, replay, revocation).
//! - [`provisioning`]: registering clients and minting grants.
//! - [`retention`]: the periodic purge of expired tokens and old audit records.
//! - [`limits`], [`metrics`]: abuse control and Prometheus metrics.
//! - [`http`]: routes, request parsing, the `OAuthError` wire type, CORS,
//!   request ids.
//! - [`config`]: settings, their layering and validation.
//! - [`server`], [`tls`], [`transport`], [`telemetry`]: startup, TLS, the
//!   connection bound and lingering close, and logging and span export.
//! - [`private_files`]: the data folder and key files, readable by the
//!   server's own user only.
//! - [`cli`]: the `rescind` commands (`src/main.rs` only dispatches).

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
pub mod private_files;
pub mod provisioning;
pub mod retention;
pub mod revocation;
pub mod scanning;
pub mod server;
pub mod signing;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod transport;
