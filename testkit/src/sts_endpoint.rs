//! An STS endpoint for the benchmarks and the capacity test: the real AWS query protocol
//! (AssumeRole, GetCallerIdentity), a fixed injected latency, trust checked
//! against the external IDs registered with it, and a request quota above
//! which it answers `Throttling`, as STS does for an account.
//!
//! Why not moto here: at the rates measured (over a thousand STS calls a
//! second) the Python emulator, sharing two cores with the service and
//! DynamoDB Local, is the bottleneck, and the bench would measure it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Counters {
    /// STS calls (IAM's are counted apart: they do not use the vendor's STS quota).
    pub calls: AtomicU64,
    pub iam_calls: AtomicU64,
    pub throttled: AtomicU64,
}

struct Endpoint {
    latency: Duration,
    /// Role ARN → the external ID its trust policy requires.
    trusted: RwLock<HashMap<String, String>>,
    /// Calls per second allowed; `None`: no quota.
    quota: Option<u64>,
    window: Mutex<(Instant, u64)>,
    counters: Arc<Counters>,
}

#[derive(Clone)]
pub struct StsEndpoint {
    inner: Arc<Endpoint>,
    pub url: String,
}

impl StsEndpoint {
    pub async fn start(latency: Duration, quota: Option<u64>) -> Self {
        let inner = Arc::new(Endpoint {
            latency,
            trusted: RwLock::default(),
            quota,
            window: Mutex::new((Instant::now(), 0)),
            counters: Arc::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new()
            .fallback(axum::routing::post(handle))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        StsEndpoint { inner, url }
    }

    pub fn trust(&self, role_arn: String, external_id: String) {
        self.inner
            .trusted
            .write()
            .expect("lock")
            .insert(role_arn, external_id);
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }
}

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The session's access key names its account (`ASIA<account>`).
fn session_account(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let rest = authorization.split("Credential=ASIA").nth(1)?;
    rest.get(..12)
}

/// IAM GetRole as a session of the role asks it: the role's trust policy,
/// which trusts the vendor with the external ID registered here.
fn get_role(endpoint: &Endpoint, headers: &HeaderMap, form: &HashMap<String, String>) -> Response {
    let (Some(account), Some(name)) = (session_account(headers), form.get("RoleName")) else {
        return error(StatusCode::FORBIDDEN, "AccessDenied");
    };
    let arn = format!("arn:aws:iam::{account}:role/{name}");
    let Some(external_id) = endpoint.trusted.read().expect("lock").get(&arn).cloned() else {
        return error(StatusCode::NOT_FOUND, "NoSuchEntity");
    };
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
    }]});
    let encoded: String = form_urlencoded::byte_serialize(policy.to_string().as_bytes()).collect();
    let body = format!(
        "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><Role><Path>/</Path><RoleName>{name}</RoleName><RoleId>AROABENCH</RoleId><Arn>{arn}</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration></Role></GetRoleResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></GetRoleResponse>"
    );
    ([("content-type", "text/xml")], body).into_response()
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error><RequestId>bench</RequestId></ErrorResponse>"
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

async fn handle(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.get("Action").map(String::as_str) == Some("GetRole") {
        endpoint.counters.iam_calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(endpoint.latency).await;
        return get_role(&endpoint, &headers, &form);
    }
    endpoint.counters.calls.fetch_add(1, Ordering::Relaxed);
    if let Some(quota) = endpoint.quota {
        let mut window = endpoint.window.lock().expect("lock");
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > quota {
            endpoint.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::BAD_REQUEST, "Throttling");
        }
    }
    tokio::time::sleep(endpoint.latency).await;
    match form.get("Action").map(String::as_str) {
        Some("AssumeRole") => {
            let role = form.get("RoleArn").cloned().unwrap_or_default();
            let allowed = {
                let trusted = endpoint.trusted.read().expect("lock");
                trusted
                    .get(&role)
                    .is_some_and(|id| form.get("ExternalId") == Some(id))
            };
            if !allowed {
                return error(StatusCode::FORBIDDEN, "AccessDenied");
            }
            let account = role.split(':').nth(4).unwrap_or("000000000000");
            let body = format!(
                "<AssumeRoleResponse xmlns=\"{NS}\"><AssumeRoleResult><Credentials><AccessKeyId>ASIA{account}</AccessKeyId><SecretAccessKey>bench</SecretAccessKey><SessionToken>bench</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROABENCH:s</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/Audit/s</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></AssumeRoleResponse>"
            );
            ([("content-type", "text/xml")], body).into_response()
        }
        Some("GetCallerIdentity") => {
            let account = session_account(&headers).unwrap_or("123456789012");
            let body = format!(
                "<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult><Arn>arn:aws:sts::{account}:assumed-role/Audit/s</Arn><UserId>AROABENCH:s</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            );
            ([("content-type", "text/xml")], body).into_response()
        }
        _ => error(StatusCode::BAD_REQUEST, "InvalidAction"),
    }
}
