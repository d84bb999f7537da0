//! An AWS Organization of `members` accounts in moto (10 OUs under the
//! root), synced by the real use case into DynamoDB Local: the first sync
//! (every member enrolled) and a re-sync that changes nothing, each
//! against the raw calls any sync must make, timed in the same run:
//!
//! - first: AssumeRole, the OU walk (ListRoots, then per parent
//!   ListOrganizationalUnitsForParent and ListAccountsForParent, paged),
//!   the member accounts as conditional TransactWriteItems of 100 (nothing
//!   may be overwritten) and the member items by BatchWriteItem;
//! - re-sync: AssumeRole, the same walk, and the Query of the member
//!   items the last sync left.

use futures::StreamExt;
use model::organizations::{member_external_id, Filters};
use model::time::Timestamp;
use model::usecases::organizations::{
    sync, Organizations, RegisterOrganizationRequest, SyncSchedule,
};
use model::verification::{RoleVerifier, VerificationSettings};
use std::time::{Duration, Instant};

const TENANT: &str = "bench-org";
const MANAGEMENT: &str = "999999999999";
const VENDOR_ACCOUNT: &str = "123456789012";
const ROLE_NAME: &str = "AccountOnboardingOrganizations";
const OUS: usize = 10;

/// A request made in `account` of moto.
fn in_account(
    account: &'static str,
) -> impl Fn(&mut aws_sdk_organizations::config::http::HttpRequest) + Send + Sync + 'static {
    move |request| {
        request.headers_mut().insert("x-moto-account-id", account);
    }
}

pub async fn run(members: usize, moto_url: &str) {
    println!("== organization sync: {members} members in {OUS} OUs (moto), DynamoDB Local");
    let base = model::config::aws().await;
    // STS and Organizations in moto; DynamoDB stays DynamoDB Local.
    let moto = base.to_builder().endpoint_url(moto_url).build();
    let organizations = aws_sdk_organizations::Client::new(&moto);
    let dynamodb = aws_sdk_dynamodb::Client::new(&base);
    let table = format!("org-{}", ulid::Ulid::new().to_string().to_lowercase());
    model::provisioning::create_table(&dynamodb, &table)
        .await
        .expect("create table");
    let services = crate::services(&table).await;
    let store = services.store.clone();

    // The organization: 10 OUs under the root, the members spread over them.
    organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .customize()
        .mutate_request(in_account(MANAGEMENT))
        .send()
        .await
        .expect("create organization");
    let root = organizations
        .list_roots()
        .customize()
        .mutate_request(in_account(MANAGEMENT))
        .send()
        .await
        .expect("roots")
        .roots
        .unwrap_or_default()[0]
        .id
        .clone()
        .unwrap_or_default();
    let mut ous = Vec::new();
    for i in 0..OUS {
        let ou = organizations
            .create_organizational_unit()
            .parent_id(&root)
            .name(format!("ou-{i}"))
            .customize()
            .mutate_request(in_account(MANAGEMENT))
            .send()
            .await
            .expect("create OU")
            .organizational_unit
            .and_then(|ou| ou.id)
            .unwrap_or_default();
        ous.push(ou);
    }
    let setup = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..members)
        .map(|i| {
            let organizations = organizations.clone();
            async move {
                organizations
                    .create_account()
                    .account_name(format!("member-{i}"))
                    .email(format!("member-{i}@example.com"))
                    .customize()
                    .mutate_request(in_account(MANAGEMENT))
                    .send()
                    .await
                    .expect("create account")
                    .create_account_status
                    .and_then(|status| status.account_id)
                    .unwrap_or_default()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (i, id) in ids.iter().enumerate() {
        organizations
            .move_account()
            .account_id(id)
            .source_parent_id(&root)
            .destination_parent_id(&ous[i % OUS])
            .customize()
            .mutate_request(in_account(MANAGEMENT))
            .send()
            .await
            .expect("move account");
    }
    println!(
        "   (moto: {members} accounts made in {:.1} s)",
        setup.elapsed().as_secs_f64()
    );

    // Registered, and its management role made as its template says.
    let settings = VerificationSettings {
        role_name_pattern: "*".into(),
        vendor_principal: Some(format!("arn:aws:iam::{VENDOR_ACCOUNT}:root")),
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
            management_account_id: model::ids::AccountId::parse(
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
    let template: serde_json::Value =
        serde_yaml_trust(&model::organizations::management_role_template(
            &format!("arn:aws:iam::{VENDOR_ACCOUNT}:root"),
            &[&external_id],
            ROLE_NAME,
        ));
    let role_arn = aws_sdk_iam_client(&moto)
        .create_role()
        .role_name(ROLE_NAME)
        .assume_role_policy_document(template.to_string())
        .customize()
        .mutate_request(
            move |request: &mut aws_sdk_iam::config::http::HttpRequest| {
                request
                    .headers_mut()
                    .insert("x-moto-account-id", MANAGEMENT);
            },
        )
        .send()
        .await
        .expect("create role")
        .role
        .map(|role| role.arn)
        .unwrap_or_default();

    let verifier = RoleVerifier::new(&moto, &settings);
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

    let started = Instant::now();
    let first = run_sync().await.expect("first sync");
    let first_time = started.elapsed();
    assert_eq!(first.enrolled.count, members + 1, "{first:#?}");
    let started = Instant::now();
    let again = run_sync().await.expect("re-sync");
    let resync_time = started.elapsed();
    assert_eq!(again.accounts_written, 0, "{again:#?}");

    // The raw calls, in the same run.
    let sts = aws_sdk_sts::Client::new(&moto);
    let raw_discovery = || async {
        let started = Instant::now();
        let credentials = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("raw")
            .external_id(&external_id)
            .send()
            .await
            .expect("assume")
            .credentials
            .expect("credentials");
        let client = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&moto)
                .credentials_provider(aws_sdk_organizations::config::Credentials::new(
                    credentials.access_key_id(),
                    credentials.secret_access_key(),
                    Some(credentials.session_token().to_string()),
                    None,
                    "raw",
                ))
                .build(),
        );
        let roots = client.list_roots().send().await.expect("roots");
        let mut parents: Vec<String> = roots
            .roots
            .unwrap_or_default()
            .into_iter()
            .filter_map(|root| root.id)
            .collect();
        let mut found = 0;
        while let Some(parent) = parents.pop() {
            let mut pages = client
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                parents.extend(
                    page.expect("OUs")
                        .organizational_units
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|ou| ou.id),
                );
            }
            let mut pages = client
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                found += page.expect("accounts").accounts.unwrap_or_default().len();
            }
        }
        assert_eq!(found, members + 1);
        started.elapsed()
    };
    let discovery = raw_discovery().await;
    let everyone: Vec<String> = ids
        .iter()
        .cloned()
        .chain([MANAGEMENT.to_string()])
        .collect();
    let raw_writes = raw_enrolment_writes(
        &dynamodb,
        &table,
        &everyone,
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
        "first sync (enrols {}): {:.2} s; raw calls {:.2} s (discovery {:.2} s + conditional writes {:.2} s); ratio {:.2}",
        first.enrolled.count,
        first_time.as_secs_f64(),
        first_floor.as_secs_f64(),
        discovery.as_secs_f64(),
        raw_writes.as_secs_f64(),
        first_time.as_secs_f64() / first_floor.as_secs_f64()
    );
    println!(
        "re-sync (no change, {} Organizations calls): {:.2} s; raw calls {:.2} s (discovery {:.2} s + member Query {:.3} s); ratio {:.2}",
        again.calls,
        resync_time.as_secs_f64(),
        resync_floor.as_secs_f64(),
        discovery_again.as_secs_f64(),
        raw_query.as_secs_f64(),
        resync_time.as_secs_f64() / resync_floor.as_secs_f64()
    );
}

fn aws_sdk_iam_client(config: &aws_config::SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(config)
}

/// The trust policy of a management-role template, as JSON.
fn serde_yaml_trust(template: &str) -> serde_json::Value {
    let yaml: serde_yaml::Value = serde_yaml::from_str(template).expect("template");
    serde_json::to_value(
        &yaml["Resources"]["VendorOrganizationsRole"]["Properties"]["AssumeRolePolicyDocument"],
    )
    .expect("trust")
}

/// What a first sync must write, as the plainest calls: each member's
/// account item (conditional TransactWriteItems of 100, 16 at once: an
/// account may exist and must not be overwritten) and its member item
/// (BatchWriteItem of 25, 16 at once).
async fn raw_enrolment_writes(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    ids: &[String],
    prefix: &str,
) -> Duration {
    use aws_sdk_dynamodb::types::{
        AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest,
    };
    let now = Timestamp::now();
    let accounts: Vec<TransactWriteItem> = ids
        .iter()
        .map(|id| {
            let mut account = model::account::Account::register(
                id.clone(),
                model::account::AccountFields {
                    name: id.clone(),
                    role_arn: Some(format!("arn:aws:iam::{id}:role/AccountOnboardingAudit")),
                    parent_account_id: Some(MANAGEMENT.into()),
                    ..Default::default()
                },
                "raw",
                now,
            );
            account.external_id = member_external_id(prefix, id);
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(
                    model::store::account_item("raw-org", &account).expect("item"),
                ))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .expect("put");
            TransactWriteItem::builder().put(put).build()
        })
        .collect();
    let members: Vec<WriteRequest> = ids
        .iter()
        .map(|id| {
            let item = std::collections::HashMap::from([
                ("pk".to_string(), AttributeValue::S("T#raw-org".into())),
                (
                    "sk".to_string(),
                    AttributeValue::S(format!("ORGMEMBER#raw#{id}")),
                ),
                ("account_id".to_string(), AttributeValue::S(id.clone())),
                ("name".to_string(), AttributeValue::S(id.clone())),
                ("ou_path".to_string(), AttributeValue::L(Vec::new())),
                ("departed".to_string(), AttributeValue::Bool(false)),
            ]);
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect();
    let started = Instant::now();
    let chunks: Vec<Vec<TransactWriteItem>> = accounts.chunks(100).map(<[_]>::to_vec).collect();
    futures::stream::iter(chunks)
        .map(|items| async move {
            client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
                .expect("transaction")
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let batches: Vec<Vec<WriteRequest>> = members.chunks(25).map(<[_]>::to_vec).collect();
    futures::stream::iter(batches)
        .map(|batch| crate::batch_write_all(client, table, batch))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}
