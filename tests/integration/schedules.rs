//! Scans on a schedule: due runs found through the due index by the
//! verifier's sweep, in fake time; never two at once; skipped, with why,
//! for archived accounts and unverified credentials.

use crate::harness::TestApp;
use crate::scans::onboard;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::time::Timestamp;
use std::time::Duration;

async fn schedule(app: &TestApp, account: &str, schedule: Value) -> crate::harness::Reply {
    app.call(
        Method::PUT,
        &format!("/v1/accounts/{account}/data-sources/aws:iam"),
        Some(&json!({"schedule": schedule})),
    )
    .await
}

async fn attachment(app: &TestApp, account: &str) -> Value {
    let reply = app
        .get(&format!("/v1/accounts/{account}/data-sources/aws:iam"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body
}

async fn scans(app: &TestApp, account: &str) -> Vec<Value> {
    let reply = app.get(&format!("/v1/accounts/{account}/scans")).await;
    reply.body["items"].as_array().unwrap().clone()
}

fn at(value: &Value) -> Timestamp {
    Timestamp::parse(value.as_str().expect("a time")).expect("RFC 3339")
}

#[tokio::test]
async fn a_schedule_of_every_60_s_runs_three_scans_in_three_minutes_never_two_at_once() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    let set = schedule(&app, &account, json!({"every_seconds": 60})).await;
    assert_eq!(set.status, StatusCode::OK, "{:#}", set.body);
    let first_due = at(&set.body["next_scan_at"]);
    let sweeper = app.sweeper();

    // Not yet due: nothing runs.
    let early = sweeper
        .run_schedules(Timestamp::from_datetime(
            first_due.datetime() - chrono::Duration::seconds(1),
        ))
        .await;
    assert_eq!(early.queued + early.skipped, 0);

    let mut due = first_due;
    for run in 1..=3 {
        let report = sweeper.run_schedules(due).await;
        assert_eq!(report.queued, 1, "run {run}: {report:?}");
        // The same moment again (a second sweep): the run was taken.
        let again = sweeper.run_schedules(due).await;
        assert_eq!(again.queued + again.skipped, 0, "run {run} twice");
        let attached = attachment(&app, &account).await;
        assert_eq!(attached["last_scheduled_run"]["outcome"], "QUEUED");
        let next = at(&attached["next_scan_at"]);
        assert_eq!(
            next.datetime() - due.datetime(),
            chrono::Duration::seconds(60)
        );
        app.drain_scan_queue().await;
        due = next;
    }
    // Due again while a scan is still queued: skipped, and says why.
    let queued = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/data-sources/aws:iam/scans"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    let report = sweeper.run_schedules(due).await;
    assert_eq!((report.queued, report.skipped), (0, 1));
    let attached = attachment(&app, &account).await;
    assert_eq!(attached["last_scheduled_run"]["outcome"], "SKIPPED");
    assert_eq!(
        attached["last_scheduled_run"]["skip_reason"],
        "scan_running"
    );
    app.drain_scan_queue().await;

    let listed = scans(&app, &account).await;
    let scheduled: Vec<&Value> = listed
        .iter()
        .filter(|scan| scan["requested_by"] == "system:schedule")
        .collect();
    assert_eq!(scheduled.len(), 3, "{listed:#?}");
    for scan in &scheduled {
        assert_eq!(scan["status"], "SUCCEEDED", "{scan:#}");
    }
    // Never two at once: each scheduled scan finished before the next was queued.
    let mut windows: Vec<(Timestamp, Timestamp)> = scheduled
        .iter()
        .map(|scan| (at(&scan["requested_at"]), at(&scan["finished_at"])))
        .collect();
    windows.sort();
    for pair in windows.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "{pair:?}");
    }
}

#[tokio::test]
async fn schedules_skip_archived_accounts_and_unverified_credentials_and_say_why() {
    let app = TestApp::with_scans().await;
    let (archived, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    let set = schedule(
        &app,
        &archived,
        json!({"every_seconds": 60, "jitter_seconds": 30}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{:#}", set.body);
    let due = at(&set.body["next_scan_at"]);
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{archived}/archive"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);

    // An account whose role was never verified.
    let unverified = "000000000777";
    app.create(unverified, json!({"regions": ["us-east-1"]}))
        .await;
    let set = schedule(&app, unverified, json!({"cron": "*/5 * * * *"})).await;
    assert_eq!(set.status, StatusCode::CREATED, "{:#}", set.body);
    let cron_due = at(&set.body["next_scan_at"]);
    assert_eq!(
        cron_due.datetime().timestamp() % 300,
        0,
        "on a five-minute mark"
    );

    let sweeper = app.sweeper();
    let report = sweeper
        .run_schedules(due.max(cron_due).plus(Duration::from_secs(31)))
        .await;
    assert_eq!((report.queued, report.skipped), (0, 2), "{report:?}");
    let run = &attachment(&app, &archived).await["last_scheduled_run"];
    assert_eq!(run["skip_reason"], "archived", "{run:#}");
    assert!(run["message"].as_str().unwrap().contains("unarchive"));
    let run = &attachment(&app, unverified).await["last_scheduled_run"];
    assert_eq!(run["skip_reason"], "credential_not_verified", "{run:#}");
    assert!(scans(&app, &archived).await.is_empty());
    assert!(scans(&app, unverified).await.is_empty());
    assert_eq!(app.drain_scan_queue().await, 0);
}

#[tokio::test]
async fn bad_schedules_name_the_field_and_write_nothing() {
    let app = TestApp::with_scans().await;
    let account = "000000000778";
    app.create(account, json!({})).await;
    let before = app.snapshot().await;
    for (body, field) in [
        (json!({"every_seconds": 10}), "schedule.every_seconds"),
        (
            json!({"every_seconds": 60, "jitter_seconds": 31}),
            "schedule.jitter_seconds",
        ),
        (json!({"cron": "0 3 * *"}), "schedule.cron"),
        (
            json!({"every_seconds": 60, "cron": "0 3 * * *"}),
            "schedule",
        ),
        (json!({"every": 60}), "schedule.every"),
    ] {
        let reply = schedule(&app, account, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:#}", reply.body);
        assert_eq!(reply.field(), field, "{:#}", reply.body);
    }
    assert_eq!(app.snapshot().await, before);
}
