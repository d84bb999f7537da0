//! Amazon EventBridge: every domain event is put on the deployment's
//! custom bus, for vendors who route events inside AWS.
//!
//! Conventions (the README's "Events on EventBridge"): `source` is
//! `EVENT_SOURCE` (default `account-onboarding`), `detail-type` is the
//! event type (`account.created`), `detail` is the event as webhooks carry
//! it, and the entry's time is the change's. Delivery is at least once: a
//! retried stream batch puts its events again, so rules and targets
//! deduplicate by `detail.id`.

use crate::events::Event;
use crate::packing;
use crate::{Error, Result};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::time::Duration;

/// Rounds for entries EventBridge refuses one by one (throttling).
const ROUNDS: u32 = 4;

#[derive(Clone, Debug)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
    source: String,
}

impl EventBus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: String, source: String) -> Self {
        EventBus {
            client,
            name,
            source,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Put every event on the bus, packed into PutEvents calls by count
    /// and by size; an error means some may be missing (the caller
    /// retries the batch: the others are then put twice). An event larger
    /// than a call carries is logged and left out: it would fail the same
    /// on every retry ([`crate::events::MAX_EVENT_BYTES`] keeps events
    /// well below it).
    pub async fn publish(&self, events: &[Event]) -> Result<()> {
        let entries: Vec<PutEventsRequestEntry> = events
            .iter()
            .map(|event| self.entry(event))
            .collect::<Result<_>>()?;
        let sizes: Vec<usize> = entries.iter().map(entry_size).collect();
        for batch in packing::pack(&sizes, packing::EVENTBRIDGE_BATCH) {
            if batch.len() == 1 && sizes[batch.start] > packing::EVENTBRIDGE_BATCH.bytes {
                tracing::error!(
                    event = %events[batch.start].id,
                    bytes = sizes[batch.start],
                    "an event too large for EventBridge is left off the bus"
                );
                continue;
            }
            let mut pending = entries[batch].to_vec();
            for round in 0..ROUNDS {
                let output = self
                    .client
                    .put_events()
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|err| {
                        Error::unavailable_because("EventBridge PutEvents failed", err)
                    })?;
                if output.failed_entry_count == 0 {
                    pending.clear();
                    break;
                }
                // Results are in the order of the entries; those with an
                // error code were not put.
                let results = output.entries.unwrap_or_default();
                pending = pending
                    .into_iter()
                    .zip(results)
                    .filter(|(_, result)| result.error_code.is_some())
                    .map(|(entry, _)| entry)
                    .collect();
                tokio::time::sleep(Duration::from_millis(100 << round)).await;
            }
            if !pending.is_empty() {
                return Err(Error::unavailable(format!(
                    "EventBridge refused {} events",
                    pending.len()
                )));
            }
        }
        Ok(())
    }

    fn entry(&self, event: &Event) -> Result<PutEventsRequestEntry> {
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(&self.source)
            .detail_type(event.event_type.as_str())
            .detail(serde_json::to_string(event).map_err(crate::error::store_error)?)
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                event.time.datetime().timestamp(),
            ))
            .build())
    }
}

/// An entry's size as EventBridge counts it against a call's limit: 14
/// bytes for its time, then its source, detail-type and detail.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    14 + [entry.source(), entry.detail_type(), entry.detail()]
        .into_iter()
        .map(|part| part.map_or(0, str::len))
        .sum::<usize>()
}
