//! A customer following the onboarding page: the Launch Stack link read
//! from the page, its template fetched from where the link says, and the
//! stack created in the customer's account in the emulator.

use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The customer's side of the emulator: CloudFormation for its stacks, IAM
/// for what else is in its account.
#[derive(Clone)]
pub struct CustomerCloud {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub iam: aws_sdk_iam::Client,
}

impl CustomerCloud {
    pub fn new(sdk: &aws_types::SdkConfig) -> Self {
        CustomerCloud {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
        }
    }

    /// An IAM user without MFA in `account`, so that a scan of a dev
    /// customer finds something (`IAM_USER_WITHOUT_MFA`); kept if there.
    pub async fn plant_user_without_mfa(&self, account: &str) -> Result<(), Error> {
        let account = account.to_string();
        let created = self
            .iam
            .create_user()
            .user_name(DEV_USER)
            .customize()
            .mutate_request(move |request| {
                request
                    .headers_mut()
                    .insert("x-moto-account-id", account.clone());
            })
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_entity_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// The IAM user without MFA every dev customer account gets.
pub const DEV_USER: &str = "dev-no-mfa";

/// The sample customer account `make dev` registers (not the README's
/// example account, which the README's first request registers).
pub const SAMPLE_ACCOUNT: &str = "111122223333";

/// What a CloudFormation quick-create link asks the console to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickCreate {
    pub template_url: String,
    pub stack_name: String,
    /// `param_<Name>=<value>` pairs, in the link's order.
    pub parameters: Vec<(String, String)>,
    /// The console's region (`?region=`), if the link names one.
    pub region: Option<String>,
}

impl QuickCreate {
    /// Read a console link such as
    /// `https://console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?templateURL=...`.
    pub fn parse(link: &str) -> Option<QuickCreate> {
        let (before, fragment) = link.split_once('#')?;
        let query = fragment.strip_prefix("/stacks/quickcreate?")?;
        let region = before.split_once('?').and_then(|(_, query)| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .ok()?
                .into_iter()
                .find(|(name, _)| name == "region")
                .map(|(_, value)| value)
        });
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        Some(QuickCreate {
            template_url: value("templateURL")?,
            stack_name: value("stackName")?,
            parameters: pairs
                .iter()
                .filter_map(|(key, value)| {
                    key.strip_prefix("param_")
                        .map(|name| (name.to_string(), value.clone()))
                })
                .collect(),
            region,
        })
    }
}

/// The `href` of the page's element with `id` (an `<a>` as maud writes it:
/// `id` before `href`), unescaped.
pub fn link_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let tag = &html[start..start + html[start..].find('>')?];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    Some(
        href.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// What creating a stack came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Created: its stack id.
    Created(String),
    /// A stack of that name was there already (left as it is).
    AlreadyThere,
}

/// Create `stack_name` from `template` with `parameters` in `account`
/// (moto picks the account from `x-moto-account-id`), as the console's
/// Create stack does once the IAM acknowledgement is ticked.
pub async fn create_stack(
    cloudformation: &aws_sdk_cloudformation::Client,
    account: &str,
    stack_name: &str,
    template: &str,
    parameters: &[(String, String)],
) -> Result<Launch, Error> {
    use aws_sdk_cloudformation::types::{Capability, Parameter};
    let account = account.to_string();
    let in_account = move |request: &mut aws_sdk_cloudformation::config::http::HttpRequest| {
        request
            .headers_mut()
            .insert("x-moto-account-id", account.clone());
    };
    let created = cloudformation
        .create_stack()
        .stack_name(stack_name)
        .template_body(template)
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(key, value)| {
                    Parameter::builder()
                        .parameter_key(key)
                        .parameter_value(value)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityNamedIam)
        .customize()
        .mutate_request(in_account.clone())
        .send()
        .await;
    let created = match created {
        Ok(created) => created,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            return Ok(Launch::AlreadyThere)
        }
        Err(err) => return Err(err.into()),
    };
    let stack_id = created.stack_id().unwrap_or(stack_name).to_string();
    // moto creates a stack at once; a real one takes a minute or so.
    for _ in 0..60 {
        let described = cloudformation
            .describe_stacks()
            .stack_name(&stack_id)
            .customize()
            .mutate_request(in_account.clone())
            .send()
            .await?;
        let status = described
            .stacks()
            .first()
            .and_then(|stack| stack.stack_status())
            .map(|status| status.as_str().to_string())
            .unwrap_or_default();
        if status.ends_with("_COMPLETE") || status.ends_with("_FAILED") {
            if status != "CREATE_COMPLETE" {
                return Err(format!("stack {stack_name}: {status}").into());
            }
            return Ok(Launch::Created(stack_id));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(format!("stack {stack_name} was not created in 30 s").into())
}

/// Call the API as a client would (through the router, no network).
pub async fn call(
    app: &axum::Router,
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Vec<u8>), Error> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(axum::body::Body::from(
        body.map(|b| b.to_string()).unwrap_or_default(),
    ))?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    Ok((status, bytes.to_vec()))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_default()
}

/// The path of a URL this API serves (`public_base` + path).
fn served_path<'a>(url: &'a str, public_base: &str) -> Result<&'a str, Error> {
    url.strip_prefix(public_base)
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| {
            format!("{url} is not served by this API ({public_base}): upload it to S3 and set ROLE_TEMPLATE_URL only in AWS").into()
        })
}

/// The customer's part, from a page path: read the page's Launch Stack
/// link, fetch the template it names from this API, and create the stack
/// in `account`. Returns what the link asked for and what came of it.
pub async fn launch_stack_from_page(
    app: &axum::Router,
    cloud: &CustomerCloud,
    public_base: &str,
    page_path: &str,
    account: &str,
) -> Result<(QuickCreate, Launch), Error> {
    let (status, page) = call(app, Method::GET, page_path, None, None).await?;
    if status != StatusCode::OK {
        return Err(format!("the onboarding page answered {status}").into());
    }
    let html = String::from_utf8(page)?;
    let link = link_of(&html, "launch").ok_or("the page has no Launch Stack link")?;
    let quick =
        QuickCreate::parse(&link).ok_or_else(|| format!("not a quick-create link: {link}"))?;
    let (status, template) = call(
        app,
        Method::GET,
        served_path(&quick.template_url, public_base)?,
        None,
        None,
    )
    .await?;
    if status != StatusCode::OK {
        return Err(format!("the template {} answered {status}", quick.template_url).into());
    }
    let launch = create_stack(
        &cloud.cloudformation,
        account,
        &quick.stack_name,
        &String::from_utf8(template)?,
        &quick.parameters,
    )
    .await?;
    cloud.plant_user_without_mfa(account).await?;
    Ok((quick, launch))
}

/// `POST /dev/launch-stack` (the dev server only, no key): be the customer
/// of an onboarding link: open its page and launch the stack its Launch
/// Stack link names into moto, in the link's account. For the README's
/// walk-through, where no one else plays the customer.
pub fn launch_stack_route(
    app: axum::Router,
    cloud: CustomerCloud,
    public_base: String,
) -> axum::Router {
    use axum::response::IntoResponse;
    let handler = move |axum::Json(body): axum::Json<Value>| {
        let (app, cloud, public_base) = (app.clone(), cloud.clone(), public_base.clone());
        async move {
            let refuse = |status: StatusCode, message: String| {
                (
                    status,
                    axum::Json(json!({"error": {"code": "launch_failed", "message": message}})),
                )
                    .into_response()
            };
            let Some(url) = body["url"].as_str() else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "give {\"url\": \"<an onboarding link>\"}".into(),
                );
            };
            let path = url.strip_prefix(&public_base).unwrap_or(url);
            let token = path.strip_prefix("/onboard/").unwrap_or_default();
            let Some(token) = service::onboarding::Token::parse(token) else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("{url} is not an onboarding link of this server"),
                );
            };
            let account = token.subject.id().to_string();
            match launch_stack_from_page(&app, &cloud, &public_base, path, &account).await {
                Ok((quick, launch)) => axum::Json(json!({
                    "account_id": account,
                    "stack_name": quick.stack_name,
                    "created": matches!(launch, Launch::Created(_)),
                }))
                .into_response(),
                Err(err) => refuse(StatusCode::BAD_GATEWAY, err.to_string()),
            }
        }
    };
    axum::Router::new().route("/dev/launch-stack", axum::routing::post(handler))
}

/// What `make dev` prints: the sample customer's onboarding link.
pub struct SampleCustomer {
    pub account: String,
    pub url: String,
    /// Whether its stack was launched now (not on a restart against
    /// emulators that kept it).
    pub launched: bool,
}

/// Register the sample customer `account` (`make dev`: [`SAMPLE_ACCOUNT`];
/// no role given: the page's role is the one assumed), make a link to its
/// page, and play the customer: launch the stack the page links to. A
/// second run keeps what exists.
pub async fn sample_customer(
    app: &axum::Router,
    key: &str,
    cloud: &CustomerCloud,
    public_base: &str,
    account: &str,
) -> Result<SampleCustomer, Error> {
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/accounts",
        Some(key),
        Some(json!({
            "account_id": account,
            "name": "Sample customer (dev)",
            "regions": ["us-east-1"],
        })),
    )
    .await?;
    if !status.is_success() && status != StatusCode::CONFLICT {
        return Err(format!(
            "registering the sample account: {status} {}",
            json_of(&body)
        )
        .into());
    }
    let (status, body) = call(
        app,
        Method::POST,
        &format!("/v1/accounts/{account}/onboarding-links"),
        Some(key),
        Some(json!({"expires_in_days": 1})),
    )
    .await?;
    let link = json_of(&body);
    let (Some(url), Some(path)) = (link["url"].as_str(), link["path"].as_str()) else {
        return Err(format!("creating its onboarding link: {status} {link}").into());
    };
    let (_, launch) = launch_stack_from_page(app, cloud, public_base, path, account).await?;
    let launched = matches!(launch, Launch::Created(_));
    Ok(SampleCustomer {
        account: account.to_string(),
        url: url.to_string(),
        launched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_create_link_reads_back() {
        let link = "https://console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?templateURL=https%3A%2F%2Fb.s3.amazonaws.com%2Frole.yaml&stackName=AccountOnboardingAudit&param_RoleName=AccountOnboardingAudit&param_ExternalId=abc%2B1&param_VendorPrincipal=arn%3Aaws%3Aiam%3A%3A1%3Aroot";
        let quick = QuickCreate::parse(link).unwrap();
        assert_eq!(quick.template_url, "https://b.s3.amazonaws.com/role.yaml");
        assert_eq!(quick.stack_name, "AccountOnboardingAudit");
        assert_eq!(quick.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            quick.parameters,
            [
                ("RoleName".into(), "AccountOnboardingAudit".into()),
                ("ExternalId".into(), "abc+1".into()),
                ("VendorPrincipal".into(), "arn:aws:iam::1:root".into()),
            ]
        );
        assert!(QuickCreate::parse("https://example.com/#/stacks/create").is_none());
    }

    #[test]
    fn a_link_is_found_by_id_and_unescaped() {
        let html = r#"<p><a id="launch" class="button" href="https://x/?a=1&amp;b=2" target="_blank">Launch</a><a id="other" href="/no">"#;
        assert_eq!(link_of(html, "launch").unwrap(), "https://x/?a=1&b=2");
        assert_eq!(link_of(html, "missing"), None);
    }
}
