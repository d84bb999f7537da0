//! An AWS Organizations endpoint for the benchmark and the capacity test: the real JSON protocol
//! (awsJson1_1) of the calls a sync makes (DescribeOrganization,
//! ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent,
//! paged by 20 as AWS does), a fixed injected latency, and an organization
//! of `members` accounts spread over `ous` OUs under the root.
//!
//! Why not moto here: moto builds an IAM backend (with every AWS managed
//! policy) for each account it knows the first time STS looks a caller up,
//! which for 1,000 accounts takes minutes and gigabytes; the bench would
//! measure that.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const ROOT: &str = "r-bnch";
const PAGE: usize = 20;

struct Organization {
    management: String,
    ous: Vec<String>,
    /// (account id, OU index or None for the root).
    accounts: Vec<(String, Option<usize>)>,
    latency: Duration,
    calls: AtomicU64,
}

#[derive(Clone)]
pub struct OrganizationsEndpoint {
    inner: Arc<Organization>,
    pub url: String,
}

impl OrganizationsEndpoint {
    /// Members get ids `base + i`; the management account sits under the root.
    pub async fn start(
        management: &str,
        members: usize,
        ous: usize,
        base: u64,
        latency: Duration,
    ) -> Self {
        let mut accounts = vec![(management.to_string(), None)];
        accounts.extend((0..members).map(|i| (format!("{:012}", base + i as u64), Some(i % ous))));
        let inner = Arc::new(Organization {
            management: management.to_string(),
            ous: (0..ous).map(|i| format!("ou-bnch-{i:08}")).collect(),
            accounts,
            latency,
            calls: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new()
            .fallback(axum::routing::post(handle))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        OrganizationsEndpoint { inner, url }
    }

    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Every account id, the management account's first.
    pub fn account_ids(&self) -> Vec<String> {
        self.inner
            .accounts
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// One page of `items` from the `NextToken` (an offset) of `request`.
fn page(items: Vec<Value>, request: &Value) -> (Vec<Value>, Option<String>) {
    let start: usize = request["NextToken"]
        .as_str()
        .and_then(|token| token.parse().ok())
        .unwrap_or(0);
    let end = (start + PAGE).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    (items[start.min(end)..end].to_vec(), next)
}

async fn handle(
    State(organization): State<Arc<Organization>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    organization.calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(organization.latency).await;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_string();
    let parent = request["ParentId"].as_str().unwrap_or("");
    let ou_index = organization.ous.iter().position(|ou| ou == parent);
    let answer = match target.as_str() {
        "DescribeOrganization" => json!({"Organization": {
            "Id": "o-bench00000", "Arn": "arn:aws:organizations::000000000000:organization/o-bench00000",
            "FeatureSet": "ALL", "MasterAccountId": organization.management,
            "MasterAccountArn": format!("arn:aws:organizations::{}:account/o-bench00000/{}", organization.management, organization.management),
            "MasterAccountEmail": "management@example.com",
        }}),
        "ListRoots" => {
            json!({"Roots": [{"Id": ROOT, "Arn": "arn:aws:organizations::0:root/o-bench00000/r-bnch", "Name": "Root"}]})
        }
        "ListOrganizationalUnitsForParent" => {
            let children: Vec<Value> = if parent == ROOT {
                organization
                    .ous
                    .iter()
                    .map(|ou| json!({"Id": ou, "Arn": format!("arn:aws:organizations::0:ou/o-bench00000/{ou}"), "Name": ou}))
                    .collect()
            } else {
                Vec::new()
            };
            let (items, next) = page(children, &request);
            json!({"OrganizationalUnits": items, "NextToken": next})
        }
        "ListAccountsForParent" => {
            let accounts: Vec<Value> = organization
                .accounts
                .iter()
                .filter(|(_, ou)| match ou {
                    None => parent == ROOT,
                    Some(index) => Some(*index) == ou_index,
                })
                .map(|(id, _)| {
                    json!({
                        "Id": id, "Arn": format!("arn:aws:organizations::0:account/o-bench00000/{id}"),
                        "Email": format!("aws+{id}@example.com"), "Name": format!("member {id}"),
                        "Status": "ACTIVE", "JoinedMethod": "CREATED", "JoinedTimestamp": 1.7e9,
                    })
                })
                .collect();
            let (items, next) = page(accounts, &request);
            json!({"Accounts": items, "NextToken": next})
        }
        other => return (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"__type": "InvalidInputException", "Message": format!("not served: {other}")})
                .to_string(),
        )
            .into_response(),
    };
    let mut answer = answer;
    if let Some(object) = answer.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    (
        [("content-type", "application/x-amz-json-1.1")],
        answer.to_string(),
    )
        .into_response()
}

/// Organizations' endpoint for the SDK (the others take the config's).
#[derive(Debug)]
pub struct OrganizationsAt(pub String);

impl aws_types::service_config::LoadServiceConfig for OrganizationsAt {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "Organizations" && key.env() == "AWS_ENDPOINT_URL")
            .then(|| self.0.clone())
    }
}
