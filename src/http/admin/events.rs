//! `/admin/events` (the revocation events as Server-Sent Events) and
//! `/admin/webhooks/deliveries` (webhook delivery states, dead letters
//! retried by hand).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};

use super::body::{self, page_limit};
use super::error::AdminError;
use super::schema;
use super::views::ErrorBody;
use super::{AdminState, answer};
use crate::administration::Administration;
use crate::domain::audit::Page;
use crate::domain::event::{EventPosition, RevocationEvent};
use crate::domain::webhook::{DeliveryQuery, DeliveryState, WebhookDelivery};
use crate::events::{SubscriberPlace, set};

/// Events read from the outbox per query while catching up.
const CATCH_UP_PAGE: u32 = 500;

/// The stream's request header, declared for the document (the handler
/// reads it from the header map, to answer its own `400`).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct EventsHeaders {
    /// Resume after this event id (the `id` of an event of this stream).
    #[param(rename = "Last-Event-ID", schema_with = schema::event_id)]
    last_event_id: Option<String>,
}

/// Subscribe to revocation events (`text/event-stream`). Each event's
/// `data` is the Security Event Token-like payload (README "Revocation
/// events"); its `id` is the outbox position. Without `Last-Event-ID` the
/// stream starts with the next event; with it, after that event (missed
/// events are read from the outbox first, as far back as retention keeps).
#[utoipa::path(get, path = "/admin/events", operation_id = "stream_events", tag = "events",
    params(EventsHeaders),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "A malformed Last-Event-ID", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn stream(State(admin): State<AdminState>, headers: HeaderMap) -> Response {
    // Subscribed before reading where to start, so no event falls between.
    let live = admin.services.events.subscribe();
    let resume = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.parse::<EventPosition>().ok())
                .ok_or_else(|| {
                    AdminError::invalid_request("Last-Event-ID is not an event id of this stream")
                })
        })
        .transpose();
    let start = match resume {
        Err(error) => return error.into_response(),
        Ok(Some(position)) => Some(position),
        Ok(None) => None,
    };
    let outbox = admin.services.administration.clone();
    let start = match start {
        Some(position) => position,
        None => match outbox.event_head().await {
            Ok(position) => position,
            Err(error) => return admin.unavailable(&error).into_response(),
        },
    };
    let place = admin.services.events.subscriber_place(start);
    let feed = Feed {
        place,
        outbox,
        issuer: admin.public.issuer.clone(),
        position: start,
        live,
        catching_up: true,
        ready: VecDeque::new(),
    };
    Sse::new(feed.into_stream())
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One subscriber's place: catch up from the outbox, then follow the
/// follower's broadcast, skipping what was already sent.
struct Feed {
    /// Where this subscriber stands, for the outbox lag metric.
    place: SubscriberPlace,
    outbox: Administration,
    issuer: String,
    position: EventPosition,
    live: broadcast::Receiver<Arc<RevocationEvent>>,
    catching_up: bool,
    ready: VecDeque<RevocationEvent>,
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures_util::stream::unfold(self, |mut feed| async move {
            let event = feed.next().await?;
            let sse = Event::default()
                .id(event.position.to_string())
                .event("grant-revoked")
                .data(set::payload(&event, &feed.issuer).to_string());
            Some((Ok(sse), feed))
        })
    }

    /// The next event to send; `None` ends the stream (the database failed
    /// while catching up: the subscriber reconnects with `Last-Event-ID`).
    async fn next(&mut self) -> Option<RevocationEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                self.position = event.position;
                self.place.moved_to(event.position);
                return Some(event);
            }
            if self.catching_up {
                let page = self
                    .outbox
                    .events_after(self.position, CATCH_UP_PAGE)
                    .await
                    .ok()?;
                self.catching_up = page.events.len() == CATCH_UP_PAGE as usize
                    && page.settled == page.events.len();
                self.ready
                    .extend(page.events.into_iter().take(page.settled));
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.position > self.position => {
                    self.ready.push_back(event.as_ref().clone());
                }
                Ok(_) => {}
                // Too slow for the broadcast: read the gap from the outbox.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// An endpoint's configured name.
    endpoint: Option<String>,
    /// `pending`, `delivered` or `dead`.
    #[param(schema_with = schema::delivery_state)]
    state: Option<String>,
    /// The `next` of the previous page.
    after: Option<i64>,
    /// 1 to 1000; 100 when absent.
    #[param(schema_with = schema::limit)]
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<WebhookDelivery>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<i64>,
}

/// Read webhook deliveries (dead letters: `state=dead`), by id.
#[utoipa::path(get, path = "/admin/webhooks/deliveries", operation_id = "read_webhook_deliveries", tag = "events",
    params(DeliveryFilter),
    responses(
        (status = 200, description = "One page", body = DeliveryPage),
        (status = 400, description = "A bad filter", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn deliveries(State(admin): State<AdminState>, uri: Uri) -> Response {
    answer(
        async {
            let filter: DeliveryFilter = body::query(&uri)?;
            let page = Page {
                after: filter.after,
                limit: page_limit(filter.limit)?,
            };
            let state = filter
                .state
                .as_deref()
                .map(|state| {
                    DeliveryState::from_stored(state).ok_or_else(|| {
                        AdminError::invalid_request("state must be pending, delivered or dead")
                    })
                })
                .transpose()?;
            let query = DeliveryQuery {
                endpoint: filter.endpoint,
                state,
            };
            let items = admin
                .services
                .administration
                .webhook_deliveries(&query, page)
                .await
                .map_err(|error| admin.unavailable(&error))?;
            let next = items
                .last()
                .map(|delivery| delivery.id)
                .filter(|_| items.len() == page.limit as usize);
            Ok::<_, AdminError>(Json(DeliveryPage { items, next }))
        }
        .await,
    )
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryRetried {
    pub id: i64,
    pub state: DeliveryState,
}

/// Send a dead delivery again: pending, due now, its attempts counted afresh.
#[utoipa::path(post, path = "/admin/webhooks/deliveries/{id}/retry", operation_id = "retry_webhook_delivery", tag = "events",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "Pending again", body = DeliveryRetried),
        (status = 404, description = "No dead delivery has this id", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry(State(admin): State<AdminState>, Path(id): Path<String>) -> Response {
    answer(
        async {
            let id: i64 = id
                .parse()
                .map_err(|_| AdminError::invalid_request("a delivery id is an integer"))?;
            let retried = admin
                .services
                .administration
                .retry_delivery(id, admin.services.clock.now())
                .await
                .map_err(|error| admin.unavailable(&error))?;
            if !retried {
                return Err(AdminError::not_found("no dead delivery has this id"));
            }
            Ok(Json(DeliveryRetried {
                id,
                state: DeliveryState::Pending,
            }))
        }
        .await,
    )
}
