//! Organization onboarding's templates against cfn-lint and the trust
//! emulator: each member's role, made from the one StackSet template as
//! CloudFormation resolves it in that member's account, verifies with that
//! member's derived external ID, and only with it.

use crate::harness::TestApp;
use serde_json::Value;
use service::access::AccessPurpose;
use service::aws::verification::{Probes, Target, VerificationCode};
use service::organizations::{
    management_role_template, member_external_id, new_prefix, stackset_template,
};
use std::collections::HashMap;

fn vendor_principal() -> String {
    format!("arn:aws:iam::{}:root", crate::harness::VENDOR_ACCOUNT)
}

fn cfn_lint(text: &str) {
    let lint = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/cfn-lint");
    assert!(
        std::path::Path::new(lint).exists(),
        "cfn-lint is installed by `make test` (dev/setup.sh)"
    );
    let file = std::env::temp_dir().join(format!("org-{}.yaml", ulid::Ulid::new()));
    std::fs::write(&file, text).unwrap();
    let output = std::process::Command::new(lint)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The template's value as CloudFormation resolves it in `account`:
/// `!Ref` of a parameter (its default) or pseudo parameter, and `!Sub`.
fn resolve(value: &serde_yaml::Value, parameters: &HashMap<String, String>) -> Value {
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Tagged(tagged) => {
            let text = tagged.value.as_str().expect("a string argument");
            match tagged.tag.to_string().as_str() {
                "!Ref" => Value::String(parameters[text].clone()),
                "!Sub" => {
                    let mut out = text.to_string();
                    for (name, value) in parameters {
                        out = out.replace(&format!("${{{name}}}"), value);
                    }
                    assert!(!out.contains("${"), "unresolved: {out}");
                    Value::String(out)
                }
                other => panic!("unexpected tag {other}"),
            }
        }
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), resolve(v, parameters)))
                .collect(),
        ),
        Yaml::Sequence(items) => {
            Value::Array(items.iter().map(|v| resolve(v, parameters)).collect())
        }
        other => serde_json::to_value(other).unwrap(),
    }
}

/// The trust policy the StackSet template gives the role in `account`.
fn member_trust(template: &str, account: &str) -> Value {
    let parsed: serde_yaml::Value = serde_yaml::from_str(template).unwrap();
    let mut parameters: HashMap<String, String> = parsed["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, spec)| {
            (
                name.as_str().unwrap().to_string(),
                spec["Default"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    parameters.insert("AWS::AccountId".into(), account.into());
    resolve(
        &parsed["Resources"]["VendorRole"]["Properties"]["AssumeRolePolicyDocument"],
        &parameters,
    )
}

#[tokio::test]
async fn one_stackset_template_gives_every_member_its_own_external_id() {
    let app = TestApp::new().await;
    // The vendor principal of moto's default account, not asked of STS
    // (moto loading a backend can stall a first STS call).
    let principal = vendor_principal();
    let prefix = new_prefix();
    let template = stackset_template(
        &principal,
        &prefix,
        None,
        "AccountOnboardingAudit",
        &["SecurityAudit".to_string()],
    );
    cfn_lint(&template);
    let pending = new_prefix();
    let rotating = stackset_template(
        &principal,
        &prefix,
        Some(&pending),
        "AccountOnboardingAudit",
        &["SecurityAudit".to_string()],
    );
    cfn_lint(&rotating);
    let management = "444444444444";
    cfn_lint(&management_role_template(
        &principal,
        &[
            &member_external_id(&prefix, management),
            &member_external_id(&pending, management),
        ],
        "AccountOnboardingOrganizations",
    ));
    // Mid-rotation, a member's role trusts its current and its new ID.
    assert_eq!(
        member_trust(&rotating, "555555555555")["Statement"][0]["Condition"]["StringEquals"]
            ["sts:ExternalId"],
        serde_json::json!([
            member_external_id(&prefix, "555555555555"),
            member_external_id(&pending, "555555555555")
        ])
    );

    // Two members deploy the same template; each role verifies with its
    // own derived ID.
    let verifier = &app.state.verifier;
    for member in ["555555555555", "666666666666"] {
        let trust = member_trust(&template, member);
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            serde_json::json!([member_external_id(&prefix, member)])
        );
        let role = app.create_role(member, &trust, &[]).await;
        let external_id = member_external_id(&prefix, member);
        let outcome = verifier
            .verify(
                &Target {
                    tenant: "t",
                    account_id: member,
                    role_arn: &role,
                    external_id: &external_id,
                    required: &[],
                },
                Probes::Always,
            )
            .await
            .outcome;
        assert_eq!(outcome.code, VerificationCode::Ok, "{}", outcome.message);
    }

    // A role that trusts another member's ID, or the bare prefix, does
    // not verify with this member's ID.
    let member = "777777777777";
    for wrong in [member_external_id(&prefix, "555555555555"), prefix.clone()] {
        let mut trust = member_trust(&template, member);
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = Value::String(wrong);
        let role = app.create_role(member, &trust, &[]).await;
        let external_id = member_external_id(&prefix, member);
        let outcome = verifier
            .verify(
                &Target {
                    tenant: "t",
                    account_id: member,
                    role_arn: &role,
                    external_id: &external_id,
                    required: &[],
                },
                Probes::Always,
            )
            .await
            .outcome;
        assert_eq!(
            outcome.code,
            VerificationCode::AccessDenied,
            "{}",
            outcome.message
        );
    }
}

/// A moto (with the trust emulator) of this test's own, on a free port of
/// 127.0.0.1: an organization's many accounts keep that moto busy, and one
/// Python process serves one request at a time, so the other tests' STS
/// calls would wait on it. Stopped when dropped.
struct OwnMoto {
    child: std::process::Child,
    url: String,
}

impl OwnMoto {
    async fn start() -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(format!("{root}/.venv/bin/python"))
            .arg(format!("{root}/dev/emulators/moto_trust.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return OwnMoto { child, url };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto did not start on {url}");
    }

    /// The SDK configuration with every client pointed at this moto.
    fn sdk(&self, base: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        // Without the base's service config, which carries the shared
        // emulators' AWS_ENDPOINT_URL_<SERVICE> variables.
        base.to_builder()
            .service_config(NoServiceConfig)
            .endpoint_url(&self.url)
            .build()
    }
}

/// No service-specific settings from the environment.
#[derive(Debug)]
struct NoServiceConfig;

impl aws_types::service_config::LoadServiceConfig for NoServiceConfig {
    fn load_config(&self, _: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls to moto's Organizations as the management account `account`.
struct OrgAdmin {
    client: aws_sdk_organizations::Client,
    account: String,
}

impl OrgAdmin {
    async fn ou(&self, parent: &str, name: &str) -> String {
        self.client
            .create_organizational_unit()
            .parent_id(parent)
            .name(name)
            .customize()
            .mutate_request(crate::harness::in_account(&self.account))
            .send()
            .await
            .unwrap()
            .organizational_unit
            .unwrap()
            .id
            .unwrap()
    }

    async fn account(&self, name: &str, into: &str, root: &str) -> String {
        let id = self
            .client
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .customize()
            .mutate_request(crate::harness::in_account(&self.account))
            .send()
            .await
            .unwrap()
            .create_account_status
            .unwrap()
            .account_id
            .unwrap();
        if into != root {
            self.move_to(&id, root, into).await;
        }
        id
    }

    async fn move_to(&self, id: &str, from: &str, to: &str) {
        self.client
            .move_account()
            .account_id(id)
            .source_parent_id(from)
            .destination_parent_id(to)
            .customize()
            .mutate_request(crate::harness::in_account(&self.account))
            .send()
            .await
            .unwrap();
    }
}

/// Discovery through the management role (assumed with its derived
/// external ID), the filters, and each change of the organization as the
/// next sync's diff: moved, suspended, removed, added.
#[tokio::test]
async fn an_organization_is_discovered_filtered_and_followed() {
    use service::aws::discovery::{apply, discover, plan};
    use service::organizations::{Filters, MemberState, OuRule, TagRule};
    let app = TestApp::with_scans().await;
    let moto = OwnMoto::start().await;
    let sdk = moto.sdk(&app.sdk_config);
    let verifier =
        service::aws::verification::RoleVerifier::new(&sdk, &crate::harness::test_settings());
    let management = "888888888888".to_string();
    let admin = OrgAdmin {
        client: aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&sdk)
                .endpoint_url(&moto.url)
                .build(),
        ),
        account: management.clone(),
    };
    admin
        .client
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap();
    let root = admin
        .client
        .list_roots()
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap()
        .roots
        .unwrap()[0]
        .id
        .clone()
        .unwrap();
    let prod = admin.ou(&root, "Prod").await;
    let prod_eu = admin.ou(&prod, "Prod-EU").await;
    let sandbox = admin.ou(&root, "Sandbox").await;
    let payments = admin.account("payments", &prod, &root).await;
    let search = admin.account("search", &prod_eu, &root).await;
    let play = admin.account("play", &sandbox, &root).await;
    admin
        .client
        .tag_resource()
        .resource_id(&payments)
        .tags(
            aws_sdk_organizations::types::Tag::builder()
                .key("team")
                .value("payments")
                .build()
                .unwrap(),
        )
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap();

    // Registered through the API, then its management role made as its
    // template says.
    let registered = app
        .call(
            axum::http::Method::POST,
            "/v1/organizations",
            Some(&serde_json::json!({
                "name": "Acme",
                "management_account_id": management,
                "role_arn": format!("arn:aws:iam::{management}:role/AccountOnboardingOrganizations"),
            })),
        )
        .await;
    assert_eq!(registered.status.as_u16(), 201, "{:#}", registered.body);
    let organization_id = registered.body["organization_id"]
        .as_str()
        .unwrap()
        .to_string();
    let principal = vendor_principal();
    let prefix = registered.body["external_id_prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let external_id = member_external_id(&prefix, &management);
    let template: serde_yaml::Value = serde_yaml::from_str(&management_role_template(
        &principal,
        &[&external_id],
        "AccountOnboardingOrganizations",
    ))
    .unwrap();
    let trust: Value = serde_json::to_value(
        &template["Resources"]["VendorOrganizationsRole"]["Properties"]["AssumeRolePolicyDocument"],
    )
    .unwrap();
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    );
    let role = iam
        .create_role()
        .role_name("AccountOnboardingOrganizations")
        .assume_role_policy_document(trust.to_string())
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let discover_now = || async {
        let target = Target {
            tenant: "t",
            account_id: &management,
            role_arn: &role,
            external_id: &external_id,
            required: &[],
        };
        let credentials = verifier
            .assume_for(&target, AccessPurpose::OrganizationSync, "sync")
            .await
            .0
            .expect("the management role is assumed with its derived ID");
        let client = service::aws::discovery::client(&sdk, credentials).unwrap();
        discover(&client, true).await.expect("discovery")
    };
    let found = discover_now().await;
    assert_eq!(found.management_account_id, management);
    assert_eq!(found.root_id, root);
    let path_of = |id: &str| {
        found
            .members
            .iter()
            .find(|m| m.account_id == id)
            .unwrap_or_else(|| panic!("{id} in {:#?}", found.members))
            .ou_path
            .clone()
    };
    assert_eq!(path_of(&payments), std::slice::from_ref(&prod));
    assert_eq!(path_of(&search), [prod.clone(), prod_eu.clone()]);
    assert_eq!(path_of(&play), std::slice::from_ref(&sandbox));
    assert_eq!(path_of(&management), Vec::<String>::new());
    let tagged = found
        .members
        .iter()
        .find(|m| m.account_id == payments)
        .unwrap();
    assert_eq!(tagged.tags["team"], "payments");

    // Filters pick exactly the expected members.
    let picked = |filters: &Filters| {
        let mut ids: Vec<String> = found
            .members
            .iter()
            .filter(|m| filters.admit(m).is_ok())
            .map(|m| m.account_id.clone())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let rule = |ou: &str, with_children| OuRule {
        ou_id: ou.to_string(),
        with_children,
    };
    let prod_tree = Filters {
        include_ous: vec![rule(&prod, true)],
        ..Default::default()
    };
    assert_eq!(
        picked(&prod_tree),
        sorted(vec![payments.clone(), search.clone()])
    );
    let prod_only = Filters {
        include_ous: vec![rule(&prod, false)],
        ..Default::default()
    };
    assert_eq!(picked(&prod_only), std::slice::from_ref(&payments));
    let not_sandbox = Filters {
        exclude_ous: vec![rule(&sandbox, true)],
        exclude_accounts: vec![management.clone()],
        ..Default::default()
    };
    assert_eq!(
        picked(&not_sandbox),
        sorted(vec![payments.clone(), search.clone()])
    );
    let by_tag = Filters {
        tags: vec![TagRule {
            key: "team".into(),
            values: vec!["payments".into()],
        }],
        ..Default::default()
    };
    assert_eq!(picked(&by_tag), std::slice::from_ref(&payments));

    // Enrol everyone, then change the organization: each change is one
    // entry of the next diff, and a re-sync after it changes nothing.
    let filters = Filters::default();
    let first = plan(&[], &found.members, &filters);
    assert_eq!(first.enrolled.len(), 4);
    let enrolled = apply(&[], &found.members, &first);
    assert!(plan(&enrolled, &found.members, &filters).is_empty());

    admin.move_to(&search, &prod_eu, &sandbox).await;
    admin
        .client
        .close_account()
        .account_id(&play)
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap();
    admin
        .client
        .remove_account_from_organization()
        .account_id(&payments)
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap();
    let newcomer = admin.account("newcomer", &prod, &root).await;
    let found = discover_now().await;
    let closed = found.members.iter().find(|m| m.account_id == play);
    assert!(
        closed.is_none_or(|m| m.state != MemberState::Active),
        "a closed account is departed: {closed:?}"
    );
    let diff = plan(&enrolled, &found.members, &filters);
    assert_eq!(diff.moved, std::slice::from_ref(&search));
    assert_eq!(diff.departed, sorted(vec![payments.clone(), play.clone()]));
    assert_eq!(diff.enrolled, std::slice::from_ref(&newcomer));
    let enrolled = apply(&enrolled, &found.members, &diff);
    assert!(
        plan(&enrolled, &found.members, &filters).is_empty(),
        "idempotent"
    );
    assert!(found.calls >= 2 + 4, "calls are counted: {}", found.calls);

    // `search` was registered by hand before the organization found it.
    let settings = crate::harness::test_settings();
    let by_hand = app
        .call(
            axum::http::Method::POST,
            "/v1/accounts",
            Some(&serde_json::json!({
                "account_id": search,
                "name": "Search, registered by hand",
                "role_arn": format!("arn:aws:iam::{search}:role/{}", settings.role_name),
            })),
        )
        .await;
    assert_eq!(by_hand.status.as_u16(), 201, "{:#}", by_hand.body);

    // The first sync is asked for through the API: 202, QUEUED, and a
    // second ask while it is queued sends nothing more; the sync function
    // runs it once and the organization keeps the summary.
    let schedule = service::usecases::organizations::SyncSchedule {
        interval: std::time::Duration::from_secs(3600),
    };
    let syncer = organization_sync::Syncer {
        store: app.store.clone(),
        verifier: verifier.clone(),
        settings: std::sync::Arc::new(settings.clone()),
        schedule,
    };
    let sync_uri = format!("/v1/organizations/{organization_id}/sync");
    for _ in 0..2 {
        let asked = app.call(axum::http::Method::POST, &sync_uri, None).await;
        assert_eq!(asked.status.as_u16(), 202, "{:#}", asked.body);
        assert_eq!(asked.body["sync"]["status"], "QUEUED");
        assert_eq!(
            asked.headers["location"],
            format!("/v1/organizations/{organization_id}")
        );
    }
    assert_eq!(
        app.drain_organization_syncs(&syncer).await,
        1,
        "one job for two asks"
    );
    let view = app
        .get(&format!("/v1/organizations/{organization_id}"))
        .await
        .body;
    assert_eq!(view["sync"]["status"], "IDLE", "{view:#}");
    assert!(view["sync"]["next_sync_at"].is_string());
    let first: service::organizations::SyncSummary =
        serde_json::from_value(view["last_sync"].clone()).unwrap();
    // Later syncs run the use case directly; the schedule is tested below.
    let sync = || {
        service::usecases::organizations::sync(
            &app.store,
            &verifier,
            &settings,
            schedule,
            crate::harness::TENANT,
            &organization_id,
        )
    };
    let mut active: Vec<String> = found
        .members
        .iter()
        .filter(|m| m.state == MemberState::Active)
        .map(|m| m.account_id.clone())
        .collect();
    active.sort();
    assert_eq!(first.enrolled.account_ids, active);
    assert_eq!(first.members, found.members.len());
    assert_eq!(first.accounts_written, active.len());
    let again = sync().await.expect("sync again");
    for changed in [
        &again.enrolled,
        &again.departed,
        &again.returned,
        &again.moved,
        &again.renamed,
    ] {
        assert_eq!(changed.count, 0, "{again:#?}");
    }
    assert_eq!(again.accounts_written, 0);
    // The management role's sessions (a verification per sync, probes
    // included) are in the management account's access log.
    let log = app
        .get(&format!("/v1/accounts/{management}/access-log"))
        .await;
    assert_eq!(log.status, 200, "{:#}", log.body);
    let sessions = log.body["items"].as_array().unwrap();
    assert!(
        sessions.len() >= 6,
        "two syncs, three calls each: {sessions:#?}"
    );
    assert!(
        sessions
            .iter()
            .all(|s| s["reference"] == organization_id.as_str()),
        "{sessions:#?}"
    );

    // Each active member is an account of the tenant: a new one with its
    // derived external ID and the StackSet's role, linked to the
    // management account and the organization; the one registered by hand
    // adopted, keeping its own role, name and external ID.
    let account = |id: String| {
        let app = &app;
        async move { app.get(&format!("/v1/accounts/{id}")).await.body }
    };
    let new = account(newcomer.clone()).await;
    assert_eq!(new["external_id"], member_external_id(&prefix, &newcomer));
    assert_eq!(
        new["role_arn"],
        format!("arn:aws:iam::{newcomer}:role/{}", settings.role_name)
    );
    assert_eq!(new["parent_account_id"], management.as_str());
    assert_eq!(new["name"], "newcomer");
    assert_eq!(
        new["organization"]["organization_id"],
        organization_id.as_str()
    );
    assert_eq!(new["organization"]["email"], "newcomer@example.com");
    assert_eq!(new["organization"]["ou_path"], serde_json::json!([prod]));
    let adopted = account(search.clone()).await;
    assert_eq!(adopted["external_id"], by_hand.body["external_id"]);
    assert_eq!(adopted["name"], "Search, registered by hand");
    assert_eq!(adopted["organization"]["adopted"], true);
    assert_eq!(
        adopted["organization"]["ou_path"],
        serde_json::json!([sandbox])
    );
    assert_eq!(adopted["parent_account_id"], management.as_str());
    let listed = app
        .get(&format!(
            "/v1/accounts?organization_id={organization_id}&limit=1000"
        ))
        .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        active.len(),
        "{:#}",
        listed.body
    );
    let by_ou = app.get(&format!("/v1/accounts?q={sandbox}")).await;
    let ids: Vec<&str> = by_ou.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![search.as_str()], "the OU path is searchable");

    // The existing sweep verifies a member with its derived ID once the
    // StackSet's role is in its account (in the shared trust emulator,
    // whose STS the app's verifier calls).
    let stackset = app
        .get(&format!(
            "/v1/organizations/{organization_id}/stackset-template"
        ))
        .await;
    let trust = member_trust(stackset.body.as_str().unwrap(), &newcomer);
    app.create_named_role(&newcomer, &settings.role_name, &trust, &[])
        .await;
    let swept = app
        .sweeper()
        .sweep(
            service::time::Timestamp::now(),
            std::time::Instant::now() + std::time::Duration::from_secs(60),
        )
        .await;
    let verified = account(newcomer.clone()).await;
    assert!(swept.succeeded >= 1, "{swept:?} {verified:#} {trust:#}");
    assert_eq!(
        verified["credential"]["verification_status"], "SUCCESS",
        "{verified:#}"
    );

    // Two syncs at once after a newcomer joins: one account is written.
    // Both plan its enrolment when they overlap; on a loaded machine the
    // second may start after the first wrote it, and finds it enrolled.
    let twin = admin.account("twin", &prod, &root).await;
    let (a, b) = tokio::join!(sync(), sync());
    let (a, b) = (a.unwrap(), b.unwrap());
    let planned = [&a, &b]
        .iter()
        .filter(|run| run.enrolled.account_ids == std::slice::from_ref(&twin))
        .count();
    assert!(planned >= 1, "{a:#?} {b:#?}");
    for run in [&a, &b] {
        assert!(
            run.enrolled.account_ids.is_empty()
                || run.enrolled.account_ids == std::slice::from_ref(&twin),
            "{run:#?}"
        );
    }
    assert_eq!(a.accounts_written + b.accounts_written, 1, "{a:#?} {b:#?}");
    assert_eq!(account(twin.clone()).await["version"], 1);

    // Rotating the prefix: enrolled members get their pending ID (the
    // adopted one keeps its own); a cancel takes them back.
    let rotate_uri = format!("/v1/organizations/{organization_id}/external-id-prefix/rotate");
    let cancel_uri = format!("/v1/organizations/{organization_id}/external-id-prefix/pending");
    let rotate = || async {
        let rotated = app.call(axum::http::Method::POST, &rotate_uri, None).await;
        assert_eq!(rotated.status.as_u16(), 200, "{:#}", rotated.body);
        rotated.body["pending_external_id_prefix"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cancelled_prefix = rotate().await;
    let rotating = account(newcomer.clone()).await;
    assert_eq!(
        rotating["pending_external_id"],
        member_external_id(&cancelled_prefix, &newcomer)
    );
    assert_eq!(
        rotating["external_id"],
        member_external_id(&prefix, &newcomer)
    );
    assert!(account(search.clone())
        .await
        .get("pending_external_id")
        .is_none());
    let cancelled = app
        .call(axum::http::Method::DELETE, &cancel_uri, None)
        .await;
    assert_eq!(cancelled.status.as_u16(), 200, "{:#}", cancelled.body);
    assert!(cancelled.body.get("pending_external_id_prefix").is_none());
    assert!(account(newcomer.clone())
        .await
        .get("pending_external_id")
        .is_none());
    let again = app
        .call(axum::http::Method::DELETE, &cancel_uri, None)
        .await;
    assert_eq!(again.status.as_u16(), 404);

    // Issue 25 #6: a rotation pending is replaced only when asked, and
    // rotations and cancellations at once never leave a member with the
    // pending ID of a discarded prefix.
    let replace_uri = format!("{rotate_uri}?replace=true");
    let organization_uri = format!("/v1/organizations/{organization_id}");
    rotate().await;
    app.call(axum::http::Method::POST, &rotate_uri, None)
        .await
        .assert_error(409, "rotation_pending");
    for _ in 0..6 {
        let (rotated, cancelled) = tokio::join!(
            app.call(axum::http::Method::POST, &replace_uri, None),
            app.call(axum::http::Method::DELETE, &cancel_uri, None),
        );
        for reply in [&rotated, &cancelled] {
            assert!(
                [200, 404, 409].contains(&reply.status.as_u16()),
                "{:#}",
                reply.body
            );
        }
        let view = app.get(&organization_uri).await.body;
        let wanted = view["pending_external_id_prefix"]
            .as_str()
            .map(|pending| member_external_id(pending, &newcomer));
        assert_eq!(
            account(newcomer.clone()).await["pending_external_id"].as_str(),
            wanted.as_deref(),
            "{view:#}"
        );
        if wanted.is_none() {
            rotate().await;
        }
    }
    let cleared = app
        .call(axum::http::Method::DELETE, &cancel_uri, None)
        .await;
    assert_eq!(cleared.status.as_u16(), 200, "{:#}", cleared.body);

    // Rotated again: both templates trust both IDs, and once the
    // management role trusts only the new one a sync promotes it.
    let pending = rotate().await;
    assert_ne!(pending, prefix);
    assert_eq!(
        account(newcomer.clone()).await["pending_external_id"],
        member_external_id(&pending, &newcomer)
    );
    let management_template = app
        .get(&format!(
            "/v1/organizations/{organization_id}/management-role-template"
        ))
        .await;
    let text = management_template.body.as_str().unwrap();
    assert!(text.contains(&member_external_id(&prefix, &management)));
    assert!(text.contains(&member_external_id(&pending, &management)));
    let stackset = app
        .get(&format!(
            "/v1/organizations/{organization_id}/stackset-template"
        ))
        .await;
    assert!(stackset.body.as_str().unwrap().contains(&pending));
    let only_new = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            "Condition": {"StringEquals": {"sts:ExternalId": member_external_id(&pending, &management)}},
        }],
    });
    iam.update_assume_role_policy()
        .role_name("AccountOnboardingOrganizations")
        .policy_document(only_new.to_string())
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap();
    let promoted = sync().await.unwrap();
    assert_eq!(
        promoted.status,
        service::organizations::SyncStatus::Succeeded,
        "{promoted:#?}"
    );
    let view = app
        .get(&format!("/v1/organizations/{organization_id}"))
        .await
        .body;
    assert_eq!(view["external_id_prefix"], pending.as_str(), "{view:#}");
    assert!(view.get("pending_external_id_prefix").is_none());

    // The newcomer leaves: departed, not deleted; out of verification and
    // scans, read-only, and listed with `departed=true`.
    admin
        .client
        .remove_account_from_organization()
        .account_id(&newcomer)
        .customize()
        .mutate_request(crate::harness::in_account(&management))
        .send()
        .await
        .unwrap();
    let left = sync().await.expect("sync after a departure");
    assert_eq!(left.departed.account_ids, std::slice::from_ref(&newcomer));
    assert_eq!(left.accounts_written, 1);
    let gone = account(newcomer.clone()).await;
    assert_eq!(gone["departed"]["reason"], "REMOVED", "{gone:#}");
    assert!(gone["credential"].get("next_verification_at").is_none());
    let verify = app
        .call(
            axum::http::Method::POST,
            &format!("/v1/accounts/{newcomer}/verify"),
            None,
        )
        .await;
    assert_eq!(verify.status.as_u16(), 409);
    assert_eq!(verify.body["error"]["code"], "departed");
    let patch = app
        .call(
            axum::http::Method::PATCH,
            &format!("/v1/accounts/{newcomer}"),
            Some(&serde_json::json!({"name": "edited"})),
        )
        .await;
    assert_eq!(patch.body["error"]["code"], "departed", "{:#}", patch.body);
    let departed = app.get("/v1/accounts?departed=true").await;
    let ids: Vec<&str> = departed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![newcomer.as_str()]);
    assert_eq!(
        sync().await.unwrap().accounts_written,
        0,
        "departing twice writes nothing"
    );

    // The schedule: not due before the interval; once due, the verifier's
    // sweep queues it (once) and the sync function runs it.
    let sweeper = app.sweeper();
    let now = service::time::Timestamp::now();
    assert_eq!(
        sweeper.queue_organization_syncs(now).await,
        0,
        "not due yet"
    );
    let later = now.plus(std::time::Duration::from_secs(2 * 3600));
    assert_eq!(sweeper.queue_organization_syncs(later).await, 1);
    assert_eq!(
        sweeper.queue_organization_syncs(later).await,
        0,
        "queued once"
    );
    assert_eq!(app.drain_organization_syncs(&syncer).await, 1);
    let scheduled = app
        .get(&format!("/v1/organizations/{organization_id}"))
        .await
        .body;
    assert_eq!(scheduled["sync"]["status"], "IDLE", "{scheduled:#}");
    assert_eq!(scheduled["sync"]["requested_by"], "system:schedule");
    assert_eq!(
        scheduled["last_sync"]["status"], "SUCCEEDED",
        "{scheduled:#}"
    );
    let view = app
        .get(&format!("/v1/organizations/{organization_id}"))
        .await
        .body;
    assert_eq!(view["last_sync"]["status"], "SUCCEEDED", "{view:#}");
    assert_eq!(
        view["last_sync"]["members"],
        found.members.len(),
        "the newcomer left, the twin joined"
    );
    assert!(view["aws_organization_id"]
        .as_str()
        .unwrap()
        .starts_with("o-"));

    // Deleting the organization removes its member items too.
    let deleted = app
        .call(
            axum::http::Method::DELETE,
            &format!("/v1/organizations/{organization_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status.as_u16(), 204);
    let left = app
        .store
        .list_organization_members(crate::harness::TENANT, &organization_id)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    // Its accounts stay, detached; the departed one is archived.
    let kept = account(search.clone()).await;
    assert!(kept.get("organization").is_none(), "{kept:#}");
    assert_eq!(kept["external_id"], by_hand.body["external_id"]);
    let archived = account(newcomer.clone()).await;
    assert!(archived.get("departed").is_none(), "{archived:#}");
    assert!(archived["archived_at"].is_string(), "{archived:#}");
}

#[tokio::test]
async fn organizations_are_registered_per_tenant_each_with_its_own_prefix() {
    use axum::http::{Method, StatusCode};
    use serde_json::json;
    let app = TestApp::with_scans().await;
    let body = json!({
        "name": "Acme organization",
        "management_account_id": "888888888888",
        "role_arn": "arn:aws:iam::888888888888:role/AccountOnboardingOrganizations",
        "filters": {"exclude_ous": [{"ou_id": "ou-ab12-sandbox0"}]},
    });
    let created = app
        .call(Method::POST, "/v1/organizations", Some(&body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let view = &created.body;
    let id = view["organization_id"].as_str().unwrap();
    let prefix = view["external_id_prefix"].as_str().unwrap();
    assert_eq!(prefix.len(), 33);
    assert_eq!(
        view["management_external_id"],
        member_external_id(prefix, "888888888888")
    );
    assert_eq!(view["filters"]["exclude_ous"][0]["with_children"], true);

    // Another tenant registers the same AWS Organization: its own prefix,
    // and neither sees the other's.
    let other = app.key("globex", service::api_key::Scope::ALL).await;
    let theirs = app
        .call_with(
            Method::POST,
            "/v1/organizations",
            Some(&other),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:#}", theirs.body);
    assert_ne!(theirs.body["external_id_prefix"], prefix);
    let their_id = theirs.body["organization_id"].as_str().unwrap();
    app.get(&format!("/v1/organizations/{their_id}"))
        .await
        .assert_error(404, "not_found");
    let listed = app.get("/v1/organizations").await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["organization_id"], id);

    // Bad input names its field and writes nothing.
    for (change, field) in [
        (
            json!({"role_arn": "arn:aws:iam::999999999999:role/AccountOnboardingOrganizations"}),
            "role_arn",
        ),
        (
            json!({"management_account_id": "88888"}),
            "management_account_id",
        ),
        (
            json!({"filters": {"include_ous": [{"ou_id": "r-ab12"}]}}),
            "filters.include_ous",
        ),
        (json!({"name": ""}), "name"),
    ] {
        let mut bad = body.clone();
        for (key, value) in change.as_object().unwrap() {
            bad[key] = value.clone();
        }
        let reply = app
            .call(Method::POST, "/v1/organizations", Some(&bad))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{field}: {:#}",
            reply.body
        );
        assert_eq!(reply.field(), field, "{:#}", reply.body);
    }
    assert_eq!(
        app.get("/v1/organizations").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Its templates, as served, pass cfn-lint and carry its IDs.
    let stackset = app
        .get(&format!("/v1/organizations/{id}/stackset-template"))
        .await;
    assert_eq!(stackset.status, StatusCode::OK);
    let text = stackset.body.as_str().unwrap();
    assert!(text.contains(prefix));
    cfn_lint(text);
    let management = app
        .get(&format!("/v1/organizations/{id}/management-role-template"))
        .await;
    let text = management.body.as_str().unwrap();
    assert!(text.contains(&member_external_id(prefix, "888888888888")));
    assert!(text.contains("AccountOnboardingOrganizations"));
    cfn_lint(text);

    // PATCH replaces the fields given, checked as at registration; the
    // other tenant cannot touch it.
    let uri = format!("/v1/organizations/{id}");
    let patched = app
        .call(
            Method::PATCH,
            &uri,
            Some(&json!({"name": "Acme (renamed)", "filters": {"exclude_accounts": ["111111111111"]}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    assert_eq!(patched.body["name"], "Acme (renamed)");
    assert_eq!(
        patched.body["filters"]["exclude_accounts"],
        json!(["111111111111"])
    );
    assert_eq!(patched.body["version"], 2);
    let elsewhere = app
        .call(
            Method::PATCH,
            &uri,
            Some(&json!({"role_arn": "arn:aws:iam::999999999999:role/AccountOnboardingOrganizations"})),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    assert_eq!(elsewhere.field(), "role_arn");
    let unknown = app
        .call(
            Method::PATCH,
            &uri,
            Some(&json!({"external_id_prefix": "mine-"})),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        unknown.body
    );
    let theirs = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&other),
            Some(&json!({"name": "x"})),
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // Archived: no sync on demand (409) and none scheduled; unarchived:
    // due at once.
    let archived = app
        .call(Method::POST, &format!("{uri}/archive"), None)
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{:#}", archived.body);
    assert!(archived.body["archived_at"].is_string());
    assert!(archived.body["sync"].get("next_sync_at").is_none());
    app.call(Method::POST, &format!("{uri}/sync"), None)
        .await
        .assert_error(409, "archived");
    // Nor a rotation of its prefix (issue 25 #12: it answered 200).
    app.call(
        Method::POST,
        &format!("{uri}/external-id-prefix/rotate"),
        None,
    )
    .await
    .assert_error(409, "archived");
    let later = service::time::Timestamp::now().plus(std::time::Duration::from_secs(86_400));
    let ours = |due: Vec<(String, String)>| -> Vec<String> {
        due.into_iter()
            .filter(|(tenant, _)| tenant == crate::harness::TENANT)
            .map(|(_, id)| id)
            .collect()
    };
    assert!(ours(app.store.due_organizations(later, 10).await.unwrap()).is_empty());
    let back = app
        .call(Method::POST, &format!("{uri}/unarchive"), None)
        .await;
    assert!(back.body.get("archived_at").is_none(), "{:#}", back.body);
    assert_eq!(
        ours(app.store.due_organizations(later, 10).await.unwrap()),
        vec![id.to_string()]
    );

    let deleted = app
        .call(Method::DELETE, &format!("/v1/organizations/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/organizations/{id}"))
        .await
        .assert_error(404, "not_found");
}
