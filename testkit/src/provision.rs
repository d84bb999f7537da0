//! Creates the table, queues and event bus as `template.yaml` declares them
//! (from [`service::aws::schema`]), for the dev server, the tests and the
//! benchmarks. On AWS the template creates them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
};
use service::aws::schema::*;
use service::error::store_error;
use service::{Error, Result};
use std::collections::HashMap;

pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    create_table_with_stream(client, table, true).await
}

/// The table, with or without its stream. Only a benchmark that does not
/// measure the stream leaves it off: DynamoDB Local keeps every stream
/// record in its in-memory store and slows down as they accumulate (in one
/// run, seeding 4,000 accounts took 8.0 s, then 31.7 s after 4,000
/// verifications), which AWS's streams do not do to writes.
pub async fn create_table_with_stream(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    stream: bool,
) -> Result<()> {
    let string_key = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(store_error)
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(store_error)
    };
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(if stream {
            Some(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(STREAM_VIEW)
                    .build()
                    .map_err(store_error)?,
            )
        } else {
            None
        })
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?);
    for attribute in key_attributes() {
        request = request.attribute_definitions(string_key(attribute)?);
    }
    for index in local_indexes() {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(store_error)?,
        );
    }
    for (name, partition_key, sort_key) in global_indexes() {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(partition_key, KeyType::Hash)?)
                .key_schema(key(sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(store_error)?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(service::aws::errors::from_sdk(err)),
    }
}

/// Create each queue and its dead-letter queue, named `<prefix>-<logical id>`
/// (`.fifo` after a FIFO queue's).
/// Returns logical id → queue URL.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<HashMap<&'static str, String>> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let mut urls = HashMap::new();
    for queue in QUEUES {
        let fifo =
            |request: aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder| {
                if queue.fifo {
                    request
                        .attributes(QueueAttributeName::FifoQueue, "true")
                        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
                        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
                } else {
                    request
                }
            };
        let dead_letter_url = fifo(client.create_queue())
            .queue_name(queue.name(prefix, queue.dead_letter_logical_id))
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                queue.dead_letter_retention.to_string(),
            )
            .send()
            .await
            .map_err(store_error)?
            .queue_url
            .unwrap_or_default();
        let dead_letter_arn = client
            .get_queue_attributes()
            .queue_url(&dead_letter_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(store_error)?
            .attributes
            .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": queue.max_receive_count,
        });
        let url = fifo(client.create_queue())
            .queue_name(queue.name(prefix, queue.logical_id))
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                queue.visibility_timeout.to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(store_error)?
            .queue_url
            .unwrap_or_default();
        urls.insert(queue.logical_id, url);
        urls.insert(queue.dead_letter_logical_id, dead_letter_url);
    }
    Ok(urls)
}

/// Create the EventBridge bus events are put on (as the template does).
pub async fn create_event_bus(client: &aws_sdk_eventbridge::Client, name: &str) -> Result<()> {
    match client.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(Error::unavailable_because(
            "EventBridge CreateEventBus failed",
            err,
        )),
    }
}
