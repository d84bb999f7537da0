//! Findings a team works: suppressing one, and lifting it.
//!
//! A suppression is written on the finding and, in the same transaction,
//! on its attachment's `suppressed` map (severity and expiry), so the
//! summary counts suppressed findings apart from the open ones with the
//! attachment it reads anyway; an expired entry counts as open again at
//! once, with no sweep.

use super::{item_key, keys, s, Filter, Store};
use crate::listing::Page;
use crate::scans::{
    Attachment, Finding, FindingStatus, Severity, SuppressedChange, SuppressedFinding, Suppression,
};
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use std::collections::HashMap;

impl Store {
    /// Suppress a finding (`Some`) or lift its suppression (`None`).
    /// Returns the finding as it now is; 404 when there is no such finding.
    pub async fn set_suppression(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        finding_id: &str,
        suppression: Option<&Suppression>,
    ) -> Result<Finding> {
        // A concurrent change of the attachment's map refuses the
        // transaction; once more with what it holds then.
        for _ in 0..3 {
            if let Some(done) = self
                .try_set_suppression(tenant, account_id, data_source, finding_id, suppression)
                .await?
            {
                return Ok(done);
            }
        }
        Err(Error::Conflict(
            "the finding's data source changed while suppressing it; try again".into(),
        ))
    }

    async fn try_set_suppression(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        finding_id: &str,
        suppression: Option<&Suppression>,
    ) -> Result<Option<Finding>> {
        let (finding, attachment) = self
            .finding_and_attachment(tenant, account_id, data_source, finding_id)
            .await?;
        let finding = finding.ok_or_else(|| Error::NotFound {
            resource: "finding",
            id: format!("{account_id}/{data_source}/{finding_id}"),
        })?;
        let triage = finding.triage(attachment.as_ref(), suppression, Timestamp::now())?;
        let finding_sk = keys::finding_sk(account_id, data_source, finding_id);
        let mut transaction = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .update(self.triage_update(tenant, finding_sk, suppression)?)
                .build(),
        );
        if let Some(change) = &triage.suppressed {
            let attachment_sk = keys::attachment_sk(account_id, data_source);
            transaction = transaction.transact_items(
                TransactWriteItem::builder()
                    .update(self.suppressed_update(tenant, attachment_sk, change)?)
                    .build(),
            );
        }
        match transaction.send().await {
            Ok(_) => Ok(Some(triage.finding)),
            Err(err) if super::is_transaction_condition_failure(&err) => Ok(None),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// A finding and its attachment (absent once detached), in one read.
    async fn finding_and_attachment(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        finding_id: &str,
    ) -> Result<(Option<Finding>, Option<Attachment>)> {
        let finding_sk = keys::finding_sk(account_id, data_source, finding_id);
        let attachment_sk = keys::attachment_sk(account_id, data_source);
        let mut finding = None;
        let mut attachment = None;
        for item in self
            .batch_get(vec![
                item_key(tenant, finding_sk.clone()),
                item_key(tenant, attachment_sk),
            ])
            .await?
        {
            match item.get("sk").and_then(|v| v.as_s().ok()) {
                Some(sk) if *sk == finding_sk => {
                    finding = Some(crate::aws::codec::from_item(item)?)
                }
                _ => attachment = Some(crate::aws::codec::from_item(item)?),
            }
        }
        Ok((finding, attachment))
    }

    /// The finding's suppression and status, and one more triage revision;
    /// stamped with who triaged it and in which request, for its event.
    fn triage_update(
        &self,
        tenant: &str,
        finding_sk: String,
        suppression: Option<&Suppression>,
    ) -> Result<Update> {
        let update = match suppression {
            Some(suppression) => Update::builder()
                .update_expression(
                    "SET suppression = :suppression, #status = :status ADD triage_revision :one",
                )
                .expression_attribute_values(
                    ":suppression",
                    crate::aws::codec::to_attribute_value(suppression)?,
                )
                .expression_attribute_values(
                    ":status",
                    crate::aws::codec::to_attribute_value(FindingStatus::Suppressed)?,
                ),
            None => Update::builder()
                .update_expression(
                    "SET #status = :status REMOVE suppression ADD triage_revision :one",
                )
                .expression_attribute_values(
                    ":status",
                    crate::aws::codec::to_attribute_value(FindingStatus::Open)?,
                ),
        }
        .table_name(self.table())
        .set_key(Some(item_key(tenant, finding_sk)))
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_names("#status", "status");
        super::stamp_update(update)
            .build()
            .map_err(crate::error::store_error)
    }

    /// The attachment's whole map, on the condition it is as read: a
    /// concurrent change is retried, never overwritten.
    fn suppressed_update(
        &self,
        tenant: &str,
        attachment_sk: String,
        change: &SuppressedChange,
    ) -> Result<Update> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, attachment_sk)))
            .expression_attribute_names("#suppressed", "suppressed");
        let update = if change.after.is_empty() {
            update.update_expression("REMOVE #suppressed")
        } else {
            update
                .update_expression("SET #suppressed = :map")
                .expression_attribute_values(
                    ":map",
                    crate::aws::codec::to_attribute_value(&change.after)?,
                )
        };
        update
            .condition_expression(format!(
                "attribute_exists(pk) AND {}",
                suppressed_still(&change.before, ":before")
            ))
            .expression_attribute_values(
                ":before",
                crate::aws::codec::to_attribute_value(&change.before)?,
            )
            .build()
            .map_err(crate::error::store_error)
    }
}

/// A finding as its item: keyed in its account, and placed in the
/// tenant's severity order.
pub fn finding_item(tenant: &str, finding: &Finding) -> Result<super::Item> {
    let mut item: super::Item = crate::aws::codec::to_item(finding)?;
    item.extend(item_key(
        tenant,
        keys::finding_sk(
            &finding.account_id,
            &finding.data_source,
            &finding.finding_id,
        ),
    ));
    item.insert("type".into(), s("finding"));
    item.insert(
        crate::aws::schema::FINDINGS_PARTITION.into(),
        s(keys::tenant_pk(tenant)),
    );
    item.insert(
        crate::aws::schema::ACCOUNT_FINDINGS_PARTITION.into(),
        s(keys::account_findings_pk(tenant, &finding.account_id)),
    );
    item.insert(
        crate::aws::schema::FINDINGS_ORDER.into(),
        s(finding.severity_order()),
    );
    // Resolved: kept for RESOLVED_RETENTION_DAYS, then TTL removes it.
    if let Some(at) = finding.expires_at() {
        item.insert(super::audit::EXPIRES_AT.into(), super::n(at));
    }
    Ok(item)
}

/// Which severity-ordered partition a listing reads.
pub enum FindingsOrder<'a> {
    /// Every account of the tenant.
    Tenant,
    /// One account.
    Account(&'a str),
}

impl Store {
    /// A page of findings in severity order (critical first, then by
    /// score; resolved ones last), as of `now`: of one data source,
    /// severities (none: all) and status (`None`: all). Reads the
    /// severity index of `order`'s partition, the status's key range
    /// only, ten Query pages at most per call.
    // Long: the Query loop over the severity index: key range by status, filters and a page
    // budget, which must agree with each other (where the cursor resumes: scans::ResumeAt).
    #[allow(clippy::too_many_arguments)]
    pub async fn ordered_findings(
        &self,
        tenant: &str,
        order: FindingsOrder<'_>,
        data_source: Option<&str>,
        severities: &[Severity],
        status: Option<FindingStatus>,
        now: Timestamp,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Finding>> {
        use crate::aws::schema::{
            ACCOUNT_FINDINGS_INDEX, ACCOUNT_FINDINGS_PARTITION, FINDINGS_INDEX, FINDINGS_ORDER,
            FINDINGS_PARTITION,
        };
        let (index, partition_key, partition) = match order {
            FindingsOrder::Tenant => (FINDINGS_INDEX, FINDINGS_PARTITION, keys::tenant_pk(tenant)),
            FindingsOrder::Account(account) => (
                ACCOUNT_FINDINGS_INDEX,
                ACCOUNT_FINDINGS_PARTITION,
                keys::account_findings_pk(tenant, account),
            ),
        };
        // Resolved findings sort last: open and suppressed ones are read
        // without them, resolved ones alone.
        let resolved = crate::scans::RESOLVED_RANK.to_string();
        let range = match status {
            None => "",
            Some(FindingStatus::Resolved) => " AND begins_with(#order, :resolved)",
            Some(_) => " AND #order < :resolved",
        };
        let filter = findings_filter(status, severities, data_source, now);
        let start_key = |order: &str| -> Result<HashMap<String, AttributeValue>> {
            let (account, source, id) = Finding::of_severity_order(order)
                .ok_or_else(|| Error::store("a severity-order cursor that does not parse"))?;
            let mut key = item_key(tenant, keys::finding_sk(account, source, id));
            key.insert(partition_key.into(), s(&partition));
            key.insert(FINDINGS_ORDER.into(), s(order));
            Ok(key)
        };
        let mut start = match crate::scans::ResumeAt::of(status, after) {
            crate::scans::ResumeAt::Start => None,
            crate::scans::ResumeAt::After(cursor) => Some(cursor.to_string()),
            crate::scans::ResumeAt::PastTheEnd => {
                return Ok(Page {
                    items: Vec::new(),
                    next_cursor: None,
                })
            }
        };
        let mut found: Vec<Finding> = Vec::new();
        let mut last: Option<String> = None;
        for _ in 0..10 {
            let mut query = self
                .client
                .query()
                .table_name(self.table())
                .index_name(index)
                .key_condition_expression(format!("#partition = :partition{range}"))
                .expression_attribute_names("#partition", partition_key)
                .expression_attribute_values(":partition", s(&partition))
                .limit(((limit + 1 - found.len()).max(25)) as i32)
                .set_exclusive_start_key(start.as_deref().map(start_key).transpose()?);
            if !range.is_empty() {
                query = query
                    .expression_attribute_names("#order", FINDINGS_ORDER)
                    .expression_attribute_values(":resolved", s(&resolved));
            }
            if !filter.expression.is_empty() {
                query = query.filter_expression(&filter.expression);
                for (name, value) in &filter.names {
                    query = query.expression_attribute_names(name, value);
                }
                for (name, value) in &filter.values {
                    query = query.expression_attribute_values(name, value.clone());
                }
            }
            let output = query.send().await.map_err(crate::aws::errors::from_sdk)?;
            for item in output.items.unwrap_or_default() {
                if found.len() == limit {
                    return Ok(Page {
                        items: found,
                        next_cursor: last,
                    });
                }
                last = super::text_of(&item, FINDINGS_ORDER);
                let finding: Finding = crate::aws::codec::from_item(item)?;
                found.push(finding.as_of(now));
            }
            match output
                .last_evaluated_key
                .and_then(|key| key.get(FINDINGS_ORDER).and_then(|v| v.as_s().ok()).cloned())
            {
                None => {
                    return Ok(Page {
                        items: found,
                        next_cursor: None,
                    })
                }
                Some(order) => start = Some(order),
            }
        }
        Ok(Page {
            items: found,
            next_cursor: start,
        })
    }

    /// Rewrite every finding of a tenant as [`finding_item`] places it, so
    /// findings written before an index existed enter it; gives how many.
    /// (An operator's command, not a request path: it reads the tenant's
    /// partition page by page.)
    pub async fn reindex_findings(&self, tenant: &str) -> Result<usize> {
        let mut items = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("#type = :finding")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s("ACCT#"))
            .expression_attribute_values(":finding", s("finding"))
            .into_paginator()
            .items()
            .send();
        let mut findings: Vec<Finding> = Vec::new();
        while let Some(item) = items.next().await {
            findings.push(crate::aws::codec::from_item(
                item.map_err(crate::aws::errors::from_sdk)?,
            )?);
        }
        // Written as a scan writes them, so a hand triage made meanwhile
        // is kept.
        let count = findings.len();
        let rules = self.suppression_matcher(tenant).await?;
        self.write_settled_findings(tenant, findings, &rules)
            .await?;
        Ok(count)
    }
}

/// What an account's or a tenant's listing keeps: findings in `status` as
/// of `now` (`None`: all), of `severities` (none: all), of one data source.
pub(super) fn findings_filter(
    status: Option<FindingStatus>,
    severities: &[Severity],
    data_source: Option<&str>,
    now: Timestamp,
) -> Filter {
    let mut filter = status_filter(status, now);
    let and = |clause: String, filter: &mut Filter| {
        filter.expression = if filter.expression.is_empty() {
            clause
        } else {
            format!("({}) AND {clause}", filter.expression)
        };
    };
    if !severities.is_empty() {
        let placeholders: Vec<String> = (0..severities.len()).map(|i| format!(":sev{i}")).collect();
        and(
            format!("severity IN ({})", placeholders.join(", ")),
            &mut filter,
        );
        for (placeholder, severity) in placeholders.into_iter().zip(severities) {
            filter.values.push((placeholder, s(severity.as_str())));
        }
    }
    if let Some(source) = data_source {
        and("data_source = :source".into(), &mut filter);
        filter.values.push((":source".into(), s(source)));
    }
    filter
}

/// The condition that an attachment's `suppressed` map is still `as_read`
/// (bound to `placeholder`): an empty map reads as absent too (a lift of
/// the last suppression removes it, a scan's end writes it empty), a
/// non-empty one only as itself.
pub(super) fn suppressed_still(
    as_read: &std::collections::BTreeMap<String, SuppressedFinding>,
    placeholder: &str,
) -> String {
    if as_read.is_empty() {
        format!("(attribute_not_exists(#suppressed) OR #suppressed = {placeholder})")
    } else {
        format!("#suppressed = {placeholder}")
    }
}

/// Findings a scan writes at once, each its own conditional PutItem.
const WRITE_CONCURRENCY: usize = 32;

/// The condition a scan writes a finding on: no hand triage since it read
/// it (a finding it saw first has revision 0, as has one never triaged).
fn unchanged_since_read(finding: &Finding) -> &'static str {
    if finding.triage_revision == 0 {
        "attribute_not_exists(triage_revision) OR triage_revision = :revision"
    } else {
        "triage_revision = :revision"
    }
}

impl Store {
    /// Write what a scan settled (sightings and resolutions), each finding
    /// on the condition that nobody suppressed or lifted it by hand since
    /// the scan read it. One that was is written as
    /// [`Finding::rewritten`] against what it now holds, on the same
    /// terms, so a hand change made while a scan runs is never lost.
    /// Each finding is its own conditional PutItem, 32 at once: a
    /// finding's condition stands alone, and a transaction would bill
    /// every write twice (the table's and both indexes'): 3 WCU a finding
    /// instead of 6, on the service's largest bill line (the cost model in
    /// `make bench`). Gives the findings as written, in the order given.
    pub async fn write_settled_findings(
        &self,
        tenant: &str,
        findings: Vec<Finding>,
        rules: &crate::suppression_rules::Rules,
    ) -> Result<Vec<Finding>> {
        use futures::StreamExt;
        let written: Vec<Result<Option<Finding>>> = futures::stream::iter(findings)
            .map(|finding| self.write_settled(tenant, finding, rules))
            .buffered(WRITE_CONCURRENCY)
            .collect()
            .await;
        let mut all = Vec::with_capacity(written.len());
        for finding in written {
            all.extend(finding?);
        }
        Ok(all)
    }

    /// One finding of [`Store::write_settled_findings`]; `None`: nothing
    /// was left to write (what it held needs no change).
    async fn write_settled(
        &self,
        tenant: &str,
        mut finding: Finding,
        rules: &crate::suppression_rules::Rules,
    ) -> Result<Option<Finding>> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        for attempt in 0..8u32 {
            let result = self
                .client
                .put_item()
                .table_name(self.table())
                .set_item(Some(finding_item(tenant, &finding)?))
                .condition_expression(unchanged_since_read(&finding))
                .expression_attribute_values(
                    ":revision",
                    AttributeValue::N(finding.triage_revision.to_string()),
                )
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Some(finding)),
                Err(err) => err,
            };
            match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(refused)) => {
                    let now: Option<Finding> = refused
                        .item
                        .clone()
                        .map(crate::aws::codec::from_item)
                        .transpose()?;
                    match finding.rewritten(now.as_ref(), rules) {
                        Some(again) => finding = again,
                        None => return Ok(None),
                    }
                }
                // A hand triage's transaction holds the item: again shortly.
                Some(PutItemError::TransactionConflictException(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(5)))
                        .await;
                }
                _ => return Err(crate::aws::errors::from_sdk(err)),
            }
        }
        Err(Error::Conflict(
            "findings kept changing while the scan wrote them; it will write them again".into(),
        ))
    }
}

/// The listing filter of findings in `status` as of `now` (none: all).
fn status_filter(status: Option<FindingStatus>, now: Timestamp) -> Filter {
    let holds = "(attribute_exists(suppression) AND (attribute_not_exists(suppression.#until) OR suppression.#until > :now))";
    let expression = match status {
        None => return Filter::default(),
        Some(FindingStatus::Suppressed) => format!("attribute_not_exists(resolved_at) AND {holds}"),
        Some(FindingStatus::Open) => format!("attribute_not_exists(resolved_at) AND NOT {holds}"),
        Some(FindingStatus::Resolved) => {
            return Filter {
                expression: "attribute_exists(resolved_at)".into(),
                ..Filter::default()
            }
        }
    };
    Filter {
        expression,
        names: vec![("#until".into(), "until".into())],
        values: vec![(":now".into(), s(now.to_string()))],
    }
}

#[cfg(test)]
mod tests {
    use super::unchanged_since_read;
    use crate::scans::Finding;

    fn finding(triage_revision: u64) -> Finding {
        let mut finding: Finding = serde_json::from_value(serde_json::json!({
            "finding_id": format!("{:032}", 1), "account_id": "000000000001",
            "data_source": "aws:iam", "rule": "R", "title": "t",
            "resource_type": "AWS.IAM.User", "resource_id": "arn:a", "region": "global",
            "severity": "HIGH", "score": 7.0, "first_seen_at": "2026-12-01T00:00:00Z",
            "last_seen_at": "2026-12-03T10:00:00Z", "scan_id": "s",
        }))
        .unwrap();
        finding.triage_revision = triage_revision;
        finding
    }

    /// A finding never triaged may be new (no revision stored yet); one
    /// triaged is written only while its revision is the one read.
    #[test]
    fn a_scan_writes_a_finding_only_while_its_triage_is_as_read() {
        assert_eq!(
            unchanged_since_read(&finding(0)),
            "attribute_not_exists(triage_revision) OR triage_revision = :revision"
        );
        assert_eq!(
            unchanged_since_read(&finding(3)),
            "triage_revision = :revision"
        );
    }
}
