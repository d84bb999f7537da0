//! Verifying a customer's cross-account role with STS.
//!
//! The checks: AssumeRole with the external ID; GetCallerIdentity with that
//! session, whose account must be the registered one; and AssumeRole without
//! an external ID and with a wrong one, which must both be refused. If
//! either of those succeeds the trust policy is open to the confused-deputy
//! attack, and the account fails verification.

use crate::access::{AccessPurpose, AccessRecord, SessionOutcome, SessionRequest};
use crate::account::{Credential, VerificationStatus};
use crate::time::Timestamp;
use crate::trust_lint::{TrustFinding, TrustFindingCode, VendorPrincipal};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Why a verification ended as it did.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationCode {
    Ok,
    RoleMissing,
    AccessDenied,
    ExternalIdNotEnforced,
    AccountMismatch,
    Throttled,
    Timeout,
    Internal,
}

impl VerificationCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn status(self) -> VerificationStatus {
        match self {
            VerificationCode::Ok => VerificationStatus::Success,
            VerificationCode::Timeout => VerificationStatus::TimedOut,
            _ => VerificationStatus::Fail,
        }
    }
}

/// The result of one verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: VerificationCode,
    /// Says what to fix, in words a customer can act on.
    pub message: String,
}

impl Outcome {
    pub fn new(code: VerificationCode, message: impl Into<String>) -> Self {
        Outcome {
            code,
            message: message.into(),
        }
    }

    pub fn is_ok(&self) -> bool {
        self.code == VerificationCode::Ok
    }

    pub fn role_missing(account_id: &str) -> Self {
        Outcome::new(
            VerificationCode::RoleMissing,
            format!("No role ARN is registered for account {account_id}: create the role (GET /v1/accounts/{account_id}/cloudformation-template makes one) and set role_arn on the account."),
        )
    }
}

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
}

impl VerificationSettings {
    /// Refuse a role this service is not allowed to assume, at registration
    /// rather than as a puzzling ACCESS_DENIED later.
    pub fn check_role_name(&self, role_arn: Option<&str>) -> crate::Result<()> {
        let Some(arn) = role_arn else { return Ok(()) };
        let role = crate::validation::role_arn("role_arn", arn)?;
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

/// IAM-style wildcard match: `*` any run, `?` one character.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

/// A failed STS call, classified.
#[derive(Debug)]
enum StsFailure {
    AccessDenied,
    Throttled,
    Timeout,
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

/// A delay drawn uniformly from [0, `backoff`] ("full jitter"), so retries
/// of many workers spread out instead of arriving together.
fn jittered(backoff: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    let fraction = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    };
    backoff.mul_f64(fraction)
}

fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
) -> StsFailure {
    use crate::aws_errors::ErrorClass;
    match crate::aws_errors::classify(&err) {
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
    sts_config: aws_sdk_sts::Config,
    sts: aws_sdk_sts::Client,
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

/// The session length the service asks for: its longest job runs in a
/// Lambda invocation (15 minutes at most).
pub const SESSION_SECONDS: u32 = 900;

/// The region of IAM's global endpoint in each partition.
fn iam_region(partition: &str) -> &'static str {
    match partition {
        "aws-us-gov" => "us-gov-west-1",
        "aws-cn" => "cn-north-1",
        _ => "us-east-1",
    }
}

/// One role to check or assume, and on whose behalf.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub tenant: &'a str,
    pub account_id: &'a str,
    pub role_arn: &'a str,
    pub external_id: &'a str,
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
    pub sessions: Vec<AccessRecord>,
    /// The probes ran and were refused.
    pub probed: bool,
    /// The session with the external ID, when kept and the role verified.
    pub credentials: Option<Credentials>,
}

impl RoleVerifier {
    pub fn new(sdk_config: &SdkConfig, settings: &VerificationSettings) -> Self {
        let sts_config = aws_sdk_sts::config::Builder::from(sdk_config)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(settings.call_timeout)
                    .connect_timeout(settings.call_timeout)
                    .build(),
            )
            // Retries are ours (see `call`), so each passes the rate limiter.
            .retry_config(RetryConfig::disabled())
            .build();
        RoleVerifier {
            sdk: sdk_config.clone(),
            sts: aws_sdk_sts::Client::from_conf(sts_config.clone()),
            sts_config,
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
                        && crate::aws_errors::classify(&err).is_retryable() =>
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
        let result = self
            .call(true, || {
                self.sts
                    .assume_role()
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
            Err(StsFailure::Other(_)) => SessionOutcome::Failed,
        };
        (
            result,
            request.record(at, role_arn, SESSION_SECONDS, outcome),
        )
    }

    async fn session_account(&self, credentials: Credentials) -> Result<String, StsFailure> {
        let client = aws_sdk_sts::Client::from_conf(
            self.sts_config
                .to_builder()
                .credentials_provider(credentials)
                .build(),
        );
        let output = self
            .call(true, || client.get_caller_identity().send())
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
        let client = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.sdk)
                .region(aws_sdk_iam::config::Region::from_static(iam_region(
                    role.partition,
                )))
                .credentials_provider(credentials)
                .timeout_config(
                    TimeoutConfig::builder()
                        .operation_attempt_timeout(self.call_timeout)
                        .connect_timeout(self.call_timeout)
                        .build(),
                )
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let output = self
            .call(false, || client.get_role().role_name(role.role_name).send())
            .await?;
        let role = output
            .role
            .ok_or_else(|| StsFailure::Other("GetRole returned no role".into()))?;
        Ok((
            role.assume_role_policy_document.unwrap_or_default(),
            role.max_session_duration,
        ))
    }

    /// Who customer roles should trust (the configured principal, else
    /// this service's own account, looked up once).
    async fn vendor(&self) -> Option<VendorPrincipal> {
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
            account_id,
            role_arn,
            external_id,
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
        let fail = |outcome: Outcome, sessions: Vec<AccessRecord>, probed: bool| Verified {
            outcome,
            findings: Vec::new(),
            sessions,
            probed,
            credentials: None,
        };
        let credentials = match with_id.0 {
            Ok(credentials) => credentials,
            Err(failure) => {
                if let Some((_, records)) = probed {
                    sessions.extend(records);
                }
                return fail(self.failure_outcome(failure, role_arn), sessions, false);
            }
        };
        let (session_account, policy) =
            futures::join!(self.session_account(credentials.clone()), async {
                if self.inspect_role {
                    Some(self.read_role(credentials.clone(), role_arn).await)
                } else {
                    None
                }
            });
        let session_account = match session_account {
            Ok(account) => account,
            Err(failure) => return fail(self.failure_outcome(failure, role_arn), sessions, false),
        };
        if session_account != account_id {
            return fail(Outcome::new(
                VerificationCode::AccountMismatch,
                format!("The role {role_arn} belongs to account {session_account}, not to {account_id}: create the role in account {account_id} and register its ARN."),
            ), sessions, false);
        }
        let mut findings = Vec::new();
        let mut read = false;
        match policy {
            Some(Ok((document, max_session))) => match self.vendor().await {
                Some(vendor) => {
                    findings = crate::trust_lint::lint(role_arn, &document, max_session, &vendor);
                    read = true;
                }
                None => tracing::warn!(%role_arn, "own account unknown; trust policy not linted"),
            },
            Some(Err(StsFailure::AccessDenied)) => {
                findings.push(crate::trust_lint::unreadable(role_arn));
            }
            Some(Err(failure)) => {
                tracing::warn!(?failure, %role_arn, "the trust policy could not be read; probing instead");
            }
            None => {}
        }
        if probed.is_none() && !read {
            probed = Some(self.probe(target).await);
        }
        let ran_probes = probed.is_some();
        if let Some((results, records)) = probed {
            sessions.extend(records);
            if let Some(outcome) = self.probe_outcome(results, role_arn) {
                return Verified {
                    findings,
                    ..fail(outcome, sessions, true)
                };
            }
        } else if let Some(open) = findings
            .iter()
            .find(|f| f.code == TrustFindingCode::ExternalIdNotRequired)
        {
            let outcome = Outcome::new(
                VerificationCode::ExternalIdNotEnforced,
                format!(
                    "The role {role_arn}'s trust policy: {}. {}",
                    open.message, open.fix
                ),
            );
            return Verified {
                findings,
                ..fail(outcome, sessions, false)
            };
        }
        let mut message = format!(
            "The role {role_arn} was assumed with the external ID and is refused without it."
        );
        if !findings.is_empty() {
            message.push_str(&format!(
                " Its trust policy has {} finding(s): see trust_findings.",
                findings.len()
            ));
        }
        Verified {
            outcome: Outcome::new(VerificationCode::Ok, message),
            findings,
            sessions,
            probed: ran_probes,
            credentials: Some(credentials),
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
                format!("The role {role_arn} could not be assumed with this account's external ID. Check that the role exists, that its trust policy allows our principal (GET /v1/cloud-providers/aws) the actions sts:AssumeRole and sts:SetSourceIdentity (every session names the tenant it serves), and that its Condition requires sts:ExternalId equal to the account's external_id."),
            ),
            StsFailure::Throttled => Outcome::new(
                VerificationCode::Throttled,
                "AWS STS throttled the verification after retries; nothing is wrong with the role as far as we know. It will be retried; you can also retry in a minute.",
            ),
            StsFailure::Timeout => Outcome::new(
                VerificationCode::Timeout,
                format!("AWS STS did not answer within {} ms. Retry in a minute; if it persists, check that the role's account has STS enabled in its region.", self.call_timeout.as_millis()),
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

/// What asked for a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A caller asked: every outcome is recorded.
    OnDemand,
    /// The verifier's sweep: a throttled check is only rescheduled, so our
    /// own load never marks a customer's account failed.
    Schedule,
}

/// When to check again: after a success the interval; after failures an
/// exponential backoff from 15 minutes, capped at the interval.
pub fn next_check(now: Timestamp, ok: bool, failures: u32, interval: Duration) -> Timestamp {
    let delay = if ok {
        interval
    } else {
        let backoff =
            Duration::from_secs(15 * 60).saturating_mul(1 << failures.saturating_sub(1).min(16));
        backoff.min(interval)
    };
    Timestamp::from_datetime(
        now.datetime() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)),
    )
}

/// A verification done but not yet recorded.
#[derive(Debug, Clone)]
pub struct Checked {
    pub verified: Verified,
    /// The role checked (`None`: the account has none).
    pub role_arn: Option<String>,
    /// The pending external ID passed and replaces the current one.
    pub promote: bool,
    /// The pending role passed (it is `role_arn` here) and replaces the current one.
    pub switch_role: bool,
    /// The pending role failed: its result, kept apart from the current role's.
    pub pending_role: Option<Verified>,
    pub at: Timestamp,
}

impl Checked {
    /// The credential state this check leaves: `failures` in a row,
    /// next due at `next`; the probes' time carried over when this check
    /// relied on the lint instead.
    pub fn credential(
        &self,
        previous: &Credential,
        next: Option<Timestamp>,
        failures: u32,
    ) -> Credential {
        let outcome = &self.verified.outcome;
        let probed_at = if self.verified.probed {
            Some(self.at)
        } else if outcome.is_ok() {
            previous.probed_at
        } else {
            None
        };
        Credential {
            verification_status: outcome.code.status(),
            verification_code: Some(outcome.code),
            verification_message: Some(outcome.message.clone()),
            last_verified_at: Some(self.at),
            next_verification_at: next,
            consecutive_failures: failures,
            role_arn: self.role_arn.clone(),
            trust_findings: self.verified.findings.clone(),
            probed_at,
            sessions: self.verified.sessions.clone(),
        }
    }

    /// The pending role's result, as `pending_role_credential` keeps it
    /// (its sessions are in the current credential's).
    pub fn pending_role_credential(&self, pending_role: &str) -> Option<Credential> {
        let verified = self.pending_role.as_ref()?;
        Some(Credential {
            verification_status: verified.outcome.code.status(),
            verification_code: Some(verified.outcome.code),
            verification_message: Some(verified.outcome.message.clone()),
            last_verified_at: Some(self.at),
            next_verification_at: None,
            consecutive_failures: 0,
            role_arn: Some(pending_role.to_string()),
            trust_findings: verified.findings.clone(),
            probed_at: verified.probed.then_some(self.at),
            sessions: Vec::new(),
        })
    }
}

/// Which probes a check of `account` runs: on schedule, none once the
/// role has verified with them and kept verifying (the lint reads the
/// same condition); else always.
pub fn probes_for(account: &crate::account::Account, trigger: Trigger) -> Probes {
    let credential = &account.credential;
    let proven = credential.verification_status == VerificationStatus::Success
        && credential.probed_at.is_some()
        && credential.role_arn.is_some()
        && credential.role_arn == account.fields.role_arn
        && account.pending_external_id.is_none();
    if trigger == Trigger::Schedule && proven {
        Probes::IfUnread
    } else {
        Probes::Always
    }
}

/// Run the checks for an account (STS only, nothing written). During a
/// rotation the pending external ID is tried first; if it fails, the current
/// one is verified and stays in force.
pub async fn check(
    verifier: &RoleVerifier,
    tenant: &str,
    account: &crate::account::Account,
    trigger: Trigger,
) -> Checked {
    let at = Timestamp::now();
    let id = account.account_id.as_str();
    let probes = probes_for(account, trigger);
    let target = |role_arn, external_id| Target {
        tenant,
        account_id: id,
        role_arn,
        external_id,
    };
    if let (Some(role), Some(next)) = (&account.fields.role_arn, &account.pending_role_arn) {
        // A role change: the new role with every check; the current one
        // stays in force, and is checked as usual, unless the new one passes.
        let with_next = verifier
            .verify(&target(next, &account.external_id), Probes::Always)
            .await;
        if with_next.outcome.is_ok() {
            let message = format!(
                "{} It replaces {role}, which this service no longer uses.",
                with_next.outcome.message
            );
            return Checked {
                verified: Verified {
                    outcome: Outcome::new(VerificationCode::Ok, message),
                    ..with_next
                },
                role_arn: Some(next.clone()),
                promote: false,
                switch_role: true,
                pending_role: None,
                at,
            };
        }
        let mut current = verifier
            .verify(&target(role, &account.external_id), probes)
            .await;
        current.outcome.message = format!(
            "{} The pending role {next} did not verify ({}; see pending_role_credential): this one stays in force.",
            current.outcome.message,
            with_next.outcome.code.as_str()
        );
        let mut sessions = with_next.sessions.clone();
        sessions.append(&mut current.sessions);
        current.sessions = sessions;
        return Checked {
            verified: current,
            role_arn: Some(role.clone()),
            promote: false,
            switch_role: false,
            pending_role: Some(with_next),
            at,
        };
    }
    let (verified, promote) = match (&account.fields.role_arn, &account.pending_external_id) {
        (None, _) => (
            Verified {
                outcome: Outcome::role_missing(id),
                findings: Vec::new(),
                sessions: Vec::new(),
                probed: false,
                credentials: None,
            },
            false,
        ),
        (Some(role), Some(pending)) => {
            let with_pending = verifier.verify(&target(role, pending), probes).await;
            if with_pending.outcome.is_ok() {
                let message = format!("{} The pending external ID is now in force; the previous one is retired, so remove it from the role's trust policy.", with_pending.outcome.message);
                (
                    Verified {
                        outcome: Outcome::new(VerificationCode::Ok, message),
                        ..with_pending
                    },
                    true,
                )
            } else {
                let mut current = verifier
                    .verify(&target(role, &account.external_id), probes)
                    .await;
                current.outcome.message = format!(
                    "{} The pending external ID was not accepted ({}): the current one stays in force until the role's trust policy allows the pending one.",
                    current.outcome.message,
                    with_pending.outcome.code.as_str()
                );
                let mut sessions = with_pending.sessions;
                sessions.append(&mut current.sessions);
                current.sessions = sessions;
                (current, false)
            }
        }
        (Some(role), None) => (
            verifier
                .verify(&target(role, &account.external_id), probes)
                .await,
            false,
        ),
    };
    Checked {
        verified,
        role_arn: account.fields.role_arn.clone(),
        promote,
        switch_role: false,
        pending_role: None,
        at,
    }
}

/// Record a check. A scheduled check that STS throttled is only moved on
/// (our load, not the customer's fault); every other outcome is stored with
/// its next due time, conditioned on the role and IDs being those checked.
pub async fn record(
    store: &crate::store::Store,
    settings: &VerificationSettings,
    tenant: &str,
    account: &crate::account::Account,
    checked: &Checked,
    trigger: Trigger,
) -> crate::Result<crate::account::Account> {
    let now = checked.at;
    let outcome = &checked.verified.outcome;
    if trigger == Trigger::Schedule && outcome.code == VerificationCode::Throttled {
        let retry = Timestamp::from_datetime(now.datetime() + chrono::Duration::minutes(5));
        store
            .reschedule_verification(tenant, &account.account_id, retry)
            .await?;
        return Ok(account.clone());
    }
    let ok = outcome.is_ok();
    let failures = if ok {
        0
    } else {
        account.credential.consecutive_failures.saturating_add(1)
    };
    let next = account
        .fields
        .role_arn
        .is_some()
        .then(|| next_check(now, ok, failures, settings.interval));
    let credential = checked.credential(&account.credential, next, failures);
    let pending_role = account
        .pending_role_arn
        .as_deref()
        .and_then(|role| checked.pending_role_credential(role));
    store
        .record_verification(
            tenant,
            account,
            &crate::store::VerificationWrite {
                credential: &credential,
                promote_external_id: checked.promote,
                switch_role: checked.switch_role,
                pending_role: pending_role.as_ref(),
            },
        )
        .await
}

/// Check an account's role and record the result.
pub async fn verify_and_record(
    store: &crate::store::Store,
    verifier: &RoleVerifier,
    settings: &VerificationSettings,
    tenant: &str,
    account: &crate::account::Account,
    trigger: Trigger,
) -> crate::Result<crate::account::Account> {
    let checked = check(verifier, tenant, account, trigger).await;
    record(store, settings, tenant, account, &checked, trigger).await
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn backoff_is_jittered_within_its_bound() {
        let bound = Duration::from_millis(200);
        let delays: Vec<Duration> = (0..64).map(|_| jittered(bound)).collect();
        assert!(delays.iter().all(|d| *d <= bound));
        assert!(delays.iter().any(|d| *d != delays[0]), "not all equal");
    }

    #[test]
    fn statuses_follow_codes() {
        assert_eq!(VerificationCode::Ok.status(), VerificationStatus::Success);
        assert_eq!(
            VerificationCode::Timeout.status(),
            VerificationStatus::TimedOut
        );
        assert_eq!(
            VerificationCode::ExternalIdNotEnforced.status(),
            VerificationStatus::Fail
        );
        assert_eq!(VerificationCode::Throttled.as_str(), "THROTTLED");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "Anything"));
        assert!(wildcard_match(
            "AccountOnboarding*",
            "AccountOnboardingAudit"
        ));
        assert!(!wildcard_match("AccountOnboarding*", "Admin"));
        assert!(wildcard_match("Audit-??", "Audit-01"));
        assert!(!wildcard_match("Audit-??", "Audit-1"));
        assert!(wildcard_match("*Audit*", "MyAuditRole"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let day = Duration::from_secs(86_400);
        let minutes = |at: Timestamp| (at.datetime() - now.datetime()).num_minutes();
        assert_eq!(minutes(next_check(now, true, 0, day)), 24 * 60);
        assert_eq!(minutes(next_check(now, false, 1, day)), 15);
        assert_eq!(minutes(next_check(now, false, 3, day)), 60);
        assert_eq!(minutes(next_check(now, false, 40, day)), 24 * 60);
    }
}
