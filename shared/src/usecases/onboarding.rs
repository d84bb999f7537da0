//! Onboarding links for the vendor (create, list, revoke), and what the
//! page behind one may do for the customer: show the account's onboarding
//! details, check the connection (rate limited) and read its status.

use crate::account::Account;
use crate::onboarding::{
    CreateLinkRequest, LinkStatus, LinkView, OnboardingLink, Token, CHECK_INTERVAL_SECONDS,
    MAX_LIVE_LINKS,
};
use crate::scans::Catalogue;
use crate::store::Store;
use crate::tenant::TenantSettings;
use crate::time::Timestamp;
use crate::verification::{RoleVerifier, VerificationSettings};
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

/// An opened link: what the page shows.
pub struct OpenedLink {
    pub token: Token,
    pub link: OnboardingLink,
    pub account: Account,
    pub settings: TenantSettings,
}

/// Why a page cannot be shown: the same answer (410) for each, so a
/// visitor learns nothing about an account from a dead link.
#[derive(Debug, PartialEq, Eq)]
pub struct LinkGone;

pub struct Onboarding<'a> {
    pub store: &'a Store,
}

impl Onboarding<'_> {
    pub async fn create(
        &self,
        tenant: &str,
        actor: &str,
        account_id: &str,
        request: CreateLinkRequest,
    ) -> Result<NewLink> {
        let days = request.days()?;
        let (account, links) = futures::join!(
            self.store.get_account(tenant, account_id),
            self.store.onboarding_links(tenant, account_id)
        );
        let account = account?.ok_or_else(|| Error::NotFound {
            resource: "account",
            id: account_id.to_string(),
        })?;
        if let Some(inactive) = account.inactive() {
            return Err(inactive);
        }
        let now = Timestamp::now();
        let live = links?
            .iter()
            .filter(|link| link.status(now) == LinkStatus::Live)
            .count();
        if live >= MAX_LIVE_LINKS {
            return Err(Error::Refused {
                code: "too_many_onboarding_links",
                message: format!(
                    "account {account_id} has {MAX_LIVE_LINKS} live onboarding links, the most it may; revoke one first"
                ),
            });
        }
        let link_id = ulid::Ulid::new().to_string();
        let (token, secret_hash) = Token::issue(tenant, account_id, &link_id);
        let link = OnboardingLink {
            link_id,
            account_id: account_id.to_string(),
            secret_hash,
            created_at: now,
            created_by: actor.to_string(),
            expires_at: now.plus(std::time::Duration::from_secs(u64::from(days) * 86_400)),
            revoked_at: None,
            revoked_by: None,
            last_check_at: None,
        };
        self.store.put_onboarding_link(tenant, &link).await?;
        Ok(NewLink {
            link: link.view(now),
            path: format!("/onboard/{token}"),
        })
    }

    pub async fn list(&self, tenant: &str, account_id: &str) -> Result<Vec<LinkView>> {
        let now = Timestamp::now();
        let (account, links) = futures::join!(
            self.store.get_account(tenant, account_id),
            self.store.onboarding_links(tenant, account_id)
        );
        if account?.is_none() {
            return Err(Error::NotFound {
                resource: "account",
                id: account_id.to_string(),
            });
        }
        Ok(links?.iter().map(|link| link.view(now)).collect())
    }

    pub async fn revoke(
        &self,
        tenant: &str,
        actor: &str,
        account_id: &str,
        link_id: &str,
    ) -> Result<()> {
        self.store
            .revoke_onboarding_link(tenant, account_id, link_id, actor)
            .await
    }

    /// The link a token opens, with its account and the tenant's
    /// settings (one BatchGetItem); gone if anything does not hold.
    pub async fn open(&self, token: &str) -> Result<std::result::Result<OpenedLink, LinkGone>> {
        let Some(token) = Token::parse(token) else {
            return Ok(Err(LinkGone));
        };
        let context = self
            .store
            .onboarding_context(&token.tenant, &token.account_id, &token.link_id)
            .await?;
        let now = Timestamp::now();
        match (context.link, context.account) {
            (Some(link), Some(account))
                if token.opens(&link, now) && account.archived_at.is_none() =>
            {
                Ok(Ok(OpenedLink {
                    token,
                    link,
                    account,
                    settings: context.settings,
                }))
            }
            _ => Ok(Err(LinkGone)),
        }
    }

    /// Check the connection for an opened link: at most once per
    /// [`CHECK_INTERVAL_SECONDS`] per link (`None`: too soon), then the
    /// verification an API caller would run, recorded alike.
    pub async fn check(
        &self,
        opened: &OpenedLink,
        verifier: &RoleVerifier,
        settings: &VerificationSettings,
        catalogue: &Catalogue,
    ) -> Result<Option<Account>> {
        let turn = self
            .store
            .claim_onboarding_check(
                &opened.token.tenant,
                &opened.link,
                Timestamp::now(),
                std::time::Duration::from_secs(CHECK_INTERVAL_SECONDS),
            )
            .await?;
        if !turn {
            return Ok(None);
        }
        crate::verification::verify_on_demand(
            self.store,
            verifier,
            settings,
            catalogue,
            &opened.token.tenant,
            &opened.token.account_id,
        )
        .await
        .map(Some)
    }
}
