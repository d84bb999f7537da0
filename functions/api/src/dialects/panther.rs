//! Panther's cloud accounts (`/cloud-accounts/aws`), as its REST API
//! document describes them (the seed, served at
//! `/v1/dialects/panther/openapi.json`): `X-API-Key`, camelCase fields,
//! 201 on create, 204 on delete, `{"message": ...}` errors. An account is
//! found by its `integrationId`, which names the AWS account (one key
//! lookup) and is compared with the one stored on it.
//!
//! Panther's permissions map onto scopes: "View Cloud Security Sources" is
//! `read`, "Manage Cloud Security Sources" is `write`.

use crate::auth::{Auth, Read, Write};
use crate::body::JsonObject;
use crate::error::{ApiError, Refusal};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use service::account::Account;
use service::ids::AccountId;
use service::products::Product;

/// Panther's field names and ours, one pair per field the dialect maps.
const FIELDS: [(&str, &str); 6] = [
    ("awsAccountId", "account_id"),
    ("integrationLabel", "name"),
    ("awsScanConfig.auditRole", "role_arn"),
    ("regionIgnoreList", "region_ignore_list"),
    ("resourceTypeIgnoreList", "resource_type_ignore_list"),
    ("resourceRegexIgnoreList", "resource_regex_ignore_list"),
];

/// The three ignore lists: always arrays in an answer, emptied by a PUT
/// that leaves them out.
const LISTS: [&str; 3] = [
    "regionIgnoreList",
    "resourceTypeIgnoreList",
    "resourceRegexIgnoreList",
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for vendor in ["aws", "AWS"] {
        for slash in ["", "/"] {
            router = router
                .route(&format!("/cloud-accounts/{vendor}{slash}"), post(create))
                .route(
                    &format!("/cloud-accounts/{vendor}/{{id}}{slash}"),
                    get(read).put(replace).delete(remove),
                );
        }
    }
    router
}

/// The account as Panther shows it. The role is the one asked for last
/// (a pending one while it has not verified), so a client reads back what
/// it wrote.
pub fn cloud_account(account: &Account) -> Value {
    let fields = &account.fields;
    let role = account
        .pending_role_arn
        .as_ref()
        .or(fields.role_arn.as_ref());
    let mut scan_config = Map::new();
    if let Some(role) = role {
        scan_config.insert("auditRole".into(), json!(role));
    }
    json!({
        "awsAccountId": account.account_id,
        "awsScanConfig": scan_config,
        "integrationId": account.product_id(Product::Panther).0,
        "integrationLabel": fields.name,
        "regionIgnoreList": fields.region_ignore_list,
        "resourceTypeIgnoreList": fields.resource_type_ignore_list,
        "resourceRegexIgnoreList": fields.resource_regex_ignore_list,
    })
}

/// A Panther body as the `/v1` body the use cases read: Panther's fields
/// renamed, anything else left out (Panther's clients may send more).
/// `replace`: a PUT, which sets every field Panther has (an absent list
/// is empty, an absent role none) and leaves the others alone.
fn to_v1(body: &Map<String, Value>, replace: bool) -> Map<String, Value> {
    let mut v1 = Map::new();
    for (panther, ours) in FIELDS {
        let value = match panther.split_once('.') {
            Some((outer, inner)) => match body.get(outer) {
                Some(Value::Object(config)) => {
                    Some(config.get(inner).cloned().unwrap_or(Value::Null))
                }
                Some(other) => Some(other.clone()),
                None => None,
            },
            None => body.get(panther).cloned(),
        };
        let value = match value {
            Some(value) => value,
            None if replace && LISTS.contains(&panther) => json!([]),
            None => continue,
        };
        v1.insert(ours.to_string(), value);
    }
    v1
}

/// Panther's rule for `integrationLabel` (its document's pattern and
/// length), so that what is stored reads back valid by its document.
fn check_label(body: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(label) = body.get("integrationLabel") else {
        return Ok(());
    };
    let valid = label.as_str().is_some_and(|label| {
        !label.is_empty()
            && label.chars().count() <= 36
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ')
    });
    match valid {
        true => Ok(()),
        false => Err(ApiError::bad_request(
            "invalid_value",
            Some("integrationLabel".into()),
            "integrationLabel must be 1-36 letters, digits, spaces or hyphens",
        )),
    }
}

/// The account an integration id names in this tenant, or a 404.
async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Account, ApiError> {
    super::find_by_product_id(state, tenant, Product::Panther, id, "AWS cloud account").await
}

/// `POST /cloud-accounts/aws`: 201 with the account and its integrationId.
async fn create(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    check_label(&body)?;
    let account = state
        .accounts()
        .register(
            &auth.caller.tenant,
            &auth.caller.key_id,
            to_v1(&body, false),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(cloud_account(&account))).into_response())
}

/// `GET /cloud-accounts/aws/{id}`.
async fn read(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = find(&state, &auth.caller.tenant, &id).await?;
    Ok(Json(cloud_account(&account)))
}

/// `PUT /cloud-accounts/aws/{id}`: Panther's fields replaced, the others
/// (owner, labels, environment set through `/v1`) kept.
async fn replace(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    check_label(&body)?;
    let account = find(&state, &auth.caller.tenant, &id).await?;
    let mut patch = to_v1(&body, true);
    // The account id is immutable: the same one may be echoed.
    if patch.get("account_id") == Some(&json!(account.account_id)) {
        patch.remove("account_id");
    }
    let account_id = AccountId::parse("awsAccountId", account.account_id.clone())?;
    let account = state
        .accounts()
        .patch(
            &auth.caller.tenant,
            &auth.caller.key_id,
            &account_id,
            patch,
            None,
        )
        .await?;
    Ok(Json(cloud_account(&account)))
}

/// `DELETE /cloud-accounts/aws/{id}`: 204, also when there is no such
/// account (the document's only success; deleting is idempotent).
async fn remove(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = match find(&state, &auth.caller.tenant, &id).await {
        Ok(account) => account,
        Err(err) if err.status == StatusCode::NOT_FOUND => return Ok(StatusCode::NO_CONTENT),
        Err(err) => return Err(err),
    };
    let account_id = AccountId::parse("awsAccountId", account.account_id.clone())?;
    match state
        .accounts()
        .delete(&auth.caller.tenant, &account_id, false, None)
        .await
    {
        Ok(()) | Err(service::Error::NotFound { .. }) => Ok(StatusCode::NO_CONTENT),
        Err(err) => Err(err.into()),
    }
}

/// An error as Panther answers one: `{"message": ...}` naming Panther's
/// fields, with the statuses its document gives the operation (400, 404,
/// 409 on create, 500); 401, 403 and 429 keep theirs, which a client must
/// see to act on.
pub fn error(
    method: &Method,
    status: StatusCode,
    refusal: Option<&Refusal>,
) -> (StatusCode, Value) {
    let status = match status.as_u16() {
        401 | 403 | 404 | 429 => status,
        409 if method == Method::POST => status,
        400..=499 => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match refusal {
        Some(refusal) => {
            let field = refusal.field.as_deref().map(in_panther_terms);
            super::after_field(field, in_panther_terms(&refusal.message))
        }
        None => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string(),
    };
    (status, json!({ "message": message }))
}

/// `text` with our field names replaced by Panther's.
fn in_panther_terms(text: &str) -> String {
    super::rename_words(text, &FIELDS.map(|(panther, ours)| (ours, panther)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_create_body_becomes_the_v1_body_and_extra_fields_are_left_out() {
        let body = object(json!({
            "awsAccountId": "123456789012",
            "integrationLabel": "prod",
            "awsScanConfig": {"auditRole": "arn:aws:iam::123456789012:role/Audit", "other": 1},
            "regionIgnoreList": ["eu-west-1"],
            "somethingNew": true,
        }));
        assert_eq!(
            Value::Object(to_v1(&body, false)),
            json!({
                "account_id": "123456789012",
                "name": "prod",
                "role_arn": "arn:aws:iam::123456789012:role/Audit",
                "region_ignore_list": ["eu-west-1"],
            })
        );
    }

    #[test]
    fn a_put_sets_every_panther_field_and_no_other() {
        let body = object(json!({"integrationLabel": "prod", "awsScanConfig": {}}));
        assert_eq!(
            Value::Object(to_v1(&body, true)),
            json!({
                "name": "prod",
                "role_arn": null,
                "region_ignore_list": [],
                "resource_type_ignore_list": [],
                "resource_regex_ignore_list": [],
            })
        );
        // A scan config that is not an object reaches the check as it is.
        let body = object(json!({"awsScanConfig": "x"}));
        assert_eq!(to_v1(&body, false)["role_arn"], json!("x"));
    }

    #[test]
    fn errors_name_panther_fields_with_the_documented_statuses() {
        let refusal = Refusal {
            code: "invalid_value",
            message: "role_arn must be an IAM role ARN in account 123456789012".into(),
            field: Some("role_arn".into()),
        };
        let (status, body) = error(&Method::PUT, StatusCode::BAD_REQUEST, Some(&refusal));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"message": "awsScanConfig.auditRole must be an IAM role ARN in account 123456789012"})
        );
        let unnamed = Refusal {
            message: "must be 1-256 characters".into(),
            field: Some("name".into()),
            ..refusal
        };
        assert_eq!(
            error(&Method::POST, StatusCode::BAD_REQUEST, Some(&unnamed)).1,
            json!({"message": "integrationLabel: must be 1-256 characters"})
        );
        let exists = Refusal {
            code: "already_exists",
            message: "account '123456789012' already exists".into(),
            field: None,
        };
        assert_eq!(
            error(&Method::POST, StatusCode::CONFLICT, Some(&exists)).0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            error(&Method::DELETE, StatusCode::CONFLICT, Some(&exists)).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            error(&Method::GET, StatusCode::PRECONDITION_FAILED, None).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            error(&Method::GET, StatusCode::SERVICE_UNAVAILABLE, None),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal Server Error"})
            )
        );
        assert_eq!(
            error(&Method::GET, StatusCode::UNAUTHORIZED, None).0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn labels_follow_panthers_pattern() {
        for good in ["Prod Audit-1", "a", &"x".repeat(36)] {
            assert!(
                check_label(&object(json!({"integrationLabel": good}))).is_ok(),
                "{good}"
            );
        }
        for bad in [
            json!("zT7bu2*"),
            json!(""),
            json!("x".repeat(37)),
            json!("é"),
            json!(5),
        ] {
            let err = check_label(&object(json!({"integrationLabel": bad}))).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("integrationLabel"), "{bad}");
        }
        assert!(check_label(&object(json!({}))).is_ok());
    }

    #[test]
    fn only_whole_names_are_renamed() {
        assert_eq!(
            in_panther_terms("region_ignore_list[2] is not a region; name too"),
            "regionIgnoreList[2] is not a region; integrationLabel too"
        );
        assert_eq!(
            in_panther_terms("owner_name and names"),
            "owner_name and names"
        );
    }
}
