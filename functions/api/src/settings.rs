//! The tenant's settings: its external-ID rotation policy and what the
//! onboarding page shows (scope `admin`). PUT replaces, PATCH merges.

use crate::auth::{Admin, Auth};
use crate::body::JsonObject;
use crate::error::{ApiError, ErrorResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use service::tenant::TenantSettings;
use service::usecases::settings;

#[utoipa::path(
    get, path = "/v1/settings", tag = "trust",
    responses((status = 200, description = "The tenant's settings", body = TenantSettings)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_settings(
    auth: Auth<Admin>,
    State(state): State<AppState>,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(
        state.store.tenant_settings(&auth.caller.tenant).await?,
    ))
}

#[utoipa::path(
    put, path = "/v1/settings", tag = "trust",
    request_body = TenantSettings,
    responses(
        (status = 200, description = "The settings, replaced; each account is judged by them at its next verification", body = TenantSettings),
        (status = 400, description = "A value out of range, or an unknown field", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn put_settings(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(
        settings::replace(&state.store, &auth.caller.tenant, &auth.caller.key_id, body).await?,
    ))
}

#[utoipa::path(
    patch, path = "/v1/settings", tag = "trust",
    request_body(content = TenantSettings, content_type = "application/merge-patch+json",
        description = "A JSON merge patch (RFC 7396): the settings it names change, `null` restores a default, the others stay"),
    responses(
        (status = 200, description = "The settings, patched", body = TenantSettings),
        (status = 400, description = "A value out of range, or an unknown field; nothing written", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn patch_settings(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(
        settings::patch(&state.store, &auth.caller.tenant, &auth.caller.key_id, body).await?,
    ))
}
