//! Scans: one run of a data source on an account, by region, and the
//! jobs that carry them.

use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

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
