//! Trust: role templates, verification, validation of roles, external-ID rotation.

use crate::accounts::{if_match, with_etag};
use crate::auth::{Auth, Execute, Read, Write};
use crate::body::{parse, JsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::path::Path;
use crate::query::{PageQuery, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service::account::{Account, Environment};
use service::ids::AccountId;
use service::regions::{Region, REGIONS};
use service::role_template;
use service::usecases::role_checks::{self, ValidateRolesRequest, ValidateRolesResponse};
use service::usecases::verification::verify_on_demand;
use utoipa::{IntoParams, ToSchema};

#[utoipa::path(
    post, path = "/v1/accounts/{account_id}/verify", tag = "trust",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "The account with the verification result in `credential`", body = Account, headers(("ETag" = String))),
        (status = 409, description = "The role or external ID changed during verification", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn verify_account(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Response, ApiError> {
    let verified = verify_on_demand(
        &state.store,
        &state.verifier,
        &state.settings,
        &state.catalogue,
        &auth.caller.tenant,
        &account_id,
        &auth.caller.key_id,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, verified, None))
}

#[utoipa::path(
    post, path = "/v1/accounts/validate-roles", tag = "trust",
    request_body = ValidateRolesRequest,
    responses(
        (status = 200, description = "One result per entry; nothing is saved", body = ValidateRolesResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn validate_roles(
    auth: Auth<Execute>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<ValidateRolesResponse>, ApiError> {
    let request: ValidateRolesRequest = parse(Value::Object(body))?;
    let response = role_checks::validate_roles(
        &state.store,
        &state.verifier,
        state.settings.concurrency,
        &auth.caller.tenant,
        request,
    )
    .await?;
    Ok(Json(response))
}

/// A rotation's options.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Replace a rotation already pending (default false: 409 rotation_pending).
    #[serde(default)]
    pub replace: bool,
}

#[utoipa::path(
    post, path = "/v1/accounts/{account_id}/external-id/rotate", tag = "trust",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("If-Match" = Option<String>, Header, description = "Rotate only at this ETag"),
        RotateQuery,
    ),
    responses(
        (status = 200, description = "The account with a new `pending_external_id`. Add it to the role's trust policy next to the current one, then verify: the pending ID replaces the current one once a verification with it succeeds.", body = Account),
        (status = 409, description = "rotation_pending: one is pending already (rotate with ?replace=true to replace it); or the account is archived or departed", body = ErrorResponse),
        (status = 412, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn rotate_external_id(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    Query(rotate): Query<RotateQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&state, &auth.caller.tenant, &account_id, &headers).await?;
    let pending = service::crypto::new_external_id();
    let account = state
        .store
        .set_pending_external_id(
            &auth.caller.tenant,
            &account_id,
            Some(&pending),
            expected,
            rotate.replace,
        )
        .await?;
    Ok(with_etag(StatusCode::OK, account, None))
}

#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}/external-id/pending", tag = "trust",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "The account, rotation cancelled; the current external ID stays", body = Account),
        (status = 404, description = "No such account, or no rotation pending", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn cancel_pending_external_id(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Response, ApiError> {
    let account = state
        .store
        .set_pending_external_id(&auth.caller.tenant, &account_id, None, None, false)
        .await?;
    Ok(with_etag(StatusCode::OK, account, None))
}

#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}/role-arn/pending", tag = "trust",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses(
        (status = 200, description = "The account, role change withdrawn; the current role stays", body = Account),
        (status = 404, description = "No such account, or no role pending", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn cancel_pending_role(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Response, ApiError> {
    let account = state
        .store
        .cancel_pending_role(&auth.caller.tenant, &account_id)
        .await?;
    Ok(with_etag(StatusCode::OK, account, None))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrustSetup {
    /// The principal every customer role must trust.
    vendor_principal: String,
    vendor_account_id: String,
    /// The role name suggested to customers.
    default_role_name: String,
    /// The parameterised role template (CloudFormation).
    role_template_url: String,
    /// The trust-policy condition every role must carry.
    external_id_condition: String,
}

/// The principal roles of one partition trust.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartitionTrust {
    partition: String,
    vendor_principal: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CloudProvider {
    regions: Vec<Region>,
    environments: Vec<Environment>,
    /// The partitions this service serves, each with its principal; roles
    /// in any other are refused at registration.
    partitions: Vec<PartitionTrust>,
    trust: TrustSetup,
}

#[utoipa::path(
    get, path = "/v1/cloud-providers/aws", tag = "trust",
    responses(
        (status = 200, body = CloudProvider),
        (status = 503, body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn cloud_provider(
    _auth: Auth<Read>,
    State(state): State<AppState>,
    base: crate::PublicBase,
) -> Result<Json<CloudProvider>, ApiError> {
    let principal = state.vendor_principal().await?;
    Ok(Json(CloudProvider {
        regions: REGIONS.to_vec(),
        environments: Environment::ALL.to_vec(),
        partitions: std::iter::once(PartitionTrust {
            partition: service::partitions::COMMERCIAL.into(),
            vendor_principal: principal.clone(),
        })
        .chain(state.settings.partitions.iter().map(|p| PartitionTrust {
            partition: p.partition.clone(),
            vendor_principal: p.vendor_principal.clone(),
        }))
        .collect(),
        trust: TrustSetup {
            vendor_account_id: principal_account(&principal),
            vendor_principal: principal,
            default_role_name: state.settings.role_name.clone(),
            role_template_url: template_url(&state, &base),
            external_id_condition: "StringEquals sts:ExternalId = <the account's external_id>"
                .into(),
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IamParameters {
    account_id: String,
    vendor_account_id: String,
    vendor_principal: String,
    external_id: String,
    role_name: String,
    /// A CloudFormation quick-create link, pre-filled with the template and the external ID.
    aws_console_url: String,
    /// POST only: true when this request registered the account (named
    /// `Pending <account id>` until the vendor names it), false when it
    /// was registered already.
    #[serde(skip_serializing_if = "Option::is_none")]
    newly_registered: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IamParametersQuery {
    /// 12-digit AWS account id of a registered account (required).
    #[param(value_type = String, required = true)]
    account_id: Option<AccountId>,
}

#[utoipa::path(
    get, path = "/v1/aws/iam-parameters", tag = "trust",
    params(IamParametersQuery),
    responses(
        (status = 200, body = IamParameters),
        (status = 404, description = "Not registered: register it, or reserve it by its id with POST /v1/aws/iam-parameters", body = ErrorResponse),
        (status = 409, description = "partition_not_served: the account's regions are in a partition where this service has no principal (its operator adds one to PARTITIONS)", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn iam_parameters(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Query(query): Query<IamParametersQuery>,
    base: crate::PublicBase,
) -> Result<Json<IamParameters>, ApiError> {
    let account_id = query.account_id.ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            Some("account_id".into()),
            "account_id is required",
        )
    })?;
    let account = match state.accounts().load(&auth.caller.tenant, &account_id).await {
        Err(service::Error::NotFound { .. }) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("account '{account_id}' is not registered: register it (POST /v1/accounts), or reserve it by its id with POST /v1/aws/iam-parameters"),
            ))
        }
        loaded => loaded?,
    };
    Ok(Json(parameters_of(&state, &base, account, None).await?))
}

/// Body of `POST /v1/aws/iam-parameters`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveAccount {
    /// 12-digit AWS account id.
    #[schema(value_type = String, example = "123456789012")]
    account_id: AccountId,
}

#[utoipa::path(
    post, path = "/v1/aws/iam-parameters", tag = "trust",
    request_body = ReserveAccount,
    responses(
        (status = 201, description = "Registered now, by its id alone (pending until named)", body = IamParameters),
        (status = 200, description = "Registered already: its parameters", body = IamParameters),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn reserve_account(
    auth: Auth<Write>,
    State(state): State<AppState>,
    base: crate::PublicBase,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<IamParameters>), ApiError> {
    let request: ReserveAccount = parse(Value::Object(body))?;
    let (account, registered) = state
        .accounts()
        .register_pending(
            &auth.caller.tenant,
            &auth.caller.key_id,
            &request.account_id,
        )
        .await?;
    let status = if registered {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(parameters_of(&state, &base, account, Some(registered)).await?),
    ))
}

/// What a customer needs to create `account`'s role.
async fn parameters_of(
    state: &AppState,
    base: &crate::PublicBase,
    account: Account,
    newly_registered: Option<bool>,
) -> Result<IamParameters, ApiError> {
    let partition = account.fields.partition();
    let principal = state.principal_in(partition).await?;
    let role_name = state.settings.role_name.clone();
    let external_id = account.external_id_to_deploy().to_string();
    Ok(IamParameters {
        aws_console_url: role_template::console_url(
            partition,
            &template_url_in(state, base, partition),
            &role_name,
            &external_id,
            &principal,
        ),
        account_id: account.account_id,
        vendor_account_id: principal_account(&principal),
        vendor_principal: principal,
        external_id,
        role_name,
        newly_registered,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// AWS managed policy names, comma-separated (default SecurityAudit).
    managed_policies: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/cloudformation-template", tag = "trust",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        TemplateQuery,
    ),
    responses(
        (status = 200, description = "CloudFormation template of the role (YAML)", content_type = "application/yaml", body = String),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn account_template(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    Query(query): Query<TemplateQuery>,
) -> Result<Response, ApiError> {
    let policies = role_template::managed_policies(query.managed_policies.as_deref())?;
    Ok(yaml(
        account_role_template(&state, &auth.caller.tenant, &account_id, &policies).await?,
    ))
}

/// The role template of one account: its external ID(s), the vendor
/// principal of its partition, and what its attached data sources need.
pub(crate) async fn account_role_template(
    state: &AppState,
    tenant: &str,
    account_id: &str,
    policies: &[String],
) -> Result<String, ApiError> {
    let (account, attachments) = state.store.account_attachments(tenant, account_id).await?;
    let principal = state.principal_in(account.fields.partition()).await?;
    // What the attached data sources scan with, granted by the role.
    let actions = service::aws::verification::role_actions(&state.catalogue, &attachments);
    // During a rotation the role must accept both IDs until promotion.
    let mut external_ids = vec![account.external_id.as_str()];
    external_ids.extend(account.pending_external_id.as_deref());
    Ok(role_template::account_template(
        account_id,
        &principal,
        &external_ids,
        policies,
        &state.settings.role_name,
        &actions,
    ))
}

#[utoipa::path(
    get, path = "/v1/aws/role-template.yaml", tag = "trust",
    responses((status = 200, description = "The parameterised role template behind aws_console_url. Public: it holds no secret.", content_type = "application/yaml", body = String))
)]
pub async fn generic_template(State(state): State<AppState>) -> Result<Response, ApiError> {
    let principal = state.vendor_principal().await?;
    Ok(yaml(role_template::generic_template(
        &principal,
        &state.settings.role_name,
    )))
}

/// A YAML document (a CloudFormation template) as the answer.
pub(crate) fn yaml(text: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        text,
    )
        .into_response()
}

pub(crate) fn principal_account(principal: &str) -> String {
    principal.split(':').nth(4).unwrap_or(principal).to_string()
}

/// The template for quick-create links in `partition`: its own S3 copy
/// when configured, else as in `aws`.
pub(crate) fn template_url_in(
    state: &AppState,
    base: &crate::PublicBase,
    partition: &str,
) -> String {
    state
        .settings
        .partition(partition)
        .and_then(|p| p.role_template_url.clone())
        .unwrap_or_else(|| template_url(state, base))
}

/// `ROLE_TEMPLATE_URL` (an S3 copy, which CloudFormation can read), else
/// this API's own public template.
fn template_url(state: &AppState, base: &crate::PublicBase) -> String {
    if let Some(url) = &state.settings.role_template_url {
        return url.clone();
    }
    format!("{}/v1/aws/role-template.yaml", base.0)
}

#[derive(Serialize, ToSchema)]
pub struct VerificationPage {
    /// Newest first; each kept 90 days.
    items: Vec<service::access::VerificationRecord>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/verifications", tag = "trust",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The account's verifications, newest first", body = VerificationPage),
        (status = 404, description = "No such account", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_verifications(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    Query(page): Query<PageQuery>,
) -> Result<Json<VerificationPage>, ApiError> {
    let listed = service::usecases::access::verifications(
        &state.store,
        &auth.caller.tenant,
        &account_id,
        page.limit.0,
        page.cursor.as_deref(),
    )
    .await?;
    Ok(Json(VerificationPage {
        items: listed.items,
        next_cursor: listed.next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AccessLogPage {
    /// Every AssumeRole the service made in the account, newest first:
    /// match `session_name` and `source_identity` with the account's CloudTrail.
    items: Vec<service::access::AccessRecord>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/access-log", tag = "trust",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The sessions the service opened in the account, newest first", body = AccessLogPage),
        (status = 404, description = "No such account", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn access_log(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    Query(page): Query<PageQuery>,
) -> Result<Json<AccessLogPage>, ApiError> {
    let listed = service::usecases::access::access_log(
        &state.store,
        &auth.caller.tenant,
        &account_id,
        page.limit.0,
        page.cursor.as_deref(),
    )
    .await?;
    Ok(Json(AccessLogPage {
        items: listed.items,
        next_cursor: listed.next_cursor,
    }))
}
