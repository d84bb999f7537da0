//! Each dialect's read of one account against `/v1`'s read of the same
//! account, in one run, requests interleaved so that any drift weighs on
//! both alike (target: dialect / `/v1` <= 1.10, the same DynamoDB round
//! trips; RISKEN's `aws_id` is found through a lookup item first, one
//! more read).

use crate::call;
use service::api_key::Scope;
use std::time::{Duration, Instant};

const TENANT: &str = "bench";
const ACCOUNT: &str = "123456789012";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub async fn run(repeats: usize) {
    println!("== dialects: one account read through each product's API against /v1, {repeats} interleaved pairs each");
    let config = service::runtime::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("dialects-{}", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_table(&dynamodb, &table)
        .await
        .expect("create table");
    let services = crate::services(&table).await;
    let router = api::router(api::AppState::from_services(&services));
    let key = crate::issue_key(&services.store, TENANT, Scope::ALL.to_vec()).await;
    let v1 = [("x-api-key", key.clone())];
    let created = call(
        &router,
        &v1,
        "POST",
        "/v1/accounts",
        Some(format!(r#"{{"account_id": "{ACCOUNT}", "name": "bench"}}"#)),
    )
    .await;
    assert_eq!(created.0, 201, "{}", created.1);
    let products = &created.1["products"];
    let project = service::products::risken_project_id(TENANT);
    let bearer = format!("Bearer {key}");
    let (id, secret) = key.rsplit_once('_').expect("a key");
    let token = format!("{secret}/{id}");
    let listed = call(
        &router,
        &[("authorization", bearer.clone())],
        "GET",
        &format!("/api/v1/aws/list-aws/?project_id={project}&aws_account_id={ACCOUNT}"),
        None,
    )
    .await;
    let aws_id = listed.1["data"]["aws"][0]["aws_id"].clone();
    let dialects: [(&str, (&str, String), String); 5] = [
        ("panther", ("x-api-key", key.clone()), format!("/cloud-accounts/aws/{}", products["panther"]["integration_id"].as_str().unwrap())),
        ("cloudcraft", ("authorization", bearer.clone()), format!("/aws/account/{}", products["cloudcraft"]["id"].as_str().unwrap())),
        ("cloudability", ("x-api-key", key.clone()), format!("/v3/vendors/AWS/accounts/{ACCOUNT}")),
        ("risken", ("authorization", bearer.clone()), format!("/api/v1/aws/list-aws/?project_id={project}&aws_id={aws_id}")),
        ("carbonblack", ("x-auth-token", token), format!("/public-cloud/account-management/v1/orgs/{TENANT}/cloud_providers/AWS/accounts/{ACCOUNT}")),
    ];
    let ours = format!("/v1/accounts/{ACCOUNT}");
    for (product, header, uri) in &dialects {
        let headers = [(header.0, header.1.clone())];
        for _ in 0..20 {
            call(&router, &headers, "GET", uri, None).await;
            call(&router, &v1, "GET", &ours, None).await;
        }
        let (mut theirs, mut mine) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            let started = Instant::now();
            let (status, body) = call(&router, &headers, "GET", uri, None).await;
            theirs.push(started.elapsed());
            assert_eq!(status, 200, "{product}: {body}");
            let started = Instant::now();
            let (status, _) = call(&router, &v1, "GET", &ours, None).await;
            mine.push(started.elapsed());
            assert_eq!(status, 200);
        }
        let (theirs, mine) = (median(theirs), median(mine));
        println!(
            "{product:>12}: GET {:.2} ms, /v1 GET {:.2} ms (medians): ratio {:.2} (target <= 1.10{})",
            theirs.as_secs_f64() * 1e3,
            mine.as_secs_f64() * 1e3,
            theirs.as_secs_f64() / mine.as_secs_f64(),
            if *product == "risken" { "; one more read: the aws_id lookup" } else { "" }
        );
    }
}
