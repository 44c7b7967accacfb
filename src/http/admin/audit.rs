//! `/admin/audit/*`: the revocation records and the admin call records,
//! oldest first, filtered and paged by id (`next` is the cursor of the
//! following page, `null` on the last).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::body::{self, page_limit};
use super::clients::parse_client_id;
use super::error::AdminError;
use super::schema;
use super::views::{ActionPage, ErrorBody, RevocationPage, RevocationRecordView};
use super::{AdminState, answer};
use crate::domain::audit::{ActionQuery, Page, RevocationQuery};
use crate::domain::grant::GrantId;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevocationFilter {
    grant_id: Option<uuid::Uuid>,
    #[param(schema_with = schema::client_id)]
    client_id: Option<String>,
    subject: Option<String>,
    /// RFC 3339; inclusive.
    since: Option<DateTime<Utc>>,
    /// RFC 3339; exclusive.
    until: Option<DateTime<Utc>>,
    /// The `next` of the previous page.
    after: Option<i64>,
    /// 1 to 1000; 100 when absent.
    #[param(schema_with = schema::limit)]
    limit: Option<u32>,
}

/// Read revocation records, oldest first.
#[utoipa::path(get, path = "/admin/audit/revocations", operation_id = "read_revocation_records", tag = "audit",
    params(RevocationFilter),
    responses(
        (status = 200, description = "One page", body = RevocationPage),
        (status = 400, description = "A bad filter", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
                .administration
                .revocation_records(&query, page)
                .await
                .map_err(|error| admin.unavailable(&error))?;
            let items: Vec<RevocationRecordView> = records.iter().map(Into::into).collect();
            let next = next_cursor(records.last().map(|record| record.id), items.len(), page);
            Ok::<_, AdminError>(Json(RevocationPage { items, next }))
        }
        .await,
    )
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionFilter {
    /// RFC 3339; inclusive.
    since: Option<DateTime<Utc>>,
    /// RFC 3339; exclusive.
    until: Option<DateTime<Utc>>,
    /// The `next` of the previous page.
    after: Option<i64>,
    /// 1 to 1000; 100 when absent.
    #[param(schema_with = schema::limit)]
    limit: Option<u32>,
}

/// Read admin API call records, oldest first.
#[utoipa::path(get, path = "/admin/audit/actions", operation_id = "read_admin_actions", tag = "audit",
    params(ActionFilter),
    responses(
        (status = 200, description = "One page", body = ActionPage),
        (status = 400, description = "A bad filter", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
                .administration
                .admin_actions(&query, page)
                .await
                .map_err(|error| admin.unavailable(&error))?;
            let next = next_cursor(actions.last().map(|action| action.id), actions.len(), page);
            Ok::<_, AdminError>(Json(ActionPage {
                items: actions,
                next,
            }))
        }
        .await,
    )
}

/// The cursor of the next page: the last id when the page is full.
fn next_cursor(last: Option<i64>, count: usize, page: Page) -> Option<i64> {
    last.filter(|_| count == page.limit as usize)
}
