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

use crate::bus::EventBus;
use crate::deliveries::{DeliveryJob, DeliveryQueue};
use crate::events::{self, Change, Event};
use crate::store::Store;
use crate::Result;
use std::collections::BTreeMap;

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
    pub fn new(services: &crate::config::Services) -> Self {
        Notify {
            store: services.store.clone(),
            retention_days: services.config.audit_retention_days,
            bus: services.bus.clone(),
            deliveries: services.delivery_queue.clone(),
        }
    }

    /// Handle one batch; an error means the whole batch is to be retried.
    pub async fn handle(&self, changes: &[Change]) -> Result<Vec<Event>> {
        let events = events::events_of_all(changes)?;
        let ledger = events::ledger_of_all(changes)?;
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
            queue.send(&jobs).await?;
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
