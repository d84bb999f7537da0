//! `/v1/webhooks`: the tenant's webhook endpoints (scope `admin`).

use crate::auth::{Admin, Auth};
use crate::body::{parse, JsonObject};
use crate::error::ApiError;
use crate::path::Path;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use model::ids::WebhookId;
use model::usecases::webhooks::{
    CreateWebhookRequest, RotateSecretRequest, UpdateWebhookRequest, WebhookWithSecret,
};
use model::webhooks::WebhookView;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    items: Vec<WebhookView>,
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses((status = 201, description = "Registered; `signing_secret` is shown this once", body = WebhookWithSecret)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_webhook(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    let request: CreateWebhookRequest = parse(Value::Object(body))?;
    let created = state
        .webhooks()
        .create(&auth.caller.tenant, &auth.caller.key_id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_webhooks(
    auth: Auth<Admin>,
    State(state): State<AppState>,
) -> Result<Json<WebhookList>, ApiError> {
    let webhooks = state.store.list_webhooks(&auth.caller.tenant).await?;
    Ok(Json(WebhookList {
        items: webhooks.iter().map(|w| w.view()).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    responses((status = 200, body = WebhookView)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_webhook(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
) -> Result<Json<WebhookView>, ApiError> {
    let webhook = state
        .store
        .get_webhook(&auth.caller.tenant, &webhook_id)
        .await?;
    Ok(Json(webhook.view()))
}

#[utoipa::path(
    patch, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    request_body = UpdateWebhookRequest,
    responses((status = 200, body = WebhookView)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn update_webhook(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
    JsonObject(body): JsonObject,
) -> Result<Json<WebhookView>, ApiError> {
    let request: UpdateWebhookRequest = parse(Value::Object(body))?;
    let webhook = state
        .webhooks()
        .update(
            &auth.caller.tenant,
            &auth.caller.key_id,
            &webhook_id,
            request,
        )
        .await?;
    Ok(Json(webhook.view()))
}

#[utoipa::path(
    delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    responses((status = 204, description = "Removed; nothing more is delivered to it")),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn delete_webhook(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_webhook(&auth.caller.tenant, &webhook_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/v1/webhooks/{webhook_id}/rotate-secret", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    request_body = RotateSecretRequest,
    responses((status = 200, description = "A new secret, shown this once; the previous one keeps signing for the overlap", body = WebhookWithSecret)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn rotate_webhook_secret(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
    JsonObject(body): JsonObject,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let request: RotateSecretRequest = parse(Value::Object(body))?;
    let rotated = state
        .webhooks()
        .rotate_secret(
            &auth.caller.tenant,
            &auth.caller.key_id,
            &webhook_id,
            request,
        )
        .await?;
    Ok(Json(rotated))
}
