//! Search at scale (issue 10): a tenant of 100,000 accounts. A criteria
//! search matching 1% of them, against the raw Query of exactly those
//! items on their index, issued directly in the same run; and free-text
//! searches, which read at most one window (the read budget) per request.

use crate::fleet::{percentile, raw_query, raw_query_pages, timed_search};
use aws_sdk_dynamodb::types::AttributeValue;
use service::account::{Account, Environment};
use service::api_key::Scope;
use service::time::Timestamp;
use std::time::{Duration, Instant};

const TENANT: &str = "scale";

pub async fn run(accounts: usize, repeats: usize) {
    println!("== search at scale: tenant of {accounts} accounts, {repeats} runs each");
    let config = service::runtime::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("scale-{}", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_table(&dynamodb, &table)
        .await
        .expect("create table");
    let services = crate::services(&table).await;
    let store = services.store.clone();
    let state = api::AppState::from_services(&services);
    let budget = state.search_read_budget;
    let router = api::router(state);
    let key = crate::issue_key(&store, TENANT, vec![Scope::Read]).await;

    // 1% TEST, the rest spread over the other environments.
    let started = Instant::now();
    let now = Timestamp::now();
    let all: Vec<Account> = (0..accounts)
        .map(|i| {
            let environment = if i % 100 == 0 {
                Environment::Test
            } else {
                [Environment::Prod, Environment::Dev, Environment::Staging][i % 3]
            };
            crate::fleet::sample_account(i, environment, 200_000_000_000, now)
        })
        .collect();
    for chunk in all.chunks(10_000) {
        store
            .bulk_load_accounts(TENANT, chunk)
            .await
            .expect("load accounts");
    }
    drop(all);
    println!(
        "loaded {accounts} accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let matching = accounts.div_ceil(100);
    let body = format!(r#"{{"criteria":{{"environment":"TEST"}},"rows":{matching}}}"#);
    let (mut searches, mut raws) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        // Side by side, alternating, so drift hits both alike.
        let (elapsed, response) = timed_search(&router, &key, &body).await;
        searches.push(elapsed);
        let found: serde_json::Value = serde_json::from_str(&response).expect("json");
        assert_eq!(
            found["results"].as_array().map(Vec::len),
            Some(matching),
            "{response:.300}"
        );
        let (elapsed, items) = raw_index_query(&dynamodb, &table).await;
        assert_eq!(items, matching);
        raws.push(elapsed);
    }
    let (search, raw) = (percentile(&searches, 50), percentile(&raws, 50));
    println!(
        "criteria search (environment TEST, {matching} of {accounts}): p50 {:.1} ms; raw Query of those items on by-environment: p50 {:.1} ms; ratio {:.2} (target <= 1.5)",
        ms(search),
        ms(raw),
        search.as_secs_f64() / raw.as_secs_f64()
    );
    let whole = raw_query_pages(&dynamodb, &table, TENANT).await;
    println!(
        "  (before this index, the same search read the whole partition: the raw Query pages alone take {:.0} ms, {:.0}x)",
        ms(whole),
        whole.as_secs_f64() / raw.as_secs_f64()
    );

    for (label, body) in [
        (
            "free text (payments AND NOT dev)",
            r#"{"query":"payments AND NOT dev","rows":100}"#,
        ),
        (
            "free text, sorted (owner:\"owner 12*\", by name desc)",
            r#"{"query":"owner:\"owner 12*\"","sort":[{"field":"name","order":"desc"}],"rows":100}"#,
        ),
    ] {
        let mut times = Vec::new();
        let mut complete = true;
        for _ in 0..repeats {
            let (elapsed, response) = timed_search(&router, &key, body).await;
            times.push(elapsed);
            let found: serde_json::Value = serde_json::from_str(&response).expect("json");
            complete &= found["complete"].as_bool().expect("complete");
        }
        println!(
            "search {label}: reads at most {budget} accounts a request (complete: {complete}); p50 {:.0} ms, p99 {:.0} ms",
            ms(percentile(&times, 50)),
            ms(percentile(&times, 99)),
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Every page of the by-environment partition of TEST accounts.
async fn raw_index_query(client: &aws_sdk_dynamodb::Client, table: &str) -> (Duration, usize) {
    let partition = service::aws::schema::environment_partition(TENANT, Environment::Test);
    raw_query(
        client
            .query()
            .table_name(table)
            .index_name(service::aws::schema::ENVIRONMENT_INDEX)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", service::aws::schema::ENVIRONMENT_KEY)
            .expression_attribute_values(":k", AttributeValue::S(partition)),
    )
    .await
}
