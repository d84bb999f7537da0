//! Suppressing a finding by hand, and lifting it: whether it may be done
//! and what it changes. The store writes the finding and its attachment's
//! `suppressed` map in one transaction, on the condition that the map is
//! as read here.

use super::{Attachment, Finding, FindingStatus, SuppressedFinding, Suppression, MAX_SUPPRESSED};
use crate::time::Timestamp;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// A hand triage, decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Triage {
    /// The finding as it reads once written.
    pub finding: Finding,
    /// The attachment's map before and after; `None` when the data source
    /// is detached (its findings stay, uncounted: nothing to keep).
    pub suppressed: Option<SuppressedChange>,
}

/// An attachment's `suppressed` map (finding id → severity, until).
#[derive(Debug, Clone, PartialEq)]
pub struct SuppressedChange {
    /// As read: the write's condition.
    pub before: BTreeMap<String, SuppressedFinding>,
    pub after: BTreeMap<String, SuppressedFinding>,
}

impl Finding {
    /// Suppress it (`Some`) or lift its suppression (`None`) by hand, as
    /// of `now`. Refused when it is resolved, when a suppression rule
    /// holds it (rules are changed at the rule), or when its data source
    /// already keeps [`MAX_SUPPRESSED`] suppressed findings.
    pub fn triage(
        mut self,
        attachment: Option<&Attachment>,
        suppression: Option<&Suppression>,
        now: Timestamp,
    ) -> Result<Triage> {
        let finding_id = &self.finding_id;
        if self.resolved_at.is_some() {
            return Err(Error::Refused {
                code: "finding_resolved",
                message: format!(
                    "finding {finding_id} is resolved: the last scan no longer saw it, so there is nothing to suppress or lift"
                ),
            });
        }
        if let Some(rule) = self
            .suppression
            .as_ref()
            .filter(|held| held.holds_at(now))
            .and_then(|held| held.rule_id.as_ref())
        {
            return Err(Error::Refused {
                code: "suppressed_by_rule",
                message: format!(
                    "finding {finding_id} is suppressed by suppression rule {rule}; change it with /v1/suppression-rules (rules are applied at each scan)"
                ),
            });
        }
        let suppressed = match attachment {
            Some(attachment) => Some(self.suppressed_change(attachment, suppression)?),
            None => None,
        };
        self.suppression = suppression.cloned();
        self.triage_revision += 1;
        self.status = match suppression {
            Some(_) => FindingStatus::Suppressed,
            None => FindingStatus::Open,
        };
        Ok(Triage {
            finding: self.as_of(now),
            suppressed,
        })
    }

    fn suppressed_change(
        &self,
        attachment: &Attachment,
        suppression: Option<&Suppression>,
    ) -> Result<SuppressedChange> {
        let mut after = attachment.suppressed.clone();
        let held = after.contains_key(&self.finding_id);
        match suppression {
            Some(_) if !held && after.len() >= MAX_SUPPRESSED => {
                return Err(Error::Refused {
                    code: "too_many_suppressions",
                    message: format!(
                        "{} on account {} has {MAX_SUPPRESSED} suppressed findings, the most it keeps; lift some first (or ignore the resources with the account's ignore lists)",
                        self.data_source, self.account_id
                    ),
                });
            }
            Some(suppression) => {
                let entry = SuppressedFinding {
                    severity: self.severity,
                    until: suppression.until,
                };
                after.insert(self.finding_id.clone(), entry);
            }
            None => {
                after.remove(&self.finding_id);
            }
        }
        Ok(SuppressedChange {
            before: attachment.suppressed.clone(),
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scans::Severity;

    fn finding() -> Finding {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        Finding {
            finding_id: "f1".into(),
            account_id: "123456789012".into(),
            data_source: "aws:iam".into(),
            rule: "IAM_USER_WITHOUT_MFA".into(),
            title: "t".into(),
            resource_type: "AWS.IAM.User".into(),
            resource_id: "arn:aws:iam::123456789012:user/a".into(),
            region: "global".into(),
            severity: Severity::High,
            score: 7.0,
            details: BTreeMap::new(),
            first_seen_at: now,
            last_seen_at: now,
            scan_id: "s".into(),
            status: FindingStatus::Open,
            suppression: None,
            resolved_at: None,
            triage_revision: 4,
        }
    }

    fn suppression(rule_id: Option<&str>, until: Option<Timestamp>) -> Suppression {
        Suppression {
            reason: "accepted risk".into(),
            until,
            by: "key1".into(),
            at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            rule_id: rule_id.map(str::to_string),
        }
    }

    fn attachment_with(suppressed: usize) -> Attachment {
        let mut attachment: Attachment = serde_json::from_value(serde_json::json!({
            "account_id": "123456789012",
            "data_source": "aws:iam",
            "status": "OK",
            "created_at": "2026-01-01T00:00:00Z",
            "created_by": "key1",
            "updated_at": "2026-01-01T00:00:00Z",
            "updated_by": "key1",
        }))
        .unwrap();
        for n in 0..suppressed {
            attachment.suppressed.insert(
                format!("other{n}"),
                SuppressedFinding {
                    severity: Severity::Low,
                    until: None,
                },
            );
        }
        attachment
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-02-01T00:00:00Z").unwrap()
    }

    #[test]
    fn suppressing_counts_it_on_the_attachment_and_bumps_the_revision() {
        let until = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
        let wanted = suppression(None, Some(until));
        let attachment = attachment_with(2);
        let triage = finding()
            .triage(Some(&attachment), Some(&wanted), now())
            .unwrap();
        assert_eq!(triage.finding.status, FindingStatus::Suppressed);
        assert_eq!(triage.finding.triage_revision, 5);
        assert_eq!(triage.finding.suppression, Some(wanted));
        let change = triage.suppressed.unwrap();
        assert_eq!(change.before, attachment.suppressed);
        assert_eq!(change.after.len(), 3);
        assert_eq!(
            change.after["f1"],
            SuppressedFinding {
                severity: Severity::High,
                until: Some(until)
            }
        );
    }

    #[test]
    fn lifting_removes_it_and_a_detached_source_keeps_nothing() {
        let mut held = finding();
        held.suppression = Some(suppression(None, None));
        held.status = FindingStatus::Suppressed;
        let mut attachment = attachment_with(1);
        attachment.suppressed.insert(
            "f1".into(),
            SuppressedFinding {
                severity: Severity::High,
                until: None,
            },
        );
        let triage = held.clone().triage(Some(&attachment), None, now()).unwrap();
        assert_eq!(triage.finding.status, FindingStatus::Open);
        assert_eq!(triage.finding.suppression, None);
        assert!(!triage.suppressed.unwrap().after.contains_key("f1"));
        let detached = held.triage(None, None, now()).unwrap();
        assert_eq!(detached.suppressed, None);
        assert_eq!(detached.finding.triage_revision, 5);
    }

    #[test]
    fn refusals_say_why() {
        let code = |result: Result<Triage>| match result {
            Err(Error::Refused { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let wanted = suppression(None, None);
        let mut resolved = finding();
        resolved.resolved_at = Some(now());
        assert_eq!(
            code(resolved.triage(None, Some(&wanted), now())),
            "finding_resolved"
        );
        let mut by_rule = finding();
        by_rule.suppression = Some(suppression(Some("rule1"), None));
        assert_eq!(
            code(by_rule.clone().triage(None, None, now())),
            "suppressed_by_rule"
        );
        // A rule's suppression that has expired no longer holds it.
        by_rule.suppression = Some(suppression(
            Some("rule1"),
            Some(Timestamp::parse("2026-01-15T00:00:00Z").unwrap()),
        ));
        assert!(by_rule.triage(None, Some(&wanted), now()).is_ok());
        let full = attachment_with(MAX_SUPPRESSED);
        assert_eq!(
            code(finding().triage(Some(&full), Some(&wanted), now())),
            "too_many_suppressions"
        );
        // Already held: updating it takes no new place.
        let mut holding = attachment_with(MAX_SUPPRESSED - 1);
        holding.suppressed.insert(
            "f1".into(),
            SuppressedFinding {
                severity: Severity::High,
                until: None,
            },
        );
        assert!(finding()
            .triage(Some(&holding), Some(&wanted), now())
            .is_ok());
        // Lifting is never refused for the count.
        assert!(finding().triage(Some(&full), None, now()).is_ok());
    }
}
