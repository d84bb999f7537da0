//! Cloudcraft's AWS accounts (`/aws/account`), as its developer API and
//! its guide "Add AWS accounts via the Cloudcraft API" describe them:
//! `Authorization: Bearer <key>`, camelCase, RFC 3339 times,
//! `{"accounts": [...]}`, errors as `{"statusCode", "error", "message"}`.
//!
//! Cloudcraft hands out the external ID before any account exists
//! (`GET /aws/account/iamParameters`); here it is reserved for the calling
//! key and bound to the account that key registers next, so the role the
//! customer made with it verifies at once. The account id is read from the
//! role ARN; Cloudcraft's `region` (where the account is checked from) is
//! the label `cloudcraft:region`.

use super::echo;
use crate::auth::{Auth, Read, Write};
use crate::body::JsonObject;
use crate::error::{ApiError, Refusal};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use service::account::Account;
use service::ids::AccountId;
use service::products::Product;

/// The label that keeps Cloudcraft's `region`.
pub const REGION_LABEL: &str = "cloudcraft:region";
/// Accounts one list answers with (Cloudcraft's list has no paging).
pub const MAX_LISTED: usize = 1000;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for slash in ["", "/"] {
        router = router
            .route(&format!("/aws/account{slash}"), get(list).post(create))
            .route(
                &format!("/aws/account/iamParameters{slash}"),
                get(iam_parameters),
            )
            .route(
                &format!("/aws/account/{{id}}{slash}"),
                get(read).put(replace).delete(remove),
            );
    }
    router
}

/// The account as Cloudcraft shows it. The role is the one asked for last
/// (pending while it has not verified), so a client reads back what it
/// wrote.
pub fn cloudcraft_account(account: &Account) -> Value {
    let role = account
        .pending_role_arn
        .as_ref()
        .or(account.fields.role_arn.as_ref());
    json!({
        "id": account.product_id(Product::Cloudcraft).0,
        "name": account.fields.name,
        "roleArn": role,
        "externalId": account.external_id,
        "region": account.fields.labels.get(REGION_LABEL),
        "awsAccountId": account.account_id,
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    })
}

/// `GET /aws/account/iamParameters`: the vendor's account, the external ID
/// reserved for this key (the same until an account takes it) and a
/// quick-create link for the role.
async fn iam_parameters(
    auth: Auth<Write>,
    State(state): State<AppState>,
    base: crate::PublicBase,
) -> Result<Json<Value>, ApiError> {
    let external_id = state
        .store
        .reserve_external_id(&auth.caller.tenant, &auth.caller.key_id)
        .await?;
    let partition = service::partitions::COMMERCIAL;
    let principal = state.principal_in(partition).await?;
    let role_name = state.settings.role_name.clone();
    let console_url = service::role_template::console_url(
        partition,
        &crate::trust::template_url_in(&state, &base, partition),
        &role_name,
        &external_id,
        &principal,
    );
    Ok(Json(json!({
        "accountId": crate::trust::principal_account(&principal),
        "externalId": external_id,
        "awsConsoleUrl": console_url,
    })))
}

/// `GET /aws/account`: `{"accounts": [...]}`, the first
/// [`MAX_LISTED`] by account id.
async fn list(auth: Auth<Read>, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let request = service::listing::ListRequest {
        limit: MAX_LISTED,
        ..Default::default()
    };
    let page = state
        .store
        .list_accounts(&auth.caller.tenant, &request)
        .await?;
    let accounts: Vec<Value> = page.items.iter().map(cloudcraft_account).collect();
    Ok(Json(json!({ "accounts": accounts })))
}

/// A Cloudcraft body as the `/v1` body the use cases read.
fn to_v1(body: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut v1 = Map::new();
    if let Some(name) = body.get("name") {
        v1.insert("name".into(), name.clone());
    }
    if let Some(role) = body.get("roleArn") {
        v1.insert("role_arn".into(), role.clone());
    }
    match body.get("region") {
        None | Some(Value::Null) => {}
        Some(Value::String(region)) if service::regions::find(region).is_some() => {
            v1.insert("labels".into(), json!({ REGION_LABEL: region }));
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_value",
                Some("region".into()),
                format!(
                    "region must be an AWS region id such as us-east-1, got {}",
                    echo(&other.to_string())
                ),
            ))
        }
    }
    Ok(v1)
}

/// The account id in a role ARN (`arn:<partition>:iam::<12 digits>:role/...`).
fn account_of_role(role: Option<&Value>) -> Result<String, ApiError> {
    let refused = || {
        ApiError::bad_request(
            "invalid_value",
            Some("roleArn".into()),
            "roleArn is required: the ARN of the role created in the account, arn:aws:iam::<12-digit account id>:role/<name>",
        )
    };
    let role = role.and_then(Value::as_str).ok_or_else(refused)?;
    let account = role.split(':').nth(4).ok_or_else(refused)?;
    AccountId::parse("roleArn", account.to_string())
        .map(AccountId::into_string)
        .map_err(|_| refused())
}

/// `POST /aws/account`: `{"name", "roleArn", "region"}`; 201 with the account.
async fn create(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let account_id = account_of_role(body.get("roleArn"))?;
    let mut v1 = to_v1(&body)?;
    v1.insert("account_id".into(), json!(account_id));
    let account = state
        .accounts()
        .register_reserved(&auth.caller.tenant, &auth.caller.key_id, v1, None)
        .await?;
    Ok((StatusCode::CREATED, Json(cloudcraft_account(&account))).into_response())
}

/// The account a Cloudcraft id names in this tenant, or a 404.
async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Account, ApiError> {
    super::find_by_product_id(state, tenant, Product::Cloudcraft, id, "AWS account").await
}

/// `GET /aws/account/{id}`.
async fn read(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = find(&state, &auth.caller.tenant, &id).await?;
    Ok(Json(cloudcraft_account(&account)))
}

/// `PUT /aws/account/{id}`: the fields sent change, the others stay.
async fn replace(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let account = find(&state, &auth.caller.tenant, &id).await?;
    let account_id = AccountId::parse("id", account.account_id.clone())?;
    let account = state
        .accounts()
        .patch(
            &auth.caller.tenant,
            &auth.caller.key_id,
            &account_id,
            to_v1(&body)?,
            None,
        )
        .await?;
    Ok(Json(cloudcraft_account(&account)))
}

/// `DELETE /aws/account/{id}`: 204; an id that names nothing is a 404.
async fn remove(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = find(&state, &auth.caller.tenant, &id).await?;
    let account_id = AccountId::parse("id", account.account_id.clone())?;
    state
        .accounts()
        .delete(&auth.caller.tenant, &account_id, false, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An error as Cloudcraft answers one (its API's Boom-style objects):
/// `{"statusCode", "error", "message"}` with the status unchanged, but a
/// 202 (never given) and any 5xx other than 503 are 500.
pub fn error(status: StatusCode, refusal: Option<&Refusal>) -> (StatusCode, Value) {
    let status = super::product_status(status);
    let reason = status.canonical_reason().unwrap_or("Error");
    let message = match refusal {
        Some(refusal) => {
            let message = in_cloudcraft_terms(&refusal.message);
            match refusal.field.as_deref().map(in_cloudcraft_terms) {
                Some(field) if !message.starts_with(&field) => format!("{field}: {message}"),
                _ => message,
            }
        }
        None => reason.to_string(),
    };
    (
        status,
        json!({"statusCode": status.as_u16(), "error": reason, "message": message}),
    )
}

/// Our field names in a message, as Cloudcraft names them.
fn in_cloudcraft_terms(text: &str) -> String {
    super::rename_words(text, &[("role_arn", "roleArn")])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_body_becomes_the_v1_body_with_the_region_as_a_label() {
        let body = object(
            json!({"name": "prod", "roleArn": "arn:aws:iam::123456789012:role/cloudcraft", "region": "eu-west-1", "x": 1}),
        );
        assert_eq!(
            Value::Object(to_v1(&body).unwrap()),
            json!({"name": "prod", "role_arn": "arn:aws:iam::123456789012:role/cloudcraft", "labels": {"cloudcraft:region": "eu-west-1"}})
        );
        let err = to_v1(&object(json!({"region": "mars-1"}))).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("region"));
        assert!(to_v1(&object(json!({"region": 7}))).is_err());
    }

    #[test]
    fn the_account_comes_from_the_role_arn() {
        let role = json!("arn:aws:iam::123456789012:role/cloudcraft");
        assert_eq!(account_of_role(Some(&role)).unwrap(), "123456789012");
        for bad in [
            json!("cloudcraft"),
            json!("arn:aws:iam::12:role/x"),
            json!(5),
        ] {
            let err = account_of_role(Some(&bad)).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("roleArn"), "{bad}");
        }
        assert!(account_of_role(None).is_err());
    }

    #[test]
    fn errors_are_boom_objects_and_never_202() {
        let refusal = Refusal {
            code: "invalid_value",
            message: "role_arn must be a role in account 123456789012".into(),
            field: Some("role_arn".into()),
        };
        assert_eq!(
            error(StatusCode::BAD_REQUEST, Some(&refusal)),
            (
                StatusCode::BAD_REQUEST,
                json!({"statusCode": 400, "error": "Bad Request", "message": "roleArn must be a role in account 123456789012"})
            )
        );
        assert_eq!(
            error(StatusCode::NOT_FOUND, None).1,
            json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"})
        );
        assert_eq!(
            error(StatusCode::ACCEPTED, None).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
