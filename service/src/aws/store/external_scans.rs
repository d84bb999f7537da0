//! Scans handed to external scanners: the hand-over, the scanner's
//! credentials, uploaded pages, completion and the deadline.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | scanner credential | `SCANNERS` | `CRED#<credential id>` |
//! | scan reference | `SCAN#<scan id>` | `SCAN` |
//! | uploaded page | `T#<tenant>` | `ACCT#<account id>#SCANPAGE#<scan id>#<page>` |
//!
//! A forwarded scan carries the due index's keys (shard
//! [`DEADLINE_SHARD`], at its deadline), so the scheduled sweep finds the
//! overdue ones without a Scan; completion or timing out removes them.

use super::{applied, is_condition_failure, item_key, keys, n, refused_item, s, Item, Store};
use crate::aws::schema;
use crate::scanner::{ScanReference, ScannerCredential, UploadedPage};
use crate::scans::{AttachmentStatus, Finding, InventorySync, Scan, ScanError, ScanStatus};
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use std::collections::HashMap;

/// The due-index shard of forwarded scans, by deadline.
pub const DEADLINE_SHARD: &str = "SCANDEADLINE";
const SCANNERS_PK: &str = "SCANNERS";
/// How long a scan's reference outlives its deadline (late uploads still
/// get a clear 409 instead of a 404).
const REFERENCE_DAYS: i64 = 7;

fn scanner_key(credential_id: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), s(SCANNERS_PK)),
        ("sk".to_string(), s(format!("CRED#{credential_id}"))),
    ])
}

fn reference_key(scan_id: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), s(format!("SCAN#{scan_id}"))),
        ("sk".to_string(), s("SCAN")),
    ])
}

fn page_sk(account_id: &str, scan_id: &str, page: u32) -> String {
    format!("{}{page:04}", pages_prefix(account_id, scan_id))
}

fn pages_prefix(account_id: &str, scan_id: &str) -> String {
    format!("ACCT#{account_id}#SCANPAGE#{scan_id}#")
}

/// Why a scan refused an upload or completion: the scan as it is.
#[derive(Debug)]
pub enum ExternalRefusal {
    /// No such scan (or its account was deleted).
    Gone,
    /// The scan is not awaiting its scanner: it is as shown.
    NotAwaiting(Box<Scan>),
}

/// What claiming a page came to.
#[derive(Debug)]
pub enum PageClaim {
    /// Claimed: its findings may be written.
    Claimed,
    /// The page was claimed before (by this upload's earlier try, or
    /// another upload): as it is.
    Exists(UploadedPage),
    /// The scan takes no more pages.
    Refused(ExternalRefusal),
}

/// What a refused scan write found: the scan, or nothing (deleted).
fn refusal(found: Option<Item>) -> Result<ExternalRefusal> {
    Ok(match found {
        Some(item) if item.contains_key("scan_id") => {
            ExternalRefusal::NotAwaiting(Box::new(crate::aws::codec::from_item(item)?))
        }
        _ => ExternalRefusal::Gone,
    })
}

impl Store {
    pub async fn create_scanner_credential(&self, credential: &ScannerCredential) -> Result<()> {
        let mut item: Item = crate::aws::codec::to_item(credential)?;
        item.extend(scanner_key(&credential.credential_id));
        item.insert("type".into(), s("scanner_credential"));
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        Ok(())
    }

    /// Strongly consistent, so a revocation takes effect on the next upload.
    pub async fn get_scanner_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<ScannerCredential>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(scanner_key(credential_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        output.item.map(crate::aws::codec::from_item).transpose()
    }

    pub async fn list_scanner_credentials(&self) -> Result<Vec<ScannerCredential>> {
        let mut pages = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(SCANNERS_PK))
            .expression_attribute_values(":prefix", s("CRED#"))
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            found.push(crate::aws::codec::from_item(
                item.map_err(crate::aws::errors::from_sdk)?,
            )?);
        }
        Ok(found)
    }

    /// Revoke a credential (again: a no-op). Unknown ids are a 404.
    pub async fn revoke_scanner_credential(&self, credential_id: &str) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(scanner_key(credential_id)))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: "scanner credential",
                id: credential_id.to_string(),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Hand a scan this delivery holds to its external scanner: FORWARDED
    /// until `deadline`, with the reference its scanner finds it by, in
    /// one transaction (so the scanner never sees a job it cannot report).
    pub async fn forward_scan(&self, tenant: &str, scan: &Scan, deadline: Timestamp) -> Result<()> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&scan.account_id, &scan.scan_id),
            )))
            .update_expression(
                "SET #status = :forwarded, deadline_at = :deadline, #shard = :shard, #due = :deadline REMOVE lease_until",
            )
            .condition_expression("#status = :running AND attempts = :attempts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", schema::DUE_SHARD)
            .expression_attribute_names("#due", schema::DUE_AT)
            .expression_attribute_values(":forwarded", s(ScanStatus::Forwarded.as_str()))
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":attempts", n(u64::from(scan.attempts)))
            .expression_attribute_values(":deadline", s(deadline.to_string()))
            .expression_attribute_values(":shard", s(DEADLINE_SHARD))
            .build()
            .map_err(crate::error::store_error)?;
        let reference = ScanReference {
            scan_id: scan.scan_id.clone(),
            tenant: tenant.to_string(),
            account_id: scan.account_id.clone(),
            data_source: scan.data_source.clone(),
        };
        let mut item: Item = crate::aws::codec::to_item(&reference)?;
        item.extend(reference_key(&scan.scan_id));
        item.insert("type".into(), s("scan_reference"));
        let expires = deadline.datetime().timestamp() + REFERENCE_DAYS * 86_400;
        item.insert(super::EXPIRES_AT.into(), n(expires.max(0) as u64));
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .build()
            .map_err(crate::error::store_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if super::is_transaction_condition_failure(&err) => Err(Error::Conflict(
                format!("scan {} was taken over by another delivery", scan.scan_id),
            )),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Take back a hand-over whose job could not be sent: RUNNING again,
    /// held by this delivery, which then fails the attempt as usual.
    pub async fn unforward_scan(&self, tenant: &str, scan: &Scan) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&scan.account_id, &scan.scan_id),
            )))
            .update_expression("SET #status = :running REMOVE deadline_at, #shard, #due")
            .condition_expression("#status = :forwarded AND attempts = :attempts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", schema::DUE_SHARD)
            .expression_attribute_names("#due", schema::DUE_AT)
            .expression_attribute_values(":forwarded", s(ScanStatus::Forwarded.as_str()))
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":attempts", n(u64::from(scan.attempts)))
            .send()
            .await;
        applied(result).map(drop)
    }

    pub async fn scan_reference(&self, scan_id: &str) -> Result<Option<ScanReference>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(reference_key(scan_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        output.item.map(crate::aws::codec::from_item).transpose()
    }

    /// Claim a page of a scan awaiting its scanner, before any of its
    /// findings is written: in one transaction, the scan (FORWARDED, or
    /// RUNNING since its first upload) becomes RUNNING and counts one more
    /// claimed page (`pages_claimed`, which completion's write checks), and
    /// the page is recorded unwritten if it is new. A page claimed before
    /// comes back as it is; a scan that takes no more pages, as refused.
    pub async fn claim_uploaded_page(
        &self,
        reference: &ScanReference,
        page: &UploadedPage,
    ) -> Result<PageClaim> {
        let mut item: Item = crate::aws::codec::to_item(page)?;
        item.extend(item_key(
            &reference.tenant,
            page_sk(&reference.account_id, &reference.scan_id, page.page),
        ));
        item.insert("type".into(), s("scan_page"));
        let scan = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(
                &reference.tenant,
                keys::scan_sk(&reference.account_id, &reference.scan_id),
            )))
            .update_expression(
                "SET #status = :running, pages_claimed = if_not_exists(pages_claimed, :zero) + :one",
            )
            .condition_expression(
                "attribute_exists(deadline_at) AND #status IN (:forwarded, :running)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":forwarded", s(ScanStatus::Forwarded.as_str()))
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(crate::error::store_error)?;
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(crate::error::store_error)?;
        for attempt in 0..8u32 {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(scan.clone()).build())
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(PageClaim::Claimed),
                Err(err) => err,
            };
            let Some(reasons) = super::cancellation_reasons(&err) else {
                return Err(crate::aws::errors::from_sdk(err));
            };
            match (reasons.first(), reasons.get(1)) {
                (Some((true, found)), _) => {
                    return Ok(PageClaim::Refused(refusal(found.clone())?));
                }
                (_, Some((true, Some(found)))) => {
                    return Ok(PageClaim::Exists(crate::aws::codec::from_item(
                        found.clone(),
                    )?));
                }
                // Another upload's transaction held the scan: again shortly.
                _ => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(5))).await
                }
            }
        }
        Err(Error::Conflict(
            "other uploads of this scan kept the scan busy; send the page again".into(),
        ))
    }

    /// Mark a claimed page written, with its counts.
    pub async fn page_written(&self, reference: &ScanReference, page: &UploadedPage) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                &reference.tenant,
                page_sk(&reference.account_id, &reference.scan_id, page.page),
            )))
            .update_expression(
                "SET written = :true, reported = :reported, ignored = :ignored, kept = :kept",
            )
            .condition_expression("fingerprint = :fingerprint")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":reported", n(u64::from(page.reported)))
            .expression_attribute_values(":ignored", n(u64::from(page.ignored)))
            .expression_attribute_values(":kept", n(u64::from(page.kept)))
            .expression_attribute_values(":fingerprint", s(&page.fingerprint))
            .send()
            .await;
        applied(result).map(drop)
    }

    /// An uploaded page, if it was.
    pub async fn uploaded_page(
        &self,
        reference: &ScanReference,
        page: u32,
    ) -> Result<Option<UploadedPage>> {
        self.get_item(
            &reference.tenant,
            page_sk(&reference.account_id, &reference.scan_id, page),
        )
        .await?
        .map(crate::aws::codec::from_item)
        .transpose()
    }

    /// Every page a scan uploaded, in page order.
    pub async fn uploaded_pages(&self, reference: &ScanReference) -> Result<Vec<UploadedPage>> {
        self.query_prefix(
            &reference.tenant,
            &pages_prefix(&reference.account_id, &reference.scan_id),
        )
        .await
    }

    /// Store findings of an upload; those seen before keep `first_seen_at`
    /// (read with BatchGetItem, 100 keys a call).
    pub async fn put_uploaded_findings(
        &self,
        tenant: &str,
        findings: &mut [Finding],
        rules: &crate::suppression_rules::Rules,
    ) -> Result<()> {
        let sk = |f: &Finding| keys::finding_sk(&f.account_id, &f.data_source, &f.finding_id);
        let mut earlier: HashMap<String, Finding> = HashMap::new();
        for chunk in findings.chunks(100) {
            let wanted = chunk.iter().map(|f| item_key(tenant, sk(f))).collect();
            for item in self.batch_get(wanted).await? {
                let existing: Finding = crate::aws::codec::from_item(item)?;
                earlier.insert(existing.finding_id.clone(), existing);
            }
        }
        for finding in findings.iter_mut() {
            finding.settle(earlier.get(&finding.finding_id), rules);
        }
        self.write_settled_findings(tenant, findings.to_vec(), rules)
            .await
            .map(drop)
    }

    /// The end of an external scan: its final record (no longer due), the
    /// findings earlier scans saw and this one did not written resolved, the
    /// attachment's status and each region's sync. Refused, with the
    /// scan, unless it awaits its scanner and has claimed exactly
    /// `pages_claimed` pages (the ones completion counted: a page claimed
    /// since then refuses it, so no upload lands after the count).
    // Each argument is a part of the one write; bundling them would only
    // name the bundle.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_external_scan(
        &self,
        reference: &ScanReference,
        done: &Scan,
        resolved: &[Finding],
        regions: &[(String, InventorySync)],
        detail: &str,
        findings: Option<&crate::scans::FindingTally>,
        pages_claimed: u32,
    ) -> Result<std::result::Result<(), ExternalRefusal>> {
        let tenant = &reference.tenant;
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&done.account_id, &done.scan_id),
            )))
            .update_expression(
                "SET #status = :status, counts = :counts, errors = :errors, finished_at = :now REMOVE #shard, #due",
            )
            .condition_expression(
                "attribute_exists(deadline_at) AND #status IN (:forwarded, :running) AND (pages_claimed = :claimed OR (attribute_not_exists(pages_claimed) AND :claimed = :zero))",
            )
            .expression_attribute_values(":claimed", n(u64::from(pages_claimed)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", schema::DUE_SHARD)
            .expression_attribute_names("#due", schema::DUE_AT)
            .expression_attribute_values(":forwarded", s(ScanStatus::Forwarded.as_str()))
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":status", s(done.status.as_str()))
            .expression_attribute_values(":counts", crate::aws::codec::to_attribute_value(&done.counts)?)
            .expression_attribute_values(":errors", crate::aws::codec::to_attribute_value(&done.errors)?)
            .expression_attribute_values(
                ":now",
                s(done.finished_at.unwrap_or_else(Timestamp::now).to_string()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if is_condition_failure(&err) => return Ok(Err(refusal(refused_item(&err))?)),
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        }
        let rules = crate::suppression_rules::Rules::none();
        let resolved = self.write_settled_findings(tenant, resolved.to_vec(), &rules);
        let status = match done.status {
            ScanStatus::Succeeded => AttachmentStatus::Ok,
            _ => AttachmentStatus::Error,
        };
        let at = done.finished_at;
        let (written, attachment, sync) = futures::join!(
            resolved,
            self.set_attachment_status(tenant, done, status, detail, at, findings),
            self.set_region_sync(tenant, &done.account_id, regions),
        );
        written?;
        attachment?;
        sync?;
        Ok(Ok(()))
    }

    /// Forwarded scans whose deadline passed by `now`, oldest first, at
    /// most `limit`: (tenant, account id, scan id).
    pub async fn overdue_external_scans(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ScanReference>> {
        let items = self
            .due_items(
                DEADLINE_SHARD,
                now,
                limit,
                "pk, account_id, scan_id, data_source",
            )
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let text = |name: &str| super::text_of(&item, name);
                Some(ScanReference {
                    tenant: keys::tenant_of_pk(&text("pk")?).to_string(),
                    account_id: text("account_id")?,
                    scan_id: text("scan_id")?,
                    data_source: text("data_source")?,
                })
            })
            .collect())
    }

    /// Time out a forwarded scan its scanner never completed: TIMED_OUT,
    /// with the error, its attachment in error and its regions timed out.
    /// `false` when it finished meanwhile.
    pub async fn time_out_external_scan(
        &self,
        reference: &ScanReference,
        error: ScanError,
        regions: impl FnOnce(&Scan) -> Vec<(String, InventorySync)>,
    ) -> Result<bool> {
        let tenant = &reference.tenant;
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&reference.account_id, &reference.scan_id),
            )))
            .update_expression(
                "SET #status = :timed_out, errors = list_append(errors, :error), finished_at = :now REMOVE #shard, #due",
            )
            .condition_expression("#status IN (:forwarded, :running) AND attribute_exists(deadline_at)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", schema::DUE_SHARD)
            .expression_attribute_names("#due", schema::DUE_AT)
            .expression_attribute_values(":forwarded", s(ScanStatus::Forwarded.as_str()))
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":timed_out", s(ScanStatus::TimedOut.as_str()))
            .expression_attribute_values(
                ":error",
                crate::aws::codec::to_attribute_value(vec![error.clone()])?,
            )
            .expression_attribute_values(":now", s(error.at.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let scan: Scan = match result {
            Ok(output) => crate::aws::codec::from_item(output.attributes.unwrap_or_default())?,
            Err(err) if is_condition_failure(&err) => return Ok(false),
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        };
        let detail = format!("scan {} timed out: {}", scan.scan_id, error.message);
        let regions = regions(&scan);
        let (attachment, sync) = futures::join!(
            self.set_attachment_status(
                tenant,
                &scan,
                AttachmentStatus::Error,
                &detail,
                Some(error.at),
                None
            ),
            self.set_region_sync(tenant, &scan.account_id, &regions),
        );
        attachment?;
        sync?;
        Ok(true)
    }
}

impl Store {
    /// What a hand-over shows: the attachment in progress, the regions
    /// handed over (best effort: the attachment may be gone).
    pub async fn note_forwarded(
        &self,
        tenant: &str,
        scan: &Scan,
        detail: &str,
        regions: &[(String, InventorySync)],
    ) -> Result<()> {
        let (attachment, sync) = futures::join!(
            self.set_attachment_status(
                tenant,
                scan,
                AttachmentStatus::InProgress,
                detail,
                None,
                None
            ),
            self.set_region_sync(tenant, &scan.account_id, regions),
        );
        attachment.and(sync)
    }

    /// The stored findings of one data source on one account.
    pub async fn findings_of_source(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
    ) -> Result<Vec<Finding>> {
        self.query_prefix(
            tenant,
            &keys::findings_prefix(account_id, Some(data_source)),
        )
        .await
    }
}

/// A scheduled attachment whose run is due: (tenant, account, data source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSchedule {
    pub tenant: String,
    pub account_id: String,
    pub data_source: String,
}

impl Store {
    /// Attachments whose scheduled run is due by `now`, oldest first.
    pub async fn due_schedules(&self, now: Timestamp, limit: usize) -> Result<Vec<DueSchedule>> {
        let items = self
            .due_items(
                crate::schedule::SCHEDULE_SHARD,
                now,
                limit,
                "pk, account_id, data_source",
            )
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let text = |name: &str| super::text_of(&item, name);
                Some(DueSchedule {
                    tenant: keys::tenant_of_pk(&text("pk")?).to_string(),
                    account_id: text("account_id")?,
                    data_source: text("data_source")?,
                })
            })
            .collect())
    }

    /// Take a scheduled run: move the attachment's next run from `due`
    /// (as read) to `next`, recording `run`; `false` when another sweep
    /// took it (or the schedule changed) meanwhile, so no run happens twice.
    pub async fn advance_schedule(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        due: Timestamp,
        next: Option<Timestamp>,
        run: &crate::schedule::ScheduledRun,
    ) -> Result<bool> {
        let mut request = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::attachment_sk(account_id, data_source),
            )))
            .condition_expression("next_scan_at = :due")
            .expression_attribute_values(":due", s(due.to_string()))
            .expression_attribute_values(":run", crate::aws::codec::to_attribute_value(run)?);
        request = match next {
            Some(next) => request
                .update_expression(
                    "SET next_scan_at = :next, #due = :next, last_scheduled_run = :run",
                )
                .expression_attribute_names("#due", schema::DUE_AT)
                .expression_attribute_values(":next", s(next.to_string())),
            // A cron expression that never matches again: out of the index.
            None => request
                .update_expression(
                    "SET last_scheduled_run = :run REMOVE next_scan_at, #shard, #due",
                )
                .expression_attribute_names("#shard", schema::DUE_SHARD)
                .expression_attribute_names("#due", schema::DUE_AT),
        };
        applied(request.send().await)
    }

    /// Correct the last run's record (a run taken, then not queued).
    pub async fn note_scheduled_run(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        run: &crate::schedule::ScheduledRun,
    ) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::attachment_sk(account_id, data_source),
            )))
            .update_expression("SET last_scheduled_run = :run")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":run", crate::aws::codec::to_attribute_value(run)?)
            .send()
            .await;
        applied(result).map(drop)
    }
}
