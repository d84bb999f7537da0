//! The scan worker: consumes scan jobs from SQS in batches and answers with
//! partial batch failures, so one bad message never fails its neighbours.
//!
//! Each job names a scan record. A conditional claim on that record (keyed
//! by scan id) makes a redelivered or duplicated job run once. The worker
//! assumes the customer's role with the external ID, runs the data
//! source's scanner (built in) or forwards the job to its queue (external),
//! drops what the account's ignore lists exclude, stores the findings
//! unless `scan_only`, and records the status of each region.

pub mod iam;
mod regional;
pub mod sqs;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use service::access::{AccessPurpose, Ledger};
use service::account::Account;
use service::aws::store::{Claim, Store};
use service::aws::verification::{RoleVerifier, Target, VerificationCode};
use service::scans::{
    Attachment, Catalogue, DataSource, ExternalScanJob, Finding, FindingTally, IgnoreLists, Scan,
    ScanError, ScanErrorCode, ScanJob, ScanStatus, Severity, SyncStatus,
};
use service::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Jobs of one batch run at once (messages of the same scan run in turn).
const JOBS_AT_ONCE: usize = 4;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
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

impl WorkerSettings {
    /// `MAX_RECEIVE_COUNT` and `SCAN_LEASE_SECONDS`.
    pub fn from_config(config: &service::runtime::config::Config) -> Self {
        WorkerSettings {
            max_receive_count: config.max_receive_count,
            lease: Duration::from_secs(config.scan_lease_seconds),
            access_log_days: config.audit_retention_days,
            ..WorkerSettings::default()
        }
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            max_receive_count: service::aws::schema::SCAN_QUEUE.max_receive_count,
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

/// Everything a scan needs.
#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub verifier: RoleVerifier,
    /// The base of the IAM clients built with assumed credentials.
    pub sdk_config: aws_config::SdkConfig,
    pub catalogue: Arc<Catalogue>,
    /// Sends to external scanners' queues.
    pub sqs: aws_sdk_sqs::Client,
    pub settings: WorkerSettings,
}

/// A message's body read as a scan job, or why it is not one.
pub type ParsedJob = Result<ScanJob, String>;

/// Why a message must come back: it is reported as a batch item failure.
#[derive(Debug)]
pub enum Retry {
    /// Not a scan job: after maxReceiveCount it lands in the DLQ.
    Malformed(String),
    /// Another delivery holds the scan; look again later.
    Busy,
    /// This attempt failed in a way another may not.
    Failed(String),
}

impl Worker {
    /// From the environment, as the Lambda runs it.
    /// Built from the composition root.
    pub fn new(services: &service::runtime::config::Services) -> Self {
        Worker {
            store: services.store.clone(),
            verifier: services.verifier.clone(),
            sdk_config: services.sdk.clone(),
            catalogue: services.catalogue.clone(),
            sqs: services.sqs.clone(),
            settings: WorkerSettings::from_config(&services.config),
        }
    }

    /// Handle one batch before `deadline`; the failures are the messages
    /// SQS should deliver again.
    pub async fn handle_batch(&self, event: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
        handle_by_scan(event, |message, job| async move {
            self.handle_message(&message, job, deadline).await
        })
        .await
    }

    async fn handle_message(
        &self,
        message: &SqsMessage,
        job: ParsedJob,
        deadline: Deadline,
    ) -> Result<(), Retry> {
        let job = match job {
            Ok(job) => job,
            Err(err) => {
                // serde's message names the position, never the content.
                tracing::warn!(
                    message_id = message.message_id.as_deref().unwrap_or(""),
                    error = %err,
                    "not a scan job; after maxReceiveCount it goes to the dead-letter queue"
                );
                return Err(Retry::Malformed(err));
            }
        };
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse::<u32>().ok())
            .unwrap_or(1);
        // Every line about this job names it, its tenant and account.
        let span = tracing::info_span!(
            "scan_job",
            message_id = message.message_id.as_deref().unwrap_or(""),
            tenant = %job.tenant,
            account_id = %job.account_id,
            scan_id = %job.scan_id,
            data_source = %job.data_source,
            region = job.region.as_deref().unwrap_or(""),
            receive_count,
        );
        let result =
            tracing::Instrument::instrument(self.run(&job, receive_count, deadline), span.clone())
                .await;
        span.in_scope(|| match &result {
            Ok(()) => tracing::info!("scan job done"),
            Err(retry) => tracing::warn!(reason = ?retry, "scan job will be delivered again"),
        });
        result
    }

    /// Run one job, on its `receive_count`th delivery, before `deadline`.
    pub async fn run(
        &self,
        job: &ScanJob,
        receive_count: u32,
        deadline: Deadline,
    ) -> Result<(), Retry> {
        if let Some(region) = &job.region {
            return self.run_region(job, region, receive_count, deadline).await;
        }
        let tenant = job.tenant.as_str();
        let context = self
            .store
            .scan_context(
                tenant,
                &job.account_id,
                &job.data_source,
                Some(&job.scan_id),
            )
            .await
            .map_err(|err| Retry::Failed(err.chain()))?;
        let Some(scan) = context.scan else {
            // The account (and with it its scans) was deleted.
            tracing::info!(scan_id = %job.scan_id, "scan no longer exists; job dropped");
            return Ok(());
        };
        if scan.is_finished() {
            return Ok(());
        }
        let now = Timestamp::now();
        let lease_until = self.lease_from(now);
        let scan = match self
            .store
            .claim_scan(tenant, &job.account_id, &job.scan_id, now, lease_until)
            .await
            .map_err(|err| Retry::Failed(err.chain()))?
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
            Err(Outcome::Refused(error)) => {
                self.give_up(tenant, &scan, error, false).await?;
                Ok(())
            }
            Err(Outcome::Transient(error)) => {
                let message = error.message.clone();
                if final_attempt {
                    self.give_up(tenant, &scan, error, true).await?;
                } else {
                    self.store
                        .fail_attempt(tenant, &scan, error, false, false)
                        .await
                        .map_err(|err| Retry::Failed(err.chain()))?;
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
        let status = if error.code == ScanErrorCode::Timeout {
            SyncStatus::TimedOut
        } else {
            SyncStatus::Fail
        };
        let regions = scan.region_results(status, &error.message, error.code.as_str(), error.at);
        self.store
            .fail_attempt(tenant, scan, error, true, dead_lettered)
            .await
            .and(
                self.store
                    .set_region_sync(tenant, &scan.account_id, &regions)
                    .await,
            )
            .map_err(|err| Retry::Failed(err.chain()))
    }

    /// Run a claimed scan: check it may run, then forward it to its
    /// external scanner or run the built-in one and store what it found.
    async fn execute(
        &self,
        tenant: &str,
        scan: &Scan,
        account: Option<Account>,
        attachment: Option<Attachment>,
    ) -> Result<(), Outcome> {
        let ready = preconditions(&self.catalogue, account, attachment, &scan.data_source)?;
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
        let mut findings = kept_findings(&mut done, &ready, report, started)?;
        // What the attachment holds after this scan (scan_only keeps what was).
        let mut stored = None;
        if !scan.scan_only {
            let store_failed =
                |err: service::Error| transient(ScanErrorCode::Store, &err.to_string());
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
        self.finish(
            tenant,
            done,
            ScanStatus::Succeeded,
            SyncStatus::Success,
            "IAM inventory synced (IAM is global)",
            stored.as_ref(),
        )
        .await
    }

    /// End a scan with `status`, each of its regions with `sync`.
    async fn finish(
        &self,
        tenant: &str,
        mut done: Scan,
        status: ScanStatus,
        sync: SyncStatus,
        message: &str,
        findings: Option<&FindingTally>,
    ) -> Result<(), Outcome> {
        done.status = status;
        done.finished_at = Some(Timestamp::now());
        let regions = done.region_results(sync, message, sync.code(), Timestamp::now());
        self.store
            .finish_scan(tenant, &done, &regions, findings)
            .await
            .map_err(|err| transient(ScanErrorCode::Store, &err.to_string()))
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
    ) -> Result<(), Outcome> {
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
        let body = serde_json::to_string(&forwarded)
            .map_err(|err| transient(ScanErrorCode::Internal, &err.to_string()))?;
        self.store
            .forward_scan(tenant, scan, deadline)
            .await
            .map_err(|err| transient(ScanErrorCode::Store, &err.to_string()))?;
        if let Err(err) = service::aws::jobs::send(&self.sqs, url, body).await {
            self.store
                .unforward_scan(tenant, scan)
                .await
                .map_err(|err| transient(ScanErrorCode::Store, &err.to_string()))?;
            return Err(transient(ScanErrorCode::QueueUnavailable, &err.to_string()));
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
            .map_err(|err| transient(ScanErrorCode::Store, &err.to_string()))
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
    ) -> Result<aws_sdk_iam::config::Credentials, Outcome> {
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
        if let Err(err) = self
            .store
            .put_ledger(&ledger, self.settings.access_log_days)
            .await
        {
            return Err(transient(ScanErrorCode::Store, &err.to_string()));
        }
        credentials.map_err(|outcome| {
            let error = ScanError {
                code: outcome.code.into(),
                message: outcome.message,
                at: Timestamp::now(),
            };
            match outcome.code {
                VerificationCode::Throttled
                | VerificationCode::Timeout
                | VerificationCode::Internal => Outcome::Transient(error),
                _ => Outcome::Refused(error),
            }
        })
    }

    /// Assume the customer's role and run the built-in IAM scanner with it.
    async fn scan_iam(
        &self,
        tenant: &str,
        scan: &Scan,
        ready: &Ready<'_>,
        started: Timestamp,
    ) -> Result<iam::Report, Outcome> {
        let credentials = self.assume(tenant, scan, ready).await?;
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.sdk_config)
                .credentials_provider(credentials)
                .region(aws_sdk_iam::config::Region::new(iam_region(
                    &ready.role_arn,
                )))
                .build(),
        );
        iam::scan(&iam, started).await.map_err(scanner_outcome)
    }

    async fn mark_regions(
        &self,
        tenant: &str,
        scan: &Scan,
        status: SyncStatus,
        message: &str,
    ) -> Result<(), Outcome> {
        let regions = scan.region_results(status, message, status.code(), Timestamp::now());
        self.store
            .set_region_sync(tenant, &scan.account_id, &regions)
            .await
            .map_err(|err| transient(ScanErrorCode::Store, &err.to_string()))
    }
}

/// What a claimed scan runs with, once every precondition holds.
struct Ready<'a> {
    account: Account,
    attachment: Attachment,
    source: &'a DataSource,
    role_arn: String,
    external_id: String,
}

/// Whether a claimed scan may run: its account is there and active, its
/// data source attached and configured, and a role to assume (the
/// attachment's own, else the account's).
fn preconditions<'a>(
    catalogue: &'a Catalogue,
    account: Option<Account>,
    attachment: Option<Attachment>,
    data_source: &str,
) -> Result<Ready<'a>, Outcome> {
    let account =
        account.ok_or_else(|| refused(ScanErrorCode::AccountDeleted, "the account was deleted"))?;
    if account.archived_at.is_some() {
        return Err(refused(
            ScanErrorCode::AccountArchived,
            "the account is archived; unarchive it and scan again",
        ));
    }
    if account.departed.is_some() {
        return Err(refused(
            ScanErrorCode::AccountDeparted,
            "the account has departed from its organization",
        ));
    }
    let attachment = attachment.ok_or_else(|| {
        refused(
            ScanErrorCode::Detached,
            "the data source was detached before the scan ran",
        )
    })?;
    let source = catalogue.get(data_source).ok_or_else(|| {
        refused(
            ScanErrorCode::UnknownDataSource,
            "this data source is no longer configured",
        )
    })?;
    let (role_arn, external_id) = match (&attachment.role_arn, &attachment.external_id) {
        (Some(role), Some(id)) => (role.clone(), id.clone()),
        _ => match &account.fields.role_arn {
            Some(role) => (role.clone(), account.external_id.clone()),
            None => {
                return Err(refused(
                    ScanErrorCode::RoleMissing,
                    "the account has no role; set role_arn and verify it",
                ))
            }
        },
    };
    Ok(Ready {
        account,
        attachment,
        source,
        role_arn,
        external_id,
    })
}

/// The findings of a report to keep: those the account's ignore lists do
/// not exclude, scored within the data source's maximum. Counts go on `done`.
fn kept_findings(
    done: &mut Scan,
    ready: &Ready<'_>,
    report: iam::Report,
    started: Timestamp,
) -> Result<Vec<Finding>, Outcome> {
    done.counts.resources = report.resources;
    done.counts.findings = report.observations.len() as u32;
    let findings = findings_of(done, ready, report.observations, "global", started)?;
    done.counts.ignored = done.counts.findings - findings.len() as u32;
    Ok(findings)
}

/// Observations of `scan` in `region` as findings, less what the
/// account's ignore lists exclude; scores capped at the source's maximum.
fn findings_of(
    scan: &Scan,
    ready: &Ready<'_>,
    observations: Vec<service::scans::Observation>,
    region: &str,
    seen_at: Timestamp,
) -> Result<Vec<Finding>, Outcome> {
    let fields = &ready.account.fields;
    let ignore = IgnoreLists::new(
        &fields.resource_type_ignore_list,
        &fields.resource_regex_ignore_list,
    )
    .map_err(|err| refused(ScanErrorCode::InvalidIgnoreList, &err.to_string()))?;
    Ok(observations
        .into_iter()
        .filter(|seen| !ignore.ignores(seen.resource_type, &seen.resource_id))
        .map(|seen| Finding {
            finding_id: Finding::id_of(seen.rule, &seen.resource_id),
            account_id: scan.account_id.clone(),
            data_source: scan.data_source.clone(),
            rule: seen.rule.to_string(),
            title: seen.title,
            resource_type: seen.resource_type.to_string(),
            resource_id: seen.resource_id,
            region: region.to_string(),
            severity: Severity::of_score(seen.score),
            score: seen.score.min(ready.source.max_score),
            details: seen.details,
            first_seen_at: seen_at,
            last_seen_at: seen_at,
            scan_id: scan.scan_id.clone(),
            status: Default::default(),
            suppression: None,
            resolved_at: None,
            triage_revision: 0,
        })
        .collect())
}

/// Run `handle` on each message of a batch and report the messages it
/// failed as batch item failures. Messages of one scan run in turn, in
/// the order received (so a duplicate in the same batch finds the scan
/// finished instead of busy); different scans run [`JOBS_AT_ONCE`] at once.
pub async fn handle_by_scan<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage, ParsedJob) -> Fut,
    Fut: std::future::Future<Output = Result<(), Retry>>,
{
    let mut by_scan: BTreeMap<String, Vec<(SqsMessage, ParsedJob)>> = BTreeMap::new();
    for message in event.records {
        let job = serde_json::from_str::<ScanJob>(message.body.as_deref().unwrap_or(""))
            .map_err(|err| err.to_string());
        let key = match &job {
            Ok(job) => job.scan_id.clone(),
            Err(_) => message.message_id.clone().unwrap_or_default(),
        };
        by_scan.entry(key).or_default().push((message, job));
    }
    let handle = &handle;
    let failed: Vec<String> = futures::stream::iter(by_scan.into_values())
        .map(|messages| async move {
            let mut failed = Vec::new();
            for (message, job) in messages {
                let id = message.message_id.clone().unwrap_or_default();
                if handle(message, job).await.is_err() {
                    failed.push(id);
                }
            }
            failed
        })
        .buffer_unordered(JOBS_AT_ONCE)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// A scanner's failed call as the attempt's outcome.
fn scanner_outcome(failure: iam::ScanFailure) -> Outcome {
    let error = ScanError {
        code: failure.code,
        message: failure.message,
        at: Timestamp::now(),
    };
    if failure.retryable {
        Outcome::Transient(error)
    } else {
        Outcome::Refused(error)
    }
}

/// How an attempt ended, when it did not succeed.
#[derive(Debug)]
enum Outcome {
    /// Another attempt would fail the same way: the scan fails now.
    Refused(ScanError),
    /// Another attempt may succeed: SQS delivers the job again.
    Transient(ScanError),
}

fn refused(code: ScanErrorCode, message: &str) -> Outcome {
    Outcome::Refused(ScanError {
        code,
        message: message.to_string(),
        at: Timestamp::now(),
    })
}

fn transient(code: ScanErrorCode, message: &str) -> Outcome {
    Outcome::Transient(ScanError {
        code,
        message: message.to_string(),
        at: Timestamp::now(),
    })
}

/// IAM is global; its endpoint sits in the partition's first region.
fn iam_region(role_arn: &str) -> &'static str {
    service::partitions::home_region(role_arn.split(':').nth(1).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_region_per_partition() {
        assert_eq!(iam_region("arn:aws:iam::1:role/a"), "us-east-1");
        assert_eq!(iam_region("arn:aws-cn:iam::1:role/a"), "cn-north-1");
        assert_eq!(iam_region("arn:aws-us-gov:iam::1:role/a"), "us-gov-west-1");
    }

    fn event(messages: &[(&str, &str)]) -> SqsEvent {
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|(id, body)| {
                serde_json::json!({
                    "messageId": id, "receiptHandle": "r", "body": body,
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:scans",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn job(scan_id: &str) -> String {
        serde_json::json!({
            "tenant": "t", "account_id": "000000000001",
            "data_source": "aws:iam", "scan_id": scan_id,
        })
        .to_string()
    }

    /// The batch lifter alone, on an SQS event as Lambda delivers it: the
    /// failures are exactly the messages the handler failed, and messages
    /// of one scan reach it in the order received.
    #[tokio::test]
    async fn batch_failures_are_the_failed_messages() {
        let (a, b) = (
            job("01JA0000000000000000000000"),
            job("01JB0000000000000000000000"),
        );
        let event = event(&[
            ("m1", &a),
            ("m2", "not json"),
            ("m3", &b),
            ("m4", &a),
            ("m5", &b),
        ]);
        let seen = std::sync::Mutex::new(Vec::new());
        let response = handle_by_scan(event, |message, job| {
            let seen = &seen;
            async move {
                let id = message.message_id.unwrap();
                seen.lock().unwrap().push(id.clone());
                match job {
                    Err(err) => Err(Retry::Malformed(err)),
                    Ok(job) if id == "m5" => Err(Retry::Failed(job.scan_id)),
                    Ok(_) => Ok(()),
                }
            }
        })
        .await;
        let mut failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        failed.sort();
        assert_eq!(failed, ["m2", "m5"]);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 5);
        let position = |id: &str| seen.iter().position(|s| s == id).unwrap();
        assert!(position("m1") < position("m4"), "{seen:?}");
        assert!(position("m3") < position("m5"), "{seen:?}");
    }

    fn account(archived: bool, role: Option<&str>) -> Account {
        let mut account = Account::register(
            "000000000001".into(),
            service::account::AccountFields {
                name: "a".into(),
                role_arn: role.map(str::to_string),
                ..Default::default()
            },
            "key",
            Timestamp::now(),
        );
        if archived {
            account.archived_at = Some(Timestamp::now());
        }
        account
    }

    fn attachment(role: Option<(&str, &str)>) -> Attachment {
        let mut attachment: Attachment = serde_json::from_value(serde_json::json!({
            "account_id": "000000000001", "data_source": "aws:iam", "status": "CONFIGURED",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "created_by": "key", "updated_by": "key",
        }))
        .unwrap();
        if let Some((arn, id)) = role {
            attachment.role_arn = Some(arn.into());
            attachment.external_id = Some(id.into());
        }
        attachment
    }

    fn code(result: Result<Ready<'_>, Outcome>) -> String {
        match result {
            Err(Outcome::Refused(error)) => error.code.as_str().to_string(),
            Err(Outcome::Transient(error)) => format!("transient {}", error.code.as_str()),
            Ok(ready) => format!("ready {} {}", ready.role_arn, ready.external_id),
        }
    }

    #[test]
    fn a_scan_runs_only_when_every_precondition_holds() {
        let catalogue = Catalogue::default();
        let role = "arn:aws:iam::000000000001:role/r";
        let check =
            |account, attachment| code(preconditions(&catalogue, account, attachment, "aws:iam"));
        assert_eq!(check(None, Some(attachment(None))), "ACCOUNT_DELETED");
        assert_eq!(
            check(Some(account(true, Some(role))), Some(attachment(None))),
            "ACCOUNT_ARCHIVED"
        );
        assert_eq!(check(Some(account(false, Some(role))), None), "DETACHED");
        assert_eq!(
            check(Some(account(false, None)), Some(attachment(None))),
            "ROLE_MISSING"
        );
        assert_eq!(
            code(preconditions(
                &catalogue,
                Some(account(false, Some(role))),
                Some(attachment(None)),
                "aws:gone"
            )),
            "UNKNOWN_DATA_SOURCE"
        );
        let with_account_role = check(Some(account(false, Some(role))), Some(attachment(None)));
        assert!(
            with_account_role.starts_with(&format!("ready {role} ")),
            "{with_account_role}"
        );
        // The attachment's own role wins over the account's.
        assert_eq!(
            check(
                Some(account(false, Some(role))),
                Some(attachment(Some((
                    "arn:aws:iam::000000000001:role/own",
                    "own-id"
                ))))
            ),
            "ready arn:aws:iam::000000000001:role/own own-id"
        );
    }
}
