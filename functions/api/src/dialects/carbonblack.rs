//! Carbon Black Cloud's public cloud account management
//! (`/public-cloud/account-management/v1/...`, and the
//! `/account-management/v1/...` form its document also shows), as its
//! "Public Cloud Account Management API" describes it: `X-Auth-Token:
//! <secret>/<id>`, snake_case accounts with a `credential` object, 200 on
//! every GET, 204 on DELETE, search with criteria, rows and `num_found`,
//! CSV download and import, `account_actions`, `validate_role`, provider
//! details and per-region status, and `{"error_code", "follow_up_api",
//! "message", "success": false}` errors.
//!
//! An org is a tenant: the `org_key` in a path must be the key's tenant
//! (another is a 404, never another tenant's data). Its permission
//! `public.cloud.accounts` maps onto scopes: READ is `read`; CREATE,
//! UPDATE and DELETE are `write`; EXECUTE is `execute`.
//!
//! The external ID is always this service's: one sent on create must be
//! the one `GET .../cloud_providers/AWS` reserved for the key, on update
//! the account's own, in an import the account's own; otherwise it is
//! refused, saying why. `event_stream_status`, which `/v1` has no place
//! for, is the label `carbonblack:event_stream_status`.

use crate::auth::{Auth, Execute, Read, Write};
use crate::body::{parse, CsvBody, JsonBody, JsonObject};
use crate::error::{ApiError, Refusal};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use service::account::{Account, Environment};
use service::api_key::Scope;
use service::ids::AccountId;
use service::regions::REGIONS;
use service::search::SearchRequest;
use service::usecases::import::ImportMode;
use service::usecases::role_checks::ValidateRolesRequest;
use service::usecases::scans::AccountActionRequest;
use std::collections::HashMap;

/// The label `event_stream_status` is kept in.
const EVENT_STREAM: &str = "carbonblack:event_stream_status";
const EVENT_STREAM_VALUES: [&str; 3] = ["ENABLED", "DISABLED", "PARTIALLY_ENABLED"];
/// The import template's header, as the document gives it.
pub const IMPORT_COLUMNS: &str = "accountId,accountProvider,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,credentialExternalId,regions";
/// The download's columns, as the document gives them.
const DOWNLOAD_COLUMNS: [&str; 30] = [
    "orgKey",
    "accountId",
    "accountProvider",
    "region",
    "accountName",
    "accountOwnerName",
    "accountOwnerEmail",
    "environment",
    "credentialRoleArn",
    "credentialExternalId",
    "credentialVerificationStatus",
    "credentialVerificationCode",
    "credentialVerificationMessage",
    "credentialLastVerifiedTime",
    "createTime",
    "createdBy",
    "updateTime",
    "updatedBy",
    "regionEventChannelTemplateVersion",
    "regionEventChannelConnected",
    "regionEventChannelLastConnectedTime",
    "regionEventChannelCreatedTime",
    "regionEventChannelUpdatedTime",
    "regionInventorySyncStatus",
    "regionInventorySyncMessage",
    "regionInventorySyncCode",
    "regionInventoryLastSyncTime",
    "regionInventoryFullSyncBy",
    "regionCreatedTime",
    "regionCreatedBy",
];
/// Our field names and Carbon Black's, for what a refusal names.
const FIELDS: [(&str, &str); 6] = [
    ("account_id", "cloud_provider_account_id"),
    ("external_id", "credential.external_id"),
    ("role_arn", "credential.role_arn"),
    ("criteria.account_id", "criteria.cloud_provider_account_id"),
    (
        "criteria.verification_status",
        "criteria.credential.verification_status",
    ),
    ("account_ids", "account_ids"),
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for base in [
        "/public-cloud/account-management/v1",
        "/account-management/v1",
    ] {
        let org = format!("{base}/orgs/{{org_key}}");
        let one = format!("{org}/cloud_providers/{{cloud_provider}}/accounts/{{account_id}}");
        for slash in ["", "/"] {
            router = router
                .route(&format!("{org}/accounts{slash}"), post(create))
                .route(&format!("{org}/accounts/_delete{slash}"), post(bulk_delete))
                .route(&format!("{org}/accounts/_search{slash}"), post(search))
                .route(
                    &format!("{org}/accounts/_search/download{slash}"),
                    post(download),
                )
                .route(&format!("{org}/accounts/import{slash}"), post(import))
                .route(
                    &format!("{org}/accounts/validate_role{slash}"),
                    post(validate_role),
                )
                .route(&format!("{org}/account_actions{slash}"), post(actions))
                .route(
                    &format!("{one}{slash}"),
                    get(read).put(update).delete(remove),
                )
                .route(&format!("{one}/regions{slash}"), get(regions))
                .route(
                    &format!("{base}/accounts/import/template{slash}"),
                    get(template),
                )
                .route(
                    &format!("{base}/cloud_providers/{{cloud_provider}}{slash}"),
                    get(provider),
                );
        }
    }
    router
}

/// The scope a POST on `path` (a Carbon Black route) needs, before its
/// handler runs: searching reads, checking roles and syncing execute,
/// the rest writes.
pub fn post_scope(path: &str) -> Scope {
    match path.trim_end_matches('/').rsplit('/').next() {
        Some("_search") | Some("download") => Scope::Read,
        Some("validate_role") | Some("account_actions") => Scope::Execute,
        _ => Scope::Write,
    }
}

/// The org a path names must be the caller's tenant: else a 404.
fn check_org(tenant: &str, org_key: &str) -> Result<(), ApiError> {
    match org_key == tenant {
        true => Ok(()),
        false => Err(ApiError::not_found(
            "no such org: the org_key is your API key's tenant",
        )),
    }
}

/// The cloud provider a path names: AWS in any case, else a 400.
fn check_provider(field: &str, provider: &str) -> Result<(), ApiError> {
    match provider.eq_ignore_ascii_case("aws") {
        true => Ok(()),
        false => Err(ApiError::bad_request(
            "invalid_value",
            Some(field.to_string()),
            format!(
                "cloud provider '{}' is not served here: only AWS",
                super::echo(provider)
            ),
        )),
    }
}

/// The account as Carbon Black shows it.
pub fn account_object(account: &Account) -> Value {
    let fields = &account.fields;
    let verified = &account.credential;
    json!({
        "cloud_provider_account_id": account.account_id,
        "cloud_provider": "AWS",
        "name": fields.name,
        "owner_name": fields.owner_name,
        "owner_email": fields.owner_email,
        "environment": fields.environment.map(Environment::as_str),
        "credential": {
            "role_arn": account.pending_role_arn.as_ref().or(fields.role_arn.as_ref()),
            "external_id": account.external_id_to_deploy(),
            "verification_status": verified.verification_status.as_str(),
            "verification_code": verified.verification_code.map(|code| code.as_str()),
            "verification_message": verified.verification_message,
            "last_verified_time": verified.last_verified_at,
        },
        "last_updated_time": account.updated_at,
        "regions": fields.regions,
        "created_by": account.created_by,
        "updated_by": account.updated_by,
        "event_stream_status": fields.labels.get(EVENT_STREAM).map(String::as_str).unwrap_or("DISABLED"),
    })
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_value", Some(field.to_string()), message)
}

/// An account body (create or update, which the document gives the same
/// required fields) as the `/v1` body the use cases read, and the
/// external ID it names, if any (the caller checks it: only this
/// service's is accepted).
// Long: one arm per documented field, each refusal naming its field.
fn to_v1(body: &Map<String, Value>) -> Result<(Map<String, Value>, Option<String>), ApiError> {
    let text = |field: &str, required: bool| -> Result<Option<String>, ApiError> {
        match body.get(field) {
            Some(Value::String(value)) => Ok(Some(value.clone())),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(ApiError::bad_request(
                "missing_field",
                Some(field.to_string()),
                format!("{field} is required"),
            )),
            Some(_) => Err(invalid(field, format!("{field} must be a string"))),
        }
    };
    let account_id = text("cloud_provider_account_id", true)?.unwrap_or_default();
    AccountId::parse("cloud_provider_account_id", account_id.clone())?;
    check_provider(
        "cloud_provider",
        &text("cloud_provider", true)?.unwrap_or_default(),
    )?;
    let mut v1 = Map::new();
    v1.insert("account_id".into(), json!(account_id));
    for (theirs, ours) in [
        ("name", "name"),
        ("owner_name", "owner_name"),
        ("owner_email", "owner_email"),
        ("environment", "environment"),
    ] {
        v1.insert(ours.into(), json!(text(theirs, true)?));
    }
    match body.get("regions") {
        Some(Value::Array(regions)) => {
            v1.insert("regions".into(), json!(regions));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "missing_field",
                Some("regions".into()),
                "regions is required: a list of AWS region ids (GET .../cloud_providers/AWS lists them)",
            ))
        }
        Some(_) => return Err(invalid("regions", "regions must be a list of region ids")),
    }
    let Some(Value::Object(credential)) = body.get("credential") else {
        return Err(ApiError::bad_request(
            "missing_field",
            Some("credential".into()),
            "credential is required: {\"role_arn\", \"external_id\"}",
        ));
    };
    let credential_text = |field: &str| -> Result<Option<String>, ApiError> {
        match credential.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) if value.is_empty() => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(invalid(
                &format!("credential.{field}"),
                format!("credential.{field} must be a string"),
            )),
        }
    };
    if let Some(role) = credential_text("role_arn")? {
        v1.insert("role_arn".into(), json!(role));
    }
    let external_id = credential_text("external_id")?;
    // Who created and updated an account is the API key that did it.
    text("created_by", false)?;
    text("updated_by", false)?;
    if let Some(status) = text("event_stream_status", false)? {
        if !EVENT_STREAM_VALUES.contains(&status.as_str()) {
            return Err(invalid(
                "event_stream_status",
                format!(
                    "event_stream_status must be ENABLED, DISABLED or PARTIALLY_ENABLED, got '{}'",
                    super::echo(&status)
                ),
            ));
        }
        v1.insert("labels".into(), json!({ EVENT_STREAM: status }));
    }
    Ok((v1, external_id))
}

/// `POST .../orgs/{org_key}/accounts`: 200 with the account. Its external
/// ID is generated, or the one reserved for the key (provider details):
/// the role made with it then verifies at once.
async fn create(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    let (v1, external_id) = to_v1(&body)?;
    let account = state
        .accounts()
        .register_reserved(
            &auth.caller.tenant,
            &auth.caller.key_id,
            v1,
            external_id.as_deref(),
        )
        .await?;
    Ok(Json(account_object(&account)))
}

/// `GET .../accounts/{id}`.
async fn read(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((org_key, provider, account_id)): Path<(String, String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    check_provider("cloud_provider", &provider)?;
    let account = state
        .accounts()
        .load(&auth.caller.tenant, &account_id)
        .await?;
    Ok(Json(account_object(&account)))
}

/// `PUT .../accounts/{id}`: the document's fields are replaced, the ones
/// it does not have (labels, ignore lists) kept. A sent external ID must
/// be the account's own.
async fn update(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((org_key, provider, account_id)): Path<(String, String, AccountId)>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    check_org(tenant, &org_key)?;
    check_provider("cloud_provider", &provider)?;
    let (mut v1, external_id) = to_v1(&body)?;
    if v1.remove("account_id") != Some(json!(account_id.as_str())) {
        return Err(invalid(
            "cloud_provider_account_id",
            format!("cloud_provider_account_id is the path's, {account_id}, and cannot change"),
        ));
    }
    let current = state.accounts().load(tenant, &account_id).await?;
    if let Some(chosen) = external_id {
        if !current.owns_external_id(&chosen) {
            return Err(invalid(
                "credential.external_id",
                "the external ID is generated by this service and cannot be chosen: send the account's own (GET gives it) or leave it empty",
            ));
        }
    }
    let account = state
        .accounts()
        .patch(
            tenant,
            &auth.caller.key_id,
            &account_id,
            v1,
            Some(current.version),
        )
        .await?;
    Ok(Json(account_object(&account)))
}

/// `DELETE .../accounts/{id}`: 204.
async fn remove(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((org_key, provider, account_id)): Path<(String, String, AccountId)>,
) -> Result<StatusCode, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    check_provider("cloud_provider", &provider)?;
    state
        .accounts()
        .delete(&auth.caller.tenant, &account_id, false, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The entries of a bulk body: the document's example is a bare array,
/// its schema an object holding it (`key`); both are read.
fn entries<'a>(body: &'a Value, key: &str) -> Result<&'a Vec<Value>, ApiError> {
    match body {
        Value::Array(entries) => Ok(entries),
        Value::Object(object) => match object.get(key) {
            Some(Value::Array(entries)) => Ok(entries),
            _ => Err(invalid(key, format!("{key} must be a list"))),
        },
        _ => Err(ApiError::bad_request(
            "invalid_body",
            None,
            "the body must be a list of accounts",
        )),
    }
}

/// One entry's `cloud_provider_account_id`, its provider checked.
fn entry_account(index: usize, entry: &Value) -> Result<String, ApiError> {
    let field = |name: &str| format!("[{index}].{name}");
    let Some(entry) = entry.as_object() else {
        return Err(invalid(
            &format!("[{index}]"),
            "each entry must be an object",
        ));
    };
    if let Some(provider) = entry.get("cloud_provider") {
        check_provider(&field("cloud_provider"), provider.as_str().unwrap_or(""))?;
    }
    match entry.get("cloud_provider_account_id") {
        Some(Value::String(id)) => Ok(id.clone()),
        _ => Err(ApiError::bad_request(
            "missing_field",
            Some(field("cloud_provider_account_id")),
            "cloud_provider_account_id is required: the 12-digit AWS account id",
        )),
    }
}

/// `POST .../accounts/_delete`: every account named is deleted, or listed
/// in `failed` (200 either way; one never blocks another).
async fn bulk_delete(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    let ids = entries(&body, "account_ids")?
        .iter()
        .enumerate()
        .map(|(index, entry)| entry_account(index, entry))
        .collect::<Result<Vec<_>, _>>()?;
    let request = parse(json!({ "account_ids": ids }))?;
    let outcome =
        service::usecases::bulk::batch_delete(&state.store, &auth.caller.tenant, request).await?;
    if outcome.failed.is_empty() {
        return Ok(Json(json!({
            "error_code": null, "failed": null, "follow_up_api": null,
            "message": "Successful", "success": true,
        })));
    }
    let failed: Vec<Value> = outcome
        .failed
        .iter()
        .map(|f| json!({"cloud_provider": "AWS", "cloud_provider_account_id": f.account_id}))
        .collect();
    let reasons: Vec<String> = outcome
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.account_id, f.message))
        .collect();
    Ok(Json(json!({
        "error_code": null,
        "failed": failed,
        "follow_up_api": null,
        "message": format!("Delete for few accounts failed. Check failed field for the same. ({})", reasons.join("; ")),
        "success": false,
    })))
}

/// A search body as `/v1`'s, and whether it can match anything (a
/// `cloud_provider` criterion without AWS matches nothing). `rows` 0 (the
/// document's example) or absent is the default page, 100; `every`: a
/// download, where it is every match.
// Long: one arm per documented criterion and sort field.
fn search_request(
    body: &Map<String, Value>,
    every: bool,
) -> Result<(SearchRequest, bool), ApiError> {
    let mut v1 = Map::new();
    for field in ["start", "query"] {
        if let Some(value) = body.get(field).filter(|v| !v.is_null()) {
            v1.insert(field.into(), value.clone());
        }
    }
    match body.get("rows") {
        None | Some(Value::Null) => {}
        Some(rows) if rows.as_u64() == Some(0) => {}
        Some(rows) => {
            v1.insert("rows".into(), rows.clone());
        }
    }
    if !every && !v1.contains_key("rows") {
        v1.insert("rows".into(), json!(100));
    }
    if let Some(Value::String(query)) = v1.get("query") {
        let query = super::rename_words(
            query,
            &[
                ("cloud_provider_account_id", "account_id"),
                ("owner_name", "owner"),
                ("owner_email", "email"),
            ],
        );
        v1.insert("query".into(), json!(query));
    }
    let mut aws = true;
    match body.get("criteria") {
        None | Some(Value::Null) => {}
        Some(Value::Object(criteria)) => {
            let mut ours = Map::new();
            for (name, values) in criteria {
                let mapped = match name.as_str() {
                    "name" => "name",
                    "environment" => "environment",
                    "cloud_provider_account_id" => "account_id",
                    "credential.verification_status" => "verification_status",
                    "cloud_provider" => {
                        let listed: Vec<&str> = match values {
                            Value::String(one) => vec![one.as_str()],
                            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                            _ => Vec::new(),
                        };
                        aws = listed.is_empty() || listed.iter().any(|p| p.eq_ignore_ascii_case("aws"));
                        continue;
                    }
                    other => {
                        return Err(invalid(
                            &format!("criteria.{}", super::echo(other)),
                            "criteria may name name, cloud_provider, cloud_provider_account_id, credential.verification_status and environment",
                        ))
                    }
                };
                ours.insert(mapped.into(), values.clone());
            }
            v1.insert("criteria".into(), Value::Object(ours));
        }
        Some(_) => return Err(invalid("criteria", "criteria must be an object")),
    }
    match body.get("sort") {
        None | Some(Value::Null) => {}
        Some(Value::Array(sorts)) => {
            let mut ours = Vec::new();
            for (index, sort) in sorts.iter().enumerate() {
                let field = sort.get("field").and_then(Value::as_str).unwrap_or("");
                let mapped = match field {
                    "credential.last_verified_time" => "last_verified_at",
                    "name" => "name",
                    "cloud_provider_account_id" => "account_id",
                    "owner_email" => "owner_email",
                    "last_updated_time" => "updated_at",
                    "environment" => "environment",
                    // Every account is AWS: sorting by it orders nothing.
                    "cloud_provider" => continue,
                    other => {
                        return Err(invalid(
                            &format!("sort[{index}].field"),
                            format!("'{}' cannot be sorted by: use credential.last_verified_time, name, cloud_provider, cloud_provider_account_id, owner_email, last_updated_time or environment", super::echo(other)),
                        ))
                    }
                };
                let order = match sort.get("order").and_then(Value::as_str) {
                    None => "asc",
                    Some(order) if order.eq_ignore_ascii_case("asc") => "asc",
                    Some(order) if order.eq_ignore_ascii_case("desc") => "desc",
                    Some(_) => {
                        return Err(invalid(
                            &format!("sort[{index}].order"),
                            "order is ASC or DESC",
                        ))
                    }
                };
                ours.push(json!({"field": mapped, "order": order}));
            }
            v1.insert("sort".into(), json!(ours));
        }
        Some(_) => return Err(invalid("sort", "sort must be a list of {field, order}")),
    }
    Ok((parse(Value::Object(v1))?, aws))
}

/// `POST .../accounts/_search`: `{"num_found", "results"}`.
async fn search(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    let (request, aws) = search_request(&body, false)?;
    if !aws {
        return Ok(Json(json!({"num_found": 0, "results": []})));
    }
    let found = crate::bulk::run_search(&state, &auth.caller.tenant, &request, false).await?;
    let results: Vec<Value> = found.page.iter().map(account_object).collect();
    Ok(Json(
        json!({"num_found": found.num_found, "results": results}),
    ))
}

/// `POST .../accounts/_search/download`: the matches as the document's
/// CSV, one row per account and region. A search reading more than one
/// request may says where the next part starts in `X-Next-Cursor` (pass
/// it as `cursor`), as `/v1`'s export does.
async fn download(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    let (request, aws) = search_request(&body, true)?;
    let (accounts, next) = match aws {
        true => {
            let every = request.rows.is_none();
            let found =
                crate::bulk::run_search(&state, &auth.caller.tenant, &request, every).await?;
            (found.page, found.next_cursor)
        }
        false => (Vec::new(), None),
    };
    let mut response = csv(download_csv(&org_key, &accounts)?);
    if let Some(cursor) = next.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("x-next-cursor", cursor);
    }
    Ok(response)
}

fn csv(text: String) -> Response {
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

/// The download's CSV: every cell inert in a spreadsheet. The region
/// columns beyond the region's id are empty (this service has no event
/// channel; `GET .../regions` gives each region's inventory sync).
pub fn download_csv(org_key: &str, accounts: &[Account]) -> Result<String, ApiError> {
    let failed = |err: csv::Error| ApiError::from(service::Error::store(err.to_string()));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(DOWNLOAD_COLUMNS).map_err(failed)?;
    for account in accounts {
        let object = account_object(account);
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let credential = &object["credential"];
        let regions: Vec<&str> = match account.fields.regions.is_empty() {
            true => vec![""],
            false => account.fields.regions.iter().map(String::as_str).collect(),
        };
        for region in regions {
            let mut cells = vec![
                org_key.to_string(),
                account.account_id.clone(),
                "AWS".to_string(),
                region.to_string(),
                text(&object["name"]),
                text(&object["owner_name"]),
                text(&object["owner_email"]),
                text(&object["environment"]),
                text(&credential["role_arn"]),
                text(&credential["external_id"]),
                text(&credential["verification_status"]),
                text(&credential["verification_code"]),
                text(&credential["verification_message"]),
                text(&credential["last_verified_time"]),
                account.created_at.to_string(),
                account.created_by.clone(),
                account.updated_at.to_string(),
                account.updated_by.clone(),
            ];
            cells.resize(DOWNLOAD_COLUMNS.len(), String::new());
            writer
                .write_record(
                    cells
                        .iter()
                        .map(|c| service::csv_io::neutralise(c).into_owned()),
                )
                .map_err(failed)?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| ApiError::from(service::Error::store(err.to_string())))?;
    String::from_utf8(bytes).map_err(|err| ApiError::from(service::Error::store(err.to_string())))
}

/// `GET .../accounts/import/template`: the header row to fill in.
async fn template(_auth: Auth<Write>) -> Response {
    csv(format!("{IMPORT_COLUMNS}\r\n"))
}

/// The import's own columns (`accountProvider`, `credentialExternalId`)
/// checked: AWS, and the account's own external ID or none. The rest of
/// the file is `/v1`'s import format, read there.
async fn check_import(state: &AppState, tenant: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(bytes);
    // The import reports a header it cannot read.
    let Ok(headers) = reader.headers().cloned() else {
        return Ok(());
    };
    let position = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (account, provider, external) = (
        position("accountId"),
        position("accountProvider"),
        position("credentialExternalId"),
    );
    let cell = |record: &csv::StringRecord, at: Option<usize>| {
        at.and_then(|at| record.get(at))
            .map(|c| service::csv_io::restore(c.trim()).to_string())
            .unwrap_or_default()
    };
    let mut chosen: Vec<(usize, String, String)> = Vec::new();
    // The import refuses a file of more rows; this reads no further.
    for (index, record) in reader
        .records()
        .take(service::csv_io::MAX_ROWS + 1)
        .enumerate()
    {
        let Ok(record) = record else { continue };
        let row = index + 2;
        let named = cell(&record, provider);
        if !named.is_empty() && !named.eq_ignore_ascii_case("aws") {
            return Err(invalid(
                "accountProvider",
                format!(
                    "row {row}: accountProvider must be AWS, got '{}'",
                    super::echo(&named)
                ),
            ));
        }
        let external_id = cell(&record, external);
        if !external_id.is_empty() {
            chosen.push((row, cell(&record, account), external_id));
        }
    }
    if chosen.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = chosen
        .iter()
        .map(|(_, id, _)| id.clone())
        .filter(|id| service::validation::account_id("accountId", id).is_ok())
        .collect();
    ids.sort();
    ids.dedup();
    let accounts: HashMap<String, Account> = state
        .store
        .batch_get_accounts(tenant, &ids)
        .await?
        .into_iter()
        .map(|account| (account.account_id.clone(), account))
        .collect();
    for (row, account_id, external_id) in chosen {
        let own = accounts
            .get(&account_id)
            .is_some_and(|account| account.owns_external_id(&external_id));
        if !own {
            return Err(invalid(
                "credentialExternalId",
                format!("row {row}: the external ID is generated by this service and cannot be chosen: leave credentialExternalId empty (a new account is given one; _search/download shows each account's)"),
            ));
        }
    }
    Ok(())
}

/// `POST .../accounts/import` (text/csv): every row imported, or none
/// (a bad row is a 400 naming it).
async fn import(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    CsvBody(bytes): CsvBody,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    check_org(tenant, &org_key)?;
    check_import(&state, tenant, &bytes).await?;
    let imported = service::usecases::import::import_accounts(
        &state.store,
        &state.settings,
        tenant,
        &auth.caller.key_id,
        ImportMode::AllOrNothing,
        &bytes,
    )
    .await?;
    let mut message = format!(
        "Accounts uploaded successfully: {} created, {} updated",
        imported.created.len(),
        imported.updated.len()
    );
    if !imported.failed.is_empty() {
        let changed: Vec<&str> = imported
            .failed
            .iter()
            .filter_map(|f| f.account_id.as_deref())
            .collect();
        message = format!(
            "{message}; changed meanwhile, not imported: {}",
            changed.join(", ")
        );
    }
    Ok(Json(
        json!({"success": imported.failed.is_empty(), "message": message}),
    ))
}

/// `POST .../accounts/validate_role` (scope execute): each role checked
/// with AssumeRole, nothing saved.
async fn validate_role(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    let mut checks = Vec::new();
    for (index, entry) in entries(&body, "accounts")?.iter().enumerate() {
        let account_id = entry_account(index, entry)?;
        let mut check = json!({ "account_id": account_id });
        for field in ["saved_credentials", "role_arn", "external_id"] {
            if let Some(value) = entry.get(field).filter(|v| !v.is_null()) {
                check[field] = value.clone();
            }
        }
        checks.push(check);
    }
    let request: ValidateRolesRequest = parse(json!({ "accounts": checks }))?;
    let checked = service::usecases::role_checks::validate_roles(
        &state.store,
        &state.verifier,
        state.settings.concurrency,
        &auth.caller.tenant,
        request,
    )
    .await?;
    let results: Vec<Value> = checked
        .results
        .iter()
        .map(|result| {
            let ok = result.verification_status == service::account::VerificationStatus::Success;
            json!({
                "cloud_provider_account_id": result.account_id,
                "cloud_provider": "AWS",
                "validation_status": ok,
                "validation_code": result.verification_code,
                "validation_message": if ok { "" } else { result.verification_message.as_str() },
            })
        })
        .collect();
    Ok(Json(json!(results)))
}

/// `POST .../account_actions` (scope execute; `SYNC_INVENTORY` scans each
/// account's attached data sources): 202 when every account was queued,
/// else 200 with each account's result.
async fn actions(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    Path(org_key): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    let request: AccountActionRequest = parse(Value::Object(body))?;
    let response = state
        .scanning()
        .account_action(&auth.caller.tenant, &auth.caller.key_id, request)
        .await?;
    if response.accepted == response.results.len() {
        let follow_up = format!("/orgs/{org_key}/accounts/_search");
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "follow_up_api": follow_up,
                "message": "Sync action initiated successfully",
                "success": true,
            })),
        )
            .into_response());
    }
    let results: Vec<Value> = response
        .results
        .iter()
        .map(|result| {
            json!({
                "cloud_provider_account_id": result.account_id,
                "cloud_provider": "AWS",
                "regions": result.regions,
                "action_status": result.action_status,
                "action_message": result.action_message,
            })
        })
        .collect();
    Ok(Json(json!([{ "count": results.len(), "result": results }])).into_response())
}

/// `GET .../accounts/{id}/regions`: each of the account's regions with
/// its inventory sync (the last scan's outcome there). This service sets
/// up no event channel: `event_channel.connected` is false.
async fn regions(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((org_key, provider, account_id)): Path<(String, String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    check_org(&auth.caller.tenant, &org_key)?;
    check_provider("cloud_provider", &provider)?;
    let statuses = state
        .store
        .account_regions(&auth.caller.tenant, &account_id)
        .await?
        .statuses();
    let regions: Vec<Value> = statuses
        .into_iter()
        .map(|region| {
            json!({
                "id": region.id,
                "name": region.name,
                "event_channel": {
                    "template_version": null,
                    "connected": false,
                    "last_connected_time": null,
                    "create_time": null,
                    "update_time": null,
                },
                "inventory_sync": {
                    "status": region.inventory_sync.status,
                    "message": region.inventory_sync.message.unwrap_or_default(),
                    "code": region.inventory_sync.code.unwrap_or_default(),
                    "synced_by": region.inventory_sync.synced_by,
                    "last_sync_time": region.inventory_sync.last_sync_time,
                },
                "create_time": region.create_time,
                "created_by": region.created_by,
            })
        })
        .collect();
    Ok(Json(json!(regions)))
}

/// `GET .../cloud_providers/{cloud_provider}`: the regions and
/// environments, and the principal a customer's role trusts
/// (`aws_collector_arn`). For a key that may create accounts, also the
/// external ID reserved for it (`external_id`, kept 30 days): a role made
/// with it verifies at once once the account is created with it.
async fn provider(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(provider): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_provider("cloud_provider", &provider)?;
    let principal = state.vendor_principal().await?;
    let mut trust = json!({
        "aws_collector_arn": principal,
        "shell_script_url": null,
        "powershell_script_url": null,
    });
    if auth.caller.scopes.contains(&Scope::Write) {
        trust["external_id"] = json!(
            state
                .store
                .reserve_external_id(&auth.caller.tenant, &auth.caller.key_id)
                .await?
        );
    }
    let regions: Vec<Value> = REGIONS
        .iter()
        .map(|region| json!({"id": region.id, "name": region.name}))
        .collect();
    Ok(Json(json!({
        "environments": Environment::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "onboarding_powershell_script_url": null,
        "onboarding_shell_script_url": null,
        "regions": regions,
        "trust_relationship_setup_details": trust,
    })))
}

/// An error as Carbon Black answers one: `{"message", "success": false}`
/// for a 401, else `{"error_code", "follow_up_api": null, "message",
/// "success": false}`; the status unchanged but for a 5xx other than 503,
/// which is a 500.
pub fn error(status: StatusCode, refusal: Option<&Refusal>) -> (StatusCode, Value) {
    let status = super::product_status(status);
    let message = match refusal {
        Some(refusal) => {
            let message = super::rename_words(
                &refusal.message,
                &[
                    ("account_id", "cloud_provider_account_id"),
                    ("last_verified_at", "credential.last_verified_time"),
                    ("updated_at", "last_updated_time"),
                ],
            );
            super::after_field(refusal.field.as_deref().map(in_carbon_black_terms), message)
        }
        None => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    if status == StatusCode::UNAUTHORIZED {
        return (status, json!({"message": message, "success": false}));
    }
    let code = match (status.as_u16(), refusal) {
        (403, _) => "FORBIDDEN".to_string(),
        (500, _) => "INTERNAL_SERVER_ERROR".to_string(),
        (_, Some(refusal)) => refusal.code.to_ascii_uppercase(),
        (_, None) => status
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace(' ', "_"),
    };
    (
        status,
        json!({"error_code": code, "follow_up_api": null, "message": message, "success": false}),
    )
}

/// A field of ours by Carbon Black's name (`accounts[0].role_arn` is
/// `[0].role_arn`: its bulk bodies are bare lists).
fn in_carbon_black_terms(field: &str) -> String {
    let field = field
        .strip_prefix("accounts")
        .filter(|rest| rest.starts_with('['))
        .unwrap_or(field);
    let (prefix, last) = match field.rfind('.') {
        Some(at) if field.starts_with('[') => (&field[..=at], &field[at + 1..]),
        _ => ("", field),
    };
    let renamed = FIELDS
        .iter()
        .find(|(ours, _)| *ours == last)
        .map(|(_, theirs)| *theirs)
        .unwrap_or(last);
    format!("{prefix}{renamed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn documented() -> Value {
        json!({
            "cloud_provider_account_id": "123456789012",
            "cloud_provider": "AWS",
            "name": "AWS Account 1",
            "owner_name": "Test",
            "owner_email": "test@testorg.com",
            "environment": "DEV",
            "credential": {"role_arn": "arn:aws:iam::123456789012:role/CarbonBlack", "external_id": "QWERTY"},
            "regions": ["us-east-1", "us-east-2"],
            "created_by": "someone",
            "event_stream_status": "ENABLED",
        })
    }

    #[test]
    fn the_documented_account_becomes_a_v1_body_and_its_external_id_is_set_apart() {
        let (v1, external_id) = to_v1(&object(documented())).unwrap();
        assert_eq!(
            Value::Object(v1),
            json!({
                "account_id": "123456789012",
                "name": "AWS Account 1",
                "owner_name": "Test",
                "owner_email": "test@testorg.com",
                "environment": "DEV",
                "regions": ["us-east-1", "us-east-2"],
                "role_arn": "arn:aws:iam::123456789012:role/CarbonBlack",
                "labels": {"carbonblack:event_stream_status": "ENABLED"},
            })
        );
        assert_eq!(external_id.as_deref(), Some("QWERTY"));
    }

    #[test]
    fn the_documents_required_fields_and_values_are_held() {
        for (field, value) in [
            ("cloud_provider_account_id", Value::Null),
            ("cloud_provider", json!("GCP")),
            ("name", Value::Null),
            ("owner_email", json!(5)),
            ("regions", json!("us-east-1")),
            ("credential", Value::Null),
            ("event_stream_status", json!("ON")),
        ] {
            let mut body = documented();
            body[field] = value;
            let refused = to_v1(&object(body)).unwrap_err();
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}");
            assert!(refused.field.as_deref().unwrap().contains(field), "{field}");
        }
    }

    #[test]
    fn searches_read_as_v1_searches() {
        let body = object(json!({
            "start": 0, "rows": 0,
            "criteria": {
                "name": ["AWS Account 1"], "cloud_provider": ["AWS"],
                "cloud_provider_account_id": ["123456789012"],
                "credential.verification_status": ["IN_PROGRESS", "SUCCESS"],
                "environment": ["DEV", "PROD"],
            },
            "sort": [{"field": "credential.last_verified_time", "order": "ASC"}],
        }));
        let (request, aws) = search_request(&body, false).unwrap();
        assert!(aws);
        assert_eq!(request.rows, Some(100));
        assert_eq!(
            request.criteria.verification_status.values(),
            ["IN_PROGRESS", "SUCCESS"]
        );
        assert_eq!(request.criteria.account_id.values(), ["123456789012"]);
        assert_eq!(
            request.sort[0].field,
            service::search::SearchSortField::LastVerifiedAt
        );
        let (every, _) = search_request(&body, true).unwrap();
        assert_eq!(every.rows, None);
        let (_, aws) = search_request(
            &object(json!({"criteria": {"cloud_provider": "GCP"}})),
            false,
        )
        .unwrap();
        assert!(!aws);
        for bad in [
            json!({"criteria": {"owner": ["x"]}}),
            json!({"sort": [{"field": "secret"}]}),
            json!({"sort": [{"field": "name", "order": "up"}]}),
        ] {
            assert!(
                search_request(&object(bad.clone()), false).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_are_carbon_blacks() {
        let refusal = Refusal {
            code: "external_id_not_reserved",
            message: "cannot be chosen".into(),
            field: Some("external_id".into()),
        };
        assert_eq!(
            error(StatusCode::BAD_REQUEST, Some(&refusal)),
            (
                StatusCode::BAD_REQUEST,
                json!({"error_code": "EXTERNAL_ID_NOT_RESERVED", "follow_up_api": null, "message": "credential.external_id: cannot be chosen", "success": false})
            )
        );
        let (status, body) = error(StatusCode::UNAUTHORIZED, None);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"message": "Unauthorized", "success": false}));
        assert_eq!(
            error(StatusCode::FORBIDDEN, None).1["error_code"],
            "FORBIDDEN"
        );
        assert_eq!(
            error(StatusCode::BAD_GATEWAY, None).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            in_carbon_black_terms("accounts[2].account_id"),
            "[2].cloud_provider_account_id"
        );
        assert_eq!(
            in_carbon_black_terms("criteria.account_id"),
            "criteria.cloud_provider_account_id"
        );
        assert_eq!(in_carbon_black_terms("accounts"), "accounts");
    }

    #[test]
    fn a_download_cell_is_inert_in_a_spreadsheet() {
        let mut account = Account::register(
            "123456789012".into(),
            service::account::AccountFields {
                name: "=HYPERLINK(\"x\")".into(),
                regions: vec!["us-east-1".into(), "eu-west-1".into()],
                ..Default::default()
            },
            "key",
            service::time::Timestamp::now(),
        );
        account.fields.owner_name = Some("@ops".into());
        let text = download_csv("acme", &[account]).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], DOWNLOAD_COLUMNS.join(","));
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1]
                .starts_with("acme,123456789012,AWS,us-east-1,\"'=HYPERLINK(\"\"x\"\")\",'@ops,"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].split(',').count(), 30, "{}", lines[1]);
    }
}
