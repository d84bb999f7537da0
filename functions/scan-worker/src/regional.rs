//! Regional scans: one job per region, each region's run its own.
//!
//! A region's job claims its region (not the scan), so regions run in
//! parallel on as many deliveries as SQS hands out. The run reads the
//! region's resources in sorted chunks and writes its findings and a
//! checkpoint after each one; when the function's deadline comes near it
//! stops, the region is TIMED_OUT, and the next delivery starts after the
//! checkpoint. The region write that finds every region final ends the scan.

use crate::{
    findings_of, preconditions, refused, scanner_outcome, sqs, transient, Deadline, Outcome, Retry,
    Worker,
};
use service::account::Account;
use service::aws::store::Claim;
use service::scans::Finding;
use service::scans::{
    Attachment, InventorySync, RegionRun, RegionRunStatus, Scan, ScanError, ScanErrorCode, ScanJob,
    ScanStatus, SyncStatus, SQS_DATA_SOURCE,
};
use service::time::Timestamp;
use std::collections::{HashMap, HashSet};

/// How this delivery's run of a region ended, when no call failed.
enum RegionEnd {
    /// Every resource read: the stored findings it did not see again,
    /// now resolved.
    Done { resolved: Vec<Finding> },
    /// Stopped before the deadline, after the checkpoint.
    Stopped,
}

impl Worker {
    /// Run one region's job, on its `receive_count`th delivery.
    // Long: one region job's transitions (claim, run, checkpoint, finish or give up), each a
    // conditional write with its own early return.
    pub(crate) async fn run_region(
        &self,
        job: &ScanJob,
        region: &str,
        receive_count: u32,
        deadline: Deadline,
    ) -> Result<(), Retry> {
        let tenant = job.tenant.as_str();
        let store_failed = |err: service::Error| Retry::Failed(err.chain());
        let context = self
            .store
            .scan_context(
                tenant,
                &job.account_id,
                &job.data_source,
                Some(&job.scan_id),
            )
            .await
            .map_err(store_failed)?;
        let Some(scan) = context.scan else {
            tracing::info!("scan no longer exists; job dropped");
            return Ok(());
        };
        let Some(run) = scan.region_runs.get(region) else {
            tracing::warn!(region, "the scan does not cover this region; job dropped");
            return Ok(());
        };
        if run.status.is_final() || !matches!(scan.status, ScanStatus::Queued | ScanStatus::Running)
        {
            return Ok(());
        }
        let now = Timestamp::now();
        let scan = match self
            .store
            .claim_region(tenant, &scan, region, now, self.lease_from(now))
            .await
            .map_err(store_failed)?
        {
            Claim::Claimed(scan) => *scan,
            Claim::Finished => return Ok(()),
            Claim::Busy => return Err(Retry::Busy),
        };
        let mut run = scan.region_runs[region].clone();
        let held_attempts = run.attempts;
        self.note_region(
            tenant,
            &scan,
            region,
            SyncStatus::InProgress,
            "scan running",
        )
        .await?;
        let final_attempt = receive_count >= self.settings.max_receive_count;
        let outcome = self
            .scan_region(
                tenant,
                &scan,
                region,
                &mut run,
                context.account,
                context.attachment.clone(),
                deadline,
            )
            .await;
        let mut retry = None;
        let mut resolved = Vec::new();
        match outcome {
            Ok(RegionEnd::Done { resolved: gone }) => {
                run.status = RegionRunStatus::Succeeded;
                resolved = gone;
            }
            Ok(RegionEnd::Stopped) => {
                let message = format!(
                    "stopped before the worker's deadline after {} resources; {}",
                    run.counts.resources,
                    if final_attempt {
                        "no deliveries are left"
                    } else {
                        "the next delivery resumes where it stopped"
                    }
                );
                run.status = if final_attempt {
                    RegionRunStatus::Failed
                } else {
                    RegionRunStatus::TimedOut
                };
                run.error = Some(error(ScanErrorCode::Timeout, &message));
                retry = (!final_attempt).then_some(message);
            }
            Err(Outcome::Refused(refusal)) => {
                run.status = RegionRunStatus::Failed;
                run.error = Some(refusal);
            }
            Err(Outcome::Transient(failure)) => {
                run.status = if final_attempt {
                    RegionRunStatus::Failed
                } else {
                    RegionRunStatus::Queued
                };
                retry = (!final_attempt).then(|| failure.message.clone());
                run.error = Some(failure);
            }
        }
        let ended = Timestamp::now();
        if run.status.is_final() {
            run.finished_at = Some(ended);
        }
        run.lease_until = None;
        let after = self
            .store
            .end_region(tenant, &scan, region, held_attempts, &run, &resolved)
            .await
            .map_err(store_failed)?;
        let (sync, message) = region_sync(&run);
        self.note_region(tenant, &scan, region, sync, &message)
            .await?;
        if after.region_runs.values().all(|run| run.status.is_final()) {
            self.finish_regional(tenant, after, context.attachment.as_ref())
                .await?;
        }
        match retry {
            Some(message) => Err(Retry::Failed(message)),
            None => Ok(()),
        }
    }

    /// Read the region's resources after its checkpoint, chunk by chunk,
    /// writing findings and progress after each, until done or the deadline.
    // Long: one region's scan: the scanner's pages, checkpoints between them and the findings'
    // writes, in the order a resumed job needs.
    #[allow(clippy::too_many_arguments)]
    async fn scan_region(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        run: &mut RegionRun,
        account: Option<Account>,
        attachment: Option<Attachment>,
        deadline: Deadline,
    ) -> Result<RegionEnd, Outcome> {
        let ready = preconditions(&self.catalogue, account, attachment, &scan.data_source)?;
        if ready.source.name != SQS_DATA_SOURCE {
            return Err(refused(
                ScanErrorCode::UnknownDataSource,
                "this data source has no built-in regional scanner",
            ));
        }
        let margin = self.settings.deadline_margin;
        if deadline.is_near(margin) {
            return Ok(RegionEnd::Stopped);
        }
        let credentials = self.assume(tenant, scan, &ready).await?;
        let client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&self.sdk_config)
                .credentials_provider(credentials)
                .region(aws_sdk_sqs::config::Region::new(region.to_string()))
                .build(),
        );
        let urls = sqs::queue_urls(&client).await.map_err(scanner_outcome)?;
        let store_failed = |err: service::Error| transient(ScanErrorCode::Store, &err.to_string());
        let (existing, rules) = futures::join!(
            self.store
                .region_findings(tenant, &scan.account_id, &scan.data_source, region),
            self.store.suppression_matcher(tenant)
        );
        let (existing, rules) = (
            existing.map_err(store_failed)?,
            rules.map_err(store_failed)?,
        );
        let earlier: HashMap<&str, &Finding> = existing
            .iter()
            .map(|f| (f.finding_id.as_str(), f))
            .collect();
        let remaining: Vec<String> = urls
            .into_iter()
            .filter(|url| run.checkpoint.as_ref().is_none_or(|done| url > done))
            .collect();
        let mut written = HashSet::new();
        for chunk in remaining.chunks(self.settings.region_chunk.max(1)) {
            if deadline.is_near(margin) {
                return Ok(RegionEnd::Stopped);
            }
            let observations = sqs::inspect(&client, region, chunk)
                .await
                .map_err(scanner_outcome)?;
            let observed = observations.len() as u32;
            let mut findings = findings_of(scan, &ready, observations, region, Timestamp::now())?;
            for finding in &mut findings {
                finding.settle(earlier.get(finding.finding_id.as_str()).copied(), &rules);
                written.insert(finding.finding_id.clone());
            }
            run.counts.resources += chunk.len() as u32;
            run.counts.findings += observed;
            run.counts.ignored += observed - findings.len() as u32;
            if scan.scan_only {
                findings.clear();
            }
            run.counts.stored += findings.len() as u32;
            run.checkpoint = chunk.last().cloned();
            run.lease_until = Some(self.lease_from(Timestamp::now()));
            self.store
                .region_progress(tenant, scan, region, run, &findings, &rules)
                .await
                .map_err(|err| transient(ScanErrorCode::Store, &err.to_string()))?;
        }
        // Seen by an earlier scan, and by no delivery of this one: resolved
        // (unless resolved already).
        let now = Timestamp::now();
        let resolved: Vec<Finding> = if scan.scan_only {
            Vec::new()
        } else {
            existing
                .into_iter()
                .filter(|f| {
                    f.scan_id != scan.scan_id
                        && f.resolved_at.is_none()
                        && !written.contains(&f.finding_id)
                })
                .map(|f| f.resolved(now))
                .collect()
        };
        run.counts.resolved += resolved.len() as u32;
        Ok(RegionEnd::Done { resolved })
    }

    /// End a regional scan whose regions are all final: SUCCEEDED when
    /// every region succeeded, else FAILED with each failed region's error.
    /// `attachment`: as this delivery read it, before the findings are
    /// counted here.
    async fn finish_regional(
        &self,
        tenant: &str,
        mut done: Scan,
        attachment: Option<&Attachment>,
    ) -> Result<(), Retry> {
        done.counts = Default::default();
        done.errors.clear();
        for (region, run) in &done.region_runs {
            done.counts.add(&run.counts);
            if let (RegionRunStatus::Failed, Some(error)) = (run.status, &run.error) {
                done.errors.push(ScanError {
                    code: error.code,
                    message: format!("{region}: {}", error.message),
                    at: error.at,
                });
            }
        }
        done.status = if done.errors.is_empty() {
            ScanStatus::Succeeded
        } else {
            ScanStatus::Failed
        };
        done.finished_at = Some(Timestamp::now());
        let store_failed = |err: service::Error| Retry::Failed(err.chain());
        let findings = if done.scan_only {
            None
        } else {
            Some(
                self.store
                    .count_findings(tenant, &done.account_id, &done.data_source)
                    .await
                    .map_err(store_failed)?
                    .read_against(attachment),
            )
        };
        self.store
            .finish_regional_scan(tenant, &done, findings.as_ref())
            .await
            .map_err(store_failed)
            .map(drop)
    }

    async fn note_region(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        status: SyncStatus,
        message: &str,
    ) -> Result<(), Retry> {
        let sync = InventorySync {
            status,
            message: Some(message.to_string()),
            code: Some(status.code().to_string()),
            synced_by: Some(format!("scan:{}", scan.scan_id)),
            last_sync_time: Some(Timestamp::now()),
        };
        self.store
            .set_region_sync(tenant, &scan.account_id, &[(region.to_string(), sync)])
            .await
            .map_err(|err| Retry::Failed(err.chain()))
    }
}

/// The inventory sync a region's run leaves on the account's region.
fn region_sync(run: &RegionRun) -> (SyncStatus, String) {
    let message = run.error.as_ref().map(|e| e.message.clone());
    match run.status {
        RegionRunStatus::Succeeded => (
            SyncStatus::Success,
            format!("{} queues read", run.counts.resources),
        ),
        RegionRunStatus::TimedOut => (SyncStatus::TimedOut, message.unwrap_or_default()),
        RegionRunStatus::Failed
            if run
                .error
                .as_ref()
                .is_some_and(|e| e.code == ScanErrorCode::Timeout) =>
        {
            (SyncStatus::TimedOut, message.unwrap_or_default())
        }
        RegionRunStatus::Failed => (SyncStatus::Fail, message.unwrap_or_default()),
        RegionRunStatus::Queued | RegionRunStatus::Running => (
            SyncStatus::InProgress,
            format!("will be retried: {}", message.unwrap_or_default()),
        ),
    }
}

fn error(code: ScanErrorCode, message: &str) -> ScanError {
    ScanError {
        code,
        message: message.to_string(),
        at: Timestamp::now(),
    }
}
