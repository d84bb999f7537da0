//! `/v1/suppression-rules`: findings a tenant sets aside by what they are
//! (scope `write` to change, `read` to list).

use crate::auth::{Auth, Read, Write};
use crate::body::{parse, JsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::path::Path;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use service::ids::SuppressionRuleId;
use service::suppression_rules::{SuppressionRule, SuppressionRuleRequest};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionRuleList {
    /// Oldest first: the first that matches a finding suppresses it.
    items: Vec<SuppressionRule>,
}

#[utoipa::path(
    post, path = "/v1/suppression-rules", tag = "scans",
    request_body = SuppressionRuleRequest,
    responses(
        (status = 201, description = "Created; each data source's next scan suppresses the findings it matches (a suppression made by hand stays as it is)", body = SuppressionRule),
        (status = 409, description = "too_many_suppression_rules: the tenant has 100", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_suppression_rule(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<SuppressionRule>), ApiError> {
    let request: SuppressionRuleRequest = parse(Value::Object(body))?;
    let rule = state
        .suppression_rules()
        .create(&auth.caller.tenant, &auth.caller.key_id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(
    get, path = "/v1/suppression-rules", tag = "scans",
    responses((status = 200, body = SuppressionRuleList)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_suppression_rules(
    auth: Auth<Read>,
    State(state): State<AppState>,
) -> Result<Json<SuppressionRuleList>, ApiError> {
    let items = state.suppression_rules().list(&auth.caller.tenant).await?;
    Ok(Json(SuppressionRuleList { items }))
}

#[utoipa::path(
    delete, path = "/v1/suppression-rules/{rule_id}", tag = "scans",
    params(("rule_id" = String, Path, description = "As the rule's creation returned it")),
    responses(
        (status = 204, description = "Deleted; the findings it suppressed open again at their data source's next scan"),
        (status = 404, description = "No such rule", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn delete_suppression_rule(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(rule_id): Path<SuppressionRuleId>,
) -> Result<StatusCode, ApiError> {
    state
        .suppression_rules()
        .delete(&auth.caller.tenant, &rule_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
