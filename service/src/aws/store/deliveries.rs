//! Delivery items (`DELIVERY#<webhook id>#<delivery id>` in the tenant's
//! partition, expiring with the audit log) and the failure state of an
//! endpoint. Every step is one conditional write, so two copies of a
//! message never both send.

use super::expression::UpdateExpression;
use super::{applied, is_condition_failure, item_key, keys, n, refused_item, s, Filter, Store};
use crate::aws::deliveries::{Attempt, Delivery, DeliveryJob, DeliveryStatus, MAX_ATTEMPTS_KEPT};
use crate::listing::Page;
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

const RESOURCE: &str = "delivery";

impl Store {
    /// Take a delivery for one attempt, creating its item on the first:
    /// allowed when it is new, pending or retrying in the job's generation,
    /// or when an earlier attempt's lease ran out. `None`: another copy of
    /// the message has it, or had it and finished (a duplicate).
    pub async fn claim_delivery(
        &self,
        job: &DeliveryJob,
        now: Timestamp,
        lease: std::time::Duration,
        retention_days: u32,
    ) -> Result<Option<Delivery>> {
        let event = &job.event;
        let lease_until = Timestamp::from_datetime(
            now.datetime() + chrono::Duration::from_std(lease).unwrap_or_default(),
        );
        let expires = now.datetime().timestamp() + i64::from(retention_days) * 86_400;
        let mut sets = vec![
            "#status = :sending",
            "lease_until = :lease",
            "attempts = if_not_exists(attempts, :zero) + :one",
            "generation = if_not_exists(generation, :generation)",
            "delivery_id = if_not_exists(delivery_id, :delivery)",
            "webhook_id = if_not_exists(webhook_id, :webhook)",
            "event_id = if_not_exists(event_id, :event)",
            "event_type = if_not_exists(event_type, :event_type)",
            "payload = if_not_exists(payload, :payload)",
            "attempt_log = if_not_exists(attempt_log, :empty)",
            "created_at = if_not_exists(created_at, :now)",
            "updated_at = :now",
            "#type = :type",
            "expires_at = :expires",
        ];
        let mut update = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                &job.tenant,
                keys::delivery_sk(&job.webhook_id, &job.delivery_id()),
            )))
            .condition_expression(
                "attribute_not_exists(sk) OR (generation = :generation AND (#status IN (:pending, :retrying) OR (#status = :sending AND lease_until < :now)))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":sending", s(DeliveryStatus::Sending.as_str()))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":retrying", s(DeliveryStatus::Retrying.as_str()))
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":generation", n(u64::from(job.generation)))
            .expression_attribute_values(":delivery", s(job.delivery_id()))
            .expression_attribute_values(":webhook", s(&job.webhook_id))
            .expression_attribute_values(":event", s(&event.id))
            .expression_attribute_values(":event_type", s(event.event_type.as_str()))
            .expression_attribute_values(":payload", s(serde_json::to_string(event).map_err(crate::error::store_error)?))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":type", s("delivery"))
            .expression_attribute_values(":expires", n(expires.max(0) as u64))
            .return_values(ReturnValue::AllNew);
        if let Some(account_id) = &event.account_id {
            sets.push("account_id = if_not_exists(account_id, :account)");
            update = update.expression_attribute_values(":account", s(account_id));
        }
        match update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(output) => Ok(Some(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?)),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Record a job the delivery queue refused as a FAILED delivery, its
    /// one attempt saying why (`NOT_QUEUED`), so the endpoint's log shows
    /// it and a redeliver can send it. Written only if the delivery has no
    /// item yet: a refusal never overwrites a delivery under way.
    pub async fn record_unqueued_delivery(
        &self,
        job: &DeliveryJob,
        reason: &str,
        now: Timestamp,
        retention_days: u32,
    ) -> Result<()> {
        let event = &job.event;
        let expires = now.datetime().timestamp() + i64::from(retention_days) * 86_400;
        let attempt = Attempt {
            number: 1,
            at: now,
            outcome: crate::aws::deliveries::AttemptOutcome::NotQueued,
            response_status: None,
            latency_ms: 0,
            response_excerpt: None,
            error: Some(reason.chars().take(1024).collect()),
        };
        let delivery = Delivery {
            delivery_id: job.delivery_id(),
            webhook_id: job.webhook_id.clone(),
            event_id: event.id.clone(),
            event_type: event.event_type,
            account_id: event.account_id.clone(),
            status: DeliveryStatus::Failed,
            generation: job.generation,
            attempts: 1,
            attempt_log: vec![attempt],
            next_attempt_at: None,
            delivered_at: None,
            created_at: now,
            updated_at: now,
            payload: String::new(),
            lease_until: None,
        };
        let mut item: super::Item = crate::aws::codec::to_item(&delivery)?;
        item.extend(item_key(
            &job.tenant,
            keys::delivery_sk(&job.webhook_id, &job.delivery_id()),
        ));
        item.insert(
            "payload".into(),
            s(serde_json::to_string(event).map_err(crate::error::store_error)?),
        );
        item.insert("type".into(), s("delivery"));
        item.insert("expires_at".into(), n(expires.max(0) as u64));
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        // Refused: the delivery already has an item (a retried batch).
        applied(result).map(|_| ())
    }

    /// Record how the claimed attempt ended. `false`: the claim was lost
    /// (its lease ran out and another copy took over), nothing written.
    pub async fn finish_delivery_attempt(
        &self,
        tenant: &str,
        claimed: &Delivery,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_at: Option<Timestamp>,
    ) -> Result<bool> {
        let now = attempt.at;
        let mut log = claimed.attempt_log.clone();
        log.push(attempt);
        let excess = log.len().saturating_sub(MAX_ATTEMPTS_KEPT);
        log.drain(..excess);
        let mut update = UpdateExpression::default();
        update
            .set(&["status"], s(status.as_str()))
            .set(
                &["attempt_log"],
                crate::aws::codec::to_attribute_value(&log)?,
            )
            .set(&["updated_at"], s(now.to_string()))
            .remove(&["lease_until"])
            .set_or_remove(
                &["next_attempt_at"],
                next_attempt_at.map(|at| s(at.to_string())),
            )
            .require_equal("generation", n(u64::from(claimed.generation)))
            .require_equal("attempts", n(u64::from(claimed.attempts)))
            .require_equal("status", s(DeliveryStatus::Sending.as_str()));
        if status == DeliveryStatus::Delivered {
            update.set(&["delivered_at"], s(now.to_string()));
        }
        let request = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::delivery_sk(&claimed.webhook_id, &claimed.delivery_id),
            )));
        let result = update.apply(request).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Start a new generation of a delivery that is not under way
    /// (DELIVERED, FAILED, or PENDING whose job was never queued): PENDING,
    /// no attempts yet. Refused while an attempt is under way or due.
    pub async fn reset_delivery(
        &self,
        tenant: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Delivery> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::delivery_sk(webhook_id, delivery_id),
            )))
            .update_expression(
                "SET #status = :pending, generation = generation + :one, attempts = :zero, updated_at = :now REMOVE next_attempt_at, lease_until",
            )
            .condition_expression(
                "attribute_exists(sk) AND #status IN (:delivered, :failed, :pending)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":delivered", s(DeliveryStatus::Delivered.as_str()))
            .expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => Err(match refused_item(&err) {
                None => Error::NotFound {
                    resource: RESOURCE,
                    id: delivery_id.to_string(),
                },
                Some(_) => Error::Refused {
                    code: "delivery_in_progress",
                    message: "this delivery is still being attempted; redeliver it once it is DELIVERED or FAILED".into(),
                },
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    pub async fn get_delivery(
        &self,
        tenant: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Delivery> {
        self.get_item(tenant, keys::delivery_sk(webhook_id, delivery_id))
            .await?
            .map(crate::aws::codec::from_item)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: RESOURCE,
                id: delivery_id.to_string(),
            })
    }

    /// An endpoint's delivery log, newest first, a page at a time.
    pub async fn list_deliveries(
        &self,
        tenant: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Delivery>> {
        let filter = match status {
            Some(status) => Filter {
                expression: "#status = :status".into(),
                names: vec![("#status".into(), "status".into())],
                values: vec![(":status".into(), s(status.as_str()))],
            },
            None => Filter::default(),
        };
        self.filtered_page(
            tenant,
            &keys::deliveries_prefix(webhook_id),
            filter,
            limit,
            after,
            false,
        )
        .await
    }

    /// Note a failed delivery on its endpoint; returns since when the
    /// endpoint has been failing (this failure's time if it was healthy).
    /// `None`: the endpoint is gone.
    pub async fn webhook_failing(
        &self,
        tenant: &str,
        webhook_id: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, keys::webhook_sk(webhook_id))))
            .update_expression("SET failing_since = if_not_exists(failing_since, :now)")
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":now", s(now.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .attributes
                .and_then(|mut item| item.remove("failing_since"))
                .and_then(|value| value.as_s().ok().and_then(|text| Timestamp::parse(text)))),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// A delivery succeeded: the endpoint is healthy again.
    pub async fn webhook_recovered(&self, tenant: &str, webhook_id: &str) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, keys::webhook_sk(webhook_id))))
            .update_expression("REMOVE failing_since")
            .condition_expression("attribute_exists(failing_since)")
            .send()
            .await;
        applied(result).map(drop)
    }

    /// Disable an endpoint that kept failing (a new version, so the
    /// change is an event). `false`: it was already disabled or is gone.
    pub async fn disable_webhook(
        &self,
        tenant: &str,
        webhook_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, keys::webhook_sk(webhook_id))))
            .update_expression(
                "SET enabled = :false, disabled_reason = :reason, updated_at = :now, updated_by = :actor, version = version + :one",
            )
            .condition_expression("enabled = :true")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":actor", s(crate::aws::deliveries::WEBHOOK_SENDER))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
