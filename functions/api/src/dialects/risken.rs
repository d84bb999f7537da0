//! RISKEN's AWS API (`/api/v1/aws/...`), as its document describes it:
//! `Authorization: Bearer <token>`, `{"data": ...}`, numeric ids
//! (`project_id`, `aws_id`), Unix-second times, `{"error": "..."}`.
//!
//! A tenant is one RISKEN project: its `project_id` is derived from the
//! tenant ([`risken_project_id`]) and every request must name it (another
//! project is a 404, never another tenant's data); `GET
//! /api/v1/project/list-project/` tells a client its number. An account's
//! `aws_id` is allocated the first time RISKEN's API meets it (a
//! per-tenant sequence, kept on the account, never reused).

use crate::auth::{Auth, Execute, Read, Write};
use crate::body::JsonObject;
use crate::error::{ApiError, Refusal};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use service::account::Account;
use service::ids::AccountId;
use service::ids::DataSourceName;
use service::products::{risken_data_source_id, risken_project_id};
use service::scans::{AttachRequest, Attachment, AttachmentStatus, DataSource};

/// Accounts one list answers with (RISKEN's list has no paging).
pub const MAX_LISTED: usize = 1000;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for slash in ["", "/"] {
        router = router
            .route(&format!("/api/v1/signin{slash}"), get(signin).post(signin))
            .route(
                &format!("/api/v1/project/list-project{slash}"),
                get(list_project),
            )
            .route(&format!("/api/v1/aws/list-aws{slash}"), get(list_aws))
            .route(&format!("/api/v1/aws/put-aws{slash}"), post(put_aws))
            .route(&format!("/api/v1/aws/delete-aws{slash}"), post(delete_aws))
            .route(
                &format!("/api/v1/aws/list-datasource{slash}"),
                get(list_datasource),
            )
            .route(
                &format!("/api/v1/aws/attach-datasource{slash}"),
                post(attach_datasource),
            )
            .route(
                &format!("/api/v1/aws/detach-datasource{slash}"),
                post(detach_datasource),
            )
            .route(
                &format!("/api/v1/aws/invoke-scan{slash}"),
                post(invoke_scan),
            );
    }
    router
}

fn data(value: Value) -> Json<Value> {
    Json(json!({ "data": value }))
}

fn unix(at: service::time::Timestamp) -> i64 {
    at.datetime().timestamp()
}

/// The project a request names must be the caller's: else a 404.
fn check_project(tenant: &str, named: Option<&Value>) -> Result<u32, ApiError> {
    let project = risken_project_id(tenant);
    match named.and_then(Value::as_u64) {
        Some(id) if id == u64::from(project) => Ok(project),
        Some(_) => Err(ApiError::not_found("no such project")),
        None => Err(ApiError::bad_request(
            "invalid_value",
            Some("project_id".into()),
            "project_id is required: a number (GET /api/v1/project/list-project/ gives yours)",
        )),
    }
}

/// The AWS object of `account`.
fn aws(account: &Account, aws_id: u32, project_id: u32) -> Value {
    json!({
        "aws_id": aws_id,
        "name": account.fields.name,
        "project_id": project_id,
        "aws_account_id": account.account_id,
        "created_at": unix(account.created_at),
        "updated_at": unix(account.updated_at),
    })
}

/// `GET|POST /api/v1/signin`: whether the token is good (RISKEN's clients
/// sign in before they call); `{"data": {"project_id"}}`.
async fn signin(auth: Auth<Read>) -> Json<Value> {
    data(json!({ "project_id": risken_project_id(&auth.caller.tenant) }))
}

/// `GET /api/v1/project/list-project/`: the caller's one project.
async fn list_project(auth: Auth<Read>) -> Json<Value> {
    let tenant = &auth.caller.tenant;
    data(json!({"project": [{
        "project_id": risken_project_id(tenant),
        "name": tenant,
    }]}))
}

#[derive(Debug, Deserialize)]
pub struct ListAwsQuery {
    project_id: Option<String>,
    aws_id: Option<String>,
    aws_account_id: Option<String>,
}

fn number(field: &str, text: Option<&str>) -> Result<Option<u64>, ApiError> {
    text.filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_value",
                    Some(field.to_string()),
                    format!("{field} must be a number"),
                )
            })
        })
        .transpose()
}

/// `GET /api/v1/aws/list-aws/`: the project's accounts (the first
/// [`MAX_LISTED`] by account id), or those `aws_id` or `aws_account_id`
/// name.
async fn list_aws(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Query(query): Query<ListAwsQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    let project = number("project_id", query.project_id.as_deref())?.map(|id| json!(id));
    let project = check_project(tenant, project.as_ref())?;
    let aws_id = number("aws_id", query.aws_id.as_deref())?;
    let accounts: Vec<Account> = match (aws_id, query.aws_account_id.as_deref()) {
        (Some(aws_id), _) => find(&state, tenant, aws_id).await?.into_iter().collect(),
        (None, Some(account_id)) if !account_id.is_empty() => {
            let account_id = AccountId::parse("aws_account_id", account_id.to_string())?;
            state
                .store
                .get_account(tenant, &account_id)
                .await?
                .into_iter()
                .collect()
        }
        _ => {
            let request = service::listing::ListRequest {
                limit: MAX_LISTED,
                ..Default::default()
            };
            state.store.list_accounts(tenant, &request).await?.items
        }
    };
    let mut listed = Vec::with_capacity(accounts.len());
    for account in &accounts {
        let aws_id = state.store.risken_aws_id(tenant, account).await?;
        listed.push(aws(account, aws_id, project));
    }
    Ok(data(json!({ "aws": listed })))
}

/// `POST /api/v1/aws/put-aws/`: register the account, or rename it if it
/// is registered; `{"data": {"aws": ...}}`.
async fn put_aws(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    let project = check_project(tenant, body.get("project_id"))?;
    let Some(Value::Object(fields)) = body.get("aws") else {
        return Err(ApiError::bad_request(
            "invalid_value",
            Some("aws".into()),
            "aws is required: {\"name\", \"project_id\", \"aws_account_id\"}",
        ));
    };
    check_project(tenant, fields.get("project_id"))?;
    let account_id = match fields.get("aws_account_id") {
        Some(Value::String(id)) => AccountId::parse("aws_account_id", id.clone())?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some("aws.aws_account_id".into()),
                "aws.aws_account_id is required: the 12-digit AWS account id",
            ))
        }
    };
    let mut v1 = Map::new();
    if let Some(name) = fields.get("name") {
        v1.insert("name".into(), name.clone());
    }
    let accounts = state.accounts();
    let account = match state.store.get_account(tenant, &account_id).await? {
        Some(_) => {
            accounts
                .patch(tenant, &auth.caller.key_id, &account_id, v1, None)
                .await?
        }
        None => {
            v1.insert("account_id".into(), json!(account_id.as_str()));
            match accounts
                .register(tenant, &auth.caller.key_id, v1.clone())
                .await
            {
                // Registered meanwhile by another request: rename it.
                Err(service::Error::AlreadyExists { .. }) => {
                    v1.remove("account_id");
                    accounts
                        .patch(tenant, &auth.caller.key_id, &account_id, v1, None)
                        .await?
                }
                other => other?,
            }
        }
    };
    let aws_id = state.store.risken_aws_id(tenant, &account).await?;
    Ok(data(json!({ "aws": aws(&account, aws_id, project) })))
}

/// `POST /api/v1/aws/delete-aws/`: `{"data": {}}`, also when the `aws_id`
/// names nothing (deleting is idempotent).
async fn delete_aws(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    check_project(tenant, body.get("project_id"))?;
    let aws_id = body.get("aws_id").and_then(Value::as_u64).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_value",
            Some("aws_id".into()),
            "aws_id is required: the number list-aws gives the account",
        )
    })?;
    if let Some(account) = find(&state, tenant, aws_id).await? {
        let account_id = AccountId::parse("aws_id", account.account_id)?;
        match state
            .accounts()
            .delete(tenant, &account_id, false, None)
            .await
        {
            Ok(()) | Err(service::Error::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(data(json!({})))
}

/// RISKEN's numeric status of an attachment.
fn status_number(status: AttachmentStatus) -> u8 {
    match status {
        AttachmentStatus::Ok => 1,
        AttachmentStatus::Configured => 2,
        AttachmentStatus::InProgress => 3,
        AttachmentStatus::Error => 4,
    }
}

/// A data source as RISKEN shows it: the catalogue's entry, and for an
/// account what is attached (the role and external ID it scans with).
fn data_source_object(
    source: &DataSource,
    project: u32,
    account: Option<(&Account, u32)>,
    attachment: Option<&Attachment>,
) -> Value {
    let mut object = json!({
        "aws_data_source_id": risken_data_source_id(&source.name),
        "data_source": source.name,
        "max_score": source.max_score,
        "project_id": project,
    });
    if let Some((account, aws_id)) = account {
        object["aws_id"] = json!(aws_id);
        if let Some(attachment) = attachment {
            object["assume_role_arn"] = json!(attachment
                .role_arn
                .as_ref()
                .or(account.fields.role_arn.as_ref()));
            object["external_id"] = json!(attachment
                .external_id
                .as_deref()
                .unwrap_or(account.external_id_to_deploy()));
            object["status"] = json!(status_number(attachment.status));
            object["status_detail"] = json!(attachment.status_detail.clone().unwrap_or_default());
            object["scan_at"] = json!(attachment.scan_at.map(unix).unwrap_or(0));
            object["specific_version"] =
                json!(attachment.specific_version.clone().unwrap_or_default());
            object["created_at"] = json!(unix(attachment.created_at));
            object["updated_at"] = json!(unix(attachment.updated_at));
        }
    }
    object
}

#[derive(Debug, Deserialize)]
pub struct ListDataSourceQuery {
    project_id: Option<String>,
    aws_id: Option<String>,
    data_source: Option<String>,
}

/// `GET /api/v1/aws/list-datasource/`: the data sources offered, and with
/// `aws_id` what is attached to that account.
async fn list_datasource(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Query(query): Query<ListDataSourceQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    let project = number("project_id", query.project_id.as_deref())?.map(|id| json!(id));
    let project = check_project(tenant, project.as_ref())?;
    let wanted = |source: &&DataSource| match query.data_source.as_deref() {
        None | Some("") => true,
        Some(name) => source.name == name,
    };
    let sources = state.catalogue.all().iter().filter(wanted);
    let listed: Vec<Value> = match number("aws_id", query.aws_id.as_deref())? {
        None => sources
            .map(|source| data_source_object(source, project, None, None))
            .collect(),
        Some(aws_id) => {
            let Some(account) = find(&state, tenant, aws_id).await? else {
                return Ok(data(json!({ "data_source": [] })));
            };
            let aws_id = aws_id as u32;
            let (_, attachments) = state
                .store
                .account_attachments(tenant, &account.account_id)
                .await?;
            sources
                .map(|source| {
                    let attached = attachments.iter().find(|a| a.data_source == source.name);
                    data_source_object(source, project, Some((&account, aws_id)), attached)
                })
                .collect()
        }
    };
    Ok(data(json!({ "data_source": listed })))
}

/// The account `aws_id` names, if any.
async fn find(state: &AppState, tenant: &str, aws_id: u64) -> Result<Option<Account>, ApiError> {
    Ok(match u32::try_from(aws_id) {
        Ok(aws_id) => state.store.account_by_risken_id(tenant, aws_id).await?,
        Err(_) => None,
    })
}

/// The account and data source a body's `aws_id` and `aws_data_source_id`
/// name, or a 404 saying which is missing.
async fn account_and_source(
    state: &AppState,
    tenant: &str,
    body: &Map<String, Value>,
) -> Result<(Account, u32, DataSource), ApiError> {
    let id = |field: &str| {
        body.get(field).and_then(Value::as_u64).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_value",
                Some(field.to_string()),
                format!("{field} is required: a number"),
            )
        })
    };
    let (aws_id, source_id) = (id("aws_id")?, id("aws_data_source_id")?);
    let account = find(state, tenant, aws_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no AWS account with aws_id {aws_id}")))?;
    let source = state
        .catalogue
        .all()
        .iter()
        .find(|source| u64::from(risken_data_source_id(&source.name)) == source_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no data source with aws_data_source_id {source_id} (list-datasource gives them)"
            ))
        })?;
    Ok((account, aws_id as u32, source))
}

/// `POST /api/v1/aws/attach-datasource/`: attach (or change) a data
/// source. The role may be the account's or one of its own in the same
/// account; the external ID is the server's: one sent must be the one the
/// role is guarded by (the account's, or the attachment's own), and an
/// empty one asks for it. `status`, `status_detail` and `scan_at` are the
/// scanner's to say, not the caller's, and are left as they are.
async fn attach_datasource(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    let project = check_project(tenant, body.get("project_id"))?;
    let Some(Value::Object(attach)) = body.get("attach_data_source") else {
        return Err(ApiError::bad_request(
            "invalid_value",
            Some("attach_data_source".into()),
            "attach_data_source is required: {\"aws_id\", \"aws_data_source_id\", \"project_id\", \"assume_role_arn\", \"external_id\"}",
        ));
    };
    check_project(tenant, attach.get("project_id"))?;
    let (account, aws_id, source) = account_and_source(&state, tenant, attach).await?;
    let text = |field: &str| {
        attach
            .get(field)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let role = text("assume_role_arn").map(str::to_string);
    let own_role = role
        .as_deref()
        .filter(|role| Some(*role) != account.fields.role_arn.as_deref());
    if let Some(chosen) = text("external_id") {
        let current = state
            .store
            .account_attachments(tenant, &account.account_id)
            .await?
            .1
            .into_iter()
            .find(|a| a.data_source == source.name);
        let guarded = match own_role {
            None => account.owns_external_id(chosen),
            Some(_) => current.and_then(|a| a.external_id).as_deref() == Some(chosen),
        };
        if !guarded {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some("external_id".into()),
                "the external ID is generated by this service and cannot be chosen: send the one list-datasource (or list-aws's account) shows, or an empty one to have a role of its own given one",
            ));
        }
    }
    let request = AttachRequest {
        role_arn: own_role.map(str::to_string),
        specific_version: text("specific_version").map(str::to_string),
        ..Default::default()
    };
    let account_id = AccountId::parse("aws_id", account.account_id.clone())?;
    let name = DataSourceName::parse("aws_data_source_id", source.name.clone())?;
    let attached = state
        .scanning()
        .attach(tenant, &account_id, &name, request, &auth.caller.key_id)
        .await?;
    let object = data_source_object(
        &source,
        project,
        Some((&account, aws_id)),
        Some(&attached.attachment),
    );
    Ok(data(json!({ "data_source": object })))
}

/// `POST /api/v1/aws/detach-datasource/`: `{"data": {}}`, also when it was
/// not attached.
async fn detach_datasource(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    check_project(tenant, body.get("project_id"))?;
    let (account, _, source) = account_and_source(&state, tenant, &body).await?;
    match state
        .store
        .delete_attachment(tenant, &account.account_id, &source.name)
        .await
    {
        Ok(_) | Err(service::Error::NotFound { .. }) => Ok(data(json!({}))),
        Err(err) => Err(err.into()),
    }
}

/// `POST /api/v1/aws/invoke-scan/`: queue a scan (scope execute); 200
/// `{"data": {}}` as documented (the scan runs after the answer).
async fn invoke_scan(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let tenant = &auth.caller.tenant;
    check_project(tenant, body.get("project_id"))?;
    let (account, _, source) = account_and_source(&state, tenant, &body).await?;
    let scan_only = match body.get("scan_only") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some("scan_only".into()),
                "scan_only must be true or false",
            ))
        }
    };
    let account_id = AccountId::parse("aws_id", account.account_id.clone())?;
    let name = DataSourceName::parse("aws_data_source_id", source.name.clone())?;
    let request = service::usecases::scans::ScanRequest {
        scan_only,
        regions: None,
    };
    state
        .scanning()
        .start(tenant, &account_id, &name, request, &auth.caller.key_id)
        .await?;
    Ok(data(json!({})))
}

/// An error as RISKEN answers one: `{"error": "..."}` with our status
/// (a 5xx other than 503 is a 500).
pub fn error(status: StatusCode, refusal: Option<&Refusal>) -> (StatusCode, Value) {
    let status = super::product_status(status);
    let message = match refusal {
        Some(refusal) => super::after_field(refusal.field.clone(), refusal.message.clone()),
        None => status.canonical_reason().unwrap_or("error").to_string(),
    };
    (status, json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_the_callers_project() {
        let project = risken_project_id("acme");
        assert_eq!(
            check_project("acme", Some(&json!(project))).unwrap(),
            project
        );
        let other = check_project("acme", Some(&json!(risken_project_id("other")))).unwrap_err();
        assert_eq!(other.status, StatusCode::NOT_FOUND);
        let missing = check_project("acme", None).unwrap_err();
        assert_eq!(missing.field.as_deref(), Some("project_id"));
        assert!(check_project("acme", Some(&json!("1001"))).is_err());
    }

    #[test]
    fn errors_are_one_string() {
        let refusal = Refusal {
            code: "invalid_value",
            message: "must be a number".into(),
            field: Some("aws_id".into()),
        };
        assert_eq!(
            error(StatusCode::BAD_REQUEST, Some(&refusal)),
            (
                StatusCode::BAD_REQUEST,
                json!({"error": "aws_id: must be a number"})
            )
        );
        assert_eq!(
            error(StatusCode::NOT_IMPLEMENTED, None).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
