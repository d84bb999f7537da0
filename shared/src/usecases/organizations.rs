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
        };
        self.store
            .create_organization(tenant, &organization)
            .await?;
        Ok(organization)
    }
}
