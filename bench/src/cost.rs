//! cost: what a month of keeping a tenant's customer accounts verified and
//! scanned costs on AWS, for 1,000 and for 100,000 accounts.
//!
//! Three kinds of input, each printed:
//! - measured by the capacity budget test and held by CI: the DynamoDB
//!   read and write units of every path (`tests/integration/
//!   capacity_budget.json`, read at build time);
//! - measured here, in the perf build, running the functions' code in this
//!   process against DynamoDB Local and moto: CPU time and log bytes (the
//!   JSON lines Lambda writes, at `info`) per unit of work, and DynamoDB
//!   storage per account (DescribeTable's sizes);
//! - assumed, in [`WORKLOAD`] and [`LATENCY`]: what a tenant does in a
//!   month and how long an AWS call waits (Lambda bills wall time); and the
//!   list prices in [`PRICES`], with the date they were read.

use serde_json::{json, Value};
use service::aws::capacity::Capacity;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::instrument::WithSubscriber;

/// us-east-1 list prices, on-demand, arm64, no free tier counted.
pub struct Prices {
    /// When they were read, and where.
    pub taken: &'static str,
    pub dynamodb_write_million: f64,
    pub dynamodb_read_million: f64,
    pub dynamodb_gb_month: f64,
    pub lambda_gb_second: f64,
    pub lambda_requests_million: f64,
    pub http_api_requests_million: f64,
    pub sqs_requests_million: f64,
    pub scheduler_invocations_million: f64,
    pub eventbridge_events_million: f64,
    pub logs_ingested_gb: f64,
    pub logs_stored_gb_month: f64,
}

pub const PRICES: Prices = Prices {
    taken: "2026-12-05, aws.amazon.com/{dynamodb,lambda,api-gateway,sqs,eventbridge,cloudwatch}/pricing (DynamoDB on-demand as cut on 2024-11-01; STS and stream reads by Lambda are free)",
    dynamodb_write_million: 0.625,
    dynamodb_read_million: 0.125,
    dynamodb_gb_month: 0.25,
    lambda_gb_second: 0.000_013_333_4,
    lambda_requests_million: 0.20,
    http_api_requests_million: 1.00,
    sqs_requests_million: 0.40,
    scheduler_invocations_million: 1.00,
    eventbridge_events_million: 1.00,
    logs_ingested_gb: 0.50,
    logs_stored_gb_month: 0.03,
};

/// What one customer account brings in a month (assumed).
pub struct Workload {
    /// The verifier re-verifies a proven role daily (`VERIFY_INTERVAL_SECONDS`).
    pub verifications: f64,
    /// A daily scan schedule of the IAM scanner on a 50-user account (100
    /// findings), each run finding what the last found.
    pub scans: f64,
    /// API reads of the account (the key record cached, as deployed).
    pub gets: f64,
    pub patches: f64,
    pub results_pages: f64,
    pub verifications_on_demand: f64,
    /// Months an account stays: its create, attach and delete spread over it.
    pub lifetime_months: f64,
    /// Webhook deliveries (one endpoint, subscribed to account changes).
    pub deliveries: f64,
    /// Events put on the EventBridge bus (every event, when it is set).
    pub events: f64,
    /// Members per organization, synced hourly.
    pub organization_members: f64,
}

pub const WORKLOAD: Workload = Workload {
    verifications: 30.0,
    scans: 30.0,
    gets: 30.0,
    patches: 2.0,
    results_pages: 4.0,
    verifications_on_demand: 1.0,
    lifetime_months: 12.0,
    deliveries: 2.0,
    events: 32.0,
    organization_members: 100.0,
};

/// How long each AWS call a function makes waits, in AWS (assumed).
pub struct Latency {
    pub dynamodb: Duration,
    pub sts_or_iam: Duration,
    pub sqs: Duration,
    pub webhook: Duration,
}

pub const LATENCY: Latency = Latency {
    dynamodb: Duration::from_millis(5),
    sts_or_iam: Duration::from_millis(40),
    sqs: Duration::from_millis(10),
    webhook: Duration::from_millis(150),
};

/// A month has 30 days; the verifier runs every 5 minutes; an
/// organization syncs hourly; Lambda's SQS pollers long-poll each of the
/// three consumed queues five at a time, 20 s a receive, idle or not.
const MONTH_HOURS: f64 = 720.0;
const VERIFIER_RUNS: f64 = MONTH_HOURS * 12.0;
const IDLE_RECEIVES_PER_QUEUE: f64 = 5.0 * 3.0 * 60.0 * MONTH_HOURS;
const CONSUMED_QUEUES: f64 = 3.0;
/// Lambda's START, END and REPORT lines of an invocation, and the
/// runtime's span (its request id) on each of the function's JSON lines.
const PLATFORM_LOG_BYTES: f64 = 330.0;
const SPAN_BYTES_PER_LINE: f64 = 110.0;
/// DynamoDB bills 100 bytes of overhead per item in the table and in
/// each index it is projected into.
const ITEM_OVERHEAD_BYTES: f64 = 100.0;

/// What this run measured of one unit of work.
#[derive(Debug, Default, Clone, Copy)]
struct Work {
    cpu: Duration,
    log_bytes: f64,
    log_lines: f64,
    /// The process's peak resident memory while it ran, MiB: an upper
    /// bound of the function's (this process also holds every other
    /// function's clients and the bench's own).
    peak_mib: f64,
}

impl Work {
    /// One of `n` units this work did (its peak memory is the whole's).
    fn per(self, n: f64) -> Work {
        Work {
            cpu: self.cpu.div_f64(n),
            log_bytes: self.log_bytes / n,
            log_lines: self.log_lines / n,
            peak_mib: self.peak_mib,
        }
    }
}

/// Bytes and lines written by the functions' logger.
#[derive(Clone, Default)]
struct LogMeter {
    bytes: Arc<AtomicU64>,
    lines: Arc<AtomicU64>,
}

impl std::io::Write for LogMeter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        let lines = buf.iter().filter(|b| **b == b'\n').count() as u64;
        self.lines.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CPU time of this process (every thread).
fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Forget the process's peak resident memory (Linux 4.0 and later).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last reset, MiB.
fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Run `work` `times` times under the Lambda's JSON logger; the CPU time
/// and log volume of one.
async fn per_unit<F, Fut>(meter: &LogMeter, times: u32, mut work: F) -> Work
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let filter = tracing_subscriber::EnvFilter::new("info");
    let writer = meter.clone();
    let dispatch = tracing::Dispatch::new(service::runtime::telemetry::json_subscriber(
        filter,
        move || writer.clone(),
    ));
    let (bytes, lines) = (
        meter.bytes.load(Ordering::Relaxed),
        meter.lines.load(Ordering::Relaxed),
    );
    reset_peak_memory();
    let started = process_cpu();
    for i in 0..times {
        work(i).with_subscriber(dispatch.clone()).await;
    }
    let cpu = process_cpu() - started;
    let n = f64::from(times);
    Work {
        cpu: cpu / times,
        log_bytes: (meter.bytes.load(Ordering::Relaxed) - bytes) as f64 / n,
        log_lines: (meter.lines.load(Ordering::Relaxed) - lines) as f64 / n,
        peak_mib: peak_memory_mib(),
    }
}

/// A request with the cost tenant's key ([`crate::call`]); a PATCH is a
/// merge patch.
async fn call(
    router: &axum::Router,
    key: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = vec![("x-api-key", key.to_string())];
    if method == "PATCH" {
        headers.push(("content-type", "application/merge-patch+json".into()));
    }
    crate::call(router, &headers, method, uri, body.map(|b| b.to_string())).await
}

/// moto picks the account of an IAM call from this header.
fn in_account(
    account: &str,
) -> impl Fn(&mut aws_sdk_iam::config::http::HttpRequest) + Send + Sync + 'static {
    let account = account.to_string();
    move |request| {
        request
            .headers_mut()
            .insert("x-moto-account-id", account.clone());
    }
}

/// The customer's side in moto: a role trusting the vendor with this
/// external ID, allowed what the service checks and the IAM scanner reads.
async fn customer_role(iam: &aws_sdk_iam::Client, account: &str, external_id: &str) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]});
    let role = iam
        .create_role()
        .role_name("AccountOnboardingAudit")
        .assume_role_policy_document(trust.to_string())
        .customize()
        .mutate_request(in_account(account))
        .send()
        .await
        .expect("create the customer's role")
        .role
        .expect("role");
    let allowed = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "iam:GetRole", "iam:SimulatePrincipalPolicy", "iam:GetAccountAuthorizationDetails",
        "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListMFADevices"]}]});
    iam.put_role_policy()
        .role_name(&role.role_name)
        .policy_name("Audit")
        .policy_document(allowed.to_string())
        .customize()
        .mutate_request(in_account(account))
        .send()
        .await
        .expect("the role's policy");
    role.arn
}

/// 50 IAM users, each without MFA and with an inline administrator
/// policy: 100 findings.
async fn plant_users(iam: &aws_sdk_iam::Client, account: &str) {
    let everything = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    for user in 0..50 {
        let name = format!("user{user:02}");
        iam.create_user()
            .user_name(&name)
            .customize()
            .mutate_request(in_account(account))
            .send()
            .await
            .expect("create user");
        iam.put_user_policy()
            .user_name(&name)
            .policy_name("everything")
            .policy_document(everything.to_string())
            .customize()
            .mutate_request(in_account(account))
            .send()
            .await
            .expect("user policy");
    }
}

/// A webhook endpoint on 127.0.0.1 answering 204; counts what it got.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// DynamoDB's size of a value, by its published rules: strings and
/// binaries their bytes, numbers about one byte a two digits, a list or
/// map 3 bytes and a byte an element besides its elements.
fn value_size(value: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    match value {
        V::S(text) => text.len(),
        V::N(number) => number.trim_start_matches('-').len().div_ceil(2) + 1,
        V::B(blob) => blob.as_ref().len(),
        V::Bool(_) | V::Null(_) => 1,
        V::Ss(texts) => texts.iter().map(String::len).sum(),
        V::Ns(numbers) => numbers.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        V::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        V::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn item_size(item: &crate::Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// Bytes the table and its indexes hold, with AWS's per-item overhead:
/// every item read (a Scan: this is the bench, not a request path) and
/// counted once for the table and once for each index whose keys it has
/// (all project every attribute). DescribeTable's index sizes are not
/// used: DynamoDB Local 3.3.1 reports the table's size for a local index
/// and caps a global one's at 32,767 bytes.
async fn stored_bytes(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> f64 {
    let description = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("table");
    let mut index_keys: Vec<Vec<String>> = Vec::new();
    for index in description.global_secondary_indexes() {
        index_keys.push(
            index
                .key_schema()
                .iter()
                .map(|k| k.attribute_name().to_string())
                .collect(),
        );
    }
    for index in description.local_secondary_indexes() {
        index_keys.push(
            index
                .key_schema()
                .iter()
                .map(|k| k.attribute_name().to_string())
                .collect(),
        );
    }
    let mut total = 0.0;
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the cost table");
        for item in page.items() {
            let copies = 1 + index_keys
                .iter()
                .filter(|keys| keys.iter().all(|key| item.contains_key(key)))
                .count();
            total += copies as f64 * (item_size(item) as f64 + ITEM_OVERHEAD_BYTES);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return total;
        }
    }
}

/// template.yaml, as deployed.
fn template() -> serde_yaml::Value {
    serde_yaml::from_str(include_str!("../../template.yaml")).expect("template.yaml")
}

/// Each function's MemorySize in template.yaml (the Globals' when unset).
fn memory_mb(template: &serde_yaml::Value) -> BTreeMap<String, f64> {
    let global = template["Globals"]["Function"]["MemorySize"]
        .as_f64()
        .unwrap_or(128.0);
    let mut memory = BTreeMap::new();
    if let Some(resources) = template["Resources"].as_mapping() {
        for (name, resource) in resources {
            if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
                let size = resource["Properties"]["MemorySize"]
                    .as_f64()
                    .unwrap_or(global);
                memory.insert(name.as_str().unwrap_or_default().to_string(), size);
            }
        }
    }
    memory
}

/// The budget test's units of each path.
fn budget() -> BTreeMap<String, Capacity> {
    serde_json::from_str(include_str!("../../tests/integration/capacity_budget.json"))
        .expect("tests/integration/capacity_budget.json")
}

/// What this run measures of each function's unit of work.
struct Measured {
    api_get: Work,
    api_patch: Work,
    verification: Work,
    first_scan: Work,
    rescan: Work,
    notifier_record: Work,
    stream_records_per_rescan: f64,
    delivery: Work,
    storage_per_account: f64,
}

/// Runs the real functions' code on `accounts` accounts against DynamoDB
/// Local and moto (STS, IAM, SQS).
async fn measure(accounts: u32) -> Measured {
    let sdk = service::runtime::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let table = format!("cost-{}", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_table(&dynamodb, &table)
        .await
        .expect("create table");
    let prefix = format!("c{}", ulid::Ulid::new().to_string().to_lowercase());
    let urls = testkit::provision::create_queues(&sqs, &prefix)
        .await
        .expect("create queues");
    let mut config = service::runtime::config::Config::from_env().expect("configuration");
    config.table_name = table.clone();
    config.scan_queue_url = Some(urls[service::aws::schema::SCAN_QUEUE.logical_id].clone());
    config.webhook_queue_url = Some(urls[service::aws::schema::WEBHOOK_QUEUE.logical_id].clone());
    config.webhook_allow_loopback_http = true;
    config.vendor_principal = None;
    config.customer_role_name = "AccountOnboardingAudit".into();
    config.customer_role_name_pattern = "*".into();
    config.api_key_cache_seconds = 10;
    let services = service::runtime::config::Services::new(config)
        .await
        .expect("services");
    let router = api::router(api::AppState::from_services(&services));
    let key = crate::issue_key(
        &services.store,
        "cost",
        service::api_key::Scope::ALL.to_vec(),
    )
    .await;
    let meter = LogMeter::default();
    let (hook_url, received) = receiver().await;
    let (status, _) = call(
        &router,
        &key,
        "POST",
        "/v1/webhooks",
        Some(json!({"url": hook_url, "event_types": ["account.updated"]})),
    )
    .await;
    assert_eq!(status, 201, "create the webhook");

    // Onboarded as the README tells it: registered, the role made, its
    // ARN set, verified, the IAM scanner attached.
    // Accounts of their own in moto, a run apart from the last.
    let base = 300_000_000_000u64 + (ulid::Ulid::new().random() % 500_000_000_000) as u64;
    let ids: Vec<String> = (0..accounts)
        .map(|i| (base + u64::from(i)).to_string())
        .collect();
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut reader = testkit::stream::StreamReader::open(&dynamodb, streams, &table)
        .await
        .expect("the stream");
    for id in &ids {
        let (status, created) = call(
            &router,
            &key,
            "POST",
            "/v1/accounts",
            Some(json!({"account_id": id, "name": format!("Customer {id}")})),
        )
        .await;
        assert_eq!(status, 201, "{created:#}");
        let role = customer_role(
            &iam,
            id,
            created["external_id"].as_str().expect("external id"),
        )
        .await;
        let (status, body) = call(
            &router,
            &key,
            "PATCH",
            &format!("/v1/accounts/{id}"),
            Some(json!({"role_arn": role})),
        )
        .await;
        assert_eq!(status, 200, "{body:#}");
        let (_, verified) = call(
            &router,
            &key,
            "POST",
            &format!("/v1/accounts/{id}/verify"),
            None,
        )
        .await;
        assert_eq!(
            verified["credential"]["verification_status"], "SUCCESS",
            "{verified:#}"
        );
        let (status, body) = call(
            &router,
            &key,
            "PUT",
            &format!("/v1/accounts/{id}/data-sources/aws:iam"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 201, "{body:#}");
    }
    let onboarded = stored_bytes(&dynamodb, &table).await;

    let first = &ids[0];
    let api_get = per_unit(&meter, 200, |_| {
        let (router, key) = (&router, &key);
        async move {
            let (status, _) =
                call(router, key, "GET", &format!("/v1/accounts/{first}"), None).await;
            assert_eq!(status, 200);
        }
    })
    .await;
    let api_patch = per_unit(&meter, 20, |i| {
        let (router, key) = (&router, &key);
        async move {
            let (status, _) = call(
                router,
                key,
                "PATCH",
                &format!("/v1/accounts/{first}"),
                Some(json!({"name": format!("Renamed {i}")})),
            )
            .await;
            assert_eq!(status, 200);
        }
    })
    .await;

    // The scheduled sweep over every account, due two days on.
    let sweeper = service::usecases::sweep::Sweeper::new(&services);
    let report = std::sync::Mutex::new(None);
    let sweep = per_unit(&meter, 1, |_| {
        let (sweeper, report) = (&sweeper, &report);
        async move {
            let later = service::time::Timestamp::now().plus(Duration::from_secs(2 * 86_400));
            let swept = sweeper
                .sweep(later, Instant::now() + Duration::from_secs(600))
                .await;
            *report.lock().expect("report") = Some(swept);
        }
    })
    .await;
    let succeeded = report
        .into_inner()
        .expect("report")
        .expect("swept")
        .succeeded;
    assert_eq!(succeeded, accounts as usize, "every role proven");
    let verification = sweep.per(f64::from(accounts));

    // The IAM scanner on a 50-user account: the first scan, then again.
    plant_users(&iam, first).await;
    let worker = service::usecases::scan_run::ScanRunner::new(&services);
    let scan_queue = urls[service::aws::schema::SCAN_QUEUE.logical_id].clone();
    let scan_once = || {
        let (router, key, worker, sqs, scan_queue) = (&router, &key, &worker, &sqs, &scan_queue);
        async move {
            let (status, body) = call(
                router,
                key,
                "POST",
                &format!("/v1/accounts/{first}/data-sources/aws:iam/scans"),
                Some(json!({})),
            )
            .await;
            assert_eq!(status, 202, "{body:#}");
            let mut handled = 0;
            while handled == 0 {
                handled = testkit::scan_pump::poll_once(
                    worker,
                    sqs,
                    scan_queue,
                    Duration::from_secs(1),
                    Duration::ZERO,
                )
                .await
                .expect("poll the scan queue");
            }
        }
    };
    let first_scan = per_unit(&meter, 1, |_| scan_once()).await;
    let mut changes = reader.poll_until_quiet().await.expect("GetRecords");
    let rescans = 3;
    let rescan = per_unit(&meter, rescans, |_| scan_once()).await;
    let rescan_records = reader.poll_until_quiet().await.expect("GetRecords");
    let stream_records_per_rescan = rescan_records.len() as f64 / f64::from(rescans);
    changes.extend(rescan_records);

    // Everything on the stream through the notifier, as its batches of 100.
    let notify = service::usecases::notify::Notify::new(&services);
    let batches: Vec<_> = changes.chunks(100).collect();
    let notified = per_unit(&meter, batches.len() as u32, |i| {
        let (notify, batch) = (&notify, batches[i as usize]);
        async move {
            notify.handle(batch).await.expect("notify");
        }
    })
    .await;
    let records_per_batch = changes.len() as f64 / batches.len() as f64;
    let notifier_record = notified.per(records_per_batch);
    let after = stored_bytes(&dynamodb, &table).await;

    // The deliveries the PATCHes queued.
    let sender = webhook_sender::Sender::new(&services)
        .expect("the sender's client")
        .expect("a webhook queue");
    let wanted: u64 = 20;
    let delivered = per_unit(&meter, 1, |_| {
        let (sender, sqs, received) = (&sender, &sqs, &received);
        async move {
            let started = Instant::now();
            while received.load(Ordering::Relaxed) < wanted
                && started.elapsed() < Duration::from_secs(60)
            {
                testkit::webhook_pump::poll_once(sender, sqs, Duration::from_secs(1))
                    .await
                    .expect("poll the delivery queue");
            }
        }
    })
    .await;
    assert_eq!(
        received.load(Ordering::Relaxed),
        wanted,
        "every rename delivered once"
    );
    let delivery = delivered.per(wanted as f64);
    Measured {
        api_get,
        api_patch,
        verification,
        first_scan,
        rescan,
        notifier_record,
        stream_records_per_rescan,
        delivery,
        // The onboarded accounts' share, plus one account's scans,
        // findings and the audit items the notifier wrote for all.
        storage_per_account: onboarded / f64::from(accounts) + (after - onboarded),
    }
}

/// One line of the bill: what it is, per month for `accounts`.
struct Line {
    service: &'static str,
    what: String,
    dollars: f64,
}

/// Lambda's bill for `invocations` of `billed` each at `memory_mb`.
fn lambda_dollars(invocations: f64, billed: Duration, memory_mb: f64) -> f64 {
    invocations
        * (billed.as_secs_f64() * memory_mb / 1024.0 * PRICES.lambda_gb_second
            + PRICES.lambda_requests_million / 1e6)
}

/// The memory at which Lambda gives a function one whole vCPU; below
/// it, CPU time stretches in proportion.
const FULL_VCPU_MB: f64 = 1769.0;

/// The wall time an invocation bills at `memory_mb`: its CPU time (as
/// measured on a whole core, stretched by Lambda's share of one) and its
/// waits on DynamoDB and on `other_calls` calls of `other` each.
fn billed(
    work: &Work,
    memory_mb: f64,
    dynamodb_calls: f64,
    other_calls: f64,
    other: Duration,
) -> Duration {
    let share = (memory_mb / FULL_VCPU_MB).min(1.0);
    work.cpu.div_f64(share) + LATENCY.dynamodb.mul_f64(dynamodb_calls) + other.mul_f64(other_calls)
}

fn bill(accounts: f64, m: &Measured) -> Vec<Line> {
    let budget = budget();
    let units = |name: &str| -> &Capacity {
        budget
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the capacity budget"))
    };
    let w = &WORKLOAD;
    let template = template();
    let memory = memory_mb(&template);
    let mb = |function: &str| memory.get(function).copied().unwrap_or(256.0);
    // (path, times a month per account)
    let paths: [(&str, &str, f64); 15] = [
        (
            "verification",
            "sweep, one proven role due",
            w.verifications,
        ),
        (
            "verification",
            "notifier, a scheduled verification's records",
            w.verifications,
        ),
        ("scans", "v1 request a scan", w.scans),
        (
            "scans",
            "built-in scan of 50 IAM users, again, unchanged",
            w.scans,
        ),
        ("scans", "notifier, a re-scan's records", w.scans),
        ("API", "v1 get account (key cached)", w.gets),
        ("API", "v1 patch account", w.patches),
        ("API", "notifier, one account change", w.patches),
        ("API", "v1 results page of 100 findings", w.results_pages),
        (
            "API",
            "v1 verify on demand (role refused)",
            w.verifications_on_demand,
        ),
        ("lifetime", "v1 create account", 1.0 / w.lifetime_months),
        ("lifetime", "v1 attach data source", 1.0 / w.lifetime_months),
        ("lifetime", "v1 delete account", 1.0 / w.lifetime_months),
        ("webhooks", "webhook delivery", w.deliveries),
        (
            "organizations",
            "organization sync, 100 members unchanged",
            MONTH_HOURS / w.organization_members,
        ),
    ];
    let mut by_area: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (area, name, times) in paths {
        let capacity = units(name);
        let entry = by_area.entry(area).or_default();
        entry.0 += capacity.read * times * accounts;
        entry.1 += capacity.write * times * accounts;
    }
    // A first scan's extra (its 100 `finding.created` audit items) once
    // in an account's life.
    let first_extra = units("notifier, a built-in scan's records").write
        - units("notifier, a re-scan's records").write;
    by_area.entry("scans").or_default().1 += first_extra / w.lifetime_months * accounts;
    let mut lines = Vec::new();
    for (area, (read, write)) in &by_area {
        lines.push(Line {
            service: "DynamoDB",
            what: format!(
                "{area}: {:.2} M read, {:.2} M write units",
                read / 1e6,
                write / 1e6
            ),
            dollars: read / 1e6 * PRICES.dynamodb_read_million
                + write / 1e6 * PRICES.dynamodb_write_million,
        });
    }
    let gb = m.storage_per_account * accounts / 1e9;
    lines.push(Line {
        service: "DynamoDB",
        what: format!(
            "storage: {:.1} KB an account (table and indexes), {gb:.2} GB",
            m.storage_per_account / 1e3
        ),
        dollars: gb * PRICES.dynamodb_gb_month,
    });

    // Lambda: invocations a month and the wall time each bills.
    let calls = |name: &str| f64::from(units(name).calls);
    let api_requests = (w.gets
        + w.patches
        + w.results_pages
        + w.verifications_on_demand
        + 3.0 / w.lifetime_months)
        * accounts;
    let api_billed = billed(
        &m.api_get,
        mb("ApiFunction"),
        calls("v1 get account (key cached)"),
        0.0,
        Duration::ZERO,
    );
    let patch_billed = billed(
        &m.api_patch,
        mb("ApiFunction"),
        calls("v1 patch account"),
        0.0,
        Duration::ZERO,
    );
    let api_mean = (api_billed.mul_f64(w.gets + w.results_pages + w.verifications_on_demand)
        + patch_billed.mul_f64(w.patches))
    .div_f64(w.gets + w.results_pages + w.verifications_on_demand + w.patches);
    // A verification: AssumeRole and GetCallerIdentity, the role read and
    // its permissions simulated; the sweep runs VerifyConcurrency at once.
    let concurrency = template["Parameters"]["VerifyConcurrency"]["Default"]
        .as_f64()
        .expect("VerifyConcurrency's default in template.yaml");
    let verification = billed(
        &m.verification,
        mb("VerifierFunction"),
        calls("sweep, one proven role due"),
        4.0,
        LATENCY.sts_or_iam,
    )
    .div_f64(concurrency);
    let verifier_seconds = verification.as_secs_f64() * w.verifications * accounts
        + VERIFIER_RUNS
            * billed(
                &Work::default(),
                mb("VerifierFunction"),
                calls("sweep, nothing due"),
                0.0,
                Duration::ZERO,
            )
            .as_secs_f64();
    // A scan of 50 users: AssumeRole, the account's authorization
    // details, then each user's keys and MFA devices.
    let scan = billed(
        &m.rescan,
        mb("ScanWorkerFunction"),
        calls("built-in scan of 50 IAM users, again, unchanged"),
        103.0,
        LATENCY.sts_or_iam,
    );
    let notifier_records =
        (m.stream_records_per_rescan * w.scans + 2.0 * w.verifications + w.patches) * accounts;
    let notifier_batches = (notifier_records / 100.0).max(1.0);
    let notifier_batch = billed(
        &m.notifier_record,
        mb("NotifierFunction"),
        0.0,
        0.0,
        Duration::ZERO,
    )
    .mul_f64(100.0)
        + LATENCY.dynamodb.mul_f64(3.0)
        + LATENCY.sqs;
    let deliveries = w.deliveries * accounts;
    let delivery = billed(
        &m.delivery,
        mb("WebhookSenderFunction"),
        calls("webhook delivery"),
        1.0,
        LATENCY.webhook,
    );
    let syncs = MONTH_HOURS / w.organization_members * accounts;
    let sync = billed(
        &Work::default(),
        mb("OrganizationSyncFunction"),
        calls("organization sync, 100 members unchanged"),
        12.0,
        LATENCY.sts_or_iam,
    );
    let functions = [
        ("API", "ApiFunction", api_requests, api_mean),
        (
            "verifier",
            "VerifierFunction",
            VERIFIER_RUNS,
            Duration::from_secs_f64(verifier_seconds / VERIFIER_RUNS),
        ),
        (
            "scan worker",
            "ScanWorkerFunction",
            w.scans * accounts,
            scan,
        ),
        (
            "notifier",
            "NotifierFunction",
            notifier_batches,
            notifier_batch,
        ),
        (
            "webhook sender",
            "WebhookSenderFunction",
            deliveries,
            delivery,
        ),
        ("organization sync", "OrganizationSyncFunction", syncs, sync),
    ];
    let mut log_bytes = 0.0;
    let work_logs = [
        (m.api_get, api_requests),
        (m.verification, w.verifications * accounts),
        (m.rescan, w.scans * accounts),
        (m.notifier_record, notifier_records),
        (m.delivery, deliveries),
    ];
    for (work, times) in work_logs {
        log_bytes += times * (work.log_bytes + work.log_lines * SPAN_BYTES_PER_LINE);
    }
    for (label, function, invocations, each) in functions {
        let memory = mb(function);
        lines.push(Line {
            service: "Lambda",
            what: format!(
                "{label}: {:.0} invocations of {:.1} ms at {memory} MB",
                invocations,
                each.as_secs_f64() * 1e3
            ),
            dollars: lambda_dollars(invocations, each, memory),
        });
        log_bytes += invocations * PLATFORM_LOG_BYTES;
    }
    lines.push(Line {
        service: "API Gateway",
        what: format!("{api_requests:.0} HTTP API requests"),
        dollars: api_requests / 1e6 * PRICES.http_api_requests_million,
    });
    // Each job: sent, received, deleted; and the pollers' receives.
    let sqs_requests =
        3.0 * (w.scans * accounts + deliveries + syncs) + IDLE_RECEIVES_PER_QUEUE * CONSUMED_QUEUES;
    lines.push(Line {
        service: "SQS",
        what: format!(
            "{:.2} M requests (of which {:.2} M the pollers' long polls)",
            sqs_requests / 1e6,
            IDLE_RECEIVES_PER_QUEUE * CONSUMED_QUEUES / 1e6
        ),
        dollars: sqs_requests / 1e6 * PRICES.sqs_requests_million,
    });
    lines.push(Line {
        service: "EventBridge",
        what: format!(
            "{VERIFIER_RUNS:.0} scheduler runs, {:.0} events on the bus",
            w.events * accounts
        ),
        dollars: VERIFIER_RUNS / 1e6 * PRICES.scheduler_invocations_million
            + w.events * accounts / 1e6 * PRICES.eventbridge_events_million,
    });
    let log_gb = log_bytes / 1e9;
    lines.push(Line {
        service: "CloudWatch Logs",
        what: format!("{log_gb:.3} GB written, kept 30 days"),
        dollars: log_gb * (PRICES.logs_ingested_gb + PRICES.logs_stored_gb_month),
    });
    lines.push(Line {
        service: "STS, IAM",
        what: format!(
            "{:.0} AssumeRole calls",
            (w.verifications + w.scans) * accounts
        ),
        dollars: 0.0,
    });
    lines
}

pub async fn run(accounts: u32) {
    println!(
        "== cost: a month of keeping customer accounts verified and scanned, us-east-1 list prices"
    );
    let measured = measure(accounts).await;
    let show = |label: &str, work: &Work| {
        println!(
            "  {label:34} {:7.2} ms CPU, {:6.0} log bytes in {:.1} lines, process peak {:5.1} MiB",
            work.cpu.as_secs_f64() * 1e3,
            work.log_bytes,
            work.log_lines,
            work.peak_mib
        );
    };
    println!("measured in this run (perf build, one process, {accounts} accounts onboarded against DynamoDB Local and moto):");
    show("API GET (key cached)", &measured.api_get);
    show("API PATCH", &measured.api_patch);
    show("scheduled verification, an account", &measured.verification);
    show("built-in scan of 50 users, first", &measured.first_scan);
    show("the same scan again", &measured.rescan);
    show("notifier, a stream record", &measured.notifier_record);
    show("webhook delivery", &measured.delivery);
    println!(
        "  DynamoDB storage an account: {:.1} KB (onboarded, verified, 100 findings, audit)",
        measured.storage_per_account / 1e3
    );
    let w = &WORKLOAD;
    println!(
        "assumed, an account a month: {} verifications, {} scans (50 users, 100 findings, unchanged), {} GETs, {} PATCHes, {} results pages, {} verification on demand, {} webhook deliveries, {} bus events; created and deleted once in {} months; organizations of {} members synced hourly",
        w.verifications, w.scans, w.gets, w.patches, w.results_pages, w.verifications_on_demand, w.deliveries, w.events, w.lifetime_months, w.organization_members
    );
    println!(
        "assumed, a call's wait in AWS: DynamoDB {} ms, STS or IAM {} ms, SQS {} ms, a webhook endpoint {} ms",
        LATENCY.dynamodb.as_millis(),
        LATENCY.sts_or_iam.as_millis(),
        LATENCY.sqs.as_millis(),
        LATENCY.webhook.as_millis()
    );
    println!("prices taken {}", PRICES.taken);
    for fleet in [1_000.0, 100_000.0] {
        let lines = bill(fleet, &measured);
        let total: f64 = lines.iter().map(|line| line.dollars).sum();
        println!(
            "-- {fleet:.0} accounts: ${total:.2} a month, ${:.2} per 1,000 accounts",
            total / fleet * 1000.0
        );
        for line in &lines {
            println!(
                "  {:16} ${:10.2}  {}",
                line.service, line.dollars, line.what
            );
        }
    }
}
