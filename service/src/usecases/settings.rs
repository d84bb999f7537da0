//! A tenant's settings: replaced whole (PUT) or merge-patched (PATCH).

use crate::aws::store::Store;
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::validation::from_json;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// Rounds of read-merge-write a patch takes when others keep writing,
/// each after a jittered pause (doubling from 10 ms, at most 200 ms) so
/// concurrent patches spread out instead of colliding again.
const PATCH_ATTEMPTS: u32 = 10;

/// Replace every setting: those left out take their defaults.
pub async fn replace(
    store: &Store,
    tenant: &str,
    actor: &str,
    body: Map<String, Value>,
) -> Result<TenantSettings> {
    let settings: TenantSettings = from_json(Value::Object(body))?;
    settings.validate()?;
    store
        .put_tenant_settings(tenant, &settings, None, actor, Timestamp::now())
        .await
}

/// Apply a JSON merge patch (RFC 7396) to the settings as they are:
/// those the patch leaves out stay. Written only if no one wrote in
/// between (else merged again onto what they wrote).
pub async fn patch(
    store: &Store,
    tenant: &str,
    actor: &str,
    patch: Map<String, Value>,
) -> Result<TenantSettings> {
    for attempt in 0..PATCH_ATTEMPTS {
        if attempt > 0 {
            let backoff = std::time::Duration::from_millis((10u64 << attempt).min(200));
            tokio::time::sleep(crate::trust::jittered(backoff)).await;
        }
        let (current, version) = store.versioned_tenant_settings(tenant).await?;
        let next = merged(&current, &patch)?;
        match store
            .put_tenant_settings(tenant, &next, Some(version), actor, Timestamp::now())
            .await
        {
            Err(Error::VersionMismatch { .. }) => continue,
            other => return other,
        }
    }
    Err(Error::Conflict(
        "the settings kept changing under this request; retry it".into(),
    ))
}

/// `current` with `patch` merged in, checked.
pub fn merged(current: &TenantSettings, patch: &Map<String, Value>) -> Result<TenantSettings> {
    let mut document = serde_json::to_value(current).map_err(crate::error::store_error)?;
    json_patch::merge(&mut document, &Value::Object(patch.clone()));
    let next: TenantSettings = from_json(document)?;
    next.validate()?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{assert_names, OfflineStore};
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_patch_keeps_what_it_leaves_out_and_null_removes() {
        let current = TenantSettings {
            external_id_max_age_days: Some(365),
            auto_rotate_external_id: true,
            ..Default::default()
        };
        let branded = merged(&current, &object(json!({"product_name": "Acme Cloud"}))).unwrap();
        assert_eq!(branded.external_id_max_age_days, Some(365));
        assert!(branded.auto_rotate_external_id);
        assert_eq!(branded.product_name.as_deref(), Some("Acme Cloud"));
        // Removing the age while rotation is automatic is refused, whole.
        let refused = merged(&branded, &object(json!({"external_id_max_age_days": null})));
        assert!(refused.is_err());
        let unknown = merged(&branded, &object(json!({"colour": "red"})));
        assert!(unknown.is_err(), "unknown fields are refused");
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_any_write() {
        let offline = OfflineStore::new();
        for (value, field) in [
            (
                json!({"external_id_max_age_days": 0}),
                "external_id_max_age_days",
            ),
            (
                json!({"auto_rotate_external_id": true}),
                "auto_rotate_external_id",
            ),
            (json!({"logo_url": "javascript:alert(1)"}), "logo_url"),
        ] {
            let err = replace(&offline.store, "tenant", "key", object(value.clone()))
                .await
                .unwrap_err();
            assert_names(&err, field, &value);
        }
        assert_eq!(offline.calls(), 0);
    }
}
