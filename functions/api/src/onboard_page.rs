//! `/onboard/{token}`: the page a vendor's customer opens to connect an
//! AWS account, and the three things its token allows: reading the
//! account's onboarding details and status, and checking the connection.
//!
//! Server-rendered with maud (escaped by construction), with one small
//! script and one stylesheet served from here: the Content-Security-Policy
//! admits nothing inline and no other origin (but the tenant's logo, for
//! images). The token is in the path, so no page sends a Referer, none is
//! cached, none may be framed; a dead link answers 410 and names nothing.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, Markup, DOCTYPE};
use serde::Serialize;
use service::account::{Account, VerificationStatus};
use service::onboarding::{
    customer_message, fix_for, organization_fix_for, CHECK_INTERVAL_SECONDS,
};
use service::organizations::Organization;
use service::tenant::SupportContact;
use service::usecases::onboarding::{LinkGone, OpenedLink, Target};

const SCRIPT: &str = include_str!("../assets/onboard.js");
const STYLE: &str = include_str!("../assets/onboard.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// The page's routes: outside `/v1` and the OpenAPI document, reached
/// without an API key.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/onboard/{token}", get(page))
        .route("/onboard/{token}/status", get(status))
        .route("/onboard/{token}/check", post(check))
        .route("/onboard/{token}/template.yaml", get(template))
        .route(
            "/onboard/{token}/management-role.yaml",
            get(management_role),
        )
        .route("/onboard/{token}/stackset.yaml", get(stackset))
        .route("/onboard-assets/onboard.js", get(script))
        .route("/onboard-assets/onboard.css", get(style))
        .route("/onboard-assets/icon.svg", get(icon))
}

/// Whether `path` is one of the page's (the page, its downloads and assets).
fn is_page_path(path: &str) -> bool {
    path == "/onboard"
        || path.starts_with("/onboard/")
        || path.starts_with("/onboard-assets/")
        // The API reference gets the same headers.
        || path == "/docs"
        || path.starts_with("/docs/")
}

/// Every response under the page's paths, whoever answers it (a handler,
/// the path check's 400, the router's 404): no caching, no framing, no
/// Referer, no sniffing, and a policy that admits only this origin (a page
/// adds its logo's origin for images). Layered on the whole router, so no
/// answer of the page's paths leaves without them.
pub async fn page_headers(request: Request, next: Next) -> Response {
    let page = is_page_path(request.uri().path());
    let mut response = next.run(request).await;
    if !page {
        return response;
    }
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SELF_ONLY),
        );
    }
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// [`policy_with_images`] of `'self'`.
const SELF_ONLY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn policy_with_images(images: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// A name stored before names were held to one script, marked for the
/// customer rather than shown as if it were plain (issue 25 #11).
fn mixed_script_flag(name: &str) -> Markup {
    html! {
        @if !service::validation::is_single_script(name) {
            " "
            strong class="flag" { "(this name mixes writing systems: check it with whoever sent you this link)" }
        }
    }
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn icon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], ICON).into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn opened(state: &AppState, token: &str) -> Result<Result<OpenedLink, LinkGone>, ApiError> {
    Ok(state.onboarding().open(token).await?)
}

fn html_page(status: StatusCode, body: Markup, images: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.into_string(),
    )
        .into_response();
    if let Ok(policy) = HeaderValue::from_str(&policy_with_images(images)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// A dead link: the same page for an unknown, expired or revoked one.
fn gone() -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { "This link has expired" }
                link rel="stylesheet" href="/onboard-assets/onboard.css";
                link rel="icon" href="/onboard-assets/icon.svg" type="image/svg+xml";
            }
            body {
                main id="gone" class="card" {
                    h1 { "This link has expired" }
                    p { "Onboarding links last a few days and can be revoked. Ask whoever sent it for a new one." }
                }
            }
        }
    };
    html_page(StatusCode::GONE, body, "'self'")
}

/// `?wait=N`: the page after a check asked too soon (without script,
/// the form's answer), which says when the next one may run.
#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    wait: Option<u64>,
}

// Long: an HTML template (maud): the customer's page in reading order.
async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<PageQuery>,
    base_url: crate::PublicBase,
) -> Result<Response, ApiError> {
    let opened = match opened(&state, &token).await? {
        Ok(opened) => opened,
        Err(LinkGone) => return Ok(gone()),
    };
    let wait = query
        .wait
        .map(|seconds| seconds.min(CHECK_INTERVAL_SECONDS));
    let product = opened
        .settings
        .product_name
        .clone()
        .unwrap_or_else(|| "your vendor".to_string());
    let logo = opened.settings.logo_url.as_deref().and_then(|url| {
        service::tenant::logo_origin(url)
            .ok()
            .map(|origin| (url.to_string(), origin))
    });
    let contact = opened
        .settings
        .support_contact
        .as_deref()
        .and_then(|text| SupportContact::parse(text).ok());
    let base = format!("/onboard/{token}");
    let page = PageParts {
        product: &product,
        base: &base,
        wait,
    };
    let (title, content) = match &opened.target {
        Target::Account(account) => (
            "Connect your AWS account to ",
            account_steps(&state, &base_url, &opened, account, &page).await?,
        ),
        Target::Organization(organization) => (
            "Connect your AWS Organization to ",
            organization_steps(&state, &base_url, organization, &page).await?,
        ),
    };
    let expires = opened
        .link
        .expires_at
        .datetime()
        .format("%-d %B %Y, %H:%M UTC");
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) (product) }
                link rel="stylesheet" href="/onboard-assets/onboard.css";
                link rel="icon" href="/onboard-assets/icon.svg" type="image/svg+xml";
                script src="/onboard-assets/onboard.js" defer {}
            }
            body {
                main class="card" data-base=(base) {
                    header {
                        @if let Some((url, _)) = &logo {
                            img class="logo" src=(url) alt={ (product) " logo" };
                        }
                        h1 { (title) (product) }
                    }
                    (content)
                    footer {
                        p id="expiry" class="hint" { "This link works until " (expires) ". After that, ask " (product) " for a new one." }
                        p id="contact" class="hint" {
                            "Questions? "
                            @match &contact {
                                Some(contact) => { "Contact " (product) " at " a href=(contact.href()) rel="noopener noreferrer" { (contact.text()) } "." }
                                None => { "Ask whoever sent you this link." }
                            }
                        }
                    }
                }
            }
        }
    };
    let images = match &logo {
        Some((_, origin)) => format!("'self' {origin}"),
        None => "'self'".to_string(),
    };
    Ok(html_page(StatusCode::OK, body, &images))
}

/// What every step list needs of the page around it.
struct PageParts<'a> {
    product: &'a str,
    base: &'a str,
    /// Seconds until the next check may run, after one asked too soon.
    wait: Option<u64>,
}

/// What the role lets the vendor do, in the customer's terms.
fn access_granted(product: &str, policies: &[String], actions: &[String]) -> Markup {
    html! {
        section id="access" class="access" {
            h2 { "What " (product) " gets" }
            p { "Read-only access, through a role only " (product) " can use, and only with your external ID:" }
            ul {
                @for policy in policies {
                    li {
                        "the AWS managed policy " code { (policy) }
                        @if policy == "SecurityAudit" { ", which reads the configuration of your resources, not the data in them" }
                    }
                }
                li { code { "iam:GetRole" } " and " code { "iam:SimulatePrincipalPolicy" } " on this role alone, so " (product) " can check the role is set up as it should be" }
                @if !actions.is_empty() {
                    li {
                        "for the scans you agreed to: "
                        @for (i, action) in actions.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (action) }
                        }
                    }
                }
            }
            p class="hint" { "It can change nothing in your account. Delete the stack to take the access back at any time." }
        }
    }
}

/// The steps for one account: sign in, launch the stack (or download the
/// template), keep the external ID, check the connection.
async fn account_steps(
    state: &AppState,
    base_url: &crate::PublicBase,
    opened: &OpenedLink,
    account: &Account,
    page: &PageParts<'_>,
) -> Result<Markup, ApiError> {
    let PageParts { product, base, .. } = *page;
    let partition = account.fields.partition();
    let principal = state.principal_in(partition).await?;
    let role_name = state.settings.role_name.clone();
    let external_id = account.external_id_to_deploy();
    let template_url = crate::trust::template_url_in(state, base_url, partition);
    let console = service::role_template::console_url(
        partition,
        &template_url,
        &role_name,
        external_id,
        &principal,
    );
    let (_, attachments) = state
        .store
        .account_attachments(&opened.token.tenant, &account.account_id)
        .await?;
    let actions = service::aws::verification::role_actions(&state.catalogue, &attachments);
    let policies = service::role_template::managed_policies(None)?;
    let home = account
        .fields
        .regions
        .first()
        .map(String::as_str)
        .unwrap_or_else(|| service::partitions::home_region(partition));
    let status = ConnectionStatus::of_account(account);
    // A name made up when the account was reserved by its id alone says
    // nothing to the customer.
    let named = account.fields.name != service::account::reserved_name(&account.account_id);
    Ok(html! {
        dl class="account" {
            @if named {
                dt { "Account" }
                dd id="account-name" { (account.fields.name) (mixed_script_flag(&account.fields.name)) }
            }
            dt { "AWS account id" }
            dd id="account-id" { (account.account_id) }
        }
        (connected_banner(status.verified, product))
        (access_granted(product, &policies, &actions))
        ol class="steps" {
            li {
                h2 { "Sign in to AWS" }
                p { "Sign in to the AWS console of account " strong { (account.account_id) } " as someone who may create IAM roles and CloudFormation stacks." }
            }
            li {
                h2 { "Create the role" }
                p { "Launch the stack: it creates the role " code { (role_name) } ", which " (product) " may assume only with your external ID. Tick the IAM acknowledgement and press Create stack." }
                (launch_controls(partition, home, &console))
                div class="row" {
                    a id="download" class="button" href={ (base) "/template.yaml" } download="role.yaml" { "Download the template" }
                }
                p class="hint" { "Deploying with your own pipeline? Use the downloaded template: it already holds the external ID." }
            }
            li {
                h2 { "Keep the external ID" }
                p { "The stack is filled in with it. It is not a password, but the role trusts " (product) " only when it is given." }
                (external_id_row(external_id))
            }
            li {
                h2 { "Check the connection" }
                p { "Once the stack shows CREATE_COMPLETE, check that " (product) " can assume the role. After you launch the stack, this page also checks by itself every little while." }
                (check_block(&status, page))
            }
        }
    })
}

/// The region picker and the Launch Stack link it points (the script
/// follows the picker; without it, the link opens the home region).
fn launch_controls(partition: &str, home: &str, console: &str) -> Markup {
    let regions = service::regions::REGIONS
        .iter()
        .filter(|region| region.partition == partition);
    html! {
        div class="row" {
            label for="region" { "Region for the stack" }
            select id="region" name="region" {
                @for region in regions {
                    option value=(region.id) selected[region.id == home] {
                        (region.name) " (" (region.id) ")"
                    }
                }
            }
        }
        div class="row" {
            a id="launch" class="button primary" href=(service::role_template::in_region(console, home)) data-console=(console) target="_blank" rel="noopener noreferrer" { "Launch Stack" }
        }
    }
}

/// The external ID, whole at any width (it wraps), with a copy button.
fn external_id_row(external_id: &str) -> Markup {
    html! {
        div class="row" {
            label for="external-id" { "External ID" }
            output id="external-id" class="secret" { (external_id) }
            button id="copy" type="button" class="button" { "Copy" }
            span id="copied" class="hint" aria-live="polite" {}
        }
    }
}

/// The steps for an AWS Organization: the management role, the member
/// role in the management account itself (a StackSet does not reach it),
/// then a StackSet that puts the member role in every other account.
async fn organization_steps(
    state: &AppState,
    base_url: &crate::PublicBase,
    organization: &Organization,
    page: &PageParts<'_>,
) -> Result<Markup, ApiError> {
    let PageParts { product, base, .. } = *page;
    let status = ConnectionStatus::of_organization(organization);
    let partition = service::validation::role_arn("role_arn", &organization.role_arn)
        .map(|role| role.partition)
        .unwrap_or(service::partitions::COMMERCIAL);
    let principal = state.principal_in(partition).await?;
    let role_name = state.settings.role_name.clone();
    let external_id = organization.management_external_id();
    let console = service::role_template::console_url(
        partition,
        &crate::trust::template_url_in(state, base_url, partition),
        &role_name,
        &external_id,
        &principal,
    );
    let policies = service::role_template::managed_policies(None)?;
    let management = &organization.management_account_id;
    Ok(html! {
        dl class="account" {
            dt { "Organization" }
            dd id="account-name" { (organization.name) (mixed_script_flag(&organization.name)) }
            dt { "Management account" }
            dd id="account-id" { (management) }
            @if let Some(id) = &organization.aws_organization_id {
                dt { "AWS Organization id" }
                dd { (id) }
            }
        }
        (connected_banner(status.verified, product))
        (access_granted(product, &policies, &[]))
        ol class="steps" {
            li {
                h2 { "Sign in to the management account" }
                p { "Sign in to the AWS console of the management account " strong { (management) } " as someone who may create IAM roles, CloudFormation stacks and StackSets." }
            }
            li {
                h2 { "Create the management role" }
                p { "In CloudFormation, create a stack from this template (Create stack, Upload a template file). It creates a read-only role that lets " (product) " list the organization's accounts, and nothing else." }
                div class="row" {
                    a id="download-management" class="button primary" href={ (base) "/management-role.yaml" } download="management-role.yaml" { "Download the management-role template" }
                }
            }
            li {
                h2 { "Create the role in the management account" }
                p { "StackSets never deploy to the management account itself, so launch this stack there: it creates the role " code { (role_name) } " for account " (management) "." }
                (launch_controls(partition, service::partitions::home_region(partition), &console))
                (external_id_row(&external_id))
            }
            li {
                h2 { "Deploy the member role with a StackSet" }
                p { "In CloudFormation StackSets, create a StackSet from this template with service-managed permissions, deploy it to the organization's root (or the OUs " (product) " should cover) in one region, and turn automatic deployment on, so accounts added later get the role too. Each account's role trusts its own external ID, made from the organization's prefix and the account id." }
                div class="row" {
                    a id="download-stackset" class="button" href={ (base) "/stackset.yaml" } download="stackset.yaml" { "Download the StackSet template" }
                }
            }
            li {
                h2 { "Check the connection" }
                p { "Once the stacks and the StackSet's instances are complete, check: " (product) " reads the organization through the management role and connects each account." }
                (check_block(&status, page))
            }
        }
    })
}

fn connected_banner(verified: bool, product: &str) -> Markup {
    html! {
        div id="verified" class="banner ok" hidden[!verified] role="status" {
            strong { "Connected." }
            " The role works, so " (product) " can reach it and takes it from here. You can close this page."
        }
    }
}

fn check_block(status: &ConnectionStatus, page: &PageParts<'_>) -> Markup {
    html! {
        form id="check-form" class="row" method="post" action={ (page.base) "/check" } {
            button id="check" type="submit" class="button primary" { "Check connection" }
            span id="wait" class="hint" aria-live="polite" data-seconds=[page.wait] {
                @if let Some(seconds) = page.wait {
                    "Checks run at most every " (CHECK_INTERVAL_SECONDS) " seconds: check again in " (seconds) " s."
                }
            }
        }
        div id="result" class="result" role="status" aria-live="polite" {
            (result_markup(status))
        }
    }
}

/// The last check's result as the page shows it before any script runs
/// (the script writes the same lines).
fn result_markup(status: &ConnectionStatus) -> Markup {
    html! {
        @if status.status == ConnectionState::NotStarted {
            p { "Not checked yet." }
        } @else if status.verified {
            p class="ok" { "SUCCESS: " (status.message.clone().unwrap_or_default()) }
        } @else if status.pending {
            p { (status.status) ": " (status.message.clone().unwrap_or_default()) }
        } @else {
            p class="fail" { (status.status) @if let Some(code) = &status.code { " (" (code) ")" } ": " (status.message.clone().unwrap_or_default()) }
            @if let Some(fix) = status.fix { p class="fix" { "What to fix: " (fix) } }
        }
    }
}

/// Where the connection is: an account's verification status, or for an
/// organization its sync's progress and outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
enum ConnectionState {
    NotStarted,
    InProgress,
    Queued,
    Running,
    Success,
    Fail,
    TimedOut,
}

impl From<VerificationStatus> for ConnectionState {
    fn from(status: VerificationStatus) -> Self {
        match status {
            VerificationStatus::NotStarted => ConnectionState::NotStarted,
            VerificationStatus::InProgress => ConnectionState::InProgress,
            VerificationStatus::Success => ConnectionState::Success,
            VerificationStatus::Fail => ConnectionState::Fail,
            VerificationStatus::TimedOut => ConnectionState::TimedOut,
        }
    }
}

impl maud::Render for ConnectionState {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str(<&'static str>::from(*self));
    }
}

/// The connection as the page's script reads it.
#[derive(Debug, Serialize)]
struct ConnectionStatus {
    status: ConnectionState,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// What to fix, in a customer's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'static str>,
    verified: bool,
    /// A result is on its way: read the status again shortly.
    pending: bool,
}

impl ConnectionStatus {
    fn of_account(account: &Account) -> Self {
        let credential = &account.credential;
        let verified = credential.verification_status == VerificationStatus::Success;
        let failed = !verified && credential.verification_status != VerificationStatus::NotStarted;
        ConnectionStatus {
            status: credential.verification_status.into(),
            code: credential.verification_code.map(|c| c.as_str().to_string()),
            // The stored message speaks to the vendor (API paths, field
            // names); the page says what the code means to the customer.
            message: credential
                .verification_code
                .map(|code| customer_message(code).to_string()),
            fix: credential.verification_code.filter(|_| failed).map(fix_for),
            verified,
            pending: false,
        }
    }

    fn of_organization(organization: &Organization) -> Self {
        use service::organizations::{SyncRunStatus, SyncStatus};
        let running = match organization.sync_status {
            Some(SyncRunStatus::Queued) => Some(ConnectionState::Queued),
            Some(SyncRunStatus::Running) => Some(ConnectionState::Running),
            _ => None,
        };
        if let Some(status) = running {
            return ConnectionStatus {
                status,
                code: None,
                message: Some("reading the organization and connecting its accounts…".into()),
                fix: None,
                verified: false,
                pending: true,
            };
        }
        match &organization.last_sync {
            None => ConnectionStatus {
                status: ConnectionState::NotStarted,
                code: None,
                message: None,
                fix: None,
                verified: false,
                pending: false,
            },
            Some(sync) if sync.status == SyncStatus::Succeeded => ConnectionStatus {
                status: ConnectionState::Success,
                code: None,
                message: Some(format!(
                    "the management role works: {} accounts found, {} connected by this check.",
                    sync.members, sync.enrolled.count
                )),
                fix: None,
                verified: true,
                pending: false,
            },
            // The sync's own error speaks to the vendor; a refusal by the
            // management role is told in the customer's terms.
            Some(sync) => ConnectionStatus {
                status: ConnectionState::Fail,
                code: sync.role_refusal.map(|code| code.as_str().to_string()),
                message: match sync.role_refusal {
                    Some(_) => Some(format!(
                        "the management role in account {} could not be used.",
                        organization.management_account_id
                    )),
                    None => Some(
                        "the organization could not be read through the management role.".into(),
                    ),
                },
                fix: Some(organization_fix_for(sync.role_refusal)),
                verified: false,
                pending: false,
            },
        }
    }

    fn of_target(target: &Target) -> Self {
        match target {
            Target::Account(account) => ConnectionStatus::of_account(account),
            Target::Organization(organization) => ConnectionStatus::of_organization(organization),
        }
    }
}

fn gone_json() -> Response {
    ApiError::new(
        StatusCode::GONE,
        "link_expired",
        "this onboarding link has expired or was revoked; ask for a new one",
    )
    .into_response()
}

async fn status(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    match opened(&state, &token).await? {
        Ok(opened) => Ok(Json(ConnectionStatus::of_target(&opened.target)).into_response()),
        Err(LinkGone) => Ok(gone_json()),
    }
}

/// Whether a check came from the page's form (no script): it is answered
/// with the page, the fetch of the script with JSON.
fn from_form(headers: &axum::http::HeaderMap) -> bool {
    crate::body::media_type(headers)
        .1
        .is_some_and(|media| media.essence == "application/x-www-form-urlencoded")
}

async fn check(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let form = from_form(&headers);
    let opened = match opened(&state, &token).await? {
        Ok(opened) => opened,
        Err(LinkGone) if form => return Ok(gone()),
        Err(LinkGone) => return Ok(gone_json()),
    };
    let checked = state
        .onboarding()
        .check(&opened, &state.verifier, &state.settings, &state.catalogue)
        .await?;
    if form {
        // Post, redirect, get: the page shows the result (or when to try
        // again), and reloading it does not post again.
        let page = format!("/onboard/{token}");
        let location = match checked {
            Some(_) => page,
            None => format!("{page}?wait={CHECK_INTERVAL_SECONDS}"),
        };
        return Ok(axum::response::Redirect::to(&location).into_response());
    }
    match checked {
        Some(target) => Ok(Json(ConnectionStatus::of_target(&target)).into_response()),
        None => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "check_too_soon",
                format!("a connection check runs at most every {CHECK_INTERVAL_SECONDS} seconds per link; wait and try again"),
            )
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(CHECK_INTERVAL_SECONDS),
            );
            Ok(response)
        }
    }
}

async fn template(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let opened = match opened(&state, &token).await? {
        Ok(opened) => opened,
        Err(LinkGone) => return Ok(gone()),
    };
    let Target::Account(account) = &opened.target else {
        return Ok(gone());
    };
    let policies = service::role_template::managed_policies(None)?;
    let yaml = crate::trust::account_role_template(
        &state,
        &opened.token.tenant,
        &account.account_id,
        &policies,
    )
    .await?;
    Ok(download(yaml, "role.yaml"))
}

/// The organization a live organization link opens; an account's link, or
/// a dead one, is the 410 page.
async fn opened_organization(
    state: &AppState,
    token: &str,
) -> Result<Result<Box<Organization>, Response>, ApiError> {
    Ok(match opened(state, token).await? {
        Ok(OpenedLink {
            target: Target::Organization(organization),
            ..
        }) => Ok(organization),
        _ => Err(gone()),
    })
}

async fn management_role(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let organization = match opened_organization(&state, &token).await? {
        Ok(organization) => organization,
        Err(gone) => return Ok(gone),
    };
    let yaml = crate::organizations::management_role_yaml(&state, &organization).await?;
    Ok(download(yaml, "management-role.yaml"))
}

async fn stackset(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let organization = match opened_organization(&state, &token).await? {
        Ok(organization) => organization,
        Err(gone) => return Ok(gone),
    };
    let policies = service::role_template::managed_policies(None)?;
    let yaml = crate::organizations::stackset_yaml(&state, &organization, &policies).await?;
    Ok(download(yaml, "stackset.yaml"))
}

fn download(yaml: String, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response = (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        yaml,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
