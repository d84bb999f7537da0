//! What the stream's consumer does with a batch of changes: keep each
//! verification and its sessions in the account's history and access log,
//! derive the events, keep them in the audit log, put them on the EventBridge bus and
//! queue one delivery per event and endpoint that wants it. The same code
//! runs in the notifier Lambda and in the dev server's stream reader.
//!
//! Every step may run twice for one batch (a retried batch runs them all
//! again): the audit log writes the same items, the bus's consumers
//! deduplicate by event id, and the delivery queue drops a job it already
//! holds while the sender's claim drops one it already sent.

use crate::aws::bus::EventBus;
use crate::aws::changes::{self, Change};
use crate::aws::deliveries::{DeliveryJob, DeliveryQueue};
use crate::aws::store::Store;
use crate::events::Event;
use crate::Result;
use std::collections::BTreeMap;

/// What recording a batch came to.
#[derive(Debug)]
pub struct Recorded {
    /// The events of the records recorded.
    pub events: Vec<Event>,
    /// The first record not recorded (its index in the batch) and why;
    /// every record before it was recorded.
    pub failed: Option<(usize, crate::Error)>,
}

/// The parts the stream's consumer needs.
#[derive(Clone)]
pub struct Notify {
    pub store: Store,
    pub retention_days: u32,
    /// `EVENT_BUS_NAME`; without it, no events go to EventBridge.
    pub bus: Option<EventBus>,
    /// `WEBHOOK_QUEUE_URL`; without it, no webhooks are delivered.
    pub deliveries: Option<DeliveryQueue>,
}

impl Notify {
    pub fn new(services: &crate::runtime::config::Services) -> Self {
        Notify {
            store: services.store.clone(),
            retention_days: services.config.audit_retention_days,
            bus: services.bus.clone(),
            deliveries: services.delivery_queue.clone(),
        }
    }

    /// Handle one batch: every record, or an error naming why one was not
    /// recorded (the records before it were). For tests and tools that
    /// want all or an error; the stream's consumers use [`Notify::record`].
    pub async fn handle(&self, changes: &[Change]) -> Result<Vec<Event>> {
        let recorded = self.record(changes).await;
        match recorded.failed {
            None => Ok(recorded.events),
            Some((_, err)) => Err(err),
        }
    }

    /// Record a batch in order, isolating a record that cannot be
    /// recorded: the batch is tried whole, and a failing part is split in
    /// two (left first) until the failure is one record. Every record
    /// before it is recorded; the failing one and those after it are left
    /// to the caller to retry from (Lambda's `BatchItemFailures`, then its
    /// on-failure destination), so one poison record holds back only what
    /// follows it in its own shard, never a whole batch of every tenant's.
    pub async fn record(&self, changes: &[Change]) -> Recorded {
        let mut events = Vec::new();
        // Ranges still to record, the leftmost last (a stack).
        let mut todo = Vec::new();
        todo.push(0..changes.len());
        while let Some(range) = todo.pop() {
            if range.is_empty() {
                continue;
            }
            match self.record_all(&changes[range.clone()]).await {
                Ok(more) => events.extend(more),
                Err(err) if range.len() == 1 => {
                    return Recorded {
                        events,
                        failed: Some((range.start, err)),
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err.chain(), records = range.len(), "part of a stream batch not recorded; splitting it");
                    let middle = range.start + range.len() / 2;
                    todo.push(middle..range.end);
                    todo.push(range.start..middle);
                }
            }
        }
        Recorded {
            events,
            failed: None,
        }
    }

    /// Every step for `changes` at once; an error means some step failed
    /// (each is idempotent, so running them again is safe).
    async fn record_all(&self, changes: &[Change]) -> Result<Vec<Event>> {
        let events = changes::events_of_all(changes);
        let ledger = changes::ledger_of_all(changes);
        if !ledger.is_empty() {
            self.store.put_ledger(&ledger, self.retention_days).await?;
        }
        if events.is_empty() {
            return Ok(events);
        }
        self.store
            .put_audit_events(&events, self.retention_days)
            .await?;
        if let Some(bus) = &self.bus {
            bus.publish(&events).await?;
        }
        if let Some(queue) = &self.deliveries {
            let jobs = self.delivery_jobs(&events).await?;
            let now = crate::time::Timestamp::now();
            for refused in queue.send(&jobs).await? {
                tracing::error!(
                    tenant = %refused.job.tenant,
                    webhook = %refused.job.webhook_id,
                    event = %refused.job.event.id,
                    reason = %refused.reason,
                    "the delivery queue refused a job; it is recorded as a FAILED delivery"
                );
                self.store
                    .record_unqueued_delivery(
                        &refused.job,
                        &refused.reason,
                        now,
                        self.retention_days,
                    )
                    .await?;
            }
        }
        Ok(events)
    }

    /// One job per event and enabled endpoint of its tenant that wants
    /// it, in event order (one Query per tenant of the batch).
    pub async fn delivery_jobs(&self, events: &[Event]) -> Result<Vec<DeliveryJob>> {
        let mut tenants: BTreeMap<&str, Vec<crate::webhooks::Webhook>> = BTreeMap::new();
        for event in events {
            tenants.entry(event.tenant.as_str()).or_default();
        }
        let lists = futures::future::try_join_all(
            tenants
                .keys()
                .map(|tenant| self.store.list_webhooks(tenant)),
        )
        .await?;
        for (hooks, list) in tenants.values_mut().zip(lists) {
            *hooks = list;
        }
        let mut jobs = Vec::new();
        for event in events {
            for hook in &tenants[event.tenant.as_str()] {
                if hook.wants(event.event_type) {
                    jobs.push(DeliveryJob {
                        tenant: event.tenant.clone(),
                        webhook_id: hook.webhook_id.clone(),
                        generation: 0,
                        event: event.clone(),
                    });
                }
            }
        }
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty batch (a stream poll that found nothing) costs nothing.
    #[tokio::test]
    async fn an_empty_batch_makes_no_call() {
        let offline = crate::usecases::offline::OfflineStore::new();
        let notify = Notify {
            store: offline.store.clone(),
            retention_days: 30,
            bus: None,
            deliveries: None,
        };
        let recorded = notify.record(&[]).await;
        assert!(recorded.events.is_empty() && recorded.failed.is_none());
        assert!(notify.handle(&[]).await.unwrap().is_empty());
        assert_eq!(offline.calls(), 0);
    }
}
