//! `/v1/audit-events`: the tenant's audit log, read-only.

use crate::auth::{Auth, Read};
use crate::error::ApiError;
use crate::query::{Limit, Query};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use service::aws::store::{keys, AuditFilter};
use service::events::{Event, EventType};
use service::ids::AccountId;
use service::listing::{decode_key_cursor, encode_key_cursor};
use service::time::Timestamp;
use utoipa::{IntoParams, ToSchema};

/// Longest `actor` filter: an API key id or `system:...`.
const MAX_ACTOR: usize = 128;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this account.
    #[param(value_type = Option<String>)]
    account_id: Option<AccountId>,
    /// Only changes by this actor: an API key id, `onboarding-link:<link id>` (a check from the customer's page), `system:verifier` or `system:scan-worker`.
    actor: Option<String>,
    /// Only this event type, e.g. `credential.verification_changed`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    event_type: Option<EventType>,
    /// Events at or after this time (RFC 3339).
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Events at or before this time (RFC 3339).
    #[param(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// 1-1000, default 100.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Limit,
    /// next_cursor of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    items: Vec<Event>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/audit-events", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "Every change to the tenant's accounts, scans, findings, API keys and webhooks, newest first; written by the service from the table's stream, never by a request. API key and webhook events are listed to keys with the admin scope only (as /v1/api-keys and /v1/webhooks are); webhook URLs show their origin only", body = AuditPage)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_audit_events(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    if query.actor.as_ref().is_some_and(|a| a.len() > MAX_ACTOR) {
        return Err(service::Error::invalid("actor", "actor is at most 128 characters").into());
    }
    // Each event type is read with the scope of the resource it describes.
    let readable = |event_type: EventType| auth.caller.scopes.contains(&event_type.read_scope());
    if let Some(event_type) = query.event_type.filter(|t| !readable(*t)) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} events need the '{}' scope, which this API key lacks",
                event_type.as_str(),
                event_type.read_scope().as_str()
            ),
        ));
    }
    let hidden_types = <EventType as strum::VariantArray>::VARIANTS
        .iter()
        .copied()
        .filter(|event_type| !readable(*event_type))
        .collect();
    let after = decode_key_cursor(query.cursor.as_deref(), keys::AUDIT_PREFIX)?;
    let filter = AuditFilter {
        hidden_types,
        account_id: query.account_id.map(AccountId::into_string),
        actor: query.actor,
        event_type: query.event_type,
        since: query.since,
        until: query.until,
    };
    let page = state
        .store
        .list_audit_events(
            &auth.caller.tenant,
            &filter,
            query.limit.0,
            after.as_deref(),
        )
        .await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}
