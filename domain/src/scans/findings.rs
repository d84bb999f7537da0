//! Findings: what a scan saw, their severity, triage (suppression) and
//! the tallies an attachment keeps.

use super::{Attachment, MAX_REASON_LEN};
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

/// Where a read of the severity order resumes from a cursor, kept inside
/// the key range `status` reads (open and suppressed findings sort before
/// the resolved ones, which are a range of their own): DynamoDB refuses a
/// start key outside the range, so a cursor before the range starts it
/// afresh, and one past its end reads nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeAt<'a> {
    /// From the range's first item (no cursor, or one before the range).
    Start,
    /// After this severity order.
    After(&'a str),
    /// The cursor is past the range: the page is empty.
    PastTheEnd,
}

impl<'a> ResumeAt<'a> {
    pub fn of(status: Option<FindingStatus>, cursor: Option<&'a str>) -> Self {
        let Some(cursor) = cursor else {
            return ResumeAt::Start;
        };
        // Resolved findings' orders start with their rank, above all others.
        let resolved = cursor >= RESOLVED_RANK.to_string().as_str();
        match status {
            Some(FindingStatus::Resolved) if !resolved => ResumeAt::Start,
            Some(FindingStatus::Open | FindingStatus::Suppressed) if resolved => {
                ResumeAt::PastTheEnd
            }
            _ => ResumeAt::After(cursor),
        }
    }
}

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
    /// A data source's stored findings after `scan_id` ended: those it
    /// stored, those kept as they are, and those it resolved (earlier ones
    /// it did not see). A scan that did not succeed saw only part of the
    /// account and resolves nothing; a resolved finding stays as it is.
    pub fn settle_after(
        stored: Vec<Finding>,
        scan_id: &str,
        succeeded: bool,
        now: Timestamp,
    ) -> (Vec<Finding>, Vec<Finding>, Vec<Finding>) {
        let (this, earlier): (Vec<_>, Vec<_>) =
            stored.into_iter().partition(|f| f.scan_id == scan_id);
        let (gone, kept): (Vec<_>, Vec<_>) = earlier
            .into_iter()
            .partition(|f| succeeded && f.resolved_at.is_none());
        let resolved = gone.into_iter().map(|f| f.resolved(now)).collect();
        (this, kept, resolved)
    }

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
