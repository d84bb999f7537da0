//! The sample events in `events/` run through the same conversion Lambda uses.

use crate::harness::TestApp;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use service::api_key::{ApiKey, Scope};
use service::time::Timestamp;

fn event(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

async fn invoke(app: &TestApp, name: &str) -> crate::harness::Reply {
    let lambda_request: lambda_http::request::LambdaRequest =
        serde_json::from_str(&event(name)).unwrap();
    let request: Request<lambda_http::Body> = lambda_request.into();
    let (parts, body) = request.into_parts();
    app.send(Request::from_parts(
        parts,
        axum::body::Body::from(body.to_vec()),
    ))
    .await
}

#[tokio::test]
async fn api_gateway_events_are_served() {
    let app = TestApp::new().await;
    let sample: Value = serde_json::from_str(&event("create-account.json")).unwrap();
    let token = sample["headers"]["x-api-key"].as_str().unwrap();
    let record = ApiKey::adopt(
        token,
        "default",
        "events",
        Scope::ALL.to_vec(),
        Timestamp::now(),
    )
    .unwrap();
    service::usecases::api_keys::create(&app.store, &record)
        .await
        .unwrap();

    let created = invoke(&app, "create-account.json").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let read = invoke(&app, "get-account.json").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created.body);
    let listed = invoke(&app, "list-accounts.json").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"][0]["account_id"], "123456789012");
}

#[tokio::test]
async fn scan_and_schedule_events_are_handled() {
    let app = TestApp::with_scans().await;
    let sqs: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&event("scan-job.json")).unwrap();
    assert_eq!(sqs.records.len(), 1);
    let job: service::scans::ScanJob =
        serde_json::from_str(sqs.records[0].body.as_deref().unwrap()).expect("a scan job");
    assert_eq!(job.data_source, "aws:iam");
    // A job whose scan does not exist (its account was deleted) is dropped,
    // not retried.
    let response = scan_worker::handle_batch(
        &app.scanning().worker,
        sqs,
        service::usecases::scan_run::Deadline::NONE,
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let schedule: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(&event("schedule.json")).unwrap();
    assert_eq!(schedule.detail_type, "Scheduled Event");
    let sweeper = app.sweeper();
    let report =
        verifier::handle_schedule(&sweeper, schedule, std::time::Duration::from_secs(60)).await;
    assert_eq!(
        report,
        service::usecases::sweep::SweepReport::default(),
        "an empty table has nothing due"
    );
}
