//! Fleet operations: search and batch delete.

use crate::auth::{Auth, Read, Write};
use crate::body::{parse, JsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::account::Account;
use shared::search::SearchRequest;
use shared::validation;
use utoipa::ToSchema;

const MAX_BATCH_DELETE: usize = 1000;

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Matches in all, before `start` and `rows`.
    num_found: usize,
    results: Vec<Account>,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/accounts/search", tag = "accounts",
    request_body(content = SearchRequest, description = "start, rows (<= 10,000), query (field:value, \"phrases\", AND/OR/NOT, parentheses, * wildcards), criteria, sort"),
    responses(
        (status = 200, body = SearchResponse),
        (status = 400, description = "Invalid body, or a query syntax error with its position", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn search_accounts(
    auth: Auth<Read>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<SearchResponse>, ApiError> {
    let request: SearchRequest = parse(Value::Object(body))?;
    let (num_found, results, next_cursor) =
        run_search(&state, &auth.caller.tenant, &request).await?;
    Ok(Json(SearchResponse {
        num_found,
        results,
        next_cursor,
    }))
}

/// Accounts matching a search, sorted, with the total found. With
/// `criteria.account_id` only those are read (BatchGetItem), else the
/// tenant's partition (Query pages).
pub(crate) async fn run_search(
    state: &AppState,
    tenant: &str,
    request: &SearchRequest,
) -> Result<(usize, Vec<Account>, Option<String>), ApiError> {
    let search = request.compile()?;
    let accounts = if search.account_ids.is_empty() {
        state.store.all_accounts(tenant).await?
    } else {
        state
            .store
            .batch_get_accounts(tenant, &search.account_ids)
            .await?
    };
    Ok(search.run(accounts))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDeleteRequest {
    /// 1-1000 account ids.
    account_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDeleteFailure {
    account_id: String,
    code: String,
    message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDeleteResponse {
    /// Deleted account ids.
    success: Vec<String>,
    failed: Vec<BatchDeleteFailure>,
}

#[utoipa::path(
    post, path = "/v1/accounts/batch-delete", tag = "accounts",
    request_body = BatchDeleteRequest,
    responses(
        (status = 200, description = "Per account: deleted, or why not. One failure never blocks the others.", body = BatchDeleteResponse),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn batch_delete(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<BatchDeleteResponse>, ApiError> {
    let request: BatchDeleteRequest = parse(Value::Object(body))?;
    if request.account_ids.is_empty() || request.account_ids.len() > MAX_BATCH_DELETE {
        return Err(ApiError::bad_request(
            "invalid_value",
            Some("account_ids".into()),
            format!(
                "give 1-{MAX_BATCH_DELETE} account ids, got {}",
                request.account_ids.len()
            ),
        ));
    }
    for (index, id) in request.account_ids.iter().enumerate() {
        validation::account_id(&format!("account_ids[{index}]"), id)?;
    }
    let outcome = state
        .store
        .batch_delete_accounts(&auth.caller.tenant, &request.account_ids)
        .await?;
    Ok(Json(BatchDeleteResponse {
        success: outcome.deleted,
        failed: outcome
            .failed
            .into_iter()
            .map(|(account_id, code, message)| BatchDeleteFailure {
                account_id,
                code: code.to_string(),
                message,
            })
            .collect(),
    }))
}
