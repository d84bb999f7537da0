//! Capacity budgets: the DynamoDB units each request path consumes, as
//! DynamoDB Local reports them (as AWS bills them), held to the table in
//! `tests/integration/capacity_budget.json`. A change that adds a read, a
//! write or an index write fails here with the operation's name and its
//! units before and after. Deterministic: fixed-size items, no timing.
//! `CAPACITY_BUDGET_WRITE=1` writes the measured units as the new table
//! (review the diff: every increase needs a reason).

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::aws::capacity::{measure, Capacity};
use std::collections::BTreeMap;

const BUDGET: &str = "integration/capacity_budget.json";

/// The units of each measured operation, in the order measured.
async fn measure_all() -> BTreeMap<String, Capacity> {
    let mut app = TestApp::with_scans().await;
    let mut measured = BTreeMap::new();
    let mut keep = |name: &str, (reply, units): (crate::harness::Reply, Capacity)| {
        assert!(reply.status.is_success(), "{name}: {:#}", reply.body);
        measured.insert(name.to_string(), units);
        reply
    };
    let account = "135791357913";
    keep(
        "v1 create account",
        app.measured(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": account, "name": "Payments production", "environment": "PROD", "regions": ["us-east-1", "eu-west-1"]})),
        )
        .await,
    );
    keep(
        "v1 get account",
        app.measured(Method::GET, &format!("/v1/accounts/{account}"), None)
            .await,
    );
    let patch = json!({"name": "Payments prod", "labels": {"team": "payments"}});
    let (key, uri) = (app.key.clone(), format!("/v1/accounts/{account}"));
    let request = app.call_with(
        Method::PATCH,
        &uri,
        Some(&key),
        Some(&patch),
        &[("content-type", "application/merge-patch+json")],
    );
    keep("v1 patch account", measure(request).await);
    let mut csv = String::from("accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions\n");
    for i in 0..100 {
        csv.push_str(&format!(
            "{:012},Imported {i:03},Owner,owner@example.com,PROD,,us-east-1\n",
            246_000_000_000u64 + i
        ));
    }
    keep(
        "v1 import 100 rows",
        measure(app.raw(Method::POST, "/v1/accounts/import", "text/csv", &csv)).await,
    );
    keep(
        "v1 list page of 100",
        app.measured(Method::GET, "/v1/accounts?limit=100", None)
            .await,
    );
    keep(
        "v1 search by criteria",
        app.measured(
            Method::POST,
            "/v1/accounts/search",
            Some(&json!({"criteria": {"account_id": [account, "246000000007"]}})),
        )
        .await,
    );
    keep(
        "v1 export page of 100",
        app.measured(
            Method::POST,
            "/v1/accounts/export",
            Some(&json!({"rows": 100})),
        )
        .await,
    );
    keep(
        "v1 verify on demand (role refused)",
        app.measured(
            Method::POST,
            &format!("/v1/accounts/{account}/verify"),
            None,
        )
        .await,
    );
    keep(
        "v1 attach data source",
        app.measured(
            Method::PUT,
            &format!("/v1/accounts/{account}/data-sources/aws:iam"),
            Some(&json!({})),
        )
        .await,
    );
    keep(
        "v1 create webhook",
        app.measured(
            Method::POST,
            "/v1/webhooks",
            Some(
                &json!({"url": "https://hooks.example.com/in", "event_types": ["account.created"]}),
            ),
        )
        .await,
    );
    let (scanned, _) = crate::scans::onboard(&app, json!({})).await;
    let scan = app
        .measured(
            Method::POST,
            &format!("/v1/accounts/{scanned}/data-sources/aws:iam/scans"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(scan.0.status, StatusCode::ACCEPTED);
    keep("v1 request a scan", scan);
    let products = app.get(&format!("/v1/accounts/{account}")).await.body["products"].clone();
    keep(
        "panther get account",
        app.measured(
            Method::GET,
            &format!(
                "/cloud-accounts/aws/{}",
                products["panther"]["integration_id"].as_str().unwrap()
            ),
            None,
        )
        .await,
    );
    keep(
        "carbonblack get account",
        app.measured(
            Method::GET,
            &format!("/public-cloud/account-management/v1/orgs/acme/cloud_providers/AWS/accounts/{account}"),
            None,
        )
        .await,
    );
    // As the template deploys it: the key's record kept 10 s.
    app.reconfigure(|state| state.with_key_cache(std::time::Duration::from_secs(10)));
    app.get(&format!("/v1/accounts/{account}")).await;
    keep(
        "v1 get account (key cached)",
        app.measured(Method::GET, &format!("/v1/accounts/{account}"), None)
            .await,
    );
    keep(
        "v1 delete account",
        app.measured(Method::DELETE, &format!("/v1/accounts/{account}"), None)
            .await,
    );
    measured
}

/// The units of the work no request starts: the scheduled sweep, a
/// built-in scan and its results page, one stream record through the
/// notifier, one webhook delivery.
async fn measure_background(measured: &mut BTreeMap<String, Capacity>) {
    use service::time::Timestamp;
    use std::time::{Duration, Instant};
    let app = TestApp::with_scans().await;
    // A proven role with the IAM scanner attached, 50 IAM users each
    // without MFA and with an inline administrator policy: 100 findings.
    let (account, role) = crate::scans::onboard(&app, json!({})).await;
    // What the IAM scanner needs, as the account's template grants it.
    let scanner = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "iam:GetAccountAuthorizationDetails", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListMFADevices"]}]});
    let iam_client = aws_sdk_iam::Client::new(&app.sdk_config);
    let role_name = role.rsplit('/').next().unwrap();
    crate::harness::put_role_policy(&iam_client, &account, role_name, "Scanner", &scanner).await;
    let iam = crate::scans::CustomerIam::new(&app, &account);
    for user in 0..50 {
        let name = format!("user{user:02}");
        iam.user(&name, None, None).await;
        iam.inline_admin(&name).await;
    }
    let sweeper = app.sweeper();
    let (report, units) =
        measure(sweeper.sweep(Timestamp::now(), Instant::now() + Duration::from_secs(60))).await;
    assert_eq!(report.succeeded, 0, "{report:?}");
    measured.insert("sweep, nothing due".into(), units);
    // The notifier of this app: nobody subscribed, no bus.
    let notify = service::usecases::notify::Notify {
        store: app.store.clone(),
        retention_days: 30,
        bus: None,
        deliveries: None,
    };
    // What the stream holds after `before` records, through the notifier.
    let notify_since = |before: usize| {
        let (app, notify) = (&app, &notify);
        async move {
            let changes = crate::audit::read_stream(app).await;
            let (notified, units) = measure(notify.handle(&changes[before..])).await;
            notified.expect("notified");
            (changes.len() - before, units)
        }
    };
    let before = crate::audit::read_stream(&app).await.len();
    let tomorrow = Timestamp::now().plus(Duration::from_secs(2 * 86_400));
    let (report, units) =
        measure(sweeper.sweep(tomorrow, Instant::now() + Duration::from_secs(60))).await;
    assert_eq!(report.succeeded, 1, "{report:?}");
    measured.insert("sweep, one proven role due".into(), units);
    let (records, units) = notify_since(before).await;
    assert!(records >= 1);
    measured.insert("notifier, a scheduled verification's records".into(), units);

    let before = crate::audit::read_stream(&app).await.len();
    crate::scans::start_scan(&app, &account, json!({})).await;
    let (handled, units) = measure(app.drain_scan_queue()).await;
    assert!(handled >= 1);
    measured.insert("built-in scan of 50 IAM users".into(), units);
    // Every record the scan left on the stream (its request, the scan's
    // progress, 100 findings) through the notifier.
    let (records, units) = notify_since(before).await;
    assert!(records > 100, "{records} records");
    measured.insert("notifier, a built-in scan's records".into(), units);
    let before = crate::audit::read_stream(&app).await.len();
    crate::scans::start_scan(&app, &account, json!({})).await;
    let (handled, units) = measure(app.drain_scan_queue()).await;
    assert!(handled >= 1);
    measured.insert(
        "built-in scan of 50 IAM users, again, unchanged".into(),
        units,
    );
    let (records, units) = notify_since(before).await;
    assert!(records > 100, "{records} records");
    measured.insert("notifier, a re-scan's records".into(), units);
    let (page, units) = app
        .measured(
            Method::GET,
            &format!("/v1/accounts/{account}/findings?limit=100"),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
    assert_eq!(
        page.body["items"].as_array().unwrap().len(),
        100,
        "{:#}",
        page.body
    );
    measured.insert("v1 results page of 100 findings".into(), units);

    // One account change through the notifier (audit, history, the
    // event, one webhook's delivery queued), then that delivery.
    let hooks = crate::deliveries::Hooks::new().await;
    let receiver = crate::deliveries::Receiver::start(200, None).await;
    hooks.webhook(&receiver.url(), &["account.updated"]).await;
    hooks.app.create("975319753197", json!({})).await;
    hooks.notify(1).await;
    let renamed = hooks
        .app
        .call(
            Method::PATCH,
            "/v1/accounts/975319753197",
            Some(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:#}", renamed.body);
    let changes = crate::audit::read_stream(&hooks.app).await;
    let last = changes.last().expect("the rename's record").clone();
    let (events, units) = measure(hooks.notifier().handle(std::slice::from_ref(&last))).await;
    assert_eq!(events.expect("notified").len(), 1);
    measured.insert("notifier, one account change".into(), units);
    let sender = hooks.sender(
        crate::deliveries::settings(3),
        webhook_sender::http::HttpTransport::new(true).unwrap(),
    );
    let (received, units) = measure(testkit::webhook_pump::poll_once(
        &sender,
        &hooks.sqs,
        Duration::from_secs(1),
    ))
    .await;
    assert_eq!(received.expect("the delivery queue"), 1);
    assert_eq!(receiver.count(), 1);
    measured.insert("webhook delivery".into(), units);
}

/// The units of an hourly organization sync that finds its 100 members
/// as the last sync left them (STS and Organizations answered by the test
/// kit's endpoints: moto builds an IAM backend per account it meets).
async fn measure_organization_sync(measured: &mut BTreeMap<String, Capacity>) {
    use service::aws::verification::{RoleVerifier, VerificationSettings};
    use service::usecases::organizations::{
        sync, Organizations, RegisterOrganizationRequest, SyncSchedule,
    };
    use std::time::Duration;
    use testkit::organizations_endpoint::{OrganizationsAt, OrganizationsEndpoint};
    const MANAGEMENT: &str = "919191919191";
    let app = TestApp::new().await;
    let organizations =
        OrganizationsEndpoint::start(MANAGEMENT, 100, 4, 919_000_000_000, Duration::ZERO).await;
    let sts = testkit::sts_endpoint::StsEndpoint::start(Duration::ZERO, None).await;
    let settings = VerificationSettings {
        role_name_pattern: "*".into(),
        ..crate::harness::test_settings()
    };
    let organization = Organizations {
        store: &app.store,
        settings: &settings,
    }
    .register(
        crate::harness::TENANT,
        "capacity",
        RegisterOrganizationRequest {
            name: "Capacity".into(),
            management_account_id: service::ids::AccountId::parse(
                "management_account_id",
                MANAGEMENT,
            )
            .unwrap(),
            role_arn: format!("arn:aws:iam::{MANAGEMENT}:role/AccountOnboardingOrganizations"),
            filters: Default::default(),
        },
    )
    .await
    .expect("register the organization");
    sts.trust(
        organization.role_arn.clone(),
        organization.management_external_id(),
    );
    let remote = app
        .sdk_config
        .to_builder()
        .endpoint_url(&sts.url)
        .service_config(OrganizationsAt(organizations.url.clone()))
        .build();
    let verifier = RoleVerifier::new(&remote, &settings);
    let schedule = SyncSchedule {
        interval: Duration::from_secs(3600),
    };
    let run = || {
        sync(
            &app.store,
            &verifier,
            &settings,
            schedule,
            crate::harness::TENANT,
            &organization.organization_id,
        )
    };
    let first = run().await.expect("the first sync");
    assert_eq!(first.enrolled.count, 101, "{first:#?}");
    let (again, units) = measure(run()).await;
    let again = again.expect("the re-sync");
    assert_eq!(again.accounts_written, 0, "{again:#?}");
    measured.insert("organization sync, 100 members unchanged".into(), units);
}

/// What each path's semantics need (read, write units), from the
/// measured item sizes: an account item is 1.0-1.2 KB (2 WCU to write,
/// one 4 KB read unit), an API key item under 1 KB; authentication is one
/// strongly consistent GetItem (1 RCU: a revocation holds on the next
/// request); the seven account indexes the queries use (four sort orders,
/// status, environment, due) cost 1 WCU an entry if they projected keys
/// only. docs/architecture.md says why a path is above 1.25x its floor.
///
/// The background paths: an empty sweep needs nothing but its eight
/// shard queries; a proven role's re-verification reads its due entry
/// (0.5) and moves the account's due and verified sort keys (table 1,
/// two indexes' delete and put: 4); a built-in scan writes each of its
/// 100 findings once with its two indexes (3 WCU a finding) and reads
/// the account and the attachment; a results page reads 100 findings of
/// about 650 bytes (8 RCU) and the key; the notifier writes one audit
/// entry and looks up the tenant's subscriptions; a webhook delivery
/// reads its endpoint and records the attempt; an organization re-sync
/// that changes nothing reads its organization and its 101 member items
/// and records when it ran (the item, and its due entry moved).
/// A re-scan that finds the same writes each finding's sighting again
/// (`last_seen_at`, `scan_id`: 3 WCU each with its two indexes) after
/// reading them; the notifier writes one audit item per event (100
/// `finding.created` of a first scan, none for a sighting) and the
/// access-ledger entry of each session a verification or scan opened.
const FLOORS: [(&str, f64, f64); 26] = [
    (
        "built-in scan of 50 IAM users, again, unchanged",
        10.0,
        302.0,
    ),
    ("notifier, a built-in scan's records", 0.0, 102.0),
    ("notifier, a re-scan's records", 0.0, 2.0),
    ("notifier, a scheduled verification's records", 0.0, 2.0),
    ("organization sync, 100 members unchanged", 3.5, 3.0),
    ("sweep, nothing due", 0.0, 0.0),
    ("sweep, one proven role due", 0.5, 5.0),
    ("built-in scan of 50 IAM users", 2.0, 302.0),
    ("v1 results page of 100 findings", 9.0, 0.0),
    ("notifier, one account change", 0.5, 1.0),
    ("webhook delivery", 0.5, 2.0),
    ("carbonblack get account", 1.5, 0.0),
    ("v1 get account (key cached)", 0.5, 0.0),
    ("panther get account", 1.5, 0.0),
    ("v1 get account", 1.5, 0.0),
    ("v1 create account", 1.0, 9.0),
    ("v1 patch account", 1.5, 6.0),
    ("v1 delete account", 1.0, 9.0),
    ("v1 import 100 rows", 1.0, 900.0),
    ("v1 list page of 100", 15.0, 0.0),
    ("v1 export page of 100", 15.0, 0.0),
    ("v1 search by criteria", 2.0, 0.0),
    ("v1 verify on demand (role refused)", 1.5, 9.0),
    ("v1 attach data source", 1.5, 1.0),
    ("v1 create webhook", 1.0, 1.0),
    ("v1 request a scan", 2.0, 1.0),
];

/// Measured units over the floor's, each path (make bench prints them).
fn against_floors(measured: &BTreeMap<String, Capacity>) {
    for (name, read, write) in FLOORS {
        let Some(units) = measured.get(name) else {
            panic!("{name} has a floor but is not measured");
        };
        let (used, floor) = (units.read + units.write, read + write);
        let ratio = if floor > 0.0 { used / floor } else { 1.0 };
        println!(
            "{name:40} {used:7.1} units, floor {floor:7.1} ({read} RCU + {write} WCU): {ratio:.2}x"
        );
    }
}

fn units(capacity: &Capacity) -> String {
    let mut text = format!(
        "{} calls, {} RCU, {} WCU",
        capacity.calls, capacity.read, capacity.write
    );
    for (index, (read, write)) in &capacity.indexes {
        text.push_str(&format!("; {index}: {read} RCU, {write} WCU"));
    }
    text
}

/// Every measured path within its budget (calls, read and write units,
/// each index's); none unbudgeted.
#[tokio::test]
async fn every_request_path_stays_within_its_capacity_budget() {
    let mut measured = measure_all().await;
    measure_background(&mut measured).await;
    measure_organization_sync(&mut measured).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BUDGET);
    if std::env::var("CAPACITY_BUDGET_WRITE").is_ok() {
        let text = serde_json::to_string_pretty(&measured).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let budget: BTreeMap<String, Capacity> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the budget table")).unwrap();
    let mut over = Vec::new();
    for (name, units_now) in &measured {
        let Some(allowed) = budget.get(name) else {
            over.push(format!("{name}: no budget (measured {})", units(units_now)));
            continue;
        };
        let index_over = units_now.indexes.iter().any(|(index, (read, write))| {
            let (r, w) = allowed.indexes.get(index).copied().unwrap_or_default();
            *read > r + 1e-9 || *write > w + 1e-9
        });
        if units_now.calls > allowed.calls
            || units_now.read > allowed.read + 1e-9
            || units_now.write > allowed.write + 1e-9
            || index_over
        {
            over.push(format!(
                "{name}: budget {}, now {}",
                units(allowed),
                units(units_now)
            ));
        }
    }
    for name in budget.keys().filter(|name| !measured.contains_key(*name)) {
        over.push(format!("{name}: budgeted but no longer measured"));
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));
    // What each costs, and against its floor, shown with the test's output.
    for (name, capacity) in &measured {
        println!("{name:40} {}", units(capacity));
    }
    assert_eq!(
        FLOORS.len(),
        measured.len(),
        "every measured path has a floor"
    );
    against_floors(&measured);
}

/// The meter sees what the test does: an extra read is counted.
#[tokio::test]
async fn the_meter_counts_each_call_and_its_units() {
    let app = TestApp::new().await;
    app.create("864208642086", Value::Null).await;
    let (_, once) = app
        .measured(Method::GET, "/v1/accounts/864208642086", None)
        .await;
    let (_, twice) = measure(async {
        app.get("/v1/accounts/864208642086").await;
        app.get("/v1/accounts/864208642086").await;
    })
    .await;
    assert!(once.calls >= 2, "the key and the account: {once:?}");
    assert!(once.read > 0.0);
    assert_eq!(twice.calls, 2 * once.calls);
    assert_eq!(twice.read, 2.0 * once.read);
}
