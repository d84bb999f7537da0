//! `/v1/api-keys`: issue, list and revoke the tenant's keys (scope `admin`).

use crate::auth::{Admin, Auth};
use crate::body::{parse, JsonObject};
use crate::error::ApiError;
use crate::path::Path;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service::api_key::{AliasFormat, ApiKey, ApiKeyView, Scope};
use service::ids::KeyId;
use service::time::Timestamp;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, 1-128 characters.
    name: String,
    scopes: Vec<Scope>,
    /// Optional expiry, RFC 3339.
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

/// A new key. `api_key` is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    key: ApiKeyView,
    /// The secret to send as `X-API-Key`. Store it now: only its hash is kept.
    api_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    items: Vec<ApiKeyView>,
}

#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api-keys",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKey),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_api_key(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let request: CreateApiKeyRequest = parse(Value::Object(body))?;
    let issued = ApiKey::issue(
        &auth.caller.tenant,
        &request.name,
        request.scopes,
        &auth.caller.key_id,
        request.expires_at,
        Timestamp::now(),
    )?;
    service::usecases::api_keys::create(&state.store, &issued.record).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: ApiKeyView::from(&issued.record),
            api_key: issued.token,
        }),
    ))
}

#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api-keys",
    responses(
        (status = 200, body = ApiKeyList),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_api_keys(
    auth: Auth<Admin>,
    State(state): State<AppState>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.store.list_api_keys(&auth.caller.tenant).await?;
    Ok(Json(ApiKeyList {
        items: keys.iter().map(ApiKeyView::from).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)),
    responses(
        (status = 200, body = ApiKeyView),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_api_key(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(key_id): Path<KeyId>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = state
        .store
        .get_api_key(&auth.caller.tenant, &key_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("api key '{key_id}' was not found")))?;
    Ok(Json(ApiKeyView::from(&key)))
}

#[utoipa::path(
    delete, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn revoke_api_key(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(key_id): Path<KeyId>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_api_key(
            &auth.caller.tenant,
            &key_id,
            &auth.caller.key_id,
            Timestamp::now(),
        )
        .await?;
    // Revoked here: this instance refuses it from the next request on.
    if let Some(cache) = &state.key_cache {
        cache.forget(&auth.caller.tenant, &key_id);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAliasRequest {
    /// The product whose key format the alias takes (`cloudcraft`: 44
    /// characters, 32 bytes in base64).
    format: AliasFormat,
}

/// A new alias. `alias` is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAlias {
    key_id: String,
    format: AliasFormat,
    /// Send it wherever the key goes (`X-API-Key`, `Authorization:
    /// Bearer`, ...): it is the key, with its scopes, and stops working when
    /// the key is revoked or expires. Only its digest is kept.
    alias: String,
}

#[utoipa::path(
    post, path = "/v1/api-keys/{key_id}/aliases", tag = "api-keys",
    params(("key_id" = String, Path, description = "The key the alias stands for")),
    request_body = CreateAliasRequest,
    responses(
        (status = 201, body = CreatedAlias),
        (status = 404, description = "No such live key", body = crate::error::ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_alias(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(key_id): Path<KeyId>,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<CreatedAlias>), ApiError> {
    let request: CreateAliasRequest = parse(Value::Object(body))?;
    let alias = request.format.issue();
    state
        .store
        .create_key_alias(
            &auth.caller.tenant,
            &key_id,
            request.format,
            &service::api_key::alias_digest(&alias),
            Timestamp::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAlias {
            key_id: key_id.to_string(),
            format: request.format,
            alias,
        }),
    ))
}
