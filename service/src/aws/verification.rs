//! Verifying a customer's cross-account role with STS.
//!
//! The checks: AssumeRole with the external ID; GetCallerIdentity with that
//! session, whose account must be the registered one; and AssumeRole without
//! an external ID and with a wrong one, which must both be refused. If
//! either of those succeeds the trust policy is open to the confused-deputy
//! attack, and the account fails verification.

use crate::access::{AccessPurpose, AccessRecord, SessionOutcome, SessionRequest};
use crate::account::Credential;
use crate::time::Timestamp;
use crate::trust_lint::{TrustFinding, VendorPrincipal};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use domain::trust::{jittered, wildcard_match};
pub use domain::trust::{link_actor, next_check, Outcome, VerificationCode};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Settings of verification, from the environment.
#[derive(Debug, Clone)]
pub struct VerificationSettings {
    /// Timeout of one STS call attempt.
    pub call_timeout: Duration,
    /// Attempts per STS call; throttling is retried with exponential backoff.
    pub max_attempts: u32,
    /// First retry delay (doubling, with jitter).
    pub initial_backoff: Duration,
    /// STS calls per second across all workers of this process; `None`: no ceiling.
    pub sts_rate_limit: Option<f64>,
    /// Accounts verified at once by the verifier.
    pub concurrency: usize,
    /// Next verification after a success.
    pub interval: Duration,
    /// The principal customer roles must trust; `None`: this service's own account.
    pub vendor_principal: Option<String>,
    /// Role name suggested to customers.
    pub role_name: String,
    /// IAM wildcard (`*`, `?`) that customer role names must match: the
    /// service's own IAM policy only lets it assume roles named so.
    pub role_name_pattern: String,
    /// Public URL (S3) of the generic role template, for CloudFormation quick-create.
    pub role_template_url: Option<String>,
    /// The service part of every session's SourceIdentity (`<tenant>@<service>`).
    pub source_identity_service: String,
    /// Read and lint each verified role's trust policy (`iam:GetRole`).
    pub inspect_role: bool,
    /// Partitions other than `aws` this service serves.
    pub partitions: Vec<crate::partitions::PartitionSetting>,
    /// Days a session stays in an account's access log (`AUDIT_RETENTION_DAYS`).
    pub access_log_days: u32,
}

impl VerificationSettings {
    /// The longest one verification can take: its STS calls' attempts,
    /// each up to `call_timeout`, and a timeout's worth of backoff between
    /// them (the calls of one verification run at once).
    pub fn longest_verification(&self) -> Duration {
        self.call_timeout * (self.max_attempts + 1)
    }

    /// How long a sweep given `remaining` may start verifications: what is
    /// left once the last one started may still take
    /// [`Self::longest_verification`]. `None` when that leaves nothing: such
    /// a sweep could never verify an account, a configuration to refuse.
    pub fn sweep_budget(&self, remaining: Duration) -> Option<Duration> {
        remaining
            .checked_sub(self.longest_verification())
            .filter(|budget| !budget.is_zero())
    }

    /// The configuration of a partition other than `aws`, if served.
    pub fn partition(&self, name: &str) -> Option<&crate::partitions::PartitionSetting> {
        self.partitions.iter().find(|p| p.partition == name)
    }

    /// Whether this service has a principal in `partition`.
    pub fn serves(&self, partition: &str) -> bool {
        partition == crate::partitions::COMMERCIAL || self.partition(partition).is_some()
    }

    /// The role the onboarding page and the templates create in
    /// `account_id`: the one an account without a role of its own uses.
    pub fn default_role_arn(&self, partition: &str, account_id: &str) -> String {
        format!("arn:{partition}:iam::{account_id}:role/{}", self.role_name)
    }

    /// An account's role as it is stored: the one given (checked, see
    /// [`Self::check_role_name`]), else the role the page and templates
    /// create, so that a customer who follows the page ends with the role
    /// we assume. A partition this service has no principal in gets none
    /// (its verification says so).
    pub fn settle_role(
        &self,
        fields: &mut crate::account::AccountFields,
        account_id: &str,
    ) -> crate::Result<()> {
        if fields.role_arn.is_none() {
            let partition = fields.partition();
            if self.serves(partition) {
                fields.role_arn = Some(self.default_role_arn(partition, account_id));
            }
        }
        self.check_role_name(fields.role_arn.as_deref())
    }

    /// Refuse a role this service is not allowed to assume, at registration
    /// rather than as a puzzling ACCESS_DENIED later: a name outside the
    /// pattern, or a partition the service has no principal in.
    pub fn check_role_name(&self, role_arn: Option<&str>) -> crate::Result<()> {
        let Some(arn) = role_arn else { return Ok(()) };
        let role = crate::validation::role_arn("role_arn", arn)?;
        if !self.serves(role.partition) {
            return Err(crate::Error::invalid(
                "role_arn",
                format!(
                    "this service has no principal in partition {}, so it cannot assume roles there; its operator adds one to PARTITIONS (served: {})",
                    role.partition,
                    std::iter::once(crate::partitions::COMMERCIAL)
                        .chain(self.partitions.iter().map(|p| p.partition.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if wildcard_match(&self.role_name_pattern, role.role_name) {
            return Ok(());
        }
        Err(crate::Error::invalid(
            "role_arn",
            format!(
                "this service may only assume roles whose name matches '{}'; name the role accordingly (suggested: {})",
                self.role_name_pattern, self.role_name
            ),
        ))
    }
}

/// A failed STS call, classified.
#[derive(Debug)]
enum StsFailure {
    AccessDenied,
    Throttled,
    Timeout,
    /// The role is in a partition this service has no STS (and principal) for.
    Unserved(String),
    Other(String),
}

/// `rate` calls a second, with a burst of up to 50 (at least 1).
fn sts_quota(rate: f64) -> Option<governor::Quota> {
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    let burst = std::num::NonZeroU32::new(rate.clamp(1.0, 50.0) as u32)?;
    governor::Quota::with_period(Duration::from_secs_f64(1.0 / rate))
        .map(|quota| quota.allow_burst(burst))
}

fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
) -> StsFailure {
    use crate::aws::errors::ErrorClass;
    match crate::aws::errors::classify(&err) {
        ErrorClass::Timeout => StsFailure::Timeout,
        ErrorClass::AccessDenied => StsFailure::AccessDenied,
        ErrorClass::Throttling => StsFailure::Throttled,
        ErrorClass::Transient | ErrorClass::Other => {
            StsFailure::Other(aws_sdk_sts::error::DisplayErrorContext(&err).to_string())
        }
    }
}

/// Checks roles with STS from the service's own identity.
#[derive(Clone)]
pub struct RoleVerifier {
    /// The configuration clients made with assumed credentials start from.
    sdk: SdkConfig,
    sts: aws_sdk_sts::Client,
    /// STS of each other partition served (its own regional endpoint), and
    /// the principal customer roles there trust.
    partitions: Arc<HashMap<String, PartitionSts>>,
    /// IAM of each partition, for roles reading themselves.
    iam: Arc<HashMap<&'static str, aws_sdk_iam::Client>>,
    /// Every STS call, first attempts and retries alike, takes a permit.
    limiter: Option<Arc<governor::DefaultDirectRateLimiter>>,
    call_timeout: Duration,
    max_attempts: u32,
    initial_backoff: Duration,
    /// The service part of every session's SourceIdentity.
    service: String,
    vendor_principal: Option<String>,
    /// Read each verified role's trust policy (`iam:GetRole`) and lint it.
    inspect_role: bool,
    /// This service's own account, once looked up.
    own: Arc<tokio::sync::OnceCell<String>>,
}

/// STS in a partition other than `aws`.
#[derive(Clone)]
struct PartitionSts {
    client: aws_sdk_sts::Client,
    principal: String,
}

/// The partition of an ARN (`arn:<partition>:...`).
fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .unwrap_or(crate::partitions::COMMERCIAL)
}

/// The session length the service asks for: its longest job runs in a
/// Lambda invocation (15 minutes at most).
pub const SESSION_SECONDS: u32 = 900;

/// One role to check or assume, and on whose behalf.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub tenant: &'a str,
    pub account_id: &'a str,
    pub role_arn: &'a str,
    pub external_id: &'a str,
    /// Data sources that scan with this role, and the IAM actions each needs.
    pub required: &'a [(String, Vec<String>)],
}

/// Whether a verification tries AssumeRole without and with a wrong
/// external ID (each refusal is an AccessDenied in the customer's CloudTrail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probes {
    /// On registration, role change, rotation and on demand.
    Always,
    /// On schedule, once a role has proved itself: only when its trust
    /// policy cannot be read.
    IfUnread,
}

/// A verification's result, what it found, and the sessions it opened.
#[derive(Debug, Clone)]
pub struct Verified {
    pub outcome: Outcome,
    pub findings: Vec<TrustFinding>,
    /// Per data source, the actions it needs that the role lacks.
    pub missing_permissions: BTreeMap<String, Vec<String>>,
    pub sessions: Vec<AccessRecord>,
    /// The probes ran and were refused.
    pub probed: bool,
    /// The session with the external ID, when kept and the role verified.
    pub credentials: Option<Credentials>,
}

/// What an assumed session showed of the role, when it is the account's.
struct Evidence {
    findings: Vec<TrustFinding>,
    missing_permissions: BTreeMap<String, Vec<String>>,
    /// The trust policy was read and linted (else the probes stand in).
    read: bool,
}

impl Verified {
    /// A verification that ended with `outcome` before anything was found.
    pub fn failed(outcome: Outcome, sessions: Vec<AccessRecord>, probed: bool) -> Self {
        Verified {
            outcome,
            findings: Vec::new(),
            missing_permissions: BTreeMap::new(),
            sessions,
            probed,
            credentials: None,
        }
    }

    /// This result of `role_arn` at `at` as a credential, on its own: not
    /// scheduled, no failures counted, its sessions left to the access log
    /// (a pending role's; the current role's adds those from its account).
    pub fn credential(&self, role_arn: Option<&str>, at: Timestamp) -> Credential {
        Credential {
            verification_status: self.outcome.code.status(),
            verification_code: Some(self.outcome.code),
            verification_message: Some(self.outcome.message.clone()),
            last_verified_at: Some(at),
            next_verification_at: None,
            consecutive_failures: 0,
            role_arn: role_arn.map(str::to_string),
            trust_findings: self.findings.clone(),
            missing_permissions: self.missing_permissions.clone(),
            probed_at: self.probed.then_some(at),
            sessions: Vec::new(),
            verified_by: None,
        }
    }
}

impl RoleVerifier {
    pub fn new(sdk_config: &SdkConfig, settings: &VerificationSettings) -> Self {
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(settings.call_timeout)
            .connect_timeout(settings.call_timeout)
            .build();
        let sts_config = aws_sdk_sts::config::Builder::from(sdk_config)
            .timeout_config(timeouts.clone())
            // Retries are ours (see `call`), so each passes the rate limiter.
            .retry_config(RetryConfig::disabled())
            .build();
        let partitions = settings
            .partitions
            .iter()
            .map(|setting| {
                let config = sts_config
                    .to_builder()
                    .region(aws_sdk_sts::config::Region::new(setting.sts_region()))
                    .build();
                let sts = PartitionSts {
                    client: aws_sdk_sts::Client::from_conf(config),
                    principal: setting.vendor_principal.clone(),
                };
                (setting.partition.clone(), sts)
            })
            .collect();
        let iam = crate::partitions::KNOWN
            .iter()
            .map(|(partition, _)| {
                // IAM is global: its endpoint sits in the partition's home region.
                let config = aws_sdk_iam::config::Builder::from(sdk_config)
                    .region(aws_sdk_iam::config::Region::from_static(
                        crate::partitions::home_region(partition),
                    ))
                    .timeout_config(timeouts.clone())
                    .retry_config(RetryConfig::disabled())
                    .build();
                (*partition, aws_sdk_iam::Client::from_conf(config))
            })
            .collect();
        RoleVerifier {
            sdk: sdk_config.clone(),
            iam: Arc::new(iam),
            sts: aws_sdk_sts::Client::from_conf(sts_config),
            partitions: Arc::new(partitions),
            limiter: settings
                .sts_rate_limit
                .and_then(sts_quota)
                .map(|quota| Arc::new(governor::RateLimiter::direct(quota))),
            call_timeout: settings.call_timeout,
            max_attempts: settings.max_attempts.max(1),
            initial_backoff: settings.initial_backoff,
            service: settings.source_identity_service.clone(),
            vendor_principal: settings.vendor_principal.clone(),
            inspect_role: settings.inspect_role,
            own: Arc::default(),
        }
    }

    /// Run one STS call with retries: throttling, timeouts and transient
    /// failures are tried again after an exponential backoff with full
    /// jitter, and every attempt first waits for the rate limiter.
    /// IAM calls (`limited` false) do not count against the STS ceiling.
    async fn call<T, E, F, Fut>(&self, limited: bool, mut attempt: F) -> Result<T, StsFailure>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: std::future::Future<
            Output = Result<T, SdkError<E, aws_sdk_sts::config::http::HttpResponse>>,
        >,
    {
        let mut backoff = self.initial_backoff;
        let mut tries = 1;
        loop {
            if let Some(limiter) = self.limiter.as_ref().filter(|_| limited) {
                limiter.until_ready().await;
            }
            match attempt().await {
                Err(err)
                    if tries < self.max_attempts
                        && crate::aws::errors::classify(&err).is_retryable() =>
                {
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(20));
                    tries += 1;
                }
                result => return result.map_err(classify),
            }
        }
    }

    /// The account this service runs as (GetCallerIdentity).
    /// Through [`Self::call`]: a timeout or throttling at start-up is
    /// retried like any STS call, not answered 503.
    /// The SDK configuration this verifier was built from.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    pub async fn own_account(&self) -> Result<String, String> {
        self.call(true, || self.sts.get_caller_identity().send())
            .await
            .map_err(|failure| format!("GetCallerIdentity failed: {failure:?}"))?
            .account
            .ok_or_else(|| "GetCallerIdentity returned no account".to_string())
    }

    /// One AssumeRole, named for the ledger (session name = operation id,
    /// SourceIdentity = tenant and service); its record comes back with it.
    async fn assume(
        &self,
        role_arn: &str,
        external_id: Option<&str>,
        request: &SessionRequest,
    ) -> (Result<Credentials, StsFailure>, AccessRecord) {
        let at = Timestamp::now();
        let sts = match self.sts_of(role_arn) {
            Ok(client) => client,
            Err(failure) => {
                let record = request.record(at, role_arn, SESSION_SECONDS, SessionOutcome::Failed);
                return (Err(failure), record);
            }
        };
        let result = self
            .call(true, || {
                sts.assume_role()
                    .role_arn(role_arn)
                    .role_session_name(&request.operation_id)
                    .source_identity(&request.source_identity)
                    .duration_seconds(SESSION_SECONDS as i32)
                    .set_external_id(external_id.map(str::to_string))
                    .send()
            })
            .await
            .and_then(|output| {
                let credentials = output.credentials.ok_or_else(|| {
                    StsFailure::Other("AssumeRole returned no credentials".into())
                })?;
                Ok(Credentials::new(
                    credentials.access_key_id,
                    credentials.secret_access_key,
                    Some(credentials.session_token),
                    None,
                    "assumed-role",
                ))
            });
        let outcome = match &result {
            Ok(_) => SessionOutcome::Issued,
            Err(StsFailure::AccessDenied) => SessionOutcome::Denied,
            Err(StsFailure::Throttled) => SessionOutcome::Throttled,
            Err(StsFailure::Timeout) => SessionOutcome::TimedOut,
            Err(StsFailure::Other(_) | StsFailure::Unserved(_)) => SessionOutcome::Failed,
        };
        (
            result,
            request.record(at, role_arn, SESSION_SECONDS, outcome),
        )
    }

    /// The STS client for a role's partition.
    fn sts_of(&self, role_arn: &str) -> Result<&aws_sdk_sts::Client, StsFailure> {
        let partition = partition_of(role_arn);
        if partition == crate::partitions::COMMERCIAL {
            return Ok(&self.sts);
        }
        self.partitions
            .get(partition)
            .map(|sts| &sts.client)
            .ok_or_else(|| StsFailure::Unserved(partition.to_string()))
    }

    async fn session_account(
        &self,
        credentials: Credentials,
        role_arn: &str,
    ) -> Result<String, StsFailure> {
        let client = self.sts_of(role_arn)?;
        let output = self
            .call(true, || {
                client
                    .get_caller_identity()
                    .customize()
                    .config_override(
                        aws_sdk_sts::config::Builder::default()
                            .credentials_provider(credentials.clone()),
                    )
                    .send()
            })
            .await?;
        output
            .account
            .ok_or_else(|| StsFailure::Other("GetCallerIdentity returned no account".into()))
    }

    /// The role's trust policy and session limit, read by the role itself
    /// (`iam:GetRole` on its own ARN), in the role's partition.
    async fn read_role(
        &self,
        credentials: Credentials,
        role_arn: &str,
    ) -> Result<(String, Option<i32>), StsFailure> {
        let role = crate::validation::role_arn("role_arn", role_arn)
            .map_err(|err| StsFailure::Other(err.to_string()))?;
        let client = self
            .iam
            .get(role.partition)
            .ok_or_else(|| StsFailure::Unserved(role.partition.to_string()))?;
        // One client per partition; the session's credentials per call.
        let output = self
            .call(false, || {
                client
                    .get_role()
                    .role_name(role.role_name)
                    .customize()
                    .config_override(
                        aws_sdk_iam::config::Builder::default()
                            .credentials_provider(credentials.clone()),
                    )
                    .send()
            })
            .await?;
        let role = output
            .role
            .ok_or_else(|| StsFailure::Other("GetRole returned no role".into()))?;
        Ok((
            role.assume_role_policy_document.unwrap_or_default(),
            role.max_session_duration,
        ))
    }

    /// Per data source, the actions of `required` the role's policies do
    /// not allow: asked of IAM's policy simulator by the role itself, else
    /// read from its own policies. `Err` with a finding when neither is
    /// allowed (nothing is known then), without one on another failure.
    async fn missing_permissions(
        &self,
        credentials: Credentials,
        role_arn: &str,
        required: &[(String, Vec<String>)],
    ) -> Result<BTreeMap<String, Vec<String>>, Option<TrustFinding>> {
        if required.is_empty() {
            return Ok(BTreeMap::new());
        }
        let role = crate::validation::role_arn("role_arn", role_arn).map_err(|_| None)?;
        let client = self.iam.get(role.partition).ok_or(None)?;
        let wanted: Vec<&str> = required
            .iter()
            .flat_map(|(_, actions)| actions.iter().map(String::as_str))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let as_role =
            || aws_sdk_iam::config::Builder::default().credentials_provider(credentials.clone());
        let simulated = self
            .call(false, || {
                client
                    .simulate_principal_policy()
                    .policy_source_arn(role_arn)
                    .set_action_names(Some(wanted.iter().map(|a| a.to_string()).collect()))
                    .customize()
                    .config_override(as_role())
                    .send()
            })
            .await;
        let allowed: BTreeSet<&str> = match simulated {
            Ok(output) => {
                let allowed: BTreeSet<String> = output
                    .evaluation_results()
                    .iter()
                    .filter(|r| {
                        r.eval_decision()
                            == &aws_sdk_iam::types::PolicyEvaluationDecisionType::Allowed
                    })
                    .map(|r| r.eval_action_name().to_string())
                    .collect();
                wanted
                    .iter()
                    .copied()
                    .filter(|a| allowed.contains(*a))
                    .collect()
            }
            Err(StsFailure::AccessDenied) => {
                match self.role_policies(client, &as_role, role.role_name).await {
                    Ok(documents) => crate::permissions::allowed(&documents, &wanted),
                    Err(StsFailure::AccessDenied) => {
                        return Err(Some(crate::trust_lint::permissions_unchecked(role_arn)))
                    }
                    Err(failure) => {
                        tracing::warn!(?failure, %role_arn, "the role's policies could not be read");
                        return Err(None);
                    }
                }
            }
            Err(failure) => {
                tracing::warn!(?failure, %role_arn, "the policy simulator failed");
                return Err(None);
            }
        };
        Ok(crate::permissions::missing(required, &allowed))
    }

    /// The role's inline and attached policy documents, read by the role.
    async fn role_policies(
        &self,
        client: &aws_sdk_iam::Client,
        as_role: &(impl Fn() -> aws_sdk_iam::config::Builder + Sync),
        role_name: &str,
    ) -> Result<Vec<serde_json::Value>, StsFailure> {
        let mut documents = Vec::new();
        let inline = self
            .call(false, || {
                client
                    .list_role_policies()
                    .role_name(role_name)
                    .customize()
                    .config_override(as_role())
                    .send()
            })
            .await?;
        for name in inline.policy_names() {
            let policy = self
                .call(false, || {
                    client
                        .get_role_policy()
                        .role_name(role_name)
                        .policy_name(name)
                        .customize()
                        .config_override(as_role())
                        .send()
                })
                .await?;
            documents.push(crate::permissions::document(policy.policy_document()));
        }
        let attached = self
            .call(false, || {
                client
                    .list_attached_role_policies()
                    .role_name(role_name)
                    .customize()
                    .config_override(as_role())
                    .send()
            })
            .await?;
        for arn in attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
        {
            let policy = self
                .call(false, || {
                    client
                        .get_policy()
                        .policy_arn(arn)
                        .customize()
                        .config_override(as_role())
                        .send()
                })
                .await?;
            let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
                continue;
            };
            let version = self
                .call(false, || {
                    client
                        .get_policy_version()
                        .policy_arn(arn)
                        .version_id(version)
                        .customize()
                        .config_override(as_role())
                        .send()
                })
                .await?;
            if let Some(text) = version.policy_version().and_then(|v| v.document()) {
                documents.push(crate::permissions::document(text));
            }
        }
        Ok(documents)
    }

    /// Who customer roles in `partition` should trust (the configured
    /// principal, else this service's own account, looked up once).
    async fn vendor(&self, partition: &str) -> Option<VendorPrincipal> {
        if let Some(sts) = self.partitions.get(partition) {
            return Some(VendorPrincipal::new(Some(&sts.principal), ""));
        }
        let own = self
            .own
            .get_or_try_init(|| async { self.own_account().await })
            .await
            .ok()?;
        Some(VendorPrincipal::new(self.vendor_principal.as_deref(), own))
    }

    /// Verify that `role_arn` in `account_id` can be assumed with
    /// `external_id`, and only with it.
    pub async fn verify(&self, target: &Target<'_>, probes: Probes) -> Verified {
        let verified = self.verify_and_keep(target, probes).await;
        Verified {
            credentials: None,
            ..verified
        }
    }

    /// [`RoleVerifier::verify`], keeping the session it opened with the
    /// external ID when the role verified (for work that follows at once,
    /// such as an organization's discovery).
    ///
    /// With [`Probes::Always`] the AssumeRole calls without and with a
    /// wrong external ID run beside the real one. With [`Probes::IfUnread`]
    /// they run only when the role's trust policy could not be read: the
    /// lint reads the same condition without an AccessDenied in the
    /// customer's CloudTrail.
    pub async fn verify_and_keep(&self, target: &Target<'_>, probes: Probes) -> Verified {
        let Target {
            tenant,
            role_arn,
            external_id,
            ..
        } = *target;
        // Without the lint, nothing else reads the external-ID condition.
        let probes = if self.inspect_role {
            probes
        } else {
            Probes::Always
        };
        let main = SessionRequest::new(AccessPurpose::Verification, &self.service, tenant);
        let mut sessions = Vec::new();
        let (with_id, mut probed) = if probes == Probes::Always {
            let (with_id, probed) = futures::join!(
                self.assume(role_arn, Some(external_id), &main),
                self.probe(target)
            );
            (with_id, Some(probed))
        } else {
            (self.assume(role_arn, Some(external_id), &main).await, None)
        };
        sessions.push(with_id.1);
        let credentials = match with_id.0 {
            Ok(credentials) => credentials,
            Err(failure) => {
                if let Some((_, records)) = probed {
                    sessions.extend(records);
                }
                return Verified::failed(self.failure_outcome(failure, role_arn), sessions, false);
            }
        };
        let evidence = match self.inspect(credentials.clone(), target).await {
            Ok(evidence) => evidence,
            Err(outcome) => return Verified::failed(outcome, sessions, false),
        };
        let Evidence {
            findings,
            missing_permissions,
            read,
        } = evidence;
        if probed.is_none() && !read {
            probed = Some(self.probe(target).await);
        }
        let ran_probes = probed.is_some();
        let refusal = match probed {
            Some((results, records)) => {
                sessions.extend(records);
                self.probe_outcome(results, role_arn)
            }
            None => Outcome::unenforced(role_arn, &findings),
        };
        if let Some(outcome) = refusal {
            return Verified {
                findings,
                ..Verified::failed(outcome, sessions, ran_probes)
            };
        }
        let lacking: Vec<&str> = missing_permissions.keys().map(String::as_str).collect();
        Verified {
            outcome: Outcome::verified(role_arn, findings.len(), &lacking),
            findings,
            missing_permissions,
            sessions,
            probed: ran_probes,
            credentials: Some(credentials),
        }
    }

    /// What the assumed session shows, read at once after the trust
    /// checks: the session's account (another than `target`'s is the
    /// verdict), the role's trust policy linted, and what its data sources
    /// lack.
    async fn inspect(
        &self,
        credentials: Credentials,
        target: &Target<'_>,
    ) -> Result<Evidence, Outcome> {
        let role_arn = target.role_arn;
        let (session_account, policy, permissions) = futures::join!(
            self.session_account(credentials.clone(), role_arn),
            async {
                if self.inspect_role {
                    Some(self.read_role(credentials.clone(), role_arn).await)
                } else {
                    None
                }
            },
            async {
                if self.inspect_role {
                    self.missing_permissions(credentials.clone(), role_arn, target.required)
                        .await
                } else {
                    Ok(BTreeMap::new())
                }
            }
        );
        let session_account =
            session_account.map_err(|failure| self.failure_outcome(failure, role_arn))?;
        if session_account != target.account_id {
            return Err(Outcome::account_mismatch(
                role_arn,
                &session_account,
                target.account_id,
            ));
        }
        let (mut findings, read) = self.lint_policy(policy, role_arn).await;
        let missing_permissions = permissions.unwrap_or_else(|unchecked| {
            findings.extend(unchecked);
            BTreeMap::new()
        });
        Ok(Evidence {
            findings,
            missing_permissions,
            read,
        })
    }

    /// The trust policy's findings, and whether it was read (when not,
    /// the probes must stand in for the lint).
    async fn lint_policy(
        &self,
        policy: Option<Result<(String, Option<i32>), StsFailure>>,
        role_arn: &str,
    ) -> (Vec<TrustFinding>, bool) {
        match policy {
            Some(Ok((document, max_session))) => match self.vendor(partition_of(role_arn)).await {
                Some(vendor) => (
                    crate::trust_lint::lint(role_arn, &document, max_session, &vendor),
                    true,
                ),
                None => {
                    tracing::warn!(%role_arn, "own account unknown; trust policy not linted");
                    (Vec::new(), false)
                }
            },
            Some(Err(StsFailure::AccessDenied)) => {
                (vec![crate::trust_lint::unreadable(role_arn)], false)
            }
            Some(Err(failure)) => {
                tracing::warn!(?failure, %role_arn, "the trust policy could not be read; probing instead");
                (Vec::new(), false)
            }
            None => (Vec::new(), false),
        }
    }

    /// AssumeRole without an external ID and with a wrong one, at once.
    async fn probe(
        &self,
        target: &Target<'_>,
    ) -> ([Result<Credentials, StsFailure>; 2], Vec<AccessRecord>) {
        let wrong_external_id = crate::crypto::new_external_id();
        let none = SessionRequest::new(
            AccessPurpose::ProbeWithoutExternalId,
            &self.service,
            target.tenant,
        );
        let wrong = SessionRequest::new(
            AccessPurpose::ProbeWrongExternalId,
            &self.service,
            target.tenant,
        );
        let ((without_id, a), (with_wrong_id, b)) = futures::join!(
            self.assume(target.role_arn, None, &none),
            self.assume(target.role_arn, Some(&wrong_external_id), &wrong),
        );
        ([without_id, with_wrong_id], vec![a, b])
    }

    /// The failure the probes show, if any: either succeeding means the
    /// trust policy does not enforce the external ID.
    fn probe_outcome(
        &self,
        results: [Result<Credentials, StsFailure>; 2],
        role_arn: &str,
    ) -> Option<Outcome> {
        let [without_id, with_wrong_id] = results;
        for (result, how) in [
            (without_id, "without any external ID"),
            (with_wrong_id, "with a wrong external ID"),
        ] {
            match result {
                Ok(_) => {
                    return Some(Outcome::new(
                        VerificationCode::ExternalIdNotEnforced,
                        format!("The role {role_arn} can be assumed {how}, so anyone who learns its ARN can make us act on it (the confused-deputy attack). Add a Condition to its trust policy: StringEquals sts:ExternalId = this account's external_id, on every statement that trusts us."),
                    ))
                }
                Err(StsFailure::AccessDenied) => {}
                Err(failure) => return Some(self.failure_outcome(failure, role_arn)),
            }
        }
        None
    }

    /// Temporary credentials of `role_arn` for a scan (one AssumeRole with
    /// the external ID, the session named by a new operation id). A
    /// failure comes back as the verification outcome it would be; the
    /// ledger's record comes back either way.
    pub async fn assume_for(
        &self,
        target: &Target<'_>,
        purpose: AccessPurpose,
        reference: &str,
    ) -> (Result<Credentials, Outcome>, AccessRecord) {
        let request =
            SessionRequest::new(purpose, &self.service, target.tenant).with_reference(reference);
        let (result, record) = self
            .assume(target.role_arn, Some(target.external_id), &request)
            .await;
        (
            result.map_err(|failure| self.failure_outcome(failure, target.role_arn)),
            record,
        )
    }

    fn failure_outcome(&self, failure: StsFailure, role_arn: &str) -> Outcome {
        match failure {
            StsFailure::AccessDenied => Outcome::new(
                VerificationCode::AccessDenied,
                format!("The role {role_arn} could not be assumed with this account's external ID: AWS gives this answer both when the role does not exist (the customer has not created it yet) and when it refuses us. Check that the role exists, that its trust policy allows our principal (GET /v1/cloud-providers/aws) the actions sts:AssumeRole and sts:SetSourceIdentity (every session names the tenant it serves), and that its Condition requires sts:ExternalId equal to the account's external_id."),
            ),
            StsFailure::Throttled => Outcome::new(
                VerificationCode::Throttled,
                "AWS STS throttled the verification after retries; nothing is wrong with the role as far as we know. It will be retried; you can also retry in a minute.",
            ),
            StsFailure::Timeout => Outcome::new(
                VerificationCode::Timeout,
                format!("AWS STS did not answer within {} ms. Retry in a minute; if it persists, check that the role's account has STS enabled in its region.", self.call_timeout.as_millis()),
            ),
            StsFailure::Unserved(partition) => Outcome::new(
                VerificationCode::PartitionNotServed,
                format!("The role {role_arn} is in partition {partition}, where this service has no principal: its operator adds one to PARTITIONS before roles there can be verified."),
            ),
            StsFailure::Other(detail) => {
                tracing::error!(error = %detail, %role_arn, "verification failed on an unexpected STS error");
                Outcome::new(
                    VerificationCode::Internal,
                    "Verification failed because of an internal error; it has been logged. Retry later.",
                )
            }
        }
    }
}

/// The data sources attached to an account that scan with its role, and
/// the IAM actions each declares.
pub fn required_actions(
    catalogue: &crate::scans::Catalogue,
    attachments: &[crate::scans::Attachment],
) -> Vec<(String, Vec<String>)> {
    attachments
        .iter()
        .filter(|attachment| attachment.role_arn.is_none())
        .filter_map(|attachment| catalogue.get(&attachment.data_source))
        .filter_map(crate::scans::DataSource::requirement)
        .collect()
}

/// Every IAM action the account role's attached data sources need, once
/// each and sorted: what its template grants and its page lists.
pub fn role_actions(
    catalogue: &crate::scans::Catalogue,
    attachments: &[crate::scans::Attachment],
) -> Vec<String> {
    required_actions(catalogue, attachments)
        .into_iter()
        .flat_map(|(_, actions)| actions)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code a caller can meet is in the README's table, with its status.
    #[test]
    fn the_readme_tables_every_code() {
        use strum::VariantArray;
        let readme = include_str!("../../../README.md");
        for code in VerificationCode::VARIANTS {
            let status: &str = code.status().into();
            let row = format!("| `{}` | `{status}` |", code.as_str());
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
    }

    /// The STS ceiling holds for concurrent callers: at 100 calls a second
    /// with a burst of 50, 150 calls need about a second.
    #[tokio::test]
    async fn sts_calls_stay_under_the_rate() {
        let limiter = Arc::new(governor::RateLimiter::direct(sts_quota(100.0).unwrap()));
        let started = std::time::Instant::now();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    for _ in 0..25 {
                        limiter.until_ready().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
        assert!(sts_quota(0.0).is_none() && sts_quota(f64::NAN).is_none());
        assert!(sts_quota(0.5).is_some(), "a call every two seconds");
    }
}
