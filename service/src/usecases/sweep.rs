//! The scheduled sweep (the verifier's use case): re-verify the
//! credentials that are due.
//!
//! Due accounts come from the sparse `due-index` (one Query per shard page,
//! never a Scan), flow through one stream with bounded concurrency, and each
//! result is written with a conditional update. STS calls share a token
//! bucket (`STS_RATE_LIMIT`). The sweep starts no new account after its
//! deadline; what is left stays due and the next run continues.
//!
//! The same schedule queues the organizations whose sync is due (their
//! own shard of the due index) for the organization sync function, runs
//! the scan schedules that are due, and times out overdue external scans.

use crate::aws::schema::{DUE_SHARD, DUE_SHARDS};
use crate::aws::store::{DueAccount, Store};
use crate::aws::verification::{RoleVerifier, VerificationSettings};
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::trust::VerificationCode;
use crate::usecases::verification::{check, record, Checked, Trigger};
use futures::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

const PAGE_SIZE: i32 = 100;

/// What one sweep did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Accounts verified (whatever the outcome).
    pub verified: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Throttled by STS: rescheduled, not marked failed.
    pub rescheduled: usize,
    /// Changed meanwhile, or the write failed: left for the next sweep.
    pub skipped: usize,
    /// The deadline came before every due account was started.
    pub deadline_reached: bool,
    /// Organizations whose scheduled sync was queued.
    pub organization_syncs_queued: usize,
    /// Scans handed to external scanners and not completed by their deadline.
    pub scans_timed_out: usize,
    /// Scheduled scans queued, and scheduled runs skipped (each says why).
    pub scheduled_scans_queued: usize,
    pub scheduled_runs_skipped: usize,
}

/// Organizations queued per run at most (the rest stay due).
const ORGANIZATION_SYNCS_PER_RUN: usize = 1000;

#[derive(Clone)]
pub struct Sweeper {
    pub store: Store,
    pub verifier: RoleVerifier,
    pub settings: Arc<VerificationSettings>,
    /// Where due organization syncs go; without it none is scheduled.
    pub organization_sync_queue: Option<crate::aws::jobs::JobQueue>,
    /// The data sources, whose permissions each verification checks.
    pub catalogue: Arc<crate::scans::Catalogue>,
    /// Where scheduled scans go; without it no schedule runs.
    pub scan_queue: Option<crate::aws::jobs::JobQueue>,
}

impl Sweeper {
    /// Built from the composition root.
    pub fn new(services: &crate::runtime::config::Services) -> Self {
        Sweeper {
            store: services.store.clone(),
            verifier: services.verifier.clone(),
            settings: services.verification.clone(),
            organization_sync_queue: services.organization_sync_queue.clone(),
            catalogue: services.catalogue.clone(),
            scan_queue: services.scan_queue.clone(),
        }
    }

    /// Queue every organization whose sync is due; a failure is logged and
    /// left for the next run (the organizations stay due).
    pub async fn queue_organization_syncs(&self, now: Timestamp) -> usize {
        let Some(queue) = &self.organization_sync_queue else {
            return 0;
        };
        match crate::usecases::organizations::queue_due_syncs(
            &self.store,
            queue,
            now,
            ORGANIZATION_SYNCS_PER_RUN,
        )
        .await
        {
            Ok(queued) => queued,
            Err(err) => {
                tracing::error!(error = %err, "queueing due organization syncs failed; they stay due");
                0
            }
        }
    }

    /// Run the scan schedules due at `now`; a failure is logged and left
    /// for the next run (the schedules stay due).
    pub async fn run_schedules(&self, now: Timestamp) -> crate::usecases::scans::ScheduleReport {
        let Some(queue) = &self.scan_queue else {
            return Default::default();
        };
        let scanning = crate::usecases::scans::Scanning {
            store: &self.store,
            catalogue: &self.catalogue,
            settings: &self.settings,
            verifier: &self.verifier,
            queue: Some(queue),
        };
        match scanning.run_due_schedules(now).await {
            Ok(report) => report,
            Err(err) => {
                tracing::error!(error = %err, "running due scan schedules failed; they stay due");
                Default::default()
            }
        }
    }

    /// Time out the external scans past their deadline; a failure is
    /// logged and left for the next run (the scans stay due).
    pub async fn time_out_scans(&self, now: Timestamp) -> usize {
        let scans = crate::usecases::external_scans::ExternalScans {
            store: &self.store,
            catalogue: &self.catalogue,
        };
        match scans.time_out_overdue(now).await {
            Ok(count) => count,
            Err(err) => {
                tracing::error!(error = %err, "timing out overdue scans failed; they stay due");
                0
            }
        }
    }

    /// Verify every account due at `now`, starting none after `deadline`.
    pub async fn sweep(&self, now: Timestamp, deadline: Instant) -> SweepReport {
        let policies = Policies::default();
        let deadline_hit = std::sync::atomic::AtomicBool::new(false);
        let outcomes = self
            .due(now)
            .take_while(|_| {
                let in_time = Instant::now() < deadline;
                if !in_time {
                    deadline_hit.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                futures::future::ready(in_time)
            })
            // Two stages: STS checks hold `concurrency` slots; recording runs
            // in its own stage, so a slow write never holds an STS slot.
            .map(|(due, required)| {
                let this = self.clone();
                async move {
                    let checked = check(
                        &this.verifier,
                        &due.tenant,
                        &due.account,
                        &required,
                        Trigger::Schedule,
                    )
                    .await;
                    (due, checked)
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .map(|(due, checked)| {
                let this = self.clone();
                let policies = policies.clone();
                async move { this.record_one(&policies, due, checked).await }
            })
            .buffer_unordered(self.settings.concurrency);
        let mut report = outcomes
            .fold(SweepReport::default(), |mut report, outcome| async move {
                report.count(outcome);
                report
            })
            .await;
        report.deadline_reached = deadline_hit.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!(?report, "verification sweep finished");
        report
    }

    /// The accounts due at `now` with what their data sources need: the
    /// pages of every shard, one after another, fetched as the checks need
    /// them (no barrier at the end of a page). A shard whose query fails
    /// is skipped; its accounts stay due.
    fn due(&self, now: Timestamp) -> futures::stream::BoxStream<'static, (DueAccount, Required)> {
        let this = self.clone();
        futures::stream::unfold((0u32, None, false), move |(shard, start, shard_done)| {
            let this = this.clone();
            async move {
                let (mut shard, mut start) = (shard, start);
                if shard_done {
                    shard += 1;
                    start = None;
                }
                if shard >= DUE_SHARDS {
                    return None;
                }
                match this.store.due_accounts(shard, now, PAGE_SIZE, start).await {
                    Ok(page) => {
                        let done = page.next.is_none();
                        let accounts = this.with_required(page.accounts).await;
                        Some((accounts, (shard, page.next, done)))
                    }
                    Err(err) => {
                        tracing::error!(error = %err, shard, index = DUE_SHARD, "due query failed; skipping the shard");
                        Some((Vec::new(), (shard, None, true)))
                    }
                }
            }
        })
        .flat_map(futures::stream::iter)
        .boxed()
    }

    /// Each due account with what its attached data sources need of its
    /// role: one BatchGetItem per page for the attachments of every
    /// source that declares actions (none when roles are not inspected).
    async fn with_required(&self, accounts: Vec<DueAccount>) -> Vec<(DueAccount, Required)> {
        let sources: Vec<&str> = self
            .catalogue
            .all()
            .iter()
            .filter(|source| !source.actions.is_empty())
            .map(|source| source.name.as_str())
            .collect();
        let wanted: Vec<(String, String, String)> = accounts
            .iter()
            .filter(|due| self.settings.inspect_role && due.account.fields.role_arn.is_some())
            .flat_map(|due| {
                sources.iter().map(|source| {
                    (
                        due.tenant.clone(),
                        due.account.account_id.clone(),
                        source.to_string(),
                    )
                })
            })
            .collect();
        let attachments = if wanted.is_empty() {
            Vec::new()
        } else {
            self.store
                .batch_get_attachments(&wanted)
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "attachments not read; permissions not checked this page");
                    Vec::new()
                })
        };
        accounts
            .into_iter()
            .map(|due| {
                let own: Vec<crate::scans::Attachment> = attachments
                    .iter()
                    .filter(|(tenant, a)| {
                        *tenant == due.tenant && a.account_id == due.account.account_id
                    })
                    .map(|(_, a)| a.clone())
                    .collect();
                let required = crate::aws::verification::required_actions(&self.catalogue, &own);
                (due, required)
            })
            .collect()
    }

    /// The tenant's rotation policy, read once per sweep and tenant (a
    /// failed read is logged; that tenant's accounts get no policy this run).
    async fn policy(&self, policies: &Policies, tenant: &str) -> TenantSettings {
        let mut cache = policies.lock().await;
        if let Some(policy) = cache.get(tenant) {
            return policy.clone();
        }
        let policy = self
            .store
            .tenant_settings(tenant)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(%tenant, error = %err, "tenant settings not read; no rotation policy this run");
                TenantSettings::default()
            });
        cache.insert(tenant.to_string(), policy.clone());
        policy
    }

    async fn record_one(&self, policies: &Policies, due: DueAccount, checked: Checked) -> Outcome {
        let policy = self.policy(policies, &due.tenant).await;
        let result = record(
            &self.store,
            &self.settings,
            &policy,
            &due.tenant,
            &due.account,
            &checked,
            Trigger::Schedule,
        )
        .await;
        match result {
            Ok(account) if account.version == due.account.version => Outcome::Rescheduled,
            Ok(account) => Outcome::Verified(
                account.credential.verification_code == Some(VerificationCode::Ok),
            ),
            Err(err) => {
                tracing::warn!(tenant = %due.tenant, account_id = %due.account.account_id, error = %err, "verification not recorded");
                Outcome::Skipped
            }
        }
    }

    /// One scheduled run with `remaining` time: queue the due organization
    /// syncs, time out overdue scans, run the due scan schedules, then
    /// sweep until `remaining` minus a safety margin.
    pub async fn run_scheduled(&self, remaining: std::time::Duration) -> SweepReport {
        // Leave room for the slowest verification in flight to finish (once,
        // not twice over: a 30 s interval with 5 s calls left none, so
        // `make dev` never verified anything).
        let budget = match self.settings.sweep_budget(remaining) {
            Some(budget) => budget,
            None => {
                tracing::error!(
                    remaining_ms = remaining.as_millis() as u64,
                    longest_verification_ms = self.settings.longest_verification().as_millis() as u64,
                    "a sweep this short cannot verify one account: lower VERIFY_CALL_TIMEOUT_MS or VERIFY_MAX_ATTEMPTS, or give the verifier more time"
                );
                std::time::Duration::ZERO
            }
        };
        let now = Timestamp::now();
        let (organization_syncs_queued, scans_timed_out, schedules) = futures::join!(
            self.queue_organization_syncs(now),
            self.time_out_scans(now),
            self.run_schedules(now)
        );
        // Boxed: the stream's future type is deep enough to trip the
        // compiler's layout recursion limit when inlined into a caller.
        let report = Box::pin(self.sweep(now, Instant::now() + budget)).await;
        SweepReport {
            organization_syncs_queued,
            scans_timed_out,
            scheduled_scans_queued: schedules.queued,
            scheduled_runs_skipped: schedules.skipped,
            ..report
        }
    }
}

/// What an account's data sources need of its role: (source, actions).
type Required = Vec<(String, Vec<String>)>;

/// Tenants' settings read during one sweep.
type Policies = Arc<tokio::sync::Mutex<std::collections::HashMap<String, TenantSettings>>>;

/// How one due account's verification ended.
enum Outcome {
    /// Recorded; true when the role was proven.
    Verified(bool),
    Rescheduled,
    Skipped,
}

impl SweepReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Verified(proven) => {
                self.verified += 1;
                if proven {
                    self.succeeded += 1;
                } else {
                    self.failed += 1;
                }
            }
            Outcome::Rescheduled => self.rescheduled += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_counts_each_outcome_once() {
        let mut report = SweepReport::default();
        for outcome in [
            Outcome::Verified(true),
            Outcome::Verified(false),
            Outcome::Verified(true),
            Outcome::Rescheduled,
            Outcome::Skipped,
        ] {
            report.count(outcome);
        }
        assert_eq!(
            (report.verified, report.succeeded, report.failed),
            (3, 2, 1)
        );
        assert_eq!((report.rescheduled, report.skipped), (1, 1));
        assert!(!report.deadline_reached);
    }
}
