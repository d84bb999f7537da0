//! The fair cold-start baseline: hello world on lambda_runtime that also
//! loads the same AWS SDK configuration and, on its first event, makes the
//! same DynamoDB calls as the function it stands beside (`BASELINE`):
//! - `api`: the first request of an authenticated listing: GetItem of the
//!   API key, then a Query of the tenant's accounts;
//! - `verifier`: an empty sweep: one Query per due-index shard.
//!
//! So a ratio to it measures what the service adds, not what any function
//! that reads DynamoDB pays.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

const DUE_SHARDS: u32 = 8;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "accounts".into());
    let mode = std::env::var("BASELINE").unwrap_or_else(|_| "api".into());
    let key_sk = format!(
        "KEY#{}",
        std::env::var("BASELINE_KEY_ID").unwrap_or_else(|_| "01JBENCH000000000000000000".into())
    );
    let (client, table, mode, key_sk) = (&client, &table, &mode, &key_sk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let s = |text: &str| AttributeValue::S(text.to_string());
        if mode == "verifier" {
            for shard in 0..DUE_SHARDS {
                client
                    .query()
                    .table_name(table)
                    .index_name("due-index")
                    .key_condition_expression("due_shard = :shard AND due_at <= :now")
                    .expression_attribute_values(":shard", s(&format!("DUE#{shard}")))
                    .expression_attribute_values(":now", s("2999-01-01T00:00:00Z"))
                    .limit(100)
                    .send()
                    .await?;
            }
        } else {
            client
                .get_item()
                .table_name(table)
                .key("pk", s("T#bench"))
                .key("sk", s(key_sk))
                .consistent_read(true)
                .send()
                .await?;
            client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s("T#bench"))
                .expression_attribute_values(":prefix", s("ACCOUNT#"))
                .consistent_read(true)
                .limit(11)
                .send()
                .await?;
        }
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
