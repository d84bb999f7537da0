//! Onboarding links for the vendor (create, list, revoke), and what the
//! page behind one may do for the customer: show the onboarding details of
//! its account or organization, check the connection (rate limited) and
//! read its status.

use crate::account::Account;
use crate::aws::store::Store;
use crate::aws::verification::{RoleVerifier, VerificationSettings};
use crate::onboarding::{
    CreateLinkRequest, LinkStatus, LinkView, OnboardingLink, Subject, Token,
    CHECK_INTERVAL_SECONDS, MAX_LIVE_LINKS,
};
use crate::organizations::Organization;
use crate::scans::Catalogue;
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::Serialize;
use utoipa::ToSchema;

/// A new link: its token is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewLink {
    #[serde(flatten)]
    pub link: LinkView,
    /// `/onboard/<token>`; the API answers it with the full URL as `url`.
    pub path: String,
}

/// What a link onboards, as read with it (or, after a check, as the
/// verification left the account, or the organization with its sync
/// queued).
pub enum Target {
    Account(Box<Account>),
    Organization(Box<Organization>),
}

/// An opened link: what the page shows.
pub struct OpenedLink {
    pub token: Token,
    pub link: OnboardingLink,
    pub target: Target,
    pub settings: TenantSettings,
}

/// Why a page cannot be shown: the same answer (410) for each, so a
/// visitor learns nothing from a dead link.
#[derive(Debug, PartialEq, Eq)]
pub struct LinkGone;

pub struct Onboarding<'a> {
    pub store: &'a Store,
    pub organization_sync_queue: Option<&'a crate::aws::jobs::JobQueue>,
}

fn not_found(subject: &Subject) -> Error {
    match subject {
        Subject::Account(id) => Error::NotFound {
            resource: "account",
            id: id.clone(),
        },
        Subject::Organization(id) => Error::NotFound {
            resource: "organization",
            id: id.clone(),
        },
    }
}

impl Onboarding<'_> {
    /// The account or organization a subject names; 404 when there is
    /// none.
    async fn find(&self, tenant: &str, subject: &Subject) -> Result<Target> {
        match subject {
            Subject::Account(id) => self
                .store
                .get_account(tenant, id)
                .await?
                .map(|account| Target::Account(Box::new(account)))
                .ok_or_else(|| not_found(subject)),
            Subject::Organization(id) => self
                .store
                .get_organization(tenant, id)
                .await
                .map(|organization| Target::Organization(Box::new(organization))),
        }
    }

    /// Refused unless the subject exists and is active.
    async fn require_active(&self, tenant: &str, subject: &Subject) -> Result<()> {
        match self.find(tenant, subject).await? {
            Target::Account(account) => account.inactive().map_or(Ok(()), Err),
            Target::Organization(organization) => match organization.archived_at {
                Some(_) => Err(Error::Archived {
                    id: organization.organization_id,
                }),
                None => Ok(()),
            },
        }
    }

    pub async fn create(
        &self,
        tenant: &str,
        actor: &str,
        subject: Subject,
        request: CreateLinkRequest,
    ) -> Result<NewLink> {
        let days = request.days()?;
        self.require_active(tenant, &subject).await?;
        let now = Timestamp::now();
        let link_id = ulid::Ulid::new().to_string();
        let (token, secret_hash) = Token::issue(tenant, &subject, &link_id);
        let (account_id, organization_id) = match &subject {
            Subject::Account(id) => (Some(id.clone()), None),
            Subject::Organization(id) => (None, Some(id.clone())),
        };
        let link = OnboardingLink {
            link_id,
            account_id,
            organization_id,
            secret_hash,
            created_at: now,
            created_by: actor.to_string(),
            expires_at: now.plus(std::time::Duration::from_secs(u64::from(days) * 86_400)),
            revoked_at: None,
            revoked_by: None,
            last_check_at: None,
        };
        let prefix = Store::onboarding_links_prefix(&subject);
        let stale: Vec<String> = crate::usecases::quota::create_within(
            self.store,
            tenant,
            &prefix,
            &prefix,
            |links: &[OnboardingLink]| {
                let live = links
                    .iter()
                    .filter(|link| link.status(now) == LinkStatus::Live)
                    .count();
                if live >= MAX_LIVE_LINKS {
                    return Err(Error::Refused {
                        code: "too_many_onboarding_links",
                        message: format!(
                            "{} has {MAX_LIVE_LINKS} live onboarding links, the most it may; revoke one first",
                            subject.id()
                        ),
                    });
                }
                Ok(crate::onboarding::dead_beyond_kept(links, now)
                    .into_iter()
                    .map(|link| link.link_id.clone())
                    .collect())
            },
            |read| self.store.create_onboarding_link(tenant, &link, read),
        )
        .await?;
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        self.store
            .delete_onboarding_links(tenant, &subject, &stale)
            .await?;
        Ok(NewLink {
            link: link.view(now),
            path: format!("/onboard/{token}"),
        })
    }

    pub async fn list(&self, tenant: &str, subject: &Subject) -> Result<Vec<LinkView>> {
        let now = Timestamp::now();
        let (found, links) = futures::join!(
            self.find(tenant, subject),
            self.store.onboarding_links(tenant, subject)
        );
        found?;
        Ok(links?.iter().map(|link| link.view(now)).collect())
    }

    pub async fn revoke(
        &self,
        tenant: &str,
        actor: &str,
        subject: &Subject,
        link_id: &str,
    ) -> Result<()> {
        self.store
            .revoke_onboarding_link(tenant, subject, link_id, actor)
            .await
    }

    /// The link a token opens, with what it onboards and the tenant's
    /// settings (one BatchGetItem); gone if anything does not hold.
    pub async fn open(&self, token: &str) -> Result<std::result::Result<OpenedLink, LinkGone>> {
        let Some(token) = Token::parse(token) else {
            return Ok(Err(LinkGone));
        };
        let context = self
            .store
            .onboarding_context(&token.tenant, &token.subject, &token.link_id)
            .await?;
        let now = Timestamp::now();
        let Some(link) = context.link.filter(|link| token.opens(link, now)) else {
            return Ok(Err(LinkGone));
        };
        let target = match (context.account, context.organization) {
            (Some(account), _) if account.archived_at.is_none() => {
                Target::Account(Box::new(account))
            }
            (_, Some(organization)) if organization.archived_at.is_none() => {
                Target::Organization(Box::new(organization))
            }
            _ => return Ok(Err(LinkGone)),
        };
        Ok(Ok(OpenedLink {
            token,
            link,
            target,
            settings: context.settings,
        }))
    }

    /// Check the connection for an opened link: at most once per
    /// [`CHECK_INTERVAL_SECONDS`] per link (`None`: too soon). An account
    /// is verified as an API caller would verify it (recorded alike); an
    /// organization gets a sync queued (its management role, then every
    /// member's).
    pub async fn check(
        &self,
        opened: &OpenedLink,
        verifier: &RoleVerifier,
        settings: &VerificationSettings,
        catalogue: &Catalogue,
    ) -> Result<Option<Target>> {
        let tenant = &opened.token.tenant;
        let turn = self
            .store
            .claim_onboarding_check(
                tenant,
                &opened.link,
                Timestamp::now(),
                std::time::Duration::from_secs(CHECK_INTERVAL_SECONDS),
            )
            .await?;
        if !turn {
            return Ok(None);
        }
        let by = crate::trust::link_actor(&opened.link.link_id);
        match &opened.token.subject {
            Subject::Account(id) => crate::usecases::verification::verify_on_demand(
                self.store, verifier, settings, catalogue, tenant, id, &by,
            )
            .await
            .map(|account| Some(Target::Account(Box::new(account)))),
            Subject::Organization(id) => crate::usecases::organizations::request_sync(
                self.store,
                self.organization_sync_queue,
                tenant,
                id,
                &by,
            )
            .await
            .map(|organization| Some(Target::Organization(Box::new(organization)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{assert_names, OfflineStore};

    #[tokio::test]
    async fn a_link_lifetime_out_of_range_is_refused_before_the_subject_is_read() {
        let offline = OfflineStore::new();
        let onboarding = Onboarding {
            store: &offline.store,
            organization_sync_queue: None,
        };
        for days in [0, 31] {
            let request = CreateLinkRequest {
                expires_in_days: Some(days),
            };
            let err = onboarding
                .create(
                    "tenant",
                    "key",
                    Subject::Account("000000000001".into()),
                    request,
                )
                .await
                .unwrap_err();
            assert_names(&err, "expires_in_days", days);
        }
        assert_eq!(offline.calls(), 0);
    }
}
