//! One attempt at a claimed scan, decided without AWS: whether it may run
//! ([`Ready::check`]), what of a scanner's report becomes findings, whether
//! a failed attempt ends the scan or is tried again, and how a region's run
//! and a regional scan end. The use case (`usecases::scan_run` in the
//! service crate) makes the calls around these decisions.

use super::{
    Attachment, Catalogue, DataSource, Finding, IgnoreLists, Observation, RegionRun,
    RegionRunStatus, Scan, ScanError, ScanErrorCode, ScanStatus, Severity, SyncStatus,
};
use crate::account::Account;
use crate::time::Timestamp;
use crate::trust::VerificationCode;
use std::collections::HashSet;

/// How an attempt ended, when it did not succeed.
#[derive(Debug)]
pub enum AttemptFailure {
    /// Another attempt would fail the same way: the scan fails now.
    Refused(ScanError),
    /// Another attempt may succeed: the job is delivered again.
    Transient(ScanError),
}

impl AttemptFailure {
    pub fn refused(code: ScanErrorCode, message: &str, at: Timestamp) -> Self {
        AttemptFailure::Refused(ScanError {
            code,
            message: message.to_string(),
            at,
        })
    }

    pub fn transient(code: ScanErrorCode, message: &str, at: Timestamp) -> Self {
        AttemptFailure::Transient(ScanError {
            code,
            message: message.to_string(),
            at,
        })
    }

    /// A role that could not be assumed: STS's passing troubles are tried
    /// again, the role's own refusals end the scan.
    pub fn of_assumption(code: VerificationCode, message: String, at: Timestamp) -> Self {
        let error = ScanError {
            code: code.into(),
            message,
            at,
        };
        match code {
            VerificationCode::Throttled
            | VerificationCode::Timeout
            | VerificationCode::Internal => AttemptFailure::Transient(error),
            _ => AttemptFailure::Refused(error),
        }
    }
}

impl ScanError {
    /// The inventory status a region is left in by a scan that failed
    /// for good with this error.
    pub fn final_sync(&self) -> SyncStatus {
        if self.code == ScanErrorCode::Timeout {
            SyncStatus::TimedOut
        } else {
            SyncStatus::Fail
        }
    }
}

/// What a claimed scan runs with, once every precondition holds.
#[derive(Debug)]
pub struct Ready<'a> {
    pub account: Account,
    pub attachment: Attachment,
    pub source: &'a DataSource,
    pub role_arn: String,
    pub external_id: String,
}

impl<'a> Ready<'a> {
    /// Whether a claimed scan may run: its account is there and active,
    /// its data source attached and configured, and a role to assume (the
    /// attachment's own, else the account's).
    pub fn check(
        catalogue: &'a Catalogue,
        account: Option<Account>,
        attachment: Option<Attachment>,
        data_source: &str,
        now: Timestamp,
    ) -> Result<Self, AttemptFailure> {
        let refused = |code, message| AttemptFailure::refused(code, message, now);
        let account = account
            .ok_or_else(|| refused(ScanErrorCode::AccountDeleted, "the account was deleted"))?;
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

    /// Observations of `scan` in `region` as findings, less what the
    /// account's ignore lists exclude; scores capped at the source's maximum.
    pub fn findings(
        &self,
        scan: &Scan,
        observations: Vec<Observation>,
        region: &str,
        seen_at: Timestamp,
    ) -> Result<Vec<Finding>, AttemptFailure> {
        let fields = &self.account.fields;
        let ignore = IgnoreLists::new(
            &fields.resource_type_ignore_list,
            &fields.resource_regex_ignore_list,
        )
        .map_err(|err| {
            AttemptFailure::refused(ScanErrorCode::InvalidIgnoreList, &err.to_string(), seen_at)
        })?;
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
                score: seen.score.min(self.source.max_score),
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

    /// The findings of a global scan's report to keep, with the scan's
    /// counts (resources, reported, ignored) set on `done`.
    pub fn kept(
        &self,
        done: &mut Scan,
        resources: u32,
        observations: Vec<Observation>,
        started: Timestamp,
    ) -> Result<Vec<Finding>, AttemptFailure> {
        done.counts.resources = resources;
        done.counts.findings = observations.len() as u32;
        let findings = self.findings(done, observations, "global", started)?;
        done.counts.ignored = done.counts.findings - findings.len() as u32;
        Ok(findings)
    }
}

/// How one delivery's run of a region ended, when no call failed.
#[derive(Debug)]
pub enum RegionEnd {
    /// Every resource read: the stored findings it did not see again,
    /// now resolved.
    Done { resolved: Vec<Finding> },
    /// Stopped before the deadline, after the checkpoint.
    Stopped,
}

impl RegionRun {
    /// Record how this delivery's run ended, on the job's last delivery
    /// or not. Returns the findings it resolved and, when the job should
    /// be delivered again, why.
    pub fn end(
        &mut self,
        ended: Result<RegionEnd, AttemptFailure>,
        final_attempt: bool,
        now: Timestamp,
    ) -> (Vec<Finding>, Option<String>) {
        let mut retry = None;
        let mut resolved = Vec::new();
        match ended {
            Ok(RegionEnd::Done { resolved: gone }) => {
                self.status = RegionRunStatus::Succeeded;
                resolved = gone;
            }
            Ok(RegionEnd::Stopped) => {
                let message = format!(
                    "stopped before the worker's deadline after {} resources; {}",
                    self.counts.resources,
                    if final_attempt {
                        "no deliveries are left"
                    } else {
                        "the next delivery resumes where it stopped"
                    }
                );
                self.status = if final_attempt {
                    RegionRunStatus::Failed
                } else {
                    RegionRunStatus::TimedOut
                };
                self.error = Some(ScanError {
                    code: ScanErrorCode::Timeout,
                    message: message.clone(),
                    at: now,
                });
                retry = (!final_attempt).then_some(message);
            }
            Err(AttemptFailure::Refused(refusal)) => {
                self.status = RegionRunStatus::Failed;
                self.error = Some(refusal);
            }
            Err(AttemptFailure::Transient(failure)) => {
                self.status = if final_attempt {
                    RegionRunStatus::Failed
                } else {
                    RegionRunStatus::Queued
                };
                retry = (!final_attempt).then(|| failure.message.clone());
                self.error = Some(failure);
            }
        }
        if self.status.is_final() {
            self.finished_at = Some(now);
        }
        self.lease_until = None;
        (resolved, retry)
    }

    /// The inventory sync this run leaves on the account's region.
    pub fn sync(&self) -> (SyncStatus, String) {
        let message = self.error.as_ref().map(|e| e.message.clone());
        match self.status {
            RegionRunStatus::Succeeded => (
                SyncStatus::Success,
                format!("{} queues read", self.counts.resources),
            ),
            RegionRunStatus::TimedOut => (SyncStatus::TimedOut, message.unwrap_or_default()),
            RegionRunStatus::Failed => (
                self.error
                    .as_ref()
                    .map_or(SyncStatus::Fail, ScanError::final_sync),
                message.unwrap_or_default(),
            ),
            RegionRunStatus::Queued | RegionRunStatus::Running => (
                SyncStatus::InProgress,
                format!("will be retried: {}", message.unwrap_or_default()),
            ),
        }
    }
}

impl Scan {
    /// The stored findings of a region this scan no longer saw: seen by
    /// an earlier scan, unresolved, and written by no delivery of this one.
    /// None for a `scan_only` scan, which changes nothing stored.
    pub fn unseen(
        &self,
        stored: Vec<Finding>,
        written: &HashSet<String>,
        now: Timestamp,
    ) -> Vec<Finding> {
        if self.scan_only {
            return Vec::new();
        }
        stored
            .into_iter()
            .filter(|f| {
                f.scan_id != self.scan_id
                    && f.resolved_at.is_none()
                    && !written.contains(&f.finding_id)
            })
            .map(|f| f.resolved(now))
            .collect()
    }

    /// End a regional scan whose regions are all final: its counts are
    /// the regions' sum, and it SUCCEEDED when every region did, else
    /// FAILED with each failed region's error.
    pub fn close_regional(&mut self, now: Timestamp) {
        self.counts = Default::default();
        self.errors.clear();
        for (region, run) in &self.region_runs {
            self.counts.add(&run.counts);
            if let (RegionRunStatus::Failed, Some(error)) = (run.status, &run.error) {
                self.errors.push(ScanError {
                    code: error.code,
                    message: format!("{region}: {}", error.message),
                    at: error.at,
                });
            }
        }
        self.status = if self.errors.is_empty() {
            ScanStatus::Succeeded
        } else {
            ScanStatus::Failed
        };
        self.finished_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(archived: bool, role: Option<&str>) -> Account {
        let mut account = Account::register(
            "000000000001".into(),
            crate::account::AccountFields {
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

    const ROLE: &str = "arn:aws:iam::000000000001:role/r";

    /// Ready to scan `account` (which has a role) with the built-in IAM source.
    fn ready(catalogue: &Catalogue, account: Account) -> Ready<'_> {
        let attachment = Some(attachment(None));
        Ready::check(
            catalogue,
            Some(account),
            attachment,
            "aws:iam",
            Timestamp::now(),
        )
        .unwrap()
    }

    fn code(result: Result<Ready<'_>, AttemptFailure>) -> String {
        match result {
            Err(AttemptFailure::Refused(error)) => error.code.as_str().to_string(),
            Err(AttemptFailure::Transient(error)) => format!("transient {}", error.code.as_str()),
            Ok(ready) => format!("ready {} {}", ready.role_arn, ready.external_id),
        }
    }

    #[test]
    fn a_scan_runs_only_when_every_precondition_holds() {
        let catalogue = Catalogue::default();
        let role = ROLE;
        let now = Timestamp::now();
        let check = |account, attachment, source| {
            code(Ready::check(&catalogue, account, attachment, source, now))
        };
        assert_eq!(
            check(None, Some(attachment(None)), "aws:iam"),
            "ACCOUNT_DELETED"
        );
        assert_eq!(
            check(
                Some(account(true, Some(role))),
                Some(attachment(None)),
                "aws:iam"
            ),
            "ACCOUNT_ARCHIVED"
        );
        let mut departed = account(false, Some(role));
        departed.departed = Some(crate::account::Departure {
            at: now,
            reason: crate::account::DepartureReason::Removed,
        });
        assert_eq!(
            check(Some(departed), Some(attachment(None)), "aws:iam"),
            "ACCOUNT_DEPARTED"
        );
        assert_eq!(
            check(Some(account(false, Some(role))), None, "aws:iam"),
            "DETACHED"
        );
        assert_eq!(
            check(
                Some(account(false, None)),
                Some(attachment(None)),
                "aws:iam"
            ),
            "ROLE_MISSING"
        );
        assert_eq!(
            check(
                Some(account(false, Some(role))),
                Some(attachment(None)),
                "aws:gone"
            ),
            "UNKNOWN_DATA_SOURCE"
        );
        let with_account_role = check(
            Some(account(false, Some(role))),
            Some(attachment(None)),
            "aws:iam",
        );
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
                )))),
                "aws:iam"
            ),
            "ready arn:aws:iam::000000000001:role/own own-id"
        );
    }

    fn observation(
        rule: &'static str,
        resource_type: &'static str,
        id: &str,
        score: f64,
    ) -> Observation {
        Observation {
            rule,
            title: format!("{rule} on {id}"),
            resource_type,
            resource_id: id.to_string(),
            score,
            details: Default::default(),
        }
    }

    #[test]
    fn ignore_lists_drop_findings_and_scores_are_capped() {
        let catalogue = Catalogue::default();
        let mut account = account(false, Some(ROLE));
        account.fields.resource_type_ignore_list = vec!["AWS.IAM.Role".into()];
        account.fields.resource_regex_ignore_list = vec!["^ci-".into()];
        let now = Timestamp::now();
        let ready = ready(&catalogue, account);
        let mut scan = Scan::queued("000000000001", "aws:iam", false, vec![], "key", now);
        let kept = ready
            .kept(
                &mut scan,
                7,
                vec![
                    observation("R1", "AWS.IAM.User", "alice", 99.0),
                    observation("R1", "AWS.IAM.User", "ci-bot", 5.0),
                    observation("R2", "AWS.IAM.Role", "admin", 9.0),
                ],
                now,
            )
            .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].resource_id, "alice");
        assert_eq!(kept[0].score, ready.source.max_score, "capped");
        assert_eq!(kept[0].region, "global");
        assert_eq!(kept[0].scan_id, scan.scan_id);
        assert_eq!(
            (
                scan.counts.resources,
                scan.counts.findings,
                scan.counts.ignored
            ),
            (7, 3, 2)
        );
    }

    #[test]
    fn a_bad_ignore_pattern_refuses_the_scan() {
        let catalogue = Catalogue::default();
        let mut account = account(false, Some(ROLE));
        account.fields.resource_regex_ignore_list = vec!["(".into()];
        let now = Timestamp::now();
        let ready = ready(&catalogue, account);
        let scan = Scan::queued("000000000001", "aws:iam", false, vec![], "key", now);
        match ready.findings(&scan, vec![], "global", now) {
            Err(AttemptFailure::Refused(error)) => {
                assert_eq!(error.code, ScanErrorCode::InvalidIgnoreList)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_assumption_failure_is_retried_only_when_sts_may_answer_otherwise() {
        let now = Timestamp::now();
        for (code, transient) in [
            (VerificationCode::Throttled, true),
            (VerificationCode::Timeout, true),
            (VerificationCode::Internal, true),
            (VerificationCode::AccessDenied, false),
            (VerificationCode::ExternalIdNotEnforced, false),
        ] {
            let failure = AttemptFailure::of_assumption(code, "m".into(), now);
            assert_eq!(
                matches!(failure, AttemptFailure::Transient(_)),
                transient,
                "{code:?}"
            );
        }
    }

    fn failed(code: ScanErrorCode) -> AttemptFailure {
        AttemptFailure::transient(code, "STS throttled", Timestamp::now())
    }

    #[test]
    fn a_region_run_ends_by_its_outcome_and_its_delivery() {
        let now = Timestamp::now();
        // Stopped before the deadline: resumed on the next delivery, failed on the last.
        let mut run = RegionRun::queued();
        run.counts.resources = 25;
        let (_, retry) = run.end(Ok(RegionEnd::Stopped), false, now);
        assert_eq!(run.status, RegionRunStatus::TimedOut);
        assert!(retry.unwrap().contains("after 25 resources"));
        assert_eq!(run.finished_at, None);
        assert_eq!(run.sync().0, SyncStatus::TimedOut);
        let (_, retry) = run.end(Ok(RegionEnd::Stopped), true, now);
        assert_eq!((run.status, retry), (RegionRunStatus::Failed, None));
        assert_eq!(run.finished_at, Some(now));
        assert_eq!(run.sync().0, SyncStatus::TimedOut, "a timeout stays one");

        // A passing failure queues the region again until the last delivery.
        let mut run = RegionRun::queued();
        run.lease_until = Some(now);
        let (_, retry) = run.end(Err(failed(ScanErrorCode::Throttled)), false, now);
        assert_eq!(run.status, RegionRunStatus::Queued);
        assert_eq!(retry.as_deref(), Some("STS throttled"));
        assert_eq!(run.lease_until, None, "the lease is given back");
        assert!(run.sync().1.starts_with("will be retried: "));
        let (_, retry) = run.end(Err(failed(ScanErrorCode::Throttled)), true, now);
        assert_eq!((run.status, retry), (RegionRunStatus::Failed, None));
        assert_eq!(run.sync().0, SyncStatus::Fail);

        // A refusal fails the region at once; a finished run hands on what it resolved.
        let mut run = RegionRun::queued();
        let refusal = AttemptFailure::refused(ScanErrorCode::AccessDenied, "denied", now);
        assert_eq!(run.end(Err(refusal), false, now).1, None);
        assert_eq!(run.status, RegionRunStatus::Failed);
        let mut run = RegionRun::queued();
        run.counts.resources = 3;
        let (resolved, retry) = run.end(Ok(RegionEnd::Done { resolved: vec![] }), false, now);
        assert!(resolved.is_empty() && retry.is_none());
        assert_eq!(
            run.sync(),
            (SyncStatus::Success, "3 queues read".to_string())
        );
    }

    #[test]
    fn a_region_resolves_only_what_no_delivery_of_this_scan_saw() {
        let now = Timestamp::now();
        let scan = Scan::queued("000000000001", "aws:sqs", false, vec![], "key", now);
        let catalogue = Catalogue::default();
        let ready = ready(&catalogue, account(false, Some(ROLE)));
        let stored = |id: &str, scan_id: &str, resolved: bool| {
            let mut finding = ready
                .findings(
                    &scan,
                    vec![observation("R", "AWS.SQS.Queue", id, 1.0)],
                    "eu-west-1",
                    now,
                )
                .unwrap()
                .remove(0);
            finding.scan_id = scan_id.to_string();
            finding.resolved_at = resolved.then_some(now);
            finding
        };
        let earlier = vec![
            stored("seen-again", "earlier", false),
            stored("gone", "earlier", false),
            stored("gone-before", "earlier", true),
            stored("this-scan", &scan.scan_id, false),
        ];
        let written: HashSet<String> = [earlier[0].finding_id.clone()].into();
        let resolved = scan.unseen(earlier.clone(), &written, now);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].resource_id, "gone");
        assert_eq!(resolved[0].resolved_at, Some(now));
        let mut only = scan.clone();
        only.scan_only = true;
        assert!(only.unseen(earlier, &written, now).is_empty());
    }

    #[test]
    fn a_regional_scan_closes_with_its_regions_sum_and_failures() {
        let now = Timestamp::now();
        let mut scan = Scan::queued(
            "000000000001",
            "aws:sqs",
            false,
            vec!["eu-west-1".into(), "us-east-1".into()],
            "key",
            now,
        )
        .fanned_out();
        for (region, run) in scan.region_runs.iter_mut() {
            run.counts.resources = 2;
            run.status = RegionRunStatus::Succeeded;
            if region == "us-east-1" {
                run.status = RegionRunStatus::Failed;
                run.error = Some(ScanError {
                    code: ScanErrorCode::AccessDenied,
                    message: "denied".into(),
                    at: now,
                });
            }
        }
        scan.close_regional(now);
        assert_eq!(scan.status, ScanStatus::Failed);
        assert_eq!(scan.counts.resources, 4);
        assert_eq!(scan.errors.len(), 1);
        assert_eq!(scan.errors[0].message, "us-east-1: denied");
        scan.region_runs.get_mut("us-east-1").unwrap().status = RegionRunStatus::Succeeded;
        scan.close_regional(now);
        assert_eq!(scan.status, ScanStatus::Succeeded, "{:?}", scan.errors);
        assert_eq!(scan.counts.resources, 4, "counted once, not added again");
    }
}
