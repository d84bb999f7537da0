//! Attachments, scans, findings and region status.

use super::{
    applied, delete_request, is_condition_failure, item_key, keys, n, s, Filter, PageRequest, Store,
};
use crate::account::Account;
use crate::listing::Page;
use crate::scans::{
    Attachment, AttachmentStatus, Finding, InventorySync, RegionAdded, Scan, ScanCounts, ScanError,
    ScanStatus,
};
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashMap};

use super::Item;

/// Query pages one filtered listing reads before it hands back a cursor.
const MAX_PAGES_PER_LIST: usize = 10;

/// An account's regions with their status, from one GetItem.
#[derive(Debug, Clone)]
pub struct AccountRegions {
    pub account: Account,
    pub sync: BTreeMap<String, InventorySync>,
    pub added: BTreeMap<String, RegionAdded>,
}

impl AccountRegions {
    /// Each of the account's regions with its inventory sync, in the
    /// account's order.
    pub fn statuses(mut self) -> Vec<crate::scans::RegionStatus> {
        let fields = &self.account.fields;
        fields
            .regions
            .iter()
            .map(|id| {
                let added = self.added.remove(id);
                crate::scans::RegionStatus {
                    id: id.clone(),
                    name: crate::regions::find(id)
                        .map(|r| r.name)
                        .unwrap_or(id)
                        .to_string(),
                    ignored: fields.region_ignore_list.contains(id),
                    inventory_sync: self
                        .sync
                        .remove(id)
                        .unwrap_or_else(InventorySync::not_started),
                    create_time: added.as_ref().map(|a| a.at),
                    created_by: added.map(|a| a.by),
                }
            })
            .collect()
    }
}

/// What the scan worker needs, read in one BatchGetItem.
#[derive(Debug, Clone, Default)]
pub struct ScanContext {
    pub account: Option<Account>,
    pub scan: Option<Scan>,
    pub attachment: Option<Attachment>,
}

/// The result of trying to take a scan for one delivery.
#[derive(Debug)]
pub enum Claim {
    /// This delivery runs it.
    Claimed(Box<Scan>),
    /// Another delivery is running it under a live lease.
    Busy,
    /// Already finished (a duplicate delivery).
    Finished,
}

impl Store {
    pub(super) async fn get_item(&self, tenant: &str, sk: String) -> Result<Option<Item>> {
        Ok(self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?
            .item)
    }

    /// The account and its attachments: a GetItem and a Query, at once.
    pub async fn account_attachments(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> Result<(Account, Vec<Attachment>)> {
        let prefix = keys::attachments_prefix(account_id);
        let (account, attachments) = futures::join!(
            self.get_account(tenant, account_id),
            self.query_prefix::<Attachment>(tenant, &prefix),
        );
        let account = account?.ok_or_else(|| account_not_found(account_id))?;
        Ok((account, attachments?))
    }

    /// Attachments by (tenant, account id, data source), across tenants:
    /// BatchGetItem, 100 keys a call, four calls at once. Absent ones are
    /// left out; each comes back with its tenant.
    pub async fn batch_get_attachments(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<Vec<(String, Attachment)>> {
        use futures::StreamExt;
        let chunks: Vec<Vec<Item>> = wanted
            .chunks(100)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(tenant, account, source)| {
                        item_key(tenant, keys::attachment_sk(account, source))
                    })
                    .collect()
            })
            .collect();
        let results: Vec<Result<Vec<Item>>> = futures::stream::iter(chunks)
            .map(|keys| self.batch_get(keys))
            .buffer_unordered(4)
            .collect()
            .await;
        let mut found = Vec::new();
        for items in results {
            for item in items? {
                let tenant = match item.get("pk") {
                    Some(AttributeValue::S(pk)) => keys::tenant_of_pk(pk).to_string(),
                    _ => continue,
                };
                found.push((tenant, crate::aws::codec::from_item(item)?));
            }
        }
        Ok(found)
    }

    /// The account and one attachment, in one BatchGetItem.
    pub async fn account_and_attachment(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
    ) -> Result<(Account, Option<Attachment>)> {
        let context = self
            .scan_context(tenant, account_id, data_source, None)
            .await?;
        let account = context
            .account
            .ok_or_else(|| account_not_found(account_id))?;
        Ok((account, context.attachment))
    }

    /// Create or replace an attachment, only while the account exists and
    /// is not archived, and only if the attachment is still as read
    /// (`previous`): one transaction.
    pub async fn put_attachment(
        &self,
        tenant: &str,
        attachment: &Attachment,
        previous: Option<&Attachment>,
    ) -> Result<()> {
        let mut item: Item = crate::aws::codec::to_item(attachment)?;
        item.extend(item_key(
            tenant,
            keys::attachment_sk(&attachment.account_id, &attachment.data_source),
        ));
        item.insert("type".into(), s("attachment"));
        // A scheduled attachment is in the due index at its next run.
        if let (Some(_), Some(next)) = (&attachment.schedule, attachment.next_scan_at) {
            item.insert(
                crate::aws::schema::DUE_SHARD.into(),
                s(crate::schedule::SCHEDULE_SHARD),
            );
            item.insert(crate::aws::schema::DUE_AT.into(), s(next.to_string()));
        }
        let mut put = Put::builder().table_name(self.table()).set_item(Some(item));
        put = match previous {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("updated_at = :previous")
                .expression_attribute_values(":previous", s(old.updated_at.to_string())),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.account_is_writable(tenant, &attachment.account_id)?)
            .transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(crate::error::store_error)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if super::is_transaction_condition_failure(&err) => {
                let conflict = Error::Conflict(format!(
                    "the attachment of '{}' changed meanwhile; read it again and retry",
                    attachment.data_source
                ));
                Err(if super::first_action_refused(&err) {
                    Self::explain_refusal(
                        super::refused_item(&err),
                        &attachment.account_id,
                        None,
                        true,
                        conflict,
                    )
                } else {
                    conflict
                })
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// A ConditionCheck that the account exists, is not archived and has
    /// not departed from its organization.
    fn account_is_writable(&self, tenant: &str, account_id: &str) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, keys::account_sk(account_id))))
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(archived_at) AND attribute_not_exists(departed)",
            )
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(crate::error::store_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    pub async fn delete_attachment(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
    ) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::attachment_sk(account_id, data_source),
            )))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: "attachment",
                id: format!("{account_id}/{data_source}"),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// One page of the attachments of `data_source` across the tenant's
    /// accounts, in account order. Reads attachment items only.
    pub async fn attachments_of_source(
        &self,
        tenant: &str,
        data_source: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Attachment>> {
        let filter = Filter {
            expression: "data_source = :source".into(),
            names: vec![],
            values: vec![(":source".into(), s(data_source))],
        };
        self.filtered_page(tenant, "DS#", filter, limit, after, true)
            .await
    }

    /// Items of one prefix that pass `filter`, a page at a time: Query
    /// pages until `limit` items are found or ten pages were read.
    pub(super) async fn filtered_page<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &str,
        prefix: &str,
        filter: Filter,
        limit: usize,
        after: Option<&str>,
        forward: bool,
    ) -> Result<Page<T>> {
        let mut found = Vec::new();
        let mut start = after.map(str::to_string);
        let mut last_sk: Option<String> = None;
        for _ in 0..MAX_PAGES_PER_LIST {
            let (items, next) = self
                .query_page(
                    tenant,
                    prefix,
                    PageRequest {
                        after: start.as_deref(),
                        limit: Some((limit + 1 - found.len()).max(25)),
                        forward,
                        filter: (!filter.expression.is_empty()).then(|| filter.clone()),
                    },
                )
                .await?;
            for item in items {
                if found.len() == limit {
                    // One more exists: continue after the last one kept.
                    return Ok(Page {
                        items: found,
                        next_cursor: last_sk,
                    });
                }
                last_sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned();
                found.push(crate::aws::codec::from_item(item)?);
            }
            match next {
                None => {
                    return Ok(Page {
                        items: found,
                        next_cursor: None,
                    })
                }
                Some(sk) => start = Some(sk),
            }
        }
        // A selective filter: hand back what we have, and where reads stopped.
        Ok(Page {
            items: found,
            next_cursor: start,
        })
    }

    /// Record a new scan and mark its attachment IN_PROGRESS, only while the
    /// account is writable and the data source attached: one transaction.
    pub async fn queue_scan(&self, tenant: &str, scan: &Scan) -> Result<()> {
        let mut item: Item = crate::aws::codec::to_item(scan)?;
        item.extend(item_key(
            tenant,
            keys::scan_sk(&scan.account_id, &scan.scan_id),
        ));
        item.insert("type".into(), s("scan"));
        super::stamp_item(&mut item);
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(crate::error::store_error)?;
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::attachment_sk(&scan.account_id, &scan.data_source),
            )))
            .update_expression(
                "SET #status = :status, status_detail = :detail, last_scan_id = :scan",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s("IN_PROGRESS"))
            .expression_attribute_values(":detail", s(format!("scan {} queued", scan.scan_id)))
            .expression_attribute_values(":scan", s(&scan.scan_id))
            .build()
            .map_err(crate::error::store_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.account_is_writable(tenant, &scan.account_id)?)
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if super::is_transaction_condition_failure(&err) => {
                let detached = Error::NotFound {
                    resource: "attachment",
                    id: format!("{}/{}", scan.account_id, scan.data_source),
                };
                Err(if super::first_action_refused(&err) {
                    Self::explain_refusal(
                        super::refused_item(&err),
                        &scan.account_id,
                        None,
                        true,
                        detached,
                    )
                } else {
                    detached
                })
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// A queued scan whose message could not be sent: it will never run.
    pub async fn abandon_scan(&self, tenant: &str, scan: &Scan, reason: &str) -> Result<()> {
        let error = ScanError {
            code: crate::scans::ScanErrorCode::QueueUnavailable,
            message: reason.to_string(),
            at: Timestamp::now(),
        };
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&scan.account_id, &scan.scan_id),
            )))
            .update_expression("SET #status = :failed, errors = :errors, finished_at = :now")
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("FAILED"))
            .expression_attribute_values(":queued", s("QUEUED"))
            .expression_attribute_values(
                ":errors",
                crate::aws::codec::to_attribute_value(vec![error])?,
            )
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        Ok(())
    }

    pub async fn get_scan(
        &self,
        tenant: &str,
        account_id: &str,
        scan_id: &str,
    ) -> Result<Option<Scan>> {
        self.get_item(tenant, keys::scan_sk(account_id, scan_id))
            .await?
            .map(crate::aws::codec::from_item)
            .transpose()
    }

    /// Recent scans of an account, newest first; of one data source with `Some`.
    pub async fn list_scans(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: Option<&str>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Scan>> {
        let filter = match data_source {
            Some(source) => Filter {
                expression: "data_source = :source".into(),
                names: vec![],
                values: vec![(":source".into(), s(source))],
            },
            None => Filter::default(),
        };
        self.filtered_page(
            tenant,
            &keys::scans_prefix(account_id),
            filter,
            limit,
            after,
            false,
        )
        .await
    }

    /// Account, scan and attachment in one BatchGetItem (scan only with `Some`).
    pub async fn scan_context(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        scan_id: Option<&str>,
    ) -> Result<ScanContext> {
        let mut wanted = vec![
            item_key(tenant, keys::account_sk(account_id)),
            item_key(tenant, keys::attachment_sk(account_id, data_source)),
        ];
        if let Some(scan_id) = scan_id {
            wanted.push(item_key(tenant, keys::scan_sk(account_id, scan_id)));
        }
        let mut context = ScanContext::default();
        for item in self.batch_get(wanted).await? {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned();
            match sk.as_deref() {
                Some(sk) if sk.starts_with(keys::ACCOUNT_PREFIX) => {
                    context.account = Some(crate::aws::codec::from_item(item)?)
                }
                Some(sk) if sk.starts_with("DS#") => {
                    context.attachment = Some(crate::aws::codec::from_item(item)?)
                }
                _ => context.scan = Some(crate::aws::codec::from_item(item)?),
            }
        }
        Ok(context)
    }

    /// Take a scan for this delivery: QUEUED, a RUNNING one whose lease ran
    /// out (its worker died), or a dead-lettered one being redriven. The
    /// conditional write is what makes a duplicate delivery run nothing.
    pub async fn claim_scan(
        &self,
        tenant: &str,
        account_id: &str,
        scan_id: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, keys::scan_sk(account_id, scan_id))))
            .update_expression(
                "SET #status = :running, started_at = :now, lease_until = :lease, attempts = attempts + :one, dead_lettered = :false REMOVE finished_at",
            )
            .condition_expression(
                "attribute_exists(pk) AND (#status = :queued OR (#status = :running AND lease_until < :now) OR (#status = :failed AND dead_lettered = :true))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s("RUNNING"))
            .expression_attribute_values(":queued", s("QUEUED"))
            .expression_attribute_values(":failed", s("FAILED"))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Claim::Claimed(Box::new(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?))),
            Err(err) if is_condition_failure(&err) => {
                match self.get_scan(tenant, account_id, scan_id).await? {
                    Some(scan) if scan.is_finished() => Ok(Claim::Finished),
                    Some(_) => Ok(Claim::Busy),
                    None => Ok(Claim::Finished),
                }
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// A failed attempt of a scan this delivery holds: back to QUEUED for
    /// another delivery, or FAILED (with `dead_lettered` when the message
    /// goes to the DLQ). The attachment shows the error when it is final.
    pub async fn fail_attempt(
        &self,
        tenant: &str,
        scan: &Scan,
        error: ScanError,
        final_attempt: bool,
        dead_lettered: bool,
    ) -> Result<()> {
        let now = Timestamp::now();
        let status = if final_attempt {
            ScanStatus::Failed
        } else {
            ScanStatus::Queued
        };
        let mut request = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&scan.account_id, &scan.scan_id),
            )))
            .condition_expression("#status = :running AND attempts = :attempts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s("RUNNING"))
            .expression_attribute_values(":attempts", n(u64::from(scan.attempts)))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(
                ":error",
                crate::aws::codec::to_attribute_value(vec![error.clone()])?,
            )
            .expression_attribute_values(":dead", AttributeValue::Bool(dead_lettered));
        request = if final_attempt {
            request
                .update_expression("SET #status = :status, errors = list_append(errors, :error), dead_lettered = :dead, finished_at = :now REMOVE lease_until")
                .expression_attribute_values(":now", s(now.to_string()))
        } else {
            request.update_expression("SET #status = :status, errors = list_append(errors, :error), dead_lettered = :dead REMOVE lease_until")
        };
        match request.send().await {
            Ok(_) => {}
            // The lease was lost to another delivery: its outcome stands.
            Err(err) if is_condition_failure(&err) => return Ok(()),
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        }
        let detail = if final_attempt {
            format!(
                "scan {} failed: {} ({})",
                scan.scan_id,
                error.message,
                error.code.as_str()
            )
        } else {
            format!("scan {} will be retried: {}", scan.scan_id, error.message)
        };
        let status = if final_attempt {
            AttachmentStatus::Error
        } else {
            AttachmentStatus::InProgress
        };
        self.set_attachment_status(tenant, scan, status, &detail, None, None)
            .await
    }

    /// Best effort: the attachment may have been detached meanwhile, or a
    /// newer scan own its status. A tally read against the attachment's
    /// hand suppressions ([`FindingTally::read_against`]) is written only
    /// while they hold; when a suppression or lift came between, the
    /// findings are counted again (a Query) and written against what the
    /// refusal found, at most three times, then as last counted.
    pub async fn set_attachment_status(
        &self,
        tenant: &str,
        scan: &Scan,
        status: AttachmentStatus,
        detail: &str,
        scan_at: Option<Timestamp>,
        findings: Option<&crate::scans::FindingTally>,
    ) -> Result<()> {
        let mut tally = findings.cloned();
        for attempt in 0..4 {
            let as_read = tally
                .as_ref()
                .and_then(|tally| tally.suppressed_as_read.as_ref())
                .filter(|_| attempt < 3);
            let request = self.attachment_status_update(
                tenant,
                scan,
                status,
                detail,
                scan_at,
                tally.as_ref(),
                as_read,
            )?;
            let refused = match request.send().await {
                Ok(_) => return Ok(()),
                Err(err) if is_condition_failure(&err) => super::refused_item(&err),
                Err(err) => return Err(crate::aws::errors::from_sdk(err)),
            };
            // Detached, or a newer scan owns the status now.
            let Some(found) = refused.filter(|item| {
                super::text_of(item, "last_scan_id").as_deref() == Some(scan.scan_id.as_str())
            }) else {
                return Ok(());
            };
            let now_suppressed = match found.get("suppressed") {
                Some(map) => crate::aws::codec::from_attribute_value(map.clone())?,
                None => BTreeMap::new(),
            };
            let mut again = self
                .count_findings(tenant, &scan.account_id, &scan.data_source)
                .await?;
            again.suppressed_as_read = Some(now_suppressed);
            tally = Some(again);
        }
        Err(Error::Conflict(
            "the attachment's suppressions kept changing while the scan ended".into(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn attachment_status_update(
        &self,
        tenant: &str,
        scan: &Scan,
        status: AttachmentStatus,
        detail: &str,
        scan_at: Option<Timestamp>,
        findings: Option<&crate::scans::FindingTally>,
        suppressed_as_read: Option<&BTreeMap<String, crate::scans::SuppressedFinding>>,
    ) -> Result<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder> {
        let mut condition = "attribute_exists(pk) AND last_scan_id = :scan".to_string();
        let mut request = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::attachment_sk(&scan.account_id, &scan.data_source),
            )))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":scan", s(&scan.scan_id))
            .expression_attribute_values(":status", crate::aws::codec::to_attribute_value(status)?)
            .expression_attribute_values(":detail", s(detail))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        let mut sets = vec!["#status = :status", "status_detail = :detail"];
        if let Some(at) = scan_at {
            sets.push("scan_at = :at");
            request = request.expression_attribute_values(":at", s(at.to_string()));
        }
        if let Some(tally) = findings {
            sets.extend([
                "findings = :findings",
                "#suppressed = :suppressed",
                "suppressed_by_rule = :by_rule",
                "resolved = :resolved",
            ]);
            request = request
                .expression_attribute_names("#suppressed", "suppressed")
                .expression_attribute_values(
                    ":findings",
                    crate::aws::codec::to_attribute_value(&tally.counts)?,
                )
                .expression_attribute_values(
                    ":suppressed",
                    crate::aws::codec::to_attribute_value(&tally.suppressed)?,
                )
                .expression_attribute_values(
                    ":by_rule",
                    crate::aws::codec::to_attribute_value(&tally.by_rule)?,
                )
                .expression_attribute_values(
                    ":resolved",
                    crate::aws::codec::to_attribute_value(&tally.resolved)?,
                );
            if let Some(as_read) = suppressed_as_read {
                condition.push_str(" AND ");
                condition.push_str(&super::triage::suppressed_still(
                    as_read,
                    ":suppressed_as_read",
                ));
                request = request.expression_attribute_values(
                    ":suppressed_as_read",
                    crate::aws::codec::to_attribute_value(as_read)?,
                );
            }
        }
        Ok(request
            .condition_expression(condition)
            .update_expression(format!("SET {}", sets.join(", "))))
    }

    /// The end of a scan this delivery holds: its final record, the
    /// attachment's status and each region's inventory sync.
    pub async fn finish_scan(
        &self,
        tenant: &str,
        scan: &Scan,
        regions: &[(String, InventorySync)],
        findings: Option<&crate::scans::FindingTally>,
    ) -> Result<()> {
        let now = scan.finished_at.unwrap_or_else(Timestamp::now);
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&scan.account_id, &scan.scan_id),
            )))
            .update_expression(
                "SET #status = :status, counts = :counts, finished_at = :now REMOVE lease_until",
            )
            .condition_expression("#status = :running AND attempts = :attempts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s("RUNNING"))
            .expression_attribute_values(":attempts", n(u64::from(scan.attempts)))
            .expression_attribute_values(":status", s(scan.status.as_str()))
            .expression_attribute_values(
                ":counts",
                crate::aws::codec::to_attribute_value(&scan.counts)?,
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if is_condition_failure(&err) => {
                return Err(Error::Conflict(format!(
                    "scan {} was taken over by another delivery",
                    scan.scan_id
                )))
            }
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        }
        // Only built-in scans end here (external ones: finish_external_scan).
        let detail = summary(scan.scan_id.as_str(), &scan.counts, scan.scan_only);
        let (attachment, sync) = futures::join!(
            self.set_attachment_status(
                tenant,
                scan,
                AttachmentStatus::Ok,
                &detail,
                Some(now),
                findings
            ),
            self.set_region_sync(tenant, &scan.account_id, regions),
        );
        attachment?;
        sync
    }

    /// Set the inventory sync of regions of an account (one UpdateItem).
    /// A deleted account is skipped.
    pub async fn set_region_sync(
        &self,
        tenant: &str,
        account_id: &str,
        regions: &[(String, InventorySync)],
    ) -> Result<()> {
        if regions.is_empty() {
            return Ok(());
        }
        let mut request = self
            .update_account(tenant, account_id)
            .condition_expression("attribute_exists(pk)");
        let mut sets = Vec::new();
        for (index, (region, sync)) in regions.iter().enumerate() {
            sets.push(format!("#r{index} = :r{index}"));
            request = request
                .expression_attribute_names(
                    format!("#r{index}"),
                    keys::region_sync_attribute(region),
                )
                .expression_attribute_values(
                    format!(":r{index}"),
                    crate::aws::codec::to_attribute_value(sync)?,
                );
        }
        let result = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        applied(result).map(drop)
    }

    /// The account and the status of each of its regions: one GetItem.
    pub async fn account_regions(&self, tenant: &str, account_id: &str) -> Result<AccountRegions> {
        let item = self
            .get_item(tenant, keys::account_sk(account_id))
            .await?
            .ok_or_else(|| account_not_found(account_id))?;
        let mut sync = BTreeMap::new();
        let mut added = BTreeMap::new();
        for (name, value) in &item {
            if let Some(region) = name.strip_prefix("rsync:") {
                sync.insert(
                    region.to_string(),
                    crate::aws::codec::from_attribute_value(value.clone())?,
                );
            } else if let Some(region) = name.strip_prefix("radded:") {
                added.insert(
                    region.to_string(),
                    crate::aws::codec::from_attribute_value(value.clone())?,
                );
            }
        }
        Ok(AccountRegions {
            account: crate::aws::codec::from_item(item)?,
            sync,
            added,
        })
    }

    /// Store the findings of a finished scan of one data source, settled
    /// against what was stored and the tenant's `rules`, and mark those it
    /// no longer sees resolved. Gives every finding of the source as now
    /// stored (to count) and how many this scan resolved.
    pub async fn replace_findings(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        findings: &mut [Finding],
        rules: &crate::suppression_rules::Rules,
    ) -> Result<(Vec<Finding>, u32)> {
        let existing = self
            .source_findings(tenant, account_id, data_source)
            .await?;
        let mut earlier: HashMap<String, Finding> = existing
            .into_iter()
            .map(|f| (f.finding_id.clone(), f))
            .collect();
        for finding in findings.iter_mut() {
            let before = earlier.remove(&finding.finding_id);
            finding.settle(before.as_ref(), rules);
        }
        // What is left was not seen by this scan: resolved now, unless
        // an earlier scan resolved it already.
        let now = Timestamp::now();
        let (already, newly): (Vec<Finding>, Vec<Finding>) =
            earlier.into_values().partition(|f| f.resolved_at.is_some());
        let mut writes: Vec<Finding> = findings.to_vec();
        writes.extend(newly.into_iter().map(|f| f.resolved(now)));
        let mut all = self.write_settled_findings(tenant, writes, rules).await?;
        let resolved = all.iter().filter(|f| f.resolved_at == Some(now)).count() as u32;
        all.extend(already);
        Ok((all, resolved))
    }

    /// Remove what an account's scans left: attachments, scans, findings.
    /// Runs after the account itself is deleted.
    pub async fn purge_account_data(&self, tenant: &str, account_id: &str) -> Result<()> {
        let mut requests = Vec::new();
        for prefix in [
            keys::attachments_prefix(account_id),
            keys::account_data_prefix(account_id),
        ] {
            let mut after: Option<String> = None;
            loop {
                let (items, next) = self
                    .query_page(
                        tenant,
                        &prefix,
                        PageRequest {
                            after: after.as_deref(),
                            forward: true,
                            ..Default::default()
                        },
                    )
                    .await?;
                for item in items {
                    if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) {
                        requests.push(delete_request(tenant, sk.clone())?);
                    }
                }
                match next {
                    Some(sk) => after = Some(sk),
                    None => break,
                }
            }
        }
        self.batch_write(requests).await
    }
}

fn account_not_found(account_id: &str) -> Error {
    Error::NotFound {
        resource: "account",
        id: account_id.to_string(),
    }
}

/// The attachment's status detail after a successful scan.
pub(super) fn summary(scan_id: &str, counts: &ScanCounts, scan_only: bool) -> String {
    if scan_only {
        format!(
            "scan {scan_id}: {} findings on {} resources (scan_only: nothing stored)",
            counts.findings, counts.resources
        )
    } else {
        format!(
            "scan {scan_id}: {} findings on {} resources, {} stored, {} ignored, {} resolved",
            counts.findings, counts.resources, counts.stored, counts.ignored, counts.resolved
        )
    }
}
