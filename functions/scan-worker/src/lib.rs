//! The scan worker: consumes scan jobs from SQS in batches and answers with
//! partial batch failures, so one bad message never fails its neighbours.
//!
//! This crate is the adapter: it parses each message, names it in the logs
//! and lifts the per-message results into the batch response. Running a
//! job (claim, scan, store, record) is the use case
//! `service::usecases::scan_run`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use service::scans::ScanJob;
use service::usecases::scan_run::{Deadline, Retry, ScanRunner};
use std::collections::BTreeMap;

/// Jobs of one batch run at once (messages of the same scan run in turn).
const JOBS_AT_ONCE: usize = 4;

/// A message's body read as a scan job, or why it is not one.
pub type ParsedJob = Result<ScanJob, String>;

/// Handle one batch before `deadline`; the failures are the messages SQS
/// should deliver again.
pub async fn handle_batch(
    runner: &ScanRunner,
    event: SqsEvent,
    deadline: Deadline,
) -> SqsBatchResponse {
    handle_by_scan(event, |message, job| async move {
        handle_message(runner, &message, job, deadline).await
    })
    .await
}

async fn handle_message(
    runner: &ScanRunner,
    message: &SqsMessage,
    job: ParsedJob,
    deadline: Deadline,
) -> Result<(), Retry> {
    let job = match job {
        Ok(job) => job,
        Err(err) => {
            // serde's message names the position, never the content.
            tracing::warn!(
                message_id = message.message_id.as_deref().unwrap_or(""),
                error = %err,
                "not a scan job; after maxReceiveCount it goes to the dead-letter queue"
            );
            return Err(Retry::Malformed(err));
        }
    };
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse::<u32>().ok())
        .unwrap_or(1);
    // Every line about this job names it, its tenant and account.
    let span = tracing::info_span!(
        "scan_job",
        message_id = message.message_id.as_deref().unwrap_or(""),
        tenant = %job.tenant,
        account_id = %job.account_id,
        scan_id = %job.scan_id,
        data_source = %job.data_source,
        region = job.region.as_deref().unwrap_or(""),
        receive_count,
    );
    let result =
        tracing::Instrument::instrument(runner.run(&job, receive_count, deadline), span.clone())
            .await;
    span.in_scope(|| match &result {
        Ok(()) => tracing::info!("scan job done"),
        Err(retry) => tracing::warn!(reason = ?retry, "scan job will be delivered again"),
    });
    result
}

/// Run `handle` on each message of a batch and report the messages it
/// failed as batch item failures. Messages of one scan run in turn, in
/// the order received (so a duplicate in the same batch finds the scan
/// finished instead of busy); different scans run [`JOBS_AT_ONCE`] at once.
pub async fn handle_by_scan<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage, ParsedJob) -> Fut,
    Fut: std::future::Future<Output = Result<(), Retry>>,
{
    let mut by_scan: BTreeMap<String, Vec<(SqsMessage, ParsedJob)>> = BTreeMap::new();
    for message in event.records {
        let job = serde_json::from_str::<ScanJob>(message.body.as_deref().unwrap_or(""))
            .map_err(|err| err.to_string());
        let key = match &job {
            Ok(job) => job.scan_id.clone(),
            Err(_) => message.message_id.clone().unwrap_or_default(),
        };
        by_scan.entry(key).or_default().push((message, job));
    }
    let handle = &handle;
    let failed: Vec<String> = futures::stream::iter(by_scan.into_values())
        .map(|messages| async move {
            let mut failed = Vec::new();
            for (message, job) in messages {
                let id = message.message_id.clone().unwrap_or_default();
                if handle(message, job).await.is_err() {
                    failed.push(id);
                }
            }
            failed
        })
        .buffer_unordered(JOBS_AT_ONCE)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(messages: &[(&str, &str)]) -> SqsEvent {
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|(id, body)| {
                serde_json::json!({
                    "messageId": id, "receiptHandle": "r", "body": body,
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:scans",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn job(scan_id: &str) -> String {
        serde_json::json!({
            "tenant": "t", "account_id": "000000000001",
            "data_source": "aws:iam", "scan_id": scan_id,
        })
        .to_string()
    }

    /// The batch lifter alone, on an SQS event as Lambda delivers it: the
    /// failures are exactly the messages the handler failed, and messages
    /// of one scan reach it in the order received.
    #[tokio::test]
    async fn batch_failures_are_the_failed_messages() {
        let (a, b) = (
            job("01JA0000000000000000000000"),
            job("01JB0000000000000000000000"),
        );
        let event = event(&[
            ("m1", &a),
            ("m2", "not json"),
            ("m3", &b),
            ("m4", &a),
            ("m5", &b),
        ]);
        let seen = std::sync::Mutex::new(Vec::new());
        let response = handle_by_scan(event, |message, job| {
            let seen = &seen;
            async move {
                let id = message.message_id.unwrap();
                seen.lock().unwrap().push(id.clone());
                match job {
                    Err(err) => Err(Retry::Malformed(err)),
                    Ok(job) if id == "m5" => Err(Retry::Failed(job.scan_id)),
                    Ok(_) => Ok(()),
                }
            }
        })
        .await;
        let mut failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        failed.sort();
        assert_eq!(failed, ["m2", "m5"]);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 5);
        let position = |id: &str| seen.iter().position(|s| s == id).unwrap();
        assert!(position("m1") < position("m4"), "{seen:?}");
        assert!(position("m3") < position("m5"), "{seen:?}");
    }
}
