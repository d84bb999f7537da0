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

use crate::auth::{Auth, Read, Write};
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
use service::products::risken_project_id;

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
            .route(&format!("/api/v1/aws/delete-aws{slash}"), post(delete_aws));
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
        (Some(aws_id), _) => {
            let found = match u32::try_from(aws_id) {
                Ok(aws_id) => state.store.account_by_risken_id(tenant, aws_id).await?,
                Err(_) => None,
            };
            found.into_iter().collect()
        }
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
    let found = match u32::try_from(aws_id) {
        Ok(aws_id) => state.store.account_by_risken_id(tenant, aws_id).await?,
        Err(_) => None,
    };
    if let Some(account) = found {
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

/// An error as RISKEN answers one: `{"error": "..."}` with our status
/// (a 5xx other than 503 is a 500).
pub fn error(status: StatusCode, refusal: Option<&Refusal>) -> (StatusCode, Value) {
    let status = match status.as_u16() {
        400..=499 | 503 => status,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match refusal {
        Some(refusal) => match &refusal.field {
            Some(field) if !refusal.message.starts_with(field.as_str()) => {
                format!("{field}: {}", refusal.message)
            }
            _ => refusal.message.clone(),
        },
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
