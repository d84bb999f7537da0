//! The tenant's settings: its external-ID rotation policy (scope `admin`).

use crate::auth::{Admin, Auth};
use crate::body::{parse, JsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use model::tenant::TenantSettings;
use model::time::Timestamp;
use serde_json::Value;

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
    let settings: TenantSettings = parse(Value::Object(body))?;
    settings.validate()?;
    let saved = state
        .store
        .put_tenant_settings(
            &auth.caller.tenant,
            &settings,
            &auth.caller.key_id,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(saved))
}
