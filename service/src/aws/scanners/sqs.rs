//! The built-in `aws:sqs` scanner, one region at a time: queues without
//! server-side encryption, and queues whose policy lets anyone in.
//!
//! The queues of a region are listed (paginated), sorted by URL and read
//! in chunks, so a run stopped before its deadline resumes after the last
//! queue it finished.

use super::ScanFailure;
use crate::scans::Observation;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub const NOT_ENCRYPTED: &str = "SQS_QUEUE_NOT_ENCRYPTED";
pub const PUBLIC: &str = "SQS_QUEUE_PUBLIC";

const QUEUE: &str = "AWS.SQS.Queue";
const QUEUES_AT_ONCE: usize = 4;

fn failure<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    operation: &str,
    err: SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> ScanFailure {
    ScanFailure::of_call(
        "SQS",
        "sqs",
        "sqs:ListQueues and sqs:GetQueueAttributes (the AWS managed policy SecurityAudit has both)",
        operation,
        err,
    )
}

/// An SQS client acting with `credentials` (the customer's assumed role)
/// in `region`.
pub fn client(
    sdk_config: &aws_config::SdkConfig,
    credentials: aws_sdk_iam::config::Credentials,
    region: &str,
) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk_config)
            .credentials_provider(credentials)
            .region(aws_sdk_sqs::config::Region::new(region.to_string()))
            .build(),
    )
}

/// Every queue URL of the client's region, sorted (a checkpoint is one).
pub async fn queue_urls(sqs: &aws_sdk_sqs::Client) -> Result<Vec<String>, ScanFailure> {
    let mut urls: Vec<String> = sqs
        .list_queues()
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|err| failure("ListQueues", err))?;
    urls.sort();
    urls.dedup();
    Ok(urls)
}

/// What the queues at `urls` show, `QUEUES_AT_ONCE` read at once. A
/// queue deleted since it was listed is skipped.
pub async fn inspect(
    sqs: &aws_sdk_sqs::Client,
    region: &str,
    urls: &[String],
) -> Result<Vec<Observation>, ScanFailure> {
    // Owned per call: a borrowing closure here makes the future !Send
    // (the higher-ranked lifetime problem of stream combinators).
    let calls = urls.iter().cloned().map(|url| {
        let sqs = sqs.clone();
        let region = region.to_string();
        async move { inspect_one(&sqs, &region, &url).await }
    });
    let seen: Vec<Vec<Observation>> = futures::stream::iter(calls)
        .buffered(QUEUES_AT_ONCE)
        .try_collect()
        .await?;
    Ok(seen.into_iter().flatten().collect())
}

async fn inspect_one(
    sqs: &aws_sdk_sqs::Client,
    region: &str,
    url: &str,
) -> Result<Vec<Observation>, ScanFailure> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await;
    match output {
        Ok(output) => Ok(observe(url, region, &output.attributes.unwrap_or_default())),
        Err(err)
            if err.as_service_error().is_some_and(|e| {
                e.is_queue_does_not_exist()
                    || e.code() == Some("AWS.SimpleQueueService.NonExistentQueue")
            }) =>
        {
            Ok(Vec::new())
        }
        Err(err) => Err(failure("GetQueueAttributes", err)),
    }
}

/// The findings of one queue, from its attributes.
fn observe(
    url: &str,
    region: &str,
    attributes: &HashMap<QueueAttributeName, String>,
) -> Vec<Observation> {
    let name = url.rsplit('/').next().unwrap_or(url);
    let arn = attributes
        .get(&QueueAttributeName::QueueArn)
        .cloned()
        .unwrap_or_else(|| url.to_string());
    let details = BTreeMap::from([
        ("queue_url".to_string(), url.to_string()),
        ("region".to_string(), region.to_string()),
    ]);
    let mut seen = Vec::new();
    let kms = attributes
        .get(&QueueAttributeName::KmsMasterKeyId)
        .is_some_and(|key| !key.is_empty());
    let sse_sqs = attributes
        .get(&QueueAttributeName::SqsManagedSseEnabled)
        .is_some_and(|on| on == "true");
    if !kms && !sse_sqs {
        seen.push(Observation {
            rule: NOT_ENCRYPTED,
            title: format!("SQS queue {name} is not encrypted at rest"),
            resource_type: QUEUE,
            resource_id: arn.clone(),
            score: 4.0,
            details: details.clone(),
        });
    }
    if let Some(policy) = attributes.get(&QueueAttributeName::Policy) {
        if let Some(statement) = public_statement(policy) {
            let mut details = details;
            details.insert("statement".into(), statement);
            seen.push(Observation {
                rule: PUBLIC,
                title: format!("SQS queue {name} lets anyone in"),
                resource_type: QUEUE,
                resource_id: arn,
                score: 9.0,
                details,
            });
        }
    }
    seen
}

/// The Sid (or index) of a statement that allows any principal with no
/// condition, if the policy has one.
fn public_statement(policy: &str) -> Option<String> {
    let policy: Value = serde_json::from_str(policy).ok()?;
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return None,
    };
    statements
        .iter()
        .enumerate()
        .find_map(|(index, statement)| {
            let anyone = |principal: &Value| match principal {
                Value::String(text) => text == "*",
                Value::Array(list) => list.iter().any(|p| p == "*"),
                _ => false,
            };
            let principal = &statement["Principal"];
            let open = anyone(principal) || anyone(&principal["AWS"]);
            (statement["Effect"] == "Allow" && open && statement.get("Condition").is_none()).then(
                || {
                    statement["Sid"]
                        .as_str()
                        .map_or_else(|| format!("#{index}"), str::to_string)
                },
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(QueueAttributeName, &str)]) -> HashMap<QueueAttributeName, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string()))
            .collect()
    }

    #[test]
    fn encryption_and_public_policies_are_found() {
        let url = "https://sqs.eu-west-1.amazonaws.com/111111111111/orders";
        let arn = "arn:aws:sqs:eu-west-1:111111111111:orders";
        let plain = observe(
            url,
            "eu-west-1",
            &attributes(&[(QueueAttributeName::QueueArn, arn)]),
        );
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].rule, NOT_ENCRYPTED);
        assert_eq!(plain[0].resource_id, arn);
        assert_eq!(plain[0].title, "SQS queue orders is not encrypted at rest");

        let encrypted = [
            (QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs"),
            (QueueAttributeName::SqsManagedSseEnabled, "true"),
        ];
        for attribute in encrypted {
            assert!(observe(url, "eu-west-1", &attributes(&[attribute])).is_empty());
        }

        let public = r#"{"Statement":[{"Sid":"Own","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sqs:*"},{"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"sqs:SendMessage"}]}"#;
        let seen = observe(
            url,
            "eu-west-1",
            &attributes(&[
                (QueueAttributeName::SqsManagedSseEnabled, "true"),
                (QueueAttributeName::Policy, public),
            ]),
        );
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].rule, PUBLIC);
        assert_eq!(seen[0].details["statement"], "Anyone");
    }

    #[test]
    fn a_condition_or_a_deny_is_not_public() {
        for policy in [
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:eu-west-1:1:t"}}}}"#,
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"sqs:*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root"]},"Action":"sqs:*"}]}"#,
            "not json",
        ] {
            assert_eq!(public_statement(policy), None, "{policy}");
        }
        assert_eq!(
            public_statement(
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","*"]},"Action":"sqs:*"}]}"#
            ),
            Some("#0".into())
        );
    }
}
