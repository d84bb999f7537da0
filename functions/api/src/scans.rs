//! Data sources, attachments, scans, account actions, regions and findings.

use crate::auth::{Auth, Execute, Read, Write};
use crate::body::{parse, JsonObject, QueryParams};
use crate::error::{ApiError, ErrorResponse};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::account::{Account, VerificationStatus};
use shared::listing::{decode_key_cursor, encode_key_cursor, Page};
use shared::regions;
use shared::scans::{
    scan_regions, AttachRequest, Attachment, DataSource, Finding, InventorySync, RegionStatus,
    Scan, ScanJob, Severity,
};
use shared::store::keys;
use shared::time::Timestamp;
use shared::validation;
use utoipa::ToSchema;

/// Accounts one account action may name.
const MAX_ACTION_ACCOUNTS: usize = 100;
/// Scans queued at once by an account action.
const QUEUE_CONCURRENCY: usize = 16;

#[derive(Serialize, ToSchema)]
pub struct DataSourceList {
    data_sources: Vec<DataSource>,
}

#[utoipa::path(
    get, path = "/v1/data-sources", tag = "scans",
    responses(
        (status = 200, description = "The data sources this deployment offers", body = DataSourceList),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_data_sources(
    _auth: Auth<Read>,
    State(state): State<AppState>,
) -> Json<DataSourceList> {
    Json(DataSourceList {
        data_sources: state.catalogue.all().to_vec(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentList {
    account_id: String,
    data_sources: Vec<Attachment>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources", tag = "scans",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "The data sources attached to the account", body = AttachmentList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_attachments(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<String>,
) -> Result<Json<AttachmentList>, ApiError> {
    validation::account_id("account_id", &account_id)?;
    let (_, attachments) = state
        .store
        .account_attachments(&auth.caller.tenant, &account_id)
        .await?;
    Ok(Json(AttachmentList {
        account_id,
        data_sources: attachments,
    }))
}

/// The path of one attachment, checked.
fn attachment_path(state: &AppState, account_id: &str, name: &str) -> Result<(), ApiError> {
    validation::account_id("account_id", account_id)?;
    state.catalogue.require(name).map_err(|_| {
        let names: Vec<&str> = state
            .catalogue
            .all()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        ApiError::not_found(format!(
            "data source '{name}' is not offered here; GET /v1/data-sources lists them ({})",
            names.join(", ")
        ))
    })?;
    Ok(())
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources/{data_source}", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
    ),
    responses(
        (status = 200, description = "The attachment", body = Attachment),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, description = "Unknown account or data source, or not attached", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_attachment(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(String, String)>,
) -> Result<Json<Attachment>, ApiError> {
    attachment_path(&state, &account_id, &name)?;
    let (_, attachment) = state
        .store
        .account_and_attachment(&auth.caller.tenant, &account_id, &name)
        .await?;
    attachment
        .map(Json)
        .ok_or_else(|| not_attached(&account_id, &name))
}

fn not_attached(account_id: &str, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "data source '{name}' is not attached to account {account_id}; attach it with PUT /v1/accounts/{account_id}/data-sources/{name}"
    ))
}

#[utoipa::path(
    put, path = "/v1/accounts/{account_id}/data-sources/{data_source}", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
    ),
    request_body = AttachRequest,
    responses(
        (status = 201, description = "Attached", body = Attachment),
        (status = 200, description = "Already attached; updated", body = Attachment),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "The account is archived, or the attachment changed meanwhile", body = ErrorResponse),
        (status = 415, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn attach(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(String, String)>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    attachment_path(&state, &account_id, &name)?;
    let request: AttachRequest = parse(Value::Object(body))?;
    request.validate(&account_id)?;
    state
        .settings
        .check_role_name(request.role_arn.as_deref())?;
    let tenant = &auth.caller.tenant;
    let (account, existing) = state
        .store
        .account_and_attachment(tenant, &account_id, &name)
        .await?;
    if account.archived_at.is_some() {
        return Err(shared::Error::Archived { id: account_id }.into());
    }
    let attachment = request.apply(
        &account_id,
        account.fields.role_arn.as_deref(),
        &name,
        existing.as_ref(),
        &auth.caller.key_id,
        Timestamp::now(),
    );
    state
        .store
        .put_attachment(tenant, &attachment, existing.as_ref())
        .await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(attachment)).into_response())
}

#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}/data-sources/{data_source}", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
    ),
    responses(
        (status = 204, description = "Detached; its findings stay until the account is deleted"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn detach(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    // Any well-formed name: a source dropped from the configuration can
    // still be detached.
    validation::account_id("account_id", &account_id)?;
    validation::text("data_source", &name, 96)?;
    state
        .store
        .delete_attachment(&auth.caller.tenant, &account_id, &name)
        .await
        .map_err(|err| match err {
            shared::Error::NotFound { .. } => not_attached(&account_id, &name),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentPage {
    attachments: Vec<Attachment>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/data-source-attachments", tag = "scans",
    params(
        ("data_source" = String, Query, description = "e.g. aws:iam"),
        ("limit" = Option<usize>, Query, description = "1-1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "The attachments of one data source across the tenant's accounts", body = AttachmentPage),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn attachments_of_source(
    auth: Auth<Read>,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AttachmentPage>, ApiError> {
    let params = QueryParams::parse(raw.as_deref(), &["data_source", "limit", "cursor"])?;
    let name = params.single("data_source")?.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            Some("data_source".into()),
            "give ?data_source=<name>, e.g. aws:iam",
        )
    })?;
    let name = name.to_string();
    state.catalogue.require(&name).map_err(|_| {
        ApiError::bad_request(
            "invalid_value",
            Some("data_source".into()),
            format!("'{name}' is not a data source offered here; GET /v1/data-sources lists them"),
        )
    })?;
    let limit = params.limit()?;
    let after = decode_key_cursor(params.single("cursor")?, "DS#")?;
    let page = state
        .store
        .attachments_of_source(&auth.caller.tenant, &name, limit, after.as_deref())
        .await?;
    Ok(Json(AttachmentPage {
        attachments: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Run the scan but store no findings.
    #[serde(default)]
    scan_only: bool,
    /// A subset of the account's regions; default: all of them but the
    /// region_ignore_list.
    #[serde(default)]
    regions: Option<Vec<String>>,
}

/// Why an account cannot be scanned now, or `None`.
fn scan_refusal(account: &Account) -> Option<(&'static str, String)> {
    if account.archived_at.is_some() {
        return Some((
            "archived",
            format!(
                "account {} is archived; unarchive it to scan it",
                account.account_id
            ),
        ));
    }
    let credential = &account.credential;
    if credential.verification_status != VerificationStatus::Success {
        return Some((
            "credential_not_verified",
            format!(
                "Role validation failed: the credential of account {} is {}{}; fix the role and verify it (POST /v1/accounts/{}/verify) before scanning",
                account.account_id,
                credential.verification_status.as_str(),
                credential
                    .verification_code
                    .map(|code| format!(" ({})", code.as_str()))
                    .unwrap_or_default(),
                account.account_id
            ),
        ));
    }
    None
}

/// Record a scan and send its job. If the job cannot be sent the scan is
/// marked failed and the caller gets a 503 to retry.
async fn queue_scan(
    state: &AppState,
    tenant: &str,
    account: &Account,
    data_source: &str,
    scan_only: bool,
    regions: Vec<String>,
    requested_by: &str,
) -> Result<Scan, ApiError> {
    let queue = state.scan_queue.as_ref().ok_or_else(|| ApiError {
        retry_after: Some(60),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scans_unavailable",
            "this deployment has no scan queue configured (SCAN_QUEUE_URL)",
        )
    })?;
    let scan = Scan::queued(
        &account.account_id,
        data_source,
        scan_only,
        regions,
        requested_by,
        Timestamp::now(),
    );
    state.store.queue_scan(tenant, &scan).await?;
    let job = ScanJob {
        tenant: tenant.to_string(),
        account_id: scan.account_id.clone(),
        data_source: scan.data_source.clone(),
        scan_id: scan.scan_id.clone(),
    };
    if let Err(err) = queue.send_job(&job).await {
        tracing::error!(error = %err, scan_id = %scan.scan_id, "scan job not sent");
        let _ = state
            .store
            .abandon_scan(
                tenant,
                &scan,
                "the scan queue did not accept the job; request the scan again",
            )
            .await;
        return Err(err.into());
    }
    Ok(scan)
}

#[utoipa::path(
    post, path = "/v1/accounts/{account_id}/data-sources/{data_source}/scans", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
    ),
    request_body = ScanRequest,
    responses(
        (status = 202, description = "Queued; follow Location for its status", body = Scan, headers(("Location" = String))),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, description = "Unknown account or data source, or not attached", body = ErrorResponse),
        (status = 409, description = "Archived, or the credential is not verified", body = ErrorResponse),
        (status = 415, body = ErrorResponse),
        (status = 503, description = "The scan queue is unavailable; retry", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn start_scan(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(String, String)>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    attachment_path(&state, &account_id, &name)?;
    let request: ScanRequest = parse(Value::Object(body))?;
    let tenant = &auth.caller.tenant;
    let (account, attachment) = state
        .store
        .account_and_attachment(tenant, &account_id, &name)
        .await?;
    if attachment.is_none() {
        return Err(not_attached(&account_id, &name));
    }
    let regions = scan_regions(
        &account.fields.regions,
        &account.fields.region_ignore_list,
        request.regions.as_deref(),
        "regions",
    )?;
    if let Some((code, message)) = scan_refusal(&account) {
        return Err(ApiError::new(StatusCode::CONFLICT, code, message));
    }
    let scan = queue_scan(
        &state,
        tenant,
        &account,
        &name,
        request.scan_only,
        regions,
        &auth.caller.key_id,
    )
    .await?;
    let location = format!(
        "/v1/accounts/{account_id}/data-sources/{name}/scans/{}",
        scan.scan_id
    );
    let mut response = (StatusCode::ACCEPTED, Json(scan)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources/{data_source}/scans/{scan_id}", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
        ("scan_id" = String, Path, description = "As returned when the scan was queued"),
    ),
    responses(
        (status = 200, description = "The scan", body = Scan),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_scan(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((account_id, name, scan_id)): Path<(String, String, String)>,
) -> Result<Json<Scan>, ApiError> {
    validation::account_id("account_id", &account_id)?;
    if !Scan::is_valid_id(&scan_id) {
        return Err(ApiError::bad_request(
            "invalid_value",
            Some("scan_id".into()),
            "scan_id is the 26-character id returned when the scan was queued",
        ));
    }
    let missing = || {
        ApiError::not_found(format!(
            "scan '{scan_id}' of {name} on account {account_id} was not found"
        ))
    };
    let scan = state
        .store
        .get_scan(&auth.caller.tenant, &account_id, &scan_id)
        .await?
        .ok_or_else(missing)?;
    if scan.data_source != name {
        return Err(missing());
    }
    Ok(Json(scan))
}

#[derive(Serialize, ToSchema)]
pub struct ScanPage {
    /// Newest first.
    scans: Vec<Scan>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources/{data_source}/scans", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
        ("limit" = Option<usize>, Query, description = "1-1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Recent scans of this data source, newest first", body = ScanPage),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_scans(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ScanPage>, ApiError> {
    attachment_path(&state, &account_id, &name)?;
    scans_page(
        &state,
        &auth.caller.tenant,
        &account_id,
        Some(&name),
        raw.as_deref(),
    )
    .await
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/scans", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("limit" = Option<usize>, Query, description = "1-1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Recent scans of every data source, newest first", body = ScanPage),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_account_scans(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ScanPage>, ApiError> {
    validation::account_id("account_id", &account_id)?;
    scans_page(
        &state,
        &auth.caller.tenant,
        &account_id,
        None,
        raw.as_deref(),
    )
    .await
}

async fn scans_page(
    state: &AppState,
    tenant: &str,
    account_id: &str,
    data_source: Option<&str>,
    raw: Option<&str>,
) -> Result<Json<ScanPage>, ApiError> {
    let params = QueryParams::parse(raw, &["limit", "cursor"])?;
    let limit = params.limit()?;
    let prefix = keys::scans_prefix(account_id);
    let after = decode_key_cursor(params.single("cursor")?, &prefix)?;
    let (account, page) = futures::join!(
        state.store.get_account(tenant, account_id),
        state
            .store
            .list_scans(tenant, account_id, data_source, limit, after.as_deref()),
    );
    if account?.is_none() {
        return Err(ApiError::not_found(format!(
            "account '{account_id}' was not found"
        )));
    }
    let page = page?;
    Ok(Json(ScanPage {
        scans: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}

/// One account of an account action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionAccount {
    /// 12-digit AWS account id (`cloud_provider_account_id` is accepted too).
    #[serde(alias = "cloud_provider_account_id")]
    account_id: String,
    /// `AWS` if given.
    #[serde(default)]
    cloud_provider: Option<String>,
    /// A subset of the account's regions; default: all but the ignored ones.
    #[serde(default)]
    regions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountActionRequest {
    /// 1-100 accounts.
    accounts: Vec<ActionAccount>,
    /// `SYNC_INVENTORY`: scan every attached data source of each account.
    action_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedScan {
    data_source: String,
    scan_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    account_id: String,
    cloud_provider: &'static str,
    regions: Option<Vec<String>>,
    /// True when every attached data source was queued.
    action_status: bool,
    action_message: String,
    /// A machine-readable reason when refused: `not_found`, `archived`,
    /// `credential_not_verified`, `no_data_sources`, `invalid_region`,
    /// `queue_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    action_code: Option<&'static str>,
    scans: Vec<QueuedScan>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountActionResponse {
    action_type: String,
    /// Accounts whose scans were all queued.
    accepted: usize,
    /// In the order of the request.
    results: Vec<ActionResult>,
}

#[utoipa::path(
    post, path = "/v1/account-actions", tag = "scans",
    request_body = AccountActionRequest,
    responses(
        (status = 202, description = "At least one account's scans were queued; see each result", body = AccountActionResponse),
        (status = 200, description = "Nothing was queued; each result says why", body = AccountActionResponse),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 415, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn account_actions(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let request: AccountActionRequest = parse(Value::Object(body))?;
    if request.action_type != "SYNC_INVENTORY" {
        return Err(ApiError::bad_request(
            "invalid_value",
            Some("action_type".into()),
            format!(
                "'{}' is not an action; the only one is SYNC_INVENTORY",
                request.action_type
            ),
        ));
    }
    if request.accounts.is_empty() || request.accounts.len() > MAX_ACTION_ACCOUNTS {
        return Err(ApiError::bad_request(
            "invalid_value",
            Some("accounts".into()),
            format!(
                "give 1-{MAX_ACTION_ACCOUNTS} accounts, got {}",
                request.accounts.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (index, entry) in request.accounts.iter().enumerate() {
        let field = |name: &str| format!("accounts[{index}].{name}");
        validation::account_id(&field("account_id"), &entry.account_id)?;
        if !seen.insert(entry.account_id.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some(field("account_id")),
                format!("account {} is listed twice", entry.account_id),
            ));
        }
        if let Some(provider) = entry.cloud_provider.as_deref().filter(|p| *p != "AWS") {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some(field("cloud_provider")),
                format!("cloud provider '{provider}' is not supported; only AWS"),
            ));
        }
        if let Some(regions) = &entry.regions {
            validation::regions(&field("regions"), regions)?;
        }
    }
    let tenant = auth.caller.tenant.clone();
    let key_id = auth.caller.key_id.clone();
    let state = &state;
    let results: Vec<ActionResult> = futures::stream::iter(request.accounts)
        .map(|entry| {
            let tenant = tenant.clone();
            let key_id = key_id.clone();
            async move { sync_inventory(state, &tenant, &key_id, entry).await }
        })
        .buffered(QUEUE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, ApiError>>()?;
    let accepted = results.iter().filter(|r| r.action_status).count();
    let status = if accepted > 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AccountActionResponse {
            action_type: request.action_type,
            accepted,
            results,
        }),
    )
        .into_response())
}

/// SYNC_INVENTORY of one account: a scan of every attached data source.
async fn sync_inventory(
    state: &AppState,
    tenant: &str,
    key_id: &str,
    entry: ActionAccount,
) -> Result<ActionResult, ApiError> {
    let mut result = ActionResult {
        account_id: entry.account_id.clone(),
        cloud_provider: "AWS",
        regions: entry.regions.clone(),
        action_status: false,
        action_message: String::new(),
        action_code: None,
        scans: Vec::new(),
    };
    let refuse = |mut result: ActionResult, code: &'static str, message: String| {
        result.action_code = Some(code);
        result.action_message = message;
        Ok(result)
    };
    let (account, attachments) = match state
        .store
        .account_attachments(tenant, &entry.account_id)
        .await
    {
        Ok(found) => found,
        Err(shared::Error::NotFound { .. }) => {
            return refuse(
                result,
                "not_found",
                format!(
                    "account {} is not registered in this tenant",
                    entry.account_id
                ),
            )
        }
        Err(err) => return Err(err.into()),
    };
    if let Some((code, message)) = scan_refusal(&account) {
        return refuse(result, code, message);
    }
    let regions = match scan_regions(
        &account.fields.regions,
        &account.fields.region_ignore_list,
        entry.regions.as_deref(),
        "regions",
    ) {
        Ok(regions) => regions,
        Err(err) => return refuse(result, "invalid_region", err.to_string()),
    };
    if attachments.is_empty() {
        return refuse(
            result,
            "no_data_sources",
            format!("no data source is attached to account {}; attach one first (PUT /v1/accounts/{}/data-sources/aws:iam)", account.account_id, account.account_id),
        );
    }
    for attachment in &attachments {
        match queue_scan(
            state,
            tenant,
            &account,
            &attachment.data_source,
            false,
            regions.clone(),
            key_id,
        )
        .await
        {
            Ok(scan) => result.scans.push(QueuedScan {
                data_source: scan.data_source,
                scan_id: scan.scan_id,
            }),
            Err(err) => {
                return refuse(
                    result,
                    "queue_failed",
                    format!(
                        "queueing the {} scan failed: {}",
                        attachment.data_source, err.message
                    ),
                )
            }
        }
    }
    result.action_status = true;
    result.action_message = format!("Sync action initiated: {} scans queued", result.scans.len());
    Ok(result)
}

#[derive(Serialize, ToSchema)]
pub struct RegionList {
    account_id: String,
    regions: Vec<RegionStatus>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/regions", tag = "scans",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "Each region of the account with its inventory sync status", body = RegionList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn account_regions(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<String>,
) -> Result<Json<RegionList>, ApiError> {
    validation::account_id("account_id", &account_id)?;
    let mut view = state
        .store
        .account_regions(&auth.caller.tenant, &account_id)
        .await?;
    let fields = &view.account.fields;
    let regions = fields
        .regions
        .iter()
        .map(|id| {
            let added = view.added.remove(id);
            RegionStatus {
                id: id.clone(),
                name: regions::find(id).map(|r| r.name).unwrap_or(id).to_string(),
                ignored: fields.region_ignore_list.contains(id),
                inventory_sync: view
                    .sync
                    .remove(id)
                    .unwrap_or_else(InventorySync::not_started),
                create_time: added.as_ref().map(|a| a.at),
                created_by: added.map(|a| a.by),
            }
        })
        .collect();
    Ok(Json(RegionList {
        account_id,
        regions,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct FindingPage {
    findings: Vec<Finding>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/findings", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("severity" = Option<String>, Query, description = "LOW, MEDIUM, HIGH or CRITICAL; repeat or comma-separate for several"),
        ("data_source" = Option<String>, Query, description = "Only this data source's findings"),
        ("limit" = Option<usize>, Query, description = "1-1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "The account's current findings", body = FindingPage),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_findings(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<FindingPage>, ApiError> {
    validation::account_id("account_id", &account_id)?;
    let params = QueryParams::parse(
        raw.as_deref(),
        &["severity", "data_source", "limit", "cursor"],
    )?;
    let mut severities = Vec::new();
    for text in params.all("severity").flat_map(|v| v.split(',')) {
        let severity = Severity::parse(text.trim()).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_value",
                Some("severity".into()),
                format!("'{text}' is not a severity; use LOW, MEDIUM, HIGH or CRITICAL"),
            )
        })?;
        if !severities.contains(&severity) {
            severities.push(severity);
        }
    }
    let data_source = params.single("data_source")?;
    if let Some(name) = data_source {
        if state.catalogue.get(name).is_none() {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some("data_source".into()),
                format!(
                    "'{name}' is not a data source offered here; GET /v1/data-sources lists them"
                ),
            ));
        }
    }
    let limit = params.limit()?;
    let prefix = keys::findings_prefix(&account_id, data_source);
    let after = decode_key_cursor(params.single("cursor")?, &prefix)?;
    let tenant = &auth.caller.tenant;
    let (account, page): (_, shared::Result<Page<Finding>>) = futures::join!(
        state.store.get_account(tenant, &account_id),
        state.store.list_findings(
            tenant,
            &account_id,
            data_source,
            &severities,
            limit,
            after.as_deref()
        ),
    );
    if account?.is_none() {
        return Err(ApiError::not_found(format!(
            "account '{account_id}' was not found"
        )));
    }
    let page = page?;
    Ok(Json(FindingPage {
        findings: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}
