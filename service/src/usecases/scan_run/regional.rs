//! Regional scans: one job per region, each region's run its own.
//!
//! A region's job claims its region (not the scan), so regions run in
//! parallel on as many deliveries as SQS hands out. The run reads the
//! region's resources in sorted chunks and writes its findings and a
//! checkpoint after each one; when the function's deadline comes near it
//! stops, the region is TIMED_OUT, and the next delivery starts after the
//! checkpoint. The region write that finds every region final ends the scan.

use super::{retry_store, scanner_failure, store_failed, Deadline, Retry, ScanRunner};
use crate::account::Account;
use crate::aws::scanners::sqs;
use crate::aws::store::{Claim, ScanContext};
use crate::scans::{
    Attachment, AttemptFailure, Finding, InventorySync, Ready, RegionEnd, RegionRun, Scan,
    ScanErrorCode, ScanJob, ScanStatus, SyncStatus, SQS_DATA_SOURCE,
};
use crate::suppression_rules::Rules;
use crate::time::Timestamp;
use std::collections::{HashMap, HashSet};

impl ScanRunner {
    /// Run one region's job of `scan` (read with its account and
    /// attachment in `context`), on its `receive_count`th delivery: claim
    /// the region, run it, record how it ended, and end the scan when this
    /// was its last unfinished region.
    pub(super) async fn run_region(
        &self,
        job: &ScanJob,
        region: &str,
        scan: Scan,
        context: ScanContext,
        receive_count: u32,
        deadline: Deadline,
    ) -> Result<(), Retry> {
        let tenant = job.tenant.as_str();
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
            .map_err(retry_store)?
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
        let ended = self
            .scan_region(
                tenant,
                &scan,
                region,
                &mut run,
                (context.account, context.attachment.clone()),
                deadline,
            )
            .await;
        let final_attempt = receive_count >= self.settings.max_receive_count;
        let (resolved, retry) = run.end(ended, final_attempt, Timestamp::now());
        let after = self
            .store
            .end_region(tenant, &scan, region, held_attempts, &run, &resolved)
            .await
            .map_err(retry_store)?;
        let (sync, message) = run.sync();
        self.note_region(tenant, &scan, region, sync, &message)
            .await?;
        if after.region_runs.values().all(|run| run.status.is_final()) {
            self.finish_regional(tenant, after, context.attachment.as_ref())
                .await?;
        }
        retry.map_or(Ok(()), |message| Err(Retry::Failed(message)))
    }

    /// Read the region's resources after its checkpoint, chunk by chunk,
    /// writing findings and progress after each, until done or the deadline.
    async fn scan_region(
        &self,
        tenant: &str,
        scan: &Scan,
        region: &str,
        run: &mut RegionRun,
        (account, attachment): (Option<Account>, Option<Attachment>),
        deadline: Deadline,
    ) -> Result<RegionEnd, AttemptFailure> {
        let ready = Ready::check(
            &self.catalogue,
            account,
            attachment,
            &scan.data_source,
            Timestamp::now(),
        )?;
        if ready.source.name != SQS_DATA_SOURCE {
            return Err(AttemptFailure::refused(
                ScanErrorCode::UnknownDataSource,
                "this data source has no built-in regional scanner",
                Timestamp::now(),
            ));
        }
        let margin = self.settings.deadline_margin;
        if deadline.is_near(margin) {
            return Ok(RegionEnd::Stopped);
        }
        let credentials = self.assume(tenant, scan, &ready).await?;
        let client = sqs::client(&self.sdk_config, credentials, region);
        let urls = sqs::queue_urls(&client).await.map_err(scanner_failure)?;
        let (stored, rules) = futures::join!(
            self.store
                .region_findings(tenant, &scan.account_id, &scan.data_source, region),
            self.store.suppression_matcher(tenant)
        );
        let (stored, rules) = (stored.map_err(store_failed)?, rules.map_err(store_failed)?);
        let earlier: HashMap<&str, &Finding> =
            stored.iter().map(|f| (f.finding_id.as_str(), f)).collect();
        let chunk = Chunk {
            client: &client,
            scan,
            region,
            ready: &ready,
            earlier: &earlier,
            rules: &rules,
        };
        let remaining: Vec<String> = urls
            .into_iter()
            .filter(|url| run.checkpoint.as_ref().is_none_or(|done| url > done))
            .collect();
        let mut written = HashSet::new();
        for urls in remaining.chunks(self.settings.region_chunk.max(1)) {
            if deadline.is_near(margin) {
                return Ok(RegionEnd::Stopped);
            }
            self.read_chunk(tenant, &chunk, urls, run, &mut written)
                .await?;
        }
        let resolved = scan.unseen(stored, &written, Timestamp::now());
        run.counts.resolved += resolved.len() as u32;
        Ok(RegionEnd::Done { resolved })
    }

    /// Read one chunk of a region's queues, settle its findings against
    /// what was stored, and write them with the run's progress.
    async fn read_chunk(
        &self,
        tenant: &str,
        chunk: &Chunk<'_>,
        urls: &[String],
        run: &mut RegionRun,
        written: &mut HashSet<String>,
    ) -> Result<(), AttemptFailure> {
        let (scan, region) = (chunk.scan, chunk.region);
        let observations = sqs::inspect(chunk.client, region, urls)
            .await
            .map_err(scanner_failure)?;
        let observed = observations.len() as u32;
        let mut findings = chunk
            .ready
            .findings(scan, observations, region, Timestamp::now())?;
        for finding in &mut findings {
            finding.settle(
                chunk.earlier.get(finding.finding_id.as_str()).copied(),
                chunk.rules,
            );
            written.insert(finding.finding_id.clone());
        }
        run.counts.resources += urls.len() as u32;
        run.counts.findings += observed;
        run.counts.ignored += observed - findings.len() as u32;
        if scan.scan_only {
            findings.clear();
        }
        run.counts.stored += findings.len() as u32;
        run.checkpoint = urls.last().cloned();
        run.lease_until = Some(self.lease_from(Timestamp::now()));
        self.store
            .region_progress(tenant, scan, region, run, &findings, chunk.rules)
            .await
            .map_err(store_failed)
    }

    /// End a regional scan whose regions are all final (`Scan::close_regional`).
    /// `attachment`: as this delivery read it, before the findings are
    /// counted here.
    async fn finish_regional(
        &self,
        tenant: &str,
        mut done: Scan,
        attachment: Option<&Attachment>,
    ) -> Result<(), Retry> {
        done.close_regional(Timestamp::now());
        let findings = if done.scan_only {
            None
        } else {
            Some(
                self.store
                    .count_findings(tenant, &done.account_id, &done.data_source)
                    .await
                    .map_err(retry_store)?
                    .read_against(attachment),
            )
        };
        self.store
            .finish_regional_scan(tenant, &done, findings.as_ref())
            .await
            .map_err(retry_store)
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
            .map_err(retry_store)
    }
}

/// What every chunk of one region's run reads with.
struct Chunk<'a> {
    client: &'a aws_sdk_sqs::Client,
    scan: &'a Scan,
    region: &'a str,
    ready: &'a Ready<'a>,
    earlier: &'a HashMap<&'a str, &'a Finding>,
    rules: &'a Rules,
}
