//! Suppression rules (`SRULE#<id>` in the tenant's partition).

use super::{is_condition_failure, item_key, keys, s, Item, Store};
use crate::suppression_rules::SuppressionRule;
use crate::{Error, Result};

const RESOURCE: &str = "suppression rule";

impl Store {
    /// Store a new rule at the quota version `read` (`Ok(false)`: the
    /// quota moved, count again).
    pub async fn create_suppression_rule(
        &self,
        tenant: &str,
        rule: &SuppressionRule,
        read: u64,
    ) -> Result<bool> {
        let mut item: Item = crate::aws::codec::to_item(rule)?;
        item.extend(item_key(tenant, keys::suppression_rule_sk(&rule.rule_id)));
        item.insert("type".into(), s("suppression_rule"));
        let put = super::put_if_absent(self.table(), item)?;
        self.write_within_quota(
            tenant,
            keys::SUPPRESSION_RULE_PREFIX,
            read,
            vec![put],
            RESOURCE,
            &rule.rule_id,
        )
        .await
    }

    /// Every rule of a tenant (at most [`crate::suppression_rules::MAX_RULES`]):
    /// one Query.
    pub async fn suppression_rules(&self, tenant: &str) -> Result<Vec<SuppressionRule>> {
        self.query_prefix(tenant, keys::SUPPRESSION_RULE_PREFIX)
            .await
    }

    /// The tenant's rules, ready to match findings (compiled once while
    /// they stay the same: [`crate::suppression_rules::Rules::compiled`]).
    pub async fn suppression_matcher(
        &self,
        tenant: &str,
    ) -> Result<std::sync::Arc<crate::suppression_rules::Rules>> {
        Ok(crate::suppression_rules::Rules::compiled(
            tenant,
            self.suppression_rules(tenant).await?,
        ))
    }

    pub async fn delete_suppression_rule(&self, tenant: &str, rule_id: &str) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, keys::suppression_rule_sk(rule_id))))
            .condition_expression("attribute_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: RESOURCE,
                id: rule_id.to_string(),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
