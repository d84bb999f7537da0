//! Data sources, attachments, scans, account actions, regions and findings.

use crate::auth::{Auth, Execute, Read, Write};
use crate::body::{parse, JsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::path::Path;
use crate::query::{Limit, PageQuery, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service::aws::store::{keys, FindingsOrder};
use service::ids::{AccountId, DataSourceName, FindingId, ScanId};
use service::listing::{decode_key_cursor, decode_key_cursor_where, encode_key_cursor, Page};
use service::scans::{
    AttachRequest, Attachment, DataSource, Finding, FindingStatus, RegionStatus, Scan, Severities,
    SeverityCounts, SuppressRequest,
};
use service::usecases::scans::{AccountActionRequest, AccountActionResponse, ScanRequest};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct DataSourceList {
    items: Vec<DataSource>,
    /// Always null: the catalogue is one page.
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/data-sources", tag = "scans",
    responses(
        (status = 200, description = "The data sources this deployment offers", body = DataSourceList),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_data_sources(
    _auth: Auth<Read>,
    State(state): State<AppState>,
) -> Json<DataSourceList> {
    Json(DataSourceList {
        items: state.catalogue.all().to_vec(),
        next_cursor: None,
    })
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentList {
    account_id: AccountId,
    items: Vec<Attachment>,
    /// Always null: an account's attachments are one page.
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources", tag = "scans",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "The data sources attached to the account", body = AttachmentList),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_attachments(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Json<AttachmentList>, ApiError> {
    let (_, attachments) = state
        .store
        .account_attachments(&auth.caller.tenant, &account_id)
        .await?;
    Ok(Json(AttachmentList {
        account_id,
        items: attachments,
        next_cursor: None,
    }))
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources/{data_source}", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
    ),
    responses(
        (status = 200, description = "The attachment", body = Attachment),
        (status = 404, description = "Unknown account or data source, or not attached", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_attachment(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(AccountId, DataSourceName)>,
) -> Result<Json<Attachment>, ApiError> {
    let attachment = state
        .scanning()
        .attachment(&auth.caller.tenant, &account_id, &name)
        .await?;
    Ok(Json(attachment))
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
        (status = 409, description = "The account is archived, or the attachment changed meanwhile", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn attach(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(AccountId, DataSourceName)>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let request: AttachRequest = parse(Value::Object(body))?;
    let attached = state
        .scanning()
        .attach(
            &auth.caller.tenant,
            &account_id,
            &name,
            request,
            &auth.caller.key_id,
        )
        .await?;
    let status = if attached.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(attached.attachment)).into_response())
}

#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}/data-sources/{data_source}", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
    ),
    responses(
        (status = 204, description = "Detached; its findings stay until the account is deleted"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn detach(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(AccountId, DataSourceName)>,
) -> Result<StatusCode, ApiError> {
    // Any well-formed name: a source dropped from the configuration can
    // still be detached.
    state
        .store
        .delete_attachment(&auth.caller.tenant, &account_id, &name)
        .await
        .map_err(|err| match err {
            service::Error::NotFound { .. } => service::Error::NotAttached {
                account_id: account_id.into_string(),
                data_source: name.into_string(),
            },
            other => other,
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `data_source` query filter must name an offered data source (a 400,
/// where a path naming one that is not offered is a 404).
fn offered(state: &AppState, name: &str) -> Result<(), ApiError> {
    match state.catalogue.get(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(
            "invalid_value",
            Some("data_source".into()),
            format!("'{name}' is not a data source offered here; GET /v1/data-sources lists them"),
        )),
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentPage {
    items: Vec<Attachment>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SourceAttachmentsQuery {
    /// e.g. aws:iam
    #[param(value_type = String)]
    data_source: DataSourceName,
    /// 1-1000, default 100.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Limit,
    /// next_cursor of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/data-source-attachments", tag = "scans",
    params(SourceAttachmentsQuery),
    responses(
        (status = 200, description = "The attachments of one data source across the tenant's accounts", body = AttachmentPage),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn attachments_of_source(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Query(query): Query<SourceAttachmentsQuery>,
) -> Result<Json<AttachmentPage>, ApiError> {
    let name = query.data_source;
    offered(&state, &name)?;
    let limit = query.limit.0;
    let after = decode_key_cursor(query.cursor.as_deref(), "DS#")?;
    let page = state
        .store
        .attachments_of_source(&auth.caller.tenant, &name, limit, after.as_deref())
        .await?;
    Ok(Json(AttachmentPage {
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
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
        (status = 404, description = "Unknown account or data source, or not attached", body = ErrorResponse),
        (status = 409, description = "Archived, or the credential is not verified", body = ErrorResponse),
        (status = 503, description = "The scan queue is unavailable; retry", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn start_scan(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(AccountId, DataSourceName)>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let request: ScanRequest = parse(Value::Object(body))?;
    let scan = state
        .scanning()
        .start(
            &auth.caller.tenant,
            &account_id,
            &name,
            request,
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
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_scan(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((account_id, name, scan_id)): Path<(AccountId, DataSourceName, ScanId)>,
) -> Result<Json<Scan>, ApiError> {
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
    if scan.data_source != name.as_str() {
        return Err(missing());
    }
    Ok(Json(scan))
}

#[derive(Serialize, ToSchema)]
pub struct ScanPage {
    /// Newest first.
    items: Vec<Scan>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/data-sources/{data_source}/scans", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "Recent scans of this data source, newest first", body = ScanPage),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_scans(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((account_id, name)): Path<(AccountId, DataSourceName)>,
    Query(page): Query<PageQuery>,
) -> Result<Json<ScanPage>, ApiError> {
    state.catalogue.require(&name)?;
    scans_page(&state, &auth.caller.tenant, &account_id, Some(&name), page).await
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/scans", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "Recent scans of every data source, newest first", body = ScanPage),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_account_scans(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    Query(page): Query<PageQuery>,
) -> Result<Json<ScanPage>, ApiError> {
    scans_page(&state, &auth.caller.tenant, &account_id, None, page).await
}

async fn scans_page(
    state: &AppState,
    tenant: &str,
    account_id: &str,
    data_source: Option<&str>,
    page: PageQuery,
) -> Result<Json<ScanPage>, ApiError> {
    let limit = page.limit.0;
    let prefix = keys::scans_prefix(account_id);
    let after = decode_key_cursor(page.cursor.as_deref(), &prefix)?;
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
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}

#[utoipa::path(
    post, path = "/v1/account-actions", tag = "scans",
    request_body = AccountActionRequest,
    responses(
        (status = 202, description = "At least one account's scans were queued; see each result", body = AccountActionResponse),
        (status = 200, description = "Nothing was queued; each result says why", body = AccountActionResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn account_actions(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let request: AccountActionRequest = parse(Value::Object(body))?;
    let response = state
        .scanning()
        .account_action(&auth.caller.tenant, &auth.caller.key_id, request)
        .await?;
    let status = if response.accepted > 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct RegionList {
    account_id: AccountId,
    regions: Vec<RegionStatus>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/regions", tag = "scans",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "Each region of the account with its inventory sync status", body = RegionList),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn account_regions(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Json<RegionList>, ApiError> {
    let regions = state
        .store
        .account_regions(&auth.caller.tenant, &account_id)
        .await?
        .statuses();
    Ok(Json(RegionList {
        account_id,
        regions,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct FindingPage {
    items: Vec<Finding>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingsQuery {
    /// LOW, MEDIUM, HIGH or CRITICAL; repeat or comma-separate for several.
    #[serde(default)]
    #[param(value_type = Option<Vec<String>>, explode = true)]
    severity: Severities,
    /// Only this data source's findings.
    #[param(value_type = Option<String>)]
    data_source: Option<DataSourceName>,
    /// `open` (the default: what the summary counts), `suppressed` (while
    /// their suppression holds), `resolved` (no longer seen; kept 30 days)
    /// or `all`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    status: StatusQuery,
    /// 1-1000, default 100.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Limit,
    /// next_cursor of the previous page.
    cursor: Option<String>,
}

/// Which findings a listing shows.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StatusQuery {
    #[default]
    Open,
    Suppressed,
    Resolved,
    All,
}

impl StatusQuery {
    fn status(self) -> Option<FindingStatus> {
        match self {
            StatusQuery::Open => Some(FindingStatus::Open),
            StatusQuery::Suppressed => Some(FindingStatus::Suppressed),
            StatusQuery::Resolved => Some(FindingStatus::Resolved),
            StatusQuery::All => None,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/findings", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        FindingsQuery,
    ),
    responses(
        (status = 200, description = "The account's findings in severity order: critical first, then by score, highest first (resolved ones last)", body = FindingPage),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_findings(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    Query(query): Query<FindingsQuery>,
) -> Result<Json<FindingPage>, ApiError> {
    let severities = query.severity.0;
    let data_source = query.data_source.as_deref();
    if let Some(name) = data_source {
        offered(&state, name)?;
    }
    // A cursor is a place in this account's severity order.
    let after = decode_key_cursor_where(query.cursor.as_deref(), |order| {
        Finding::of_severity_order(order)
            .is_some_and(|(account, _, _)| account == account_id.as_str())
    })?;
    let tenant = &auth.caller.tenant;
    let (account, page): (_, service::Result<Page<Finding>>) = futures::join!(
        state.store.get_account(tenant, &account_id),
        state.store.ordered_findings(
            tenant,
            FindingsOrder::Account(&account_id),
            data_source,
            &severities,
            query.status.status(),
            service::time::Timestamp::now(),
            query.limit.0,
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
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}

#[utoipa::path(
    get, path = "/v1/findings", tag = "scans",
    params(FindingsQuery),
    responses(
        (status = 200, description = "The tenant's findings, every account, in severity order: critical first, then by score, highest first", body = FindingPage),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn tenant_findings(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Query(query): Query<FindingsQuery>,
) -> Result<Json<FindingPage>, ApiError> {
    let data_source = query.data_source.as_deref();
    if let Some(name) = data_source {
        offered(&state, name)?;
    }
    // A cursor is a place in the severity order, checked before use.
    let after = decode_key_cursor_where(query.cursor.as_deref(), |order| {
        Finding::of_severity_order(order).is_some()
    })?;
    let page = state
        .store
        .ordered_findings(
            &auth.caller.tenant,
            FindingsOrder::Tenant,
            data_source,
            &query.severity.0,
            query.status.status(),
            service::time::Timestamp::now(),
            query.limit.0,
            after.as_deref(),
        )
        .await?;
    Ok(Json(FindingPage {
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}

/// One data source's share of an account's findings.
#[derive(Serialize, ToSchema)]
pub struct SourceFindings {
    data_source: String,
    /// Its open findings, by severity.
    #[serde(flatten)]
    counts: SeverityCounts,
    /// Its findings whose suppression holds, by severity.
    suppressed: SeverityCounts,
    /// Its resolved findings (kept 30 days), as of its last scan.
    resolved: SeverityCounts,
}

#[derive(Serialize, ToSchema)]
pub struct FindingsSummary {
    account_id: AccountId,
    /// Every attached data source's open findings, by severity: what the
    /// default listing lists.
    #[serde(flatten)]
    counts: SeverityCounts,
    /// Those whose suppression holds (`status=suppressed`), by severity.
    suppressed: SeverityCounts,
    /// Those no longer seen (`status=resolved`), as of each data source's
    /// last scan; TTL removes them 30 days after.
    resolved: SeverityCounts,
    /// Per attached data source, as of its last finished scan.
    data_sources: Vec<SourceFindings>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/findings/summary", tag = "scans",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "The account's stored findings counted by severity, in all and per attached data source; each count equals a count of the findings listing", body = FindingsSummary),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn findings_summary(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Json<FindingsSummary>, ApiError> {
    // Kept per attachment when a scan finishes: a GetItem and a Query of
    // the attachments, whatever the number of findings.
    let (_, attachments) = state
        .store
        .account_attachments(&auth.caller.tenant, &account_id)
        .await?;
    let now = service::time::Timestamp::now();
    let mut counts = SeverityCounts::default();
    let mut suppressed = SeverityCounts::default();
    let mut resolved = SeverityCounts::default();
    let data_sources = attachments
        .into_iter()
        .map(|attachment| {
            let found = attachment.findings_as_of(now);
            counts.add(&found.open);
            suppressed.add(&found.suppressed);
            resolved.add(&found.resolved);
            SourceFindings {
                data_source: attachment.data_source,
                counts: found.open,
                suppressed: found.suppressed,
                resolved: found.resolved,
            }
        })
        .collect();
    Ok(Json(FindingsSummary {
        account_id,
        counts,
        suppressed,
        resolved,
        data_sources,
    }))
}

#[utoipa::path(
    put, path = "/v1/accounts/{account_id}/data-sources/{data_source}/findings/{finding_id}/suppression", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
        ("finding_id" = String, Path, description = "As the findings listing shows it"),
    ),
    request_body = SuppressRequest,
    responses(
        (status = 200, description = "Suppressed: it leaves the default listing and the summary's open counts until `until` (or until lifted), across rescans", body = Finding),
        (status = 404, description = "No such finding", body = ErrorResponse),
        (status = 409, description = "too_many_suppressions: the data source already has 1000; suppressed_by_rule: a suppression rule holds it; finding_resolved: no scan sees it any more", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn suppress_finding(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, name, finding_id)): Path<(AccountId, DataSourceName, FindingId)>,
    JsonObject(body): JsonObject,
) -> Result<Json<Finding>, ApiError> {
    offered(&state, &name)?;
    let request: SuppressRequest = parse(Value::Object(body))?;
    let suppression = request.suppression(&auth.caller.key_id, service::time::Timestamp::now())?;
    let finding = state
        .store
        .set_suppression(
            &auth.caller.tenant,
            &account_id,
            &name,
            &finding_id,
            Some(&suppression),
        )
        .await?;
    Ok(Json(finding))
}

#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}/data-sources/{data_source}/findings/{finding_id}/suppression", tag = "scans",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("data_source" = String, Path, description = "e.g. aws:iam"),
        ("finding_id" = String, Path, description = "As the findings listing shows it"),
    ),
    responses(
        (status = 200, description = "Open again (also when it was not suppressed)", body = Finding),
        (status = 404, description = "No such finding", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn lift_suppression(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, name, finding_id)): Path<(AccountId, DataSourceName, FindingId)>,
) -> Result<Json<Finding>, ApiError> {
    offered(&state, &name)?;
    let finding = state
        .store
        .set_suppression(&auth.caller.tenant, &account_id, &name, &finding_id, None)
        .await?;
    Ok(Json(finding))
}
