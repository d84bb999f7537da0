//! The one typed configuration of every entry point, read from the
//! environment once (clap's env feature: each setting names its variable,
//! its default and what it accepts), and the one place that builds the
//! clients from it ([`Services`]).
//!
//! Endpoints of the local emulators come through the SDK's own variables
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`, ...), so the code
//! that runs locally is exactly the code that runs in Lambda.

use crate::aws::bus::EventBus;
use crate::aws::deliveries::{DeliveryQueue, DeliverySettings};
use crate::aws::jobs::JobQueue;
use crate::aws::store::Store;
use crate::aws::verification::{RoleVerifier, VerificationSettings};
use crate::scans::Catalogue;
use aws_config::{BehaviorVersion, SdkConfig};
use clap::{CommandFactory, FromArgMatches};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_TABLE_NAME: &str = "accounts";

/// Every setting, with its variable. `--help` of the dev server lists them.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The single table.
    #[arg(long = "table-name", env = "TABLE_NAME", default_value = DEFAULT_TABLE_NAME)]
    pub table_name: String,
    /// The principal customer roles must trust (default: this account's root).
    #[arg(long, env = "VENDOR_PRINCIPAL")]
    pub vendor_principal: Option<String>,
    /// Other partitions served (JSON list of `{partition, vendor_principal,
    /// sts_region?, role_template_url?}`); roles there are refused without.
    #[arg(long, env = "PARTITIONS")]
    pub partitions: Option<String>,
    /// Role name suggested to customers.
    #[arg(
        long,
        env = "CUSTOMER_ROLE_NAME",
        default_value = "AccountOnboardingAudit"
    )]
    pub customer_role_name: String,
    /// Roles this service may assume (`*` wildcards); others are refused.
    #[arg(long, env = "CUSTOMER_ROLE_NAME_PATTERN", default_value = "*")]
    pub customer_role_name_pattern: String,
    /// This API's public base URL (scheme, host, port; no path), from
    /// which onboarding links and template URLs are made: never from a
    /// request's Host header, which the caller chooses. https, or http on
    /// loopback (the dev server).
    /// Unset on Lambda: the domain API Gateway served the request on
    /// (its request context, which API Gateway sets, not the caller).
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// An S3 copy of the generic role template, for quick-create links.
    #[arg(long, env = "ROLE_TEMPLATE_URL")]
    pub role_template_url: Option<String>,
    /// Seconds between successful verifications of an account.
    #[arg(long, env = "VERIFY_INTERVAL_SECONDS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub verify_interval_seconds: u64,
    /// Accounts the verifier checks at once.
    #[arg(long, env = "VERIFY_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub verify_concurrency: u32,
    /// STS calls per second, per process (0: no limit).
    #[arg(long, env = "STS_RATE_LIMIT", default_value_t = 0.0)]
    pub sts_rate_limit: f64,
    /// Milliseconds per STS call attempt.
    #[arg(long, env = "VERIFY_CALL_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub verify_call_timeout_ms: u64,
    /// Attempts per STS call (throttling is retried with backoff).
    #[arg(long, env = "VERIFY_MAX_ATTEMPTS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub verify_max_attempts: u32,
    /// Milliseconds before the first retry of an STS call.
    #[arg(long, env = "VERIFY_INITIAL_BACKOFF_MS", default_value_t = 200)]
    pub verify_initial_backoff_ms: u64,
    /// Where the API sends scan jobs (without it, scan requests answer 503).
    #[arg(long, env = "SCAN_QUEUE_URL")]
    pub scan_queue_url: Option<String>,
    /// External data sources: JSON `[{"name", "description", "max_score", "queue_url"}]`.
    #[arg(long, env = "DATA_SOURCES")]
    pub data_sources: Option<String>,
    /// The scan queue's maxReceiveCount: the attempt that gives up.
    #[arg(long, env = "MAX_RECEIVE_COUNT", default_value_t = crate::aws::schema::SCAN_QUEUE.max_receive_count,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_receive_count: u32,
    /// Seconds a running scan is held before another delivery may take it over.
    #[arg(long, env = "SCAN_LEASE_SECONDS", default_value_t = 960,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub scan_lease_seconds: u64,
    /// Requests per second per API key, per API instance (0: no limit).
    #[arg(long, env = "API_KEY_RATE_PER_SECOND", default_value_t = 0)]
    pub api_key_rate_per_second: u32,
    /// The burst a key may make above its rate (default: twice the rate).
    #[arg(long, env = "API_KEY_RATE_BURST", value_parser = clap::value_parser!(u32).range(1..))]
    pub api_key_rate_burst: Option<u32>,
    /// Accounts one search or export request reads at most.
    #[arg(long, env = "SEARCH_READ_BUDGET", default_value_t = crate::search::DEFAULT_READ_BUDGET as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub search_read_budget: u64,
    /// Seconds an API function instance keeps a key's record after reading
    /// it (0: read it on every request). A revocation through another
    /// instance or the operator CLI takes effect within this time; one
    /// through this instance at once. The template sets 10.
    #[arg(long, env = "API_KEY_CACHE_SECONDS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub api_key_cache_seconds: u64,
    /// Products whose account API (dialect) this deployment does not
    /// serve, comma-separated (e.g. `panther`); empty: all are served.
    #[arg(long, env = "DIALECTS_OFF", default_value = "", value_parser = parse_products)]
    pub dialects_off: ProductList,
    /// Days an audit event is kept (DynamoDB TTL).
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub audit_retention_days: u32,
    /// Ask DynamoDB for the capacity units of every call and add them to
    /// the calling task's meter (`aws::capacity`): on in tests and the
    /// bench, off in production unless asked (the answers are larger).
    #[arg(long, env = "DYNAMODB_CONSUMED_CAPACITY", default_value_t = false)]
    pub dynamodb_consumed_capacity: bool,
    /// Let webhook endpoints be plain http on 127.0.0.1/::1/localhost
    /// (for a receiver on the developer's machine; never in Lambda).
    #[arg(long, env = "WEBHOOK_ALLOW_LOOPBACK_HTTP", default_value_t = false)]
    pub webhook_allow_loopback_http: bool,
    /// The FIFO queue of webhook deliveries (without it, none are made).
    #[arg(long, env = "WEBHOOK_QUEUE_URL")]
    pub webhook_queue_url: Option<String>,
    /// Where a delivery goes once every attempt failed.
    #[arg(long, env = "WEBHOOK_DEAD_LETTER_QUEUE_URL")]
    pub webhook_dead_letter_queue_url: Option<String>,
    /// Attempts per delivery before it fails and is dead-lettered.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub webhook_max_attempts: u32,
    /// Seconds before the first retry of a delivery; doubled each time.
    #[arg(long, env = "WEBHOOK_FIRST_RETRY_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub webhook_first_retry_seconds: u64,
    /// Minutes an endpoint may fail every delivery before it is disabled.
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_MINUTES", default_value_t = 4320)]
    pub webhook_disable_after_minutes: u64,
    /// The EventBridge bus every event is put on (without it, none are).
    #[arg(long, env = "EVENT_BUS_NAME")]
    pub event_bus_name: Option<String>,
    /// The `source` of the events put on the bus.
    #[arg(long, env = "EVENT_SOURCE", default_value = "account-onboarding")]
    pub event_source: String,
    /// The queue of organization syncs (without it, `POST
    /// /v1/organizations/{id}/sync` answers 503 and none is scheduled).
    #[arg(long, env = "ORGANIZATION_SYNC_QUEUE_URL")]
    pub organization_sync_queue_url: Option<String>,
    /// Minutes between scheduled syncs of an organization.
    #[arg(long, env = "ORGANIZATION_SYNC_INTERVAL_MINUTES", default_value_t = 360,
          value_parser = clap::value_parser!(u64).range(5..=10_080))]
    pub organization_sync_interval_minutes: u64,
    /// The service part of the SourceIdentity of every session in a
    /// customer's account (`<tenant>@<service>`), as their CloudTrail shows it.
    #[arg(long, env = "SOURCE_IDENTITY_SERVICE", default_value = "onboarding",
          value_parser = parse_service_name)]
    pub source_identity_service: String,
    /// Read and lint each verified role's trust policy (`iam:GetRole` on itself).
    #[arg(long, env = "VERIFY_INSPECT_ROLE", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub verify_inspect_role: bool,
}

/// An origin: https, or http on loopback; no path, query or credentials.
/// Kept without a trailing slash.
pub fn parse_public_url(value: &str) -> Result<String, String> {
    // Empty is unset (as the template passes an unset parameter).
    if value.is_empty() {
        return Ok(String::new());
    }
    let refuse = || {
        Err(format!(
            "give an origin such as https://api.example.com (http only on 127.0.0.1 or localhost), not '{}'",
            crate::validation::echo(value)
        ))
    };
    let Ok(url) = url::Url::parse(value) else {
        return refuse();
    };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return refuse();
    }
    Ok(url.origin().ascii_serialization())
}

/// 1-20 characters of `[a-z0-9-]`, leaving the tenant room in STS's 64.
fn parse_service_name(value: &str) -> Result<String, String> {
    let valid = (1..=20).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(value.to_string())
    } else {
        Err("give 1-20 characters of a-z, 0-9 and -".into())
    }
}

/// A variable that cannot be used: which, its value, and what it accepts.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// A comma-separated list of products (dialects), possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductList(pub Vec<crate::products::Product>);

impl ProductList {
    pub fn contains(&self, product: &crate::products::Product) -> bool {
        self.0.contains(product)
    }
}

fn parse_products(text: &str) -> Result<ProductList, String> {
    let names = text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty());
    names
        .map(|name| {
            name.parse().map_err(|_| {
                let known: Vec<&str> = <crate::products::Product as strum::VariantArray>::VARIANTS
                    .iter()
                    .map(|product| product.as_str())
                    .collect();
                format!(
                    "'{name}' is not a product whose API this service serves ({})",
                    known.join(", ")
                )
            })
        })
        .collect::<Result<_, _>>()
        .map(ProductList)
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

/// The parser of [`Config`] alone, as a command of no arguments.
#[derive(clap::Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// Read every setting from the environment. A bad value is one line
    /// naming the variable, the value and what it accepts.
    pub fn from_env() -> Result<Self, ConfigError> {
        let command = ConfigOnly::command();
        let matches = command
            .clone()
            .try_get_matches_from(["service"])
            .map_err(|err| Self::explain(&command, err))?;
        let config = ConfigOnly::from_arg_matches(&matches)
            .map_err(|err| Self::explain(&command, err))?
            .config;
        config.check()
    }

    /// One line from clap's error: the variable instead of the flag.
    fn explain(command: &clap::Command, err: clap::Error) -> ConfigError {
        use clap::error::{ContextKind, ContextValue};
        let text = |kind| match err.get(kind) {
            Some(ContextValue::String(text)) => Some(text.clone()),
            _ => None,
        };
        let variable = text(ContextKind::InvalidArg)
            .and_then(|arg| {
                command
                    .get_arguments()
                    .find(|a| {
                        a.get_long()
                            .is_some_and(|long| arg.starts_with(&format!("--{long}")))
                    })
                    .and_then(|a| a.get_env())
                    .map(|env| env.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "a variable".to_string());
        let value = text(ContextKind::InvalidValue).unwrap_or_default();
        // clap's own first line, without its "error: " and the flag.
        let reason = err
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .rsplit(": ")
            .next()
            .unwrap_or("")
            .to_string();
        ConfigError(format!("{variable}='{value}' is invalid: {reason}"))
    }

    /// Checks across values, and empty strings meaning "unset" (as the
    /// template passes an unset parameter).
    fn check(mut self) -> Result<Self, ConfigError> {
        for value in [
            &mut self.vendor_principal,
            &mut self.public_url,
            &mut self.role_template_url,
            &mut self.scan_queue_url,
            &mut self.data_sources,
            &mut self.webhook_queue_url,
            &mut self.webhook_dead_letter_queue_url,
            &mut self.event_bus_name,
            &mut self.organization_sync_queue_url,
            &mut self.partitions,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        if let Some(text) = &self.partitions {
            crate::partitions::parse(text)
                .map_err(|reason| ConfigError::new(format!("PARTITIONS is invalid: {reason}")))?;
        }
        if !(self.sts_rate_limit >= 0.0 && self.sts_rate_limit.is_finite()) {
            return Err(ConfigError::new(format!(
                "STS_RATE_LIMIT='{}' is invalid: a number of calls per second, 0 or more",
                self.sts_rate_limit
            )));
        }
        // The role the page and templates create is the one an account
        // without a role_arn is verified with: the service must be allowed
        // to assume it.
        if !crate::trust::wildcard_match(&self.customer_role_name_pattern, &self.customer_role_name)
        {
            return Err(ConfigError::new(format!(
                "CUSTOMER_ROLE_NAME='{}' does not match CUSTOMER_ROLE_NAME_PATTERN='{}': the service could not assume the role its own templates create; choose a name the pattern admits",
                self.customer_role_name, self.customer_role_name_pattern
            )));
        }
        Ok(self)
    }

    /// The verification settings this configuration holds.
    pub fn verification(&self) -> VerificationSettings {
        VerificationSettings {
            call_timeout: Duration::from_millis(self.verify_call_timeout_ms),
            max_attempts: self.verify_max_attempts,
            initial_backoff: Duration::from_millis(self.verify_initial_backoff_ms),
            sts_rate_limit: (self.sts_rate_limit > 0.0).then_some(self.sts_rate_limit),
            concurrency: self.verify_concurrency as usize,
            interval: Duration::from_secs(self.verify_interval_seconds),
            vendor_principal: self.vendor_principal.clone(),
            role_name: self.customer_role_name.clone(),
            role_name_pattern: self.customer_role_name_pattern.clone(),
            role_template_url: self.role_template_url.clone(),
            source_identity_service: self.source_identity_service.clone(),
            inspect_role: self.verify_inspect_role,
            // Checked by `check`.
            partitions: self
                .partitions
                .as_deref()
                .and_then(|text| crate::partitions::parse(text).ok())
                .unwrap_or_default(),
            access_log_days: self.audit_retention_days,
        }
    }
}

/// Every client and setting an entry point needs, built once from one
/// [`Config`]: the functions, the dev server, the bench and the tests all
/// start here.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub sdk: SdkConfig,
    pub store: Store,
    pub verifier: RoleVerifier,
    pub verification: Arc<VerificationSettings>,
    pub catalogue: Arc<Catalogue>,
    pub sqs: aws_sdk_sqs::Client,
    /// Where scan jobs go (`SCAN_QUEUE_URL`).
    pub scan_queue: Option<JobQueue>,
    /// Where webhook deliveries go (`WEBHOOK_QUEUE_URL`).
    pub delivery_queue: Option<DeliveryQueue>,
    /// Where organization syncs go (`ORGANIZATION_SYNC_QUEUE_URL`).
    pub organization_sync_queue: Option<JobQueue>,
    pub delivery_settings: Arc<DeliverySettings>,
    /// The EventBridge bus (`EVENT_BUS_NAME`).
    pub bus: Option<EventBus>,
}

impl Services {
    /// From the environment: [`Config::from_env`], then [`Services::new`].
    pub async fn from_env() -> Result<Self, ConfigError> {
        Services::new(Config::from_env()?).await
    }

    /// For a function's `main`: on a bad variable, one line on stderr (the
    /// function's log) and exit, which Lambda reports as an init failure.
    pub async fn from_env_or_exit() -> Self {
        match Services::from_env().await {
            Ok(services) => services,
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        }
    }

    pub async fn new(config: Config) -> Result<Self, ConfigError> {
        let catalogue = Catalogue::with_external(config.data_sources.as_deref().unwrap_or(""))
            .map_err(|err| ConfigError::new(format!("DATA_SOURCES is invalid: {err}")))?;
        let sdk = aws().await;
        let verification = config.verification();
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        Ok(Services {
            store: Store::new(
                crate::aws::capacity::client(&sdk, config.dynamodb_consumed_capacity),
                config.table_name.clone(),
            ),
            verifier: RoleVerifier::new(&sdk, &verification),
            verification: Arc::new(verification),
            catalogue: Arc::new(catalogue),
            scan_queue: config
                .scan_queue_url
                .clone()
                .map(|url| JobQueue::new(sqs.clone(), url)),
            delivery_queue: config.webhook_queue_url.clone().map(|url| {
                DeliveryQueue::new(
                    sqs.clone(),
                    url,
                    config.webhook_dead_letter_queue_url.clone(),
                )
            }),
            organization_sync_queue: config
                .organization_sync_queue_url
                .clone()
                .map(|url| JobQueue::new(sqs.clone(), url)),
            delivery_settings: Arc::new(delivery_settings(&config)),
            bus: config.event_bus_name.clone().map(|name| {
                EventBus::new(
                    aws_sdk_eventbridge::Client::new(&sdk),
                    name,
                    config.event_source.clone(),
                )
            }),
            sqs,
            sdk,
            config: Arc::new(config),
        })
    }
}

/// The AWS configuration: region, credentials and endpoints.
pub async fn aws() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// How webhook deliveries are retried, from the configuration.
fn delivery_settings(config: &Config) -> DeliverySettings {
    DeliverySettings {
        max_attempts: config.webhook_max_attempts,
        first_retry: Duration::from_secs(config.webhook_first_retry_seconds),
        max_retry: crate::aws::deliveries::MAX_RETRY,
        disable_after: Duration::from_secs(config.webhook_disable_after_minutes * 60),
        allow_loopback_http: config.webhook_allow_loopback_http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_an_origin() {
        assert_eq!(
            parse_public_url("https://api.example.com/").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(parse_public_url("").unwrap(), "");
        for bad in [
            "http://api.example.com",
            "https://api.example.com/v1",
            "https://u:p@api.example.com",
            "api.example.com",
            "https://api.example.com/?x=1",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_variable_is_one_line_naming_it() {
        let command = ConfigOnly::command();
        let err = command
            .clone()
            .try_get_matches_from(["service", "--verify-call-timeout-ms", "soon"])
            .unwrap_err();
        let message = Config::explain(&command, err).to_string();
        assert!(
            message
                .starts_with("invalid configuration: VERIFY_CALL_TIMEOUT_MS='soon' is invalid: "),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1);
        let err = command
            .clone()
            .try_get_matches_from(["service", "--verify-concurrency", "0"])
            .unwrap_err();
        let message = Config::explain(&command, err).to_string();
        assert!(
            message.contains("VERIFY_CONCURRENCY='0'") && message.contains("1.."),
            "{message}"
        );
    }

    #[test]
    fn the_role_the_templates_create_must_be_one_the_service_may_assume() {
        let parse = |args: &[&str]| {
            let matches = ConfigOnly::command().try_get_matches_from(args).unwrap();
            ConfigOnly::from_arg_matches(&matches)
                .unwrap()
                .config
                .check()
        };
        let refused = parse(&[
            "service",
            "--customer-role-name-pattern",
            "AccountOnboarding*",
            "--customer-role-name",
            "VendorAudit",
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(
            refused.contains("CUSTOMER_ROLE_NAME='VendorAudit'"),
            "{refused}"
        );
        assert!(parse(&[
            "service",
            "--customer-role-name-pattern",
            "AccountOnboarding*"
        ])
        .is_ok());
    }

    #[test]
    fn defaults_and_empty_values() {
        let matches = ConfigOnly::command()
            .try_get_matches_from(["service", "--vendor-principal", " "])
            .unwrap();
        let config = ConfigOnly::from_arg_matches(&matches)
            .unwrap()
            .config
            .check()
            .unwrap();
        assert_eq!(config.vendor_principal, None, "an empty value is unset");
        assert_eq!(config.verify_interval_seconds, 86_400);
        assert_eq!(config.verification().max_attempts, 4);
        assert_eq!(
            config.dialects_off,
            ProductList::default(),
            "every dialect is served"
        );
    }

    #[test]
    fn dialects_are_turned_off_by_name() {
        use crate::products::Product;
        assert_eq!(parse_products(""), Ok(ProductList::default()));
        assert_eq!(
            parse_products(" Panther, ,panther"),
            Ok(ProductList(vec![Product::Panther, Product::Panther]))
        );
        let err = parse_products("panther,nope").unwrap_err();
        assert!(err.contains("'nope'"), "{err}");
    }
}
