//! A tenant's suppression rules: findings set aside by what they are (data
//! source, finding type, resource pattern) rather than one by one. A scan
//! applies them where it writes findings, so a rule reaches every finding a
//! later scan writes and leaves those it no longer matches.

// Rules and findings know each other: a rule matches findings, and a
// finding is settled against the rules when a scan writes it (scans.rs).
// One business area (findings), so the loop stays; nothing outside it
// takes part.
use crate::ids::is_data_source_name;
use crate::scans::{suppression_terms, Finding, Suppression};
use crate::time::Timestamp;
use crate::{Error, Result};
use regex::{RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// At most this many rules per tenant: each scan matches every finding
/// against each of them.
pub const MAX_RULES: usize = 100;

/// Longest resource pattern.
pub const MAX_PATTERN: usize = 256;

/// Most `*` in one resource pattern: enough for any ARN shape
/// (`arn:aws:iam::*:user/*`), few enough that patterns stay simple.
pub const MAX_WILDCARDS: usize = 8;

/// Findings a tenant has set aside by what they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuppressionRule {
    pub rule_id: String,
    /// Only this data source's findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    /// Only findings of this rule (a finding's `rule`, e.g.
    /// IAM_USER_WITHOUT_MFA). Stored before 2026-12 as `finding_type`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "finding_type"
    )]
    pub rule: Option<String>,
    /// Only findings whose resource id (ARN) matches: `*` any run of
    /// characters, `?` one character, the rest literally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_pattern: Option<String>,
    pub reason: String,
    /// Absent: until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// Body of `POST /v1/suppression-rules`: at least one of data_source,
/// rule and resource_pattern.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionRuleRequest {
    #[serde(default)]
    pub data_source: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
    /// Up to 256 characters, with at least one besides `*` and `?`.
    #[serde(default)]
    pub resource_pattern: Option<String>,
    /// Why (1-500 characters).
    pub reason: String,
    /// When it stops applying (RFC 3339, in the next 366 days).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

impl SuppressionRuleRequest {
    /// The rule this asks for, or the field that is wrong.
    pub fn rule(self, rule_id: String, by: &str, now: Timestamp) -> Result<SuppressionRule> {
        if let Some(name) = &self.data_source {
            if !is_data_source_name(name) {
                return Err(Error::invalid(
                    "data_source",
                    "a data source name is 1-64 characters of letters, digits and :._- (GET /v1/data-sources lists them)",
                ));
            }
        }
        if let Some(kind) = &self.rule {
            if !crate::ids::is_rule_name(kind) {
                return Err(Error::invalid(
                    "rule",
                    "rule is a finding's rule: 1-128 letters, digits and _ . : - (e.g. IAM_USER_WITHOUT_MFA)",
                ));
            }
        }
        if let Some(pattern) = &self.resource_pattern {
            crate::validation::text("resource_pattern", pattern, MAX_PATTERN)?;
            let stars = pattern.chars().filter(|c| *c == '*').count();
            if stars > MAX_WILDCARDS {
                return Err(Error::invalid(
                    "resource_pattern",
                    format!("a pattern has at most {MAX_WILDCARDS} '*', this one {stars}"),
                ));
            }
            if pattern.chars().all(|c| c == '*' || c == '?') {
                return Err(Error::invalid(
                    "resource_pattern",
                    "a pattern of only * and ? matches every resource; name the resources, e.g. arn:aws:iam::*:user/break-glass-*",
                ));
            }
        }
        if self.data_source.is_none() && self.rule.is_none() && self.resource_pattern.is_none() {
            return Err(Error::invalid(
                "rule",
                "a rule names at least one of data_source, rule and resource_pattern",
            ));
        }
        let until = suppression_terms(&self.reason, self.until.as_deref(), now)?;
        Ok(SuppressionRule {
            rule_id,
            data_source: self.data_source,
            rule: self.rule,
            resource_pattern: self.resource_pattern,
            reason: self.reason,
            until,
            created_by: by.to_string(),
            created_at: now,
        })
    }
}

/// The rules one scan applies, their resource patterns compiled once into
/// one automaton (a [`RegexSet`]): a finding's resource id is read once,
/// in time linear in its length, whatever the patterns, and tells which
/// patterns match. (Matching each `*` pattern by backtracking cost
/// O(n*m) per finding and rule: 100 adversarial rules took seconds of CPU
/// over one results page.)
#[derive(Default)]
pub struct Rules {
    /// In rule id order, each with the index of its pattern in `patterns`.
    rules: Vec<(SuppressionRule, Option<usize>)>,
    patterns: Option<RegexSet>,
}

/// A resource pattern as a regular expression: `*` any run of characters,
/// `?` one character, the rest literally, anchored at both ends.
pub fn pattern_regex(pattern: &str) -> String {
    crate::glob::to_regex(pattern, crate::glob::Wildcards::StarAndQuestion)
}

impl Rules {
    /// No rules: a finding keeps only what was suppressed by hand.
    pub fn none() -> Self {
        Rules::default()
    }

    /// A tenant's rules compiled once per process and reused while they
    /// stay the same: compiling 100 rules and warming the automaton's
    /// cache costs tens of milliseconds, matching a page after that about
    /// two. Any change of the rules (a rule made, deleted or expired is a
    /// different list) compiles them afresh.
    pub fn compiled(tenant: &str, rules: Vec<SuppressionRule>) -> std::sync::Arc<Rules> {
        use std::collections::HashMap;
        use std::sync::{Arc, LazyLock, Mutex};
        type Compiled = HashMap<String, (Vec<SuppressionRule>, Arc<Rules>)>;
        static COMPILED: LazyLock<Mutex<Compiled>> = LazyLock::new(Mutex::default);
        let mut sorted = rules;
        sorted.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        if let Ok(cache) = COMPILED.lock() {
            if let Some((held, compiled)) = cache.get(tenant) {
                if *held == sorted {
                    return compiled.clone();
                }
            }
        }
        let compiled = Arc::new(Rules::new(sorted.clone()));
        if let Ok(mut cache) = COMPILED.lock() {
            // Bounded: an instance serving many tenants starts over.
            if cache.len() >= 1024 {
                cache.clear();
            }
            cache.insert(tenant.to_string(), (sorted, compiled.clone()));
        }
        compiled
    }

    /// In rule id order (oldest first): the first match names the rule.
    pub fn new(mut rules: Vec<SuppressionRule>) -> Self {
        rules.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        rules.truncate(MAX_RULES);
        let mut expressions = Vec::new();
        let rules: Vec<(SuppressionRule, Option<usize>)> = rules
            .into_iter()
            .map(|rule| {
                let index = rule.resource_pattern.as_deref().map(|pattern| {
                    expressions.push(pattern_regex(pattern));
                    expressions.len() - 1
                });
                (rule, index)
            })
            .collect();
        let patterns = (!expressions.is_empty()).then(|| {
            // Bounded by MAX_RULES patterns of MAX_PATTERN characters, so
            // these limits hold for any rules a tenant can store.
            RegexSetBuilder::new(&expressions)
                .size_limit(64 << 20)
                .dfa_size_limit(16 << 20)
                .build()
                .expect("escaped wildcard patterns always compile")
        });
        Rules { rules, patterns }
    }

    /// The suppression of the first rule that matches `finding` and holds
    /// when it was seen.
    pub fn suppression_of(&self, finding: &Finding) -> Option<Suppression> {
        // Which patterns match: read once, and only if a rule needs it.
        let mut matched = None;
        let (rule, _) = self.rules.iter().find(|(rule, pattern)| {
            rule.until.is_none_or(|until| until > finding.last_seen_at)
                && rule
                    .data_source
                    .as_ref()
                    .is_none_or(|source| *source == finding.data_source)
                && rule.rule.as_ref().is_none_or(|kind| *kind == finding.rule)
                && pattern.is_none_or(|index| {
                    matched
                        .get_or_insert_with(|| {
                            self.patterns
                                .as_ref()
                                .map(|set| set.matches(&finding.resource_id))
                        })
                        .as_ref()
                        .is_some_and(|matches| matches.matched(index))
                })
        })?;
        Some(Suppression {
            reason: rule.reason.clone(),
            until: rule.until,
            by: rule.created_by.clone(),
            at: rule.created_at,
            rule_id: Some(rule.rule_id.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule stored when it said `finding_type` reads as `rule`; it is
    /// written back as `rule`.
    #[test]
    fn a_rule_stored_as_finding_type_reads_as_rule() {
        let stored = serde_json::json!({
            "rule_id": "r1", "finding_type": "IAM_ADMINISTRATOR_ACCESS", "reason": "x",
            "created_by": "k", "created_at": "2026-11-01T00:00:00.000Z",
        });
        let rule: SuppressionRule = serde_json::from_value(stored).unwrap();
        assert_eq!(rule.rule.as_deref(), Some("IAM_ADMINISTRATOR_ACCESS"));
        let written = serde_json::to_value(&rule).unwrap();
        assert_eq!(written["rule"], "IAM_ADMINISTRATOR_ACCESS");
        assert!(written.get("finding_type").is_none());
    }
    use crate::scans::{FindingStatus, Severity};

    fn now() -> Timestamp {
        Timestamp::parse("2026-12-03T10:00:00Z").unwrap()
    }

    fn request(value: serde_json::Value) -> Result<SuppressionRule> {
        let request: SuppressionRuleRequest = serde_json::from_value(value).unwrap();
        request.rule("01J0000000000000000000000A".into(), "key", now())
    }

    fn finding(rule: &str, resource: &str) -> Finding {
        serde_json::from_value(serde_json::json!({
            "finding_id": Finding::id_of(rule, resource), "account_id": "000000000001",
            "data_source": "aws:iam", "rule": rule, "title": "t",
            "resource_type": "AWS.IAM.User", "resource_id": resource, "region": "global",
            "severity": "HIGH", "score": 7.0, "first_seen_at": "2026-12-01T00:00:00Z",
            "last_seen_at": "2026-12-03T10:00:00Z", "scan_id": "s",
        }))
        .unwrap()
    }

    fn field(err: Error) -> String {
        match err {
            Error::Invalid {
                field: Some(field), ..
            } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_rule_names_what_it_suppresses_within_bounds() {
        let bad = |value| field(request(value).unwrap_err());
        assert_eq!(bad(serde_json::json!({"reason": "r"})), "rule");
        assert_eq!(
            bad(serde_json::json!({"reason": "r", "resource_pattern": "**?"})),
            "resource_pattern"
        );
        assert_eq!(
            bad(serde_json::json!({"reason": "r", "resource_pattern": "a".repeat(257)})),
            "resource_pattern"
        );
        assert_eq!(
            bad(serde_json::json!({"reason": "r", "rule": "no spaces"})),
            "rule"
        );
        assert_eq!(
            bad(serde_json::json!({"reason": "r", "data_source": "a b"})),
            "data_source"
        );
        assert_eq!(
            bad(serde_json::json!({"reason": " ", "data_source": "aws:iam"})),
            "reason"
        );
        assert_eq!(
            bad(
                serde_json::json!({"reason": "r", "data_source": "aws:iam", "until": "2020-01-01T00:00:00Z"})
            ),
            "until"
        );
        let rule = request(serde_json::json!({
            "reason": "break-glass users", "rule": "IAM_USER_WITHOUT_MFA",
            "resource_pattern": "arn:aws:iam::*:user/break-glass-*",
        }))
        .unwrap();
        assert_eq!(rule.until, None);
    }

    /// Issue 25 #2: the worst patterns a tenant may store, over long
    /// resource ids: a bounded amount of work per finding (a property of
    /// the automaton, not a timing; `make bench` times it).
    #[test]
    fn worst_case_rules_match_and_refuse_as_they_should() {
        let worst: Vec<SuppressionRule> = (0..MAX_RULES)
            .map(|i| {
                let mut rule = request(serde_json::json!({
                    "reason": "r",
                    "resource_pattern": format!("*{}{}", "a".repeat(250), i % 10),
                }))
                .unwrap();
                rule.rule_id = format!("01J{i:023}");
                rule
            })
            .collect();
        let rules = Rules::new(worst);
        let miss = finding("R", &"a".repeat(2048));
        assert!(rules.suppression_of(&miss).is_none());
        let hit = finding("R", &format!("{}7", "a".repeat(2047)));
        assert_eq!(
            rules.suppression_of(&hit).unwrap().rule_id.as_deref(),
            Some("01J00000000000000000000007")
        );
        let too_wild = request(
            serde_json::json!({"reason": "r", "resource_pattern": "a*".repeat(MAX_WILDCARDS + 1)}),
        );
        assert_eq!(field(too_wild.unwrap_err()), "resource_pattern");
    }

    #[test]
    fn the_first_holding_rule_that_matches_suppresses() {
        let glass = request(serde_json::json!({
            "reason": "break-glass", "resource_pattern": "arn:aws:iam::*:user/break-glass-?",
        }))
        .unwrap();
        let mut expired = request(serde_json::json!({
            "reason": "old", "rule": "IAM_USER_WITHOUT_MFA",
        }))
        .unwrap();
        expired.rule_id = "01J0000000000000000000000B".into();
        expired.until = Timestamp::parse("2026-12-02T00:00:00Z");
        let rules = Rules::new(vec![expired, glass]);
        let held = rules
            .suppression_of(&finding(
                "IAM_USER_WITHOUT_MFA",
                "arn:aws:iam::000000000001:user/break-glass-1",
            ))
            .unwrap();
        assert_eq!(held.reason, "break-glass");
        assert_eq!(held.rule_id.as_deref(), Some("01J0000000000000000000000A"));
        // The type rule expired before the finding was seen: no match.
        assert!(rules
            .suppression_of(&finding(
                "IAM_USER_WITHOUT_MFA",
                "arn:aws:iam::000000000001:user/alice"
            ))
            .is_none());
        assert!(rules
            .suppression_of(&finding(
                "IAM_USER_WITHOUT_MFA",
                "arn:aws:iam::000000000001:user/break-glass-12"
            ))
            .is_none());
    }

    #[test]
    fn a_rescan_keeps_a_hand_suppression_and_reevaluates_a_rule() {
        let rule = request(serde_json::json!({"reason": "r", "data_source": "aws:iam"})).unwrap();
        let rules = Rules::new(vec![rule]);
        let mut seen = finding("R", "arn:a");
        seen.settle(None, &rules);
        assert_eq!(seen.status, FindingStatus::Suppressed);
        // The rule is gone: the next scan opens it.
        let mut again = finding("R", "arn:a");
        again.settle(Some(&seen), &Rules::none());
        assert_eq!(
            (again.status, again.suppression),
            (FindingStatus::Open, None)
        );
        // By hand, it stays whatever the rules.
        let mut by_hand = finding("R", "arn:a");
        by_hand.suppression = Some(Suppression {
            reason: "mine".into(),
            until: None,
            by: "key".into(),
            at: now(),
            rule_id: None,
        });
        let mut later = finding("R", "arn:a");
        later.settle(Some(&by_hand), &rules);
        assert_eq!(later.suppression.unwrap().reason, "mine");
        // A resolved finding seen again is open, first seen kept.
        let resolved = finding("R", "arn:b").resolved(now());
        assert_eq!(resolved.status, FindingStatus::Resolved);
        assert_eq!(resolved.severity_order().chars().next(), Some('9'));
        let mut back = finding("R", "arn:b");
        back.first_seen_at = now();
        back.settle(Some(&resolved), &Rules::none());
        assert_eq!(back.status, FindingStatus::Open);
        assert_eq!(back.first_seen_at, resolved.first_seen_at);
        assert_eq!(back.severity, Severity::High);
    }

    #[test]
    fn a_write_that_lost_to_a_hand_triage_is_settled_again_against_it() {
        let rule = request(serde_json::json!({"reason": "r", "data_source": "aws:iam"})).unwrap();
        let rules = Rules::new(vec![rule]);
        let mut current = finding("R", "arn:a");
        current.triage_revision = 3;
        current.suppression = Some(Suppression {
            reason: "mine".into(),
            until: None,
            by: "key".into(),
            at: now(),
            rule_id: None,
        });
        // A sighting keeps the scan's view and the hand's triage.
        let mut seen = finding("R", "arn:a");
        seen.title = "newer".into();
        seen.settle(None, &rules);
        let again = seen.rewritten(Some(&current), &rules).unwrap();
        assert_eq!(again.title, "newer");
        assert_eq!(again.triage_revision, 3);
        assert_eq!(again.suppression.as_ref().unwrap().reason, "mine");
        // Lifted by hand: the scan's rule suppression is evaluated afresh.
        current.suppression = None;
        let lifted = seen.rewritten(Some(&current), &Rules::none()).unwrap();
        assert_eq!(
            (lifted.status, lifted.suppression),
            (FindingStatus::Open, None)
        );
        // A resolution resolves what is there, once; a finding gone with
        // its account is not written back.
        let resolution = finding("R", "arn:a").resolved(now());
        let resolved = resolution.rewritten(Some(&current), &rules).unwrap();
        assert_eq!(resolved.triage_revision, 3);
        assert_eq!(resolved.status, FindingStatus::Resolved);
        assert!(resolution.rewritten(Some(&resolved), &rules).is_none());
        assert!(seen.rewritten(None, &rules).is_none());
    }
}
