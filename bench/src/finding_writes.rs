//! A scan's findings write: the store's conditional puts (one a finding,
//! 32 at once, each only while its `triage_revision` is as read)
//! against raw BatchWriteItem of the same items (25 a call, no condition),
//! BatchWriteItem 16 calls at once, on DynamoDB Local, in one run. The first write
//! of a scan's findings and a rescan's rewrite of them are both measured.

use service::scans::{Finding, FindingStatus, Severity};
use service::suppression_rules::Rules;
use service::time::Timestamp;
use std::time::{Duration, Instant};

const TENANT: &str = "bench";

fn findings(account: usize, count: usize) -> Vec<Finding> {
    let now = Timestamp::now();
    let account_id = format!("{:012}", 400_000_000_000u64 + account as u64);
    (0..count)
        .map(|i| {
            let resource_id = format!("arn:aws:iam::{account_id}:user/bench-{i}");
            Finding {
                finding_id: Finding::id_of("BENCH_RULE", &resource_id),
                account_id: account_id.clone(),
                data_source: "aws:iam".into(),
                rule: "BENCH_RULE".into(),
                title: "IAM user without MFA".into(),
                resource_type: "AWS.IAM.User".into(),
                resource_id,
                region: "global".into(),
                severity: Severity::High,
                score: 7.0,
                details: [("user".to_string(), format!("bench-{i}"))].into(),
                first_seen_at: now,
                last_seen_at: now,
                scan_id: "01JBENCH000000000000000000".into(),
                status: FindingStatus::Open,
                suppression: None,
                resolved_at: None,
                triage_revision: 0,
            }
        })
        .collect()
}

async fn raw(client: &aws_sdk_dynamodb::Client, table: &str, findings: &[Finding]) -> Duration {
    let items = findings
        .iter()
        .map(|f| service::aws::store::finding_item(TENANT, f).expect("item"))
        .collect();
    let started = Instant::now();
    crate::batch_put_all(client, table, items).await;
    started.elapsed()
}

async fn store(store: &service::aws::store::Store, findings: &[Finding]) -> Duration {
    let started = Instant::now();
    let written = store
        .write_settled_findings(TENANT, findings.to_vec(), &Rules::none())
        .await
        .expect("write");
    assert_eq!(written.len(), findings.len());
    started.elapsed()
}

pub async fn run(count: usize) {
    println!("== a scan's findings: {count} written, then written again");
    let table = format!(
        "bench-findings-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let config = service::runtime::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    testkit::provision::create_table_with_stream(&client, &table, false)
        .await
        .expect("create the table");
    let services = crate::services(&table).await;
    // Warm-up: DynamoDB Local's JVM compiles these paths on first use.
    raw(&client, &table, &findings(0, 1000)).await;
    store(&services.store, &findings(1, 1000)).await;
    // Raw, store, store, raw: a drift of the emulator weighs on both alike.
    let (mut raw_first, mut raw_again, mut ours_first, mut ours_again) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    for (round, ours) in [false, true, true, false].into_iter().enumerate() {
        let batch = findings(10 + round, count);
        if ours {
            ours_first += store(&services.store, &batch).await;
            ours_again += store(&services.store, &batch).await;
        } else {
            raw_first += raw(&client, &table, &batch).await;
            raw_again += raw(&client, &table, &batch).await;
        }
    }
    let rate = |elapsed: Duration| (2 * count) as f64 / elapsed.as_secs_f64();
    for (label, ours, raw) in [
        ("first write", ours_first, raw_first),
        ("rewrite", ours_again, raw_again),
    ] {
        println!(
            "  {label}: conditional puts {:.0} findings/s, raw BatchWriteItem {:.0} findings/s: ratio {:.2}",
            rate(ours),
            rate(raw),
            rate(ours) / rate(raw)
        );
    }
}
