//! Organization items (`ORG#<organization id>` in the tenant's partition).

use super::{is_condition_failure, keys, s, stamp_item, Item, Store};
use crate::organizations::Organization;
use crate::{Error, Result};

const RESOURCE: &str = "organization";

/// Organizations one tenant may register.
pub const MAX_ORGANIZATIONS: usize = 100;

impl Store {
    /// Store a new organization (refused if its id exists).
    pub async fn create_organization(
        &self,
        tenant: &str,
        organization: &Organization,
    ) -> Result<()> {
        let mut item: Item = serde_dynamo::to_item(organization)?;
        item.insert("pk".into(), s(keys::tenant_pk(tenant)));
        item.insert(
            "sk".into(),
            s(keys::organization_sk(&organization.organization_id)),
        );
        item.insert("type".into(), s("organization"));
        stamp_item(&mut item);
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::AlreadyExists {
                resource: RESOURCE,
                id: organization.organization_id.clone(),
            }),
            Err(err) => Err(Error::from_sdk(err)),
        }
    }

    pub async fn get_organization(
        &self,
        tenant: &str,
        organization_id: &str,
    ) -> Result<Organization> {
        self.get_item(tenant, keys::organization_sk(organization_id))
            .await?
            .map(serde_dynamo::from_item)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: RESOURCE,
                id: organization_id.to_string(),
            })
    }

    /// Every organization of a tenant (at most [`MAX_ORGANIZATIONS`]).
    pub async fn list_organizations(&self, tenant: &str) -> Result<Vec<Organization>> {
        self.query_prefix(tenant, keys::ORGANIZATION_PREFIX).await
    }

    pub async fn delete_organization(&self, tenant: &str, organization_id: &str) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::organization_sk(organization_id)))
            .condition_expression("attribute_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: RESOURCE,
                id: organization_id.to_string(),
            }),
            Err(err) => Err(Error::from_sdk(err)),
        }
    }
}
