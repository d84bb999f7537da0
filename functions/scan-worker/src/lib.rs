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
pub mod pump;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use shared::account::Account;
use shared::scans::{
    Attachment, Catalogue, ExternalScanJob, Finding, IgnoreLists, InventorySync, Scan, ScanError,
    ScanJob, ScanStatus, Severity, SyncStatus,
};
use shared::store::{Claim, Store};
use shared::time::Timestamp;
use shared::verification::{RoleVerifier, VerificationCode};
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
}

impl WorkerSettings {
    /// `MAX_RECEIVE_COUNT` and `SCAN_LEASE_SECONDS`.
    pub fn from_config(config: &shared::config::Config) -> Self {
        WorkerSettings {
            max_receive_count: config.max_receive_count,
            lease: Duration::from_secs(config.scan_lease_seconds),
        }
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
type ParsedJob = Result<ScanJob, String>;

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
    pub fn new(services: &shared::config::Services) -> Self {
        Worker {
            store: services.store.clone(),
            verifier: services.verifier.clone(),
            sdk_config: services.sdk.clone(),
            catalogue: services.catalogue.clone(),
            sqs: services.sqs.clone(),
            settings: WorkerSettings::from_config(&services.config),
        }
    }

    /// Handle one batch; the failures are the messages SQS should deliver again.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        // Messages of one scan run in turn, so a duplicate in the same
        // batch finds the scan finished instead of busy.
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
        let failed: Vec<String> = futures::stream::iter(by_scan.into_values())
            .map(|messages| async move {
                let mut failed = Vec::new();
                for (message, job) in messages {
                    if self.handle_message(&message, job).await.is_err() {
                        failed.push(message.message_id.unwrap_or_default());
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

    async fn handle_message(&self, message: &SqsMessage, job: ParsedJob) -> Result<(), Retry> {
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
            receive_count,
        );
        let result =
            tracing::Instrument::instrument(self.run(&job, receive_count), span.clone()).await;
        span.in_scope(|| match &result {
            Ok(()) => tracing::info!("scan job done"),
            Err(retry) => tracing::warn!(reason = ?retry, "scan job will be delivered again"),
        });
        result
    }

    /// Run one job, on its `receive_count`th delivery.
    pub async fn run(&self, job: &ScanJob, receive_count: u32) -> Result<(), Retry> {
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
            .map_err(|err| Retry::Failed(err.to_string()))?;
        let Some(scan) = context.scan else {
            // The account (and with it its scans) was deleted.
            tracing::info!(scan_id = %job.scan_id, "scan no longer exists; job dropped");
            return Ok(());
        };
        if scan.is_finished() {
            return Ok(());
        }
        let now = Timestamp::now();
        let lease_until = Timestamp::from_datetime(
            now.datetime()
                + chrono::Duration::from_std(self.settings.lease)
                    .unwrap_or(chrono::Duration::minutes(16)),
        );
        let scan = match self
            .store
            .claim_scan(tenant, &job.account_id, &job.scan_id, now, lease_until)
            .await
            .map_err(|err| Retry::Failed(err.to_string()))?
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
                        .map_err(|err| Retry::Failed(err.to_string()))?;
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
        let status = if error.code == "TIMEOUT" {
            SyncStatus::TimedOut
        } else {
            SyncStatus::Fail
        };
        let regions = region_results(scan, status, &error.message, &error.code, error.at);
        self.store
            .fail_attempt(tenant, scan, error, true, dead_lettered)
            .await
            .and(
                self.store
                    .set_region_sync(tenant, &scan.account_id, &regions)
                    .await,
            )
            .map_err(|err| Retry::Failed(err.to_string()))
    }

    async fn execute(
        &self,
        tenant: &str,
        scan: &Scan,
        account: Option<Account>,
        attachment: Option<Attachment>,
    ) -> Result<(), Outcome> {
        let account =
            account.ok_or_else(|| refused("ACCOUNT_DELETED", "the account was deleted"))?;
        if account.archived_at.is_some() {
            return Err(refused(
                "ACCOUNT_ARCHIVED",
                "the account is archived; unarchive it and scan again",
            ));
        }
        let attachment = attachment.ok_or_else(|| {
            refused(
                "DETACHED",
                "the data source was detached before the scan ran",
            )
        })?;
        let source = self.catalogue.get(&scan.data_source).ok_or_else(|| {
            refused(
                "UNKNOWN_DATA_SOURCE",
                "this data source is no longer configured",
            )
        })?;
        let (role_arn, external_id) = match (&attachment.role_arn, &attachment.external_id) {
            (Some(role), Some(id)) => (role.clone(), id.clone()),
            _ => match &account.fields.role_arn {
                Some(role) => (role.clone(), account.external_id.clone()),
                None => {
                    return Err(refused(
                        "ROLE_MISSING",
                        "the account has no role; set role_arn and verify it",
                    ))
                }
            },
        };
        self.mark_regions(tenant, scan, SyncStatus::InProgress, "scan running")
            .await?;

        if let Some(url) = &source.queue_url {
            let forwarded = ExternalScanJob {
                tenant: tenant.to_string(),
                account_id: scan.account_id.clone(),
                scan_id: scan.scan_id.clone(),
                data_source: scan.data_source.clone(),
                role_arn,
                external_id,
                regions: scan.regions.clone(),
                scan_only: scan.scan_only,
                config: attachment.config.clone(),
                specific_version: attachment.specific_version.clone(),
            };
            let body = serde_json::to_string(&forwarded)
                .map_err(|err| transient("INTERNAL", &err.to_string()))?;
            shared::jobs::send(&self.sqs, url, body)
                .await
                .map_err(|err| transient("QUEUE_UNAVAILABLE", &err.to_string()))?;
            let mut done = scan.clone();
            done.status = ScanStatus::Forwarded;
            done.finished_at = Some(Timestamp::now());
            let regions = region_results(
                scan,
                SyncStatus::InProgress,
                "handed to the external scanner",
                status_code(SyncStatus::InProgress),
                Timestamp::now(),
            );
            return self
                .store
                .finish_scan(tenant, &done, &regions)
                .await
                .map_err(|err| transient("STORE", &err.to_string()));
        }

        let credentials = self
            .verifier
            .assume_for_scan(&role_arn, &external_id, &scan.scan_id)
            .await
            .map_err(|outcome| {
                let error = ScanError {
                    code: outcome.code.as_str().to_string(),
                    message: outcome.message,
                    at: Timestamp::now(),
                };
                match outcome.code {
                    VerificationCode::Throttled
                    | VerificationCode::Timeout
                    | VerificationCode::Internal => Outcome::Transient(error),
                    _ => Outcome::Refused(error),
                }
            })?;
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.sdk_config)
                .credentials_provider(credentials)
                .region(aws_sdk_iam::config::Region::new(iam_region(&role_arn)))
                .build(),
        );
        let started = Timestamp::now();
        let report = iam::scan(&iam, started).await.map_err(|failure| {
            let error = ScanError {
                code: failure.code.to_string(),
                message: failure.message,
                at: Timestamp::now(),
            };
            if failure.retryable {
                Outcome::Transient(error)
            } else {
                Outcome::Refused(error)
            }
        })?;

        let ignore = IgnoreLists::new(
            &account.fields.resource_type_ignore_list,
            &account.fields.resource_regex_ignore_list,
        )
        .map_err(|err| refused("INVALID_IGNORE_LIST", &err.to_string()))?;
        let mut done = scan.clone();
        done.counts.resources = report.resources;
        done.counts.findings = report.observations.len() as u32;
        let findings: Vec<Finding> = report
            .observations
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
                region: "global".to_string(),
                severity: Severity::of_score(seen.score),
                score: seen.score.min(source.max_score),
                details: seen.details,
                first_seen_at: started,
                last_seen_at: started,
                scan_id: scan.scan_id.clone(),
            })
            .collect();
        done.counts.ignored = done.counts.findings - findings.len() as u32;
        if !scan.scan_only {
            let (stored, resolved) = self
                .store
                .replace_findings(tenant, &scan.account_id, &scan.data_source, findings)
                .await
                .map_err(|err| transient("STORE", &err.to_string()))?;
            done.counts.stored = stored;
            done.counts.resolved = resolved;
        }
        done.status = ScanStatus::Succeeded;
        done.finished_at = Some(Timestamp::now());
        // IAM is global: one scan covers each region of the scan.
        let regions = region_results(
            &done,
            SyncStatus::Success,
            "IAM inventory synced (IAM is global)",
            status_code(SyncStatus::Success),
            Timestamp::now(),
        );
        self.store
            .finish_scan(tenant, &done, &regions)
            .await
            .map_err(|err| transient("STORE", &err.to_string()))
    }

    async fn mark_regions(
        &self,
        tenant: &str,
        scan: &Scan,
        status: SyncStatus,
        message: &str,
    ) -> Result<(), Outcome> {
        let regions = region_results(scan, status, message, status_code(status), Timestamp::now());
        self.store
            .set_region_sync(tenant, &scan.account_id, &regions)
            .await
            .map_err(|err| transient("STORE", &err.to_string()))
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

fn refused(code: &str, message: &str) -> Outcome {
    Outcome::Refused(ScanError {
        code: code.to_string(),
        message: message.to_string(),
        at: Timestamp::now(),
    })
}

fn transient(code: &str, message: &str) -> Outcome {
    Outcome::Transient(ScanError {
        code: code.to_string(),
        message: message.to_string(),
        at: Timestamp::now(),
    })
}

/// Each region of `scan` with this inventory sync, as of `at`.
fn region_results(
    scan: &Scan,
    status: SyncStatus,
    message: &str,
    code: &str,
    at: Timestamp,
) -> Vec<(String, InventorySync)> {
    let sync = InventorySync {
        status,
        message: Some(message.to_string()),
        code: Some(code.to_string()),
        synced_by: Some(format!("scan:{}", scan.scan_id)),
        last_sync_time: Some(at),
    };
    scan.regions
        .iter()
        .map(|region| (region.clone(), sync.clone()))
        .collect()
}

fn status_code(status: SyncStatus) -> &'static str {
    match status {
        SyncStatus::NotStarted => "NOT_STARTED",
        SyncStatus::InProgress => "IN_PROGRESS",
        SyncStatus::Success => "OK",
        SyncStatus::Fail => "FAIL",
        SyncStatus::TimedOut => "TIMED_OUT",
    }
}

/// IAM is global; its endpoint sits in the partition's first region.
fn iam_region(role_arn: &str) -> &'static str {
    match role_arn.split(':').nth(1) {
        Some("aws-us-gov") => "us-gov-west-1",
        Some("aws-cn") => "cn-north-1",
        _ => "us-east-1",
    }
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
}
