//! Fleet operations on a tenant of 10,000 accounts in DynamoDB Local, each
//! against the raw DynamoDB calls it cannot avoid, issued directly in the
//! same run: the Query pages of the tenant partition (search, export), and
//! BatchWriteItem of the same items (import).

use axum::body::Body;
use axum::http::Request;
use futures::StreamExt;
use http_body_util::BodyExt;
use service::api_key::Scope;
use service::time::Timestamp;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const TENANT: &str = "bench";

pub async fn run(accounts: usize, repeats: usize) {
    println!("== fleet operations: tenant of {accounts} accounts, {repeats} runs per search");
    let config = service::runtime::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("fleet-{}", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_table(&dynamodb, &table)
        .await
        .expect("create table");
    let services = crate::services(&table).await;
    let store = services.store.clone();
    let router = api::router(api::AppState::from_services(&services));
    let key = crate::issue_key(&store, TENANT, Scope::ALL.to_vec()).await;

    // Import 10,000 rows, against BatchWriteItem of as many items.
    let mut csv = String::from("accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions\n");
    for i in 0..accounts {
        let env = ["PROD", "DEV", "STAGING", "TEST"][i % 4];
        let team = ["payments", "search", "data", "identity"][i % 4];
        csv.push_str(&format!(
            "{:012},{team} {env} {i},Owner {i},owner{i}@example.com,{env},,us-east-1;eu-west-1\n",
            100_000_000_000u64 + i as u64
        ));
    }
    // DynamoDB Local's JVM compiles its write paths on first use: warm
    // them (untimed) so neither the import nor its baselines pay for it.
    raw_transactions(&dynamodb, &table, "warm-up", accounts).await;
    let started = Instant::now();
    let response = call(
        &router,
        &key,
        "POST",
        "/v1/accounts/import",
        "text/csv",
        csv,
    )
    .await;
    let import = started.elapsed();
    assert!(
        response.contains("\"created\""),
        "import failed: {}",
        &response[..response.len().min(300)]
    );
    let raw_write = raw_batch_write(&dynamodb, &table, accounts).await;
    let raw_transacted = raw_transactions(&dynamodb, &table, "rawtx", accounts).await;
    let raw_conditional = raw_conditional_puts(&dynamodb, &table, accounts).await;
    println!(
        "import {accounts} rows: {:.2} s; raw BatchWriteItem of {accounts} items: {:.2} s; ratio {:.2}",
        import.as_secs_f64(),
        raw_write.as_secs_f64(),
        import.as_secs_f64() / raw_write.as_secs_f64()
    );
    println!(
        "import vs raw conditional TransactWriteItems of 100 (the floor when nothing may be overwritten): {:.2} s; ratio {:.2}",
        raw_transacted.as_secs_f64(),
        import.as_secs_f64() / raw_transacted.as_secs_f64()
    );
    println!(
        "raw conditional PutItem, 64 at once (the same promise without transactions): {:.2} s; ratio to BatchWriteItem {:.2}",
        raw_conditional.as_secs_f64(),
        raw_conditional.as_secs_f64() / raw_write.as_secs_f64()
    );

    // Searches, against the Query pages of the partition.
    let raw_reads: Vec<Duration> = {
        let mut times = Vec::new();
        for _ in 0..repeats {
            times.push(raw_query_pages(&dynamodb, &table, TENANT).await);
        }
        times
    };
    let raw_p50 = percentile(&raw_reads, 50);
    println!(
        "raw Query pages of the tenant partition: p50 {:.0} ms",
        raw_p50.as_secs_f64() * 1000.0
    );
    for (label, body) in [
        (
            "criteria (environment PROD, sort by name)",
            r#"{"criteria":{"environment":"PROD"},"sort":[{"field":"name"}],"rows":100}"#,
        ),
        (
            "free text (payments AND NOT dev OR owner:\"owner 12*\")",
            r#"{"query":"payments AND NOT dev OR owner:\"owner 12*\"","rows":100}"#,
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..repeats {
            let (elapsed, response) = timed_search(&router, &key, body).await;
            times.push(elapsed);
            assert!(response.contains("num_found"), "{response}");
        }
        let (p50, p95) = (percentile(&times, 50), percentile(&times, 95));
        println!(
            "search {label}: p50 {:.0} ms, p95 {:.0} ms; ratio of p50 to raw reads {:.2}",
            p50.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0,
            p50.as_secs_f64() / raw_p50.as_secs_f64()
        );
    }

    // Export of everything, against the same reads.
    let started = Instant::now();
    let csv = call(
        &router,
        &key,
        "POST",
        "/v1/accounts/export",
        "application/json",
        "{}".to_string(),
    )
    .await;
    let export = started.elapsed();
    println!(
        "export {} rows: {:.0} ms; ratio to raw reads {:.2}",
        csv.lines().count() - 1,
        export.as_secs_f64() * 1000.0,
        export.as_secs_f64() / raw_p50.as_secs_f64()
    );
}

pub(crate) async fn call(
    router: &axum::Router,
    key: &str,
    method: &str,
    uri: &str,
    content_type: &str,
    body: String,
) -> String {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key)
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("router");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The reads search and export cannot avoid: every page of the tenant's
/// partition.
pub(crate) async fn raw_query_pages(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
) -> Duration {
    use aws_sdk_dynamodb::types::AttributeValue;
    let pk = service::aws::store::keys::tenant_pk(tenant);
    raw_query(
        client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S("ACCOUNT#".into())),
    )
    .await
    .0
}

/// Every page of one Query, timed; and the items it returned.
pub(crate) async fn raw_query(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> (Duration, usize) {
    let started = Instant::now();
    let mut pages = query.into_paginator().send();
    let mut items = 0;
    while let Some(page) = pages.next().await {
        items += page.expect("query").items.unwrap_or_default().len();
    }
    (started.elapsed(), items)
}

/// One search through the router, timed; and its answer.
pub(crate) async fn timed_search(
    router: &axum::Router,
    key: &str,
    body: &str,
) -> (Duration, String) {
    let started = Instant::now();
    let response = call(
        router,
        key,
        "POST",
        "/v1/accounts/search",
        "application/json",
        body.to_string(),
    )
    .await;
    (started.elapsed(), response)
}

/// The accounts of the import file, as the items the import writes (the
/// same five local and three global index entries each), in `tenant`.
fn raw_items(
    tenant: &str,
    count: usize,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use service::account::Environment;
    let now = Timestamp::now();
    (0..count)
        .map(|i| {
            let environment = [
                Environment::Prod,
                Environment::Dev,
                Environment::Staging,
                Environment::Test,
            ][i % 4];
            let account = sample_account(i, environment, 100_000_000_000, now);
            service::aws::store::account_item(tenant, &account).expect("item")
        })
        .collect()
}

/// The `i`th account of a bench tenant, id `id_base + i`: the same
/// fields the import file gives it.
pub(crate) fn sample_account(
    i: usize,
    environment: service::account::Environment,
    id_base: u64,
    now: Timestamp,
) -> service::account::Account {
    let team = ["payments", "search", "data", "identity"][i % 4];
    let fields = service::account::AccountFields {
        name: format!("{team} {} {i}", environment.as_str()),
        owner_name: Some(format!("Owner {i}")),
        owner_email: Some(format!("owner{i}@example.com")),
        environment: Some(environment),
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..Default::default()
    };
    service::account::Account::register(format!("{:012}", id_base + i as u64), fields, "bench", now)
}

/// The writes an import cannot avoid, as the plainest calls: the same
/// items with BatchWriteItem (25 a call, 16 calls at once), no condition.
async fn raw_batch_write(client: &aws_sdk_dynamodb::Client, table: &str, count: usize) -> Duration {
    let items = raw_items("raw", count);
    let started = Instant::now();
    crate::batch_put_all(client, table, items).await;
    started.elapsed()
}

/// The same items as the import writes them when nothing may be
/// overwritten: TransactWriteItems of 100 conditional Puts, 16 at once.
/// The floor of any import that keeps its promise on this emulator.
async fn raw_transactions(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
    count: usize,
) -> Duration {
    let items = raw_items(tenant, count);
    let started = Instant::now();
    crate::transact_puts(client, table, items).await;
    started.elapsed()
}

/// The same items as conditional PutItems (only if absent), 64 at once:
/// what an import without transactions would send.
async fn raw_conditional_puts(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    count: usize,
) -> Duration {
    let items = raw_items("rawput", count);
    let started = Instant::now();
    futures::stream::iter(items)
        .map(|item| async move {
            client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .expect("put")
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

pub(crate) fn percentile(times: &[Duration], p: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) * p / 100).min(sorted.len() - 1)]
}
