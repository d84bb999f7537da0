//! The scan worker: consumes scan jobs from SQS in batches and answers with
//! partial batch failures, so one bad message never fails its neighbours.
//!
//! This crate parses and acknowledges jobs; running scans with the
//! customer's role arrives with the data-sources issue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// Handle one batch. Messages whose body is not a JSON object are reported
/// as failures, so SQS redelivers them and finally dead-letters them.
pub async fn handle_batch(event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let parsed = message
            .body
            .as_deref()
            .map(serde_json::from_str::<serde_json::Map<String, serde_json::Value>>);
        match parsed {
            Some(Ok(job)) => {
                tracing::info!(message_id = %id, fields = job.len(), "scan job received");
            }
            _ => {
                tracing::warn!(message_id = %id, "scan job is not a JSON object");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
    }

    #[tokio::test]
    async fn malformed_messages_fail_alone() {
        let mut event = SqsEvent::default();
        event.records = vec![
            message("good", r#"{"scan_id":"s1"}"#),
            message("bad", "not json"),
        ];
        let response = handle_batch(event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["bad"]);
    }
}
