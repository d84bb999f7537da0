//! Register, read and remove organizations.

use crate::ids::AccountId;
use crate::organizations::{self, Filters, Organization};
use crate::store::{Store, MAX_ORGANIZATIONS};
use crate::time::Timestamp;
use crate::verification::VerificationSettings;
use crate::{Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

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
        crate::validation::text("name", &request.name, 256)?;
        self.settings.check_role_name(Some(&request.role_arn))?;
        let role = crate::validation::role_arn("role_arn", &request.role_arn)?;
        if role.account_id != request.management_account_id.as_str() {
            return Err(Error::invalid(
                "role_arn",
                format!(
                    "the role is in account {}; the organization's role must be in its management account {}",
                    role.account_id,
                    request.management_account_id.as_str()
                ),
            ));
        }
        request.filters.check()?;
        if self.store.list_organizations(tenant).await?.len() >= MAX_ORGANIZATIONS {
            return Err(Error::Refused {
                code: "too_many_organizations",
                message: format!(
                    "a tenant has at most {MAX_ORGANIZATIONS} organizations; delete one first"
                ),
            });
        }
        let now = Timestamp::now();
        let organization = Organization {
            organization_id: ulid::Ulid::new().to_string(),
            name: request.name,
            management_account_id: request.management_account_id.into_string(),
            role_arn: request.role_arn,
            // Each registration its own, even of the same AWS Organization.
            external_id_prefix: organizations::new_prefix(),
            filters: request.filters,
            aws_organization_id: None,
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            updated_by: actor.to_string(),
            version: 1,
            last_sync: None,
        };
        self.store
            .create_organization(tenant, &organization)
            .await?;
        Ok(organization)
    }
}

/// Sync one organization: assume its management role with the derived
/// external ID, discover the members, compare with what the last sync
/// left (its member items), write the members that changed and record the
/// summary on the organization. A repeated or concurrent sync writes the
/// same items again and changes nothing twice. A failure is recorded too.
pub async fn sync(
    store: &Store,
    verifier: &crate::verification::RoleVerifier,
    tenant: &str,
    organization_id: &str,
) -> Result<crate::organizations::SyncSummary> {
    use crate::discovery;
    use crate::organizations::{Changed, SyncStatus, SyncSummary};
    let organization = store.get_organization(tenant, organization_id).await?;
    let started = Timestamp::now();
    let outcome = async {
        let credentials = verifier
            .assume_for_scan(
                &organization.role_arn,
                &organization.management_external_id(),
                &format!("org-sync-{organization_id}"),
            )
            .await
            .map_err(|outcome| Error::Refused {
                code: "organization_role_refused",
                message: outcome.message,
            })?;
        let client = discovery::client(verifier.sdk(), credentials)?;
        let found = discovery::discover(&client, !organization.filters.tags.is_empty()).await?;
        let previous = store
            .list_organization_members(tenant, organization_id)
            .await?;
        let diff = discovery::plan(&previous, &found.members, &organization.filters);
        let next = discovery::apply(&previous, &found.members, &diff);
        let touched: Vec<_> = next
            .into_iter()
            .filter(|member| {
                let id = &member.account_id;
                [
                    &diff.enrolled,
                    &diff.departed,
                    &diff.returned,
                    &diff.moved,
                    &diff.renamed,
                ]
                .iter()
                .any(|list| list.contains(id))
            })
            .collect();
        store
            .put_organization_members(tenant, organization_id, &touched)
            .await?;
        let filtered: Vec<String> = diff.filtered_out.iter().map(|(id, _)| id.clone()).collect();
        Ok::<_, Error>((
            found.organization_id,
            SyncSummary {
                at: started,
                status: SyncStatus::Succeeded,
                error: None,
                members: found.members.len(),
                enrolled: Changed::of(&diff.enrolled),
                departed: Changed::of(&diff.departed),
                returned: Changed::of(&diff.returned),
                moved: Changed::of(&diff.moved),
                renamed: Changed::of(&diff.renamed),
                filtered_out: Changed::of(&filtered),
                calls: found.calls,
            },
        ))
    }
    .await;
    let (aws_id, summary, result) = match outcome {
        Ok((aws_id, summary)) => (Some(aws_id), summary.clone(), Ok(summary)),
        Err(err) => {
            let failed = SyncSummary {
                at: started,
                status: SyncStatus::Failed,
                error: Some(match &err {
                    Error::Refused { message, .. } => message.clone(),
                    _ => "the sync could not reach AWS Organizations; retry it in a minute".into(),
                }),
                members: 0,
                enrolled: Changed::default(),
                departed: Changed::default(),
                returned: Changed::default(),
                moved: Changed::default(),
                renamed: Changed::default(),
                filtered_out: Changed::default(),
                calls: 0,
            };
            (None, failed, Err(err))
        }
    };
    store
        .record_organization_sync(tenant, organization_id, &summary, aws_id.as_deref())
        .await?;
    result
}
