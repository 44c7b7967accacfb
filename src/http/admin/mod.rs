//! The admin API, on its own listener (`admin.listen`), never on the public
//! port: clients, grants and tokens, bulk revocation, the audit log, metrics
//! and health.
//!
//! Every route but `/metrics`, `/health/*` and `/admin/openapi.json` needs
//! `Authorization: Bearer <token>`, checked against `admin.token_hash`
//! (argon2id). Every authenticated call is recorded in `admin_actions` before
//! it acts (a call whose record cannot be written is refused with `503`, so
//! nothing changes unrecorded) and completed with its status after; a call
//! refused for its token is recorded with `401`. Revocation events stream
//! from `/admin/events`; webhook deliveries are read and retried under
//! `/admin/webhooks`; Shared Signals receivers are registered under
//! `/admin/ssf/receivers`.

mod audit;
mod body;
mod clients;
mod error;
mod events;
mod grants;
pub mod openapi;
mod receivers;
mod schema;
mod views;

use secrecy::ExposeSecret as _;
use std::collections::HashMap;
use std::sync::Arc;

use axum::RequestExt as _;
use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error::AdminError;
use super::observe::{self, Listener, RequestId};
use super::peer::ClientAddress;
use super::{AppState, Edge, Services, health};
use crate::auth::SecretVerifier;
use crate::config::Settings;
use crate::domain::audit::NewAdminAction;
use crate::domain::secret::{ClientSecret, SecretHash};

/// What admin handlers reach.
#[derive(Clone)]
pub struct AdminState(Arc<AdminShared>);

pub struct AdminShared {
    pub services: Services,
    token_hash: SecretHash,
    verifier: SecretVerifier,
    /// The public state, for the health handlers shared with the public port.
    public: AppState,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub retry_after_secs: u64,
}

impl std::ops::Deref for AdminState {
    type Target = AdminShared;
    fn deref(&self) -> &AdminShared {
        &self.0
    }
}

impl AdminState {
    /// `None` when no admin listener is configured.
    #[must_use]
    pub fn new(
        settings: &Settings,
        services: Services,
        public: AppState,
        verifier: SecretVerifier,
    ) -> Option<Self> {
        let token_hash = SecretHash::from_phc(
            settings
                .admin
                .token_hash
                .as_ref()?
                .expose_secret()
                .to_owned(),
        );
        Some(Self(Arc::new(AdminShared {
            services,
            token_hash,
            verifier,
            public,
            access_ttl_secs: settings.tokens.access_ttl.as_secs(),
            refresh_ttl_secs: settings.tokens.refresh_ttl.as_secs(),
            retry_after_secs: settings.server.retry_after.as_secs(),
        })))
    }

    /// The answer for a provisioning refusal.
    fn refused(&self, error: crate::provisioning::ProvisioningError) -> AdminError {
        AdminError::from_provisioning(error, self.retry_after_secs)
    }

    fn unavailable(&self, error: &impl std::error::Error) -> AdminError {
        tracing::warn!(error = %error, "admin call: database unavailable");
        AdminError::Unavailable {
            retry_after_secs: self.retry_after_secs,
        }
    }
}

/// The admin router.
pub fn router(admin: &AdminState, edge: &Edge) -> Router {
    let (guarded, document) = OpenApiRouter::with_openapi(openapi::AdminApi::openapi())
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::get, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(grants::register))
        .routes(routes!(grants::issue))
        .routes(routes!(grants::add_tokens))
        .routes(routes!(grants::revoke_all))
        .routes(routes!(audit::revocations))
        .routes(routes!(audit::actions))
        .routes(routes!(events::stream))
        .routes(routes!(events::deliveries))
        .routes(routes!(events::retry))
        .routes(routes!(receivers::list, receivers::create))
        .routes(routes!(receivers::delete))
        .routes(routes!(receivers::set_push_origins))
        .routes(routes!(receivers::undelivered))
        .routes(routes!(receivers::retry_undelivered))
        .route_layer(from_fn_with_state(admin.clone(), record_action))
        .route_layer(from_fn_with_state(admin.clone(), require_bearer))
        .route_layer(from_fn(no_store))
        .route_layer(from_fn(observe::record_route))
        .with_state(admin.clone())
        .split_for_parts();
    let open = Router::new()
        .route("/metrics", get(metrics))
        .with_state(admin.clone())
        .route(
            "/admin/openapi.json",
            openapi::serve(&openapi::complete(&document)),
        )
        .merge(
            Router::new()
                .route("/health/live", get(health::live))
                .route("/health/ready", get(health::ready))
                .with_state(admin.public.clone()),
        )
        .route_layer(from_fn(observe::record_route));
    let router = guarded
        .merge(open)
        .fallback(|| async { AdminError::not_found("no such admin endpoint") });
    edge.wrap(router, Listener::Admin)
}

/// Every answer of the authenticated admin API carries `Cache-Control:
/// no-store`: some carry a generated secret or raw tokens (client creation,
/// rotation, grant hand-over and minting), and the rest name clients,
/// subjects and grants. No cache between the operator and Rescind may keep
/// them (RFC 9111 §5.2.2.5).
async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `GET /metrics`: the Prometheus scrape target, without a bearer token
/// (it carries no secret and no client identifier). Sampled gauges are
/// read now, the outbox backlog from the database within
/// `database.timeout`: an unreachable database leaves those out, and the
/// rest still answers.
async fn metrics(State(admin): State<AdminState>) -> Response {
    let services = &admin.services;
    services.metrics.sample(
        services.authenticator.verifier().queue_depth(),
        services.administration.pool_usage(),
    );
    services.backlog.sample(&services.metrics).await;
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        services.metrics.render(),
    )
        .into_response()
}

/// Route layer: the bearer token, verified with argon2id (constant time, one
/// verification whatever was sent). Failures count against the caller's
/// address like failed client authentications, so the token cannot be
/// guessed quickly.
async fn require_bearer(
    State(admin): State<AdminState>,
    Extension(caller): Extension<ClientAddress>,
    Extension(request_id): Extension<RequestId>,
    mut request: Request,
    next: Next,
) -> Response {
    let limiter = &admin.services.limiter;
    if let Err(refusal) = limiter.admit(caller.ip, None, true) {
        admin.services.metrics.rate_limited(refusal.limit);
        return AdminError::TooManyRequests {
            retry_after: refusal.retry_after,
        }
        .into_response();
    }
    let presented = bearer_token(&request);
    let verified = match presented {
        Some(token) => {
            admin
                .verifier
                .verify(&ClientSecret::new(token), Some(&admin.token_hash))
                .await
        }
        None => {
            // The same work as a wrong token.
            admin
                .verifier
                .verify(&ClientSecret::new(String::new()), None)
                .await
        }
    };
    if !verified {
        admin.services.metrics.admin_auth_failure();
        limiter.failed_authentication(caller.ip, None);
        tracing::info!(
            outcome = "rejected",
            "admin call without a valid bearer token"
        );
        // Recorded too (each one has cost an argon2 verification, so this
        // adds little an attacker could use); refusals by the rate limit
        // above are not, or a locked-out caller could write rows for free.
        let status = StatusCode::UNAUTHORIZED.as_u16();
        match begin_record(&admin, &mut request, &request_id, caller).await {
            Ok((id, _)) => {
                let finished = admin
                    .services
                    .administration
                    .finish_action(id, status, admin.services.clock.now())
                    .await;
                if let Err(error) = finished {
                    tracing::warn!(error = %error, "cannot record a refused admin call");
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot record a refused admin call"),
        }
        return AdminError::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Records a call as started; returns the record's id and the action.
async fn begin_record(
    admin: &AdminState,
    request: &mut Request,
    request_id: &RequestId,
    caller: ClientAddress,
) -> Result<(i64, String), impl std::error::Error + use<>> {
    let (action, target) = describe(request).await;
    let peer = caller.ip.to_string();
    let record = NewAdminAction {
        action: &action,
        target: target.as_deref(),
        request_id: request_id.as_str(),
        peer: Some(&peer),
        started_at: admin.services.clock.now(),
    };
    let begun = admin.services.administration.begin_action(&record).await;
    begun.map(|id| (id, action))
}

/// The call's action (method and route template) and the client or grant id
/// its path names (percent-decoded by axum).
async fn describe(request: &mut Request) -> (String, Option<String>) {
    let target = request
        .extract_parts::<Path<HashMap<String, String>>>()
        .await
        .ok()
        .and_then(|Path(params)| params.get("id").cloned());
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    (format!("{} {template}", request.method()), target)
}

/// The one `Authorization: Bearer …` value, if well formed.
fn bearer_token(request: &Request) -> Option<String> {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Route layer (inside the bearer check): records the call before it acts,
/// and its status after.
async fn record_action(
    State(admin): State<AdminState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    mut request: Request,
    next: Next,
) -> Response {
    let (id, action) = match begin_record(&admin, &mut request, &request_id, caller).await {
        Ok(begun) => begun,
        Err(error) => return admin.unavailable(&error).into_response(),
    };
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if let Err(error) = admin
        .services
        .administration
        .finish_action(id, status, admin.services.clock.now())
        .await
    {
        tracing::error!(error = %error, action_id = id, "cannot record the admin call's status");
    }
    tracing::info!(action = %action, status, "admin call");
    response
}

/// `201 Created` with a JSON body.
fn created<T: serde::Serialize>(body: &T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// A handler's answer: its success, or its error as JSON.
fn answer<T: IntoResponse>(outcome: Result<T, AdminError>) -> Response {
    outcome.map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}
