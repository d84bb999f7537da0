//! Verifying a customer's cross-account role with STS.
//!
//! The checks: AssumeRole with the external ID; GetCallerIdentity with that
//! session, whose account must be the registered one; and AssumeRole without
//! an external ID and with a wrong one, which must both be refused. If
//! either of those succeeds the trust policy is open to the confused-deputy
//! attack, and the account fails verification.

use crate::account::{Credential, VerificationStatus};
use crate::time::Timestamp;
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

    /// The credential state this outcome leaves, verified at `now`.
    pub fn credential(&self, now: Timestamp, next: Option<Timestamp>, failures: u32) -> Credential {
        Credential {
            verification_status: self.code.status(),
            verification_code: Some(self.code),
            verification_message: Some(self.message.clone()),
            last_verified_at: Some(now),
            next_verification_at: next,
            consecutive_failures: failures,
        }
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
        }
    }

    /// Run one STS call with retries: throttling, timeouts and transient
    /// failures are tried again after an exponential backoff with full
    /// jitter, and every attempt first waits for the rate limiter.
    async fn call<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, StsFailure>
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
            if let Some(limiter) = &self.limiter {
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
        self.call(|| self.sts.get_caller_identity().send())
            .await
            .map_err(|failure| format!("GetCallerIdentity failed: {failure:?}"))?
            .account
            .ok_or_else(|| "GetCallerIdentity returned no account".to_string())
    }

    async fn assume(
        &self,
        role_arn: &str,
        external_id: Option<&str>,
        session_name: &str,
    ) -> Result<Credentials, StsFailure> {
        let output = self
            .call(|| {
                self.sts
                    .assume_role()
                    .role_arn(role_arn)
                    .role_session_name(session_name)
                    .duration_seconds(900)
                    .set_external_id(external_id.map(str::to_string))
                    .send()
            })
            .await?;
        let credentials = output
            .credentials
            .ok_or_else(|| StsFailure::Other("AssumeRole returned no credentials".into()))?;
        Ok(Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            None,
            "verification",
        ))
    }

    async fn session_account(&self, credentials: Credentials) -> Result<String, StsFailure> {
        let client = aws_sdk_sts::Client::from_conf(
            self.sts_config
                .to_builder()
                .credentials_provider(credentials)
                .build(),
        );
        let output = self.call(|| client.get_caller_identity().send()).await?;
        output
            .account
            .ok_or_else(|| StsFailure::Other("GetCallerIdentity returned no account".into()))
    }

    /// Verify that `role_arn` in `account_id` can be assumed with
    /// `external_id`, and only with it.
    pub async fn verify(&self, account_id: &str, role_arn: &str, external_id: &str) -> Outcome {
        self.verify_and_keep(account_id, role_arn, external_id)
            .await
            .0
    }

    /// [`RoleVerifier::verify`], keeping the session it opened with the
    /// external ID when the role verified (for work that follows at once,
    /// such as an organization's discovery).
    pub async fn verify_and_keep(
        &self,
        account_id: &str,
        role_arn: &str,
        external_id: &str,
    ) -> (Outcome, Option<Credentials>) {
        let wrong_external_id = crate::crypto::new_external_id();
        let session = format!("verify-{account_id}");
        // The three AssumeRole calls are independent: run them at once.
        let (with_id, without_id, with_wrong_id) = futures::join!(
            self.assume(role_arn, Some(external_id), &session),
            self.assume(role_arn, None, &session),
            self.assume(role_arn, Some(&wrong_external_id), &session),
        );
        let credentials = match with_id {
            Ok(credentials) => credentials,
            Err(failure) => return (self.failure_outcome(failure, role_arn), None),
        };
        let session_account = match self.session_account(credentials.clone()).await {
            Ok(account) => account,
            Err(failure) => return (self.failure_outcome(failure, role_arn), None),
        };
        if session_account != account_id {
            return (Outcome::new(
                VerificationCode::AccountMismatch,
                format!("The role {role_arn} belongs to account {session_account}, not to {account_id}: create the role in account {account_id} and register its ARN."),
            ), None);
        }
        for (result, how) in [
            (without_id, "without any external ID"),
            (with_wrong_id, "with a wrong external ID"),
        ] {
            match result {
                Ok(_) => {
                    return (Outcome::new(
                        VerificationCode::ExternalIdNotEnforced,
                        format!("The role {role_arn} can be assumed {how}, so anyone who learns its ARN can make us act on it (the confused-deputy attack). Add a Condition to its trust policy: StringEquals sts:ExternalId = this account's external_id, on every statement that trusts us."),
                    ), None)
                }
                Err(StsFailure::AccessDenied) => {}
                Err(failure) => return (self.failure_outcome(failure, role_arn), None),
            }
        }
        (
            Outcome::new(
                VerificationCode::Ok,
                format!(
                    "The role {role_arn} was assumed with the external ID and is refused without it."
                ),
            ),
            Some(credentials),
        )
    }

    /// Temporary credentials of `role_arn` for a scan (one AssumeRole with
    /// the external ID, session named after the scan so CloudTrail shows
    /// it). A failure comes back as the verification outcome it would be.
    pub async fn assume_for_scan(
        &self,
        role_arn: &str,
        external_id: &str,
        scan_id: &str,
    ) -> Result<Credentials, Outcome> {
        self.assume(role_arn, Some(external_id), &format!("scan-{scan_id}"))
            .await
            .map_err(|failure| self.failure_outcome(failure, role_arn))
    }

    fn failure_outcome(&self, failure: StsFailure, role_arn: &str) -> Outcome {
        match failure {
            StsFailure::AccessDenied => Outcome::new(
                VerificationCode::AccessDenied,
                format!("The role {role_arn} could not be assumed with this account's external ID. Check that the role exists, that its trust policy allows our principal (GET /v1/cloud-providers/aws) to call sts:AssumeRole, and that its Condition requires sts:ExternalId equal to the account's external_id."),
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
    pub outcome: Outcome,
    /// The pending external ID passed and replaces the current one.
    pub promote: bool,
    pub at: Timestamp,
}

/// Run the checks for an account (STS only, nothing written). During a
/// rotation the pending external ID is tried first; if it fails, the current
/// one is verified and stays in force.
pub async fn check(verifier: &RoleVerifier, account: &crate::account::Account) -> Checked {
    let at = Timestamp::now();
    let id = account.account_id.as_str();
    let (outcome, promote) = match (&account.fields.role_arn, &account.pending_external_id) {
        (None, _) => (Outcome::role_missing(id), false),
        (Some(role), Some(pending)) => {
            let with_pending = verifier.verify(id, role, pending).await;
            if with_pending.is_ok() {
                let message = format!("{} The pending external ID is now in force; the previous one is retired, so remove it from the role's trust policy.", with_pending.message);
                (Outcome::new(VerificationCode::Ok, message), true)
            } else {
                let mut current = verifier.verify(id, role, &account.external_id).await;
                current.message = format!(
                    "{} The pending external ID was not accepted ({}): the current one stays in force until the role's trust policy allows the pending one.",
                    current.message,
                    with_pending.code.as_str()
                );
                (current, false)
            }
        }
        (Some(role), None) => (verifier.verify(id, role, &account.external_id).await, false),
    };
    Checked {
        outcome,
        promote,
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
    let outcome = &checked.outcome;
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
    let credential = outcome.credential(now, next, failures);
    store
        .record_verification(tenant, account, &credential, checked.promote)
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
    let checked = check(verifier, account).await;
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
