//! `/v1/webhooks`: the tenant's webhook endpoints (scope `admin`).

use crate::auth::{Admin, Auth};
use crate::body::{parse, JsonObject};
use crate::error::ApiError;
use crate::path::Path;
use crate::query::{Limit, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use service::aws::deliveries::{Delivery, DeliveryStatus};
use service::aws::store::keys;
use service::ids::{DeliveryId, WebhookId};
use service::listing::{decode_key_cursor, encode_key_cursor};
use service::usecases::webhooks::{
    CreateWebhookRequest, RotateSecretRequest, UpdateWebhookRequest, WebhookWithSecret,
};
use service::webhooks::WebhookView;
use utoipa::IntoParams;
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this status, e.g. `FAILED`.
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<DeliveryStatus>,
    /// 1-1000, default 100.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Limit,
    /// next_cursor of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest event first.
    items: Vec<Delivery>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("webhook_id" = String, Path), DeliveriesQuery),
    responses((status = 200, description = "The endpoint's delivery log: each event's status, attempts, latency and response code", body = DeliveryPage)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_deliveries(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let tenant = &auth.caller.tenant;
    let after = decode_key_cursor(
        query.cursor.as_deref(),
        &keys::deliveries_prefix(&webhook_id),
    )?;
    // A webhook of another tenant, or none, is a 404 like any other.
    state.store.get_webhook(tenant, &webhook_id).await?;
    let page = state
        .store
        .list_deliveries(
            tenant,
            &webhook_id,
            query.status,
            query.limit.0,
            after.as_deref(),
        )
        .await?;
    Ok(Json(DeliveryPage {
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    }))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}", tag = "webhooks",
    params(("webhook_id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 200, body = Delivery)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_delivery(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path((webhook_id, delivery_id)): Path<(WebhookId, DeliveryId)>,
) -> Result<Json<Delivery>, ApiError> {
    let delivery = state
        .store
        .get_delivery(&auth.caller.tenant, &webhook_id, &delivery_id)
        .await?;
    Ok(Json(delivery))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("webhook_id" = String, Path), ("delivery_id" = String, Path)),
    responses(
        (status = 202, description = "Queued again as a new generation with fresh attempts", body = Delivery),
        (status = 409, description = "`delivery_in_progress`: an attempt is under way or due"),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn redeliver(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path((webhook_id, delivery_id)): Path<(WebhookId, DeliveryId)>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let queue = state
        .delivery_queue
        .as_ref()
        .ok_or_else(|| service::Error::NotConfigured {
            code: "webhooks_not_configured",
            message: "this deployment has no webhook delivery queue (WEBHOOK_QUEUE_URL)".into(),
        })?;
    let delivery = service::usecases::deliveries::redeliver(
        &state.store,
        queue,
        &auth.caller.tenant,
        &webhook_id,
        &delivery_id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
