//! Integration tests: the real server over real HTTP on an ephemeral port,
//! every scenario on PostgreSQL and on SQLite. Run them with `./tests/run`.

mod helpers;

mod admin;
mod api_description;
mod cli;
mod client_address;
mod client_auth;
mod cors;
mod crash;
mod credential_cache;
mod events;
mod fuzz;
mod health;
mod healthcheck;
mod hostile;
mod introspection;
mod jose;
mod kubernetes;
mod lifecycle;
mod limits;
mod logout;
mod metadata;
mod metrics;
mod monitoring;
mod observability;
mod outage;
mod policies;
mod redaction;
mod request_validation;
mod retention;
mod revocation;
mod revocation_rule;
mod rolling_upgrade;
mod rotation_race;
mod scanning;
mod sessions;
mod shared_signals;
mod ssf_push;
mod timing;
mod tls;
mod traces;
mod transport;
mod upgrade;
mod webhooks;
