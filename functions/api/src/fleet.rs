//! Fleet operations: search and batch delete.

use crate::auth::{Auth, Read, Write};
use crate::body::{parse, CsvBody, JsonObject, QueryParams};
use crate::error::{ApiError, ErrorResponse};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::account::Account;
use shared::csv_io::{self, RowError};
use shared::search::{Found, SearchRequest};
use shared::time::Timestamp;
use shared::validation;
use utoipa::ToSchema;

const MAX_BATCH_DELETE: usize = 1000;

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Matches before `start` and `rows`: all of them when `complete`,
    /// else those in the window of accounts this request read.
    num_found: usize,
    results: Vec<Account>,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
    /// Whether this request read every candidate. A search that would read
    /// more accounts than one request may (10,000 by default) is answered
    /// window by window, each in account-id order after the last: pages
    /// sort within a window and may hold fewer than `rows` results while
    /// `next_cursor` goes on. Criteria on environment, verification status,
    /// parent or account ids read only the matching accounts.
    complete: bool,
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
    let found = run_search(&state, &auth.caller.tenant, &request, false).await?;
    Ok(Json(SearchResponse {
        num_found: found.num_found,
        results: found.page,
        next_cursor: found.next_cursor,
        complete: found.complete,
    }))
}

/// Accounts matching a search, sorted, from the source its criteria
/// choose (see [`shared::search::Source`]), reading at most the state's
/// read budget of accounts.
pub(crate) async fn run_search(
    state: &AppState,
    tenant: &str,
    request: &SearchRequest,
    every_match: bool,
) -> Result<Found, ApiError> {
    let mut search = request.compile()?;
    if every_match {
        search.rows = usize::MAX;
    }
    let window = state
        .store
        .search_window(
            tenant,
            &search.source(),
            search.window_start(),
            state.search_read_budget,
        )
        .await?;
    Ok(search.run(window))
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

fn csv_response(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"accounts.csv\"",
            ),
        ],
        text,
    )
        .into_response()
}

#[utoipa::path(
    get, path = "/v1/accounts/import-template", tag = "accounts",
    responses(
        (status = 200, description = "The header row of an import file", content_type = "text/csv", body = String),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn import_template(_auth: Auth<Read>) -> Response {
    csv_response(csv_io::template())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    mode: String,
    /// Account ids created.
    created: Vec<String>,
    /// Account ids updated.
    updated: Vec<String>,
    /// Rows not imported (best_effort), and accounts that changed during the import.
    failed: Vec<RowError>,
}

#[utoipa::path(
    post, path = "/v1/accounts/import", tag = "accounts",
    params(("mode" = Option<String>, Query, description = "all_or_nothing (default): one bad row rejects the file; best_effort: good rows are imported, bad ones reported")),
    request_body(content = String, content_type = "text/csv", description = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions[,parentAccountId]; regions separated by ; or |; at most 10,000 rows"),
    responses(
        (status = 200, body = ImportResponse),
        (status = 400, description = "Malformed file, or (all_or_nothing) invalid rows listed in error.details", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn import_accounts(
    auth: Auth<Write>,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    CsvBody(bytes): CsvBody,
) -> Result<Json<ImportResponse>, ApiError> {
    let params = QueryParams::parse(raw.as_deref(), &["mode"])?;
    let best_effort = params
        .parsed(
            "mode",
            |mode| match mode {
                "all_or_nothing" => Some(false),
                "best_effort" => Some(true),
                _ => None,
            },
            "all_or_nothing, best_effort",
        )?
        .unwrap_or(false);
    let (rows, mut errors) = csv_io::parse(&bytes)?;
    for import in &rows {
        if let Err(shared::Error::Invalid { message, .. }) = state
            .settings
            .check_role_name(import.fields.role_arn.as_deref())
        {
            errors.push(RowError {
                row: import.row,
                account_id: Some(import.account_id.clone()),
                column: "credentialRoleArn".into(),
                message,
            });
        }
    }
    errors.sort_by_key(|e| e.row);
    let rejected: std::collections::HashSet<String> =
        errors.iter().filter_map(|e| e.account_id.clone()).collect();
    if !errors.is_empty() && !best_effort {
        return Err(ApiError {
            details: Some(serde_json::to_value(&errors).unwrap_or_default()),
            ..ApiError::bad_request(
                "invalid_rows",
                Some("body".into()),
                format!("{} rows are invalid (listed in details); nothing was imported. Fix them, or import with ?mode=best_effort", errors.len()),
            )
        });
    }
    let good: Vec<_> = rows
        .into_iter()
        .filter(|r| !rejected.contains(&r.account_id))
        .collect();
    let rows_by_id: std::collections::HashMap<String, usize> =
        good.iter().map(|r| (r.account_id.clone(), r.row)).collect();
    let outcome = state
        .store
        .import_accounts(
            &auth.caller.tenant,
            good,
            &auth.caller.key_id,
            Timestamp::now(),
        )
        .await?;
    errors.extend(
        outcome
            .failed
            .into_iter()
            .map(|(account_id, message)| RowError {
                row: rows_by_id.get(&account_id).copied().unwrap_or_default(),
                account_id: Some(account_id),
                column: "accountId".into(),
                message,
            }),
    );
    Ok(Json(ImportResponse {
        mode: if best_effort {
            "best_effort"
        } else {
            "all_or_nothing"
        }
        .into(),
        created: outcome.created,
        updated: outcome.updated,
        failed: errors,
    }))
}

#[utoipa::path(
    post, path = "/v1/accounts/export", tag = "accounts",
    request_body(content = SearchRequest, description = "As for search; without rows, every match is exported (a window of at most 10,000 accounts read per request: `X-Next-Cursor` says where the next part starts)"),
    responses(
        (status = 200, description = "One row per account and region, with verification columns", content_type = "text/csv", body = String,
            headers(("X-Next-Cursor" = String, description = "Present when more accounts remain: pass it as `cursor` for the next part"))),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn export_accounts(
    auth: Auth<Read>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let request: SearchRequest = parse(Value::Object(body))?;
    let found = run_search(
        &state,
        &auth.caller.tenant,
        &request,
        request.rows.is_none(),
    )
    .await?;
    let mut response = csv_response(csv_io::export(&found.page)?);
    if let Some(cursor) = found
        .next_cursor
        .and_then(|c| axum::http::HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().insert("x-next-cursor", cursor);
    }
    Ok(response)
}
