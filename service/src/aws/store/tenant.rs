//! The tenant item (`TENANT`): its settings.

use super::{is_condition_failure, keys, n, s, Store};
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::{Error, Result};

impl Store {
    /// The tenant's settings (the defaults before any were set).
    pub async fn tenant_settings(&self, tenant: &str) -> Result<TenantSettings> {
        Ok(self.versioned_tenant_settings(tenant).await?.0)
    }

    /// The tenant's settings and their version (0 before the first write),
    /// for a change that builds on them.
    pub async fn versioned_tenant_settings(&self, tenant: &str) -> Result<(TenantSettings, u64)> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::TENANT_SK))
            .projection_expression("settings, settings_version")
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        let mut item = output.item.unwrap_or_default();
        let version = item
            .remove("settings_version")
            .and_then(|value| value.as_n().ok().and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let settings = match item.remove("settings") {
            Some(value) => crate::aws::codec::from_attribute_value(value)?,
            None => TenantSettings::default(),
        };
        Ok((settings, version))
    }

    /// Replace the tenant's settings; with `expected`, only if they are
    /// still at that version (else `VersionMismatch`, nothing written).
    pub async fn put_tenant_settings(
        &self,
        tenant: &str,
        settings: &TenantSettings,
        expected: Option<u64>,
        actor: &str,
        now: Timestamp,
    ) -> Result<TenantSettings> {
        let mut request = self
            .client
            .update_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::TENANT_SK))
            .update_expression(
                "SET settings = :settings, settings_version = if_not_exists(settings_version, :zero) + :one, settings_updated_at = :now, settings_updated_by = :actor, tenant = :tenant, #type = :type, created_at = if_not_exists(created_at, :now)",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":settings", crate::aws::codec::to_attribute_value(settings)?)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":actor", s(actor))
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":type", s("tenant"));
        request = match expected {
            None => request,
            Some(0) => request.condition_expression("attribute_not_exists(settings_version)"),
            Some(version) => request
                .condition_expression("settings_version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(settings.clone()),
            Err(err) if is_condition_failure(&err) => Err(Error::VersionMismatch {
                resource: "settings",
                id: tenant.to_string(),
                expected: expected.unwrap_or_default(),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
