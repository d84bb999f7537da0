//! `make bench`: measurements that print ratios taken side by side in one run.
//!
//! cost: a month of keeping 1,000 and 100,000 customer accounts verified
//! and scanned, in dollars, line by line: the budget test's DynamoDB units,
//! CPU time, log bytes and storage measured here, a stated workload and
//! dated list prices (`cost.rs`).
//!
//! fleet: search, import and export on a tenant of 10,000 accounts, each
//! against the raw DynamoDB calls it cannot avoid (see `fleet.rs`).
//!
//! search: a tenant of 100,000 accounts; a criteria search matching 1% of
//! them against the raw Query of those items, and free-text p50/p99 with
//! the per-request read budget (see `search_scale.rs`).
//!
//! events: 10,000 changes through the stream (the notifier's rate over
//! the stream's own read rate) and write → webhook latency (see `events.rs`).
//!
//! organizations: an AWS Organization of 1,000 members (the bench's own
//! Organizations and STS endpoints), synced (first enrolment, then a
//! re-sync that changes nothing) against the raw Organizations and
//! DynamoDB calls a sync must make (`organizations.rs`).
//!
//! scans: 1,000 queued scans of an external data source handed over by
//! the scan worker against the raw DynamoDB and SQS calls a hand-over
//! requires (`scan_throughput.rs`).
//!
//! findings: 10,000 findings of a scan written by the store (conditional
//! transactions that keep hand triage) against raw BatchWriteItem of the
//! same items, first and again (`finding_writes.rs`).
//!
//! suppression: a results page of 1 MiB settled against 100 worst-case
//! suppression rules against none (`suppression.rs`).
//!
//! dialects: one account read through each product's API (Panther,
//! Cloudcraft, Cloudability, RISKEN, Carbon Black) against `/v1`'s read of
//! it (`dialects.rs`).
//!
//! verification: accounts verified by the scheduled sweep (the real
//! verifier, the real DynamoDB Local) against an STS endpoint with an
//! injected latency; then again under an STS rate ceiling set below the
//! achieved rate, with the endpoint throttling above its quota.

mod cost;
mod dialects;
mod events;
mod finding_writes;
mod fleet;
mod lambda;
mod load;
mod organizations;
mod scan_throughput;
mod search_scale;
mod suppression;

use futures::StreamExt;
use service::account::{Account, AccountFields};
use service::aws::store::Store;
use service::aws::verification::{RoleVerifier, VerificationSettings};
use service::time::Timestamp;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::sts_endpoint::StsEndpoint;

/// The composition root, on the bench's own table.
pub(crate) async fn services(table: &str) -> service::runtime::config::Services {
    let mut config = service::runtime::config::Config::from_env().expect("configuration");
    config.table_name = table.to_string();
    service::runtime::config::Services::new(config)
        .await
        .expect("services")
}

/// A new API key of `tenant` with `scopes`, stored: its token.
pub(crate) async fn issue_key(
    store: &Store,
    tenant: &str,
    scopes: Vec<service::api_key::Scope>,
) -> String {
    let issued =
        service::api_key::ApiKey::issue(tenant, "bench", scopes, "bench", None, Timestamp::now())
            .expect("key");
    service::usecases::api_keys::create(store, &issued.record)
        .await
        .expect("store key");
    issued.token
}

/// One request to the API in process: its status and JSON body (null if
/// none). A body is JSON unless `headers` name another content type.
pub(crate) async fn call(
    router: &axum::Router,
    headers: &[(&str, String)],
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !typed {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(
            body.map(axum::body::Body::from)
                .unwrap_or_else(axum::body::Body::empty),
        )
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("router");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// One BatchWriteItem batch, sent again with what DynamoDB left
/// unprocessed until nothing is left.
pub(crate) async fn batch_write_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut batch: Vec<aws_sdk_dynamodb::types::WriteRequest>,
) {
    while !batch.is_empty() {
        let output = client
            .batch_write_item()
            .request_items(table, batch)
            .send()
            .await
            .expect("batch write");
        batch = output
            .unprocessed_items
            .and_then(|mut t| t.remove(table))
            .unwrap_or_default();
    }
}

/// A DynamoDB item.
pub(crate) type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// Items as BatchWriteItem puts, 25 a call, 16 calls at once, no condition.
pub(crate) async fn batch_put_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<Item>,
) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let batches: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("put"),
                        )
                        .build()
                })
                .collect()
        })
        .collect();
    futures::stream::iter(batches)
        .map(|batch| batch_write_all(client, table, batch))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// Items as Puts only if absent, in TransactWriteItems of 100, 16 at once:
/// how anything that must never overwrite writes in bulk.
pub(crate) async fn transact_puts(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<Item>,
) {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let transactions: Vec<Vec<TransactWriteItem>> = items
        .chunks(100)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    let put = Put::builder()
                        .table_name(table)
                        .set_item(Some(item.clone()))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .expect("put");
                    TransactWriteItem::builder().put(put).build()
                })
                .collect()
        })
        .collect();
    futures::stream::iter(transactions)
        .map(|items| async move {
            client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
                .expect("transaction")
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "the bench needs DynamoDB Local: run `make bench`"
    );
    // Warnings only (RUST_LOG overrides): what failed, when something does.
    if std::env::var("RUST_LOG").is_err() {
        std::env::set_var("RUST_LOG", "warn");
    }
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Compact);
    // moto's STS and IAM: the customer's side of the cost model's accounts.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "cost" {
        cost::run(env_or("BENCH_COST_ACCOUNTS", 20)).await;
    }
    // The bench's own STS endpoint replaces the emulator's for the verifier.
    std::env::remove_var("AWS_ENDPOINT_URL_STS");
    std::env::remove_var("AWS_ENDPOINT_URL_IAM");
    let accounts: usize = env_or("BENCH_ACCOUNTS", 10_000);
    if only.is_empty() || only == "lambda" {
        let table = format!(
            "bench-cold-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let config = service::runtime::config::aws().await;
        testkit::provision::create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
            .await
            .expect("create the cold-start table");
        lambda::run(&table).await;
    }
    if only.is_empty() || only == "load" {
        load::run().await;
    }
    if only.is_empty() || only == "events" {
        events::run().await;
    }
    if only.is_empty() || only == "dialects" {
        dialects::run(env_or("BENCH_DIALECT_REPEATS", 200)).await;
    }
    if only.is_empty() || only == "fleet" {
        fleet::run(accounts, env_or("BENCH_REPEATS", 20)).await;
    }
    if only.is_empty() || only == "organizations" {
        organizations::run(
            env_or("BENCH_ORG_MEMBERS", 1000),
            Duration::from_millis(env_or("BENCH_ORG_LATENCY_MS", 20)),
        )
        .await;
    }
    if only.is_empty() || only == "scans" {
        scan_throughput::run(env_or("BENCH_SCANS", 1000), env_or("BENCH_SCAN_LAMBDAS", 8)).await;
    }
    if only.is_empty() || only == "suppression" {
        suppression::run(env_or("BENCH_REPEATS", 20));
    }
    if only.is_empty() || only == "findings" {
        finding_writes::run(env_or("BENCH_FINDINGS", 10_000)).await;
    }
    if only.is_empty() || only == "search" {
        search_scale::run(
            env_or("BENCH_SEARCH_ACCOUNTS", 100_000),
            env_or("BENCH_REPEATS", 20),
        )
        .await;
    }
    if !(only.is_empty() || only == "verification") {
        return;
    }
    let latency = Duration::from_millis(env_or("BENCH_STS_LATENCY_MS", 100));
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 64);
    println!("== verification throughput: {accounts} accounts, STS latency {} ms, concurrency {concurrency}", latency.as_millis());

    // 1. No ceiling, without and with the trust-policy lint, on accounts
    // whose roles verified before (a scheduled sweep's usual work).
    // Without the lint a verification is AssumeRole three at once (with,
    // without and with a wrong external ID), then GetCallerIdentity; with
    // it, AssumeRole once, then GetCallerIdentity beside iam:GetRole. Two
    // round trips on the critical path either way.
    let per_account = latency * 2;
    let ideal = concurrency as f64 / per_account.as_secs_f64();
    // Off, on, on, off: a drift of the emulators over the runs (DynamoDB
    // Local grows with every table) weighs on both alike.
    let mut rates = [Vec::new(), Vec::new()];
    let mut calls_per_second = 0.0;
    for inspect in [false, true, true, false] {
        let endpoint = StsEndpoint::start(latency, None).await;
        let run = sweep(&endpoint, accounts, concurrency, None, inspect).await;
        let achieved = run.succeeded as f64 / run.elapsed.as_secs_f64();
        let label = if inspect { "lint on " } else { "lint off" };
        println!(
            "{label}: verified {} of {accounts} in {:.2} s: {achieved:.0} accounts/s; ideal concurrency / latency = {concurrency} / {} ms = {ideal:.0}/s; ratio {:.2} (target >= 0.80)",
            run.succeeded,
            run.elapsed.as_secs_f64(),
            per_account.as_millis(),
            achieved / ideal
        );
        rates[usize::from(inspect)].push(achieved);
        let rate = run.sts_calls as f64 / run.elapsed.as_secs_f64();
        // The ceiling below runs with the lint on: its rate is the base.
        if inspect {
            calls_per_second = rate;
        }
        println!(
            "  STS calls: {} ({rate:.0}/s), IAM calls: {}, throttled: {}",
            run.sts_calls,
            endpoint.counters().iam_calls.load(Ordering::Relaxed),
            run.throttled
        );
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (off, on) = (mean(&rates[0]), mean(&rates[1]));
    println!(
        "  mean: lint off {off:.0}/s (ratio {:.2}), lint on {on:.0}/s (ratio {:.2}); lint on / lint off: {:.3} (target >= 0.95)",
        off / ideal,
        on / ideal,
        on / off
    );

    // 2. A ceiling at half the achieved STS call rate; the endpoint's quota
    // (the vendor account's STS limit) sits 20% above the ceiling.
    let ceiling = (calls_per_second / 2.0).floor().max(10.0);
    let quota = (ceiling * 1.2) as u64;
    let ceiling_accounts: usize = env_or("BENCH_CEILING_ACCOUNTS", accounts.min(4000));
    let endpoint = StsEndpoint::start(latency, Some(quota)).await;
    let run = sweep(
        &endpoint,
        ceiling_accounts,
        concurrency,
        Some(ceiling),
        true,
    )
    .await;
    let rate = run.sts_calls as f64 / run.elapsed.as_secs_f64();
    println!(
        "== with an STS rate ceiling of {ceiling:.0} calls/s (quota {quota}/s): {rate:.1} calls/s achieved, ratio to ceiling {:.3} (target 0.95-1.05); verified {} of {ceiling_accounts}; throttled by STS: {}; rescheduled as throttled: {}",
        rate / ceiling,
        run.succeeded,
        run.throttled,
        run.rescheduled
    );
}

struct Run {
    succeeded: usize,
    rescheduled: usize,
    elapsed: Duration,
    sts_calls: u64,
    throttled: u64,
}

async fn sweep(
    endpoint: &StsEndpoint,
    accounts: usize,
    concurrency: usize,
    ceiling: Option<f64>,
    inspect_role: bool,
) -> Run {
    let config = service::runtime::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    // No stream: this part measures the sweep, and DynamoDB Local slows
    // down as stream records pile up (see `create_table_with_stream`).
    testkit::provision::create_table_with_stream(&dynamodb, &table, false)
        .await
        .expect("create table");
    let store = Store::new(dynamodb, table);
    seed(&store, endpoint, accounts).await;

    let sts_config = config.to_builder().endpoint_url(&endpoint.url).build();
    let settings = VerificationSettings {
        call_timeout: Duration::from_secs(5),
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        sts_rate_limit: ceiling,
        concurrency,
        interval: Duration::from_secs(86_400),
        vendor_principal: None,
        role_name: "Audit".into(),
        role_name_pattern: "*".into(),
        role_template_url: None,
        source_identity_service: "bench".into(),
        inspect_role,
        partitions: Vec::new(),
        access_log_days: 30,
    };
    let sweeper = service::usecases::sweep::Sweeper {
        store,
        verifier: RoleVerifier::new(&sts_config, &settings),
        settings: Arc::new(settings),
        organization_sync_queue: None,
        catalogue: Arc::default(),
        scan_queue: None,
    };
    let calls_before = endpoint.counters().calls.load(Ordering::Relaxed);
    let started = Instant::now();
    let report = sweeper
        .sweep(Timestamp::now(), Instant::now() + Duration::from_secs(900))
        .await;
    let elapsed = started.elapsed();
    Run {
        succeeded: report.succeeded,
        rescheduled: report.rescheduled,
        elapsed,
        sts_calls: endpoint.counters().calls.load(Ordering::Relaxed) - calls_before,
        throttled: endpoint.counters().throttled.load(Ordering::Relaxed),
    }
}

/// Register `count` accounts with roles that verified before, all due now.
async fn seed(store: &Store, endpoint: &StsEndpoint, count: usize) {
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let id = format!("{:012}", 100_000_000_000u64 + i as u64);
            let role = format!("arn:aws:iam::{id}:role/Audit");
            let fields = AccountFields {
                name: format!("bench {i}"),
                role_arn: Some(role.clone()),
                ..Default::default()
            };
            let now = Timestamp::now();
            let mut account = Account::register(id, fields, "bench", now);
            account.credential.verification_status = service::account::VerificationStatus::Success;
            account.credential.role_arn = Some(role.clone());
            account.credential.probed_at = Some(now);
            endpoint.trust(role, account.external_id.clone());
            async move {
                store
                    .create_account("bench", &account)
                    .await
                    .expect("seed account")
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    println!(
        "  seeded {count} accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
