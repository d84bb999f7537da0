//! Register, change, rotate and remove webhook endpoints.

use crate::aws::store::keys;
use crate::aws::store::Store;
use crate::events::EventType;
use crate::time::Timestamp;
use crate::webhooks::{self, SigningSecret, Webhook, MAX_WEBHOOKS};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// https URL of a public host.
    pub url: String,
    /// The event types to deliver; absent or empty: all of them.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// Up to 256 characters.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// Hours the previous secret keeps signing (0-168, default 24), so
    /// receivers can switch without missing a delivery.
    #[serde(default)]
    pub overlap_hours: Option<u32>,
}

/// A webhook with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: webhooks::WebhookView,
    /// Verifies `Webhook-Signature`. Store it now: it is not shown again.
    pub signing_secret: String,
}

/// The parts webhook management needs.
#[derive(Clone, Copy)]
pub struct Webhooks<'a> {
    pub store: &'a Store,
    /// Let endpoints be plain http on loopback (the dev server only).
    pub allow_loopback_http: bool,
}

impl Webhooks<'_> {
    pub async fn create(
        &self,
        tenant: &str,
        actor: &str,
        request: CreateWebhookRequest,
    ) -> Result<WebhookWithSecret> {
        webhooks::check_url("url", &request.url, self.allow_loopback_http)?;
        check_description(request.description.as_deref())?;
        let now = Timestamp::now();
        let secret = webhooks::new_secret();
        let webhook = Webhook {
            webhook_id: ulid::Ulid::new().to_string(),
            url: request.url,
            event_types: dedup(request.event_types),
            description: request.description,
            enabled: request.enabled,
            secrets: vec![SigningSecret {
                secret: secret.clone(),
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            updated_by: actor.to_string(),
            version: 1,
            failing_since: None,
            disabled_reason: None,
        };
        crate::usecases::quota::create_within(
            self.store,
            tenant,
            keys::WEBHOOK_PREFIX,
            keys::WEBHOOK_PREFIX,
            |webhooks: &[Webhook]| {
                crate::usecases::quota::below(
                    webhooks.len(),
                    MAX_WEBHOOKS,
                    "too_many_webhooks",
                    format!("a tenant has at most {MAX_WEBHOOKS} webhooks; delete one first"),
                )
            },
            |read| self.store.create_webhook(tenant, &webhook, read),
        )
        .await?;
        Ok(WebhookWithSecret {
            webhook: webhook.view(),
            signing_secret: secret,
        })
    }

    /// Change the fields given; the rest stay.
    pub async fn update(
        &self,
        tenant: &str,
        actor: &str,
        webhook_id: &str,
        request: UpdateWebhookRequest,
    ) -> Result<Webhook> {
        if let Some(url) = &request.url {
            webhooks::check_url("url", url, self.allow_loopback_http)?;
        }
        check_description(request.description.as_deref())?;
        let current = self.store.get_webhook(tenant, webhook_id).await?;
        let mut next = current.clone();
        if let Some(url) = request.url {
            next.url = url;
        }
        if let Some(types) = request.event_types {
            next.event_types = dedup(types);
        }
        if request.description.is_some() {
            next.description = request.description;
        }
        if let Some(enabled) = request.enabled {
            if enabled && !current.enabled {
                // Enabled again: a fresh start, whatever disabled it.
                next.failing_since = None;
                next.disabled_reason = None;
            }
            next.enabled = enabled;
        }
        self.write(tenant, actor, current, next).await
    }

    /// A new signing secret; the previous one keeps signing for the
    /// overlap, older ones stop now.
    pub async fn rotate_secret(
        &self,
        tenant: &str,
        actor: &str,
        webhook_id: &str,
        request: RotateSecretRequest,
    ) -> Result<WebhookWithSecret> {
        let hours = request
            .overlap_hours
            .unwrap_or(webhooks::DEFAULT_OVERLAP_HOURS);
        if hours > webhooks::MAX_OVERLAP_HOURS {
            return Err(Error::invalid(
                "overlap_hours",
                format!("overlap_hours is 0-{}", webhooks::MAX_OVERLAP_HOURS),
            ));
        }
        let current = self.store.get_webhook(tenant, webhook_id).await?;
        let now = Timestamp::now();
        let until =
            Timestamp::from_datetime(now.datetime() + chrono::Duration::hours(i64::from(hours)));
        let secret = webhooks::new_secret();
        let mut next = current.clone();
        next.secrets = vec![SigningSecret {
            secret: secret.clone(),
            created_at: now,
            expires_at: None,
        }];
        if let Some(previous) = current.secrets.first().filter(|_| hours > 0) {
            next.secrets.push(SigningSecret {
                expires_at: Some(until),
                ..previous.clone()
            });
        }
        let written = self.write(tenant, actor, current, next).await?;
        Ok(WebhookWithSecret {
            webhook: written.view(),
            signing_secret: secret,
        })
    }

    async fn write(
        &self,
        tenant: &str,
        actor: &str,
        current: Webhook,
        mut next: Webhook,
    ) -> Result<Webhook> {
        next.updated_at = Timestamp::now();
        next.updated_by = actor.to_string();
        next.version = current.version + 1;
        self.store
            .put_webhook(tenant, &next, Some(current.version))
            .await?;
        Ok(next)
    }
}

fn check_description(description: Option<&str>) -> Result<()> {
    match description {
        Some(text) => crate::validation::text("description", text, webhooks::MAX_DESCRIPTION_LEN),
        None => Ok(()),
    }
}

fn dedup(mut types: Vec<EventType>) -> Vec<EventType> {
    let mut seen = std::collections::HashSet::new();
    types.retain(|t| seen.insert(*t));
    types
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{assert_names, OfflineStore};

    /// A webhook URL a tenant picked is checked before anything is stored
    /// or read: no private address, no plain http, no overlong description.
    #[tokio::test]
    async fn an_endpoint_url_is_checked_before_any_round_trip() {
        let offline = OfflineStore::new();
        let webhooks = Webhooks {
            store: &offline.store,
            allow_loopback_http: false,
        };
        for (value, field) in [
            (
                serde_json::json!({"url": "http://hooks.example.com/x"}),
                "url",
            ),
            (serde_json::json!({"url": "https://10.0.0.1/x"}), "url"),
            (serde_json::json!({"url": "https://127.0.0.1/x"}), "url"),
            (
                serde_json::json!({"url": "https://hooks.example.com/x", "description": "d".repeat(300)}),
                "description",
            ),
        ] {
            let request: CreateWebhookRequest = serde_json::from_value(value.clone()).unwrap();
            let err = webhooks.create("tenant", "key", request).await.unwrap_err();
            assert_names(&err, field, &value);
            let update: UpdateWebhookRequest = serde_json::from_value(value.clone()).unwrap();
            let err = webhooks
                .update("tenant", "key", "01J00000000000000000000000", update)
                .await
                .unwrap_err();
            assert_names(&err, field, &value);
        }
        assert_eq!(offline.calls(), 0);
    }
}
