//! Suppression rules over one results page: the CPU a `POST
//! /v1/scans/{id}/results` spends on a page of 1 MiB (500 findings with 2 KB
//! resource ids): parsing the body, checking each finding and settling it
//! against the tenant's rules, compiled once per upload. 100 worst-case
//! rules (`*` then 250 literal characters and one more: what made a
//! backtracking matcher quadratic) against none; and, for scale, the
//! backtracking matcher it replaced. The page's DynamoDB round trips are
//! the same with and without rules, so they are left out of both sides
//! (they would only bring the ratio closer to 1).

use service::scanner::{ResultsPage, ScanReference};
use service::scans::{Finding, IgnoreLists};
use service::suppression_rules::{Rules, SuppressionRule, MAX_RULES};
use service::time::Timestamp;
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

/// The page as its scanner sends it.
fn page_body() -> Vec<u8> {
    let findings: Vec<serde_json::Value> = (0..500)
        .map(|i| {
            serde_json::json!({
                "rule": "R", "title": "t", "resource_type": "AWS.S3.Bucket",
                "resource_id": format!("{}{i:04}", "a".repeat(2044)),
                "region": "us-east-1", "score": 7.0,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"page": 1, "findings": findings})).expect("json")
}

/// What the upload does with a page before it writes: parse, check,
/// compile the tenant's rules, settle each finding.
fn upload_cpu(body: &[u8], rules: &[SuppressionRule]) -> usize {
    let page: ResultsPage = serde_json::from_slice(body).expect("a page");
    let reference = ScanReference {
        scan_id: "01JD0000000000000000000000".into(),
        tenant: "bench".into(),
        account_id: "000000000001".into(),
        data_source: "bench:scanner".into(),
    };
    let ignore = IgnoreLists::new(&[], &[]).expect("no ignore lists");
    let mut checked = page
        .findings(&reference, 10.0, &ignore, Timestamp::now())
        .expect("valid findings");
    let rules = Rules::compiled("bench", rules.to_vec());
    let mut suppressed = 0;
    for finding in &mut checked.findings {
        finding.settle(None, &rules);
        suppressed += usize::from(finding.suppression.is_some());
    }
    suppressed
}

/// The best of `repeats` runs.
fn best(repeats: usize, mut run: impl FnMut() -> usize) -> Duration {
    (0..repeats)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(run());
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

pub fn run(repeats: usize) {
    println!("== suppression rules: one results page of 500 findings with 2 KB resource ids (1 MiB): parse, check, settle");
    let body = page_body();
    let rules = worst_rules();
    let started = Instant::now();
    let compiled = Rules::new(rules.clone());
    let compile = started.elapsed();
    // The first upload after the rules change compiles them (and warms the
    // automaton); the next ones reuse them.
    let first = best(1, || upload_cpu(&body, &rules));
    // None, worst, worst, none: drift weighs on both alike.
    let mut none = Duration::MAX;
    let mut worst = Duration::MAX;
    for round in 0..4 {
        if round == 0 || round == 3 {
            none = none.min(best(repeats, || upload_cpu(&body, &[])));
        } else {
            worst = worst.min(best(repeats, || upload_cpu(&body, &rules)));
        }
    }
    println!(
        "no rules: {:.2} ms; 100 worst-case rules: {:.2} ms; ratio {:.2} (target <= 2.00); the first upload after the rules change: {:.2} ms (compiling them: {:.2} ms)",
        none.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        worst.as_secs_f64() / none.as_secs_f64().max(1e-9),
        first.as_secs_f64() * 1e3,
        compile.as_secs_f64() * 1e3,
    );
    // The matcher it replaced, one backtracking match per finding and rule.
    let page: ResultsPage = serde_json::from_slice(&body).expect("a page");
    let patterns: Vec<wildmatch::WildMatch> = rules
        .iter()
        .filter_map(|rule| {
            rule.resource_pattern
                .as_deref()
                .map(wildmatch::WildMatch::new)
        })
        .collect();
    let backtracking = best(1, || {
        page.findings
            .iter()
            .filter(|finding| patterns.iter().any(|p| p.matches(&finding.resource_id)))
            .count()
    });
    let findings: Vec<Finding> = page
        .findings
        .iter()
        .map(|finding| {
            serde_json::from_value(serde_json::json!({
                "finding_id": "x", "account_id": "000000000001", "data_source": "d", "rule": "R",
                "title": "t", "resource_type": "t", "resource_id": finding.resource_id,
                "region": "global", "severity": "HIGH", "score": 1.0,
                "first_seen_at": "2026-12-01T00:00:00Z", "last_seen_at": "2026-12-03T10:00:00Z", "scan_id": "s",
            }))
            .expect("a finding")
        })
        .collect();
    let automaton = best(repeats, || {
        findings
            .iter()
            .filter(|finding| compiled.suppression_of(finding).is_some())
            .count()
    });
    println!(
        "  matching alone, the same page: the backtracking matcher it replaced {:.2} ms, the automaton {:.2} ms ({:.0}x)",
        backtracking.as_secs_f64() * 1e3,
        automaton.as_secs_f64() * 1e3,
        backtracking.as_secs_f64() / automaton.as_secs_f64().max(1e-9),
    );
}
