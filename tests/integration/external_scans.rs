//! External scanners report back: a scanner takes the job from its queue,
//! uploads pages of findings with its credential and completes the scan;
//! one it never completes times out.

use crate::harness::TestApp;
use crate::scans::onboard;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::scanner::ScannerCredential;
use service::scans::Catalogue;
use service::time::Timestamp;

struct Fixture {
    app: TestApp,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    account: String,
    /// The scanner credential of `acme:ext`, and of another source.
    token: String,
    other_token: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(format!("{name}-{}", ulid::Ulid::new()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn credential(app: &TestApp, data_source: &str) -> String {
    let issued = ScannerCredential::issue(data_source, "fleet", Timestamp::now()).unwrap();
    app.store
        .create_scanner_credential(&issued.record)
        .await
        .unwrap();
    issued.token
}

async fn fixture() -> Fixture {
    let config = crate::harness::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = queue(&sqs, "ext").await;
    let other_url = queue(&sqs, "other").await;
    let catalogue = Catalogue::with_external(
        &json!([
            {"name": "acme:ext", "description": "An external scanner", "max_score": 10.0, "queue_url": queue_url, "deadline_minutes": 1},
            {"name": "acme:other", "description": "Another one", "max_score": 10.0, "queue_url": other_url},
        ])
        .to_string(),
    )
    .unwrap();
    let app = TestApp::with_catalogue(catalogue).await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1", "eu-west-1"]})).await;
    let attached = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{account}/data-sources/acme:ext"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(attached.status, StatusCode::CREATED, "{:#}", attached.body);
    let token = credential(&app, "acme:ext").await;
    let other_token = credential(&app, "acme:other").await;
    Fixture {
        app,
        sqs,
        queue_url,
        account,
        token,
        other_token,
    }
}

impl Fixture {
    /// Queue a scan, let the worker forward it, and receive the job as the
    /// scanner does.
    async fn forwarded_scan(&self) -> Value {
        let queued = self
            .app
            .call(
                Method::POST,
                &format!("/v1/accounts/{}/data-sources/acme:ext/scans", self.account),
                Some(&json!({})),
            )
            .await;
        assert_eq!(queued.status, StatusCode::ACCEPTED, "{:#}", queued.body);
        self.app.drain_scan_queue().await;
        let messages = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        assert_eq!(messages.len(), 1);
        let job: Value = serde_json::from_str(messages[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(job["scan_id"], queued.body["scan_id"]);
        assert!(Timestamp::parse(job["deadline_at"].as_str().unwrap()).is_some());
        job
    }

    async fn report(
        &self,
        token: Option<&str>,
        scan_id: &str,
        verb: &str,
        body: &Value,
    ) -> crate::harness::Reply {
        let authorization = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        self.app
            .call_with(
                Method::POST,
                &format!("/v1/scans/{scan_id}/{verb}"),
                None,
                Some(body),
                &headers,
            )
            .await
    }

    async fn scan(&self, scan_id: &str) -> Value {
        let reply = self
            .app
            .get(&format!(
                "/v1/accounts/{}/data-sources/acme:ext/scans/{scan_id}",
                self.account
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        reply.body
    }

    async fn findings(&self) -> Vec<Value> {
        let reply = self
            .app
            .get(&format!(
                "/v1/accounts/{}/findings?data_source=acme:ext&limit=1000",
                self.account
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        reply.body["items"].as_array().unwrap().clone()
    }

    /// This source's share of the account's findings summary.
    async fn summary(&self) -> Value {
        let summary = self
            .app
            .get(&format!("/v1/accounts/{}/findings/summary", self.account))
            .await;
        assert_eq!(summary.status, StatusCode::OK, "{:#}", summary.body);
        summary.body["data_sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["data_source"] == "acme:ext")
            .unwrap_or_else(|| panic!("no acme:ext in {:#}", summary.body))
            .clone()
    }

    async fn attachment_status(&self) -> String {
        let reply = self
            .app
            .get(&format!(
                "/v1/accounts/{}/data-sources/acme:ext",
                self.account
            ))
            .await;
        reply.body["status"].as_str().unwrap().to_string()
    }
}

fn finding(rule: &str, resource: &str, score: f64) -> Value {
    json!({
        "rule": rule,
        "title": format!("{rule} on {resource}"),
        "resource_type": "AWS.EC2.Instance",
        "resource_id": format!("arn:aws:ec2:us-east-1:111111111111:instance/{resource}"),
        "region": "us-east-1",
        "score": score,
    })
}

#[tokio::test]
async fn a_scanner_uploads_pages_once_each_and_completes_with_exact_counts() {
    let f = fixture().await;
    let job = f.forwarded_scan().await;
    let scan_id = job["scan_id"].as_str().unwrap();
    assert_eq!(f.scan(scan_id).await["status"], "FORWARDED");
    assert_eq!(f.attachment_status().await, "IN_PROGRESS");

    let page1 = json!({"page": 1, "findings": [finding("OPEN_PORT", "i-1", 7.5), finding("OPEN_PORT", "i-2", 4.0)]});
    // Page 2 reports i-1 again (a scanner's overlap): one finding, not two.
    let page2 = json!({"page": 2, "findings": [finding("OPEN_PORT", "i-1", 7.5), finding("NO_BACKUP", "i-3", 9.5)]});

    // Who may upload: the source's own scanner only.
    let before = f.app.snapshot().await;
    f.report(Some(&f.other_token), scan_id, "results", &page1)
        .await
        .assert_error(403, "forbidden");
    f.report(Some(&f.app.key.clone()), scan_id, "results", &page1)
        .await
        .assert_error(403, "forbidden");
    f.report(None, scan_id, "results", &page1)
        .await
        .assert_error(401, "unauthorized");
    // Bad findings name the field and write nothing.
    let bad = json!({"page": 1, "findings": [finding("OPEN_PORT", "i-1", 11.0)]});
    let reply = f.report(Some(&f.token), scan_id, "results", &bad).await;
    reply.assert_error(400, "invalid_value");
    assert_eq!(reply.field(), "findings[0].score");
    assert_eq!(f.app.snapshot().await, before);

    let first = f.report(Some(&f.token), scan_id, "results", &page1).await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.body);
    assert_eq!(first.body["duplicate"], false);
    assert_eq!(f.scan(scan_id).await["status"], "RUNNING");
    let second = f.report(Some(&f.token), scan_id, "results", &page2).await;
    assert_eq!(second.body["kept"], 2, "{:#}", second.body);
    let again = f.report(Some(&f.token), scan_id, "results", &page2).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["duplicate"], true);
    // The same page number with other findings is refused.
    f.report(
        Some(&f.token),
        scan_id,
        "results",
        &json!({"page": 1, "findings": []}),
    )
    .await
    .assert_error(409, "page_conflict");

    // SUCCEEDED with an error is a contradiction, not an error to drop.
    let contradiction = f
        .report(
            Some(&f.token),
            scan_id,
            "complete",
            &json!({"status": "SUCCEEDED", "pages": 2, "error": "it broke"}),
        )
        .await;
    contradiction.assert_error(400, "invalid_value");
    assert_eq!(contradiction.field(), "error");
    assert_eq!(f.scan(scan_id).await["status"], "RUNNING");

    // A count of pages that disagrees is refused, naming the missing one.
    let short = f
        .report(
            Some(&f.token),
            scan_id,
            "complete",
            &json!({"status": "SUCCEEDED", "pages": 3}),
        )
        .await;
    short.assert_error(409, "pages_missing");
    assert!(short.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing: 3"));

    let done = f
        .report(
            Some(&f.token),
            scan_id,
            "complete",
            &json!({"status": "SUCCEEDED", "resources": 12, "pages": 2}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:#}", done.body);
    assert_eq!(done.body["status"], "SUCCEEDED");
    assert_eq!(
        done.body["counts"],
        json!({"resources": 12, "findings": 4, "stored": 3, "ignored": 0, "resolved": 0})
    );
    assert_eq!(f.scan(scan_id).await["status"], "SUCCEEDED");
    assert_eq!(f.attachment_status().await, "OK");
    let findings = f.findings().await;
    assert_eq!(findings.len(), 3, "{findings:#?}");
    let source = f.summary().await;
    assert_eq!(
        (
            source["total"].clone(),
            source["critical"].clone(),
            source["high"].clone(),
            source["medium"].clone()
        ),
        (json!(3), json!(1), json!(1), json!(1)),
        "the summary counts what the listing lists: {source:#}"
    );
    let severities: Vec<&str> = findings
        .iter()
        .map(|x| x["severity"].as_str().unwrap())
        .collect();
    assert!(
        severities.contains(&"CRITICAL")
            && severities.contains(&"HIGH")
            && severities.contains(&"MEDIUM")
    );
    let regions = f
        .app
        .get(&format!("/v1/accounts/{}/regions", f.account))
        .await;
    for region in regions.body["regions"].as_array().unwrap() {
        assert_eq!(region["inventory_sync"]["status"], "SUCCESS", "{region:#}");
    }

    // Completing again the same way answers the same; anything more is refused.
    let repeat = f
        .report(
            Some(&f.token),
            scan_id,
            "complete",
            &json!({"status": "SUCCEEDED", "resources": 12, "pages": 2}),
        )
        .await;
    assert_eq!(repeat.status, StatusCode::OK);
    assert_eq!(repeat.body["counts"], done.body["counts"]);
    f.report(
        Some(&f.token),
        scan_id,
        "complete",
        &json!({"status": "FAILED", "error": "late"}),
    )
    .await
    .assert_error(409, "scan_not_awaiting_results");
    f.report(
        Some(&f.token),
        scan_id,
        "results",
        &json!({"page": 3, "findings": []}),
    )
    .await
    .assert_error(409, "scan_not_awaiting_results");

    // The next scan sees only i-3: the other two are resolved.
    let next = f.forwarded_scan().await;
    let next_id = next["scan_id"].as_str().unwrap();
    f.report(
        Some(&f.token),
        next_id,
        "results",
        &json!({"page": 1, "findings": [finding("NO_BACKUP", "i-3", 9.5)]}),
    )
    .await;
    let ended = f
        .report(
            Some(&f.token),
            next_id,
            "complete",
            &json!({"status": "SUCCEEDED", "resources": 12}),
        )
        .await;
    assert_eq!(ended.body["counts"]["resolved"], 2, "{:#}", ended.body);
    assert_eq!(ended.body["counts"]["stored"], 1);
    let left = f.findings().await;
    assert_eq!(left.len(), 1);
    let source = f.summary().await;
    assert_eq!(source["total"], 1, "{source:#}");
    assert_eq!(source["critical"], 1);
    assert_eq!(
        left[0]["first_seen_at"],
        findings.iter().find(|x| x["rule"] == "NO_BACKUP").unwrap()["first_seen_at"],
        "a finding seen again keeps when it was first seen"
    );
}

#[tokio::test]
async fn a_scan_never_completed_times_out_and_takes_no_more_results() {
    let f = fixture().await;
    let job = f.forwarded_scan().await;
    let scan_id = job["scan_id"].as_str().unwrap();
    let sweeper = f.app.sweeper();
    // Before the deadline (one minute), nothing times out.
    assert_eq!(sweeper.time_out_scans(Timestamp::now()).await, 0);
    let later = Timestamp::now().plus(std::time::Duration::from_secs(90));
    assert_eq!(sweeper.time_out_scans(later).await, 1);
    assert_eq!(sweeper.time_out_scans(later).await, 0, "once");
    let scan = f.scan(scan_id).await;
    assert_eq!(scan["status"], "TIMED_OUT", "{scan:#}");
    assert_eq!(scan["errors"][0]["code"], "TIMEOUT");
    assert_eq!(f.attachment_status().await, "ERROR");
    let regions = f
        .app
        .get(&format!("/v1/accounts/{}/regions", f.account))
        .await;
    for region in regions.body["regions"].as_array().unwrap() {
        assert_eq!(
            region["inventory_sync"]["status"], "TIMED_OUT",
            "{region:#}"
        );
    }
    f.report(
        Some(&f.token),
        scan_id,
        "results",
        &json!({"page": 1, "findings": []}),
    )
    .await
    .assert_error(409, "scan_not_awaiting_results");
    f.report(
        Some(&f.token),
        scan_id,
        "complete",
        &json!({"status": "SUCCEEDED"}),
    )
    .await
    .assert_error(409, "scan_not_awaiting_results");
}

#[tokio::test]
async fn a_revoked_scanner_credential_stops_at_once() {
    let f = fixture().await;
    let job = f.forwarded_scan().await;
    let scan_id = job["scan_id"].as_str().unwrap();
    let presented = ScannerCredential::parse_token(&f.token).unwrap();
    f.app
        .store
        .revoke_scanner_credential(presented.credential_id)
        .await
        .unwrap();
    f.report(
        Some(&f.token),
        scan_id,
        "results",
        &json!({"page": 1, "findings": []}),
    )
    .await
    .assert_error(401, "unauthorized");
    // An unknown scan is a 404, to the right scanner.
    f.report(
        Some(&f.other_token),
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "complete",
        &json!({"status": "SUCCEEDED"}),
    )
    .await
    .assert_error(404, "not_found");
}

/// Issue 25 #3: two uploads of one page with different findings, at once:
/// one is stored, the other is a 409 that wrote nothing; the completed
/// scan's counts equal what is listed.
#[tokio::test]
async fn concurrent_uploads_of_one_page_store_one_of_them_only() {
    let f = fixture().await;
    for round in 0..4 {
        let job = f.forwarded_scan().await;
        let scan_id = job["scan_id"].as_str().unwrap();
        let page = |tag: &str| {
            let findings: Vec<Value> = (0..40)
                .map(|i| finding("OPEN_PORT", &format!("{tag}-{round}-{i}"), 5.0))
                .collect();
            json!({"page": 1, "findings": findings})
        };
        let (a, b) = (page("a"), page("b"));
        let (first, second) = futures::join!(
            f.report(Some(&f.token), scan_id, "results", &a),
            f.report(Some(&f.token), scan_id, "results", &b),
        );
        let statuses = [first.status.as_u16(), second.status.as_u16()];
        assert!(
            statuses.contains(&200) && statuses.contains(&409),
            "{statuses:?}: {:#} {:#}",
            first.body,
            second.body
        );
        let loser = if first.status == StatusCode::OK {
            &second
        } else {
            &first
        };
        assert_eq!(loser.code(), "page_conflict");
        let done = f
            .report(
                Some(&f.token),
                scan_id,
                "complete",
                &json!({"status": "SUCCEEDED", "pages": 1}),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{:#}", done.body);
        assert_eq!(done.body["counts"]["stored"], 40, "{:#}", done.body);
        let listed: Vec<Value> = f
            .findings()
            .await
            .into_iter()
            .filter(|finding| finding["scan_id"] == scan_id)
            .collect();
        assert_eq!(listed.len(), 40, "only the stored page's findings");
        let winner = if first.status == StatusCode::OK {
            "a"
        } else {
            "b"
        };
        assert!(listed.iter().all(|finding| finding["resource_id"]
            .as_str()
            .unwrap()
            .contains(&format!("/{winner}-{round}-"))));
    }
}

/// Issue 25 #3: uploads racing a completion either land before the count
/// (and are in it) or are refused having written nothing: the summary
/// always equals the listing.
#[tokio::test]
async fn completion_fences_the_uploads_it_races() {
    let f = fixture().await;
    let job = f.forwarded_scan().await;
    let scan_id = job["scan_id"].as_str().unwrap();
    let page = |number: u32| {
        let findings: Vec<Value> = (0..60)
            .map(|i| finding("NO_BACKUP", &format!("p{number}-{i}"), 4.0))
            .collect();
        json!({"page": number, "findings": findings})
    };
    let first = f.report(Some(&f.token), scan_id, "results", &page(1)).await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.body);
    let pages: Vec<Value> = (2..=6).map(page).collect();
    let uploads = futures::future::join_all(
        pages
            .iter()
            .map(|body| f.report(Some(&f.token), scan_id, "results", body)),
    );
    let completion = async {
        // Let the uploads start, then complete in their midst.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        f.report(
            Some(&f.token),
            scan_id,
            "complete",
            &json!({"status": "SUCCEEDED"}),
        )
        .await
    };
    let (uploaded, mut done) = futures::join!(uploads, completion);
    for reply in &uploaded {
        assert!(
            reply.status == StatusCode::OK || reply.code() == "scan_not_awaiting_results",
            "{:#}",
            reply.body
        );
    }
    if done.status != StatusCode::OK {
        assert_eq!(done.code(), "upload_in_progress", "{:#}", done.body);
        done = f
            .report(
                Some(&f.token),
                scan_id,
                "complete",
                &json!({"status": "SUCCEEDED"}),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{:#}", done.body);
    }
    let accepted = 1 + uploaded
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let listed = f
        .findings()
        .await
        .into_iter()
        .filter(|finding| finding["scan_id"] == scan_id)
        .count();
    assert_eq!(
        listed,
        accepted * 60,
        "only accepted pages' findings are stored"
    );
    assert_eq!(done.body["counts"]["stored"], listed, "{:#}", done.body);
    assert_eq!(done.body["counts"]["findings"], listed, "{:#}", done.body);
    assert_eq!(f.scan(scan_id).await["counts"]["stored"], listed);
}
