//! The deploy artifacts: each function's zipped size (arm64, as Lambda runs
//! it) and its cold start: process start to first event answered, through
//! a Lambda Runtime API served here, as a ratio to a hello-world
//! lambda_runtime binary built the same way (release profile, cargo-lambda)
//! in the same run. The cold starts run the x86_64 build of the same code:
//! arm64 binaries cannot run on this machine.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

/// Each measured binary: its artifact, what it is called in the table, and
/// the environment it runs with beyond the common one.
struct Measured {
    artifact: &'static str,
    label: &'static str,
    env: Vec<(&'static str, String)>,
}

/// One Runtime API: hands out `event` once per process and reports when
/// the answer (or an error) comes back.
#[derive(Clone)]
struct Runtime {
    event: Arc<Mutex<Option<Value>>>,
    answered: mpsc::UnboundedSender<(Instant, bool)>,
}

async fn next(State(runtime): State<Runtime>) -> Result<(HeaderMap, String), StatusCode> {
    let event = runtime.event.lock().await.take();
    match event {
        Some(event) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                "bench-request".parse().unwrap(),
            );
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            Ok((headers, event.to_string()))
        }
        // The process is killed after its first answer; park meanwhile.
        None => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(StatusCode::GATEWAY_TIMEOUT)
        }
    }
}

async fn respond(State(runtime): State<Runtime>, Path(_id): Path<String>) -> StatusCode {
    let _ = runtime.answered.send((Instant::now(), true));
    StatusCode::ACCEPTED
}

async fn fail(State(runtime): State<Runtime>) -> StatusCode {
    let _ = runtime.answered.send((Instant::now(), false));
    StatusCode::ACCEPTED
}

/// The event each function gets first: for the API, an authenticated
/// listing (GetItem of the key, a Query), as its real first request.
fn event_for(function: &str, key: &str) -> Value {
    let read = |name: &str| -> Value {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("events/")).unwrap()
    };
    match function {
        "api" => {
            let mut event = read("list-accounts.json");
            event["headers"]["x-api-key"] = json!(key);
            event["rawQueryString"] = json!("limit=10");
            event["queryStringParameters"] = json!({"limit": "10"});
            event
        }
        "scan-worker" => json!({"Records": []}),
        "verifier" => read("schedule.json"),
        _ => json!({"hello": "world"}),
    }
}

/// Milliseconds from spawn to the first answer, one process per sample.
async fn cold_starts(
    binary: &std::path::Path,
    function: &str,
    event: &Value,
    env: &[(&'static str, String)],
    table: &str,
    samples: usize,
) -> Vec<f64> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let (answered, mut answers) = mpsc::unbounded_channel();
        let runtime = Runtime {
            event: Arc::new(Mutex::new(Some(event.clone()))),
            answered,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(fail))
            .with_state(runtime);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("TABLE_NAME", table)
            .env("SCAN_QUEUE_URL", "http://127.0.0.1:1/queue/none")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("{}: {err}", binary.display()));
        let answer = tokio::time::timeout(Duration::from_secs(30), answers.recv()).await;
        let _ = child.kill().await;
        server.abort();
        match answer {
            Ok(Some((at, true))) => times.push(at.duration_since(started).as_secs_f64() * 1000.0),
            Ok(Some((_, false))) => panic!("{function} answered its first event with an error"),
            _ => panic!("{function} did not answer within 30 s"),
        }
    }
    times
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

pub async fn run(table: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let samples: usize = crate::env_or("BENCH_COLD_STARTS", 25);
    // A key for the API's first request, and the same key read by its
    // fair baseline.
    let services = crate::services(table).await;
    let issued = service::api_key::ApiKey::issue(
        "bench",
        "cold start",
        vec![service::api_key::Scope::Read],
        "bench",
        None,
        service::time::Timestamp::now(),
    )
    .expect("key");
    service::usecases::api_keys::create(&services.store, &issued.record)
        .await
        .expect("store the key");
    let key_id = issued.record.key_id.clone();
    let baseline = |mode: &str| {
        vec![
            ("BASELINE", mode.to_string()),
            ("BASELINE_KEY_ID", key_id.clone()),
        ]
    };
    let measured = [
        Measured {
            artifact: "hello-lambda",
            label: "hello-lambda",
            env: vec![],
        },
        Measured {
            artifact: "hello-dynamodb",
            label: "fair: api",
            env: baseline("api"),
        },
        Measured {
            artifact: "api",
            label: "api",
            env: vec![],
        },
        Measured {
            artifact: "hello-dynamodb",
            label: "fair: verifier",
            env: baseline("verifier"),
        },
        Measured {
            artifact: "verifier",
            label: "verifier",
            env: vec![],
        },
        Measured {
            artifact: "scan-worker",
            label: "scan-worker",
            env: vec![],
        },
    ];
    println!("== Lambda artifacts: zipped size (arm64) and cold start (x86_64 build, median of {samples}), ratios to hello-world and to the fair baseline (hello-world + the same SDK config and first DynamoDB calls)");
    let mut hello = (0.0, 0u64);
    let mut fair = 0.0;
    for item in measured {
        let zip = root.join(format!("target/lambda/{}/bootstrap.zip", item.artifact));
        let size = std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0);
        let binary = root.join(format!("target/lambda-x86_64/{}/bootstrap", item.artifact));
        if !binary.exists() {
            println!(
                "  {}: {} missing; run `make bench` (it builds both)",
                item.artifact,
                binary.display()
            );
            return;
        }
        let event = event_for(item.artifact, &issued.token);
        let mut times =
            cold_starts(&binary, item.artifact, &event, &item.env, table, samples).await;
        let cold = median(&mut times);
        if item.artifact == "hello-lambda" {
            hello = (cold, size);
        }
        if item.artifact == "hello-dynamodb" {
            fair = cold;
        }
        let fair_ratio = match item.artifact {
            "api" | "verifier" => format!("   fair {:>5.2}x (target <= 1.3)", cold / fair),
            _ => String::new(),
        };
        println!(
            "  {:<15} zipped {:>7.2} MiB ({:>5.2}x)   cold start {cold:>6.1} ms ({:>5.2}x){fair_ratio}",
            item.label,
            size as f64 / 1048576.0,
            size as f64 / hello.1.max(1) as f64,
            cold / hello.0,
        );
    }
}
