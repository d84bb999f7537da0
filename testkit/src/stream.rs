//! Reading the table's stream where no Lambda event source mapping does it
//! for us (the dev server, the tests): DescribeStream, GetShardIterator and
//! GetRecords against DynamoDB Local, turned into the same [`Change`]s
//! the notifier Lambda gets from its events.

#[cfg(test)]
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use service::aws::changes::{Change, Image};
use service::time::Timestamp;
use service::{Error, Result};
use std::collections::HashMap;

/// Follows every shard of one table's stream from its start.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Open shards and where reading stands in each.
    iterators: HashMap<String, String>,
    /// Shards read to their end (closed).
    finished: std::collections::HashSet<String>,
    /// Read by a poll that then failed: returned by the next one.
    unreturned: Vec<Change>,
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(what: &str, err: E) -> Error {
    Error::unavailable_because(format!("DynamoDB Streams {what} failed"), err)
}

impl StreamReader {
    /// The stream of `table` (which must have one), from its oldest record.
    pub async fn open(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> Result<Self> {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(service::aws::errors::from_sdk)?;
        let stream_arn = described
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| Error::store(format!("table {table} has no stream")))?;
        Ok(StreamReader {
            client,
            stream_arn,
            iterators: HashMap::new(),
            finished: Default::default(),
            unreturned: Vec::new(),
        })
    }

    /// Everything written since the last call, when writing has stopped:
    /// DynamoDB Local hands records out shard by shard, so this polls until
    /// a poll brings nothing new (at most ten polls).
    pub async fn poll_until_quiet(&mut self) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        for _ in 0..10 {
            let batch = self.poll().await?;
            if batch.is_empty() && !changes.is_empty() {
                break;
            }
            changes.extend(batch);
        }
        Ok(changes)
    }

    /// The changes written since the last call, shard by shard in order.
    /// A shard's place moves only once its records are in hand; when a
    /// read fails, what was read before it is kept for the next call, so
    /// a failed poll loses nothing and repeats nothing.
    pub async fn poll(&mut self) -> Result<Vec<Change>> {
        self.discover_shards().await?;
        let shards: Vec<(String, String)> = self
            .iterators
            .iter()
            .map(|(shard, iterator)| (shard.clone(), iterator.clone()))
            .collect();
        for (shard, iterator) in shards {
            let (records, next) = self.read_shard(iterator).await?;
            self.unreturned.extend(records);
            match next {
                Some(next) => {
                    self.iterators.insert(shard, next);
                }
                None => {
                    self.iterators.remove(&shard);
                    self.finished.insert(shard);
                }
            }
        }
        Ok(std::mem::take(&mut self.unreturned))
    }

    /// One GetRecords call: the changes and where the shard goes on.
    async fn read_shard(&self, iterator: String) -> Result<(Vec<Change>, Option<String>)> {
        let result = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await;
        match result {
            Ok(output) => Ok((
                output
                    .records
                    .unwrap_or_default()
                    .into_iter()
                    .map(change_of)
                    .collect(),
                output.next_shard_iterator,
            )),
            // DynamoDB Local writes an empty map attribute as `{}` instead
            // of `{"M":{}}`, which the SDK refuses: read the answer it
            // received ourselves.
            Err(err) => match err.raw_response().and_then(|raw| raw.body().bytes()) {
                Some(body)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.meta().code().is_none()) =>
                {
                    parse_records(body)
                }
                _ => Err(unavailable("GetRecords", err)),
            },
        }
    }

    /// Start reading shards not seen before, from their oldest record.
    async fn discover_shards(&mut self) -> Result<()> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|err| unavailable("DescribeStream", err))?;
        let shards = described
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if self.iterators.contains_key(&id) || self.finished.contains(&id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|err| unavailable("GetShardIterator", err))?
                .shard_iterator;
            match iterator {
                Some(iterator) => {
                    self.iterators.insert(id, iterator);
                }
                None => {
                    self.finished.insert(id);
                }
            }
        }
        Ok(())
    }
}

/// One stream record as a [`Change`].
fn change_of(record: aws_sdk_dynamodbstreams::types::Record) -> Change {
    let record_id = record.event_id.unwrap_or_default();
    let Some(data) = record.dynamodb else {
        return Change {
            record_id,
            sequence: String::new(),
            time: Timestamp::now(),
            old: None,
            new: None,
        };
    };
    let time = data
        .approximate_creation_date_time
        .and_then(|at| chrono::DateTime::from_timestamp(at.secs(), at.subsec_nanos()))
        .map(Timestamp::from_datetime)
        .unwrap_or_else(Timestamp::now);
    Change {
        record_id,
        sequence: data.sequence_number.unwrap_or_default(),
        time,
        old: data.old_image.map(image_of),
        new: data.new_image.map(image_of),
    }
}

/// A GetRecords answer read without the SDK, with DynamoDB Local's empty
/// maps (`{}`) repaired to `{"M":{}}`.
fn parse_records(body: &[u8]) -> Result<(Vec<Change>, Option<String>)> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Records", default)]
        records: Vec<serde_json::Value>,
        #[serde(rename = "NextShardIterator")]
        next_shard_iterator: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Record {
        #[serde(rename = "eventID")]
        event_id: String,
        dynamodb: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(rename = "ApproximateCreationDateTime")]
        at: Option<f64>,
        #[serde(rename = "SequenceNumber", default)]
        sequence_number: String,
        #[serde(rename = "NewImage")]
        new_image: Option<serde_dynamo::Item>,
        #[serde(rename = "OldImage")]
        old_image: Option<serde_dynamo::Item>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(service::error::store_error)?;
    let mut changes = Vec::new();
    for mut value in answer.records {
        for image in ["NewImage", "OldImage", "Keys"] {
            if let Some(serde_json::Value::Object(attributes)) = value
                .get_mut("dynamodb")
                .and_then(|data| data.get_mut(image))
            {
                attributes.values_mut().for_each(repair_empty_maps);
            }
        }
        let record: Record = serde_json::from_value(value).map_err(service::error::store_error)?;
        let time = record
            .dynamodb
            .at
            .and_then(|secs| chrono::DateTime::from_timestamp(secs as i64, 0))
            .map(Timestamp::from_datetime)
            .unwrap_or_else(Timestamp::now);
        changes.push(Change {
            record_id: record.event_id,
            sequence: record.dynamodb.sequence_number,
            time,
            old: record.dynamodb.old_image.map(Image::from),
            new: record.dynamodb.new_image.map(Image::from),
        });
    }
    Ok((changes, answer.next_shard_iterator))
}

/// One attribute value: `{}` becomes `{"M":{}}`, maps and lists are
/// walked.
fn repair_empty_maps(value: &mut serde_json::Value) {
    let serde_json::Value::Object(typed) = value else {
        return;
    };
    if typed.is_empty() {
        *value = serde_json::json!({ "M": {} });
        return;
    }
    if let Some(serde_json::Value::Object(map)) = typed.get_mut("M") {
        map.values_mut().for_each(repair_empty_maps);
    }
    if let Some(serde_json::Value::Array(list)) = typed.get_mut("L") {
        list.iter_mut().for_each(repair_empty_maps);
    }
}

/// A DynamoDB Streams item as the DynamoDB SDK's item type.
fn image_of(item: HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>) -> Image {
    serde_dynamo::Item::from(item).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_local_empty_maps_are_read_as_maps() {
        let body = br#"{"Records":[{"eventID":"e1","eventName":"INSERT","dynamodb":{
            "ApproximateCreationDateTime":1795445280.000,
            "Keys":{"pk":{"S":"T#acme"},"sk":{"S":"ACCOUNT#1"}},
            "NewImage":{"pk":{"S":"T#acme"},"labels":{},"credential":{"M":{"m":{}}},
                        "regions":{"L":[{}]},"type":{"S":"account"}}}}],
            "NextShardIterator":"next"}"#;
        let (changes, next) = parse_records(body).unwrap();
        assert_eq!(next.as_deref(), Some("next"));
        let image = changes[0].new.as_ref().unwrap();
        assert_eq!(image["labels"], AttributeValue::M(HashMap::new()));
        let AttributeValue::M(credential) = &image["credential"] else {
            panic!()
        };
        assert_eq!(credential["m"], AttributeValue::M(HashMap::new()));
        assert_eq!(
            image["regions"],
            AttributeValue::L(vec![AttributeValue::M(HashMap::new())])
        );
        assert_eq!(changes[0].time.datetime().timestamp(), 1_795_445_280);
    }
}
