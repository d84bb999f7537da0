//! events: the table's stream into events, side by side in one run.
//!
//! 1. Throughput: 10,000 changes (new accounts) read from DynamoDB Local's
//!    stream alone, then read again and handled by the notifier's code in
//!    batches of 100 as the event source mapping hands them over (events
//!    derived, audit items written, the tenant's webhooks looked up); the
//!    ratio is the second rate over the first.
//! 2. Latency: a write to the table, then the stream follower (polling
//!    every 100 ms), the FIFO delivery queue (moto) and the sender's real
//!    HTTP client, until a receiver on 127.0.0.1 has the event: p50, p99.

use crate::env_or;
use service::aws::deliveries::{DeliveryQueue, DeliverySettings};
use service::usecases::notify::Notify;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::stream::StreamReader;

pub async fn run() {
    let changes: usize = env_or("BENCH_STREAM_CHANGES", 10_000);
    throughput(changes).await;
    latency(env_or("BENCH_WEBHOOK_WRITES", 100)).await;
}

async fn table(label: &str) -> (service::runtime::config::Services, String) {
    let table = format!(
        "bench-{label}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let config = service::runtime::config::aws().await;
    testkit::provision::create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .expect("create the table");
    (crate::services(&table).await, table)
}

async fn reader(services: &service::runtime::config::Services, table: &str) -> StreamReader {
    let streams = aws_sdk_dynamodbstreams::Client::new(&services.sdk);
    StreamReader::open(services.store.client(), streams, table)
        .await
        .expect("the table's stream")
}

/// Read until `count` changes came, in the batches GetRecords returns.
async fn read_all(reader: &mut StreamReader, count: usize, mut each: impl AsyncBatch) -> usize {
    let mut read = 0;
    let mut empty = 0;
    while read < count && empty < 50 {
        let batch = reader.poll().await.expect("GetRecords");
        if batch.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        read += batch.len();
        each.handle(batch).await;
    }
    read
}

trait AsyncBatch {
    async fn handle(&mut self, changes: Vec<service::aws::changes::Change>);
}

struct Discard;
impl AsyncBatch for Discard {
    async fn handle(&mut self, _: Vec<service::aws::changes::Change>) {}
}

struct Notifier<'a>(&'a Notify, usize);
impl AsyncBatch for Notifier<'_> {
    async fn handle(&mut self, changes: Vec<service::aws::changes::Change>) {
        for batch in changes.chunks(100) {
            self.1 += self.0.handle(batch).await.expect("notify").len();
        }
    }
}

async fn throughput(count: usize) {
    println!("== events: {count} changes through the table's stream");
    let (services, table) = table("stream").await;
    let now = service::time::Timestamp::now();
    let items: Vec<_> = (0..count)
        .map(|i| {
            let account = crate::fleet::sample_account(
                i,
                service::account::Environment::Prod,
                300_000_000_000,
                now,
            );
            service::aws::store::account_item("bench", &account).expect("item")
        })
        .collect();
    let client = services.store.client().clone();
    crate::batch_put_all(&client, &table, items).await;

    let started = Instant::now();
    let read = read_all(&mut reader(&services, &table).await, count, Discard).await;
    let raw = started.elapsed();

    let notify = Notify {
        store: services.store.clone(),
        retention_days: 30,
        bus: None,
        deliveries: None,
    };
    let started = Instant::now();
    let mut notifier = Notifier(&notify, 0);
    let handled = read_all(&mut reader(&services, &table).await, count, &mut notifier).await;
    let through = started.elapsed();
    let events = notifier.1;
    // The floor: the same reads, and per batch of 100 the one write the
    // notifier cannot avoid, one audit-sized item per change, as raw
    // BatchWriteItem calls of 25, four at once.
    let started = Instant::now();
    let mut floor_writer = RawWrites {
        client: services.store.client().clone(),
        table: table.clone(),
        written: 0,
    };
    let floored = read_all(
        &mut reader(&services, &table).await,
        count,
        &mut floor_writer,
    )
    .await;
    let floor = started.elapsed();
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "stream read alone: {read} changes in {:.2} s = {:.0}/s; read + notifier (events, audit log, webhook lookup): {handled} changes, {events} events in {:.2} s = {:.0}/s, ratio to the read alone {:.2}",
        raw.as_secs_f64(),
        rate(read, raw),
        through.as_secs_f64(),
        rate(handled, through),
        rate(handled, through) / rate(read, raw),
    );
    println!(
        "floor (read + raw BatchWriteItem of one audit-sized item per change): {floored} changes in {:.2} s = {:.0}/s; notifier / floor {:.2} (target >= 0.80)",
        floor.as_secs_f64(),
        rate(floored, floor),
        rate(handled, through) / rate(floored, floor),
    );
}

/// Raw BatchWriteItem of one item per change (about an audit event's
/// size), per batch of 100: 4 calls of 25 at once.
struct RawWrites {
    client: aws_sdk_dynamodb::Client,
    table: String,
    written: usize,
}

impl AsyncBatch for RawWrites {
    async fn handle(&mut self, changes: Vec<service::aws::changes::Change>) {
        use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
        for batch in changes.chunks(100) {
            let requests: Vec<Vec<WriteRequest>> = batch
                .chunks(25)
                .map(|chunk| {
                    chunk
                        .iter()
                        .map(|change| {
                            self.written += 1;
                            let item = std::collections::HashMap::from([
                                ("pk".to_string(), AttributeValue::S("T#floor".into())),
                                (
                                    "sk".to_string(),
                                    AttributeValue::S(format!("FLOOR#{}", change.record_id)),
                                ),
                                ("data".to_string(), AttributeValue::S("x".repeat(600))),
                            ]);
                            WriteRequest::builder()
                                .put_request(
                                    PutRequest::builder()
                                        .set_item(Some(item))
                                        .build()
                                        .expect("put"),
                                )
                                .build()
                        })
                        .collect()
                })
                .collect();
            futures::future::join_all(
                requests
                    .into_iter()
                    .map(|pending| crate::batch_write_all(&self.client, &self.table, pending)),
            )
            .await;
        }
    }
}

impl<T: AsyncBatch> AsyncBatch for &mut T {
    async fn handle(&mut self, changes: Vec<service::aws::changes::Change>) {
        (**self).handle(changes).await
    }
}

async fn latency(writes: usize) {
    println!("== events: write → webhook received, {writes} writes");
    let (services, table) = table("webhook").await;
    let sqs = services.sqs.clone();
    let prefix = format!("b{}", ulid::Ulid::new().to_string().to_lowercase());
    let urls = testkit::provision::create_queues(&sqs, &prefix)
        .await
        .expect("queues");
    let definition = &service::aws::schema::WEBHOOK_QUEUE;
    let queue = DeliveryQueue::new(
        sqs.clone(),
        urls[definition.logical_id].clone(),
        Some(urls[definition.dead_letter_logical_id].clone()),
    );

    // The receiver notes when each account's event arrived.
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let record = arrived.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let record = record.clone();
        async move {
            let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if let Some(id) = event["account_id"].as_str() {
                record
                    .lock()
                    .unwrap()
                    .insert(id.to_string(), Instant::now());
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let webhooks = service::usecases::webhooks::Webhooks {
        store: &services.store,
        allow_loopback_http: true,
    };
    let request: service::usecases::webhooks::CreateWebhookRequest =
        serde_json::from_value(serde_json::json!({
            "url": format!("http://{address}/hook"),
            "event_types": ["account.created"],
        }))
        .expect("request");
    webhooks
        .create("bench", "bench", request)
        .await
        .expect("webhook");

    // The stream follower and the sender, as the dev server runs them.
    let notify = Notify {
        store: services.store.clone(),
        retention_days: 30,
        bus: None,
        deliveries: Some(queue.clone()),
    };
    let mut stream = reader(&services, &table).await;
    tokio::spawn(async move {
        loop {
            let changes = stream.poll().await.expect("GetRecords");
            if !changes.is_empty() {
                notify.handle(&changes).await.expect("notify");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let sender = Arc::new(webhook_sender::Sender {
        store: services.store.clone(),
        queue,
        settings: Arc::new(DeliverySettings {
            allow_loopback_http: true,
            ..(*services.delivery_settings).clone()
        }),
        retention_days: 30,
        transport: webhook_sender::http::HttpTransport::new(true).expect("client"),
    });
    for _ in 0..2 {
        let (sender, sqs) = (sender.clone(), sqs.clone());
        tokio::spawn(async move {
            loop {
                let _ =
                    testkit::webhook_pump::poll_once(&sender, &sqs, Duration::from_secs(1)).await;
            }
        });
    }

    let now = service::time::Timestamp::now();
    let mut written = HashMap::new();
    for i in 0..writes {
        let account = crate::fleet::sample_account(
            i,
            service::account::Environment::Prod,
            400_000_000_000,
            now,
        );
        let id = account.account_id.clone();
        services
            .store
            .create_account("bench", &account)
            .await
            .expect("create");
        written.insert(id, Instant::now());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.lock().unwrap().len() < writes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrived = arrived.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = written
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|got| got.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!(
        "received {} of {writes}; write → webhook p50 {} ms, p99 {} ms (stream polled every 100 ms; in AWS the event source mapping polls each shard about 4 times a second)",
        latencies.len(),
        at(0.50).as_millis(),
        at(0.99).as_millis(),
    );
}
