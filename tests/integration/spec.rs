//! The OpenAPI document and the template stay in step with the code.

use crate::harness::TestApp;
use axum::http::Method;
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;

/// Every route the router serves. A new route must be added here and, by
/// construction (utoipa-axum), is then in the document.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts"),
    ("get", "/v1/accounts/{account_id}"),
    ("put", "/v1/accounts/{account_id}"),
    ("patch", "/v1/accounts/{account_id}"),
    ("delete", "/v1/accounts/{account_id}"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("get", "/v1/api-keys/{key_id}"),
    ("delete", "/v1/api-keys/{key_id}"),
    ("post", "/v1/api-keys/{key_id}/aliases"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/audit-events"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("get", "/v1/webhooks/{webhook_id}"),
    ("patch", "/v1/webhooks/{webhook_id}"),
    ("delete", "/v1/webhooks/{webhook_id}"),
    ("post", "/v1/webhooks/{webhook_id}/rotate-secret"),
    ("post", "/v1/organizations"),
    ("get", "/v1/organizations"),
    ("get", "/v1/organizations/{organization_id}"),
    ("delete", "/v1/organizations/{organization_id}"),
    ("post", "/v1/organizations/{organization_id}/sync"),
    ("patch", "/v1/organizations/{organization_id}"),
    ("post", "/v1/organizations/{organization_id}/archive"),
    ("post", "/v1/organizations/{organization_id}/unarchive"),
    (
        "post",
        "/v1/organizations/{organization_id}/external-id-prefix/rotate",
    ),
    (
        "delete",
        "/v1/organizations/{organization_id}/external-id-prefix/pending",
    ),
    (
        "get",
        "/v1/organizations/{organization_id}/stackset-template",
    ),
    (
        "get",
        "/v1/organizations/{organization_id}/management-role-template",
    ),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}"),
    (
        "post",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    ),
    ("post", "/v1/accounts/{account_id}/verify"),
    ("get", "/v1/accounts/{account_id}/verifications"),
    ("get", "/v1/accounts/{account_id}/access-log"),
    ("post", "/v1/accounts/validate-roles"),
    ("post", "/v1/accounts/{account_id}/external-id/rotate"),
    ("delete", "/v1/accounts/{account_id}/external-id/pending"),
    ("delete", "/v1/accounts/{account_id}/role-arn/pending"),
    ("get", "/v1/settings"),
    ("put", "/v1/settings"),
    ("patch", "/v1/settings"),
    ("get", "/v1/cloud-providers/aws"),
    ("get", "/v1/aws/iam-parameters"),
    ("post", "/v1/aws/iam-parameters"),
    ("get", "/v1/accounts/{account_id}/cloudformation-template"),
    ("get", "/v1/aws/role-template.yaml"),
    ("post", "/v1/accounts/{account_id}/archive"),
    ("post", "/v1/accounts/{account_id}/unarchive"),
    ("get", "/v1/accounts/{account_id}/linked-accounts"),
    ("post", "/v1/accounts/search"),
    ("post", "/v1/accounts/batch-delete"),
    ("get", "/v1/accounts/import-template"),
    ("post", "/v1/accounts/import"),
    ("post", "/v1/accounts/export"),
    ("get", "/v1/data-sources"),
    ("get", "/v1/data-source-attachments"),
    ("get", "/v1/accounts/{account_id}/data-sources"),
    (
        "get",
        "/v1/accounts/{account_id}/data-sources/{data_source}",
    ),
    (
        "put",
        "/v1/accounts/{account_id}/data-sources/{data_source}",
    ),
    (
        "delete",
        "/v1/accounts/{account_id}/data-sources/{data_source}",
    ),
    (
        "post",
        "/v1/accounts/{account_id}/data-sources/{data_source}/scans",
    ),
    (
        "get",
        "/v1/accounts/{account_id}/data-sources/{data_source}/scans",
    ),
    (
        "get",
        "/v1/accounts/{account_id}/data-sources/{data_source}/scans/{scan_id}",
    ),
    ("get", "/v1/accounts/{account_id}/scans"),
    ("post", "/v1/account-actions"),
    ("get", "/v1/accounts/{account_id}/regions"),
    ("get", "/v1/accounts/{account_id}/findings"),
    ("get", "/v1/accounts/{account_id}/findings/summary"),
    ("get", "/v1/findings"),
    (
        "put",
        "/v1/accounts/{account_id}/data-sources/{data_source}/findings/{finding_id}/suppression",
    ),
    (
        "delete",
        "/v1/accounts/{account_id}/data-sources/{data_source}/findings/{finding_id}/suppression",
    ),
    ("post", "/v1/accounts/{account_id}/onboarding-links"),
    ("get", "/v1/accounts/{account_id}/onboarding-links"),
    (
        "delete",
        "/v1/accounts/{account_id}/onboarding-links/{link_id}",
    ),
    (
        "post",
        "/v1/organizations/{organization_id}/onboarding-links",
    ),
    (
        "get",
        "/v1/organizations/{organization_id}/onboarding-links",
    ),
    (
        "delete",
        "/v1/organizations/{organization_id}/onboarding-links/{link_id}",
    ),
    ("post", "/v1/suppression-rules"),
    ("get", "/v1/suppression-rules"),
    ("delete", "/v1/suppression-rules/{rule_id}"),
    ("post", "/v1/scans/{scan_id}/results"),
    ("post", "/v1/scans/{scan_id}/complete"),
];

/// Routes anyone may call: CloudFormation fetches the role template without a key.
const PUBLIC: &[&str] = &["/v1/openapi.json", "/v1/aws/role-template.yaml"];

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = TestApp::new().await;
    let reply = app.get("/v1/openapi.json").await;
    assert_eq!(reply.status.as_u16(), 200);
    let document = reply.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);
    // Each path parameter says what the router's check holds it to.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "path" {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                let schema = &parameter["schema"];
                assert_eq!(
                    schema["pattern"].as_str(),
                    service::ids::path_parameter_pattern(name),
                    "{method} {path}: {name}"
                );
                assert!(
                    schema["pattern"].is_string() || schema["maxLength"].is_number(),
                    "{method} {path}: {name} is unbounded: {schema}"
                );
            }
        }
    }
    // And each documented route is really served (not a 404 from the fallback).
    for (method, path) in ROUTES {
        let uri = path
            .replace("{account_id}", "123456789012")
            .replace("{key_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{data_source}", "aws:iam")
            .replace("{scan_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{webhook_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{organization_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{rule_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{link_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{finding_id}", "0123456789abcdef0123456789abcdef")
            .replace(
                "{delivery_id}",
                "dlv_20261123160102_0123456789abcdef0123456789abcdef",
            );
        let method = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = app.call_with(method.clone(), &uri, None, None, &[]).await;
        if PUBLIC.contains(path) {
            assert_eq!(reply.status.as_u16(), 200, "{path}");
        } else {
            reply.assert_error(401, "unauthorized");
        }
    }
    for scheme in ["api_key", "bearer", "scanner"] {
        assert!(
            document["components"]["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }
}

fn template() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text(value: &Yaml) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{value:?}"))
}

#[test]
fn table_matches_template() {
    let template = template();
    let table = &template["Resources"]["AccountsTable"]["Properties"];
    assert_eq!(text(&table["BillingMode"]), "PAY_PER_REQUEST");
    assert_eq!(
        text(&table["StreamSpecification"]["StreamViewType"]),
        service::aws::schema::STREAM_VIEW.as_str()
    );
    let key_schema: Vec<(String, String)> = table["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (text(&k["AttributeName"]), text(&k["KeyType"])))
        .collect();
    assert_eq!(
        key_schema,
        [
            (service::aws::schema::PARTITION_KEY.into(), "HASH".into()),
            (service::aws::schema::SORT_KEY.into(), "RANGE".into())
        ]
    );
    let attributes: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (text(&a["AttributeName"]), text(&a["AttributeType"])))
        .collect();
    let expected: BTreeSet<(String, String)> = service::aws::schema::key_attributes()
        .into_iter()
        .map(|a| (a.to_string(), "S".to_string()))
        .collect();
    assert_eq!(attributes, expected);
    let indexes: BTreeSet<(String, String, String)> = table["LocalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|index| {
            let keys = index["KeySchema"].as_sequence().unwrap();
            assert_eq!(text(&keys[0]["AttributeName"]), "pk");
            assert_eq!(text(&keys[0]["KeyType"]), "HASH");
            assert_eq!(text(&keys[1]["KeyType"]), "RANGE");
            (
                text(&index["IndexName"]),
                text(&keys[1]["AttributeName"]),
                text(&index["Projection"]["ProjectionType"]),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = service::aws::schema::local_indexes()
        .into_iter()
        .map(|i| {
            (
                i.name.to_string(),
                i.sort_key.to_string(),
                "ALL".to_string(),
            )
        })
        .collect();
    assert_eq!(indexes, expected);
    let globals: Vec<(String, String, String, String)> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|index| {
            let keys = index["KeySchema"].as_sequence().unwrap();
            (
                text(&index["IndexName"]),
                text(&keys[0]["AttributeName"]),
                text(&keys[1]["AttributeName"]),
                text(&index["Projection"]["ProjectionType"]),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = service::aws::schema::global_indexes()
        .into_iter()
        .map(|(name, partition_key, sort_key)| {
            (
                name.to_string(),
                partition_key.to_string(),
                sort_key.to_string(),
                "ALL".to_string(),
            )
        })
        .collect();
    assert_eq!(globals, expected);
}

#[test]
fn queues_match_template() {
    let template = template();
    let resources = &template["Resources"];
    for queue in service::aws::schema::QUEUES {
        let properties = &resources[queue.logical_id]["Properties"];
        assert_eq!(
            properties["VisibilityTimeout"].as_u64(),
            Some(queue.visibility_timeout as u64),
            "{}",
            queue.logical_id
        );
        let redrive = &properties["RedrivePolicy"];
        assert_eq!(
            redrive["maxReceiveCount"].as_u64(),
            Some(queue.max_receive_count as u64)
        );
        let target = format!("{:?}", redrive["deadLetterTargetArn"]);
        assert!(
            target.contains(&format!("{}.Arn", queue.dead_letter_logical_id)),
            "{target}"
        );
        let dead_letter = &resources[queue.dead_letter_logical_id]["Properties"];
        assert_eq!(
            dead_letter["MessageRetentionPeriod"].as_u64(),
            Some(queue.dead_letter_retention as u64)
        );
    }
    // AWS: the visibility timeout must be at least six times the consumer's timeout.
    let worker_timeout = resources["ScanWorkerFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(service::aws::schema::SCAN_QUEUE.visibility_timeout as u64 >= 6 * worker_timeout);
    let sender_timeout = resources["WebhookSenderFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(service::aws::schema::WEBHOOK_QUEUE.visibility_timeout as u64 >= 6 * sender_timeout);
    // FIFO where the definition says so, for the queue and its DLQ alike.
    for queue in service::aws::schema::QUEUES {
        for id in [queue.logical_id, queue.dead_letter_logical_id] {
            assert_eq!(
                resources[id]["Properties"]["FifoQueue"]
                    .as_bool()
                    .unwrap_or(false),
                queue.fifo,
                "{id}"
            );
        }
    }
    // A sent delivery's claim outlives the sender's run: a copy of the
    // message cannot take it over mid-request.
    assert!(
        service::usecases::deliveries::CLAIM_LEASE.as_secs() > sender_timeout,
        "the claim lease is longer than the sender's timeout"
    );
    // ...and shorter than the queue's visibility, so a message that comes
    // back after a crash finds the claim expired and delivers.
    assert!(
        (service::usecases::deliveries::CLAIM_LEASE.as_secs() as u32)
            < service::aws::schema::WEBHOOK_QUEUE.visibility_timeout
    );
}

#[tokio::test]
async fn dev_queues_are_created_from_the_definitions() {
    let config = crate::harness::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
    let urls = testkit::provision::create_queues(&sqs, &prefix)
        .await
        .unwrap();
    let url = &urls[service::aws::schema::SCAN_QUEUE.logical_id];
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    assert_eq!(
        attributes[&Name::VisibilityTimeout],
        service::aws::schema::SCAN_QUEUE
            .visibility_timeout
            .to_string()
    );
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&Name::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        service::aws::schema::SCAN_QUEUE
            .max_receive_count
            .to_string()
    );
    assert!(redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with("ScanDeadLetterQueue"));
}

/// Every event type is documented in the `webhooks` section, with an
/// example that is a valid event of that type and a schema that exists.
#[tokio::test]
async fn every_event_type_is_a_documented_webhook_with_an_example() {
    use strum::VariantArray;
    let app = TestApp::new().await;
    let document = app.get("/v1/openapi.json").await.body;
    let webhooks = document["webhooks"]
        .as_object()
        .expect("a webhooks section");
    assert_eq!(webhooks.len(), service::events::EventType::VARIANTS.len());
    assert!(document["components"]["schemas"]["Event"].is_object());
    for event_type in service::events::EventType::VARIANTS {
        let operation = &webhooks[event_type.as_str()]["post"];
        let content = &operation["requestBody"]["content"]["application/json"];
        assert_eq!(content["schema"]["$ref"], "#/components/schemas/Event");
        let example: service::events::Event =
            serde_json::from_value(content["example"].clone()).expect("an Event");
        assert_eq!(example.event_type, *event_type);
        let headers: Vec<&str> = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"]
        );
    }
}

/// Every function of the template has an alarm on its errors and one on
/// its throttles (the runbook's "Alarms" section reads them).
#[test]
fn every_function_has_errors_and_throttles_alarms() {
    let template = include_str!("../../template.yaml");
    // Each top-level entry ("  Name:" on a line of its own) and its lines.
    let mut resources: Vec<(&str, String)> = Vec::new();
    for line in template.lines() {
        let name = line
            .strip_prefix("  ")
            .and_then(|rest| rest.strip_suffix(':'))
            .filter(|name| !name.starts_with(' ') && !name.contains(' '));
        match (name, resources.last_mut()) {
            (Some(name), _) => resources.push((name, String::new())),
            (None, Some((_, body))) => {
                body.push_str(line.trim());
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    let functions: Vec<&str> = resources
        .iter()
        .filter(|(_, body)| body.starts_with("Type: AWS::Serverless::Function"))
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(functions.len(), 6, "{functions:?}");
    for function in functions {
        for metric in ["Errors", "Throttles"] {
            let alarmed = resources.iter().any(|(_, body)| {
                body.starts_with("Type: AWS::CloudWatch::Alarm")
                    && body.contains(&format!("MetricName: {metric}\n"))
                    && body.contains(&format!("Value: !Ref {function}\n"))
            });
            assert!(alarmed, "{function} has no {metric} alarm");
        }
    }
    // And every dead-letter or failure queue one on what waits in it.
    let queues: Vec<&str> = resources
        .iter()
        .filter(|(name, body)| {
            body.starts_with("Type: AWS::SQS::Queue")
                && (name.contains("DeadLetter") || name.contains("Failure"))
        })
        .map(|(name, _)| *name)
        .collect();
    assert!(queues.len() >= 4, "{queues:?}");
    for queue in queues {
        let alarmed = resources.iter().any(|(_, body)| {
            body.starts_with("Type: AWS::CloudWatch::Alarm")
                && body.contains(&format!("Value: !GetAtt {queue}.QueueName\n"))
        });
        assert!(alarmed, "{queue} has no alarm");
    }
}

/// `GET /docs` is the reference rendered from the served document: every
/// operation and schema is on it, under the page's strict policy.
#[tokio::test]
async fn the_reference_at_docs_shows_every_operation_of_the_document() {
    let app = TestApp::new().await;
    let document = app.get("/v1/openapi.json").await.body;
    let page = app.call_with(Method::GET, "/docs", None, None, &[]).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page
        .header("content-security-policy")
        .contains("default-src 'none'"));
    let html = page.body.as_str().unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let shown = format!(
                "{}</span> <code>{}</code>",
                method.to_uppercase(),
                path.replace('&', "&amp;")
            );
            assert!(html.contains(&shown), "{method} {path} is not on /docs");
        }
    }
    for schema in document["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(
            html.contains(&format!("id=\"schema-{schema}\"")),
            "{schema}"
        );
    }
    assert!(!html.contains("<script"), "no script");
    let style = app
        .call_with(Method::GET, "/docs/docs.css", None, None, &[])
        .await;
    assert_eq!(style.status.as_u16(), 200);
}

/// Types that share a Rust name are named apart in the document (utoipa
/// would let one overwrite the other, and answers would break the schema).
#[tokio::test]
async fn like_named_types_are_named_apart_in_the_document() {
    let app = TestApp::new().await;
    let schemas = &app.get("/v1/openapi.json").await.body["components"]["schemas"];
    let values = |name: &str| -> Vec<String> {
        schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is in the document"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(values("InventorySyncStatus").contains(&"NOT_STARTED".to_string()));
    assert_eq!(values("OrganizationSyncOutcome"), ["SUCCEEDED", "FAILED"]);
    assert!(schemas.get("SyncStatus").is_none());
}
