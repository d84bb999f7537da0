//! The audit log: one item per event in the tenant's partition, in stream
//! order by sort key (`AUDIT#<time>#<sequence>#<event id>`), expiring by TTL. Items
//! are written only from the stream's events, so a tenant can neither
//! write nor delete them; writing an event twice writes the same item.

use super::{keys, s, Filter, Item, Store};
use crate::events::Event;
use crate::listing::Page;
use crate::Result;

/// The attribute DynamoDB's TTL reads (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";

/// Filters of `GET /v1/audit-events`; all given must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub account_id: Option<String>,
    pub actor: Option<String>,
    pub event_type: Option<crate::events::EventType>,
    /// RFC 3339 bounds, inclusive.
    pub since: Option<crate::time::Timestamp>,
    pub until: Option<crate::time::Timestamp>,
    /// Types the reader may not see (their resource needs a scope it
    /// lacks): left out by the query's filter.
    pub hidden_types: Vec<crate::events::EventType>,
}

impl Store {
    /// Store events in the audit log, each kept `retention_days`.
    pub async fn put_audit_events(&self, events: &[Event], retention_days: u32) -> Result<()> {
        let requests = events
            .iter()
            .map(|event| {
                let mut item: Item = crate::aws::codec::to_item(event)?;
                item.insert("pk".into(), s(keys::tenant_pk(&event.tenant)));
                item.insert(
                    "sk".into(),
                    s(keys::audit_sk(
                        &event.time.to_string(),
                        &event.sequence,
                        &event.id,
                    )),
                );
                let expires =
                    event.time.datetime().timestamp() + i64::from(retention_days) * 86_400;
                item.insert(EXPIRES_AT.into(), super::n(expires.max(0) as u64));
                super::put_request(item)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    /// Audit events of a tenant, newest first, a page at a time.
    pub async fn list_audit_events(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Event>> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut names = Vec::new();
        let mut values = Vec::new();
        let hidden: String;
        if let Some(account_id) = &filter.account_id {
            clauses.push("account_id = :account");
            values.push((":account".to_string(), s(account_id)));
        }
        if let Some(actor) = &filter.actor {
            clauses.push("actor = :actor");
            values.push((":actor".to_string(), s(actor)));
        }
        if let Some(event_type) = filter.event_type {
            clauses.push("#type = :type");
            names.push(("#type".to_string(), "type".to_string()));
            values.push((":type".to_string(), s(event_type.as_str())));
        }
        if let Some(since) = filter.since {
            clauses.push("#time >= :since");
            values.push((":since".to_string(), s(since.to_string())));
        }
        if let Some(until) = filter.until {
            clauses.push("#time <= :until");
            values.push((":until".to_string(), s(until.to_string())));
        }
        if !filter.hidden_types.is_empty() {
            let placeholders: Vec<String> = (0..filter.hidden_types.len())
                .map(|index| format!(":hidden{index}"))
                .collect();
            hidden = format!("NOT (#type IN ({}))", placeholders.join(", "));
            clauses.push(&hidden);
            for (placeholder, event_type) in placeholders.into_iter().zip(&filter.hidden_types) {
                values.push((placeholder, s(event_type.as_str())));
            }
            if filter.event_type.is_none() {
                names.push(("#type".to_string(), "type".to_string()));
            }
        }
        if filter.since.is_some() || filter.until.is_some() {
            names.push(("#time".to_string(), "time".to_string()));
        }
        let filter = Filter {
            expression: clauses.join(" AND "),
            names,
            values,
        };
        self.filtered_page(tenant, keys::AUDIT_PREFIX, filter, limit, after, false)
            .await
    }
}
