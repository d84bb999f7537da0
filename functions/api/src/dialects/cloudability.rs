//! Cloudability's vendor credentials (`/v3/vendors/{AWS|aws}/accounts`),
//! as its "Vendor Credentials End Point (AWS)" describes them: HTTP Basic
//! with the key as the user name, `{"result": ...}`, the account id as the
//! credential's id, `verification` and `authorization` always present,
//! 200 on DELETE, errors as `{"error": {"status", "code": [...],
//! "messages": [...]}}`.
//!
//! Where the document conflicts with this service's safety rules, the rule
//! wins with an error that says why: the external ID is always the
//! server's (a client-chosen one is accepted on update only if it is the
//! account's own), and IAM user credentials (`aws_user`) are refused.
//! Cloudability's fields that `/v1` has no place for are labels named
//! `cloudability:<field>`.

use crate::auth::{Auth, Execute, Read, Write};
use crate::body::JsonObject;
use crate::error::{ApiError, Refusal};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use service::account::{Account, VerificationStatus};
use service::ids::AccountId;
use service::time::Timestamp;
use std::collections::{BTreeMap, HashMap};

/// Cloudability's fields kept as labels: (its name, the label's).
const LABELLED: [(&str, &str); 3] = [
    ("bucketName", "cloudability:bucketName"),
    ("region", "cloudability:region"),
    (
        "isOrgLevelPolicyEnabled",
        "cloudability:isOrgLevelPolicyEnabled",
    ),
];
const REPORT_NAME: &str = "cloudability:costAndUsageReport.name";
const REPORT_PREFIX: &str = "cloudability:costAndUsageReport.prefix";
/// Credentials one list answers with (Cloudability's has no paging).
pub const MAX_LISTED: usize = 1000;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    let base = "/v3/vendors/{vendor}/accounts";
    let one = format!("{base}/{{account_id}}");
    for slash in ["", "/"] {
        router = router
            .route(&format!("{base}{slash}"), get(list).post(create))
            .route(
                &format!("{one}{slash}"),
                get(read).put(update).delete(remove),
            )
            .route(&format!("{one}/verification{slash}"), post(verify))
            .route(
                &format!("{one}/user-to-role-migration{slash}"),
                post(migrate),
            )
            .route(
                &format!("{one}/cloudformation-template{slash}"),
                get(template),
            )
            .route(&format!("{one}/external-id-rotation{slash}"), post(rotate))
            .route(&format!("{one}/archive{slash}"), post(archive));
    }
    router
}

/// The vendor segment: `AWS` in any case; anything else is no route here.
fn aws(vendor: &str) -> Result<(), ApiError> {
    match vendor.eq_ignore_ascii_case("aws") {
        true => Ok(()),
        false => Err(ApiError::not_found(format!(
            "vendor '{}' is not served here: only AWS",
            super::echo(vendor)
        ))),
    }
}

/// The credential object of `account`, with `associated` (its linked
/// accounts) when asked for.
pub fn credential(account: &Account, associated: Option<&[Account]>) -> Value {
    let labels = &account.fields.labels;
    let verified = &account.credential;
    let state = match verified.verification_status {
        VerificationStatus::Success => "verified",
        VerificationStatus::Fail | VerificationStatus::TimedOut => "error",
        _ => "unverified",
    };
    let mut verification = json!({ "state": state });
    if let Some(at) = verified.last_verified_at {
        verification["lastVerificationAttemptedAt"] = json!(at);
    }
    if let (Some(message), "error") = (&verified.verification_message, state) {
        verification["message"] = json!(message);
    }
    let role = account
        .pending_role_arn
        .as_ref()
        .or(account.fields.role_arn.as_ref());
    let mut authorization = json!({
        "type": "aws_role",
        "roleName": role.and_then(|arn| arn.rsplit('/').next()),
        "externalId": account.external_id_to_deploy(),
    });
    for (name, label) in LABELLED {
        if let Some(value) = labels.get(label) {
            authorization[name] = match name {
                "isOrgLevelPolicyEnabled" => json!(value == "true"),
                _ => json!(value),
            };
        }
    }
    if labels.contains_key(REPORT_NAME) || labels.contains_key(REPORT_PREFIX) {
        authorization["costAndUsageReport"] = json!({
            "name": labels.get(REPORT_NAME),
            "prefix": labels.get(REPORT_PREFIX),
        });
    }
    let mut object = json!({
        "id": account.account_id,
        "vendorAccountName": account.fields.name,
        "vendorAccountId": account.account_id,
        "vendorKey": "aws",
        "verification": verification,
        "authorization": authorization,
        "createdAt": account.created_at,
    });
    if let Some(parent) = &account.fields.parent_account_id {
        object["parentAccountId"] = json!(parent);
    }
    if let Some(associated) = associated {
        let linked: Vec<Value> = associated.iter().map(|a| credential(a, None)).collect();
        object["associatedAccounts"] = json!(linked);
    }
    object
}

fn result(value: Value) -> Json<Value> {
    Json(json!({ "result": value }))
}

/// `include` and `viewId` (accepted; this service has no views).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    include: Option<String>,
    #[serde(rename = "viewId")]
    #[allow(dead_code)]
    view_id: Option<String>,
}

impl ListQuery {
    fn associated(&self) -> Result<bool, ApiError> {
        match self.include.as_deref() {
            None | Some("") => Ok(false),
            Some("associatedAccounts") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "invalid_value",
                Some("include".into()),
                format!(
                    "include may be associatedAccounts, got '{}'",
                    super::echo(other)
                ),
            )),
        }
    }
}

/// `GET .../accounts`: the first [`MAX_LISTED`] credentials by account id;
/// with `include=associatedAccounts`, each payer's linked accounts in it.
async fn list(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(vendor): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let associated = query.associated()?;
    let request = service::listing::ListRequest {
        limit: MAX_LISTED,
        ..Default::default()
    };
    let page = state
        .store
        .list_accounts(&auth.caller.tenant, &request)
        .await?;
    let mut linked: HashMap<&str, Vec<Account>> = HashMap::new();
    if associated {
        for account in &page.items {
            if let Some(parent) = &account.fields.parent_account_id {
                linked.entry(parent).or_default().push(account.clone());
            }
        }
    }
    let credentials: Vec<Value> = page
        .items
        .iter()
        .map(|account| {
            let children = associated.then(|| {
                linked
                    .get(account.account_id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            });
            credential(account, children)
        })
        .collect();
    Ok(result(json!(credentials)))
}

/// A Cloudability body as the `/v1` body (a merge patch on update) the use
/// cases read; `current`: the account an update changes.
// Long: one arm per documented field, each refusal naming its field.
fn to_v1(
    body: &Map<String, Value>,
    account_id: &str,
    current: Option<&Account>,
) -> Result<Map<String, Value>, ApiError> {
    let invalid = |field: &str, message: String| {
        ApiError::bad_request("invalid_value", Some(field.to_string()), message)
    };
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(invalid(field, format!("{field} must be a string"))),
        }
    };
    match text("type")?.as_deref() {
        None | Some("aws_role") => {}
        Some("aws_user") => {
            return Err(invalid(
                "type",
                "IAM user credentials (aws_user) are refused: this service holds no long-lived AWS keys; register the account with type aws_role and the role its template creates".into(),
            ))
        }
        Some(other) => {
            return Err(invalid(
                "type",
                format!("type must be aws_role, got '{}'", super::echo(other)),
            ))
        }
    }
    for field in ["externalId", "externalID"] {
        let Some(chosen) = text(field)? else { continue };
        let own = current.is_some_and(|account| account.owns_external_id(&chosen));
        if !own {
            return Err(invalid(
                field,
                "the external ID is generated by this service (from a CSPRNG) and cannot be chosen: leave it out and read authorization.externalId from the answer".into(),
            ));
        }
    }
    if let Some(id) = text("vendorAccountId")? {
        if id != account_id {
            return Err(invalid(
                "vendorAccountId",
                format!("vendorAccountId is the account's id, {account_id}, and cannot change"),
            ));
        }
    }
    let mut v1 = Map::new();
    if let Some(name) = text("vendorAccountName")? {
        v1.insert("name".into(), json!(name));
    }
    if let Some(parent) = body.get("parentAccountId") {
        v1.insert("parent_account_id".into(), parent.clone());
    }
    let mut labels = BTreeMap::new();
    let region = text("region")?;
    if let Some(region) = &region {
        if service::regions::find(region).is_none() {
            return Err(invalid(
                "region",
                format!(
                    "region must be an AWS region id such as us-west-2, got '{}'",
                    super::echo(region)
                ),
            ));
        }
        labels.insert("cloudability:region", json!(region));
    }
    if let Some(role_name) = text("roleName")? {
        let partition = region
            .as_deref()
            .and_then(service::regions::find)
            .map(|region| region.partition)
            .unwrap_or(service::partitions::COMMERCIAL);
        v1.insert(
            "role_arn".into(),
            json!(format!(
                "arn:{partition}:iam::{account_id}:role/{role_name}"
            )),
        );
    }
    if let Some(bucket) = text("bucketName")? {
        labels.insert("cloudability:bucketName", json!(bucket));
    }
    match body.get("isOrgLevelPolicyEnabled") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(enabled)) => {
            labels.insert(
                "cloudability:isOrgLevelPolicyEnabled",
                json!(enabled.to_string()),
            );
        }
        Some(_) => {
            return Err(invalid(
                "isOrgLevelPolicyEnabled",
                "isOrgLevelPolicyEnabled must be true or false".into(),
            ))
        }
    }
    match body.get("costAndUsageReport") {
        None | Some(Value::Null) => {}
        Some(Value::Object(report)) => {
            for (part, label) in [("name", REPORT_NAME), ("prefix", REPORT_PREFIX)] {
                match report.get(part) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(value)) => {
                        labels.insert(label, json!(value));
                    }
                    Some(_) => {
                        return Err(invalid(
                            "costAndUsageReport",
                            format!("costAndUsageReport.{part} must be a string"),
                        ))
                    }
                }
            }
        }
        Some(_) => {
            return Err(invalid(
                "costAndUsageReport",
                "costAndUsageReport must be an object {\"name\", \"prefix\"}".into(),
            ))
        }
    }
    if !labels.is_empty() {
        v1.insert("labels".into(), json!(labels));
    }
    Ok(v1)
}

/// `POST .../accounts`: a payer's or a linked account's credential.
async fn create(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(vendor): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    aws(&vendor)?;
    let account_id = match body.get("vendorAccountId") {
        Some(Value::String(id)) => AccountId::parse("vendorAccountId", id.clone())?,
        _ => {
            return Err(ApiError::bad_request(
                "missing_field",
                Some("vendorAccountId".into()),
                "vendorAccountId is required: the 12-digit AWS account id",
            ))
        }
    };
    let mut v1 = to_v1(&body, &account_id, None)?;
    v1.insert("account_id".into(), json!(account_id.as_str()));
    v1.entry("name").or_insert(json!(account_id.as_str()));
    let account = state
        .accounts()
        .register(&auth.caller.tenant, &auth.caller.key_id, v1)
        .await?;
    Ok((StatusCode::CREATED, result(credential(&account, None))).into_response())
}

/// `GET .../accounts/{id}`; `include=associatedAccounts` adds its linked
/// accounts (up to 1000).
async fn read(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let account = state
        .accounts()
        .load(&auth.caller.tenant, &account_id)
        .await?;
    let associated = match query.associated()? {
        true => Some(
            state
                .store
                .linked_accounts(&auth.caller.tenant, &account_id, 1000, None)
                .await?
                .items,
        ),
        false => None,
    };
    Ok(result(credential(&account, associated.as_deref())))
}

/// `PUT .../accounts/{id}`: the fields sent change, the others stay.
async fn update(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let current = state
        .accounts()
        .load(&auth.caller.tenant, &account_id)
        .await?;
    let patch = to_v1(&body, &account_id, Some(&current))?;
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
    Ok(result(credential(&account, None)))
}

/// `DELETE .../accounts/{id}`: 200 with the credential as it was.
async fn remove(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let account = state
        .accounts()
        .load(&auth.caller.tenant, &account_id)
        .await?;
    state
        .accounts()
        .delete(
            &auth.caller.tenant,
            &account_id,
            false,
            Some(account.version),
        )
        .await?;
    Ok(result(credential(&account, None)))
}

/// `POST .../verification`: verify now (scope execute).
async fn verify(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let account = service::usecases::verification::verify_on_demand(
        &state.store,
        &state.verifier,
        &state.settings,
        &state.catalogue,
        &auth.caller.tenant,
        &account_id,
        &auth.caller.key_id,
    )
    .await?;
    Ok(result(credential(&account, None)))
}

/// `POST .../user-to-role-migration`: every credential here is a role
/// already, so the migration has nothing to do; the credential answers.
async fn migrate(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let account = state
        .accounts()
        .load(&auth.caller.tenant, &account_id)
        .await?;
    Ok(result(credential(&account, None)))
}

/// `GET .../cloudformation-template`: the account's role template (YAML),
/// with its external ID(s) and what its data sources need.
async fn template(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
) -> Result<Response, ApiError> {
    aws(&vendor)?;
    let policies = service::role_template::managed_policies(None)?;
    let yaml =
        crate::trust::account_role_template(&state, &auth.caller.tenant, &account_id, &policies)
            .await?;
    Ok(crate::trust::yaml(yaml))
}

/// `POST .../external-id-rotation`: a new external ID, pending until a
/// verification with it succeeds (the old one works meanwhile);
/// `authorization.externalId` is the new one, to deploy.
async fn rotate(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let pending = service::crypto::new_external_id();
    let account = state
        .store
        .set_pending_external_id(&auth.caller.tenant, &account_id, Some(&pending), None, true)
        .await?;
    Ok(result(credential(&account, None)))
}

/// `POST .../archive`: not verified or scanned any more; readable.
async fn archive(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((vendor, account_id)): Path<(String, AccountId)>,
) -> Result<Json<Value>, ApiError> {
    aws(&vendor)?;
    let account = state
        .store
        .set_archived(&auth.caller.tenant, &account_id, true, Timestamp::now())
        .await?;
    Ok(result(credential(&account, None)))
}

/// An error as Cloudability answers one:
/// `{"error": {"status", "code": [...], "messages": [...]}}`, the status
/// unchanged but for a 5xx other than 503, which is a 500.
pub fn error(status: StatusCode, refusal: Option<&Refusal>) -> (StatusCode, Value) {
    let status = super::product_status(status);
    let (code, message) = match refusal {
        Some(refusal) => (refusal.code.to_string(), refusal.message.clone()),
        None => (
            "error".to_string(),
            status.canonical_reason().unwrap_or("Error").to_string(),
        ),
    };
    let message = super::rename_words(
        &message,
        &[
            ("account_id", "vendorAccountId"),
            ("parent_account_id", "parentAccountId"),
        ],
    );
    (
        status,
        json!({"error": {"status": status.as_u16(), "code": [code], "messages": [message]}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_documented_fields_become_v1_fields_and_labels() {
        let body = object(json!({
            "vendorAccountId": "999966667777",
            "type": "aws_role",
            "bucketName": "some bucket name",
            "roleName": "CloudabilityRole",
            "costAndUsageReport": {"name": "costandusageboth", "prefix": "some prefix"},
            "region": "us-gov-west-1",
            "isOrgLevelPolicyEnabled": true,
            "consumerOrgId": "",
        }));
        let v1 = to_v1(&body, "999966667777", None).unwrap();
        assert_eq!(
            Value::Object(v1),
            json!({
                "role_arn": "arn:aws-us-gov:iam::999966667777:role/CloudabilityRole",
                "labels": {
                    "cloudability:bucketName": "some bucket name",
                    "cloudability:costAndUsageReport.name": "costandusageboth",
                    "cloudability:costAndUsageReport.prefix": "some prefix",
                    "cloudability:isOrgLevelPolicyEnabled": "true",
                    "cloudability:region": "us-gov-west-1",
                },
            })
        );
    }

    #[test]
    fn the_safe_rule_wins_where_the_document_differs() {
        let user = to_v1(&object(json!({"type": "aws_user"})), "999966667777", None).unwrap_err();
        assert_eq!(user.field.as_deref(), Some("type"));
        assert!(user.message.contains("refused"), "{}", user.message);
        let chosen = to_v1(
            &object(json!({"externalID": "some external ID"})),
            "999966667777",
            None,
        )
        .unwrap_err();
        assert_eq!(chosen.field.as_deref(), Some("externalID"));
        let moved = to_v1(
            &object(json!({"vendorAccountId": "111111111111"})),
            "999966667777",
            None,
        )
        .unwrap_err();
        assert_eq!(moved.field.as_deref(), Some("vendorAccountId"));
        for bad in [
            json!({"region": "moon-1"}),
            json!({"isOrgLevelPolicyEnabled": "yes"}),
            json!({"costAndUsageReport": "x"}),
            json!({"costAndUsageReport": {"name": 1}}),
            json!({"bucketName": 5}),
        ] {
            assert!(
                to_v1(&object(bad.clone()), "999966667777", None).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_are_cloudabilitys() {
        let refusal = Refusal {
            code: "already_exists",
            message: "account '999966667777' already exists".into(),
            field: None,
        };
        assert_eq!(
            error(StatusCode::CONFLICT, Some(&refusal)),
            (
                StatusCode::CONFLICT,
                json!({"error": {"status": 409, "code": ["already_exists"], "messages": ["account '999966667777' already exists"]}})
            )
        );
        assert_eq!(
            error(StatusCode::BAD_GATEWAY, None).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
