//! Webhook deliveries end to end: the table's real stream (DynamoDB Local),
//! the notifier's code, the FIFO delivery queue and dead-letter queue
//! (moto), the sender's real HTTP client, and receivers listening on
//! 127.0.0.1 that verify what they get.

use crate::harness::{TestApp, TENANT};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use service::aws::deliveries::{DeliveryQueue, DeliverySettings};
use service::webhooks::{verify_signature, SignatureRefusal, DEFAULT_TOLERANCE_SECONDS};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use webhook_sender::http::{HttpTransport, StaticLookup};
use webhook_sender::Sender;

/// A webhook receiver on 127.0.0.1: records each request (headers, body,
/// when) and answers with `status` (and `location`, for a redirect).
#[derive(Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    pub seen: Arc<Mutex<Vec<(HeaderMap, String, Instant)>>>,
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    pub async fn start(status: u16, location: Option<String>) -> Self {
        let seen: Arc<Mutex<Vec<(HeaderMap, String, Instant)>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(status));
        let (record, answer) = (seen.clone(), status.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (record, answer, location) = (record.clone(), answer.clone(), location.clone());
            async move {
                record.lock().unwrap().push((headers, body, Instant::now()));
                let mut response = axum::http::Response::builder()
                    .status(answer.load(Ordering::SeqCst))
                    .header("content-type", "text/plain");
                if let Some(location) = location {
                    response = response.header("location", location);
                }
                response
                    .body(axum::body::Body::from("x".repeat(4096)))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            address,
            seen,
            status,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn bodies(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body, _)| serde_json::from_str(body).unwrap())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A test app with its own delivery queues and a sender over them.
pub struct Hooks {
    pub app: TestApp,
    queue: DeliveryQueue,
    dead_letter_url: String,
    pub sqs: aws_sdk_sqs::Client,
}

impl Hooks {
    pub async fn new() -> Self {
        let mut app = TestApp::new().await;
        let sqs = aws_sdk_sqs::Client::new(&app.sdk_config);
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let urls = testkit::provision::create_queues(&sqs, &prefix)
            .await
            .expect("create the test queues");
        let definition = &service::aws::schema::WEBHOOK_QUEUE;
        let dead_letter_url = urls[definition.dead_letter_logical_id].clone();
        let queue = DeliveryQueue::new(
            sqs.clone(),
            urls[definition.logical_id].clone(),
            Some(dead_letter_url.clone()),
        );
        let with_queue = queue.clone();
        app.reconfigure(move |mut state| {
            state.allow_loopback_webhooks = true;
            state.delivery_queue = Some(with_queue);
            state
        });
        Hooks {
            app,
            queue,
            dead_letter_url,
            sqs,
        }
    }

    pub fn sender(&self, settings: DeliverySettings, transport: HttpTransport) -> Sender {
        Sender {
            store: self.app.store.clone(),
            queue: self.queue.clone(),
            settings: Arc::new(settings),
            retention_days: 30,
            transport,
        }
    }

    /// Register an endpoint; returns its id and signing secret.
    pub async fn webhook(&self, url: &str, types: &[&str]) -> (String, String) {
        let reply = self
            .app
            .call(
                Method::POST,
                "/v1/webhooks",
                Some(&json!({"url": url, "event_types": types})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        (
            reply.body["webhook_id"].as_str().unwrap().to_string(),
            reply.body["signing_secret"].as_str().unwrap().to_string(),
        )
    }

    /// Read the stream and run the notifier's code over it (`times` times:
    /// more than once is a redelivered batch).
    pub async fn notify(&self, times: usize) {
        let changes = crate::audit::read_stream(&self.app).await;
        let notify = self.notifier();
        for _ in 0..times {
            notify.handle(&changes).await.expect("notify");
        }
    }

    /// The notifier's use case as the notifier function builds it (no
    /// event bus in the tests).
    pub fn notifier(&self) -> service::usecases::notify::Notify {
        service::usecases::notify::Notify {
            store: self.app.store.clone(),
            retention_days: 30,
            bus: None,
            deliveries: Some(self.queue.clone()),
        }
    }

    /// Run the sender over the queue until `done` holds (or panic after
    /// `within`); messages waiting for a retry come back by themselves.
    pub async fn deliver_until(&self, sender: &Sender, within: Duration, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < within,
                "deliveries did not finish in {within:?}"
            );
            testkit::webhook_pump::poll_once(sender, &self.sqs, Duration::from_secs(1))
                .await
                .expect("poll the delivery queue");
        }
    }

    async fn deliveries(&self, webhook_id: &str) -> Vec<Value> {
        let reply = self
            .app
            .get(&format!("/v1/webhooks/{webhook_id}/deliveries"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        reply.body["items"].as_array().unwrap().clone()
    }

    async fn dead_letters(&self) -> usize {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        output.messages.unwrap_or_default().len()
    }
}

pub fn settings(max_attempts: u32) -> DeliverySettings {
    DeliverySettings {
        max_attempts,
        first_retry: Duration::from_secs(1),
        max_retry: Duration::from_secs(60),
        disable_after: Duration::from_secs(86_400),
        allow_loopback_http: true,
    }
}

fn now() -> i64 {
    service::time::Timestamp::now().datetime().timestamp()
}

#[tokio::test]
async fn deliveries_are_signed_in_order_and_never_duplicated() {
    let hooks = Hooks::new().await;
    let receiver = Receiver::start(200, None).await;
    let (webhook_id, secret) = hooks
        .webhook(&receiver.url(), &["account.created", "account.updated"])
        .await;
    hooks.app.create("123456789012", json!({})).await;
    for name in ["A", "B", "C"] {
        let reply = hooks
            .app
            .call(
                Method::PATCH,
                "/v1/accounts/123456789012",
                Some(&json!({"name": name})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    }
    // The same stream batch three times, as a retried batch would be.
    hooks.notify(3).await;
    let sender = hooks.sender(settings(3), HttpTransport::new(true).unwrap());
    hooks
        .deliver_until(&sender, Duration::from_secs(30), || receiver.count() >= 4)
        .await;
    // Anything more would be a duplicate: give it a chance to show.
    testkit::webhook_pump::poll_once(&sender, &hooks.sqs, Duration::from_secs(1))
        .await
        .unwrap();

    let bodies = receiver.bodies();
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "account.created",
            "account.updated",
            "account.updated",
            "account.updated"
        ],
        "each change once, in order"
    );
    let names: Vec<&str> = bodies[1..]
        .iter()
        .map(|b| b["data"]["after"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B", "C"]);

    // The receiver verifies every delivery; a wrong secret or a replay
    // outside the window is caught.
    for (headers, body, _) in receiver.seen.lock().unwrap().iter() {
        let signature = headers["webhook-signature"].to_str().unwrap();
        let id: Value = serde_json::from_str(body).unwrap();
        assert_eq!(headers["webhook-id"].to_str().unwrap(), id["id"]);
        let check = |secret: &str, at: i64| {
            verify_signature(
                secret,
                signature,
                body.as_bytes(),
                at,
                DEFAULT_TOLERANCE_SECONDS,
            )
        };
        assert_eq!(check(&secret, now()), Ok(()));
        assert_eq!(check("whsec_wrong", now()), Err(SignatureRefusal::Mismatch));
        assert_eq!(
            check(&secret, now() + 3600),
            Err(SignatureRefusal::Stale),
            "a replay an hour later"
        );
        assert!(!body.contains(&secret));
    }

    // The delivery log: each DELIVERED on its first attempt, newest first.
    let log = hooks.deliveries(&webhook_id).await;
    assert_eq!(log.len(), 4, "{log:#?}");
    for delivery in &log {
        assert_eq!(delivery["status"], "DELIVERED", "{delivery:#}");
        assert_eq!(delivery["attempts"], 1);
        let attempt = &delivery["attempt_log"][0];
        assert_eq!(attempt["outcome"], "DELIVERED");
        assert_eq!(attempt["response_status"], 200);
        assert!(attempt["latency_ms"].is_u64());
        // 4 KB answered, 1 KB kept.
        assert_eq!(attempt["response_excerpt"].as_str().unwrap().len(), 1024);
        assert!(delivery.get("payload").is_none());
    }
    // Newest first by the second; within one second, by event id.
    let mut logged: Vec<&str> = log
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    logged.sort();
    assert_eq!(
        logged,
        [
            "account.created",
            "account.updated",
            "account.updated",
            "account.updated"
        ]
    );

    // The same job handed to the sender again (a message redelivered after
    // the queue's deduplication window) sends nothing.
    let first = &bodies[0];
    let job = json!({
        "tenant": TENANT, "webhook_id": webhook_id, "generation": 0, "event": first,
    });
    let verdict = sender.handle_message(&job.to_string()).await;
    assert_eq!(verdict, webhook_sender::Verdict::Done);
    assert_eq!(receiver.count(), 4);

    // Another tenant sees neither the endpoint nor its deliveries.
    let other = hooks.app.key("globex", service::api_key::Scope::ALL).await;
    let delivery_id = log[0]["delivery_id"].as_str().unwrap();
    for (method, uri) in [
        (Method::GET, format!("/v1/webhooks/{webhook_id}/deliveries")),
        (
            Method::GET,
            format!("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}"),
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
        ),
    ] {
        let reply = hooks
            .app
            .call_with(method, &uri, Some(&other), None, &[])
            .await;
        reply.assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_backoff_then_the_dead_letter_queue_then_a_redeliver() {
    let hooks = Hooks::new().await;
    let receiver = Receiver::start(503, None).await;
    let (webhook_id, secret) = hooks.webhook(&receiver.url(), &["account.created"]).await;
    hooks.app.create("123456789012", json!({})).await;
    hooks.notify(1).await;
    let sender = hooks.sender(settings(3), HttpTransport::new(true).unwrap());
    hooks
        .deliver_until(&sender, Duration::from_secs(60), || receiver.count() >= 3)
        .await;
    let log = hooks.deliveries(&webhook_id).await;
    assert_eq!(log.len(), 1);
    let delivery = &log[0];
    assert_eq!(delivery["status"], "FAILED", "{delivery:#}");
    assert_eq!(delivery["attempts"], 3);
    let attempts = delivery["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for (number, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt["number"], number + 1);
        assert_eq!(attempt["outcome"], "HTTP_ERROR");
        assert_eq!(attempt["response_status"], 503);
    }
    // Waits of about 1 s, then 2 s: exponential backoff.
    let times: Vec<Instant> = receiver
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, at)| *at)
        .collect();
    assert!(
        times[1] - times[0] >= Duration::from_millis(900),
        "{times:?}"
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(1900),
        "{times:?}"
    );
    assert_eq!(hooks.dead_letters().await, 1, "the job is dead-lettered");

    // The receiver is fixed; a redeliver sends the same event again.
    receiver.status.store(200, Ordering::SeqCst);
    let delivery_id = delivery["delivery_id"].as_str().unwrap();
    let reply = hooks
        .app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:#}", reply.body);
    assert_eq!(reply.body["status"], "PENDING");
    assert_eq!(reply.body["generation"], 1);
    hooks
        .deliver_until(&sender, Duration::from_secs(30), || receiver.count() >= 4)
        .await;
    let bodies = receiver.bodies();
    assert_eq!(bodies[3]["id"], bodies[0]["id"], "the same event");
    let (headers, body, _) = receiver.seen.lock().unwrap()[3].clone();
    let signature = headers["webhook-signature"].to_str().unwrap();
    assert_eq!(
        verify_signature(
            &secret,
            signature,
            body.as_bytes(),
            now(),
            DEFAULT_TOLERANCE_SECONDS
        ),
        Ok(())
    );
    let delivery = &hooks.deliveries(&webhook_id).await[0];
    assert_eq!(delivery["status"], "DELIVERED", "{delivery:#}");
    assert_eq!(delivery["generation"], 1);
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(
        delivery["attempt_log"].as_array().unwrap().len(),
        4,
        "the log keeps the failed attempts too"
    );
    // A delivery under way cannot be redelivered twice at once; a
    // finished one can, again.
    let again = hooks
        .app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{:#}", again.body);
}

#[tokio::test]
async fn deliveries_never_reach_a_forbidden_address() {
    // Registration refuses them outright (no loopback allowed here).
    let strict = TestApp::new().await;
    for url in [
        "https://127.0.0.1/hook",
        "http://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
    ] {
        let reply = strict
            .call(Method::POST, "/v1/webhooks", Some(&json!({"url": url})))
            .await;
        reply.assert_error(400, "invalid_value");
        assert_eq!(reply.field(), "url", "{url}");
    }

    // At send time: a public-looking name that resolves to loopback, and a
    // loopback URL registered while the dev setting allowed it, both meet
    // a sender that does not allow loopback. Neither receives a request.
    let hooks = Hooks::new().await;
    let receiver = Receiver::start(200, None).await;
    let port = receiver.address.port();
    let lookup = StaticLookup(HashMap::from([(
        "hooks.example.test".to_string(),
        vec!["127.0.0.1".parse::<IpAddr>().unwrap()],
    )]));
    let strict_sender = hooks.sender(
        DeliverySettings {
            allow_loopback_http: false,
            ..settings(3)
        },
        HttpTransport::with_lookup(Arc::new(lookup), false).unwrap(),
    );
    let (by_name, _) = hooks
        .webhook(
            &format!("https://hooks.example.test:{port}/hook"),
            &["account.created"],
        )
        .await;
    let (by_address, _) = hooks.webhook(&receiver.url(), &["account.created"]).await;
    hooks.app.create("123456789012", json!({})).await;
    hooks.notify(1).await;

    let log_of = |id: &str| {
        let id = id.to_string();
        let hooks = &hooks;
        async move { hooks.deliveries(&id).await }
    };
    let started = Instant::now();
    loop {
        testkit::webhook_pump::poll_once(&strict_sender, &hooks.sqs, Duration::from_secs(1))
            .await
            .unwrap();
        let name = log_of(&by_name).await;
        let address = log_of(&by_address).await;
        if [&name, &address]
            .iter()
            .all(|log| log.first().is_some_and(|d| d["status"] == "FAILED"))
        {
            for log in [&name, &address] {
                let attempt = &log[0]["attempt_log"][0];
                assert_eq!(attempt["outcome"], "FORBIDDEN_ADDRESS", "{log:#?}");
                assert_eq!(log[0]["attempts"], 1, "never retried");
            }
            assert!(name[0]["attempt_log"][0]["error"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{name:#?}");
    }
    assert_eq!(
        receiver.count(),
        0,
        "no request reached the private address"
    );

    // A URL that redirects to a second receiver, with a sender that allows
    // loopback (as the dev server): the redirect is not followed.
    for id in [&by_name, &by_address] {
        let reply = hooks
            .app
            .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
    }
    let target = Receiver::start(200, None).await;
    let redirecting = Receiver::start(307, Some(target.url())).await;
    let (redirected, _) = hooks
        .webhook(&redirecting.url(), &["account.created"])
        .await;
    hooks.notify(1).await;
    let sender = hooks.sender(settings(1), HttpTransport::new(true).unwrap());
    hooks
        .deliver_until(&sender, Duration::from_secs(30), || {
            redirecting.count() >= 1
        })
        .await;
    let started = Instant::now();
    let log = loop {
        let log = log_of(&redirected).await;
        if log[0]["status"] == "FAILED" || started.elapsed() > Duration::from_secs(10) {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(log[0]["status"], "FAILED", "{log:#?}");
    let attempt = &log[0]["attempt_log"][0];
    assert_eq!(attempt["response_status"], 307);
    assert!(attempt["error"]
        .as_str()
        .unwrap()
        .contains("redirects are not followed"));
    assert_eq!(target.count(), 0, "the redirect was not followed");
}

#[tokio::test]
async fn an_endpoint_failing_past_the_span_is_disabled_with_an_event() {
    let hooks = Hooks::new().await;
    let receiver = Receiver::start(500, None).await;
    let (webhook_id, _) = hooks.webhook(&receiver.url(), &["account.created"]).await;
    hooks.app.create("123456789012", json!({})).await;
    hooks.notify(1).await;
    let sender = hooks.sender(
        DeliverySettings {
            disable_after: Duration::ZERO,
            ..settings(5)
        },
        HttpTransport::new(true).unwrap(),
    );
    hooks
        .deliver_until(&sender, Duration::from_secs(30), || receiver.count() >= 1)
        .await;
    let webhook = hooks.app.get(&format!("/v1/webhooks/{webhook_id}")).await;
    assert_eq!(webhook.body["enabled"], false, "{:#}", webhook.body);
    assert!(webhook.body["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("failed"));
    assert!(webhook.body["failing_since"].is_string());
    // The retry meets a disabled endpoint: FAILED, no second request.
    let started = Instant::now();
    loop {
        testkit::webhook_pump::poll_once(&sender, &hooks.sqs, Duration::from_secs(1))
            .await
            .unwrap();
        if hooks.deliveries(&webhook_id).await[0]["status"] == "FAILED" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    assert_eq!(receiver.count(), 1);

    // The disabling is an event, by the sender, in the audit log.
    hooks.notify(1).await;
    let page = hooks
        .app
        .get("/v1/audit-events?type=webhook.disabled")
        .await;
    let events = page.body["items"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{:#}", page.body);
    assert_eq!(events[0]["actor"], "system:webhook-sender");
    assert_eq!(events[0]["data"]["webhook_id"], webhook_id.as_str());

    // Enabled again: a fresh start.
    let reply = hooks
        .app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{webhook_id}"),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["enabled"], true);
    assert!(reply.body.get("disabled_reason").is_none());
    assert!(reply.body.get("failing_since").is_none());
}

/// The bus the template creates, in moto: a rule on it sends this
/// service's events to a queue, where they arrive with the documented
/// source, detail-type and detail.
#[tokio::test]
async fn events_are_put_on_the_event_bus() {
    let app = TestApp::new().await;
    let eventbridge = aws_sdk_eventbridge::Client::new(&app.sdk_config);
    let sqs = aws_sdk_sqs::Client::new(&app.sdk_config);
    let name = format!("t{}-events", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_event_bus(&eventbridge, &name)
        .await
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-target"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    eventbridge
        .put_rule()
        .name("all-onboarding-events")
        .event_bus_name(&name)
        .event_pattern(json!({"source": ["account-onboarding"]}).to_string())
        .send()
        .await
        .unwrap();
    eventbridge
        .put_targets()
        .rule("all-onboarding-events")
        .event_bus_name(&name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    app.create("123456789012", json!({})).await;
    let changes = crate::audit::read_stream(&app).await;
    let notify = service::usecases::notify::Notify {
        store: app.store.clone(),
        retention_days: 30,
        bus: Some(service::aws::bus::EventBus::new(
            eventbridge,
            name.clone(),
            "account-onboarding".into(),
        )),
        deliveries: None,
    };
    let events = notify.handle(&changes).await.unwrap();
    assert!(!events.is_empty());

    let mut received = Vec::new();
    for _ in 0..10 {
        let output = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received.extend(output.messages.unwrap_or_default());
        if received.len() >= events.len() {
            break;
        }
    }
    let bodies: Vec<Value> = received
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
        .collect();
    let created = bodies
        .iter()
        .find(|b| b["detail-type"] == "account.created")
        .unwrap_or_else(|| panic!("{bodies:#?}"));
    assert_eq!(created["source"], "account-onboarding");
    assert_eq!(created["detail"]["account_id"], "123456789012");
    assert_eq!(created["detail"]["tenant"], TENANT);
    let ids: Vec<&Value> = bodies.iter().map(|b| &b["detail"]["id"]).collect();
    for event in &events {
        assert!(ids.contains(&&json!(event.id)), "{} on the bus", event.id);
    }
}

/// An https receiver on 127.0.0.1 with a certificate for `host`, signed
/// by a CA made here; returns its address and the CA the client trusts.
async fn https_receiver(
    host: &str,
    app: axum::Router,
) -> (SocketAddr, rustls::pki_types::CertificateDer<'static>) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![host.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                }
            });
        }
    });
    (address, ca.der().clone())
}

/// An https endpoint that answers with a redirect: the sender speaks TLS
/// to it (the 307 is read), does not follow the redirect, and the
/// redirect's target gets nothing; a second https endpoint that answers
/// 200 is delivered to, so the TLS path itself works.
#[tokio::test]
async fn an_https_redirect_is_not_followed() {
    let hooks = Hooks::new().await;
    let target = Receiver::start(200, None).await;
    let location = target.url();
    let redirect = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            axum::http::Response::builder()
                .status(307)
                .header("location", location)
                .body(axum::body::Body::empty())
                .unwrap()
        }
    });
    let (redirecting, ca) = https_receiver("redirect.example.test", redirect).await;
    let delivered = Arc::new(AtomicU16::new(0));
    let counter = delivered.clone();
    let fine = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            "ok"
        }
    });
    let (good, good_ca) = https_receiver("fine.example.test", fine).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    roots.add(good_ca).unwrap();
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let lookup = StaticLookup(HashMap::from([
        ("redirect.example.test".to_string(), vec![redirecting.ip()]),
        ("fine.example.test".to_string(), vec![good.ip()]),
    ]));
    // Loopback is allowed only because the test's receivers live there.
    let sender = hooks.sender(
        settings(1),
        HttpTransport::with_tls(Arc::new(lookup), true, tls),
    );
    let (redirected, _) = hooks
        .webhook(
            &format!("https://redirect.example.test:{}/hook", redirecting.port()),
            &["account.created"],
        )
        .await;
    let (fine_id, _) = hooks
        .webhook(
            &format!("https://fine.example.test:{}/hook", good.port()),
            &["account.created"],
        )
        .await;
    hooks.app.create("123456789012", json!({})).await;
    hooks.notify(1).await;
    let started = Instant::now();
    let (redirect_log, fine_log) = loop {
        testkit::webhook_pump::poll_once(&sender, &hooks.sqs, Duration::from_secs(1))
            .await
            .unwrap();
        let (a, b) = (
            hooks.deliveries(&redirected).await,
            hooks.deliveries(&fine_id).await,
        );
        let finished = |log: &[Value]| {
            log.first()
                .is_some_and(|d| d["status"] == "FAILED" || d["status"] == "DELIVERED")
        };
        if finished(&a) && finished(&b) {
            break (a, b);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{a:#?} {b:#?}");
    };
    let attempt = &redirect_log[0]["attempt_log"][0];
    assert_eq!(redirect_log[0]["status"], "FAILED", "{redirect_log:#?}");
    assert_eq!(
        attempt["response_status"], 307,
        "TLS worked: the 307 was read"
    );
    assert!(attempt["error"]
        .as_str()
        .unwrap()
        .contains("redirects are not followed"));
    assert_eq!(target.count(), 0, "the redirect was not followed");
    assert_eq!(fine_log[0]["status"], "DELIVERED", "{fine_log:#?}");
    assert_eq!(delivered.load(Ordering::SeqCst), 1);
}

/// Issue 25 #1: one tenant's large events never stall another tenant's
/// webhooks. Ten `account.updated` events of ~120 KB each (the most an
/// account's fields hold) used to go to the delivery queue as one
/// SendMessageBatch over SQS's 1 MiB, which failed the whole stream
/// batch, every tenant's jobs in it, on every retry. Now batches are
/// packed by size, an event too large to send whole carries a reference,
/// and the other tenant's webhook arrives in the same pass.
#[tokio::test]
async fn one_tenants_large_events_do_not_stall_another_tenants_webhooks() {
    let hooks = Hooks::new().await;
    let big_receiver = Receiver::start(200, None).await;
    let other_receiver = Receiver::start(200, None).await;
    let (big_hook, _) = hooks
        .webhook(&big_receiver.url(), &["account.updated"])
        .await;
    let other_key = hooks.app.key("globex", service::api_key::Scope::ALL).await;
    let other_hook = hooks
        .app
        .call_with(
            Method::POST,
            "/v1/webhooks",
            Some(&other_key),
            Some(&json!({"url": other_receiver.url(), "event_types": ["account.updated"]})),
            &[],
        )
        .await;
    assert_eq!(
        other_hook.status,
        StatusCode::CREATED,
        "{:#}",
        other_hook.body
    );

    // The most one account's fields may hold: 100 patterns of ~1 KB and
    // 50 labels, about 120 KB of JSON.
    let full = |mark: char| {
        let patterns: Vec<String> = (0..100)
            .map(|i| format!("{mark}{i:03}{}", "x".repeat(1000)))
            .collect();
        let labels: serde_json::Map<String, Value> = (0..50)
            .map(|i| {
                (
                    format!("{mark}{i:03}{}", "k".repeat(100)),
                    json!("v".repeat(250)),
                )
            })
            .collect();
        json!({"name": "Big", "resource_regex_ignore_list": patterns, "labels": labels})
    };
    hooks.app.create("123456789012", json!({})).await;
    // Ten updates of ~120 KB each way (fields filled, then emptied)...
    for round in 0..5 {
        for body in [full('a'), json!({"name": format!("Small {round}")})] {
            let reply = hooks
                .app
                .call(Method::PUT, "/v1/accounts/123456789012", Some(&body))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        }
    }
    // ...and one replacing a full set by another, ~240 KB of before and
    // after: more than an event carries whole.
    for body in [full('a'), full('b')] {
        let reply = hooks
            .app
            .call(Method::PUT, "/v1/accounts/123456789012", Some(&body))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    }
    // Then the other tenant's small change.
    let created = hooks
        .app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&other_key),
            Some(&json!({"account_id": "210987654321", "name": "Other"})),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let renamed = hooks
        .app
        .call_with(
            Method::PATCH,
            "/v1/accounts/210987654321",
            Some(&other_key),
            Some(&json!({"name": "Other, renamed"})),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:#}", renamed.body);

    // The delivery queue alone takes ten such jobs in one call: packed by
    // size (one SendMessageBatch of ten was over SQS's 1 MiB).
    let jobs: Vec<service::aws::deliveries::DeliveryJob> = (0..10)
        .map(|i| {
            let mut event = service::events::EventType::AccountUpdated.example();
            event.id = format!("evt_{i:032x}");
            event.data = json!({"padding": "p".repeat(120_000)});
            service::aws::deliveries::DeliveryJob {
                tenant: TENANT.into(),
                webhook_id: "01JD0000000000000000000000".into(),
                generation: 0,
                event,
            }
        })
        .collect();
    let unqueued = hooks
        .queue
        .send(&jobs)
        .await
        .expect("ten large jobs are queued");
    assert!(unqueued.is_empty(), "{unqueued:?}");
    hooks
        .sqs
        .purge_queue()
        .queue_url(hooks.queue.url())
        .send()
        .await
        .unwrap();

    // One pass of the stream's consumer records everything: nothing to retry.
    let changes = crate::audit::read_stream(&hooks.app).await;
    let notify = service::usecases::notify::Notify {
        store: hooks.app.store.clone(),
        retention_days: 30,
        bus: None,
        deliveries: Some(hooks.queue.clone()),
    };
    let recorded = notify.record(&changes).await;
    assert!(recorded.failed.is_none(), "{:?}", recorded.failed);

    let sender = hooks.sender(settings(3), HttpTransport::new(true).unwrap());
    hooks
        .deliver_until(&sender, Duration::from_secs(60), || {
            other_receiver.count() >= 1 && big_receiver.count() >= 12
        })
        .await;
    let other = other_receiver.bodies();
    assert_eq!(other[0]["tenant"], "globex");
    assert_eq!(other[0]["data"]["after"]["name"], "Other, renamed");

    let big = big_receiver.bodies();
    assert_eq!(big.len(), 12, "each update once");
    for body in &big {
        assert!(body.to_string().len() <= service::events::MAX_EVENT_BYTES);
    }
    // The full-to-full replacement is sent as a reference to read back.
    let referenced: Vec<&Value> = big
        .iter()
        .filter(|b| b["data"]["truncated"] == json!(true))
        .collect();
    assert_eq!(referenced.len(), 1, "{big:#?}");
    let data = &referenced[0]["data"];
    assert_eq!(data["reference"]["href"], "/v1/accounts/123456789012");
    assert_eq!(data["reference"]["resource"], "account");
    assert!(data["reference"]["version"].as_u64().is_some());
    assert_eq!(
        data["changed"],
        json!(["labels", "resource_regex_ignore_list"])
    );
    let read_back = hooks.app.get("/v1/accounts/123456789012").await;
    assert_eq!(read_back.body["labels"].as_object().unwrap().len(), 50);
    // The big tenant's deliveries are all DELIVERED: nothing was refused.
    for delivery in hooks.deliveries(&big_hook).await {
        assert_eq!(delivery["status"], "DELIVERED", "{delivery:#}");
    }
}

/// Issue 25 #1/#8: an account's fields are bounded one by one and in all,
/// before anything is written: an entry of 1,800 characters in
/// `resource_type_ignore_list` and fields over the total are 400s naming
/// the field.
#[tokio::test]
async fn oversized_account_fields_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let long_type = format!("AWS.S3.{}", "B".repeat(1800));
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": "123456789012", "name": "A", "resource_type_ignore_list": [long_type]})),
        )
        .await;
    reply.assert_error(400, "invalid_value");
    assert_eq!(reply.field(), "resource_type_ignore_list[0]");
    let patterns: Vec<String> = (0..100)
        .map(|i| format!("{i}{}", "x".repeat(1020)))
        .collect();
    let labels: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("{i}{}", "é".repeat(120)), json!("é".repeat(256))))
        .collect();
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": "123456789012", "name": "A", "resource_regex_ignore_list": patterns, "labels": labels})),
        )
        .await;
    reply.assert_error(400, "too_large");
    assert_eq!(reply.field(), "resource_regex_ignore_list");
    assert_eq!(
        app.get("/v1/accounts/123456789012").await.status,
        StatusCode::NOT_FOUND
    );
}
