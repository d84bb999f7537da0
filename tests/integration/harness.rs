//! Test harness: a fresh table per test, keys, and a request helper.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use service::api_key::{ApiKey, Scope};
use service::aws::jobs::JobQueue;
use service::aws::store::Store;
use service::aws::verification::VerificationSettings;
use service::scans::Catalogue;
use service::time::Timestamp;
use std::collections::BTreeMap;
use tower::ServiceExt;

pub const TENANT: &str = "acme";
/// The account the service runs as in moto (its default account).
pub const VENDOR_ACCOUNT: &str = "123456789012";
/// A customer's account, where tests create roles.
pub const CUSTOMER_ACCOUNT: &str = "111111111111";

pub struct TestApp {
    pub router: Router,
    pub state: api::AppState,
    pub sdk_config: aws_config::SdkConfig,
    pub store: Store,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    /// Admin key (all scopes) of tenant `acme`.
    pub key: String,
    /// The scan queues and worker, for tests made with [`TestApp::with_scans`].
    pub scanning: Option<Scanning>,
}

/// This test's own scan queue, its dead-letter queue and the worker.
pub struct Scanning {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dead_letter_url: String,
    pub worker: service::usecases::scan_run::ScanRunner,
    /// The organization sync queue (the API and the sweep send to it).
    pub organization_sync_url: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Assert status and error code, with the body in the failure message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.code(), code, "{:#}", self.body);
        assert!(
            !self.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "error without a message: {:#}",
            self.body
        );
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "integration tests need the emulators: run `make test` (or dev/with-emulators.sh cargo test)"
    );
    service::runtime::config::aws().await
}

impl TestApp {
    pub async fn new() -> Self {
        // Server-side logs, shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let config = sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let table = format!("test-{}", ulid::Ulid::new().to_string().to_lowercase());
        testkit::provision::create_table(&dynamodb, &table)
            .await
            .expect("create the test table");
        // The composition root every entry point uses, with test settings.
        let services = service::runtime::config::Services::new(test_config(&table))
            .await
            .expect("services");
        let store = services.store.clone();
        let state = api::AppState::from_services(&services);
        let router = api::router(state.clone());
        let key = issue_key(&store, TENANT, Scope::ALL).await;
        TestApp {
            router,
            state,
            sdk_config: config,
            store,
            dynamodb,
            table,
            key,
            scanning: None,
        }
    }

    /// A test app that queues scans on its own queues (as template.yaml
    /// defines them) and has a worker to run them.
    pub async fn with_scans() -> Self {
        Self::with_catalogue(Catalogue::default()).await
    }

    pub async fn with_catalogue(catalogue: Catalogue) -> Self {
        let mut app = TestApp::new().await;
        let sqs = aws_sdk_sqs::Client::new(&app.sdk_config);
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let urls = testkit::provision::create_queues(&sqs, &prefix)
            .await
            .expect("create the test queues");
        let queue_url = urls[service::aws::schema::SCAN_QUEUE.logical_id].clone();
        let dead_letter_url = urls[service::aws::schema::SCAN_QUEUE.dead_letter_logical_id].clone();
        let organization_sync_url =
            urls[service::aws::schema::ORGANIZATION_SYNC_QUEUE.logical_id].clone();
        app.state = app
            .state
            .clone()
            .with_scans(catalogue.clone(), JobQueue::new(sqs.clone(), &queue_url));
        app.state.organization_sync_queue =
            Some(JobQueue::new(sqs.clone(), &organization_sync_url));
        app.router = api::router(app.state.clone());
        let worker = service::usecases::scan_run::ScanRunner {
            store: app.store.clone(),
            verifier: app.state.verifier.clone(),
            sdk_config: app.sdk_config.clone(),
            catalogue: std::sync::Arc::new(catalogue),
            sqs: sqs.clone(),
            settings: service::usecases::scan_run::RunSettings {
                max_receive_count: service::aws::schema::SCAN_QUEUE.max_receive_count,
                lease: std::time::Duration::from_secs(60),
                access_log_days: 30,
                ..Default::default()
            },
        };
        app.scanning = Some(Scanning {
            sqs,
            queue_url,
            dead_letter_url,
            worker,
            organization_sync_url,
        });
        app
    }

    /// Change the API's state (limits, budgets) and rebuild its router.
    pub fn reconfigure(&mut self, change: impl FnOnce(api::AppState) -> api::AppState) {
        self.state = change(self.state.clone());
        self.router = api::router(self.state.clone());
    }

    /// A request with a raw body and content type.
    pub async fn raw(&self, method: Method, uri: &str, content_type: &str, body: &str) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-api-key", self.key.clone())
            .header("content-type", content_type)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub fn scanning(&self) -> &Scanning {
        self.scanning
            .as_ref()
            .expect("made with TestApp::with_scans")
    }

    /// Run the worker over the scan queue until it is empty; failed jobs
    /// come back at once. Returns the messages handled.
    pub async fn drain_scan_queue(&self) -> usize {
        let scanning = self.scanning();
        let mut handled = 0;
        for _ in 0..100 {
            let received = testkit::scan_pump::poll_once(
                &scanning.worker,
                &scanning.sqs,
                &scanning.queue_url,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
            )
            .await
            .expect("poll the scan queue");
            if received == 0 {
                return handled;
            }
            handled += received;
        }
        panic!("the scan queue never drained");
    }

    /// Run `syncer` over the organization sync queue until it is empty.
    /// Returns the messages handled.
    /// An organization sync worker of this app (hourly schedule), as the
    /// organization-sync function builds one.
    pub fn organization_syncer(&self) -> organization_sync::Syncer {
        organization_sync::Syncer {
            store: self.store.clone(),
            verifier: self.state.verifier.clone(),
            settings: std::sync::Arc::new(test_settings()),
            schedule: service::usecases::organizations::SyncSchedule {
                interval: std::time::Duration::from_secs(3600),
            },
        }
    }

    pub async fn drain_organization_syncs(&self, syncer: &organization_sync::Syncer) -> usize {
        let scanning = self.scanning();
        let mut handled = 0;
        for _ in 0..20 {
            let received = testkit::sqs_pump::poll_once(
                &scanning.sqs,
                &scanning.organization_sync_url,
                std::time::Duration::ZERO,
                Some(std::time::Duration::ZERO),
                |event| syncer.handle_batch(event),
            )
            .await
            .expect("poll the organization sync queue");
            if received == 0 {
                return handled;
            }
            handled += received;
        }
        panic!("the organization sync queue never drained");
    }

    /// Bodies of the messages in the dead-letter queue (left there).
    pub async fn dead_letters(&self) -> Vec<String> {
        let scanning = self.scanning();
        let output = scanning
            .sqs
            .receive_message()
            .queue_url(&scanning.dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("read the dead-letter queue");
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }

    /// A new key for `tenant` with `scopes`, straight in the table.
    pub async fn key(&self, tenant: &str, scopes: &[Scope]) -> String {
        issue_key(&self.store, tenant, scopes).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A JSON request with the given key (if any) and extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        let has_content_type = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_content_type {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = body
            .map(|b| Body::from(b.to_string()))
            .unwrap_or_else(Body::empty);
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<&Value>) -> Reply {
        self.call_with(method, uri, Some(&self.key.clone()), body, &[])
            .await
    }

    /// A JSON request with the app's key, and the DynamoDB capacity units
    /// it consumed (service::aws::capacity).
    pub async fn measured(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> (Reply, service::aws::capacity::Capacity) {
        service::aws::capacity::measure(self.call(method, uri, body)).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    /// `POST /v1/aws/iam-parameters`: reserve `account` (201) or read
    /// the parameters of a registered one (200).
    pub async fn reserve(&self, account: &str) -> Reply {
        let body = serde_json::json!({ "account_id": account });
        self.call(Method::POST, "/v1/aws/iam-parameters", Some(&body))
            .await
    }

    /// Register an account; `extra` fields override the defaults.
    pub async fn create(&self, account_id: &str, extra: Value) -> Value {
        let mut body = json!({"account_id": account_id, "name": format!("Account {account_id}")});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        let reply = self.call(Method::POST, "/v1/accounts", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        reply.body
    }

    /// The verifier's sweep over this test's table.
    pub fn sweeper(&self) -> service::usecases::sweep::Sweeper {
        service::usecases::sweep::Sweeper {
            store: self.store.clone(),
            verifier: self.state.verifier.clone(),
            settings: self.state.settings.clone(),
            organization_sync_queue: self.state.organization_sync_queue.clone(),
            catalogue: self.state.catalogue.clone(),
            scan_queue: self.state.scan_queue.clone(),
        }
    }

    /// Create a role in `account` (as the customer would, with IAM
    /// CreateRole) with this trust policy; returns its ARN.
    pub async fn create_role(&self, account: &str, trust: &Value, tags: &[(&str, &str)]) -> String {
        let name = format!("Audit{}", ulid::Ulid::new());
        self.create_named_role(account, &name, trust, tags).await
    }

    /// [`TestApp::create_role`] with the role's name given. Like the
    /// service's templates, the role may read itself (`iam:GetRole`).
    pub async fn create_named_role(
        &self,
        account: &str,
        name: &str,
        trust: &Value,
        tags: &[(&str, &str)],
    ) -> String {
        let arn = self.create_bare_role(account, name, trust, tags).await;
        let iam = aws_sdk_iam::Client::new(&self.sdk_config);
        put_role_policy(&iam, account, name, "VendorSelfRead", &self_read(&arn)).await;
        arn
    }

    /// A role without any permissions (it may not even read itself).
    pub async fn create_bare_role(
        &self,
        account: &str,
        name: &str,
        trust: &Value,
        tags: &[(&str, &str)],
    ) -> String {
        let iam = aws_sdk_iam::Client::new(&self.sdk_config);
        let mut request = iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string());
        for (key, value) in tags {
            request = request.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(*key)
                    .value(*value)
                    .build()
                    .unwrap(),
            );
        }
        let output = request
            .customize()
            .mutate_request(in_account(account))
            .send()
            .await
            .expect("create the customer role");
        output.role.expect("role").arn
    }

    /// Replace a role's trust policy (as the customer would).
    pub async fn update_trust(&self, account: &str, role_arn: &str, trust: &Value) {
        let name = role_arn.rsplit('/').next().unwrap();
        aws_sdk_iam::Client::new(&self.sdk_config)
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust.to_string())
            .customize()
            .mutate_request(in_account(account))
            .send()
            .await
            .expect("update the trust policy");
    }

    /// Every item of the test table, to prove that requests wrote nothing.
    /// (A Scan is fine here: this is the test's own table, not a request path.)
    pub async fn snapshot(&self) -> Vec<BTreeMap<String, String>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan the test table");
            for item in output.items.unwrap_or_default() {
                items.push(item.into_iter().map(|(k, v)| (k, canonical(&v))).collect());
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort();
        items
    }
}

/// A stable text of an attribute value: map keys sorted at every depth
/// (`Debug` of a HashMap follows its random iteration order).
fn canonical(value: &aws_sdk_dynamodb::types::AttributeValue) -> String {
    use aws_sdk_dynamodb::types::AttributeValue;
    match value {
        AttributeValue::M(map) => {
            let sorted: BTreeMap<_, _> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            format!("M{sorted:?}")
        }
        AttributeValue::L(list) => format!("L{:?}", list.iter().map(canonical).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

/// The configuration of tests: their own table, short STS timeouts and
/// quick retries, any role name.
pub fn test_config(table: &str) -> service::runtime::config::Config {
    let mut config = service::runtime::config::Config::from_env().expect("configuration");
    config.table_name = table.to_string();
    // Short enough for a timeout test, long enough for moto answering a
    // whole parallel test run on two cores (1.5 s was not, once, with a
    // build beside it).
    config.verify_call_timeout_ms = 3000;
    config.verify_max_attempts = 3;
    config.verify_initial_backoff_ms = 10;
    config.sts_rate_limit = 0.0;
    config.verify_concurrency = 8;
    config.verify_interval_seconds = 86_400;
    config.vendor_principal = None;
    config.customer_role_name = "AccountOnboardingAudit".into();
    config.customer_role_name_pattern = "*".into();
    config.role_template_url = None;
    // Links and template URLs come from here, never from a Host header.
    config.public_url = Some(PUBLIC_URL.into());
    // Every call's capacity units, for the budget tests (aws::capacity).
    config.dynamodb_consumed_capacity = true;
    config
}

/// The public origin the tests' API makes its links from.
pub const PUBLIC_URL: &str = "https://onboarding.example.com";

/// Verification settings for tests: those of [`test_config`].
pub fn test_settings() -> VerificationSettings {
    test_config("test").verification()
}

/// A trust policy that lets the vendor in, with this external-ID
/// condition, naming its sessions (as the service's templates do).
pub fn trust(condition: Option<Value>) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{VENDOR_ACCOUNT}:root")},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

/// A trust policy requiring one of these external IDs.
pub fn trust_external_ids(ids: &[&str]) -> Value {
    trust(Some(json!({"StringEquals": {"sts:ExternalId": ids}})))
}

/// What the service's templates let a role do to itself.
pub fn self_read(role_arn: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetRole", "iam:SimulatePrincipalPolicy"], "Resource": role_arn},
    ]})
}

/// Put an inline policy on a role of `account` (as the customer would).
pub async fn put_role_policy(
    iam: &aws_sdk_iam::Client,
    account: &str,
    role_name: &str,
    policy_name: &str,
    document: &Value,
) {
    iam.put_role_policy()
        .role_name(role_name)
        .policy_name(policy_name)
        .policy_document(document.to_string())
        .customize()
        .mutate_request(in_account(account))
        .send()
        .await
        .expect("put the role's policy");
}

/// moto picks the account of an IAM call from this header.
pub fn in_account(
    account: &str,
) -> impl Fn(&mut aws_sdk_iam::config::http::HttpRequest) + Send + Sync + 'static {
    let account = account.to_string();
    move |request| {
        request
            .headers_mut()
            .insert("x-moto-account-id", account.clone());
    }
}

async fn issue_key(store: &Store, tenant: &str, scopes: &[Scope]) -> String {
    let issued = ApiKey::issue(
        tenant,
        "test",
        scopes.to_vec(),
        "test",
        None,
        Timestamp::now(),
    )
    .unwrap();
    service::usecases::api_keys::create(store, &issued.record)
        .await
        .expect("store key");
    issued.token
}
