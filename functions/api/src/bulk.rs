//! Fleet operations: search and batch delete.

use crate::auth::{Auth, Read, Write};
use crate::body::{parse, CsvBody, JsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::query::Query;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service::account::Account;
use service::aws::store::BatchDeleteOutcome;
use service::csv_io;
use service::search::{Found, SearchRequest};
use service::usecases::bulk::{self, BatchDeleteRequest};
use service::usecases::import::{self, ImportMode, ImportResponse};
use utoipa::{IntoParams, ToSchema};

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
/// choose (see [`service::search::Source`]), reading at most the state's
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

#[utoipa::path(
    post, path = "/v1/accounts/batch-delete", tag = "accounts",
    request_body = BatchDeleteRequest,
    responses(
        (status = 200, description = "Per account: deleted, or why not. One failure never blocks the others.", body = BatchDeleteOutcome),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn batch_delete(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<BatchDeleteOutcome>, ApiError> {
    let request: BatchDeleteRequest = parse(Value::Object(body))?;
    let outcome = bulk::batch_delete(&state.store, &auth.caller.tenant, request).await?;
    Ok(Json(outcome))
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
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn import_template(_auth: Auth<Read>) -> Response {
    csv_response(csv_io::template())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// all_or_nothing (default): one bad row rejects the file; best_effort: good rows are imported, bad ones reported.
    #[serde(default)]
    #[param(value_type = Option<ImportMode>)]
    mode: ImportMode,
}

#[utoipa::path(
    post, path = "/v1/accounts/import", tag = "accounts",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions[,parentAccountId]; regions separated by ; or |; at most 10,000 rows"),
    responses(
        (status = 200, body = ImportResponse),
        (status = 400, description = "Malformed file, or (all_or_nothing) invalid rows listed in error.details", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn import_accounts(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Query(query): Query<ImportQuery>,
    CsvBody(bytes): CsvBody,
) -> Result<Json<ImportResponse>, ApiError> {
    let response = import::import_accounts(
        &state.store,
        &state.settings,
        &auth.caller.tenant,
        &auth.caller.key_id,
        query.mode,
        &bytes,
    )
    .await?;
    Ok(Json(response))
}

#[utoipa::path(
    post, path = "/v1/accounts/export", tag = "accounts",
    request_body(content = SearchRequest, description = "As for search; without rows, every match is exported (a window of at most 10,000 accounts read per request: `X-Next-Cursor` says where the next part starts)"),
    responses(
        (status = 200, description = "One row per account and region, with verification columns", content_type = "text/csv", body = String,
            headers(("X-Next-Cursor" = String, description = "Present when more accounts remain: pass it as `cursor` for the next part"))),
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
