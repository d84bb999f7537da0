//! `/v1/organizations`: AWS Organizations registered for onboarding, and
//! the templates that set them up.

use crate::auth::{Auth, Read, Write};
use crate::body::{parse, JsonObject};
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use crate::trust::yaml;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service::ids::OrganizationId;
use service::organizations::{self, OrganizationView};
use service::usecases::organizations::{RegisterOrganizationRequest, UpdateOrganizationRequest};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    items: Vec<OrganizationView>,
}

#[utoipa::path(
    post, path = "/v1/organizations", tag = "organizations",
    request_body = RegisterOrganizationRequest,
    responses((status = 201, description = "Registered, with its own external-ID prefix", body = OrganizationView)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn register_organization(
    auth: Auth<Write>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    let request: RegisterOrganizationRequest = parse(Value::Object(body))?;
    let organization = state
        .organizations()
        .register(&auth.caller.tenant, &auth.caller.key_id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(organization.view())))
}

#[utoipa::path(
    patch, path = "/v1/organizations/{organization_id}", tag = "organizations",
    params(("organization_id" = String, Path)),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "Updated: the fields given replace the stored ones", body = OrganizationView),
        (status = 412, description = "Changed meanwhile; read it again and retry"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn update_organization(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
    JsonObject(body): JsonObject,
) -> Result<Json<OrganizationView>, ApiError> {
    let request: UpdateOrganizationRequest = parse(Value::Object(body))?;
    let organization = state
        .organizations()
        .update(
            &auth.caller.tenant,
            &auth.caller.key_id,
            &organization_id,
            request,
        )
        .await?;
    Ok(Json(organization.view()))
}

#[utoipa::path(
    post, path = "/v1/organizations/{organization_id}/archive", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses((status = 200, description = "Archived: not synced, on schedule or on demand (409 archived); its accounts stay as the last sync left them", body = OrganizationView)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn archive_organization(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Json<OrganizationView>, ApiError> {
    set_archived(&state, &auth.caller.tenant, &organization_id, true).await
}

async fn set_archived(
    state: &AppState,
    tenant: &str,
    organization_id: &str,
    archive: bool,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = state
        .store
        .set_organization_archived(
            tenant,
            organization_id,
            archive,
            service::time::Timestamp::now(),
        )
        .await?;
    Ok(Json(organization.view()))
}

#[utoipa::path(
    post, path = "/v1/organizations/{organization_id}/unarchive", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses((status = 200, description = "Active again, and due for a sync at once", body = OrganizationView)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn unarchive_organization(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Json<OrganizationView>, ApiError> {
    set_archived(&state, &auth.caller.tenant, &organization_id, false).await
}

#[utoipa::path(
    get, path = "/v1/organizations", tag = "organizations",
    responses((status = 200, body = OrganizationList)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_organizations(
    auth: Auth<Read>,
    State(state): State<AppState>,
) -> Result<Json<OrganizationList>, ApiError> {
    let organizations = state.store.list_organizations(&auth.caller.tenant).await?;
    Ok(Json(OrganizationList {
        items: organizations.iter().map(|o| o.view()).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/organizations/{organization_id}", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses((status = 200, body = OrganizationView)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_organization(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = state
        .store
        .get_organization(&auth.caller.tenant, &organization_id)
        .await?;
    Ok(Json(organization.view()))
}

#[utoipa::path(
    delete, path = "/v1/organizations/{organization_id}", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses((status = 204, description = "Removed; its accounts stay, detached (those departed are archived)")),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn delete_organization(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<StatusCode, ApiError> {
    service::usecases::organizations::delete(&state.store, &auth.caller.tenant, &organization_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/v1/organizations/{organization_id}/sync", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses(
        (status = 202, description = "Queued (or already queued or running: nothing more is sent). Poll Location: `sync.status` goes QUEUED, RUNNING, then IDLE with the outcome in `last_sync`", body = OrganizationView, headers(("Location" = String))),
        (status = 503, description = "`sync_unavailable`: this deployment has no organization sync queue"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn sync_organization(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Response, ApiError> {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let organization = service::usecases::organizations::request_sync(
        &state.store,
        state.organization_sync_queue.as_ref(),
        &auth.caller.tenant,
        &organization_id,
        &auth.caller.key_id,
    )
    .await?;
    let mut response = (StatusCode::ACCEPTED, Json(organization.view())).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("/v1/organizations/{organization_id}")) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StackSetQuery {
    /// AWS managed policy names, comma-separated (default SecurityAudit).
    managed_policies: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/organizations/{organization_id}/stackset-template", tag = "organizations",
    params(("organization_id" = String, Path), StackSetQuery),
    responses((status = 200, description = "The member role for every account, as one StackSet template (YAML): each member's role trusts the external ID prefix + its account id", content_type = "application/yaml", body = String)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn stackset_template(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
    Query(query): Query<StackSetQuery>,
) -> Result<Response, ApiError> {
    let policies = service::role_template::managed_policies(query.managed_policies.as_deref())?;
    let organization = state
        .store
        .get_organization(&auth.caller.tenant, &organization_id)
        .await?;
    Ok(yaml(stackset_yaml(&state, &organization, &policies).await?))
}

/// The organization's member role, as one StackSet template.
pub(crate) async fn stackset_yaml(
    state: &AppState,
    organization: &service::organizations::Organization,
    policies: &[String],
) -> Result<String, ApiError> {
    let principal = state.vendor_principal().await?;
    Ok(organizations::stackset_template(
        &principal,
        &organization.external_id_prefix,
        organization.pending_external_id_prefix.as_deref(),
        &state.settings.role_name,
        policies,
    ))
}

#[utoipa::path(
    get, path = "/v1/organizations/{organization_id}/management-role-template", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses((status = 200, description = "The management account's read-only AWS Organizations role (YAML)", content_type = "application/yaml", body = String)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn management_role_template(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Response, ApiError> {
    let organization = state
        .store
        .get_organization(&auth.caller.tenant, &organization_id)
        .await?;
    Ok(yaml(management_role_yaml(&state, &organization).await?))
}

/// The management account's read-only AWS Organizations role.
pub(crate) async fn management_role_yaml(
    state: &AppState,
    organization: &service::organizations::Organization,
) -> Result<String, ApiError> {
    let principal = state.vendor_principal().await?;
    let role_name = service::validation::role_arn("role_arn", &organization.role_arn)
        .map(|role| role.role_name.to_string())
        .unwrap_or_else(|_| "AccountOnboardingOrganizations".to_string());
    let current = organization.management_external_id();
    let pending = organization.pending_management_external_id();
    let external_ids: Vec<&str> = std::iter::once(current.as_str())
        .chain(pending.as_deref())
        .collect();
    Ok(organizations::management_role_template(
        &principal,
        &external_ids,
        &role_name,
    ))
}

#[utoipa::path(
    post, path = "/v1/organizations/{organization_id}/external-id-prefix/rotate", tag = "organizations",
    params(("organization_id" = String, Path), crate::trust::RotateQuery),
    responses(
        (status = 200, description = "A new `pending_external_id_prefix`. Update the management stack and the StackSet with the templates (both now trust the current and the pending IDs); each member's pending ID replaces its current one once the member verifies with it, and the organization's prefix once a sync's management role accepts the new ID.", body = OrganizationView),
        (status = 409, description = "rotation_pending: one is pending already (rotate with ?replace=true to replace it); archived", body = crate::error::ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn rotate_external_id_prefix(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
    Query(rotate): Query<crate::trust::RotateQuery>,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = service::usecases::organizations::rotate_prefix(
        &state.store,
        &auth.caller.tenant,
        &organization_id,
        rotate.replace,
    )
    .await?;
    Ok(Json(organization.view()))
}

#[utoipa::path(
    delete, path = "/v1/organizations/{organization_id}/external-id-prefix/pending", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses(
        (status = 200, description = "Rotation cancelled: the members' pending IDs of it are gone; the current prefix stays", body = OrganizationView),
        (status = 404, description = "No such organization, or no rotation pending"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn cancel_external_id_prefix_rotation(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = service::usecases::organizations::cancel_prefix_rotation(
        &state.store,
        &auth.caller.tenant,
        &organization_id,
    )
    .await?;
    Ok(Json(organization.view()))
}
