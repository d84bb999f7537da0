//! Onboarding links: `ACCT#<account>#ONBOARD#<link id>` under the account
//! (deleting it purges them), `ORGLINK#<organization>#<link id>` beside an
//! organization; a link names one of them.

use super::{is_condition_failure, item_key, keys, s, Item, Store};
use crate::account::Account;
use crate::onboarding::{OnboardingLink, Subject};
use crate::organizations::Organization;
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::{Error, Result};

const RESOURCE: &str = "onboarding link";

pub(super) fn link_sk(subject: &Subject, link_id: &str) -> String {
    format!("{}{link_id}", links_prefix(subject))
}

fn links_prefix(subject: &Subject) -> String {
    match subject {
        Subject::Account(account) => format!("ACCT#{account}#ONBOARD#"),
        Subject::Organization(organization) => format!("ORGLINK#{organization}#"),
    }
}

fn subject_sk(subject: &Subject) -> String {
    match subject {
        Subject::Account(account) => keys::account_sk(account),
        Subject::Organization(organization) => keys::organization_sk(organization),
    }
}

/// What the onboarding page shows, read at once.
pub struct OnboardingContext {
    pub link: Option<OnboardingLink>,
    pub account: Option<Account>,
    pub organization: Option<Organization>,
    pub settings: TenantSettings,
}

impl Store {
    /// Where a subject's links are (the quota scope of their count).
    pub fn onboarding_links_prefix(subject: &Subject) -> String {
        links_prefix(subject)
    }

    /// Store a new link at the quota version `read` of its subject
    /// (`Ok(false)`: the quota moved, count again).
    pub async fn create_onboarding_link(
        &self,
        tenant: &str,
        link: &OnboardingLink,
        read: u64,
    ) -> Result<bool> {
        let subject = link
            .subject()
            .ok_or_else(|| Error::store("an onboarding link names one account or organization"))?;
        let mut item: Item = crate::aws::codec::to_item(link)?;
        item.extend(item_key(tenant, link_sk(&subject, &link.link_id)));
        item.insert("type".into(), s("onboarding_link"));
        super::stamp_item(&mut item);
        let put = super::put_if_absent(self.table(), item)?;
        self.write_within_quota(
            tenant,
            &links_prefix(&subject),
            read,
            vec![put],
            RESOURCE,
            &link.link_id,
        )
        .await
    }

    /// Delete links (nothing when `link_ids` is empty).
    pub async fn delete_onboarding_links(
        &self,
        tenant: &str,
        subject: &Subject,
        link_ids: &[&str],
    ) -> Result<()> {
        self.delete_items(tenant, link_ids.iter().map(|id| link_sk(subject, id)))
            .await
    }

    /// Every link of an account or organization, live or not, oldest first.
    pub async fn onboarding_links(
        &self,
        tenant: &str,
        subject: &Subject,
    ) -> Result<Vec<OnboardingLink>> {
        self.query_prefix(tenant, &links_prefix(subject)).await
    }

    /// The link, what it onboards and the tenant's settings: one
    /// BatchGetItem.
    pub async fn onboarding_context(
        &self,
        tenant: &str,
        subject: &Subject,
        link_id: &str,
    ) -> Result<OnboardingContext> {
        let link_key = link_sk(subject, link_id);
        let subject_key = subject_sk(subject);
        let mut context = OnboardingContext {
            link: None,
            account: None,
            organization: None,
            settings: TenantSettings::default(),
        };
        for mut item in self
            .batch_get(vec![
                item_key(tenant, link_key.clone()),
                item_key(tenant, subject_key.clone()),
                item_key(tenant, keys::TENANT_SK.to_string()),
            ])
            .await?
        {
            let sk = super::text_of(&item, "sk").unwrap_or_default();
            if sk == link_key {
                context.link = Some(crate::aws::codec::from_item(item)?);
            } else if sk == subject_key {
                match subject {
                    Subject::Account(_) => {
                        context.account = Some(crate::aws::codec::from_item(item)?)
                    }
                    Subject::Organization(_) => {
                        context.organization = Some(crate::aws::codec::from_item(item)?)
                    }
                }
            } else if let Some(settings) = item.remove("settings") {
                context.settings = crate::aws::codec::from_attribute_value(settings)?;
            }
        }
        Ok(context)
    }

    /// Revoke a link at once (404 unless it exists; revoking twice keeps
    /// the first revocation).
    pub async fn revoke_onboarding_link(
        &self,
        tenant: &str,
        subject: &Subject,
        link_id: &str,
        by: &str,
    ) -> Result<()> {
        let request = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, link_sk(subject, link_id))))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :now), revoked_by = if_not_exists(revoked_by, :by)")
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":now", s(Timestamp::now().to_string()))
            .expression_attribute_values(":by", s(by));
        let result = super::stamp_update(request).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: RESOURCE,
                id: link_id.to_string(),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Take the link's turn to check the connection: false while the last
    /// check was under `interval` ago (or the link was revoked meanwhile).
    pub async fn claim_onboarding_check(
        &self,
        tenant: &str,
        link: &OnboardingLink,
        now: Timestamp,
        interval: std::time::Duration,
    ) -> Result<bool> {
        let subject = link
            .subject()
            .ok_or_else(|| Error::store("an onboarding link names one account or organization"))?;
        let cutoff = Timestamp::from_datetime(
            now.datetime() - chrono::Duration::from_std(interval).unwrap_or_default(),
        );
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, link_sk(&subject, &link.link_id))))
            .update_expression("SET last_check_at = :now")
            .condition_expression(
                "attribute_exists(sk) AND attribute_not_exists(revoked_at) AND (attribute_not_exists(last_check_at) OR last_check_at <= :cutoff)",
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":cutoff", s(cutoff.to_string()))
            .send()
            .await;
        super::applied(result)
    }
}
