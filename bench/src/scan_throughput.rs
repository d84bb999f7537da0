//! The scan worker's throughput: queued scans of an external data source,
//! handed over by the real worker (its batch lifter, claims, hand-over
//! transaction, SQS send, attachment and region updates) against the raw
//! DynamoDB and SQS calls a hand-over requires, made directly, at the same
//! concurrency (batches of 10, four jobs of a batch at once, `lambdas`
//! batches at once), on DynamoDB Local and moto's SQS, in one run.
//!
//! The raw calls per scan: BatchGetItem (account, attachment, scan),
//! UpdateItem claim, TransactWriteItems (scan FORWARDED + its reference),
//! SQS SendMessage, then UpdateItem of the attachment beside UpdateItem of
//! the account's regions.

use crate::{batch_put_all, Item};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use futures::StreamExt;
use service::account::{Account, AccountFields, VerificationStatus};
use service::scans::{AttachRequest, Catalogue, Scan, ScanJob};
use service::time::Timestamp;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TENANT: &str = "bench";
const SOURCE: &str = "bench:ext";
const JOBS_AT_ONCE: usize = 4;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn key(sk: String) -> Item {
    HashMap::from([
        ("pk".into(), s(format!("T#{TENANT}"))),
        ("sk".into(), s(sk)),
    ])
}

/// `count` verified accounts, each with the external source attached and
/// one QUEUED scan; the jobs that name them.
async fn seed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    first: usize,
    count: usize,
) -> Vec<ScanJob> {
    let now = Timestamp::now();
    let mut items = Vec::new();
    let mut jobs = Vec::new();
    for i in first..first + count {
        let id = format!("{:012}", 300_000_000_000u64 + i as u64);
        let role = format!("arn:aws:iam::{id}:role/Audit");
        let fields = AccountFields {
            name: format!("bench {i}"),
            role_arn: Some(role.clone()),
            regions: vec!["us-east-1".into()],
            ..Default::default()
        };
        let mut account = Account::register(id.clone(), fields, "bench", now);
        account.credential.verification_status = VerificationStatus::Success;
        account.credential.role_arn = Some(role);
        items.push(service::aws::store::account_item(TENANT, &account).expect("account item"));
        let attachment = AttachRequest::default().apply(
            &id,
            account.fields.role_arn.as_deref(),
            SOURCE,
            None,
            "bench",
            now,
        );
        let mut item: Item = serde_dynamo::to_item(&attachment).expect("attachment item");
        item.extend(key(service::aws::store::keys::attachment_sk(&id, SOURCE)));
        item.insert("type".into(), s("attachment"));
        items.push(item);
        let mut scan = Scan::queued(&id, SOURCE, false, vec!["us-east-1".into()], "bench", now);
        scan.scan_id = ulid::Ulid::new().to_string();
        let mut item: Item = serde_dynamo::to_item(&scan).expect("scan item");
        item.extend(key(service::aws::store::keys::scan_sk(&id, &scan.scan_id)));
        item.insert("type".into(), s("scan"));
        items.push(item);
        jobs.push(ScanJob {
            tenant: TENANT.into(),
            account_id: id,
            data_source: SOURCE.into(),
            scan_id: scan.scan_id,
            region: None,
        });
    }
    batch_put_all(client, table, items).await;
    jobs
}

/// Jobs as the event source mapping hands them over: batches of 10.
fn batches(jobs: &[ScanJob]) -> Vec<SqsEvent> {
    jobs.chunks(10)
        .map(|chunk| {
            let mut event = SqsEvent::default();
            event.records = chunk
                .iter()
                .map(|job| {
                    let mut message = SqsMessage::default();
                    message.message_id = Some(ulid::Ulid::new().to_string());
                    message.body = Some(serde_json::to_string(job).expect("job"));
                    message
                        .attributes
                        .insert("ApproximateReceiveCount".into(), "1".into());
                    message
                })
                .collect();
            event
        })
        .collect()
}

async fn run_worker(
    worker: &service::usecases::scan_run::ScanRunner,
    jobs: &[ScanJob],
    lambdas: usize,
) -> (Duration, usize) {
    let started = Instant::now();
    let failures: usize = futures::stream::iter(batches(jobs))
        .map(|event| async move {
            scan_worker::handle_batch(worker, event, service::usecases::scan_run::Deadline::NONE)
                .await
                .batch_item_failures
                .len()
        })
        .buffer_unordered(lambdas)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    (started.elapsed(), failures)
}

/// The calls one hand-over requires, made directly.
async fn raw_handover(
    client: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
    queue: &str,
    job: &ScanJob,
) {
    let scan_sk = service::aws::store::keys::scan_sk(&job.account_id, &job.scan_id);
    let attachment_sk = service::aws::store::keys::attachment_sk(&job.account_id, SOURCE);
    let wanted = KeysAndAttributes::builder()
        .keys(key(service::aws::store::keys::account_sk(&job.account_id)))
        .keys(key(attachment_sk.clone()))
        .keys(key(scan_sk.clone()))
        .consistent_read(true)
        .build()
        .expect("keys");
    client
        .batch_get_item()
        .request_items(table, wanted)
        .send()
        .await
        .expect("batch get");
    let now = Timestamp::now().to_string();
    client
        .update_item()
        .table_name(table)
        .set_key(Some(key(scan_sk.clone())))
        .update_expression("SET #status = :running, started_at = :now, attempts = attempts + :one")
        .condition_expression("#status = :queued")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":running", s("RUNNING"))
        .expression_attribute_values(":queued", s("QUEUED"))
        .expression_attribute_values(":now", s(&now))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("claim");
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(scan_sk)))
        .update_expression(
            "SET #status = :forwarded, deadline_at = :now, due_shard = :shard, due_at = :now",
        )
        .condition_expression("#status = :running")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":forwarded", s("FORWARDED"))
        .expression_attribute_values(":running", s("RUNNING"))
        .expression_attribute_values(":now", s(&now))
        .expression_attribute_values(":shard", s("SCANDEADLINE"))
        .build()
        .expect("update");
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(format!("SCAN#{}", job.scan_id)))
        .item("sk", s("SCAN"))
        .item("tenant", s(TENANT))
        .item("account_id", s(&job.account_id))
        .item("data_source", s(SOURCE))
        .item("scan_id", s(&job.scan_id))
        .build()
        .expect("put");
    client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().put(put).build())
        .send()
        .await
        .expect("hand-over");
    sqs.send_message()
        .queue_url(queue)
        .message_body(serde_json::to_string(job).expect("job"))
        .send()
        .await
        .expect("send");
    let attachment = client
        .update_item()
        .table_name(table)
        .set_key(Some(key(attachment_sk)))
        .update_expression("SET #status = :status, status_detail = :detail")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":status", s("IN_PROGRESS"))
        .expression_attribute_values(":detail", s("handed to the external scanner"))
        .send();
    let regions = client
        .update_item()
        .table_name(table)
        .set_key(Some(key(service::aws::store::keys::account_sk(
            &job.account_id,
        ))))
        .update_expression("SET #r = :r")
        .expression_attribute_names("#r", "rsync:us-east-1")
        .expression_attribute_values(":r", s("IN_PROGRESS"))
        .send();
    let (attachment, regions) = futures::join!(attachment, regions);
    attachment.expect("attachment");
    regions.expect("regions");
}

async fn run_raw(
    client: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
    queue: &str,
    jobs: &[ScanJob],
    lambdas: usize,
) -> Duration {
    let started = Instant::now();
    futures::stream::iter(jobs.chunks(10))
        .map(|batch| async move {
            futures::stream::iter(batch)
                .map(|job| raw_handover(client, sqs, table, queue, job))
                .buffer_unordered(JOBS_AT_ONCE)
                .collect::<Vec<_>>()
                .await
        })
        .buffer_unordered(lambdas)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

pub async fn run(scans: usize, lambdas: usize) {
    println!("== scan worker: {scans} queued scans of an external data source, {lambdas} batches of 10 at once");
    let table = format!(
        "bench-scans-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let config = service::runtime::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    testkit::provision::create_table_with_stream(&client, &table, false)
        .await
        .expect("create the table");
    let services = crate::services(&table).await;
    let sqs = services.sqs.clone();
    let queue = sqs
        .create_queue()
        .queue_name(format!("bench-ext-{}", ulid::Ulid::new()))
        .send()
        .await
        .expect("external queue")
        .queue_url
        .expect("queue url");
    let catalogue = Catalogue::with_external(
        &serde_json::json!([{"name": SOURCE, "description": "bench", "max_score": 10.0, "queue_url": queue}]).to_string(),
    )
    .expect("catalogue");
    let worker = service::usecases::scan_run::ScanRunner {
        catalogue: std::sync::Arc::new(catalogue),
        ..service::usecases::scan_run::ScanRunner::new(&services)
    };
    // Warm-up: DynamoDB Local's JVM compiles these paths on first use.
    let warm = seed(&client, &table, 0, 200).await;
    run_raw(&client, &sqs, &table, &queue, &warm[..100], lambdas).await;
    run_worker(&worker, &warm[100..], lambdas).await;
    // Raw, worker, worker, raw: a drift of the emulators weighs on both alike.
    let mut raw = Duration::ZERO;
    let mut handed = Duration::ZERO;
    for (round, worker_turn) in [false, true, true, false].into_iter().enumerate() {
        let jobs = seed(&client, &table, 1000 + round * scans, scans).await;
        if worker_turn {
            let (elapsed, failures) = run_worker(&worker, &jobs, lambdas).await;
            assert_eq!(failures, 0, "every job handed over");
            handed += elapsed;
        } else {
            raw += run_raw(&client, &sqs, &table, &queue, &jobs, lambdas).await;
        }
    }
    let rate = |elapsed: Duration| (2 * scans) as f64 / elapsed.as_secs_f64();
    println!(
        "  worker {:.0} scans/s, raw calls {:.0} scans/s: ratio {:.2} (target >= 0.80)",
        rate(handed),
        rate(raw),
        rate(handed) / rate(raw)
    );
}
