//! Idempotency keys: one item per API key and key, expiring by TTL.
//!
//! Taking a key is one conditional PutItem that also answers, through the
//! item a refused condition returns, what holds it: no read first.

use super::{applied, is_condition_failure, item_key, keys, n, refused_item, s, Item, Store};
use crate::idempotency::{KeptResponse, Taken, LEASE, RETENTION};
use crate::Result;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

const RUNNING: &str = "RUNNING";
const DONE: &str = "DONE";

fn now_millis() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

impl Store {
    /// Take `key_digest` of API key `key_id` for a request with
    /// `fingerprint`: free, expired, or held by a request whose lease ran
    /// out (its worker died) is taken; anything else says what holds it.
    pub async fn take_idempotency_key(
        &self,
        tenant: &str,
        key_id: &str,
        key_digest: &str,
        fingerprint: &str,
    ) -> Result<Taken> {
        let now = now_millis();
        let token = crate::crypto::random_hex(16);
        let mut item: Item = item_key(tenant, keys::idempotency_sk(key_id, key_digest));
        item.insert("type".into(), s("idempotency"));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("state".into(), s(RUNNING));
        item.insert("token".into(), s(&token));
        item.insert("lease_until".into(), n(now + LEASE.as_millis() as u64));
        item.insert(
            super::EXPIRES_AT.into(),
            n(now / 1000 + RETENTION.as_secs()),
        );
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now_s OR (#state = :running AND lease_until < :now_ms)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":running", s(RUNNING))
            .expression_attribute_values(":now_s", n(now / 1000))
            .expression_attribute_values(":now_ms", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let held = match result {
            Ok(_) => return Ok(Taken::Fresh { token }),
            Err(err) if is_condition_failure(&err) => refused_item(&err).unwrap_or_default(),
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        };
        let text = |name: &str| held.get(name).and_then(|v| v.as_s().ok()).cloned();
        if text("fingerprint").as_deref() != Some(fingerprint) {
            return Ok(Taken::OtherRequest);
        }
        match (text("state").as_deref(), held.get("response")) {
            (Some(DONE), Some(response)) => Ok(Taken::Done(
                crate::aws::codec::from_attribute_value(response.clone())?,
            )),
            _ => Ok(Taken::Running),
        }
    }

    /// Keep the response of the request holding `token`. A request whose
    /// lease was taken over keeps nothing: the one that took it will.
    pub async fn keep_idempotent_response(
        &self,
        tenant: &str,
        key_id: &str,
        key_digest: &str,
        token: &str,
        response: &KeptResponse,
    ) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::idempotency_sk(key_id, key_digest),
            )))
            .update_expression("SET #state = :done, #response = :response REMOVE lease_until")
            .condition_expression("#token = :token")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(
                ":response",
                crate::aws::codec::to_attribute_value(response)?,
            )
            .send()
            .await;
        applied(result).map(drop)
    }

    /// Let go of a key whose request kept nothing (it failed), so a retry
    /// runs afresh.
    pub async fn release_idempotency_key(
        &self,
        tenant: &str,
        key_id: &str,
        key_digest: &str,
        token: &str,
    ) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::idempotency_sk(key_id, key_digest),
            )))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        applied(result).map(drop)
    }
}
