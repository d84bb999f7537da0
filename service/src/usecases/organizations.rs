//! Register, read and remove organizations.

use crate::aws::store::{Store, MAX_ORGANIZATIONS};
use crate::aws::verification::VerificationSettings;
use crate::ids::AccountId;
use crate::organizations::{self, Filters, Organization};
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

/// An organization's display name.
pub const MAX_NAME_LEN: usize = 256;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterOrganizationRequest {
    /// Up to 256 characters.
    pub name: String,
    /// The management account, or the delegated administrator whose role
    /// may read AWS Organizations.
    #[schema(value_type = String)]
    pub management_account_id: AccountId,
    /// The role in that account (GET .../management-role-template makes it).
    pub role_arn: String,
    /// Which members to enrol; absent: all of them.
    #[serde(default)]
    pub filters: Filters,
}

/// `PATCH /v1/organizations/{id}`: the fields given replace the stored
/// ones; the others stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// Up to 256 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Another role in the management account.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Replaces the filters as a whole; the next sync departs the members
    /// they leave out and enrols those they now cover.
    #[serde(default)]
    pub filters: Option<Filters>,
}

/// The parts organization management needs.
#[derive(Clone, Copy)]
pub struct Organizations<'a> {
    pub store: &'a Store,
    pub settings: &'a VerificationSettings,
}

impl Organizations<'_> {
    pub async fn register(
        &self,
        tenant: &str,
        actor: &str,
        request: RegisterOrganizationRequest,
    ) -> Result<Organization> {
        crate::validation::display_name("name", &request.name, MAX_NAME_LEN)?;
        check_management_role(
            self.settings,
            &request.role_arn,
            request.management_account_id.as_str(),
        )?;
        request.filters.check()?;
        let organization = Organization::new(
            request.name,
            request.management_account_id.into_string(),
            request.role_arn,
            request.filters,
            actor,
            Timestamp::now(),
        );
        let prefix = crate::aws::store::keys::ORGANIZATION_PREFIX;
        crate::usecases::quota::create_within(
            self.store,
            tenant,
            prefix,
            prefix,
            |registered: &[Organization]| {
                // One registration per AWS Organization (its management
                // account), exact under concurrency like the count.
                if let Some(twin) = registered.iter().find(|other| {
                    other.management_account_id == organization.management_account_id
                }) {
                    return Err(Error::Refused {
                        code: "organization_already_registered",
                        message: format!(
                            "the AWS Organization of management account {} is registered already as {}; change that one, or delete it first",
                            organization.management_account_id, twin.organization_id
                        ),
                    });
                }
                crate::usecases::quota::below(
                    registered.len(),
                    MAX_ORGANIZATIONS,
                    "too_many_organizations",
                    format!("a tenant has at most {MAX_ORGANIZATIONS} organizations; delete one first"),
                )
            },
            |read| self.store.create_organization(tenant, &organization, read),
        )
        .await?;
        Ok(organization)
    }

    /// Change the name, role or filters, checked as at registration, only
    /// at the version read (a concurrent change is a 412, never lost).
    pub async fn update(
        &self,
        tenant: &str,
        actor: &str,
        organization_id: &str,
        request: UpdateOrganizationRequest,
    ) -> Result<Organization> {
        let current = self.store.get_organization(tenant, organization_id).await?;
        let mut next = current.clone();
        if let Some(name) = request.name {
            crate::validation::display_name("name", &name, MAX_NAME_LEN)?;
            next.name = name;
        }
        if let Some(role_arn) = request.role_arn {
            check_management_role(self.settings, &role_arn, &next.management_account_id)?;
            next.role_arn = role_arn;
        }
        if let Some(filters) = request.filters {
            filters.check()?;
            next.filters = filters;
        }
        next.updated_at = Timestamp::now();
        next.updated_by = actor.to_string();
        self.store
            .update_organization(tenant, &next, current.version)
            .await
    }
}

/// The organization's role: one this service may assume, in its
/// management account (at registration and on every change of it).
fn check_management_role(
    settings: &VerificationSettings,
    role_arn: &str,
    management_account_id: &str,
) -> Result<()> {
    settings.check_role_name(Some(role_arn))?;
    let role = crate::validation::role_arn("role_arn", role_arn)?;
    if role.account_id != management_account_id {
        return Err(Error::invalid(
            "role_arn",
            format!(
                "the role is in account {}; the organization's role must be in its management account {management_account_id}",
                role.account_id
            ),
        ));
    }
    Ok(())
}

/// Delete an organization's registration. Its accounts stay, detached
/// (those departed are archived): they are the tenant's accounts, and
/// their roles keep working with the external IDs they have.
pub async fn delete(store: &Store, tenant: &str, organization_id: &str) -> Result<()> {
    store.get_organization(tenant, organization_id).await?;
    let members: Vec<String> = store
        .list_organization_members(tenant, organization_id)
        .await?
        .into_iter()
        .map(|member| member.account_id)
        .collect();
    let now = Timestamp::now();
    let detached = store
        .reconcile_accounts(tenant, &members, &Default::default(), |current, _| {
            crate::enrolment::detach(current, organization_id, now)
        })
        .await?;
    if !detached.contended.is_empty() {
        return Err(Error::Conflict(format!(
            "{} member accounts kept changing; retry the delete",
            detached.contended.len()
        )));
    }
    store.delete_organization(tenant, organization_id).await
}

/// Start a rotation of the organization's external-ID prefix: a new
/// prefix from the CSPRNG, trusted beside the current one by the
/// templates, and each enrolled member's pending ID (promoted member by
/// member by the verifier, as any account's rotation). The organization's
/// own prefix is promoted by the first sync whose management role accepts
/// the new ID. A rotation already pending is replaced only when asked
/// (`replace`; else 409 rotation_pending).
pub async fn rotate_prefix(
    store: &Store,
    tenant: &str,
    organization_id: &str,
    replace: bool,
) -> Result<Organization> {
    let before = store.get_organization(tenant, organization_id).await?;
    if before.archived_at.is_some() {
        return Err(crate::organizations::archived_refuses_rotation(
            organization_id,
        ));
    }
    let seen = before.pending_external_id_prefix.as_deref();
    if seen.is_some() && !replace {
        return Err(Error::Refused {
            code: "rotation_pending",
            message: format!(
                "organization {organization_id} has a pending prefix already; let a sync promote it, cancel it (DELETE /v1/organizations/{organization_id}/external-id-prefix/pending), or rotate with ?replace=true to replace it"
            ),
        });
    }
    let pending = organizations::new_prefix();
    // The organization first, conditional on the rotation read: the
    // members then follow what it holds.
    let organization = store
        .set_organization_pending_prefix(tenant, organization_id, Some(&pending), seen)
        .await?;
    if seen.is_some() {
        // Members that took the replaced prefix lose it.
        set_member_rotation(store, tenant, &before, None).await?;
    }
    set_member_rotation(store, tenant, &organization, Some(&pending)).await?;
    settle_members(store, tenant, organization_id, &organization).await?;
    Ok(organization)
}

/// Cancel a rotation: the organization's pending prefix goes (only if it
/// is the one read), then the members' pending IDs of it. The current IDs
/// stay in force.
pub async fn cancel_prefix_rotation(
    store: &Store,
    tenant: &str,
    organization_id: &str,
) -> Result<Organization> {
    let before = store.get_organization(tenant, organization_id).await?;
    let Some(seen) = before.pending_external_id_prefix.as_deref() else {
        return Err(Error::NotFound {
            resource: "pending external-ID prefix of organization",
            id: organization_id.to_string(),
        });
    };
    let organization = store
        .set_organization_pending_prefix(tenant, organization_id, None, Some(seen))
        .await?;
    set_member_rotation(store, tenant, &before, None).await?;
    settle_members(store, tenant, organization_id, &organization).await?;
    Ok(organization)
}

/// After the members were written from `applied`: if the organization's
/// rotation moved on meanwhile (a concurrent rotation or cancellation),
/// bring the members to what it holds now. What a crash leaves, the next
/// sync repairs ([`crate::enrolment::reconcile`]).
async fn settle_members(
    store: &Store,
    tenant: &str,
    organization_id: &str,
    applied: &Organization,
) -> Result<()> {
    let now = store.get_organization(tenant, organization_id).await?;
    if now.pending_external_id_prefix == applied.pending_external_id_prefix {
        return Ok(());
    }
    let at = Timestamp::now();
    reconcile_members(store, tenant, organization_id, |current| {
        crate::enrolment::repaired_rotation(current, &now, at)
    })
    .await
}

/// Give (or take back) the enrolled members' pending IDs.
async fn set_member_rotation(
    store: &Store,
    tenant: &str,
    organization: &Organization,
    pending: Option<&str>,
) -> Result<()> {
    let now = Timestamp::now();
    reconcile_members(store, tenant, &organization.organization_id, |current| {
        crate::enrolment::rotation(current, organization, pending, now)
    })
    .await
}

/// Write each enrolled member as `decide` wants it (conditional on the
/// version read, decided again on a refusal).
async fn reconcile_members(
    store: &Store,
    tenant: &str,
    organization_id: &str,
    decide: impl Fn(Option<&crate::account::Account>) -> Option<crate::account::Account>,
) -> Result<()> {
    let members: Vec<String> = store
        .list_organization_members(tenant, organization_id)
        .await?
        .into_iter()
        .map(|member| member.account_id)
        .collect();
    let written = store
        .reconcile_accounts(tenant, &members, &Default::default(), |current, _| {
            decide(current)
        })
        .await?;
    if !written.contended.is_empty() {
        return Err(Error::Conflict(format!(
            "{} member accounts kept changing; retry",
            written.contended.len()
        )));
    }
    Ok(())
}

/// When organizations sync on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSchedule {
    /// Between scheduled syncs (`ORGANIZATION_SYNC_INTERVAL_MINUTES`).
    pub interval: std::time::Duration,
}

impl SyncSchedule {
    pub fn from_config(config: &crate::runtime::config::Config) -> Self {
        SyncSchedule {
            interval: std::time::Duration::from_secs(
                config.organization_sync_interval_minutes * 60,
            ),
        }
    }

    /// The next sync after one that ended at `now`: a failed one is tried
    /// again sooner.
    pub fn next(&self, now: Timestamp, succeeded: bool) -> Timestamp {
        let delay = if succeeded {
            self.interval
        } else {
            self.interval.min(crate::organizations::SYNC_RETRY)
        };
        now.plus(delay)
    }
}

/// Ask for a sync of one organization: queued for the sync function
/// unless one is already queued or running (then nothing more is sent).
/// Returns the organization as it stands.
pub async fn request_sync(
    store: &Store,
    queue: Option<&crate::aws::jobs::JobQueue>,
    tenant: &str,
    organization_id: &str,
    requested_by: &str,
) -> Result<Organization> {
    let queue = queue.ok_or(Error::NotConfigured {
        code: "sync_unavailable",
        message:
            "organization syncs are not configured on this deployment (ORGANIZATION_SYNC_QUEUE_URL)"
                .into(),
    })?;
    match store
        .queue_organization_sync(tenant, organization_id, requested_by, Timestamp::now())
        .await?
    {
        Some(queued) => {
            let job = crate::organizations::SyncJob {
                tenant: tenant.to_string(),
                organization_id: organization_id.to_string(),
            };
            // If the send fails the claim lapses and the schedule queues
            // the sync again; the caller may retry at once meanwhile.
            queue.send_json(&job).await?;
            Ok(queued)
        }
        None => store.get_organization(tenant, organization_id).await,
    }
}

/// The scheduled half: queue every organization whose sync is due (at
/// most `limit` a run; the rest stay due). Returns how many were queued.
pub async fn queue_due_syncs(
    store: &Store,
    queue: &crate::aws::jobs::JobQueue,
    now: Timestamp,
    limit: usize,
) -> Result<usize> {
    let mut queued = 0;
    for (tenant, organization_id) in store.due_organizations(now, limit).await? {
        let queued_now = match store
            .queue_organization_sync(&tenant, &organization_id, SCHEDULE, now)
            .await
        {
            Ok(queued) => queued.is_some(),
            // Archived or deleted since the index was read.
            Err(Error::Refused { .. } | Error::NotFound { .. }) => false,
            Err(err) => return Err(err),
        };
        if queued_now {
            queue
                .send_json(&crate::organizations::SyncJob {
                    tenant,
                    organization_id,
                })
                .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Who asks for scheduled syncs.
pub const SCHEDULE: &str = "system:schedule";

/// What the sync function did with one job.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncJobOutcome {
    /// Ran: the summary (its status says whether it succeeded).
    Synced(Box<crate::organizations::SyncSummary>),
    /// Nothing to run: a duplicate message, or another worker holds it.
    Skipped,
}

/// Run one queued sync: claim it, so a duplicate message or a second
/// worker runs nothing, then sync.
pub async fn run_sync_job(
    store: &Store,
    verifier: &crate::aws::verification::RoleVerifier,
    settings: &VerificationSettings,
    schedule: SyncSchedule,
    job: &crate::organizations::SyncJob,
) -> Result<SyncJobOutcome> {
    let claimed = store
        .claim_organization_sync(&job.tenant, &job.organization_id, Timestamp::now())
        .await?;
    if claimed.is_none() {
        return Ok(SyncJobOutcome::Skipped);
    }
    sync(
        store,
        verifier,
        settings,
        schedule,
        &job.tenant,
        &job.organization_id,
    )
    .await
    .map(|summary| SyncJobOutcome::Synced(Box::new(summary)))
}

/// Sync one organization now: assume its management role with the derived
/// external ID, discover the members, compare with what the last sync
/// left (its member items), bring the member accounts to the decision
/// (enrol, adopt, follow a move or rename, mark a departure or a return),
/// then write the member items that changed and record the summary on the
/// organization with the next scheduled sync. Accounts are written before
/// member items, so a sync cut short is planned again in full by the next
/// one; a repeated or concurrent sync changes nothing twice. A failed sync
/// is a summary too (status FAILED, and why); only a failure to record it
/// is an error.
pub async fn sync(
    store: &Store,
    verifier: &crate::aws::verification::RoleVerifier,
    settings: &VerificationSettings,
    schedule: SyncSchedule,
    tenant: &str,
    organization_id: &str,
) -> Result<crate::organizations::SyncSummary> {
    use crate::organizations::{Changed, SyncStatus, SyncSummary};
    let mut organization = store.get_organization(tenant, organization_id).await?;
    let started = Timestamp::now();
    let outcome = sync_members(
        store,
        verifier,
        settings,
        tenant,
        &mut organization,
        started,
    )
    .await;
    let (aws_id, summary) = match outcome {
        Ok((aws_id, summary)) => (Some(aws_id), summary),
        Err(err) => {
            tracing::warn!(tenant, organization_id, error = %err.chain(), "organization sync failed");
            let failed = SyncSummary {
                at: started,
                status: SyncStatus::Failed,
                role_refusal: role_refusal(&err),
                error: Some(match &err {
                    Error::Refused { message, .. } => message.clone(),
                    Error::Conflict(message) => message.clone(),
                    _ => {
                        "the sync could not reach AWS Organizations; it is tried again soon".into()
                    }
                }),
                members: 0,
                enrolled: Changed::default(),
                departed: Changed::default(),
                returned: Changed::default(),
                moved: Changed::default(),
                renamed: Changed::default(),
                filtered_out: Changed::default(),
                accounts_written: 0,
                calls: 0,
            };
            (None, failed)
        }
    };
    let next = schedule.next(Timestamp::now(), summary.status == SyncStatus::Succeeded);
    store
        .record_organization_sync(tenant, organization_id, &summary, aws_id.as_deref(), next)
        .await?;
    Ok(summary)
}

/// The sync's work, whose failure [`sync`] records.
// Long: plan then apply for one organization's members (enrolled, moved, departed), each outcome
// counted for the sync's record.
async fn sync_members(
    store: &Store,
    verifier: &crate::aws::verification::RoleVerifier,
    settings: &VerificationSettings,
    tenant: &str,
    organization: &mut Organization,
    now: Timestamp,
) -> Result<(String, crate::organizations::SyncSummary)> {
    use crate::aws::discovery;
    use crate::enrolment::{departure_of, reconcile, MemberRole, Target};
    use crate::organizations::{Changed, SyncStatus, SyncSummary};
    let credentials =
        assume_management_role(store, verifier, settings, tenant, organization).await?;
    let organization: &Organization = organization;
    let organization_id = organization.organization_id.as_str();
    let client = discovery::client(verifier.sdk(), credentials)?;
    let found = discovery::discover(&client, !organization.filters.tags.is_empty()).await?;
    let previous = store
        .list_organization_members(tenant, organization_id)
        .await?;
    let diff = discovery::plan(&previous, &found.members, &organization.filters);
    let by_id: std::collections::HashMap<&str, &crate::organizations::Member> = found
        .members
        .iter()
        .map(|member| (member.account_id.as_str(), member))
        .collect();
    let mut targets: std::collections::BTreeMap<&str, Target<'_>> = Default::default();
    for id in diff
        .enrolled
        .iter()
        .chain(&diff.returned)
        .chain(&diff.moved)
        .chain(&diff.renamed)
    {
        if let Some(member) = by_id.get(id.as_str()) {
            targets.insert(id, Target::Covered(member));
        }
    }
    for id in &diff.departed {
        let reason = match by_id.get(id.as_str()) {
            Some(member) => departure_of(member, organization.filters.admit(member))
                .unwrap_or(crate::account::DepartureReason::FilteredOut),
            None => crate::account::DepartureReason::Removed,
        };
        targets.insert(id, Target::Departed(reason));
    }
    let role = MemberRole {
        partition: crate::validation::role_arn("role_arn", &organization.role_arn)?
            .partition
            .to_string(),
        role_name: settings.role_name.clone(),
    };
    let ids: Vec<String> = targets.keys().map(|id| id.to_string()).collect();
    // Members new to this organization are written as new accounts unread;
    // one registered by hand comes back from the refused write and is
    // adopted in the next round.
    let new: std::collections::HashSet<&str> = diff.enrolled.iter().map(String::as_str).collect();
    let reconciled = store
        .reconcile_accounts(tenant, &ids, &new, |current, account_id| {
            let target = targets.get(account_id)?;
            reconcile(current, organization, account_id, target, &role, now)
        })
        .await?;
    if !reconciled.contended.is_empty() {
        return Err(Error::Conflict(format!(
            "{} member accounts kept changing during the sync; it will try again",
            reconciled.contended.len()
        )));
    }
    let next = discovery::apply(&previous, &found.members, &diff);
    let touched: Vec<_> = next
        .into_iter()
        .filter(|member| targets.contains_key(member.account_id.as_str()))
        .collect();
    store
        .put_organization_members(tenant, organization_id, &touched)
        .await?;
    let filtered: Vec<String> = diff.filtered_out.iter().map(|(id, _)| id.clone()).collect();
    Ok((
        found.organization_id,
        SyncSummary {
            at: now,
            status: SyncStatus::Succeeded,
            error: None,
            role_refusal: None,
            members: found.members.len(),
            enrolled: Changed::of(&diff.enrolled),
            departed: Changed::of(&diff.departed),
            returned: Changed::of(&diff.returned),
            moved: Changed::of(&diff.moved),
            renamed: Changed::of(&diff.renamed),
            filtered_out: Changed::of(&filtered),
            accounts_written: reconciled.written.len(),
            calls: found.calls,
        },
    ))
}

/// Verify the management role exactly as an account's is verified (with
/// its derived external ID; refused without one and with a wrong one; in
/// the management account) and keep the session for discovery. During a
/// prefix rotation the pending ID is tried first: once the role verifies
/// with it, it is promoted to the prefix (and `organization` updated), so
/// the rest of the sync, and newcomers it enrols, use it.
use crate::aws::verification::{Probes, Target, Verified};

async fn assume_management_role(
    store: &Store,
    verifier: &crate::aws::verification::RoleVerifier,
    settings: &VerificationSettings,
    tenant: &str,
    organization: &mut Organization,
) -> Result<aws_sdk_sts::config::Credentials> {
    // Its sessions go to the management account's access log.
    let (organization_id, management) = (
        organization.organization_id.clone(),
        organization.management_account_id.clone(),
    );
    let keep = |verified: &Verified| {
        let sessions = verified
            .sessions
            .iter()
            .map(|session| {
                let mut session = session.clone();
                session.reference = Some(organization_id.clone());
                (tenant.to_string(), management.clone(), session)
            })
            .collect();
        let ledger = crate::access::Ledger {
            sessions,
            ..Default::default()
        };
        async move { store.put_ledger(&ledger, settings.access_log_days).await }
    };
    if let (Some(pending), Some(pending_id)) = (
        organization.pending_external_id_prefix.clone(),
        organization.pending_management_external_id(),
    ) {
        let target = Target {
            tenant,
            account_id: &organization.management_account_id,
            role_arn: &organization.role_arn,
            external_id: &pending_id,
            required: &[],
        };
        let verified = verifier.verify_and_keep(&target, Probes::Always).await;
        keep(&verified).await?;
        if let Some(credentials) = verified.credentials {
            if store
                .promote_organization_prefix(tenant, &organization.organization_id, &pending)
                .await?
            {
                organization.external_id_prefix = pending;
                organization.pending_external_id_prefix = None;
            }
            return Ok(credentials);
        }
    }
    let external_id = organization.management_external_id();
    let target = Target {
        tenant,
        account_id: &organization.management_account_id,
        role_arn: &organization.role_arn,
        external_id: &external_id,
        required: &[],
    };
    let verified = verifier.verify_and_keep(&target, Probes::Always).await;
    keep(&verified).await?;
    match verified {
        Verified {
            credentials: Some(credentials),
            ..
        } => Ok(credentials),
        Verified { outcome, .. } => Err(Error::Refused {
            code: ROLE_REFUSED,
            message: format!("{}: {}", outcome.code.as_str(), outcome.message),
        }),
    }
}

/// The refusal code of a sync the management role refused.
const ROLE_REFUSED: &str = "organization_role_refused";

/// How the management role refused, from the refusal's message (written
/// as `<code>: <message>` above).
fn role_refusal(err: &Error) -> Option<crate::trust::VerificationCode> {
    match err {
        Error::Refused {
            code: ROLE_REFUSED,
            message,
        } => message
            .split_once(':')
            .and_then(|(code, _)| code.parse().ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{self, assert_names, OfflineStore};

    #[tokio::test]
    async fn a_registration_is_refused_before_any_round_trip() {
        let offline = OfflineStore::new();
        let settings = offline::settings();
        let organizations = Organizations {
            store: &offline.store,
            settings: &settings,
        };
        for (value, field) in [
            (
                serde_json::json!({"name": "", "management_account_id": "000000000001",
                    "role_arn": "arn:aws:iam::000000000001:role/OrganizationsReader"}),
                "name",
            ),
            (
                serde_json::json!({"name": "org", "management_account_id": "000000000001",
                    "role_arn": "arn:aws:iam::000000000002:role/OrganizationsReader"}),
                "role_arn",
            ),
        ] {
            let request: RegisterOrganizationRequest =
                serde_json::from_value(value.clone()).unwrap();
            let err = organizations
                .register("tenant", "key", request)
                .await
                .unwrap_err();
            assert_names(&err, field, &value);
        }
        assert_eq!(offline.calls(), 0);
    }

    #[test]
    fn a_failed_sync_is_tried_again_sooner_but_never_later_than_the_interval() {
        let now = Timestamp::now();
        let hourly = SyncSchedule {
            interval: std::time::Duration::from_secs(3600),
        };
        assert_eq!(hourly.next(now, true), now.plus(hourly.interval));
        assert_eq!(
            hourly.next(now, false),
            now.plus(crate::organizations::SYNC_RETRY.min(hourly.interval))
        );
        assert!(hourly.next(now, false) <= hourly.next(now, true));
        let brief = SyncSchedule {
            interval: std::time::Duration::from_secs(1),
        };
        assert_eq!(brief.next(now, false), now.plus(brief.interval));
    }
}
