//! Suppression rules over one results page: the CPU a `POST
//! /v1/scans/{id}/results` spends settling a page of 1 MiB (500 findings
//! with 2 KB resource ids) against a tenant's rules. 100 worst-case rules
//! (`*` then 250 literal characters and one more: what made a
//! backtracking matcher quadratic) against none, with the compiled
//! automaton the service uses; and, for scale, the backtracking matcher it
//! replaced. The page's DynamoDB writes are the same with and without
//! rules, so they are left out of both sides.

use model::scans::Finding;
use model::suppression_rules::{Rules, SuppressionRule, MAX_RULES};
use std::time::{Duration, Instant};

fn worst_rules() -> Vec<SuppressionRule> {
    (0..MAX_RULES)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "rule_id": format!("01J{i:023}"),
                "resource_pattern": format!("*{}{}", "a".repeat(250), i % 10),
                "reason": "bench",
                "created_by": "bench",
                "created_at": "2026-12-01T00:00:00Z",
            }))
            .expect("a rule")
        })
        .collect()
}

fn page() -> Vec<Finding> {
    (0..500)
        .map(|i| {
            let resource = format!("{}{i:04}", "a".repeat(2044));
            serde_json::from_value(serde_json::json!({
                "finding_id": Finding::id_of("R", &resource), "account_id": "000000000001",
                "data_source": "bench:scanner", "rule": "R", "title": "t",
                "resource_type": "AWS.S3.Bucket", "resource_id": resource, "region": "global",
                "severity": "HIGH", "score": 7.0, "first_seen_at": "2026-12-01T00:00:00Z",
                "last_seen_at": "2026-12-03T10:00:00Z", "scan_id": "s",
            }))
            .expect("a finding")
        })
        .collect()
}

/// The best of `repeats` runs of settling the page against `rules`.
fn settle_time(findings: &[Finding], rules: &Rules, repeats: usize) -> Duration {
    (0..repeats)
        .map(|_| {
            let started = Instant::now();
            for finding in findings {
                let mut settled = finding.clone();
                settled.settle(None, rules);
                std::hint::black_box(&settled);
            }
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

pub fn run(repeats: usize) {
    println!("== suppression rules: one results page of 500 findings with 2 KB resource ids (1 MiB), settled");
    let findings = page();
    let rules = worst_rules();
    let started = Instant::now();
    let compiled = Rules::new(rules.clone());
    let compile = started.elapsed();
    let none = settle_time(&findings, &Rules::none(), repeats);
    let worst = settle_time(&findings, &compiled, repeats);
    println!(
        "no rules: {:.2} ms; 100 worst-case rules: {:.2} ms (compiled once in {:.2} ms); ratio {:.2} (target <= 2.00)",
        none.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        compile.as_secs_f64() * 1e3,
        worst.as_secs_f64() / none.as_secs_f64().max(1e-9),
    );
    // The matcher it replaced, one backtracking match per finding and rule.
    let patterns: Vec<wildmatch::WildMatch> = rules
        .iter()
        .filter_map(|rule| {
            rule.resource_pattern
                .as_deref()
                .map(wildmatch::WildMatch::new)
        })
        .collect();
    let started = Instant::now();
    let mut matched = 0;
    for finding in &findings {
        matched += usize::from(patterns.iter().any(|p| p.matches(&finding.resource_id)));
    }
    let backtracking = started.elapsed();
    println!(
        "  the backtracking matcher it replaced: {:.2} ms for the same page ({matched} matches); {:.0}x the automaton",
        backtracking.as_secs_f64() * 1e3,
        backtracking.as_secs_f64() / worst.as_secs_f64().max(1e-9),
    );
}
