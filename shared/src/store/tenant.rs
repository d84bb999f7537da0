//! The tenant item (`TENANT`): its settings.

use super::{keys, s, Store};
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::{Error, Result};

impl Store {
    /// The tenant's settings (the defaults before any were set).
    pub async fn tenant_settings(&self, tenant: &str) -> Result<TenantSettings> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::TENANT_SK))
            .projection_expression("settings")
            .send()
            .await
            .map_err(Error::from_sdk)?;
        match output.item.and_then(|mut item| item.remove("settings")) {
            Some(value) => Ok(serde_dynamo::from_attribute_value(value)?),
            None => Ok(TenantSettings::default()),
        }
    }

    /// Replace the tenant's settings.
    pub async fn put_tenant_settings(
        &self,
        tenant: &str,
        settings: &TenantSettings,
        actor: &str,
        now: Timestamp,
    ) -> Result<TenantSettings> {
        self.client
            .update_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::TENANT_SK))
            .update_expression(
                "SET settings = :settings, settings_updated_at = :now, settings_updated_by = :actor, tenant = :tenant, #type = :type, created_at = if_not_exists(created_at, :now)",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":settings", serde_dynamo::to_attribute_value(settings)?)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":actor", s(actor))
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":type", s("tenant"))
            .send()
            .await
            .map_err(Error::from_sdk)?;
        Ok(settings.clone())
    }
}
