//! The notifier: each batch of the table's stream becomes domain events
//! ([`service::events`]), kept in the audit log, put on the EventBridge bus
//! and queued for each webhook endpoint that wants them
//! ([`service::usecases::notify`]). A record that cannot be recorded is
//! isolated (the batch is split around it) and reported as the batch item
//! failure, so the event source mapping retries from there (records of one
//! item stay in order); recording twice writes the same items, so a
//! retried or duplicated batch adds nothing.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use service::aws::changes::{Change, Image};
use service::time::Timestamp;
use service::usecases::notify::Notify;

pub struct Notifier {
    notify: Notify,
}

impl Notifier {
    /// Built from the composition root.
    pub fn new(services: &service::runtime::config::Services) -> Self {
        Notifier {
            notify: Notify::new(services),
        }
    }

    /// Record one stream batch; a record that could not be recorded is
    /// named as the batch item failure, so the event source mapping
    /// retries from it (every record before it was recorded, and records
    /// of one item stay in order) and, after its retries, sends it to the
    /// on-failure destination and goes on.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let sequences: Vec<Option<String>> = event
            .records
            .iter()
            .map(|record| record.change.sequence_number.clone())
            .collect();
        let changes: Vec<Change> = event.records.into_iter().map(change_of).collect();
        let mut response = DynamoDbEventResponse::default();
        if let Some((index, err)) = self.notify.record(&changes).await.failed {
            tracing::error!(error = %err.chain(), record = index, records = changes.len(), "stream record not recorded; it and the records after it will be retried");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequences[index].clone();
            response.batch_item_failures.push(failure);
        }
        response
    }
}

/// One Lambda stream record as a [`Change`]; an absent image is `None`.
pub fn change_of(record: EventRecord) -> Change {
    let image = |item: serde_dynamo::Item| -> Option<Image> {
        let image: Image = item.into();
        (!image.is_empty()).then_some(image)
    };
    Change {
        record_id: record.event_id,
        sequence: record.change.sequence_number.clone().unwrap_or_default(),
        time: Timestamp::from_datetime(record.change.approximate_creation_date_time),
        old: image(record.change.old_image),
        new: image(record.change.new_image),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample event of `events/` (for `cargo lambda invoke`) stays a
    /// valid stream batch: one account.created, its external ID not shown.
    #[test]
    fn the_sample_event_is_one_account_created() {
        let event: Event =
            serde_json::from_str(include_str!("../../../events/stream-record.json")).unwrap();
        let changes: Vec<Change> = event.records.into_iter().map(change_of).collect();
        let events = service::aws::changes::events_of(&changes[0]).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type.as_str(), "account.created");
        assert_eq!(events[0].account_id.as_deref(), Some("210987654321"));
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains("0123456789abcdef0123456789abcdef01234567"));
    }

    /// A stream event as Lambda delivers it (the AWS documentation's
    /// shape), read into changes that derive the right events.
    #[test]
    fn lambda_stream_records_become_changes() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "Records": [{
                "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/accounts/stream/2026-11-23T00:00:00.000",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1795000000,
                    "Keys": {"pk": {"S": "T#acme"}, "sk": {"S": "KEY#01JA0000000000000000000000"}},
                    "NewImage": {
                        "pk": {"S": "T#acme"}, "sk": {"S": "KEY#01JA0000000000000000000000"},
                        "type": {"S": "api_key"}, "tenant": {"S": "acme"},
                        "key_id": {"S": "01JA0000000000000000000000"}, "name": {"S": "ci"},
                        "scopes": {"L": [{"S": "read"}]}, "secret_hash": {"S": "x"},
                        "created_at": {"S": "2026-11-23T00:00:00Z"}, "created_by": {"S": "bootstrap"}
                    },
                    "SequenceNumber": "111",
                    "SizeBytes": 26,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                }
            }]
        }))
        .unwrap();
        let change = change_of(event.records.into_iter().next().unwrap());
        assert_eq!(change.record_id, "c4ca4238a0b923820dcc509a6f75849b");
        assert!(change.old.is_none());
        let events = service::aws::changes::events_of(&change).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type.as_str(), "api_key.created");
        assert_eq!(events[0].tenant, "acme");
        assert_eq!(events[0].actor, "bootstrap");
        assert_eq!(events[0].time.datetime().timestamp(), 1_795_000_000);
    }
}
