//! Run one scan job: the scan worker's use case.
//!
//! Each job names a scan record. A conditional claim on that record (keyed
//! by scan id) makes a redelivered or duplicated job run once. The run
//! assumes the customer's role with the external ID, runs the data
//! source's scanner (built in) or forwards the job to its queue (external),
//! drops what the account's ignore lists exclude, stores the findings
//! unless `scan_only`, and records the status of each region. A regional
//! scan's job runs one region ([`regional`]).
//!
//! What may run and how an attempt ends are decided in the domain
//! (`scans::Ready`, `scans::AttemptFailure`); this module makes the calls
//! around those decisions, each a conditional write.

mod regional;

use crate::access::{AccessPurpose, Ledger};
use crate::account::Account;
use crate::aws::scanners::{iam, ScanFailure};
use crate::aws::store::{Claim, Store};
use crate::aws::verification::{RoleVerifier, Target};
use crate::scans::{
    Attachment, AttemptFailure, Catalogue, ExternalScanJob, FindingTally, Ready, Scan, ScanError,
    ScanErrorCode, ScanJob, ScanStatus, SyncStatus,
};
use crate::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The queue's maxReceiveCount: the attempt that dead-letters a job.
    pub max_receive_count: u32,
    /// How long a claim holds a scan before another delivery may take it
    /// over: longer than the function may run.
    pub lease: Duration,
    /// Days a session stays in the account's access log.
    pub access_log_days: u32,
    /// A region's run stops when less than this is left before the
    /// function's deadline: time enough to write where it got to.
    pub deadline_margin: Duration,
    /// Resources a region's run reads between two progress writes.
    pub region_chunk: usize,
}

impl RunSettings {
    /// `MAX_RECEIVE_COUNT`, `SCAN_LEASE_SECONDS` and the audit retention.
    pub fn from_config(config: &crate::runtime::config::Config) -> Self {
        RunSettings {
            max_receive_count: config.max_receive_count,
            lease: Duration::from_secs(config.scan_lease_seconds),
            access_log_days: config.audit_retention_days,
            ..RunSettings::default()
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            max_receive_count: crate::aws::schema::SCAN_QUEUE.max_receive_count,
            lease: Duration::from_secs(16 * 60),
            access_log_days: 30,
            deadline_margin: Duration::from_secs(20),
            region_chunk: 25,
        }
    }
}

/// When the invocation must have answered (Lambda's deadline), or none
/// (the dev server's and the tests' pump).
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline(Option<std::time::Instant>);

impl Deadline {
    pub const NONE: Deadline = Deadline(None);

    pub fn at(instant: std::time::Instant) -> Self {
        Deadline(Some(instant))
    }

    /// From the Lambda context's deadline (milliseconds since the epoch).
    pub fn from_epoch_millis(deadline_ms: u64) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        Deadline::at(
            std::time::Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)),
        )
    }

    /// Less than `margin` is left.
    pub fn is_near(&self, margin: Duration) -> bool {
        self.0
            .is_some_and(|at| std::time::Instant::now() + margin >= at)
    }
}

/// Why a job must come back: the queue delivers it again.
#[derive(Debug)]
pub enum Retry {
    /// Not a scan job: after maxReceiveCount it lands in the DLQ.
    Malformed(String),
    /// Another delivery holds the scan; look again later.
    Busy,
    /// This attempt failed in a way another may not.
    Failed(String),
}

/// Everything a scan job runs with.
#[derive(Clone)]
pub struct ScanRunner {
    pub store: Store,
    pub verifier: RoleVerifier,
    /// The base of the scanners' clients, built with assumed credentials.
    pub sdk_config: aws_config::SdkConfig,
    pub catalogue: Arc<Catalogue>,
    /// Sends to external scanners' queues.
    pub sqs: aws_sdk_sqs::Client,
    pub settings: RunSettings,
}

fn store_failed(err: crate::Error) -> AttemptFailure {
    AttemptFailure::transient(ScanErrorCode::Store, &err.to_string(), Timestamp::now())
}

fn retry_store(err: crate::Error) -> Retry {
    Retry::Failed(err.chain())
}

impl ScanRunner {
    /// Built from the composition root.
    pub fn new(services: &crate::runtime::config::Services) -> Self {
        ScanRunner {
            store: services.store.clone(),
            verifier: services.verifier.clone(),
            sdk_config: services.sdk.clone(),
            catalogue: services.catalogue.clone(),
            sqs: services.sqs.clone(),
            settings: RunSettings::from_config(&services.config),
        }
    }

    /// Run one job, on its `receive_count`th delivery, before `deadline`.
    pub async fn run(
        &self,
        job: &ScanJob,
        receive_count: u32,
        deadline: Deadline,
    ) -> Result<(), Retry> {
        let tenant = job.tenant.as_str();
        let mut context = self
            .store
            .scan_context(
                tenant,
                &job.account_id,
                &job.data_source,
                Some(&job.scan_id),
            )
            .await
            .map_err(retry_store)?;
        let Some(scan) = context.scan.take() else {
            // The account (and with it its scans) was deleted.
            tracing::info!(scan_id = %job.scan_id, "scan no longer exists; job dropped");
            return Ok(());
        };
        if let Some(region) = &job.region {
            return self
                .run_region(job, region, scan, context, receive_count, deadline)
                .await;
        }
        if scan.is_finished() {
            return Ok(());
        }
        let now = Timestamp::now();
        let scan = match self
            .store
            .claim_scan(
                tenant,
                &job.account_id,
                &job.scan_id,
                now,
                self.lease_from(now),
            )
            .await
            .map_err(retry_store)?
        {
            Claim::Claimed(scan) => *scan,
            Claim::Finished => return Ok(()),
            Claim::Busy => return Err(Retry::Busy),
        };
        let final_attempt = receive_count >= self.settings.max_receive_count;
        match self
            .execute(tenant, &scan, context.account, context.attachment)
            .await
        {
            Ok(()) => Ok(()),
            Err(AttemptFailure::Refused(error)) => self.give_up(tenant, &scan, error, false).await,
            Err(AttemptFailure::Transient(error)) => {
                let message = error.message.clone();
                if final_attempt {
                    self.give_up(tenant, &scan, error, true).await?;
                } else {
                    self.store
                        .fail_attempt(tenant, &scan, error, false, false)
                        .await
                        .map_err(retry_store)?;
                }
                Err(Retry::Failed(message))
            }
        }
    }

    /// Record the end of a scan that failed for good.
    async fn give_up(
        &self,
        tenant: &str,
        scan: &Scan,
        error: ScanError,
        dead_lettered: bool,
    ) -> Result<(), Retry> {
        let status = error.final_sync();
        let regions = scan.region_results(status, &error.message, error.code.as_str(), error.at);
        self.store
            .fail_attempt(tenant, scan, error, true, dead_lettered)
            .await
            .and(
                self.store
                    .set_region_sync(tenant, &scan.account_id, &regions)
                    .await,
            )
            .map_err(retry_store)
    }

    /// Run a claimed scan: check it may run, then forward it to its
    /// external scanner or run the built-in one and store what it found.
    async fn execute(
        &self,
        tenant: &str,
        scan: &Scan,
        account: Option<Account>,
        attachment: Option<Attachment>,
    ) -> Result<(), AttemptFailure> {
        let ready = Ready::check(
            &self.catalogue,
            account,
            attachment,
            &scan.data_source,
            Timestamp::now(),
        )?;
        // A hand-over marks its regions itself, with the attachment.
        if let Some(url) = &ready.source.queue_url {
            return self.forward(tenant, scan, &ready, url).await;
        }
        self.mark_regions(tenant, scan, SyncStatus::InProgress, "scan running")
            .await?;
        let started = Timestamp::now();
        let (report, rules) = futures::join!(
            self.scan_iam(tenant, scan, &ready, started),
            self.store.suppression_matcher(tenant)
        );
        let report = report?;
        let mut done = scan.clone();
        let mut findings = ready.kept(&mut done, report.resources, report.observations, started)?;
        // What the attachment holds after this scan (scan_only keeps what was).
        let mut stored = None;
        if !scan.scan_only {
            let rules = rules.map_err(store_failed)?;
            let (all, resolved) = self
                .store
                .replace_findings(
                    tenant,
                    &scan.account_id,
                    &scan.data_source,
                    &mut findings,
                    &rules,
                )
                .await
                .map_err(store_failed)?;
            done.counts.stored = findings.len() as u32;
            done.counts.resolved = resolved;
            stored = Some(FindingTally::of(&all).read_against(Some(&ready.attachment)));
        }
        // IAM is global: one scan covers each region of the scan.
        done.status = ScanStatus::Succeeded;
        done.finished_at = Some(Timestamp::now());
        let regions = done.region_results(
            SyncStatus::Success,
            "IAM inventory synced (IAM is global)",
            SyncStatus::Success.code(),
            Timestamp::now(),
        );
        self.store
            .finish_scan(tenant, &done, &regions, stored.as_ref())
            .await
            .map_err(store_failed)
    }

    /// Hand the job to an external scanner's queue: the scan is FORWARDED
    /// (with the reference its scanner reports by, and a deadline) before
    /// the job is sent, and RUNNING again if it cannot be sent.
    async fn forward(
        &self,
        tenant: &str,
        scan: &Scan,
        ready: &Ready<'_>,
        url: &str,
    ) -> Result<(), AttemptFailure> {
        let deadline = Timestamp::now().plus(Duration::from_secs(
            u64::from(ready.source.deadline_minutes) * 60,
        ));
        let forwarded = ExternalScanJob {
            tenant: tenant.to_string(),
            account_id: scan.account_id.clone(),
            scan_id: scan.scan_id.clone(),
            data_source: scan.data_source.clone(),
            role_arn: ready.role_arn.clone(),
            external_id: ready.external_id.clone(),
            regions: scan.regions.clone(),
            scan_only: scan.scan_only,
            config: ready.attachment.config.clone(),
            specific_version: ready.attachment.specific_version.clone(),
            deadline_at: deadline,
        };
        let body = serde_json::to_string(&forwarded).map_err(|err| {
            AttemptFailure::transient(ScanErrorCode::Internal, &err.to_string(), Timestamp::now())
        })?;
        self.store
            .forward_scan(tenant, scan, deadline)
            .await
            .map_err(store_failed)?;
        if let Err(err) = crate::aws::jobs::send(&self.sqs, url, body).await {
            self.store
                .unforward_scan(tenant, scan)
                .await
                .map_err(store_failed)?;
            return Err(AttemptFailure::transient(
                ScanErrorCode::QueueUnavailable,
                &err.to_string(),
                Timestamp::now(),
            ));
        }
        let regions = scan.region_results(
            SyncStatus::InProgress,
            "handed to the external scanner",
            SyncStatus::InProgress.code(),
            Timestamp::now(),
        );
        self.store
            .note_forwarded(
                tenant,
                scan,
                &format!(
                    "scan {} handed to the external scanner; results due by {deadline}",
                    scan.scan_id
                ),
                &regions,
            )
            .await
            .map_err(store_failed)
    }

    /// Until when a claim made at `now` holds its scan (or region).
    fn lease_from(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_datetime(
            now.datetime()
                + chrono::Duration::from_std(self.settings.lease)
                    .unwrap_or(chrono::Duration::minutes(16)),
        )
    }

    /// Assume the customer's role for a scan; the access log keeps the
    /// session whatever becomes of the scan.
    async fn assume(
        &self,
        tenant: &str,
        scan: &Scan,
        ready: &Ready<'_>,
    ) -> Result<aws_sdk_iam::config::Credentials, AttemptFailure> {
        let target = Target {
            tenant,
            account_id: &scan.account_id,
            role_arn: &ready.role_arn,
            external_id: &ready.external_id,
            required: &[],
        };
        let (credentials, session) = self
            .verifier
            .assume_for(&target, AccessPurpose::Scan, &scan.scan_id)
            .await;
        let ledger = Ledger {
            sessions: vec![(tenant.to_string(), scan.account_id.clone(), session)],
            ..Ledger::default()
        };
        self.store
            .put_ledger(&ledger, self.settings.access_log_days)
            .await
            .map_err(store_failed)?;
        credentials.map_err(|outcome| {
            AttemptFailure::of_assumption(outcome.code, outcome.message, Timestamp::now())
        })
    }

    /// Assume the customer's role and run the built-in IAM scanner with it.
    async fn scan_iam(
        &self,
        tenant: &str,
        scan: &Scan,
        ready: &Ready<'_>,
        started: Timestamp,
    ) -> Result<iam::Report, AttemptFailure> {
        let credentials = self.assume(tenant, scan, ready).await?;
        let client = iam::client(&self.sdk_config, credentials, &ready.role_arn);
        iam::scan(&client, started).await.map_err(scanner_failure)
    }

    async fn mark_regions(
        &self,
        tenant: &str,
        scan: &Scan,
        status: SyncStatus,
        message: &str,
    ) -> Result<(), AttemptFailure> {
        let regions = scan.region_results(status, message, status.code(), Timestamp::now());
        self.store
            .set_region_sync(tenant, &scan.account_id, &regions)
            .await
            .map_err(store_failed)
    }
}

/// A scanner's failed call as the attempt's failure.
fn scanner_failure(failure: ScanFailure) -> AttemptFailure {
    let at = Timestamp::now();
    if failure.retryable {
        AttemptFailure::transient(failure.code, &failure.message, at)
    } else {
        AttemptFailure::refused(failure.code, &failure.message, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{self, OfflineStore};

    #[test]
    fn a_deadline_is_near_within_its_margin_and_none_never_is() {
        let soon = Deadline::at(std::time::Instant::now() + Duration::from_secs(10));
        assert!(soon.is_near(Duration::from_secs(20)));
        assert!(!soon.is_near(Duration::from_secs(1)));
        assert!(!Deadline::NONE.is_near(Duration::from_secs(86_400)));
        let past = Deadline::from_epoch_millis(0);
        assert!(past.is_near(Duration::ZERO), "a deadline already gone");
    }

    /// A job whose scan cannot be read is delivered again, after one
    /// read and no write: a store outage loses no job.
    #[tokio::test]
    async fn a_job_the_store_cannot_read_comes_back_after_one_read() {
        let offline = OfflineStore::new();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::from_static("us-east-1"))
            .build();
        let runner = ScanRunner {
            store: offline.store.clone(),
            verifier: RoleVerifier::new(&sdk, &offline::settings()),
            sdk_config: sdk.clone(),
            catalogue: Arc::new(Catalogue::default()),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            settings: RunSettings::default(),
        };
        for region in [None, Some("eu-west-1".to_string())] {
            let job = ScanJob {
                tenant: "tenant".into(),
                account_id: "000000000001".into(),
                data_source: "aws:iam".into(),
                scan_id: "01J00000000000000000000000".into(),
                region,
            };
            let before = offline.calls();
            let answer = runner.run(&job, 1, Deadline::NONE).await;
            assert!(matches!(answer, Err(Retry::Failed(_))), "{answer:?}");
            assert_eq!(
                offline.calls() - before,
                1,
                "the scan's context, nothing else"
            );
        }
    }
}
