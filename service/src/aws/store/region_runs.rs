//! The regions of a regional scan, each run by its own job: a claim per
//! region, progress written as it goes (so a redelivery resumes), and the
//! scan's end once its last region ends.
//!
//! A region's run lives inside the scan record (`region_runs.<region>`),
//! so a region's write and the view of every other region come back from
//! one UpdateItem: the write that finds every region final ends the scan.

use super::{applied, is_condition_failure, item_key, keys, n, s, Claim, Store};
use crate::scans::{AttachmentStatus, Finding, RegionRun, RegionRunStatus, Scan, ScanStatus};
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::ReturnValue;

impl Store {
    /// Take one region of a regional scan for this delivery: QUEUED, or
    /// TIMED_OUT (stopped before a deadline), or RUNNING under a lease that
    /// ran out. The scan becomes RUNNING with its first region.
    pub async fn claim_region(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        let result = self
            .update_scan(tenant, scan)
            .update_expression(
                "SET #status = :running, started_at = if_not_exists(started_at, :now), attempts = attempts + :one, \
                 region_runs.#r.#status = :running, region_runs.#r.attempts = region_runs.#r.attempts + :one, \
                 region_runs.#r.started_at = if_not_exists(region_runs.#r.started_at, :now), region_runs.#r.lease_until = :lease \
                 REMOVE region_runs.#r.#error",
            )
            .condition_expression(
                "attribute_exists(region_runs.#r) AND #status IN (:queued, :running) AND \
                 (region_runs.#r.#status IN (:queued, :timed_out) OR (region_runs.#r.#status = :running AND region_runs.#r.lease_until < :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_names("#r", region)
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(ScanStatus::Queued.as_str()))
            .expression_attribute_values(":timed_out", s(RegionRunStatus::TimedOut.as_str()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Claim::Claimed(Box::new(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?))),
            Err(err) if is_condition_failure(&err) => {
                let current = self
                    .get_scan(tenant, &scan.account_id, &scan.scan_id)
                    .await?;
                let final_or_gone = current.as_ref().is_none_or(|scan| {
                    scan.region_runs
                        .get(region)
                        .is_none_or(|run| run.status.is_final())
                        || !matches!(scan.status, ScanStatus::Queued | ScanStatus::Running)
                });
                Ok(if final_or_gone {
                    Claim::Finished
                } else {
                    Claim::Busy
                })
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// The stored findings of one region of a data source.
    pub async fn region_findings(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
        region: &str,
    ) -> Result<Vec<Finding>> {
        let all = self
            .source_findings(tenant, account_id, data_source)
            .await?;
        Ok(all.into_iter().filter(|f| f.region == region).collect())
    }

    /// Progress of a region this delivery holds: its findings so far
    /// (stored unless scan_only), then where it got to. Refused when
    /// another delivery took the region over.
    pub async fn region_progress(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        run: &RegionRun,
        findings: &[Finding],
        rules: &crate::suppression_rules::Rules,
    ) -> Result<()> {
        self.write_settled_findings(tenant, findings.to_vec(), rules)
            .await?;
        let result = self
            .update_held_region(tenant, scan, region, run.attempts)
            .update_expression(
                "SET region_runs.#r.checkpoint = :checkpoint, region_runs.#r.counts = :counts, region_runs.#r.lease_until = :lease",
            )
            .expression_attribute_values(
                ":checkpoint",
                s(run.checkpoint.as_deref().unwrap_or_default()),
            )
            .expression_attribute_values(":counts", crate::aws::codec::to_attribute_value(&run.counts)?)
            .expression_attribute_values(
                ":lease",
                s(run.lease_until.unwrap_or_else(Timestamp::now).to_string()),
            )
            .send()
            .await;
        if applied(result)? {
            Ok(())
        } else {
            Err(taken_over(scan, region))
        }
    }

    /// The end of this delivery's run of a region (final or not): the
    /// findings no longer seen are written resolved, then the region's run. Gives
    /// the scan as it is after the write, every region included.
    pub async fn end_region(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        held_attempts: u32,
        run: &RegionRun,
        resolved: &[Finding],
    ) -> Result<Scan> {
        self.write_settled_findings(
            tenant,
            resolved.to_vec(),
            &crate::suppression_rules::Rules::none(),
        )
        .await?;
        let result = self
            .update_held_region(tenant, scan, region, held_attempts)
            .update_expression("SET region_runs.#r = :run")
            .expression_attribute_values(":run", crate::aws::codec::to_attribute_value(run)?)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => Err(taken_over(scan, region)),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// End a regional scan whose regions are all final: its status, counts
    /// and errors, then the attachment's status (and its findings, unless
    /// scan_only). A second caller finds it ended and changes nothing.
    pub async fn finish_regional_scan(
        &self,
        tenant: &str,
        done: &Scan,
        findings: Option<&crate::scans::FindingTally>,
    ) -> Result<bool> {
        let now = done.finished_at.unwrap_or_else(Timestamp::now);
        let result = self
            .update_scan(tenant, done)
            .update_expression(
                "SET #status = :status, counts = :counts, errors = :errors, finished_at = :now REMOVE lease_until",
            )
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":status", s(done.status.as_str()))
            .expression_attribute_values(":counts", crate::aws::codec::to_attribute_value(&done.counts)?)
            .expression_attribute_values(":errors", crate::aws::codec::to_attribute_value(&done.errors)?)
            .expression_attribute_values(":now", s(now.to_string()))
            .send()
            .await;
        if !applied(result)? {
            return Ok(false);
        }
        let (status, detail) = if done.status == ScanStatus::Succeeded {
            (
                AttachmentStatus::Ok,
                super::scans::summary(&done.scan_id, &done.counts, done.scan_only),
            )
        } else {
            let failed: Vec<String> = done
                .region_runs
                .iter()
                .filter(|(_, run)| run.status == RegionRunStatus::Failed)
                .map(|(region, _)| region.clone())
                .collect();
            (
                AttachmentStatus::Error,
                format!(
                    "scan {} failed in {} of {} regions ({}); see the scan's region_runs",
                    done.scan_id,
                    failed.len(),
                    done.region_runs.len(),
                    failed.join(", ")
                ),
            )
        };
        self.set_attachment_status(tenant, done, status, &detail, Some(now), findings)
            .await?;
        Ok(true)
    }

    /// The findings of a data source counted (one Query per 1 MB): a
    /// regional scan's regions wrote them apart.
    pub async fn count_findings(
        &self,
        tenant: &str,
        account_id: &str,
        data_source: &str,
    ) -> Result<crate::scans::FindingTally> {
        let all = self
            .source_findings(tenant, account_id, data_source)
            .await?;
        Ok(crate::scans::FindingTally::of(&all))
    }

    /// Every stored finding of one data source of an account.
    pub(super) async fn source_findings(
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

    /// An UpdateItem of a region this delivery holds: refused once another
    /// delivery took it over (its attempts moved on).
    fn update_held_region(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        held_attempts: u32,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.update_scan(tenant, scan)
            .condition_expression(
                "region_runs.#r.#status = :running AND region_runs.#r.attempts = :attempts",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#r", region)
            .expression_attribute_values(":running", s(ScanStatus::Running.as_str()))
            .expression_attribute_values(":attempts", n(u64::from(held_attempts)))
    }

    fn update_scan(
        &self,
        tenant: &str,
        scan: &Scan,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::scan_sk(&scan.account_id, &scan.scan_id),
            )))
    }
}

/// A refused region write: another delivery holds the region now.
fn taken_over(scan: &Scan, region: &str) -> Error {
    Error::Conflict(format!(
        "region {region} of scan {} was taken over by another delivery",
        scan.scan_id
    ))
}
