//! Attach a data source, queue a scan, and SYNC_INVENTORY across accounts.

use crate::account::{Account, VerificationStatus};
use crate::aws::jobs::JobQueue;
use crate::aws::store::Store;
use crate::aws::verification::VerificationSettings;
use crate::ids::{AccountId, DataSourceName};
use crate::scans::{scan_regions, AttachRequest, Attachment, Catalogue, Scan};
use crate::schedule::RunOutcome;
use crate::time::Timestamp;
use crate::{Error, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;

/// Accounts one account action may name.
pub const MAX_ACTION_ACCOUNTS: usize = 100;
/// Scans queued at once by an account action.
const QUEUE_CONCURRENCY: usize = 16;

/// The parts scanning needs, borrowed from the composition root.
#[derive(Clone, Copy)]
pub struct Scanning<'a> {
    pub store: &'a Store,
    pub catalogue: &'a Catalogue,
    pub settings: &'a VerificationSettings,
    /// Checks a new role of an attachment before it replaces a working one.
    pub verifier: &'a crate::aws::verification::RoleVerifier,
    /// `None` when the deployment has no scan queue: scans are refused.
    pub queue: Option<&'a JobQueue>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Run the scan but store no findings.
    #[serde(default)]
    pub scan_only: bool,
    /// A subset of the account's regions; default: all of them but the
    /// region_ignore_list.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
}

/// An attachment written by [`Scanning::attach`], and whether it is new.
pub struct Attached {
    pub attachment: Attachment,
    pub created: bool,
}

/// Why an account cannot be scanned now (its action code and a message
/// that says what to do), or `None`.
pub fn scan_refusal(account: &Account) -> Option<(ActionCode, String)> {
    if account.archived_at.is_some() {
        return Some((
            ActionCode::Archived,
            format!(
                "account {} is archived; unarchive it to scan it",
                account.account_id
            ),
        ));
    }
    if let Some(departure) = &account.departed {
        return Some((
            ActionCode::Departed,
            format!(
                "account {} has departed from its organization ({}); it is not scanned until the organization's sync finds it active again",
                account.account_id,
                <&'static str>::from(departure.reason)
            ),
        ));
    }
    let credential = &account.credential;
    if credential.verification_status != VerificationStatus::Success {
        return Some((
            ActionCode::CredentialNotVerified,
            format!(
                "Role validation failed: the credential of account {} is {}{}; fix the role and verify it (POST /v1/accounts/{}/verify) before scanning",
                account.account_id,
                credential.verification_status.as_str(),
                credential
                    .verification_code
                    .map(|code| format!(" ({})", code.as_str()))
                    .unwrap_or_default(),
                account.account_id
            ),
        ));
    }
    None
}

impl Scanning<'_> {
    /// The attachment of an offered data source, if attached.
    pub async fn attachment(
        &self,
        tenant: &str,
        account_id: &AccountId,
        data_source: &DataSourceName,
    ) -> Result<Attachment> {
        self.catalogue.require(data_source)?;
        let (_, attachment) = self
            .store
            .account_and_attachment(tenant, account_id, data_source)
            .await?;
        attachment.ok_or_else(|| not_attached(account_id, data_source))
    }

    /// Attach an offered data source to an account, or update it.
    pub async fn attach(
        &self,
        tenant: &str,
        account_id: &AccountId,
        data_source: &DataSourceName,
        request: AttachRequest,
        requested_by: &str,
    ) -> Result<Attached> {
        self.catalogue.require(data_source)?;
        request.validate(account_id)?;
        self.settings.check_role_name(request.role_arn.as_deref())?;
        let (account, existing) = self
            .store
            .account_and_attachment(tenant, account_id, data_source)
            .await?;
        if let Some(inactive) = account.inactive() {
            return Err(inactive);
        }
        let account_role = account.fields.role_arn.as_deref();
        let own_role = request
            .role_arn
            .clone()
            .filter(|arn| Some(arn.as_str()) != account_role);
        // A working role of its own is replaced only by one that verifies.
        let working = existing.as_ref().filter(|old| {
            old.role_arn.is_some() && old.status == crate::scans::AttachmentStatus::Ok
        });
        let attachment = match (working, own_role) {
            (Some(old), Some(next)) if old.role_arn.as_ref() != Some(&next) => {
                self.change_working_role(tenant, old, request, next, requested_by)
                    .await?
            }
            _ => request.apply(
                account_id,
                account_role,
                data_source,
                existing.as_ref(),
                requested_by,
                Timestamp::now(),
            ),
        };
        self.store
            .put_attachment(tenant, &attachment, existing.as_ref())
            .await?;
        Ok(Attached {
            attachment,
            created: existing.is_none(),
        })
    }

    /// Check `next` (with every check, and the attachment's external ID,
    /// which the customer already has) and switch to it if it verifies;
    /// else keep the working role, with `next` pending and its result.
    async fn change_working_role(
        &self,
        tenant: &str,
        old: &Attachment,
        mut request: AttachRequest,
        next: String,
        requested_by: &str,
    ) -> Result<Attachment> {
        let now = Timestamp::now();
        let external_id = old.external_id.clone().unwrap_or_default();
        let required: Vec<(String, Vec<String>)> = self
            .catalogue
            .get(&old.data_source)
            .and_then(crate::scans::DataSource::requirement)
            .into_iter()
            .collect();
        let target = crate::aws::verification::Target {
            tenant,
            account_id: &old.account_id,
            role_arn: &next,
            external_id: &external_id,
            required: &required,
        };
        let verified = self
            .verifier
            .verify(&target, crate::aws::verification::Probes::Always)
            .await;
        let ledger = crate::access::Ledger {
            sessions: verified
                .sessions
                .iter()
                .map(|session| (tenant.to_string(), old.account_id.clone(), session.clone()))
                .collect(),
            ..Default::default()
        };
        self.store
            .put_ledger(&ledger, self.settings.access_log_days)
            .await?;
        let switch = verified.outcome.is_ok();
        if !switch {
            request.role_arn = old.role_arn.clone();
        }
        let mut attachment = request.apply(
            &old.account_id,
            None,
            &old.data_source,
            Some(old),
            requested_by,
            now,
        );
        // The customer's role trusts this attachment's ID: it stays.
        attachment.external_id = old.external_id.clone();
        if !switch {
            attachment.pending_role_credential = Some(verified.credential(Some(&next), now));
            attachment.pending_role_arn = Some(next);
        }
        Ok(attachment)
    }

    /// Queue a scan of one attached data source.
    pub async fn start(
        &self,
        tenant: &str,
        account_id: &AccountId,
        data_source: &DataSourceName,
        request: ScanRequest,
        requested_by: &str,
    ) -> Result<Scan> {
        self.catalogue.require(data_source)?;
        let (account, attachment) = self
            .store
            .account_and_attachment(tenant, account_id, data_source)
            .await?;
        if attachment.is_none() {
            return Err(not_attached(account_id, data_source));
        }
        let regions = scan_regions(
            &account.fields.regions,
            &account.fields.region_ignore_list,
            request.regions.as_deref(),
            "regions",
        )?;
        if let Some((code, message)) = scan_refusal(&account) {
            return Err(Error::Refused {
                code: code.into(),
                message,
            });
        }
        let uses_account_role = attachment.as_ref().is_some_and(|a| a.role_arn.is_none());
        if let Some(lacking) = account
            .credential
            .missing_permissions
            .get(data_source.as_str())
            .filter(|_| uses_account_role)
        {
            return Err(Error::Refused {
                code: "missing_permissions",
                message: format!(
                    "the role of account {account_id} lacks what {data_source} needs: {}; grant them (GET /v1/accounts/{account_id}/cloudformation-template includes them) and verify again (POST /v1/accounts/{account_id}/verify)",
                    lacking.join(", ")
                ),
            });
        }
        self.queue_scan(
            tenant,
            &account,
            data_source,
            request.scan_only,
            regions,
            requested_by,
        )
        .await
    }

    /// Record a scan, then send its job. A job that cannot be sent leaves
    /// the scan failed (so nothing waits for it) and the error retryable.
    async fn queue_scan(
        &self,
        tenant: &str,
        account: &Account,
        data_source: &str,
        scan_only: bool,
        regions: Vec<String>,
        requested_by: &str,
    ) -> Result<Scan> {
        let scan = Scan::queued(
            &account.account_id,
            data_source,
            scan_only,
            regions,
            requested_by,
            Timestamp::now(),
        );
        self.enqueue(tenant, scan).await
    }

    /// Record `scan` and send its job (see [`Self::queue_scan`]).
    async fn enqueue(&self, tenant: &str, scan: Scan) -> Result<Scan> {
        let queue = self.queue.ok_or_else(|| Error::NotConfigured {
            code: "scans_unavailable",
            message: "this deployment has no scan queue configured (SCAN_QUEUE_URL)".into(),
        })?;
        // A built-in regional source runs one job per region.
        let scan = match self.catalogue.get(&scan.data_source) {
            Some(source) if source.regional && source.built_in && !scan.regions.is_empty() => {
                scan.fanned_out()
            }
            _ => scan,
        };
        self.store.queue_scan(tenant, &scan).await?;
        if let Err(err) = queue.send_jobs(&scan.jobs(tenant)).await {
            tracing::error!(error = %err, scan_id = %scan.scan_id, "scan job not sent");
            let _ = self
                .store
                .abandon_scan(
                    tenant,
                    &scan,
                    "the scan queue did not accept the job; request the scan again",
                )
                .await;
            return Err(err);
        }
        Ok(scan)
    }

    /// Run an account action over each account, in the order given. One
    /// account's refusal is its result, never the others'.
    pub async fn account_action(
        &self,
        tenant: &str,
        requested_by: &str,
        request: AccountActionRequest,
    ) -> Result<AccountActionResponse> {
        request.validate()?;
        let ActionType::SyncInventory = request.action_type;
        let results: Vec<ActionResult> = futures::stream::iter(request.accounts)
            .map(|entry| self.sync_inventory(tenant, requested_by, entry))
            .buffered(QUEUE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        Ok(AccountActionResponse {
            action_type: request.action_type,
            accepted: results.iter().filter(|r| r.action_status).count(),
            results,
        })
    }

    /// SYNC_INVENTORY of one account: a scan of every attached data source.
    // Long: SYNC_INVENTORY over each attached data source, each one's refusal reported beside the
    // others' scans.
    async fn sync_inventory(
        &self,
        tenant: &str,
        requested_by: &str,
        entry: ActionAccount,
    ) -> Result<ActionResult> {
        let result = ActionResult {
            account_id: entry.account_id.clone(),
            cloud_provider: CloudProviderName::Aws,
            regions: entry.regions.clone(),
            action_status: false,
            action_message: String::new(),
            action_code: None,
            scans: Vec::new(),
        };
        let (account, attachments) = match self
            .store
            .account_attachments(tenant, &entry.account_id)
            .await
        {
            Ok(found) => found,
            Err(Error::NotFound { .. }) => {
                return Ok(result.refused(
                    ActionCode::NotFound,
                    format!(
                        "account {} is not registered in this tenant",
                        entry.account_id
                    ),
                ))
            }
            Err(err) => return Err(err),
        };
        if let Some((code, message)) = scan_refusal(&account) {
            return Ok(result.refused(code, message));
        }
        let regions = match scan_regions(
            &account.fields.regions,
            &account.fields.region_ignore_list,
            entry.regions.as_deref(),
            "regions",
        ) {
            Ok(regions) => regions,
            Err(err) => return Ok(result.refused(ActionCode::InvalidRegion, err.to_string())),
        };
        if attachments.is_empty() {
            return Ok(result.refused(
                ActionCode::NoDataSources,
                format!("no data source is attached to account {0}; attach one first (PUT /v1/accounts/{0}/data-sources/aws:iam)", account.account_id),
            ));
        }
        let mut result = result;
        for attachment in &attachments {
            match self
                .queue_scan(
                    tenant,
                    &account,
                    &attachment.data_source,
                    false,
                    regions.clone(),
                    requested_by,
                )
                .await
            {
                Ok(scan) => result.scans.push(QueuedScan {
                    data_source: scan.data_source,
                    scan_id: scan.scan_id,
                }),
                Err(err) => {
                    return Ok(result.refused(
                        ActionCode::QueueFailed,
                        format!(
                            "queueing the {} scan failed: {}",
                            attachment.data_source,
                            queue_failure(&err)
                        ),
                    ))
                }
            }
        }
        result.action_status = true;
        result.action_message =
            format!("Sync action initiated: {} scans queued", result.scans.len());
        Ok(result)
    }
}

/// What one pass over the due schedules did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    pub queued: usize,
    pub skipped: usize,
}

/// Scheduled runs taken per sweep at most (the rest stay due).
pub const SCHEDULED_RUNS_PER_SWEEP: usize = 1000;
/// The actor of scheduled scans.
pub const SCHEDULER: &str = "system:schedule";

impl Scanning<'_> {
    /// Run every schedule due by `now`: queue its scan, or skip it (a scan
    /// still running, an archived or departed account, a credential not
    /// verified, missing permissions), recording which and why; either
    /// way its next run is set. A run another sweep took is left alone.
    pub async fn run_due_schedules(&self, now: Timestamp) -> Result<ScheduleReport> {
        let due = self
            .store
            .due_schedules(now, SCHEDULED_RUNS_PER_SWEEP)
            .await?;
        let mut report = ScheduleReport::default();
        let outcomes: Vec<Result<Option<RunOutcome>>> = futures::stream::iter(due)
            .map(|due| self.run_schedule(due, now))
            .buffer_unordered(QUEUE_CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Ok(Some(RunOutcome::Queued)) => report.queued += 1,
                Ok(Some(RunOutcome::Skipped)) => report.skipped += 1,
                Ok(None) => {}
                Err(err) => tracing::error!(error = %err, "a scheduled run failed; it stays due"),
            }
        }
        Ok(report)
    }

    /// One due schedule: what its run did, or `None` when it was not ours
    /// to run (taken by another sweep, or gone).
    // Long: one due schedule's run: claim, queue the scan, record the run, advance the schedule;
    // each step a conditional write whose refusal ends it.
    async fn run_schedule(
        &self,
        due: crate::aws::store::DueSchedule,
        now: Timestamp,
    ) -> Result<Option<RunOutcome>> {
        use crate::schedule::{ScheduledRun, SkipReason};
        let tenant = due.tenant.as_str();
        let (account, attachment) = match self
            .store
            .account_and_attachment(tenant, &due.account_id, &due.data_source)
            .await
        {
            Ok(found) => found,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let Some(attachment) = attachment else {
            return Ok(None);
        };
        let (Some(schedule), Some(at)) = (&attachment.schedule, attachment.next_scan_at) else {
            return Ok(None);
        };
        let skip = |reason: SkipReason, message: String| ScheduledRun {
            at: now,
            outcome: RunOutcome::Skipped,
            skip_reason: Some(reason),
            message,
            scan_id: None,
        };
        let regions = scan_regions(
            &account.fields.regions,
            &account.fields.region_ignore_list,
            None,
            "regions",
        )?;
        let scan = Scan::queued(
            &account.account_id,
            &attachment.data_source,
            false,
            regions,
            SCHEDULER,
            now,
        );
        let lacking = account
            .credential
            .missing_permissions
            .get(attachment.data_source.as_str())
            .filter(|_| attachment.role_arn.is_none());
        let run = match scan_refusal(&account) {
            Some((code, message)) => skip(
                match code {
                    ActionCode::Archived => SkipReason::Archived,
                    ActionCode::Departed => SkipReason::Departed,
                    _ => SkipReason::CredentialNotVerified,
                },
                message,
            ),
            None if attachment.status == crate::scans::AttachmentStatus::InProgress => skip(
                SkipReason::ScanRunning,
                format!(
                    "scan {} is still queued or running; the schedule never runs two at once",
                    attachment.last_scan_id.as_deref().unwrap_or("")
                ),
            ),
            None if lacking.is_some() => skip(
                SkipReason::MissingPermissions,
                format!(
                    "the account's role lacks what {} needs: {}",
                    attachment.data_source,
                    lacking.map(|l| l.join(", ")).unwrap_or_default()
                ),
            ),
            None => ScheduledRun {
                at: now,
                outcome: RunOutcome::Queued,
                skip_reason: None,
                message: format!("scan {} queued", scan.scan_id),
                scan_id: Some(scan.scan_id.clone()),
            },
        };
        let next = schedule.next_after(now.max(at), crate::schedule::random_fraction());
        if !self
            .store
            .advance_schedule(tenant, &due.account_id, &due.data_source, at, next, &run)
            .await?
        {
            return Ok(None);
        }
        if run.outcome == RunOutcome::Skipped {
            return Ok(Some(RunOutcome::Skipped));
        }
        if let Err(err) = self.enqueue(tenant, scan).await {
            let failed = skip(
                SkipReason::QueueFailed,
                format!(
                    "the scan could not be queued ({}); the next run tries again",
                    queue_failure(&err)
                ),
            );
            self.store
                .note_scheduled_run(tenant, &due.account_id, &due.data_source, &failed)
                .await?;
            return Ok(Some(RunOutcome::Skipped));
        }
        Ok(Some(RunOutcome::Queued))
    }
}

/// What a caller may read of a queueing failure (never a store's details).
fn queue_failure(err: &Error) -> String {
    match err {
        Error::NotConfigured { message, .. } => message.clone(),
        _ => "the service is briefly unavailable; retry".into(),
    }
}

fn not_attached(account_id: &str, data_source: &str) -> Error {
    Error::NotAttached {
        account_id: account_id.to_string(),
        data_source: data_source.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ActionType {
    /// Scan every attached data source of each account.
    #[serde(rename = "SYNC_INVENTORY")]
    SyncInventory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CloudProviderName {
    #[serde(rename = "AWS")]
    Aws,
}

/// Why an account action refused an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ActionCode {
    NotFound,
    Archived,
    Departed,
    CredentialNotVerified,
    NoDataSources,
    InvalidRegion,
    QueueFailed,
}

/// One account of an account action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionAccount {
    /// 12-digit AWS account id (`cloud_provider_account_id` is accepted too).
    #[serde(alias = "cloud_provider_account_id")]
    pub account_id: AccountId,
    /// `AWS` if given.
    #[serde(default)]
    pub cloud_provider: Option<CloudProviderName>,
    /// A subset of the account's regions; default: all but the ignored ones.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountActionRequest {
    /// 1-100 accounts.
    pub accounts: Vec<ActionAccount>,
    pub action_type: ActionType,
}

impl AccountActionRequest {
    fn validate(&self) -> Result<()> {
        if self.accounts.is_empty() || self.accounts.len() > MAX_ACTION_ACCOUNTS {
            return Err(Error::invalid(
                "accounts",
                format!(
                    "give 1-{MAX_ACTION_ACCOUNTS} accounts, got {}",
                    self.accounts.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (index, entry) in self.accounts.iter().enumerate() {
            let field = |name: &str| format!("accounts[{index}].{name}");
            if !seen.insert(entry.account_id.as_str()) {
                return Err(Error::invalid(
                    field("account_id"),
                    format!("account {} is listed twice", entry.account_id),
                ));
            }
            if let Some(regions) = &entry.regions {
                crate::validation::regions(&field("regions"), regions)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedScan {
    pub data_source: String,
    pub scan_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub account_id: AccountId,
    pub cloud_provider: CloudProviderName,
    pub regions: Option<Vec<String>>,
    /// True when every attached data source was queued.
    pub action_status: bool,
    pub action_message: String,
    /// A machine-readable reason when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_code: Option<ActionCode>,
    pub scans: Vec<QueuedScan>,
}

impl ActionResult {
    fn refused(mut self, code: ActionCode, message: String) -> Self {
        self.action_code = Some(code);
        self.action_message = message;
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountActionResponse {
    pub action_type: ActionType,
    /// Accounts whose scans were all queued.
    pub accepted: usize,
    /// In the order of the request.
    pub results: Vec<ActionResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<AccountActionRequest> {
        let request: AccountActionRequest =
            serde_json::from_value(json).map_err(|e| Error::invalid("body", e.to_string()))?;
        request.validate()?;
        Ok(request)
    }

    #[test]
    fn account_actions_are_checked_before_anything_runs() {
        let ok = request(serde_json::json!({
            "action_type": "SYNC_INVENTORY",
            "accounts": [{"cloud_provider_account_id": "000000000001", "cloud_provider": "AWS"}],
        }))
        .unwrap();
        assert_eq!(ok.accounts[0].account_id.as_str(), "000000000001");
        for (body, field) in [
            (
                serde_json::json!({"action_type": "SYNC_INVENTORY", "accounts": []}),
                "accounts",
            ),
            (
                serde_json::json!({"action_type": "SYNC_INVENTORY", "accounts": [{"account_id": "000000000001"}, {"account_id": "000000000001"}]}),
                "accounts[1].account_id",
            ),
            (
                serde_json::json!({"action_type": "SYNC_INVENTORY", "accounts": [{"account_id": "000000000001", "regions": ["mars-1"]}]}),
                "accounts[0].regions",
            ),
        ] {
            match request(body) {
                Err(Error::Invalid { field: Some(f), .. }) => assert!(f.starts_with(field), "{f}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(request(serde_json::json!({"action_type": "REBOOT", "accounts": []})).is_err());
    }

    #[test]
    fn action_codes_are_snake_case() {
        let code: &str = ActionCode::CredentialNotVerified.into();
        assert_eq!(code, "credential_not_verified");
        assert_eq!(
            serde_json::to_value(ActionCode::QueueFailed).unwrap(),
            serde_json::json!("queue_failed")
        );
    }
}
