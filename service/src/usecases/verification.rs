//! Verification as a use case: check a customer's role with the STS/IAM
//! adapter ([`crate::aws::verification::RoleVerifier`]), then record what it
//! concluded in the store: on demand (an API key or the customer's page
//! asked) or on the verifier's schedule.

use crate::account::{Credential, VerificationStatus};
use crate::aws::verification::{
    required_actions, Probes, RoleVerifier, Target, VerificationSettings, Verified,
};
use crate::time::Timestamp;
use crate::trust::{next_check, Outcome, VerificationCode};

/// What asked for a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    /// A caller asked (`by`: an API key id, or the onboarding link the
    /// customer checked from): every outcome is recorded.
    OnDemand { by: &'a str },
    /// The verifier's sweep: a throttled check is only rescheduled, so our
    /// own load never marks a customer's account failed.
    Schedule,
}

impl Trigger<'_> {
    /// Who the result is recorded as checked by (`credential.verified_by`,
    /// the actor of its events).
    pub fn actor(&self) -> &str {
        match self {
            Trigger::OnDemand { by } => by,
            Trigger::Schedule => crate::actors::VERIFIER,
        }
    }
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
        let probed_at = if self.verified.probed {
            Some(self.at)
        } else if self.verified.outcome.is_ok() {
            previous.probed_at
        } else {
            None
        };
        Credential {
            next_verification_at: next,
            consecutive_failures: failures,
            probed_at,
            sessions: self.verified.sessions.clone(),
            ..self.verified.credential(self.role_arn.as_deref(), self.at)
        }
    }

    /// The pending role's result, as `pending_role_credential` keeps it
    /// (its sessions are in the current credential's).
    pub fn pending_role_credential(&self, pending_role: &str) -> Option<Credential> {
        let verified = self.pending_role.as_ref()?;
        Some(verified.credential(Some(pending_role), self.at))
    }
}

/// Which probes a check of `account` runs: on schedule, none once the
/// role has verified with them and kept verifying (the lint reads the
/// same condition); else always.
pub fn probes_for(account: &crate::account::Account, trigger: Trigger<'_>) -> Probes {
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
/// one is verified and stays in force. During a role change the same holds
/// for the pending role.
pub async fn check(
    verifier: &RoleVerifier,
    tenant: &str,
    account: &crate::account::Account,
    required: &[(String, Vec<String>)],
    trigger: Trigger<'_>,
) -> Checked {
    let checks = Checks {
        verifier,
        tenant,
        account,
        required,
        probes: probes_for(account, trigger),
        at: Timestamp::now(),
    };
    let Some(role) = &account.fields.role_arn else {
        let missing = Outcome::role_missing(&account.account_id);
        return checks.checked(Verified::failed(missing, Vec::new(), false), false);
    };
    if let Some(next) = &account.pending_role_arn {
        return checks.role_change(role, next).await;
    }
    match &account.pending_external_id {
        Some(pending) => checks.rotation(role, pending).await,
        None => {
            let verified = checks
                .verify(role, &account.external_id, checks.probes)
                .await;
            checks.checked(verified, false)
        }
    }
}

/// One account's checks: what every one of them shares.
struct Checks<'a> {
    verifier: &'a RoleVerifier,
    tenant: &'a str,
    account: &'a crate::account::Account,
    required: &'a [(String, Vec<String>)],
    probes: Probes,
    at: Timestamp,
}

impl Checks<'_> {
    async fn verify(&self, role_arn: &str, external_id: &str, probes: Probes) -> Verified {
        let target = Target {
            tenant: self.tenant,
            account_id: &self.account.account_id,
            role_arn,
            external_id,
            required: self.required,
        };
        self.verifier.verify(&target, probes).await
    }

    /// The account's current role checked, with `promote` when the
    /// pending external ID passed.
    fn checked(&self, verified: Verified, promote: bool) -> Checked {
        Checked {
            verified,
            role_arn: self.account.fields.role_arn.clone(),
            promote,
            switch_role: false,
            pending_role: None,
            at: self.at,
        }
    }

    /// A role change: the new role with every check; the current one
    /// stays in force, and is checked as usual, unless the new one passes.
    async fn role_change(&self, role: &str, next: &str) -> Checked {
        let external_id = &self.account.external_id;
        let with_next = self.verify(next, external_id, Probes::Always).await;
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
                role_arn: Some(next.to_string()),
                promote: false,
                switch_role: true,
                pending_role: None,
                at: self.at,
            };
        }
        let mut current = self.verify(role, external_id, self.probes).await;
        current.outcome.message = format!(
            "{} The pending role {next} did not verify ({}; see pending_role_credential): this one stays in force.",
            current.outcome.message,
            with_next.outcome.code.as_str()
        );
        let mut sessions = with_next.sessions.clone();
        sessions.append(&mut current.sessions);
        current.sessions = sessions;
        Checked {
            pending_role: Some(with_next),
            ..self.checked(current, false)
        }
    }

    /// A rotation: the pending external ID first; when the role refuses
    /// it, the current one is verified and stays in force.
    async fn rotation(&self, role: &str, pending: &str) -> Checked {
        let with_pending = self.verify(role, pending, self.probes).await;
        if with_pending.outcome.is_ok() {
            let message = format!("{} The pending external ID is now in force; the previous one is retired, so remove it from the role's trust policy.", with_pending.outcome.message);
            let verified = Verified {
                outcome: Outcome::new(VerificationCode::Ok, message),
                ..with_pending
            };
            return self.checked(verified, true);
        }
        let mut current = self
            .verify(role, &self.account.external_id, self.probes)
            .await;
        current.outcome.message = format!(
            "{} The pending external ID was not accepted ({}): the current one stays in force until the role's trust policy allows the pending one.",
            current.outcome.message,
            with_pending.outcome.code.as_str()
        );
        let mut sessions = with_pending.sessions;
        sessions.append(&mut current.sessions);
        current.sessions = sessions;
        self.checked(current, false)
    }
}

/// Record a check. A scheduled check that STS throttled is only moved on
/// (our load, not the customer's fault); every other outcome is stored with
/// its next due time, conditioned on the role and IDs being those checked.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    store: &crate::aws::store::Store,
    settings: &VerificationSettings,
    policy: &crate::tenant::TenantSettings,
    tenant: &str,
    account: &crate::account::Account,
    checked: &Checked,
    trigger: Trigger<'_>,
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
    let mut credential = checked.credential(&account.credential, next, failures);
    credential.verified_by = Some(trigger.actor().to_string());
    let pending_role = account
        .pending_role_arn
        .as_deref()
        .and_then(|role| checked.pending_role_credential(role));
    // The tenant's rotation policy: an ID past its age is due, and with
    // automatic rotation a working role gets a pending one.
    let since = if checked.promote {
        now
    } else {
        account.external_id_since.unwrap_or(account.created_at)
    };
    let rotation_due = policy.rotation_due(since, now);
    let start_rotation = (rotation_due
        && policy.auto_rotate_external_id
        && ok
        && !checked.promote
        && !checked.switch_role
        && account.pending_external_id.is_none())
    .then(crate::crypto::new_external_id);
    store
        .record_verification(
            tenant,
            account,
            &crate::aws::store::VerificationWrite {
                credential: &credential,
                promote_external_id: checked.promote,
                switch_role: checked.switch_role,
                pending_role: pending_role.as_ref(),
                rotation_due,
                start_rotation: start_rotation.as_deref(),
            },
        )
        .await
}

/// `POST /v1/accounts/{id}/verify`: the account and its attachments (read
/// at once), every check, the result recorded.
pub async fn verify_on_demand(
    store: &crate::aws::store::Store,
    verifier: &RoleVerifier,
    settings: &VerificationSettings,
    catalogue: &crate::scans::Catalogue,
    tenant: &str,
    account_id: &str,
    actor: &str,
) -> crate::Result<crate::account::Account> {
    let (read, policy) = futures::join!(
        store.account_attachments(tenant, account_id),
        store.tenant_settings(tenant)
    );
    let (account, attachments) = read?;
    let policy = policy?;
    if let Some(inactive) = account.inactive() {
        return Err(inactive);
    }
    let required = required_actions(catalogue, &attachments);
    let trigger = Trigger::OnDemand { by: actor };
    let checked = check(verifier, tenant, &account, &required, trigger).await;
    record(
        store, settings, &policy, tenant, &account, &checked, trigger,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proven_account() -> crate::account::Account {
        let role = "arn:aws:iam::000000000001:role/AccountOnboardingAudit";
        let mut account = crate::account::Account::register(
            "000000000001".into(),
            crate::account::AccountFields {
                name: "a".into(),
                role_arn: Some(role.into()),
                ..Default::default()
            },
            "key",
            Timestamp::now(),
        );
        account.credential.verification_status = VerificationStatus::Success;
        account.credential.probed_at = Some(Timestamp::now());
        account.credential.role_arn = Some(role.into());
        account
    }

    /// The sweep skips the probes only for a role proven with them and
    /// unchanged since; a caller's check always probes.
    #[test]
    fn probes_run_unless_the_schedule_rechecks_a_proven_role() {
        let proven = proven_account();
        assert_eq!(probes_for(&proven, Trigger::Schedule), Probes::IfUnread);
        assert_eq!(
            probes_for(&proven, Trigger::OnDemand { by: "key" }),
            Probes::Always
        );
        let mut changed = proven.clone();
        changed.fields.role_arn = Some("arn:aws:iam::000000000001:role/Other".into());
        assert_eq!(probes_for(&changed, Trigger::Schedule), Probes::Always);
        let mut rotating = proven.clone();
        rotating.pending_external_id = Some("next".into());
        assert_eq!(probes_for(&rotating, Trigger::Schedule), Probes::Always);
        let mut never_probed = proven.clone();
        never_probed.credential.probed_at = None;
        assert_eq!(probes_for(&never_probed, Trigger::Schedule), Probes::Always);
        let mut failing = proven;
        failing.credential.verification_status = VerificationStatus::Fail;
        assert_eq!(probes_for(&failing, Trigger::Schedule), Probes::Always);
    }

    #[test]
    fn the_schedule_records_as_the_verifier_and_a_caller_as_itself() {
        assert_eq!(Trigger::OnDemand { by: "key-1" }.actor(), "key-1");
        assert_eq!(Trigger::Schedule.actor(), crate::actors::VERIFIER);
    }
}
