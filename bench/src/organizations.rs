//! An AWS Organization of `members` accounts (10 OUs under the root),
//! served by the bench's own Organizations and STS endpoints (the real
//! protocols, the same injected latency per call; `organizations_endpoint.rs`
//! says why not moto), synced by the real use case into DynamoDB Local:
//! the first sync (every member enrolled) and a re-sync that changes
//! nothing, each against the raw calls any sync must make, timed in the
//! same run:
//!
//! - first: AssumeRole, the OU walk (DescribeOrganization, ListRoots, then
//!   per parent ListOrganizationalUnitsForParent and ListAccountsForParent,
//!   paged), the member accounts as conditional TransactWriteItems of 100
//!   (nothing may be overwritten) and the member items by BatchWriteItem;
//! - re-sync: AssumeRole, the same walk, and the Query of the member
//!   items the last sync left.
//!
//! The sync also verifies the management role as an account's is verified
//! (two more AssumeRole calls, refused, and GetCallerIdentity) and records
//! its summary: that is in its time, not in the floor.

use service::aws::verification::{RoleVerifier, VerificationSettings};
use service::organizations::{member_external_id, Filters};
use service::time::Timestamp;
use service::usecases::organizations::{
    sync, Organizations, RegisterOrganizationRequest, SyncSchedule,
};
use std::time::{Duration, Instant};
use testkit::organizations_endpoint::{OrganizationsAt, OrganizationsEndpoint, ROOT};
use testkit::sts_endpoint::StsEndpoint;

const TENANT: &str = "bench-org";
const MANAGEMENT: &str = "999999999999";
const ROLE_NAME: &str = "AccountOnboardingOrganizations";
const OUS: usize = 10;

pub async fn run(members: usize, latency: Duration) {
    println!(
        "== organization sync: {members} members in {OUS} OUs, Organizations and STS at {} ms a call, DynamoDB Local",
        latency.as_millis()
    );
    let organization_endpoint =
        OrganizationsEndpoint::start(MANAGEMENT, members, OUS, 500_000_000_000, latency).await;
    let sts_endpoint = StsEndpoint::start(latency, None).await;
    let base = service::runtime::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&base);
    let table = format!("org-{}", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_table(&dynamodb, &table)
        .await
        .expect("create table");
    let services = crate::services(&table).await;
    let store = services.store.clone();

    let settings = VerificationSettings {
        role_name_pattern: "*".into(),
        ..(*services.verification).clone()
    };
    let organization = Organizations {
        store: &store,
        settings: &settings,
    }
    .register(
        TENANT,
        "bench",
        RegisterOrganizationRequest {
            name: "Bench".into(),
            management_account_id: service::ids::AccountId::parse(
                "management_account_id",
                MANAGEMENT,
            )
            .expect("id"),
            role_arn: format!("arn:aws:iam::{MANAGEMENT}:role/{ROLE_NAME}"),
            filters: Filters::default(),
        },
    )
    .await
    .expect("register");
    let external_id = organization.management_external_id();
    sts_endpoint.trust(organization.role_arn.clone(), external_id.clone());

    // STS and Organizations on the bench's endpoints; DynamoDB stays local.
    let remote = base
        .to_builder()
        .endpoint_url(&sts_endpoint.url)
        .service_config(OrganizationsAt(organization_endpoint.url.clone()))
        .build();
    let verifier = RoleVerifier::new(&remote, &settings);
    let schedule = SyncSchedule {
        interval: Duration::from_secs(3600),
    };
    let run_sync = || {
        sync(
            &store,
            &verifier,
            &settings,
            schedule,
            TENANT,
            &organization.organization_id,
        )
    };

    // DynamoDB Local's JVM compiles its write paths on first use: warm
    // them (untimed) so neither side below pays for it.
    raw_enrolment_writes(
        &dynamodb,
        &table,
        "warm-up",
        &organization_endpoint.account_ids(),
        &organization.external_id_prefix,
    )
    .await;
    let calls_before = organization_endpoint.calls();
    let started = Instant::now();
    let first = run_sync().await.expect("first sync");
    let first_time = started.elapsed();
    assert_eq!(first.enrolled.count, members + 1, "{first:#?}");
    let calls = organization_endpoint.calls() - calls_before;
    let started = Instant::now();
    let again = run_sync().await.expect("re-sync");
    let resync_time = started.elapsed();
    assert_eq!(again.accounts_written, 0, "{again:#?}");

    // The raw calls, in the same run.
    let sts = aws_sdk_sts::Client::new(&remote);
    let organizations_client = |credentials: aws_sdk_sts::types::Credentials| {
        aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&remote)
                .credentials_provider(aws_sdk_organizations::config::Credentials::new(
                    credentials.access_key_id(),
                    credentials.secret_access_key(),
                    Some(credentials.session_token().to_string()),
                    None,
                    "raw",
                ))
                .build(),
        )
    };
    let raw_discovery = || async {
        let started = Instant::now();
        let credentials = sts
            .assume_role()
            .role_arn(&organization.role_arn)
            .role_session_name("raw")
            .external_id(&external_id)
            .send()
            .await
            .expect("assume")
            .credentials
            .expect("credentials");
        let client = organizations_client(credentials);
        client
            .describe_organization()
            .send()
            .await
            .expect("describe");
        client.list_roots().send().await.expect("roots");
        let mut parents = vec![ROOT.to_string()];
        let mut found = 0;
        while let Some(parent) = parents.pop() {
            let ous = async {
                let mut children = Vec::new();
                let mut pages = client
                    .list_organizational_units_for_parent()
                    .parent_id(&parent)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    children.extend(
                        page.expect("OUs")
                            .organizational_units
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|ou| ou.id),
                    );
                }
                children
            };
            let accounts = async {
                let mut count = 0;
                let mut pages = client
                    .list_accounts_for_parent()
                    .parent_id(&parent)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    count += page.expect("accounts").accounts.unwrap_or_default().len();
                }
                count
            };
            let (children, count) = futures::join!(ous, accounts);
            parents.extend(children);
            found += count;
        }
        assert_eq!(found, members + 1);
        started.elapsed()
    };
    let discovery = raw_discovery().await;
    let raw_writes = raw_enrolment_writes(
        &dynamodb,
        &table,
        "raw",
        &organization_endpoint.account_ids(),
        &organization.external_id_prefix,
    )
    .await;
    let started = Instant::now();
    let left = store
        .list_organization_members(TENANT, &organization.organization_id)
        .await
        .expect("members");
    let raw_query = started.elapsed();
    assert_eq!(left.len(), members + 1);
    let discovery_again = raw_discovery().await;

    let first_floor = discovery + raw_writes;
    let resync_floor = discovery_again + raw_query;
    println!(
        "first sync (enrols {}, {calls} Organizations calls): {:.2} s; raw calls {:.2} s (discovery {:.2} s + conditional writes {:.2} s); ratio {:.2}",
        first.enrolled.count,
        first_time.as_secs_f64(),
        first_floor.as_secs_f64(),
        discovery.as_secs_f64(),
        raw_writes.as_secs_f64(),
        first_time.as_secs_f64() / first_floor.as_secs_f64()
    );
    println!(
        "re-sync (no change): {:.2} s; raw calls {:.2} s (discovery {:.2} s + member Query {:.3} s); ratio {:.2}",
        resync_time.as_secs_f64(),
        resync_floor.as_secs_f64(),
        discovery_again.as_secs_f64(),
        raw_query.as_secs_f64(),
        resync_time.as_secs_f64() / resync_floor.as_secs_f64()
    );
}

/// What a first sync must write, as the plainest calls: each member's
/// account item (conditional TransactWriteItems of 100, 16 at once: an
/// account may exist and must not be overwritten) and its member item
/// (BatchWriteItem of 25, 16 at once).
async fn raw_enrolment_writes(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
    ids: &[String],
    prefix: &str,
) -> Duration {
    use aws_sdk_dynamodb::types::AttributeValue;
    let now = Timestamp::now();
    let accounts: Vec<crate::Item> = ids
        .iter()
        .map(|id| {
            let mut account = service::account::Account::register(
                id.clone(),
                service::account::AccountFields {
                    name: id.clone(),
                    role_arn: Some(format!("arn:aws:iam::{id}:role/AccountOnboardingAudit")),
                    parent_account_id: Some(MANAGEMENT.into()),
                    ..Default::default()
                },
                "raw",
                now,
            );
            account.external_id = member_external_id(prefix, id);
            service::aws::store::account_item(tenant, &account).expect("item")
        })
        .collect();
    let members: Vec<crate::Item> = ids
        .iter()
        .map(|id| {
            crate::Item::from([
                ("pk".to_string(), AttributeValue::S(format!("T#{tenant}"))),
                (
                    "sk".to_string(),
                    AttributeValue::S(format!("ORGMEMBER#raw#{id}")),
                ),
                ("account_id".to_string(), AttributeValue::S(id.clone())),
                ("name".to_string(), AttributeValue::S(id.clone())),
                ("ou_path".to_string(), AttributeValue::L(Vec::new())),
                ("departed".to_string(), AttributeValue::Bool(false)),
            ])
        })
        .collect();
    let started = Instant::now();
    crate::transact_puts(client, table, accounts).await;
    crate::batch_put_all(client, table, members).await;
    started.elapsed()
}
