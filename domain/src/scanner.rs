//! External scanners reporting back: their credentials, and what they
//! upload (pages of findings, then the end of the scan).
//!
//! An external data source's queue is the deployment's, shared by every
//! tenant, so its scanner is the operator's too: a scanner credential
//! belongs to the deployment and one data source (created with the admin
//! CLI, shown once, stored hashed, revocable). It can upload only to scans
//! of its data source, and nothing else; an API key cannot upload at all.
//!
//! A token reads `osc_<credential id>_<secret>`: the id in the clear makes
//! authentication one GetItem; the 256-bit secret is compared in constant
//! time to its hash.

use crate::crypto;
use crate::scans::{
    Finding, IgnoreLists, Scan, ScanError, ScanErrorCode, ScanStatus, Severity, SyncStatus,
};
use crate::time::Timestamp;
use crate::validation::text;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use utoipa::ToSchema;

const PREFIX: &str = "osc";
/// Findings one page may carry.
pub const MAX_PAGE_FINDINGS: usize = 1000;
/// Pages one scan may upload: with [`MAX_PAGE_FINDINGS`], 50,000 findings,
/// which bounds what a completion reads to resolve the ones not seen.
pub const MAX_PAGES: u32 = 50;

pub use crate::ids::{is_rule_name, RULE_PATTERN};
pub const MAX_TITLE_LEN: usize = 512;
pub const MAX_RESOURCE_ID_LEN: usize = 2048;
pub const MAX_DETAILS: usize = 50;
pub const MAX_DETAIL_LEN: usize = 1024;
/// Why a FAILED scan failed.
pub const MAX_ERROR_LEN: usize = 1024;

static RULE: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(RULE_PATTERN).unwrap());
static RESOURCE_TYPE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(RULE_PATTERN).unwrap());

/// A scanner credential as stored; the secret itself never is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerCredential {
    pub credential_id: String,
    pub data_source: String,
    pub name: String,
    pub secret_hash: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

/// A credential as an operator sees it: everything but the hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScannerCredentialView {
    pub credential_id: String,
    pub data_source: String,
    pub name: String,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl From<&ScannerCredential> for ScannerCredentialView {
    fn from(credential: &ScannerCredential) -> Self {
        ScannerCredentialView {
            credential_id: credential.credential_id.clone(),
            data_source: credential.data_source.clone(),
            name: credential.name.clone(),
            created_at: credential.created_at,
            revoked_at: credential.revoked_at,
        }
    }
}

/// A new credential and its token, shown once.
pub struct IssuedCredential {
    pub record: ScannerCredential,
    pub token: String,
}

/// The parts of a presented scanner token.
#[derive(Debug, PartialEq, Eq)]
pub struct PresentedCredential<'a> {
    pub credential_id: &'a str,
    pub secret: &'a str,
}

impl ScannerCredential {
    pub fn issue(data_source: &str, name: &str, now: Timestamp) -> Result<IssuedCredential> {
        text("name", name, crate::validation::MAX_NAME_LEN)?;
        let credential_id = ulid::Ulid::new().to_string();
        let secret = crypto::random_hex(32);
        Ok(IssuedCredential {
            token: format!("{PREFIX}_{credential_id}_{secret}"),
            record: ScannerCredential {
                credential_id,
                data_source: data_source.to_string(),
                name: name.to_string(),
                secret_hash: crypto::hash_secret(&secret),
                created_at: now,
                revoked_at: None,
            },
        })
    }

    /// The parts of a token of our form, else `None`.
    pub fn parse_token(token: &str) -> Option<PresentedCredential<'_>> {
        let rest = token.strip_prefix(PREFIX)?.strip_prefix('_')?;
        let (credential_id, secret) = rest.split_once('_')?;
        let well_formed = credential_id.len() == 26
            && credential_id.bytes().all(|b| b.is_ascii_alphanumeric())
            && secret.len() == 64
            && secret.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then_some(PresentedCredential {
            credential_id,
            secret,
        })
    }

    /// Whether `secret` is this live credential's (compared first, so
    /// timing does not tell a revoked credential from a wrong secret).
    pub fn accepts(&self, secret: &str) -> bool {
        crypto::secret_matches(secret, &self.secret_hash) && self.revoked_at.is_none()
    }
}

/// One finding as a scanner reports it.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportedFinding {
    /// The check that failed, e.g. `GUARDDUTY_HIGH_SEVERITY`.
    pub rule: String,
    pub title: String,
    /// e.g. `AWS.EC2.Instance`.
    pub resource_type: String,
    /// The resource's ARN (or another id unique in the account).
    pub resource_id: String,
    /// An AWS region id, or `global`.
    pub region: String,
    /// 0 to the data source's max_score.
    pub score: f64,
    /// Default: the band of the score (0-10 scale).
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Up to 50 string settings.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// `POST /v1/scans/{scan_id}/results`: one page of findings.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultsPage {
    /// 1-50. Sending a page again with the same findings is a no-op;
    /// with other findings, a 409.
    pub page: u32,
    /// At most 1,000.
    pub findings: Vec<ReportedFinding>,
}

/// `POST /v1/scans/{scan_id}/complete`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    pub status: CompletionStatus,
    /// Resources the scanner examined.
    #[serde(default)]
    pub resources: u32,
    /// Pages uploaded, if the scanner counts them: a number that differs
    /// from the pages received is a 409 that lists the missing ones.
    #[serde(default)]
    pub pages: Option<u32>,
    /// Why a FAILED scan failed (required then).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompletionStatus {
    Succeeded,
    Failed,
}

impl Completion {
    pub fn validate(&self) -> Result<()> {
        if let Some(pages) = self.pages {
            if pages > MAX_PAGES {
                return Err(Error::invalid(
                    "pages",
                    format!("a scan has at most {MAX_PAGES} pages"),
                ));
            }
        }
        match (&self.status, &self.error) {
            (CompletionStatus::Failed, None) => Err(Error::invalid(
                "error",
                "a FAILED scan needs an error: say what went wrong, for the account's owner",
            )),
            (CompletionStatus::Succeeded, Some(_)) => Err(Error::invalid(
                "error",
                "a SUCCEEDED scan has no error: send status FAILED with the error, or SUCCEEDED without one",
            )),
            (_, Some(message)) => text("error", message, MAX_ERROR_LEN).map(|_| ()),
            _ => Ok(()),
        }
    }
}

/// What one page leaves: the findings to store and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct PageFindings {
    pub findings: Vec<Finding>,
    /// Findings reported on the page.
    pub reported: u32,
    /// Dropped by the account's ignore lists.
    pub ignored: u32,
}

impl ResultsPage {
    /// Check every finding, naming the first bad field, and keep those
    /// the account's ignore lists allow, as findings of `scan`.
    // Long: every field of every reported finding checked, naming the first bad one, then the
    // ignore lists: one pass over the page.
    pub fn findings(
        self,
        scan: &ScanReference,
        max_score: f64,
        ignore: &IgnoreLists,
        now: Timestamp,
    ) -> Result<PageFindings> {
        if self.page == 0 || self.page > MAX_PAGES {
            return Err(Error::invalid(
                "page",
                format!("page must be 1-{MAX_PAGES}, got {}", self.page),
            ));
        }
        if self.findings.len() > MAX_PAGE_FINDINGS {
            return Err(Error::invalid(
                "findings",
                format!(
                    "a page carries at most {MAX_PAGE_FINDINGS} findings, got {}; split it",
                    self.findings.len()
                ),
            ));
        }
        let reported = self.findings.len() as u32;
        let mut kept: BTreeMap<String, Finding> = BTreeMap::new();
        let mut ignored = 0;
        for (index, seen) in self.findings.into_iter().enumerate() {
            let field = |name: &str| format!("findings[{index}].{name}");
            if !RULE.is_match(&seen.rule) {
                return Err(Error::invalid(
                    field("rule"),
                    "a rule is 1-128 letters, digits and _ . : - (e.g. GUARDDUTY_HIGH_SEVERITY)",
                ));
            }
            if !RESOURCE_TYPE.is_match(&seen.resource_type) {
                return Err(Error::invalid(
                    field("resource_type"),
                    "a resource type is 1-128 letters, digits and _ . : - (e.g. AWS.EC2.Instance)",
                ));
            }
            text(&field("title"), &seen.title, MAX_TITLE_LEN)?;
            text(
                &field("resource_id"),
                &seen.resource_id,
                MAX_RESOURCE_ID_LEN,
            )?;
            if seen.region != "global" && crate::regions::find(&seen.region).is_none() {
                return Err(Error::invalid(
                    field("region"),
                    format!(
                        "'{}' is not an AWS region id; use one like us-east-1, or global",
                        crate::validation::echo(&seen.region)
                    ),
                ));
            }
            if !(seen.score.is_finite() && (0.0..=max_score).contains(&seen.score)) {
                return Err(Error::invalid(
                    field("score"),
                    format!("score must be 0-{max_score} (the data source's max_score)"),
                ));
            }
            if seen.details.len() > MAX_DETAILS {
                return Err(Error::invalid(
                    field("details"),
                    format!("at most {MAX_DETAILS} details"),
                ));
            }
            for (key, value) in &seen.details {
                text(&field("details"), key, crate::validation::MAX_NAME_LEN)?;
                text(&field("details"), value, MAX_DETAIL_LEN)?;
            }
            if ignore.ignores(&seen.resource_type, &seen.resource_id) {
                ignored += 1;
                continue;
            }
            let finding_id = Finding::id_of(&seen.rule, &seen.resource_id);
            kept.insert(
                finding_id.clone(),
                Finding {
                    finding_id,
                    account_id: scan.account_id.clone(),
                    data_source: scan.data_source.clone(),
                    severity: seen
                        .severity
                        .unwrap_or_else(|| Severity::of_score(seen.score * 10.0 / max_score)),
                    rule: seen.rule,
                    title: seen.title,
                    resource_type: seen.resource_type,
                    resource_id: seen.resource_id,
                    region: seen.region,
                    score: seen.score,
                    details: seen.details,
                    first_seen_at: now,
                    last_seen_at: now,
                    status: Default::default(),
                    suppression: None,
                    resolved_at: None,
                    triage_revision: 0,
                    scan_id: scan.scan_id.clone(),
                },
            );
        }
        Ok(PageFindings {
            ignored,
            findings: kept.into_values().collect(),
            reported,
        })
    }
}

/// Where a scan handed to an external scanner lives: the scanner knows
/// only its id, across tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReference {
    pub scan_id: String,
    pub tenant: String,
    pub account_id: String,
    pub data_source: String,
}

/// What the store keeps of an uploaded page: what makes a repeat a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPage {
    pub page: u32,
    pub fingerprint: String,
    pub reported: u32,
    pub ignored: u32,
    pub kept: u32,
    /// Whether its findings are all written. A page is claimed (false)
    /// before any of its findings is written, so a refused page writes
    /// nothing, and completion waits for every claimed page to be written.
    /// Pages stored before claims existed were written: true.
    #[serde(default = "written_before_claims")]
    pub written: bool,
}

fn written_before_claims() -> bool {
    true
}

/// A scan as a completion ends it, and what its regions' inventory and
/// its attachment then say.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub scan: Scan,
    pub sync: SyncStatus,
    /// The regions' sync message.
    pub message: String,
    /// The attachment's status detail.
    pub detail: String,
}

/// What a completion found among the data source's stored findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredTotals {
    /// Stored by this scan.
    pub stored: u32,
    /// Resolved by it (earlier findings it did not see).
    pub resolved: u32,
}

impl Completion {
    /// The status the scan ends in.
    pub fn ends_in(&self) -> ScanStatus {
        match self.status {
            CompletionStatus::Succeeded => ScanStatus::Succeeded,
            CompletionStatus::Failed => ScanStatus::Failed,
        }
    }

    /// Every claimed page is written, and as many arrived as the scanner
    /// counts (if it counts them).
    pub fn check_pages(&self, scan_id: &str, pages: &[UploadedPage]) -> Result<()> {
        if let Some(unwritten) = pages.iter().find(|page| !page.written) {
            return Err(upload_in_progress(scan_id, unwritten.page));
        }
        let Some(expected) = self.pages else {
            return Ok(());
        };
        let missing: Vec<String> = (1..=expected)
            .filter(|number| !pages.iter().any(|p| p.page == *number))
            .map(|number| number.to_string())
            .collect();
        if missing.is_empty() && pages.len() as u32 == expected {
            return Ok(());
        }
        Err(Error::Refused {
            code: "pages_missing",
            message: format!(
                "the completion counts {expected} pages but {} arrived{}; upload the missing ones, then complete again",
                pages.len(),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" (missing: {})", missing.join(", "))
                }
            ),
        })
    }

    /// The scan as this completion ends it at `now`: status, counts (the
    /// pages' and, unless the scan only reports, the store's), the
    /// scanner's error.
    pub fn end(
        &self,
        scan: &Scan,
        pages: &[UploadedPage],
        totals: Option<StoredTotals>,
        now: Timestamp,
    ) -> Ending {
        let mut done = scan.clone();
        done.status = self.ends_in();
        done.finished_at = Some(now);
        done.counts.resources = self.resources;
        done.counts.findings = pages.iter().map(|p| p.reported).sum();
        done.counts.ignored = pages.iter().map(|p| p.ignored).sum();
        done.counts.resolved = 0;
        if let Some(totals) = totals {
            done.counts.stored = totals.stored;
            done.counts.resolved = totals.resolved;
        }
        let scan_id = &scan.scan_id;
        match &self.error {
            Some(error) if done.status == ScanStatus::Failed => {
                done.errors.push(ScanError {
                    code: ScanErrorCode::ScannerError,
                    message: error.clone(),
                    at: now,
                });
                Ending {
                    scan: done,
                    sync: SyncStatus::Fail,
                    message: error.clone(),
                    detail: format!("scan {scan_id} failed: {error} (SCANNER_ERROR)"),
                }
            }
            _ => {
                let counts = &done.counts;
                let detail = format!(
                    "scan {scan_id}: {} findings on {} resources, {} stored, {} ignored, {} resolved",
                    counts.findings, counts.resources, counts.stored, counts.ignored, counts.resolved
                );
                Ending {
                    scan: done,
                    sync: SyncStatus::Success,
                    message: "synced by the external scanner".to_string(),
                    detail,
                }
            }
        }
    }
}

/// A page is claimed but its findings are not all written yet.
pub fn upload_in_progress(scan_id: &str, page: u32) -> Error {
    Error::Refused {
        code: "upload_in_progress",
        message: format!(
            "a page of scan {scan_id} (page {page} or another) is still being uploaded; complete the scan once every upload has answered (an upload that failed: send that page again)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> ScanReference {
        ScanReference {
            scan_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            tenant: "acme".into(),
            account_id: "111111111111".into(),
            data_source: "acme:ext".into(),
        }
    }

    fn reported(rule: &str, resource: &str, score: f64) -> ReportedFinding {
        ReportedFinding {
            rule: rule.into(),
            title: "t".into(),
            resource_type: "AWS.EC2.Instance".into(),
            resource_id: resource.into(),
            region: "us-east-1".into(),
            score,
            severity: None,
            details: BTreeMap::new(),
        }
    }

    #[test]
    fn tokens_round_trip_and_only_their_secret_is_accepted() {
        let issued = ScannerCredential::issue("acme:ext", "fleet", Timestamp::now()).unwrap();
        let presented = ScannerCredential::parse_token(&issued.token).unwrap();
        assert_eq!(presented.credential_id, issued.record.credential_id);
        assert!(issued.record.accepts(presented.secret));
        assert!(!issued.record.accepts(&"0".repeat(64)));
        assert!(!issued.token.contains(&issued.record.secret_hash));
        let mut revoked = issued.record.clone();
        revoked.revoked_at = Some(Timestamp::now());
        assert!(!revoked.accepts(presented.secret));
        for bad in ["oak_acme_x_y", "osc_short_00", "osc_", ""] {
            assert!(ScannerCredential::parse_token(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_page_keeps_distinct_findings_within_the_ignore_lists() {
        let ignore = IgnoreLists::new(&[], &["i-ignored".into()]).unwrap();
        let page = ResultsPage {
            page: 1,
            findings: vec![
                reported("R", "arn:i-1", 7.5),
                reported("R", "arn:i-1", 7.5),
                reported("R", "arn:i-ignored", 2.0),
                reported("S", "arn:i-1", 9.5),
            ],
        };
        let kept = page
            .findings(&reference(), 10.0, &ignore, Timestamp::now())
            .unwrap();
        assert_eq!((kept.reported, kept.ignored), (4, 1));
        assert_eq!(kept.findings.len(), 2, "a finding reported twice is one");
        let severities: Vec<Severity> = kept.findings.iter().map(|f| f.severity).collect();
        assert!(severities.contains(&Severity::High) && severities.contains(&Severity::Critical));
        // On a 0-100 source, 75 is HIGH as 7.5 is on 0-10.
        let wide = ResultsPage {
            page: 1,
            findings: vec![reported("R", "arn:i-1", 75.0)],
        };
        let kept = wide
            .findings(&reference(), 100.0, &ignore, Timestamp::now())
            .unwrap();
        assert_eq!(kept.findings[0].severity, Severity::High);
    }

    #[test]
    fn bad_pages_name_the_field() {
        let ignore = IgnoreLists::new(&[], &[]).unwrap();
        let check = |page: u32, finding: ReportedFinding| match (ResultsPage {
            page,
            findings: vec![finding],
        })
        .findings(&reference(), 10.0, &ignore, Timestamp::now())
        {
            Err(Error::Invalid { field: Some(f), .. }) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(check(0, reported("R", "a", 1.0)), "page");
        assert_eq!(check(MAX_PAGES + 1, reported("R", "a", 1.0)), "page");
        assert_eq!(check(1, reported("R", "a", 10.5)), "findings[0].score");
        assert_eq!(check(1, reported("R", "a", f64::NAN)), "findings[0].score");
        assert_eq!(check(1, reported("bad rule", "a", 1.0)), "findings[0].rule");
        assert_eq!(check(1, reported("R", "", 1.0)), "findings[0].resource_id");
        let mut far = reported("R", "a", 1.0);
        far.region = "mars-1".into();
        assert_eq!(check(1, far), "findings[0].region");
        let many = ResultsPage {
            page: 1,
            findings: vec![reported("R", "a", 1.0); MAX_PAGE_FINDINGS + 1],
        };
        assert!(many
            .findings(&reference(), 10.0, &ignore, Timestamp::now())
            .is_err());
    }

    #[test]
    fn a_failed_completion_needs_its_error() {
        let completion = |status, error: Option<&str>| Completion {
            status,
            resources: 0,
            pages: None,
            error: error.map(str::to_string),
        };
        assert!(completion(CompletionStatus::Succeeded, None)
            .validate()
            .is_ok());
        assert!(completion(CompletionStatus::Failed, Some("boom"))
            .validate()
            .is_ok());
        assert!(completion(CompletionStatus::Failed, None)
            .validate()
            .is_err());
        let mut too_many = completion(CompletionStatus::Succeeded, None);
        too_many.pages = Some(MAX_PAGES + 1);
        assert!(too_many.validate().is_err());
    }

    fn page(page: u32, reported: u32, ignored: u32, written: bool) -> UploadedPage {
        UploadedPage {
            page,
            fingerprint: format!("f{page}"),
            reported,
            ignored,
            kept: reported - ignored,
            written,
        }
    }

    fn completion(status: CompletionStatus, pages: Option<u32>) -> Completion {
        Completion {
            status,
            resources: 40,
            pages,
            error: (status == CompletionStatus::Failed).then(|| "throttled".to_string()),
        }
    }

    #[test]
    fn a_completion_waits_for_every_page_it_counts() {
        let code = |result: Result<()>| match result {
            Err(Error::Refused { code, message }) => (code, message),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let done = completion(CompletionStatus::Succeeded, Some(3));
        let pages = [page(1, 5, 1, true), page(3, 2, 0, true)];
        let (refused, message) = code(done.check_pages("s1", &pages));
        assert_eq!(refused, "pages_missing");
        assert!(message.contains("(missing: 2)"), "{message}");
        let claimed = [
            page(1, 5, 1, true),
            page(2, 1, 0, false),
            page(3, 2, 0, true),
        ];
        assert_eq!(
            code(done.check_pages("s1", &claimed)).0,
            "upload_in_progress"
        );
        let all = [
            page(1, 5, 1, true),
            page(2, 1, 0, true),
            page(3, 2, 0, true),
        ];
        assert!(done.check_pages("s1", &all).is_ok());
        // Not counted by the scanner: what arrived is all there is.
        assert!(completion(CompletionStatus::Succeeded, None)
            .check_pages("s1", &pages)
            .is_ok());
    }

    #[test]
    fn a_completion_ends_the_scan_with_its_counts_or_its_error() {
        let scan: Scan = serde_json::from_value(serde_json::json!({
            "scan_id": "s1", "account_id": "123456789012", "data_source": "ext:scanner",
            "scan_only": false, "regions": ["us-east-1"], "status": "RUNNING",
            "requested_at": "2026-01-01T00:00:00Z", "requested_by": "key1",
            "counts": {"resources": 0, "findings": 0, "stored": 9, "ignored": 0, "resolved": 0}
        }))
        .unwrap();
        let now = Timestamp::parse("2026-01-01T00:10:00Z").unwrap();
        let pages = [page(1, 5, 1, true), page(2, 3, 2, true)];
        let totals = StoredTotals {
            stored: 4,
            resolved: 2,
        };
        let ending =
            completion(CompletionStatus::Succeeded, None).end(&scan, &pages, Some(totals), now);
        assert_eq!(ending.scan.status, ScanStatus::Succeeded);
        assert_eq!(ending.scan.finished_at, Some(now));
        assert_eq!(
            (
                ending.scan.counts.findings,
                ending.scan.counts.ignored,
                ending.scan.counts.stored
            ),
            (8, 3, 4)
        );
        assert_eq!(ending.sync, SyncStatus::Success);
        assert_eq!(
            ending.detail,
            "scan s1: 8 findings on 40 resources, 4 stored, 3 ignored, 2 resolved"
        );
        // A report-only scan keeps its stored count and resolves nothing.
        let failed = completion(CompletionStatus::Failed, None).end(&scan, &pages, None, now);
        assert_eq!(failed.scan.status, ScanStatus::Failed);
        assert_eq!(
            (failed.scan.counts.stored, failed.scan.counts.resolved),
            (9, 0)
        );
        assert_eq!(failed.sync, SyncStatus::Fail);
        assert_eq!(failed.scan.errors[0].code, ScanErrorCode::ScannerError);
        assert_eq!(failed.detail, "scan s1 failed: throttled (SCANNER_ERROR)");
    }
}
