//! `/admin/audit/*`: the revocation records and the admin call records,
//! oldest first, filtered and paged by id (`next` is the cursor of the
//! following page, `null` on the last).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{self, page_limit};
use super::clients::parse_client_id;
use super::error::AdminError;
use super::{AdminState, answer};
use crate::domain::audit::{ActionQuery, Page, RevocationQuery};
use crate::domain::grant::GrantId;
use crate::domain::token::TokenKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationFilter {
    grant_id: Option<uuid::Uuid>,
    client_id: Option<String>,
    subject: Option<String>,
    /// RFC 3339; inclusive.
    since: Option<DateTime<Utc>>,
    /// RFC 3339; exclusive.
    until: Option<DateTime<Utc>>,
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /admin/audit/revocations?grant_id=&client_id=&subject=&since=&until=&after=&limit=`.
pub async fn revocations(State(admin): State<AdminState>, uri: Uri) -> Response {
    answer(
        async {
            let filter: RevocationFilter = body::query(&uri)?;
            let page = Page {
                after: filter.after,
                limit: page_limit(filter.limit)?,
            };
            let query = RevocationQuery {
                grant_id: filter.grant_id.map(GrantId::from_uuid),
                client_id: filter
                    .client_id
                    .as_deref()
                    .map(parse_client_id)
                    .transpose()?,
                subject: filter.subject,
                since: filter.since,
                until: filter.until,
            };
            let records = admin
                .services
                .store
                .revocation_records(&query, page)
                .await
                .map_err(|error| admin.unavailable(&error))?;
            let items: Vec<Value> = records
                .iter()
                .map(|record| {
                    json!({
                        "id": record.id,
                        "grant_id": record.grant_id.to_string(),
                        "client_id": record.client_id.as_str(),
                        "subject": record.subject,
                        "presented_kind": record.presented_kind.map(TokenKind::as_str),
                        "presenter_kind": record.presenter_kind,
                        "presenter_client_id": record.presenter_client_id,
                        "foreign_client": record.foreign_client,
                        "reason": record.reason,
                        "request_id": record.request_id,
                        "revoked_at": record.revoked_at,
                    })
                })
                .collect();
            let next = next_cursor(records.last().map(|record| record.id), items.len(), page);
            Ok::<_, AdminError>(Json(json!({ "items": items, "next": next })))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionFilter {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /admin/audit/actions?since=&until=&after=&limit=`.
pub async fn actions(State(admin): State<AdminState>, uri: Uri) -> Response {
    answer(
        async {
            let filter: ActionFilter = body::query(&uri)?;
            let page = Page {
                after: filter.after,
                limit: page_limit(filter.limit)?,
            };
            let query = ActionQuery {
                since: filter.since,
                until: filter.until,
            };
            let actions = admin
                .services
                .store
                .admin_actions(&query, page)
                .await
                .map_err(|error| admin.unavailable(&error))?;
            let items: Vec<Value> = actions
                .iter()
                .map(|action| {
                    json!({
                        "id": action.id,
                        "action": action.action,
                        "target": action.target,
                        "request_id": action.request_id,
                        "peer": action.peer,
                        "status": action.status,
                        "started_at": action.started_at,
                        "finished_at": action.finished_at,
                    })
                })
                .collect();
            let next = next_cursor(actions.last().map(|action| action.id), items.len(), page);
            Ok::<_, AdminError>(Json(json!({ "items": items, "next": next })))
        }
        .await,
    )
}

/// The cursor of the next page: the last id when the page is full.
fn next_cursor(last: Option<i64>, count: usize, page: Page) -> Option<i64> {
    last.filter(|_| count == page.limit as usize)
}
