//! Data sources, their attachments to accounts, scans, findings and the
//! per-region inventory status (the RISKEN and Carbon Black models).
//!
//! A data source is a scanner. `aws:iam` is built in and runs in the scan
//! worker; others come from configuration and name an SQS queue where an
//! external scanner picks up their jobs.

use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use utoipa::ToSchema;

/// The built-in IAM scanner.
pub const IAM_DATA_SOURCE: &str = "aws:iam";
/// The built-in SQS scanner: regional, one job per region.
pub const SQS_DATA_SOURCE: &str = "aws:sqs";

static DATA_SOURCE_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[a-z0-9][a-z0-9-]{0,30}:[a-z0-9][a-z0-9-]{0,62}$").unwrap()
});
static IAM_ACTION: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z0-9-]{1,40}:[A-Za-z0-9*]{1,100}$").unwrap());

/// One entry of the data source catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataSource {
    /// `<provider>:<name>`, e.g. `aws:iam`.
    #[schema(example = "aws:iam")]
    pub name: String,
    pub description: String,
    /// The highest score a finding of this source can have.
    pub max_score: f64,
    /// Built in (run by the scan worker) or external (forwarded to a queue).
    #[serde(default)]
    pub built_in: bool,
    /// The IAM actions its scanner calls with the account's role; each
    /// verification reports those the role lacks.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Minutes an external scanner has to complete a scan (default 60);
    /// a scan not completed by then is TIMED_OUT.
    #[serde(default = "default_deadline_minutes")]
    pub deadline_minutes: u32,
    /// Scanned region by region: a built-in regional source gets one job
    /// per region, each region's status, timing and error its own.
    #[serde(default)]
    pub regional: bool,
    /// Where jobs of an external data source go. Never shown to callers.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub queue_url: Option<String>,
}

fn default_deadline_minutes() -> u32 {
    60
}

/// The IAM actions the built-in `aws:iam` scanner calls.
pub const IAM_SCANNER_ACTIONS: [&str; 4] = [
    "iam:GetAccountAuthorizationDetails",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:ListMFADevices",
];

/// The IAM actions the built-in `aws:sqs` scanner calls, in each region.
pub const SQS_SCANNER_ACTIONS: [&str; 2] = ["sqs:ListQueues", "sqs:GetQueueAttributes"];

impl DataSource {
    /// The IAM actions its scanner needs, with its name; none without any.
    pub fn requirement(&self) -> Option<(String, Vec<String>)> {
        (!self.actions.is_empty()).then(|| (self.name.clone(), self.actions.clone()))
    }
}

/// The data sources this deployment offers: `aws:iam`, plus those of the
/// `DATA_SOURCES` setting (a JSON list of `{name, description, max_score,
/// queue_url}`).
#[derive(Debug, Clone)]
pub struct Catalogue {
    sources: Vec<DataSource>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue {
            sources: vec![
                DataSource {
                    name: IAM_DATA_SOURCE.into(),
                    description: "IAM posture: users without MFA, access keys older than 90 days or unused for 90 days, principals with administrator access".into(),
                    max_score: 10.0,
                    built_in: true,
                    // What the built-in IAM scanner calls (scan-worker's iam.rs).
                    actions: IAM_SCANNER_ACTIONS.iter().map(|a| a.to_string()).collect(),
                    deadline_minutes: default_deadline_minutes(),
                    regional: false,
                    queue_url: None,
                },
                DataSource {
                    name: SQS_DATA_SOURCE.into(),
                    description: "SQS queues, region by region: queues without server-side encryption, queues whose policy lets anyone in".into(),
                    max_score: 10.0,
                    built_in: true,
                    // What scan-worker's sqs.rs calls in each region.
                    actions: SQS_SCANNER_ACTIONS.iter().map(|a| a.to_string()).collect(),
                    deadline_minutes: default_deadline_minutes(),
                    regional: true,
                    queue_url: None,
                },
            ],
        }
    }
}

impl Catalogue {
    /// The built-in sources plus the external ones described by `json`.
    pub fn with_external(json: &str) -> Result<Self> {
        let mut catalogue = Catalogue::default();
        if json.trim().is_empty() {
            return Ok(catalogue);
        }
        let invalid = |message: String| Error::invalid("DATA_SOURCES", message);
        let external: Vec<DataSource> = serde_json::from_str(json).map_err(|err| {
            invalid(format!(
                "DATA_SOURCES must be a JSON list of {{name, description, max_score, queue_url}}: {err}"
            ))
        })?;
        for mut source in external {
            if !DATA_SOURCE_NAME.is_match(&source.name) {
                return Err(invalid(format!(
                    "data source name '{}' must look like 'aws:guard-duty'",
                    source.name
                )));
            }
            if catalogue.get(&source.name).is_some() {
                return Err(invalid(format!(
                    "data source '{}' is defined twice (or shadows a built-in one)",
                    source.name
                )));
            }
            if source.queue_url.as_deref().unwrap_or("").is_empty() {
                return Err(invalid(format!(
                    "data source '{}' needs a queue_url for its external scanner",
                    source.name
                )));
            }
            if let Some(bad) = source.actions.iter().find(|a| !IAM_ACTION.is_match(a)) {
                return Err(invalid(format!(
                    "data source '{}': '{bad}' is not an IAM action like 'guardduty:ListFindings'",
                    source.name
                )));
            }
            if !(1..=10_080).contains(&source.deadline_minutes) {
                return Err(invalid(format!(
                    "data source '{}': deadline_minutes must be 1-10080 (a week)",
                    source.name
                )));
            }
            if !(source.max_score > 0.0 && source.max_score <= 100.0) {
                return Err(invalid(format!(
                    "data source '{}': max_score must be in (0, 100]",
                    source.name
                )));
            }
            source.built_in = false;
            catalogue.sources.push(source);
        }
        Ok(catalogue)
    }

    /// From the `DATA_SOURCES` environment variable.
    pub fn all(&self) -> &[DataSource] {
        &self.sources
    }

    pub fn get(&self, name: &str) -> Option<&DataSource> {
        self.sources.iter().find(|source| source.name == name)
    }

    /// The external source `name` (forwarded to a queue, its scanner
    /// reporting back with a scanner credential), or why there is none:
    /// a credential for any other could never report.
    pub fn external(&self, name: &str) -> Result<&DataSource> {
        let external: Vec<&DataSource> = self
            .sources
            .iter()
            .filter(|source| source.queue_url.is_some())
            .collect();
        external
            .iter()
            .find(|source| source.name == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = external.iter().map(|s| s.name.as_str()).collect();
                Error::invalid(
                    "data_source",
                    format!(
                        "{name} is not an external data source of this deployment (DATA_SOURCES); its external ones: {}",
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                )
            })
    }

    /// The source named `name`, or a 404 that lists the catalogue.
    pub fn require(&self, name: &str) -> Result<&DataSource> {
        self.get(name).ok_or_else(|| Error::UnknownDataSource {
            name: name.to_string(),
            offered: self
                .sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// The state of an attachment (RISKEN's 1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttachmentStatus {
    /// The last scan succeeded.
    Ok,
    /// Attached (or changed) and not scanned since.
    Configured,
    /// A scan is queued or running.
    InProgress,
    /// The last scan failed; `status_detail` says why.
    Error,
}

/// At most this many suppressed findings per attached data source.
pub const MAX_SUPPRESSED: usize = 1000;
/// Settings an attachment passes to its scanner, and each value's length.
pub const MAX_CONFIG_ENTRIES: usize = 50;
pub const MAX_CONFIG_VALUE_LEN: usize = 1024;
pub const MAX_VERSION_LEN: usize = 64;
/// A suppression's reason, for one finding or a rule.
pub const MAX_REASON_LEN: usize = 500;

/// An attachment's stored findings by status, each by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FindingCounts {
    pub open: SeverityCounts,
    pub suppressed: SeverityCounts,
    pub resolved: SeverityCounts,
}

impl Attachment {
    /// Its stored findings as of `now`, by status: a suppression that
    /// expired counts as open at once.
    pub fn findings_as_of(&self, now: Timestamp) -> FindingCounts {
        let all = self.findings.clone().unwrap_or_default();
        let holds = |until: Option<Timestamp>| until.is_none_or(|until| until > now);
        let mut suppressed = SeverityCounts::default();
        for entry in self.suppressed.values() {
            if holds(entry.until) {
                suppressed.count(entry.severity);
            }
        }
        for rule in self.suppressed_by_rule.values() {
            if holds(rule.until) {
                suppressed.add(&rule.counts);
            }
        }
        FindingCounts {
            open: all.less(&suppressed),
            suppressed,
            resolved: self.resolved.clone().unwrap_or_default(),
        }
    }
}

/// A data source attached to an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub account_id: String,
    pub data_source: String,
    /// A role of its own for this data source; absent: the account's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Generated by the server when the role differs from the account's;
    /// the role's trust policy must require it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// A new role of its own asked for while the current one works (its
    /// last scan succeeded): it replaces the current one once it verifies
    /// with this attachment's external ID; until then the current one scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_role_arn: Option<String>,
    /// The last verification of the pending role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_role_credential: Option<crate::account::Credential>,
    /// Settings handed to the scanner (string keys and values).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub status: AttachmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    /// When the last scan finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specific_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_id: Option<String>,
    /// Scans on their own: an interval or a cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::schedule::Schedule>,
    /// When the schedule runs next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_scan_at: Option<Timestamp>,
    /// The findings it has stored, by severity, as of its last finished
    /// scan (a scan_only scan leaves them as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<SeverityCounts>,
    /// Its suppressed findings (at most 1000), by finding id: the summary
    /// counts those whose suppression holds apart from the open ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suppressed: BTreeMap<String, SuppressedFinding>,
    /// Its findings a tenant rule suppresses, counted per rule, as of its
    /// last finished scan.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suppressed_by_rule: BTreeMap<String, RuleSuppressed>,
    /// Its resolved findings (kept 30 days), as of its last finished scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<SeverityCounts>,
    /// What the schedule's last run did, or why it skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scheduled_run: Option<crate::schedule::ScheduledRun>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

/// Body of `PUT /v1/accounts/{id}/data-sources/{name}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachRequest {
    /// A role of its own for this data source (same account, same naming
    /// rule as the account's role). Absent: the account's role is used.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Up to 50 settings for the scanner.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Pin a scanner version.
    #[serde(default)]
    pub specific_version: Option<String>,
    /// Scan on a schedule (absent: on demand only).
    #[serde(default)]
    pub schedule: Option<crate::schedule::Schedule>,
}

impl AttachRequest {
    pub fn validate(&self, account_id: &str) -> Result<()> {
        if let Some(arn) = &self.role_arn {
            let role = crate::validation::role_arn("role_arn", arn)?;
            if role.account_id != account_id {
                return Err(Error::invalid(
                    "role_arn",
                    format!("the role is in account {} but the data source is attached to {account_id}: scanners only use roles of the account they scan", role.account_id),
                ));
            }
        }
        if self.config.len() > MAX_CONFIG_ENTRIES {
            return Err(Error::invalid(
                "config",
                format!("at most {MAX_CONFIG_ENTRIES} settings"),
            ));
        }
        for (key, value) in &self.config {
            let field = format!("config.{key}");
            crate::validation::text(&field, key, crate::validation::MAX_NAME_LEN)?;
            crate::validation::text(&field, value, MAX_CONFIG_VALUE_LEN)?;
        }
        if let Some(version) = &self.specific_version {
            crate::validation::text("specific_version", version, MAX_VERSION_LEN)?;
        }
        if let Some(schedule) = &self.schedule {
            schedule.validate("schedule")?;
        }
        Ok(())
    }

    /// The attachment this request leaves, given the one already there.
    /// The external ID survives as long as the role does; a role of its
    /// own gets a fresh one; the account's own role needs none.
    pub fn apply(
        self,
        account_id: &str,
        account_role: Option<&str>,
        data_source: &str,
        existing: Option<&Attachment>,
        actor: &str,
        now: Timestamp,
    ) -> Attachment {
        let own_role = self
            .role_arn
            .filter(|arn| Some(arn.as_str()) != account_role);
        let external_id = match (&own_role, existing) {
            (None, _) => None,
            (Some(role), Some(old)) if old.role_arn.as_ref() == Some(role) => {
                old.external_id.clone()
            }
            (Some(_), _) => Some(crate::crypto::new_external_id()),
        };
        let changed = existing.is_none_or(|old| {
            old.role_arn != own_role
                || old.config != self.config
                || old.specific_version != self.specific_version
        });
        // The next run stays while the schedule does; a new one starts now.
        let next_scan_at = match (&self.schedule, existing) {
            (None, _) => None,
            (Some(schedule), Some(old)) if old.schedule.as_ref() == Some(schedule) => {
                old.next_scan_at
            }
            (Some(schedule), _) => schedule.next_after(now, crate::schedule::random_fraction()),
        };
        Attachment {
            account_id: account_id.to_string(),
            data_source: data_source.to_string(),
            role_arn: own_role,
            external_id,
            pending_role_arn: None,
            pending_role_credential: None,
            config: self.config,
            status: match existing {
                Some(old) if !changed => old.status,
                _ => AttachmentStatus::Configured,
            },
            status_detail: match existing {
                Some(old) if !changed => old.status_detail.clone(),
                _ => Some("attached; not scanned yet".into()),
            },
            scan_at: existing.and_then(|old| old.scan_at),
            specific_version: self.specific_version,
            last_scan_id: existing.and_then(|old| old.last_scan_id.clone()),
            schedule: self.schedule,
            next_scan_at,
            findings: existing.and_then(|old| old.findings.clone()),
            suppressed: existing
                .map(|old| old.suppressed.clone())
                .unwrap_or_default(),
            suppressed_by_rule: existing
                .map(|old| old.suppressed_by_rule.clone())
                .unwrap_or_default(),
            resolved: existing.and_then(|old| old.resolved.clone()),
            last_scheduled_run: existing.and_then(|old| old.last_scheduled_run.clone()),
            created_at: existing.map_or(now, |old| old.created_at),
            created_by: existing.map_or_else(|| actor.to_string(), |old| old.created_by.clone()),
            updated_at: now,
            updated_by: actor.to_string(),
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanStatus {
    /// Waiting in the queue (also after a failed attempt that will be retried).
    Queued,
    Running,
    Succeeded,
    /// Gave up: `errors` says why; `dead_lettered` when the job is in the DLQ.
    Failed,
    /// Handed to an external scanner's queue; it becomes RUNNING with the
    /// scanner's first upload of results.
    Forwarded,
    /// Handed to an external scanner that did not complete it by the data
    /// source's deadline.
    TimedOut,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a scan found and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanCounts {
    /// IAM entities (or other resources) examined.
    pub resources: u32,
    /// Findings the scanner reported.
    pub findings: u32,
    /// Findings stored (0 with `scan_only`).
    pub stored: u32,
    /// Findings dropped by the account's resource type and regex ignore lists.
    pub ignored: u32,
    /// Stored findings of earlier scans that no longer occur, removed.
    pub resolved: u32,
}

impl ScanCounts {
    pub fn add(&mut self, other: &ScanCounts) {
        self.resources += other.resources;
        self.findings += other.findings;
        self.stored += other.stored;
        self.ignored += other.ignored;
        self.resolved += other.resolved;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanError {
    pub code: ScanErrorCode,
    pub message: String,
    pub at: Timestamp,
}

/// Why a scan attempt failed: a verification code when assuming the role
/// failed, else the step that did.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanErrorCode {
    RoleMissing,
    AccessDenied,
    ExternalIdNotEnforced,
    AccountMismatch,
    Throttled,
    Timeout,
    PartitionNotServed,
    Internal,
    AccountDeleted,
    AccountArchived,
    AccountDeparted,
    Detached,
    UnknownDataSource,
    InvalidIgnoreList,
    QueueUnavailable,
    Store,
    ScannerError,
}

impl ScanErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl From<crate::trust::VerificationCode> for ScanErrorCode {
    fn from(code: crate::trust::VerificationCode) -> Self {
        use crate::trust::VerificationCode as V;
        match code {
            V::RoleMissing => ScanErrorCode::RoleMissing,
            V::AccessDenied => ScanErrorCode::AccessDenied,
            V::ExternalIdNotEnforced => ScanErrorCode::ExternalIdNotEnforced,
            V::AccountMismatch => ScanErrorCode::AccountMismatch,
            V::Throttled => ScanErrorCode::Throttled,
            V::Timeout => ScanErrorCode::Timeout,
            V::PartitionNotServed => ScanErrorCode::PartitionNotServed,
            // A successful AssumeRole is no error; if one arrives here it is ours.
            V::Internal | V::Ok => ScanErrorCode::Internal,
        }
    }
}

/// One scan of one data source of one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scan {
    /// A ULID: scans sort by time.
    pub scan_id: String,
    pub account_id: String,
    pub data_source: String,
    /// Run the scan but store no findings.
    pub scan_only: bool,
    /// The regions covered: the account's, minus its region_ignore_list,
    /// or those requested.
    pub regions: Vec<String>,
    pub status: ScanStatus,
    pub requested_at: Timestamp,
    /// API key id, or `account-actions` for SYNC_INVENTORY.
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Deliveries that ran (retries included).
    #[serde(default)]
    pub attempts: u32,
    /// While RUNNING: another delivery may take over after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Timestamp>,
    #[serde(default)]
    pub counts: ScanCounts,
    /// Every failed attempt, oldest first.
    #[serde(default)]
    pub errors: Vec<ScanError>,
    /// The job went to the dead-letter queue after its last attempt.
    #[serde(default)]
    pub dead_lettered: bool,
    /// Handed to an external scanner: when it must have completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_at: Option<Timestamp>,
    /// A regional scan: each region's own run (absent for global sources).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub region_runs: BTreeMap<String, RegionRun>,
}

/// Where one region of a regional scan is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionRunStatus {
    Queued,
    Running,
    Succeeded,
    /// Gave up for good: `error` says why.
    Failed,
    /// Stopped before the worker's deadline; the next delivery resumes
    /// after `checkpoint`.
    TimedOut,
}

impl RegionRunStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Nothing more will run in this region.
    pub fn is_final(self) -> bool {
        matches!(self, RegionRunStatus::Succeeded | RegionRunStatus::Failed)
    }
}

/// One region of a regional scan: its own status, timing, error and
/// progress, so a redelivery resumes what is unfinished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionRun {
    pub status: RegionRunStatus,
    /// Deliveries of this region's job that ran.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// While RUNNING: another delivery may take over after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Timestamp>,
    /// The last resource done (resources sort by it): a resumed run
    /// starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// What the region found so far (over every delivery).
    #[serde(default)]
    pub counts: ScanCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ScanError>,
}

impl RegionRun {
    pub fn queued() -> Self {
        RegionRun {
            status: RegionRunStatus::Queued,
            attempts: 0,
            started_at: None,
            finished_at: None,
            lease_until: None,
            checkpoint: None,
            counts: ScanCounts::default(),
            error: None,
        }
    }
}

impl Scan {
    /// A new scan, waiting for the worker; its id is a fresh ULID.
    pub fn queued(
        account_id: &str,
        data_source: &str,
        scan_only: bool,
        regions: Vec<String>,
        requested_by: &str,
        now: Timestamp,
    ) -> Self {
        Scan {
            scan_id: ulid::Ulid::new().to_string(),
            account_id: account_id.to_string(),
            data_source: data_source.to_string(),
            scan_only,
            regions,
            status: ScanStatus::Queued,
            requested_at: now,
            requested_by: requested_by.to_string(),
            started_at: None,
            finished_at: None,
            attempts: 0,
            lease_until: None,
            counts: ScanCounts::default(),
            errors: Vec::new(),
            dead_lettered: false,
            deadline_at: None,
            region_runs: BTreeMap::new(),
        }
    }

    /// This scan, run region by region: one job per region.
    pub fn fanned_out(mut self) -> Self {
        self.region_runs = self
            .regions
            .iter()
            .map(|region| (region.clone(), RegionRun::queued()))
            .collect();
        self
    }

    /// The job of each region of a regional scan, or the one job of a
    /// global one.
    pub fn jobs(&self, tenant: &str) -> Vec<ScanJob> {
        let job = |region: Option<&String>| ScanJob {
            tenant: tenant.to_string(),
            account_id: self.account_id.clone(),
            data_source: self.data_source.clone(),
            scan_id: self.scan_id.clone(),
            region: region.cloned(),
        };
        if self.region_runs.is_empty() {
            vec![job(None)]
        } else {
            self.region_runs.keys().map(Some).map(job).collect()
        }
    }

    pub fn is_finished(&self) -> bool {
        match self.status {
            // Forwarded: the external scanner's now, not the worker's.
            ScanStatus::Succeeded | ScanStatus::Forwarded | ScanStatus::TimedOut => true,
            // A dead-lettered job may be redriven: it runs again.
            ScanStatus::Failed => !self.dead_lettered,
            ScanStatus::Queued | ScanStatus::Running => false,
        }
    }
}

/// The SQS message of a scan: just enough to find the scan record, which
/// holds everything else. Small, and nothing secret in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanJob {
    pub tenant: String,
    pub account_id: String,
    pub data_source: String,
    pub scan_id: String,
    /// The region this job scans, for a regional data source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The message an external scanner receives on its queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExternalScanJob {
    pub tenant: String,
    pub account_id: String,
    pub scan_id: String,
    pub data_source: String,
    pub role_arn: String,
    pub external_id: String,
    pub regions: Vec<String>,
    pub scan_only: bool,
    pub config: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specific_version: Option<String>,
    /// Complete it by then (`POST /v1/scans/{scan_id}/complete`), or it is TIMED_OUT.
    pub deadline_at: Timestamp,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Any case: `high`, `HIGH`.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    /// The band of a score on a 0-10 scale.
    pub fn of_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

/// Findings counted by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SeverityCounts {
    pub total: u32,
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
}

impl SeverityCounts {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut counts = SeverityCounts::default();
        for finding in findings {
            counts.count(finding.severity);
        }
        counts
    }

    pub fn count(&mut self, severity: Severity) {
        self.total += 1;
        match severity {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
        }
    }

    /// These counts less `other` (never below zero).
    pub fn less(&self, other: &SeverityCounts) -> SeverityCounts {
        SeverityCounts {
            total: self.total.saturating_sub(other.total),
            critical: self.critical.saturating_sub(other.critical),
            high: self.high.saturating_sub(other.high),
            medium: self.medium.saturating_sub(other.medium),
            low: self.low.saturating_sub(other.low),
        }
    }

    pub fn add(&mut self, other: &SeverityCounts) {
        self.total += other.total;
        self.critical += other.critical;
        self.high += other.high;
        self.medium += other.medium;
        self.low += other.low;
    }
}

/// A problem a scanner found on one resource. Its id is stable (rule and
/// resource), so a later scan updates it instead of adding a duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub finding_id: String,
    pub account_id: String,
    pub data_source: String,
    /// e.g. `IAM_USER_WITHOUT_MFA`.
    pub rule: String,
    pub title: String,
    /// e.g. `AWS.IAM.User`.
    pub resource_type: String,
    /// The resource's ARN.
    pub resource_id: String,
    /// `global` for global services such as IAM.
    pub region: String,
    pub severity: Severity,
    /// 0 to the data source's max_score.
    pub score: f64,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The scan that last saw it.
    pub scan_id: String,
    /// OPEN, SUPPRESSED while a suppression holds (as of the read), or
    /// RESOLVED once a scan no longer sees it.
    #[serde(default)]
    pub status: FindingStatus,
    /// Why it is suppressed and until when; kept across rescans, gone
    /// once it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    /// When a scan of its data source (its region, for a regional one)
    /// first did not see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// How many times it was suppressed or lifted by hand. Scans carry it
    /// unchanged and write only while it is what they read, so a hand
    /// change made during a scan is never overwritten.
    #[serde(default)]
    pub triage_revision: u64,
}

/// Whether a finding is worked on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingStatus {
    /// In the default listing and the summary's counts.
    #[default]
    Open,
    /// Left out of both until the suppression expires or is lifted.
    Suppressed,
    /// No scan since `resolved_at` saw it; kept [`RESOLVED_RETENTION_DAYS`]
    /// (then DynamoDB's TTL removes it), reopened if a scan sees it again.
    Resolved,
}

/// Days a resolved finding is kept before TTL removes it.
pub const RESOLVED_RETENTION_DAYS: u64 = 30;

/// The rank of a resolved finding in [`Finding::severity_order`].
pub const RESOLVED_RANK: char = '9';

/// A finding set aside by someone, with why and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suppression {
    pub reason: String,
    /// Absent: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// The API key that suppressed it (`rule:<id>` for a rule).
    pub by: String,
    pub at: Timestamp,
    /// The tenant's suppression rule that matched it: re-evaluated at each
    /// scan, so it goes when the rule is deleted or no longer matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

impl Suppression {
    pub fn holds_at(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

/// Body of `PUT .../findings/{finding_id}/suppression`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressRequest {
    /// Why (1-500 characters), e.g. "accepted risk: break-glass user".
    pub reason: String,
    /// When it returns to the open findings (RFC 3339, in the next
    /// 366 days); absent: until lifted.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

impl SuppressRequest {
    /// The suppression this asks for, or the field that is wrong.
    pub fn suppression(self, by: &str, now: Timestamp) -> Result<Suppression> {
        let until = suppression_terms(&self.reason, self.until.as_deref(), now)?;
        Ok(Suppression {
            reason: self.reason,
            until,
            by: by.to_string(),
            at: now,
            rule_id: None,
        })
    }
}

/// Check a suppression's reason (1-500 characters) and optional expiry
/// (RFC 3339, in the next 366 days); gives the expiry.
pub fn suppression_terms(
    reason: &str,
    until: Option<&str>,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    crate::validation::text("reason", reason, MAX_REASON_LEN)?;
    if reason.trim().is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the findings are suppressed",
        ));
    }
    let Some(text) = until else {
        return Ok(None);
    };
    let until = Timestamp::parse(text).ok_or_else(|| {
        Error::invalid(
            "until",
            "must be an RFC 3339 time such as 2027-01-31T00:00:00Z",
        )
    })?;
    let latest = now.plus(std::time::Duration::from_secs(366 * 86_400));
    if until <= now || until > latest {
        return Err(Error::invalid(
            "until",
            "must be in the future and within 366 days; leave it out to suppress until lifted",
        ));
    }
    Ok(Some(until))
}

/// A suppressed finding as its attachment counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SuppressedFinding {
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// What the stored findings of a data source come to: counted by
/// severity, and which are suppressed (kept on the attachment, so the
/// summary reads them with the attachment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingTally {
    /// Every finding not resolved (open or suppressed).
    pub counts: SeverityCounts,
    /// Suppressed one by one, by finding id.
    pub suppressed: BTreeMap<String, SuppressedFinding>,
    /// Suppressed by a rule, counted per rule (so a rule matching
    /// thousands of findings costs the attachment one entry).
    pub by_rule: BTreeMap<String, RuleSuppressed>,
    pub resolved: SeverityCounts,
    /// The attachment's hand suppressions as read before the findings were
    /// counted: the tally is written only while they still are, and
    /// counted again when a hand change came between (`None`: written as
    /// it is).
    pub suppressed_as_read: Option<BTreeMap<String, SuppressedFinding>>,
}

/// The findings of one data source that one rule suppresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleSuppressed {
    pub counts: SeverityCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl FindingTally {
    /// This tally, written only while the attachment (as read before the
    /// findings were) holds the same hand suppressions.
    pub fn read_against(mut self, attachment: Option<&Attachment>) -> Self {
        self.suppressed_as_read = Some(
            attachment
                .map(|attachment| attachment.suppressed.clone())
                .unwrap_or_default(),
        );
        self
    }

    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut tally = FindingTally::default();
        for finding in findings {
            if finding.resolved_at.is_some() {
                tally.resolved.count(finding.severity);
                continue;
            }
            tally.counts.count(finding.severity);
            match &finding.suppression {
                Some(Suppression {
                    rule_id: Some(rule),
                    until,
                    ..
                }) => {
                    let entry = tally.by_rule.entry(rule.clone()).or_default();
                    entry.counts.count(finding.severity);
                    entry.until = *until;
                }
                Some(suppression) => {
                    tally.suppressed.insert(
                        finding.finding_id.clone(),
                        SuppressedFinding {
                            severity: finding.severity,
                            until: suppression.until,
                        },
                    );
                }
                None => {}
            }
        }
        tally
    }
}

impl Finding {
    /// As of `now`: SUPPRESSED while its suppression holds, else OPEN
    /// (an expired suppression is dropped).
    pub fn as_of(mut self, now: Timestamp) -> Self {
        if self
            .suppression
            .as_ref()
            .is_some_and(|held| !held.holds_at(now))
        {
            self.suppression = None;
        }
        self.status = self.status_now();
        self
    }

    /// RESOLVED once resolved, else SUPPRESSED while it has a suppression.
    fn status_now(&self) -> FindingStatus {
        match (&self.resolved_at, &self.suppression) {
            (Some(_), _) => FindingStatus::Resolved,
            (None, Some(_)) => FindingStatus::Suppressed,
            (None, None) => FindingStatus::Open,
        }
    }

    /// Not seen by a scan that would have seen it, `at`: kept as RESOLVED.
    pub fn resolved(mut self, at: Timestamp) -> Self {
        self.resolved_at = Some(at);
        self.status = FindingStatus::Resolved;
        self
    }

    /// When TTL may remove it (epoch seconds): only once resolved.
    pub fn expires_at(&self) -> Option<u64> {
        self.resolved_at
            .map(|at| at.datetime().timestamp().max(0) as u64 + RESOLVED_RETENTION_DAYS * 86_400)
    }

    /// Where it sorts in the tenant's severity order: critical first,
    /// then by score, highest first; the rest makes it unique and names
    /// its item (`<rank>#<inverted score>#<account>#<source>#<id>`).
    /// Resolved findings sort after every other (rank 9), so open and
    /// suppressed ones are a key range of their own.
    pub fn severity_order(&self) -> String {
        let rank = match (self.resolved_at, self.severity) {
            (Some(_), _) => RESOLVED_RANK,
            (None, Severity::Critical) => '0',
            (None, Severity::High) => '1',
            (None, Severity::Medium) => '2',
            (None, Severity::Low) => '3',
        };
        let inverted = ((100.0 - self.score.clamp(0.0, 100.0)) * 1000.0).round() as u32;
        format!(
            "{rank}#{inverted:06}#{}#{}#{}",
            self.account_id, self.data_source, self.finding_id
        )
    }

    /// The (account, data source, finding id) of a [`Self::severity_order`].
    pub fn of_severity_order(order: &str) -> Option<(&str, &str, &str)> {
        let mut parts = order.splitn(5, '#');
        let (rank, inverted) = (parts.next()?, parts.next()?);
        let (account, source, id) = (parts.next()?, parts.next()?, parts.next()?);
        (rank.len() == 1 && inverted.len() == 6 && !id.contains('#'))
            .then_some((account, source, id))
    }

    /// Written by a scan: seen again, it keeps when it was first seen and a
    /// suppression made by hand (a resolved one is open again); then the
    /// tenant's rules decide whether a rule suppresses it.
    pub fn settle(&mut self, earlier: Option<&Finding>, rules: &crate::suppression_rules::Rules) {
        if let Some(earlier) = earlier {
            self.first_seen_at = earlier.first_seen_at;
            self.triage_revision = earlier.triage_revision;
            // An expired suppression is not carried: it ended. A rule's is
            // evaluated afresh below.
            self.suppression = earlier
                .suppression
                .clone()
                .filter(|held| held.rule_id.is_none() && held.holds_at(self.last_seen_at));
        }
        if self.suppression.is_none() {
            self.suppression = rules.suppression_of(self);
        }
        self.status = self.status_now();
    }

    /// What a scan writes instead of `self` once a hand triage changed the
    /// finding after the scan read it (`now`: as it is now; `None`: gone,
    /// with its account): a sighting is settled again against it; a
    /// resolution resolves it, unless it is resolved already. `None`:
    /// nothing to write.
    pub fn rewritten(
        &self,
        now: Option<&Finding>,
        rules: &crate::suppression_rules::Rules,
    ) -> Option<Finding> {
        let now = now?;
        match self.resolved_at {
            Some(at) => now.resolved_at.is_none().then(|| now.clone().resolved(at)),
            None => {
                let mut again = self.clone();
                again.suppression = None;
                again.settle(Some(now), rules);
                Some(again)
            }
        }
    }

    /// The stable id of `rule` on `resource_id`.
    pub fn id_of(rule: &str, resource_id: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(format!("{rule}\n{resource_id}").as_bytes())[..16])
    }
}

/// What a scanner reports, before the ignore lists and storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub rule: &'static str,
    pub title: String,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub score: f64,
    pub details: BTreeMap<String, String>,
}

/// The account's resource type and regex ignore lists.
pub struct IgnoreLists {
    types: Vec<String>,
    patterns: Vec<regex::Regex>,
}

impl IgnoreLists {
    pub fn new(types: &[String], patterns: &[String]) -> Result<Self> {
        let patterns = patterns
            .iter()
            .map(|pattern| {
                regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|err| Error::invalid("resource_regex_ignore_list", err.to_string()))
            })
            .collect::<Result<_>>()?;
        Ok(IgnoreLists {
            types: types.to_vec(),
            patterns,
        })
    }

    pub fn ignores(&self, resource_type: &str, resource_id: &str) -> bool {
        self.types.iter().any(|t| t == resource_type)
            || self.patterns.iter().any(|p| p.is_match(resource_id))
    }
}

/// Status of a region's inventory sync (Carbon Black's values). Named
/// apart in the OpenAPI document from an organization's sync outcome: two
/// schemas of one name would overwrite each other there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = InventorySyncStatus)]
pub enum SyncStatus {
    NotStarted,
    InProgress,
    Success,
    Fail,
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InventorySync {
    pub status: SyncStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `scan:<scan id>` of the scan that synced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Timestamp>,
}

impl Scan {
    /// Each region of this scan with one inventory sync, as of `at`.
    pub fn region_results(
        &self,
        status: SyncStatus,
        message: &str,
        code: &str,
        at: Timestamp,
    ) -> Vec<(String, InventorySync)> {
        let sync = InventorySync {
            status,
            message: Some(message.to_string()),
            code: Some(code.to_string()),
            synced_by: Some(format!("scan:{}", self.scan_id)),
            last_sync_time: Some(at),
        };
        self.regions
            .iter()
            .map(|region| (region.clone(), sync.clone()))
            .collect()
    }
}

impl SyncStatus {
    /// The code a region's inventory sync carries for this status.
    pub fn code(self) -> &'static str {
        match self {
            SyncStatus::NotStarted => "NOT_STARTED",
            SyncStatus::InProgress => "IN_PROGRESS",
            SyncStatus::Success => "OK",
            SyncStatus::Fail => "FAIL",
            SyncStatus::TimedOut => "TIMED_OUT",
        }
    }
}

impl InventorySync {
    pub fn not_started() -> Self {
        InventorySync {
            status: SyncStatus::NotStarted,
            message: None,
            code: None,
            synced_by: None,
            last_sync_time: None,
        }
    }
}

/// When a region joined the account's list, and who added it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegionAdded {
    pub at: Timestamp,
    pub by: String,
}

/// One region of an account, as `GET /v1/accounts/{id}/regions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegionStatus {
    pub id: String,
    pub name: String,
    /// In the account's region_ignore_list: never scanned.
    pub ignored: bool,
    pub inventory_sync: InventorySync,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A severity filter: `severity` repeated and/or comma-separated, any case,
/// duplicates dropped, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Severities(pub Vec<Severity>);

impl<'de> Deserialize<'de> for Severities {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<String>::deserialize(deserializer)?;
        let mut severities = Vec::new();
        for text in values.iter().flat_map(|v| v.split(',')) {
            let severity = Severity::parse(text.trim()).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "'{}' is not a severity; use LOW, MEDIUM, HIGH or CRITICAL",
                    crate::validation::echo(text)
                ))
            })?;
            if !severities.contains(&severity) {
                severities.push(severity);
            }
        }
        Ok(Severities(severities))
    }
}

/// The regions a scan covers: `requested`, or the account's regions; never
/// those of the region_ignore_list.
pub fn scan_regions(
    account_regions: &[String],
    ignored: &[String],
    requested: Option<&[String]>,
    field: &str,
) -> Result<Vec<String>> {
    match requested {
        None => Ok(account_regions
            .iter()
            .filter(|region| !ignored.contains(region))
            .cloned()
            .collect()),
        Some(requested) => {
            crate::validation::regions(field, requested)?;
            for (index, region) in requested.iter().enumerate() {
                if !account_regions.contains(region) {
                    return Err(Error::invalid(
                        format!("{field}[{index}]"),
                        format!("region '{region}' is not one of the account's regions ({}); add it to the account first", account_regions.join(", ")),
                    ));
                }
                if ignored.contains(region) {
                    return Err(Error::invalid(
                        format!("{field}[{index}]"),
                        format!("region '{region}' is in the account's region_ignore_list; remove it from there to scan it"),
                    ));
                }
            }
            Ok(requested.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_external_source_takes_a_scanner_credential() {
        let catalogue = Catalogue::with_external(
            r#"[{"name": "aws:guard-duty", "description": "d", "max_score": 10, "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"}]"#,
        )
        .unwrap();
        assert_eq!(
            catalogue.external("aws:guard-duty").unwrap().name,
            "aws:guard-duty"
        );
        let built_in = catalogue.external("aws:iam").unwrap_err().to_string();
        assert!(
            built_in.contains("external ones: aws:guard-duty"),
            "{built_in}"
        );
        let none = Catalogue::default()
            .external("aws:guard-duty")
            .unwrap_err()
            .to_string();
        assert!(none.contains("external ones: none"), "{none}");
    }

    #[test]
    fn catalogue_reads_external_sources() {
        let catalogue = Catalogue::with_external(
            r#"[{"name":"aws:guard-duty","description":"GuardDuty","max_score":10,"queue_url":"http://q"}]"#,
        )
        .unwrap();
        assert!(catalogue.get(IAM_DATA_SOURCE).unwrap().built_in);
        let guard = catalogue.get("aws:guard-duty").unwrap();
        assert!(!guard.built_in);
        assert_eq!(guard.queue_url.as_deref(), Some("http://q"));
        // The queue URL stays inside.
        assert!(!serde_json::to_string(guard).unwrap().contains("http://q"));
    }

    #[test]
    fn catalogue_refuses_bad_entries() {
        for json in [
            r#"[{"name":"aws:iam","description":"x","max_score":1,"queue_url":"q"}]"#,
            r#"[{"name":"Bad Name","description":"x","max_score":1,"queue_url":"q"}]"#,
            r#"[{"name":"aws:x","description":"x","max_score":1}]"#,
            r#"[{"name":"aws:x","description":"x","max_score":0,"queue_url":"q"}]"#,
            "{",
        ] {
            assert!(Catalogue::with_external(json).is_err(), "{json}");
        }
    }

    #[test]
    fn attach_keeps_external_id_while_the_role_stays() {
        let now = Timestamp::now();
        let account_role = "arn:aws:iam::111111111111:role/Audit";
        let own = "arn:aws:iam::111111111111:role/Other";
        let request = |role: Option<&str>| AttachRequest {
            role_arn: role.map(str::to_string),
            ..Default::default()
        };
        let first = request(Some(own)).apply(
            "111111111111",
            Some(account_role),
            "aws:iam",
            None,
            "k",
            now,
        );
        let id = first
            .external_id
            .clone()
            .expect("own role gets an external id");
        assert_eq!(id.len(), 40);
        let again = request(Some(own)).apply(
            "111111111111",
            Some(account_role),
            "aws:iam",
            Some(&first),
            "k",
            now,
        );
        assert_eq!(again.external_id.as_deref(), Some(id.as_str()));
        let same_as_account = request(Some(account_role)).apply(
            "111111111111",
            Some(account_role),
            "aws:iam",
            Some(&first),
            "k",
            now,
        );
        assert_eq!(same_as_account.role_arn, None);
        assert_eq!(same_as_account.external_id, None);
        assert_eq!(same_as_account.status, AttachmentStatus::Configured);
    }

    #[test]
    fn scan_regions_respects_the_ignore_list() {
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let ignored = vec!["eu-west-1".to_string()];
        assert_eq!(
            scan_regions(&regions, &ignored, None, "regions").unwrap(),
            ["us-east-1"]
        );
        assert!(scan_regions(&regions, &ignored, Some(&["eu-west-1".into()]), "regions").is_err());
        assert!(scan_regions(&regions, &ignored, Some(&["us-west-2".into()]), "regions").is_err());
    }

    #[test]
    fn ignore_lists_match_type_or_pattern() {
        let lists = IgnoreLists::new(&["AWS.IAM.Role".into()], &["user/tmp-".into()]).unwrap();
        assert!(lists.ignores("AWS.IAM.Role", "arn:aws:iam::1:role/x"));
        assert!(lists.ignores("AWS.IAM.User", "arn:aws:iam::1:user/tmp-1"));
        assert!(!lists.ignores("AWS.IAM.User", "arn:aws:iam::1:user/alice"));
    }

    #[test]
    fn suppressions_are_checked_and_expire() {
        let now = Timestamp::parse("2026-12-03T10:00:00Z").unwrap();
        let ask = |reason: &str, until: Option<&str>| {
            SuppressRequest {
                reason: reason.into(),
                until: until.map(str::to_string),
            }
            .suppression("key", now)
        };
        let field = |result: Result<Suppression>| match result {
            Err(Error::Invalid { field, .. }) => field.unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(ask(" ", None)), "reason");
        assert_eq!(field(ask(&"x".repeat(501), None)), "reason");
        assert_eq!(field(ask("ok", Some("soon"))), "until");
        assert_eq!(field(ask("ok", Some("2026-12-03T10:00:00Z"))), "until");
        assert_eq!(field(ask("ok", Some("2028-01-01T00:00:00Z"))), "until");
        let held = ask("ok", Some("2026-12-04T00:00:00Z")).unwrap();
        assert!(held.holds_at(now));
        assert!(!held.holds_at(Timestamp::parse("2026-12-04T00:00:00Z").unwrap()));
        assert!(ask("ok", None).unwrap().holds_at(now));
    }

    #[test]
    fn the_summary_counts_held_suppressions_apart() {
        let mut attachment: Attachment = serde_json::from_value(serde_json::json!({
            "account_id": "000000000001", "data_source": "aws:iam", "status": "OK",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "created_by": "key", "updated_by": "key",
            "findings": {"total": 3, "critical": 1, "high": 2, "medium": 0, "low": 0},
        }))
        .unwrap();
        let now = Timestamp::parse("2026-12-03T10:00:00Z").unwrap();
        attachment.suppressed.insert(
            "a".into(),
            SuppressedFinding {
                severity: Severity::High,
                until: None,
            },
        );
        attachment.suppressed.insert(
            "b".into(),
            SuppressedFinding {
                severity: Severity::Critical,
                until: Timestamp::parse("2026-12-03T09:00:00Z"),
            },
        );
        let counts = attachment.findings_as_of(now);
        assert_eq!(
            (counts.open.total, counts.open.critical, counts.open.high),
            (2, 1, 1)
        );
        assert_eq!((counts.suppressed.total, counts.suppressed.high), (1, 1));
    }

    #[test]
    fn severity_bands() {
        assert_eq!(Severity::of_score(9.5), Severity::Critical);
        assert_eq!(Severity::of_score(7.0), Severity::High);
        assert_eq!(Severity::of_score(4.0), Severity::Medium);
        assert_eq!(Severity::of_score(1.0), Severity::Low);
        assert_eq!(Finding::id_of("R", "arn").len(), 32);
        assert_ne!(Finding::id_of("R", "a"), Finding::id_of("S", "a"));
    }
}
