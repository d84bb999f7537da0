//! The HTTP API: an axum router that Lambda runs through `lambda_http` and
//! the dev server runs on 127.0.0.1. Handlers are thin: parse, authorise,
//! call the service crate (use cases), map errors in one place ([`error::ApiError`]).

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod body;
pub mod bulk;
pub mod constraints;
pub mod dialects;
pub mod docs;
pub mod error;
pub mod idempotency;
pub mod key_cache;
pub mod onboard_page;
pub mod onboarding_links;
pub mod organizations;
pub mod path;
pub mod query;
pub mod rate_limit;
pub mod scanner_results;
pub mod scans;
pub mod settings;
pub mod suppression_rules;
pub mod trust;
pub mod webhooks;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, RawPathParams, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Router;
use error::ApiError;
use service::aws::jobs::JobQueue;
use service::aws::store::Store;
use service::aws::verification::{RoleVerifier, VerificationSettings};
use service::scans::Catalogue;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub verifier: RoleVerifier,
    pub settings: Arc<VerificationSettings>,
    /// The data sources offered.
    pub catalogue: Arc<Catalogue>,
    /// Where scan jobs go; without one, scan requests answer 503.
    pub scan_queue: Option<JobQueue>,
    /// The vendor principal, resolved once (config, else GetCallerIdentity).
    vendor_principal: Arc<tokio::sync::OnceCell<String>>,
    /// Accounts one search or export request reads at most.
    pub search_read_budget: usize,
    /// Per-key request rates; `None`: no limit (the dev server's default).
    pub key_limiter: Option<Arc<rate_limit::KeyLimiter>>,
    /// Failed authentications per key id and source, always limited.
    pub auth_failures: Arc<rate_limit::AuthFailures>,
    /// Key records read lately (`API_KEY_CACHE_SECONDS`); `None`: none kept.
    pub key_cache: Option<Arc<key_cache::KeyCache>>,
    /// Webhook endpoints may be plain http on loopback (the dev server).
    pub allow_loopback_webhooks: bool,
    /// Where redeliveries go; without one, redeliver answers 503.
    pub delivery_queue: Option<service::aws::deliveries::DeliveryQueue>,
    /// Where organization syncs go; without one, sync answers 503.
    pub organization_sync_queue: Option<JobQueue>,
    /// This API's public origin (`PUBLIC_URL`): links and template URLs
    /// are made from it, never from a request's Host header ([`PublicBase`]).
    pub public_url: Option<Arc<str>>,
    /// The products whose account APIs (dialects) are served beside `/v1`.
    pub dialects: Arc<[service::products::Product]>,
    /// The OpenAPI document and the reference page, each rendered once
    /// for this state's data sources.
    documents: Arc<Documents>,
}

#[derive(Default)]
struct Documents {
    json: std::sync::OnceLock<axum::body::Bytes>,
    page: std::sync::OnceLock<String>,
}

impl AppState {
    /// The document as served, for the data sources this state offers.
    fn document(&self) -> serde_json::Value {
        openapi_with_webhooks(&self.catalogue, &self.settings)
    }
}

impl AppState {
    pub fn new(store: Store, verifier: RoleVerifier, settings: VerificationSettings) -> Self {
        AppState {
            store,
            verifier,
            settings: Arc::new(settings),
            catalogue: Arc::new(Catalogue::default()),
            scan_queue: None,
            vendor_principal: Arc::default(),
            search_read_budget: service::search::DEFAULT_READ_BUDGET,
            key_limiter: None,
            auth_failures: Arc::default(),
            key_cache: None,
            allow_loopback_webhooks: false,
            delivery_queue: None,
            organization_sync_queue: None,
            public_url: None,
            dialects: <service::products::Product as strum::VariantArray>::VARIANTS.into(),
            documents: Arc::default(),
        }
    }

    /// Limit each API key to this rate (per instance; see [`rate_limit`]).
    pub fn with_key_rate(mut self, rate: Option<rate_limit::KeyRate>) -> Self {
        self.key_limiter = rate.map(|rate| Arc::new(rate_limit::KeyLimiter::new(rate)));
        self
    }

    /// Read at most this many accounts per search request (at least 1).
    pub fn with_search_read_budget(mut self, budget: usize) -> Self {
        self.search_read_budget = budget.max(1);
        self
    }

    /// Offer these data sources and send scan jobs to this queue.
    pub fn with_scans(mut self, catalogue: Catalogue, queue: JobQueue) -> Self {
        self.catalogue = Arc::new(catalogue);
        self.scan_queue = Some(queue);
        self
    }

    /// Built from the composition root: every client and setting, once.
    pub fn from_services(services: &service::runtime::config::Services) -> Self {
        let config = &services.config;
        AppState {
            store: services.store.clone(),
            verifier: services.verifier.clone(),
            settings: services.verification.clone(),
            catalogue: services.catalogue.clone(),
            scan_queue: services.scan_queue.clone(),
            vendor_principal: Arc::default(),
            search_read_budget: service::search::DEFAULT_READ_BUDGET,
            key_limiter: None,
            auth_failures: Arc::default(),
            key_cache: None,
            allow_loopback_webhooks: config.webhook_allow_loopback_http,
            delivery_queue: services.delivery_queue.clone(),
            organization_sync_queue: services.organization_sync_queue.clone(),
            public_url: config.public_url.as_deref().map(Arc::from),
            dialects: <service::products::Product as strum::VariantArray>::VARIANTS
                .iter()
                .filter(|product| !config.dialects_off.contains(product))
                .copied()
                .collect(),
            documents: Arc::default(),
        }
        .with_key_rate(rate_limit::KeyRate::from_config(config))
        .with_search_read_budget(config.search_read_budget as usize)
        .with_key_cache(std::time::Duration::from_secs(config.api_key_cache_seconds))
    }

    /// Keep key records this long after reading them (zero: none kept).
    pub fn with_key_cache(mut self, ttl: std::time::Duration) -> Self {
        self.key_cache = key_cache::KeyCache::new(ttl).map(Arc::new);
        self
    }

    /// Make links and template URLs from `origin` (`PUBLIC_URL`).
    pub fn with_public_url(mut self, origin: &str) -> Self {
        self.public_url = Some(Arc::from(origin));
        self
    }

    /// The account use cases over this state's clients.
    pub fn accounts(&self) -> service::usecases::accounts::Accounts<'_> {
        service::usecases::accounts::Accounts {
            store: &self.store,
            settings: &self.settings,
        }
    }

    /// The organization use cases over this state's clients.
    pub fn organizations(&self) -> service::usecases::organizations::Organizations<'_> {
        service::usecases::organizations::Organizations {
            store: &self.store,
            settings: &self.settings,
        }
    }

    /// The webhook use cases over this state's clients.
    pub fn webhooks(&self) -> service::usecases::webhooks::Webhooks<'_> {
        service::usecases::webhooks::Webhooks {
            store: &self.store,
            allow_loopback_http: self.allow_loopback_webhooks,
        }
    }

    /// Onboarding links and their page, over this state's store.
    pub fn onboarding(&self) -> service::usecases::onboarding::Onboarding<'_> {
        service::usecases::onboarding::Onboarding {
            store: &self.store,
            organization_sync_queue: self.organization_sync_queue.as_ref(),
        }
    }

    /// The tenant's suppression rules, over this state's store.
    pub fn suppression_rules(&self) -> service::usecases::suppression_rules::SuppressionRules<'_> {
        service::usecases::suppression_rules::SuppressionRules {
            store: &self.store,
            catalogue: &self.catalogue,
        }
    }

    /// What external scanners report, over this state's clients.
    pub fn external_scans(&self) -> service::usecases::external_scans::ExternalScans<'_> {
        service::usecases::external_scans::ExternalScans {
            store: &self.store,
            catalogue: &self.catalogue,
        }
    }

    /// The scanning use cases over this state's clients.
    pub fn scanning(&self) -> service::usecases::scans::Scanning<'_> {
        service::usecases::scans::Scanning {
            store: &self.store,
            catalogue: &self.catalogue,
            settings: &self.settings,
            verifier: &self.verifier,
            queue: self.scan_queue.as_ref(),
        }
    }

    /// The principal customer roles in `partition` must trust: that
    /// partition's from `PARTITIONS`, or in `aws` [`Self::vendor_principal`];
    /// a 409 naming the partition when the service has none there.
    pub async fn principal_in(&self, partition: &str) -> Result<String, ApiError> {
        if partition == service::partitions::COMMERCIAL {
            return self.vendor_principal().await;
        }
        match self.settings.partition(partition) {
            Some(setting) => Ok(setting.vendor_principal.clone()),
            None => Err(service::Error::Refused {
                code: "partition_not_served",
                message: format!("this service has no principal in partition {partition}; its operator adds one to PARTITIONS"),
            }
            .into()),
        }
    }

    /// The principal customer roles must trust: `VENDOR_PRINCIPAL`, else the
    /// root of the account this service runs in.
    pub async fn vendor_principal(&self) -> Result<String, ApiError> {
        self.vendor_principal
            .get_or_try_init(|| async {
                if let Some(principal) = &self.settings.vendor_principal {
                    return Ok(principal.clone());
                }
                let account = self.verifier.own_account().await.map_err(|detail| {
                    tracing::error!(error = %detail, "cannot resolve the vendor account");
                    ApiError::from(service::Error::unavailable(detail))
                })?;
                Ok(format!("arn:aws:iam::{account}:root"))
            })
            .await
            .cloned()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AWS account onboarding API",
        description = "Register customer AWS accounts, hand out cross-account roles guarded by server-generated external IDs, verify them and run scans.",
        version = env!("CARGO_PKG_VERSION"),
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Customer AWS accounts"),
        (name = "trust", description = "Cross-account roles: templates, verification, external-ID rotation"),
        (name = "scans", description = "Data sources, attachments, scans, account actions, regions and findings"),
        (name = "scanners", description = "External scanners report back: pages of findings, then the end of a scan (scanner credentials only)"),
        (name = "api-keys", description = "The tenant's API keys (scope admin)"),
        (name = "audit", description = "The tenant's audit log, from the table's stream"),
        (name = "webhooks", description = "The tenant's webhook endpoints (scope admin)"),
        (name = "organizations", description = "AWS Organizations onboarded as a whole: one registration, a StackSet, per-member external IDs"),
        (name = "meta", description = "The API itself"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "scanner",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A data source's scanner credential, osc_..."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Routes and their OpenAPI description, registered together so that no
/// route can be missing from the document.
// Long: the route table, one line per operation.
fn routes() -> (Router<AppState>, OpenApiDocument) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(accounts::create_account, accounts::list_accounts))
        .routes(routes!(
            accounts::get_account,
            accounts::replace_account,
            accounts::patch_account,
            accounts::delete_account
        ))
        .routes(routes!(bulk::search_accounts))
        .routes(routes!(bulk::batch_delete))
        .routes(routes!(bulk::import_template))
        .routes(routes!(bulk::import_accounts))
        .routes(routes!(bulk::export_accounts))
        .routes(routes!(accounts::archive_account))
        .routes(routes!(accounts::unarchive_account))
        .routes(routes!(accounts::linked_accounts))
        .routes(routes!(trust::verify_account))
        .routes(routes!(trust::validate_roles))
        .routes(routes!(trust::list_verifications))
        .routes(routes!(trust::access_log))
        .routes(routes!(trust::rotate_external_id))
        .routes(routes!(trust::cancel_pending_external_id))
        .routes(routes!(trust::cancel_pending_role))
        .routes(routes!(
            settings::get_settings,
            settings::put_settings,
            settings::patch_settings
        ))
        .routes(routes!(trust::cloud_provider))
        .routes(routes!(trust::iam_parameters, trust::reserve_account))
        .routes(routes!(trust::account_template))
        .routes(routes!(trust::generic_template))
        .routes(routes!(scans::list_data_sources))
        .routes(routes!(scans::attachments_of_source))
        .routes(routes!(scans::list_attachments))
        .routes(routes!(scans::get_attachment, scans::attach, scans::detach))
        .routes(routes!(scans::start_scan, scans::list_scans))
        .routes(routes!(scans::get_scan))
        .routes(routes!(scans::list_account_scans))
        .routes(routes!(scans::account_actions))
        .routes(routes!(scans::account_regions))
        .routes(routes!(scans::list_findings))
        .routes(routes!(scans::findings_summary))
        .routes(routes!(scans::tenant_findings))
        .routes(routes!(scans::suppress_finding, scans::lift_suppression))
        .routes(routes!(
            suppression_rules::create_suppression_rule,
            suppression_rules::list_suppression_rules
        ))
        .routes(routes!(suppression_rules::delete_suppression_rule))
        .routes(routes!(
            onboarding_links::create_onboarding_link,
            onboarding_links::list_onboarding_links
        ))
        .routes(routes!(onboarding_links::revoke_onboarding_link))
        .routes(routes!(
            onboarding_links::create_organization_link,
            onboarding_links::list_organization_links
        ))
        .routes(routes!(onboarding_links::revoke_organization_link))
        .routes(routes!(scanner_results::upload_results))
        .routes(routes!(scanner_results::complete_scan))
        .routes(routes!(api_keys::create_api_key, api_keys::list_api_keys))
        .routes(routes!(api_keys::get_api_key, api_keys::revoke_api_key))
        .routes(routes!(api_keys::create_alias))
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::update_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(
            organizations::register_organization,
            organizations::list_organizations
        ))
        .routes(routes!(
            organizations::get_organization,
            organizations::update_organization,
            organizations::delete_organization
        ))
        .routes(routes!(organizations::archive_organization))
        .routes(routes!(organizations::unarchive_organization))
        .routes(routes!(organizations::sync_organization))
        .routes(routes!(organizations::stackset_template))
        .routes(routes!(organizations::management_role_template))
        .routes(routes!(organizations::rotate_external_id_prefix))
        .routes(routes!(organizations::cancel_external_id_prefix_rotation))
        .routes(routes!(openapi_json))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of this API offering the built-in data
/// sources in the commercial partition, with every field's constraints
/// stated ([`constraints`]).
pub fn openapi() -> serde_json::Value {
    openapi_offering(&Catalogue::default(), &[service::partitions::COMMERCIAL])
}

/// The document of a deployment offering `catalogue`'s data sources and
/// serving roles in `partitions`.
pub fn openapi_offering(catalogue: &Catalogue, partitions: &[&str]) -> serde_json::Value {
    let mut typed = routes().1;
    document_common_errors(&mut typed);
    let mut document = serde_json::to_value(typed).unwrap_or_default();
    let names: Vec<&str> = catalogue.all().iter().map(|s| s.name.as_str()).collect();
    let deployment = constraints::Deployment {
        data_sources: &names,
        partitions,
    };
    if let Err(missing) = constraints::state(&mut document, &deployment) {
        // A test keeps this list empty; a stale rule must not stop the API.
        tracing::error!(?missing, "constraints name fields the document lacks");
    }
    document
}

/// The document as served: [`openapi`] and the OpenAPI 3.1 `webhooks`
/// section (which utoipa does not model), one entry per event type with
/// its summary, the signature headers and an example payload.
pub fn openapi_with_webhooks(
    catalogue: &Catalogue,
    settings: &VerificationSettings,
) -> serde_json::Value {
    use serde_json::json;
    use service::events::EventType;
    use strum::VariantArray;
    let partitions: Vec<&str> = std::iter::once(service::partitions::COMMERCIAL)
        .chain(settings.partitions.iter().map(|p| p.partition.as_str()))
        .collect();
    let mut document = openapi_offering(catalogue, &partitions);
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    let webhooks: serde_json::Map<String, serde_json::Value> = EventType::VARIANTS
        .iter()
        .map(|event_type| {
            let operation = json!({
                "post": {
                    "summary": event_type.summary(),
                    "description": "Sent to each enabled endpoint whose event_types include this type (or are empty). Verify `Webhook-Signature` before trusting the body; deduplicate by `Webhook-Id` (the event id): a delivery can repeat. Answer 2xx within 5 s; anything else is retried with backoff.",
                    "parameters": [
                        header("Webhook-Id", "The event id; the same on every retry and redelivery."),
                        header("Webhook-Timestamp", "Unix seconds when this attempt was signed."),
                        header("Webhook-Signature", "`t=<timestamp>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`, one `v1` per live secret during a rotation."),
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Event"},
                            "example": event_type.example(),
                        }},
                    },
                    "responses": {"2XX": {"description": "Received; any other answer, a redirect included, is a failed attempt"}},
                }
            });
            (event_type.as_str().to_string(), operation)
        })
        .collect();
    document["webhooks"] = serde_json::Value::Object(webhooks);
    document
}

/// Statuses any operation can answer, documented on every one that does
/// not already: a malformed path or query (400), authentication (401,
/// 403), an unknown resource (404), a datastore failure (500, 503); writes
/// can meet an archived account or a concurrent change (409); operations
/// with a body check its media type and size (413, 415). A test of the
/// document holds every response to it (schemathesis in `make test`).
// Long: a table of the error responses operations share, as the document states them.
fn document_common_errors(document: &mut OpenApiDocument) {
    use utoipa::openapi::path::{HttpMethod, Operation};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorResponse")))
                        .build(),
                )
                .build(),
        )
    };
    let add = |operation: &mut Operation, method: HttpMethod, path: &str| {
        let public = operation.security.is_none();
        let mut statuses: Vec<(&str, &str)> = vec![
            (
                "400",
                "The request is malformed; `error.field` names what to fix",
            ),
            ("404", "No such resource in this tenant"),
            ("500", "An internal error; it has been logged"),
            (
                "503",
                "Briefly unavailable; retry after the Retry-After delay",
            ),
        ];
        if !public {
            statuses.push(("401", "Missing, invalid, expired or revoked API key"));
            statuses.push(("403", "The API key lacks the scope this operation needs"));
            statuses.push((
                "429",
                "The API key is over its request rate; retry after the Retry-After delay",
            ));
        }
        if !matches!(method, HttpMethod::Get) {
            statuses.push(("409", "The account is archived, or it changed meanwhile"));
        }
        // Scanners' uploads are idempotent per page of their own.
        if matches!(method, HttpMethod::Post) && !public && !path.starts_with("/v1/scans/") {
            statuses.push((
                "422",
                "The Idempotency-Key was used for another request in the last 24 hours",
            ));
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(idempotency_key_parameter());
        }
        if operation.request_body.is_some() {
            statuses.push(("413", "The body is too large"));
            statuses.push(("415", "The body's Content-Type is not accepted"));
        }
        // Every path parameter as the router's check holds it (the same
        // rule, ids::path_parameter_pattern, tested to agree), so clients
        // and schemathesis make real ids rather than ones refused at once.
        for parameter in operation.parameters.iter_mut().flatten() {
            if parameter.parameter_in != utoipa::openapi::path::ParameterIn::Path {
                continue;
            }
            let name = parameter.name.as_str();
            let mut schema = ObjectBuilder::new().schema_type(Type::String);
            schema = match service::ids::path_parameter_pattern(name) {
                Some(pattern) => schema.pattern(Some(pattern)),
                None if name == "token" => schema
                    .min_length(Some(1))
                    .max_length(Some(service::onboarding::MAX_TOKEN_LEN)),
                None => schema
                    .min_length(Some(1))
                    .max_length(Some(service::ids::MAX_PATH_PARAMETER)),
            };
            schema = match name {
                "account_id" => schema.examples(["123456789012"]),
                "data_source" => schema.examples(["aws:iam"]),
                _ => schema,
            };
            parameter.schema = Some(RefOr::T(schema.into()));
        }
        for (status, description) in statuses {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| error(description));
        }
    };
    for (path, item) in document.paths.paths.iter_mut() {
        for (operation, method) in [
            (item.get.as_mut(), HttpMethod::Get),
            (item.put.as_mut(), HttpMethod::Put),
            (item.post.as_mut(), HttpMethod::Post),
            (item.patch.as_mut(), HttpMethod::Patch),
            (item.delete.as_mut(), HttpMethod::Delete),
        ] {
            if let Some(operation) = operation {
                add(operation, method, path);
            }
        }
    }
}

/// The `Idempotency-Key` header every authenticated POST accepts.
fn idempotency_key_parameter() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "1-255 visible ASCII characters, e.g. a UUID per logical request. The same key and request (method, path, body) within 24 hours answer the first success again, with `Idempotent-Replayed: true`; errors are not kept, so a retry after one runs afresh. The same key with another request is a 422; while the first is running, a retry waits for its answer.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(service::idempotency::MAX_KEY_LEN))
                .pattern(Some("^[!-~]{1,255}$")),
        ))
        .build()
}

#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    // Built on the first request that asks for it, not at start-up, and
    // served from memory after that.
    let body = state.documents.json.get_or_init(|| {
        axum::body::Bytes::from(serde_json::to_vec(&state.document()).unwrap_or_default())
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response()
}

/// This API's public origin, for links and template URLs: `PUBLIC_URL`,
/// else (on Lambda) the domain API Gateway served the request on, from the
/// request context API Gateway sets. Never the Host header, which the
/// caller writes: a link made from it could point a customer anywhere.
pub struct PublicBase(pub String);

impl axum::extract::FromRequestParts<AppState> for PublicBase {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        if let Some(origin) = &state.public_url {
            return Ok(PublicBase(origin.to_string()));
        }
        use lambda_http::request::RequestContext;
        if let Some(RequestContext::ApiGatewayV2(context)) =
            parts.extensions.get::<RequestContext>()
        {
            if let Some(domain) = context.domain_name.as_deref().filter(|d| !d.is_empty()) {
                return Ok(PublicBase(format!("https://{domain}")));
            }
        }
        Err(service::Error::NotConfigured {
            code: "public_url_not_configured",
            message: "this deployment does not know its public URL: set PUBLIC_URL".into(),
        }
        .into())
    }
}

/// The application router.
pub fn router(state: AppState) -> Router {
    let (routes, _) = routes();
    routes
        .merge(dialects::routes(&state.dialects))
        .merge(onboard_page::routes())
        .route("/docs", axum::routing::get(docs::page))
        .route("/docs/docs.css", axum::routing::get(docs::style))
        .fallback(|| async {
            ApiError::not_found("no such route; GET /v1/openapi.json lists them")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method; GET /v1/openapi.json lists them",
            )
        })
        // A POST with an Idempotency-Key runs once (inside the path check).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        // Before any handler: every path parameter is bounded and checked.
        .route_layer(middleware::from_fn(check_path_parameters))
        // The CSV import's limit; JSON bodies are held to 1 MiB by their extractor.
        .layer(DefaultBodyLimit::max(body::MAX_CSV_BYTES))
        .layer(catch_panics())
        .layer(middleware::from_fn(onboard_page::page_headers))
        // Errors on another product's paths in that product's shape.
        .layer(middleware::from_fn(dialects::in_product_shape))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// A panic costs its own request a 500 in the one error shape, never the
/// process or the other requests it serves (see the release profile in
/// Cargo.toml, which unwinds for this).
pub fn catch_panics() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(panic_response as fn(_) -> Response)
}

/// Refuse a malformed path parameter (400 naming it) before a handler,
/// and so before DynamoDB, sees it.
async fn check_path_parameters(
    parameters: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    match parameters {
        Ok(parameters) => {
            for (name, value) in &parameters {
                if let Err(err) = service::ids::path_parameter(name, value) {
                    return ApiError::from(err).into_response();
                }
            }
        }
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            return ApiError::bad_request(
                "invalid_value",
                None,
                "a path parameter is not valid UTF-8 once percent-decoded",
            )
            .into_response();
        }
        Err(_) => {}
    }
    next.run(request).await
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = detail, "a request panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; it has been logged",
    )
    .into_response()
}

/// One span per request, so every log line of the request carries its
/// request id, tenant (recorded once authenticated) and account id; and
/// one line at the end with status and latency. Query strings, headers and
/// bodies are never logged: they may carry keys and external IDs.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let request_id = request_id(&request);
    let account_id = path_parameter(&route, request.uri().path(), "{account_id}");
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        %method,
        %route,
        tenant = tracing::field::Empty,
        // Recorded only for a route about one account: no `account_id=""`.
        account_id = tracing::field::Empty,
    );
    if let Some(account_id) = &account_id {
        span.record("account_id", account_id.as_str());
    }
    // Items this request writes carry its id, so their events name it.
    let run = service::aws::store::origin::scope(request_id.clone(), next.run(request));
    let mut response = tracing::Instrument::instrument(run, span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        );
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// API Gateway's request id when behind it (what `apigw-requestid` shows
/// the caller), else a new ULID.
fn request_id(request: &Request) -> String {
    use lambda_http::request::RequestContext;
    match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

/// The value of `parameter` (e.g. `{account_id}`) in `path`, by its
/// position in the route template.
fn path_parameter(route: &str, path: &str, parameter: &str) -> Option<String> {
    let position = route.split('/').position(|segment| segment == parameter)?;
    path.split('/')
        .nth(position)
        .filter(|value| value.len() <= 64)
        .map(str::to_string)
}

/// JSON logs for Lambda (CloudWatch), level from `RUST_LOG` (default info).
pub fn init_json_logs() {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_request_gets_a_500_and_the_next_one_is_served() {
        async fn boom() -> &'static str {
            panic!("a bug in one handler")
        }
        let app: Router = Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "fine" }))
            .layer(catch_panics());
        let request = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request("/boom")).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert!(
            !body.to_string().contains("a bug in one handler"),
            "the panic message stays in the logs"
        );
        let response = app.oneshot(request("/ok")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
