//! Regional scans: the built-in `aws:sqs` source runs one job per region,
//! each region's status, timing and error its own; a region stopped before
//! the worker's deadline is TIMED_OUT, and its redelivery resumes it alone.

use crate::harness::*;
use crate::scans::onboard;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// An SQS client acting in `account` (moto picks it from this header).
fn sqs_in(app: &TestApp, account: &str, region: &str) -> aws_sdk_sqs::Client {
    let account = account.to_string();
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&app.sdk_config)
            .region(aws_sdk_sqs::config::Region::new(region.to_string()))
            .interceptor(AccountHeader(account))
            .build(),
    )
}

#[derive(Debug)]
struct AccountHeader(String);

impl aws_sdk_sqs::config::Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "moto account"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_sdk_sqs::config::RuntimeComponents,
        _: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A queue of the customer's: plain, KMS-encrypted, or public.
async fn customer_queue(sqs: &aws_sdk_sqs::Client, name: &str, kind: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let mut request = sqs.create_queue().queue_name(name);
    match kind {
        "kms" => request = request.attributes(A::KmsMasterKeyId, "alias/aws/sqs"),
        "public" => {
            request = request.attributes(A::SqsManagedSseEnabled, "true").attributes(
                A::Policy,
                json!({"Version": "2012-10-17", "Statement": [{"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}]}).to_string(),
            )
        }
        // moto, like AWS since 2022, encrypts new queues unless told not to.
        _ => request = request.attributes(A::SqsManagedSseEnabled, "false"),
    }
    request
        .send()
        .await
        .expect("create the customer's queue")
        .queue_url
        .unwrap()
}

async fn scan_of(app: &TestApp, account: &str, scan_id: &str) -> Value {
    let reply = app
        .get(&format!(
            "/v1/accounts/{account}/data-sources/aws:sqs/scans/{scan_id}"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body
}

/// The region status `GET /v1/accounts/{id}/regions` shows for `region`.
async fn region_sync(app: &TestApp, account: &str, region: &str) -> String {
    let reply = app.get(&format!("/v1/accounts/{account}/regions")).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == region)
        .map(|r| r["inventory_sync"]["status"].as_str().unwrap().to_string())
        .unwrap()
}

#[tokio::test]
async fn a_regional_scan_runs_per_region_and_a_redelivery_resumes_only_the_unfinished_region() {
    let app = TestApp::with_scans().await;
    let (account, _role) = onboard(&app, json!({"regions": [EAST, WEST]})).await;
    let attached = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{account}/data-sources/aws:sqs"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(attached.status, StatusCode::CREATED, "{:#}", attached.body);
    let east = sqs_in(&app, &account, EAST);
    let west = sqs_in(&app, &account, WEST);
    customer_queue(&east, "orders", "plain").await;
    customer_queue(&east, "billing", "kms").await;
    customer_queue(&west, "events", "public").await;
    customer_queue(&west, "audit", "plain").await;
    let jobs_queue = customer_queue(&west, "jobs", "plain").await;

    let queued = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/data-sources/aws:sqs/scans"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:#}", queued.body);
    let scan_id = queued.body["scan_id"].as_str().unwrap().to_string();
    for region in [EAST, WEST] {
        assert_eq!(queued.body["region_runs"][region]["status"], "QUEUED");
    }

    // One job per region, on the scan queue.
    let scanning = app.scanning();
    let received = scanning
        .sqs
        .receive_message()
        .queue_url(&scanning.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 2, "one job per region");
    let mut by_region = std::collections::BTreeMap::new();
    for message in &received {
        let job: service::scans::ScanJob =
            serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
        assert_eq!(job.scan_id, scan_id);
        by_region.insert(job.region.clone().unwrap(), (job, message));
    }

    // us-east-1 runs to the end; eu-west-1's delivery has its deadline on
    // it already, so it stops before reading anything.
    let (east_job, east_message) = &by_region[EAST];
    let (west_job, west_message) = &by_region[WEST];
    scanning
        .worker
        .run(east_job, 1, service::usecases::scan_run::Deadline::NONE)
        .await
        .expect("us-east-1 scanned");
    let stopped = scanning
        .worker
        .run(
            west_job,
            1,
            service::usecases::scan_run::Deadline::at(std::time::Instant::now()),
        )
        .await;
    assert!(
        matches!(stopped, Err(service::usecases::scan_run::Retry::Failed(_))),
        "a region stopped before the deadline comes back: {stopped:?}"
    );

    let halfway = scan_of(&app, &account, &scan_id).await;
    assert_eq!(halfway["status"], "RUNNING", "{halfway:#}");
    let east_run = halfway["region_runs"][EAST].clone();
    let west_run = &halfway["region_runs"][WEST];
    assert_eq!(east_run["status"], "SUCCEEDED", "{halfway:#}");
    assert_eq!(east_run["attempts"], 1);
    assert_eq!(
        east_run["counts"],
        json!({"resources": 2, "findings": 1, "stored": 1, "ignored": 0, "resolved": 0})
    );
    assert!(east_run["started_at"].is_string() && east_run["finished_at"].is_string());
    assert_eq!(west_run["status"], "TIMED_OUT", "{halfway:#}");
    assert_eq!(west_run["error"]["code"], "TIMEOUT");
    assert!(west_run["finished_at"].is_null());
    assert_eq!(west_run["counts"]["resources"], 0);
    assert_eq!(region_sync(&app, &account, EAST).await, "SUCCESS");
    assert_eq!(region_sync(&app, &account, WEST).await, "TIMED_OUT");

    // SQS: the finished job is deleted, the stopped one comes back.
    scanning
        .sqs
        .delete_message()
        .queue_url(&scanning.queue_url)
        .receipt_handle(east_message.receipt_handle.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    scanning
        .sqs
        .change_message_visibility()
        .queue_url(&scanning.queue_url)
        .receipt_handle(west_message.receipt_handle.as_deref().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert_eq!(app.drain_scan_queue().await, 1, "only eu-west-1 comes back");

    let done = scan_of(&app, &account, &scan_id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}");
    assert_eq!(
        done["region_runs"][EAST], east_run,
        "us-east-1 did not run again"
    );
    let west_run = &done["region_runs"][WEST];
    assert_eq!(west_run["status"], "SUCCEEDED");
    assert_eq!(west_run["attempts"], 2);
    assert!(west_run["error"].is_null());
    assert_eq!(
        west_run["counts"],
        json!({"resources": 3, "findings": 3, "stored": 3, "ignored": 0, "resolved": 0})
    );
    assert_eq!(
        done["counts"],
        json!({"resources": 5, "findings": 4, "stored": 4, "ignored": 0, "resolved": 0})
    );
    assert_eq!(region_sync(&app, &account, WEST).await, "SUCCESS");

    let listed = app
        .get(&format!(
            "/v1/accounts/{account}/findings?data_source=aws:sqs"
        ))
        .await;
    let findings = listed.body["items"].as_array().unwrap().clone();
    let mut seen: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["region"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (WEST.into(), "SQS_QUEUE_NOT_ENCRYPTED".into()),
            (WEST.into(), "SQS_QUEUE_NOT_ENCRYPTED".into()),
            (WEST.into(), "SQS_QUEUE_PUBLIC".into()),
            (EAST.into(), "SQS_QUEUE_NOT_ENCRYPTED".to_string()),
        ]
    );
    let summary = app
        .get(&format!("/v1/accounts/{account}/findings/summary"))
        .await;
    let sqs_counts = summary.body["data_sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["data_source"] == "aws:sqs")
        .unwrap()
        .clone();
    assert_eq!(sqs_counts["total"], 4, "{sqs_counts:#}");
    assert_eq!(sqs_counts["critical"], 1);
    assert_eq!(sqs_counts["medium"], 3);

    // The next scan: a queue gone from eu-west-1 is resolved there alone,
    // and what stays keeps when it was first seen.
    let first_seen: std::collections::BTreeMap<String, Value> = findings
        .iter()
        .map(|f| {
            (
                f["finding_id"].as_str().unwrap().to_string(),
                f["first_seen_at"].clone(),
            )
        })
        .collect();
    west.delete_queue()
        .queue_url(&jobs_queue)
        .send()
        .await
        .unwrap();
    let again = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/data-sources/aws:sqs/scans"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{:#}", again.body);
    assert_eq!(app.drain_scan_queue().await, 2);
    let rescan = scan_of(&app, &account, again.body["scan_id"].as_str().unwrap()).await;
    assert_eq!(rescan["status"], "SUCCEEDED", "{rescan:#}");
    assert_eq!(rescan["region_runs"][WEST]["counts"]["resolved"], 1);
    assert_eq!(rescan["region_runs"][EAST]["counts"]["resolved"], 0);
    let relisted = app
        .get(&format!(
            "/v1/accounts/{account}/findings?data_source=aws:sqs"
        ))
        .await;
    let remaining = relisted.body["items"].as_array().unwrap();
    assert_eq!(remaining.len(), 3);
    for finding in remaining {
        assert_eq!(
            finding["first_seen_at"],
            first_seen[finding["finding_id"].as_str().unwrap()]
        );
    }
}
