//! Load and faults against the dev server (the API, worker and verifier in
//! one process, as `make dev` runs them), loopback only.
//!
//! 1. Load: mixed reads and writes for `BENCH_LOAD_SECONDS` (60) at
//!    `BENCH_LOAD_CONCURRENCY` (32): throughput, p50/p99 latency, errors,
//!    and the process's peak resident memory (VmHWM).
//! 2. Faults: a proxy between the service and DynamoDB Local delays some
//!    calls, answers others 500 or ThrottlingException, and for some lets
//!    the write through but answers 500 anyway (the ambiguous case). Each
//!    request must succeed (after the SDK's retries) or answer 503 with
//!    Retry-After; clients retry those. Then everything is read back: no
//!    acknowledged write lost, none doubled.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::{json, Value};
use service::api_key::{ApiKey, Scope};
use service::time::Timestamp;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http()
}

struct DevServer {
    child: tokio::process::Child,
    port: u16,
    key: String,
}

impl DevServer {
    async fn start(table: &str, dynamodb_endpoint: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = ApiKey::issue(
            "default",
            "bench",
            Scope::ALL.to_vec(),
            "bench",
            None,
            Timestamp::now(),
        )
        .unwrap()
        .token;
        let binary =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/perf/dev-server");
        let child = tokio::process::Command::new(&binary)
            .env("PORT", port.to_string())
            .env("TABLE_NAME", table)
            .env("QUEUE_PREFIX", table)
            .env("DEV_API_KEY", &key)
            .env("VERIFIER_INTERVAL_SECONDS", "3600")
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("{}: {err} (make bench builds it)", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the dev server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        DevServer { child, port, key }
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    fn peak_mib(&self) -> f64 {
        let pid = self.child.id().unwrap_or(0);
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|line| line.starts_with("VmHWM:"))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

/// One request; returns status, the Retry-After seconds, and the body.
async fn call(
    http: &HttpClient,
    server: &DevServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<u64>, Value) {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{}{path}", server.port))
        .header("x-api-key", &server.key);
    if body.is_some() {
        let media = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        request = request.header("content-type", media);
    }
    let request = request
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    match http.request(request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (
                status,
                retry_after,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }
        Err(_) => (0, None, Value::Null),
    }
}

fn account_id(worker: usize, n: usize) -> String {
    format!("{:012}", 700_000_000_000 + worker * 100_000 + n)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run() {
    let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
    let seconds: u64 = crate::env_or("BENCH_LOAD_SECONDS", 60);
    let concurrency: usize = crate::env_or("BENCH_LOAD_CONCURRENCY", 32);
    let table = format!("load{}", ulid::Ulid::new().to_string().to_lowercase());
    let server = Arc::new(DevServer::start(&table, &dynamodb).await);
    let http = client();
    println!("== load: mixed reads and writes against the dev server for {seconds} s, concurrency {concurrency}");
    // Seed: 20 accounts per worker.
    for worker in 0..concurrency {
        for n in 0..20 {
            let (status, _, body) = call(&http, &server, "POST", "/v1/accounts", Some(json!({"account_id": account_id(worker, n), "name": format!("load {worker} {n}")}))).await;
            assert_eq!(status, 201, "seeding: {body}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let http = http.clone();
            let server = server.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
                let mut created = 20;
                let mut i: usize = 0;
                while Instant::now() < deadline {
                    i += 1;
                    let target = account_id(worker, i % created);
                    // 60% reads of one account, 20% listings, 15% patches, 5% creates.
                    let (method, path, body) = match i % 20 {
                        0 => {
                            created += 1;
                            ("POST", "/v1/accounts".to_string(), Some(json!({"account_id": account_id(worker, created - 1), "name": "new"})))
                        }
                        1..=3 => ("PATCH", format!("/v1/accounts/{target}"), Some(json!({"labels": {"i": i.to_string()}}))),
                        4..=7 => ("GET", "/v1/accounts?limit=20".to_string(), None),
                        _ => ("GET", format!("/v1/accounts/{target}"), None),
                    };
                    let sent = Instant::now();
                    let (status, _, _) = call(&http, &server, method, &path, body).await;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    if !(200..300).contains(&status) {
                        *errors.entry(status).or_default() += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
    for task in tasks {
        let (mut l, e) = task.await.unwrap();
        latencies.append(&mut l);
        for (status, count) in e {
            *errors.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let error_count: u64 = errors.values().sum();
    println!(
        "  {} requests in {elapsed:.1} s: {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms; errors {error_count} {errors:?} (target 0); peak memory of the dev server (API + worker + verifier) {:.1} MiB (target < 64)",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        server.peak_mib(),
    );
    drop(server);
    faults(&dynamodb).await;
}

/// Counts of what the fault proxy did.
#[derive(Default)]
struct Injected {
    /// Faults start once the dev server is up (its start-up is not the test).
    armed: std::sync::atomic::AtomicBool,
    requests: AtomicU64,
    delayed: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
    ambiguous: AtomicU64,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: Client<HttpConnector, Body>,
    injected: Arc<Injected>,
}

fn dynamodb_error(status: u16, kind: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Body::from(json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": "injected by the bench's fault proxy"}).to_string()))
        .unwrap()
}

/// Every 50 requests: 2 answered 500, 2 throttled, 1 written but answered
/// 500, 3 delayed 300 ms; the rest pass.
async fn proxy(State(proxy): State<Proxy>, request: Request) -> Response {
    let fault = if proxy.injected.armed.load(Ordering::Relaxed) {
        proxy.injected.requests.fetch_add(1, Ordering::Relaxed) % 50
    } else {
        u64::MAX
    };
    match fault {
        0 | 1 => {
            proxy.injected.failed.fetch_add(1, Ordering::Relaxed);
            return dynamodb_error(500, "InternalServerError");
        }
        2 | 3 => {
            proxy.injected.throttled.fetch_add(1, Ordering::Relaxed);
            return dynamodb_error(400, "ThrottlingException");
        }
        5..=7 => {
            proxy.injected.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        _ => {}
    }
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    parts.uri = format!("{}{path}", proxy.upstream).parse().unwrap();
    match proxy
        .http
        .request(hyper::Request::from_parts(parts, body))
        .await
    {
        Ok(response) if fault == 4 => {
            // The write happened; the caller is told it did not.
            let _ = response.into_body().collect().await;
            proxy.injected.ambiguous.fetch_add(1, Ordering::Relaxed);
            dynamodb_error(500, "InternalServerError")
        }
        Ok(response) => response.map(Body::new),
        Err(_) => dynamodb_error(500, "InternalServerError"),
    }
}

async fn faults(dynamodb: &str) {
    let seconds: u64 = crate::env_or("BENCH_FAULT_SECONDS", 20);
    let workers: usize = 16;
    let injected = Arc::new(Injected::default());
    let state = Proxy {
        upstream: dynamodb.trim_end_matches('/').to_string(),
        http: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        injected: injected.clone(),
    };
    let app = axum::Router::new().fallback(proxy).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let table = format!("faults{}", ulid::Ulid::new().to_string().to_lowercase());
    // The table is made directly; the service reaches it only through the proxy.
    let config = service::runtime::config::aws().await;
    let dynamodb_client = aws_sdk_dynamodb::Client::new(&config);
    testkit::provision::create_table(&dynamodb_client, &table)
        .await
        .unwrap();
    let server = Arc::new(DevServer::start(&table, &format!("http://{address}")).await);
    injected.armed.store(true, Ordering::Relaxed);
    println!("== faults between the service and DynamoDB for {seconds} s ({workers} clients): 4% answered 500, 4% throttled, 2% written but answered 500, 6% delayed 300 ms");
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let outcomes: Arc<Mutex<Vec<ClientOutcome>>> = Arc::new(Mutex::default());
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let (http, server, outcomes) = (http.clone(), server.clone(), outcomes.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut accounts: BTreeMap<String, usize> = BTreeMap::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    let id = account_id(worker, n);
                    // Create, then three patches; each retried on 503 until acknowledged.
                    let create = json!({"account_id": id, "name": format!("fault {worker} {n}")});
                    let mut retried = false;
                    loop {
                        let (status, retry_after, _) =
                            call(&http, &server, "POST", "/v1/accounts", Some(create.clone()))
                                .await;
                        match status {
                            201 => break,
                            // Our own earlier attempt landed though it was answered 503.
                            409 if retried => {
                                tally.converged += 1;
                                break;
                            }
                            503 if retry_after.is_some() => {
                                tally.unavailable += 1;
                                retried = true;
                            }
                            other => {
                                tally.unexpected.push(other);
                                break;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    for value in 1..=3 {
                        loop {
                            let (status, retry_after, _) = call(
                                &http,
                                &server,
                                "PATCH",
                                &format!("/v1/accounts/{id}"),
                                Some(json!({"labels": {"n": value.to_string()}})),
                            )
                            .await;
                            match status {
                                200 => {
                                    accounts.insert(id.clone(), value);
                                    break;
                                }
                                503 if retry_after.is_some() => tally.unavailable += 1,
                                other => {
                                    tally.unexpected.push(other);
                                    break;
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    tally.requests += 4;
                }
                outcomes.lock().await.push((tally, accounts));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    drop(server);
    // Read back everything, straight from DynamoDB.
    let store = service::aws::store::Store::new(dynamodb_client, table);
    let stored: BTreeMap<String, service::account::Account> = store
        .all_accounts("default")
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.account_id.clone(), a))
        .collect();
    let outcomes = outcomes.lock().await;
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let mut tally = Tally::default();
    for (t, accounts) in outcomes.iter() {
        expected.extend(accounts.clone());
        tally.requests += t.requests;
        tally.unavailable += t.unavailable;
        tally.converged += t.converged;
        tally.unexpected.extend(t.unexpected.iter().copied());
    }
    let lost = expected
        .iter()
        .filter(|(id, value)| {
            stored.get(*id).and_then(|a| a.fields.labels.get("n")) != Some(&value.to_string())
        })
        .count();
    // Only the clients' own accounts (named "fault ..."): the dev server
    // registers a sample account of its own at start, which no client made.
    let extra = stored
        .iter()
        .filter(|(id, account)| {
            account.fields.name.starts_with("fault ") && !expected.contains_key(*id)
        })
        .count();
    println!(
        "  {} acknowledged writes over {} accounts; proxy: {} DynamoDB calls, {} answered 500, {} throttled, {} written-but-500, {} delayed",
        tally.requests,
        expected.len(),
        injected.requests.load(Ordering::Relaxed),
        injected.failed.load(Ordering::Relaxed),
        injected.throttled.load(Ordering::Relaxed),
        injected.ambiguous.load(Ordering::Relaxed),
        injected.delayed.load(Ordering::Relaxed),
    );
    println!(
        "  503 with Retry-After (then retried): {}; creates whose 503'd attempt had landed (409 on retry): {}; other statuses: {:?} (target none)",
        tally.unavailable, tally.converged, tally.unexpected
    );
    println!(
        "  read back: {} accounts stored; lost or stale acknowledged writes: {lost} (target 0); accounts never acknowledged: {extra} (target 0)",
        stored.len()
    );
}

use tokio::sync::Mutex;

/// One client's tally, and the last acknowledged label of each of its accounts.
type ClientOutcome = (Tally, BTreeMap<String, usize>);

#[derive(Default)]
struct Tally {
    requests: u64,
    unavailable: u64,
    converged: u64,
    unexpected: Vec<u16>,
}
