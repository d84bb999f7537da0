//! Create, list and delete a tenant's suppression rules.

use crate::aws::store::Store;
use crate::scans::Catalogue;
use crate::suppression_rules::{SuppressionRule, SuppressionRuleRequest, MAX_RULES};
use crate::time::Timestamp;
use crate::{Error, Result};

pub struct SuppressionRules<'a> {
    pub store: &'a Store,
    pub catalogue: &'a Catalogue,
}

impl SuppressionRules<'_> {
    /// A new rule; it applies from each data source's next scan.
    pub async fn create(
        &self,
        tenant: &str,
        actor: &str,
        request: SuppressionRuleRequest,
    ) -> Result<SuppressionRule> {
        let rule = request.rule(ulid::Ulid::new().to_string(), actor, Timestamp::now())?;
        if let Some(name) = &rule.data_source {
            if self.catalogue.get(name).is_none() {
                return Err(Error::invalid(
                    "data_source",
                    format!(
                        "'{}' is not a data source offered here; GET /v1/data-sources lists them",
                        crate::validation::echo(name)
                    ),
                ));
            }
        }
        let prefix = crate::aws::store::keys::SUPPRESSION_RULE_PREFIX;
        crate::usecases::quota::create_within(
            self.store,
            tenant,
            prefix,
            prefix,
            |rules: &[SuppressionRule]| {
                crate::usecases::quota::below(
                    rules.len(),
                    MAX_RULES,
                    "too_many_suppression_rules",
                    format!("a tenant has at most {MAX_RULES} suppression rules; delete one first"),
                )
            },
            |read| self.store.create_suppression_rule(tenant, &rule, read),
        )
        .await?;
        Ok(rule)
    }

    /// Every rule, oldest first (the order they are matched in).
    pub async fn list(&self, tenant: &str) -> Result<Vec<SuppressionRule>> {
        let mut rules = self.store.suppression_rules(tenant).await?;
        rules.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        Ok(rules)
    }

    /// Gone at once from new scans; the findings it suppressed open again
    /// at their data source's next scan.
    pub async fn delete(&self, tenant: &str, rule_id: &str) -> Result<()> {
        self.store.delete_suppression_rule(tenant, rule_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{assert_names, OfflineStore};

    #[tokio::test]
    async fn a_rule_for_a_source_not_offered_is_refused_before_any_read() {
        let offline = OfflineStore::new();
        let catalogue = Catalogue::default();
        let rules = SuppressionRules {
            store: &offline.store,
            catalogue: &catalogue,
        };
        let request: SuppressionRuleRequest = serde_json::from_value(serde_json::json!({
            "data_source": "aws:nowhere", "rule": "IAM_USER_WITHOUT_MFA",
            "reason": "accepted risk",
        }))
        .unwrap();
        let err = rules.create("tenant", "key", request).await.unwrap_err();
        assert_names(&err, "data_source", "aws:nowhere");
        assert_eq!(offline.calls(), 0);
    }
}
