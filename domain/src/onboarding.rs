//! Onboarding links: a vendor hands its customer one URL, and the page
//! behind it walks the customer through creating the role.
//!
//! A link's token reads `onb_<tenant>_<subject>_<link id>_<secret>`, the
//! subject an account id (12 digits) or an organization id (a ULID):
//! tenant, subject and link in the clear make opening it one read in the
//! tenant's partition, under the subject (so a token names exactly one
//! account or organization, by construction); the 256-bit secret is stored
//! only as its hash and compared in constant time.

use crate::crypto;
use crate::time::Timestamp;
use crate::trust::VerificationCode;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const PREFIX: &str = "onb";

/// Days a link lasts unless asked otherwise, and at most.
pub const DEFAULT_DAYS: u32 = 7;
pub const MAX_DAYS: u32 = 30;

/// Live links an account may have at once.
pub const MAX_LIVE_LINKS: usize = 5;

/// Expired and revoked links kept to list (the newest): older ones are
/// deleted as a new link is made, so what a listing or a creation reads
/// stays bounded however many links a vendor makes over the years.
pub const KEPT_DEAD_LINKS: usize = 20;

/// The dead links (expired or revoked) beyond the newest
/// [`KEPT_DEAD_LINKS`]: what a new link's creation deletes.
pub fn dead_beyond_kept(links: &[OnboardingLink], now: Timestamp) -> Vec<&OnboardingLink> {
    let dead = links
        .iter()
        .filter(|link| link.status(now) != LinkStatus::Live)
        .collect();
    crate::time::beyond_newest(dead, KEPT_DEAD_LINKS, |link| {
        (link.created_at, &link.link_id)
    })
}

/// Seconds between two connection checks from one link.
pub const CHECK_INTERVAL_SECONDS: u64 = 10;

/// Longest token accepted (the longest tenant gives 176 characters).
pub use crate::ids::MAX_TOKEN_LEN;

/// What a link onboards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One account: one role, one stack.
    Account(String),
    /// An AWS Organization: the management role, then a StackSet.
    Organization(String),
}

impl Subject {
    pub fn id(&self) -> &str {
        match self {
            Subject::Account(id) | Subject::Organization(id) => id,
        }
    }

    /// A token's subject: 12 digits, or a ULID.
    fn parse(text: &str) -> Option<Subject> {
        use crate::ids::{AccountId, OrganizationId};
        if let Ok(account) = AccountId::parse("account_id", text) {
            Some(Subject::Account(account.to_string()))
        } else {
            OrganizationId::parse("organization_id", text)
                .ok()
                .map(|organization| Subject::Organization(organization.to_string()))
        }
    }
}

/// A link as stored: never its secret, only the secret's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnboardingLink {
    pub link_id: String,
    /// The account it onboards, or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// The last connection check asked from the page (rate limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_at: Option<Timestamp>,
}

/// Whether a link still opens its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkStatus {
    Live,
    Expired,
    Revoked,
}

/// A link as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    pub link_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    pub status: LinkStatus,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl OnboardingLink {
    pub fn subject(&self) -> Option<Subject> {
        match (&self.account_id, &self.organization_id) {
            (Some(account), None) => Some(Subject::Account(account.clone())),
            (None, Some(organization)) => Some(Subject::Organization(organization.clone())),
            _ => None,
        }
    }

    pub fn status(&self, now: Timestamp) -> LinkStatus {
        if self.revoked_at.is_some() {
            LinkStatus::Revoked
        } else if self.expires_at <= now {
            LinkStatus::Expired
        } else {
            LinkStatus::Live
        }
    }

    pub fn view(&self, now: Timestamp) -> LinkView {
        LinkView {
            link_id: self.link_id.clone(),
            account_id: self.account_id.clone(),
            organization_id: self.organization_id.clone(),
            status: self.status(now),
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// Body of `POST /v1/accounts/{id}/onboarding-links`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkRequest {
    /// 1-30; default 7.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 30)]
    pub expires_in_days: Option<u32>,
}

impl CreateLinkRequest {
    pub fn days(&self) -> Result<u32> {
        let days = self.expires_in_days.unwrap_or(DEFAULT_DAYS);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(Error::invalid(
                "expires_in_days",
                format!("a link lasts 1-{MAX_DAYS} days (default {DEFAULT_DAYS})"),
            ));
        }
        Ok(days)
    }
}

/// What a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tenant: String,
    pub subject: Subject,
    pub link_id: String,
    secret: String,
}

impl Token {
    /// A new token for a link, and the hash to store.
    pub fn issue(tenant: &str, subject: &Subject, link_id: &str) -> (String, String) {
        let secret = crypto::random_hex(32);
        let hash = crypto::hash_secret(&secret);
        (
            format!("{PREFIX}_{tenant}_{}_{link_id}_{secret}", subject.id()),
            hash,
        )
    }

    /// The parts of a well-formed token; `None` for anything else (the
    /// page then answers as for an expired link: nothing to tell apart).
    pub fn parse(text: &str) -> Option<Token> {
        if text.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut parts = text.split('_');
        let (prefix, tenant, subject, link, secret) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let well_formed = prefix == PREFIX
            && parts.next().is_none()
            && crate::validation::tenant(tenant).is_ok()
            && link.len() == 26
            && link.parse::<ulid::Ulid>().is_ok()
            && secret.len() == 64
            && secret.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return None;
        }
        Some(Token {
            tenant: tenant.to_string(),
            subject: Subject::parse(subject)?,
            link_id: link.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Whether this token opens `link` at `now`: its secret, its subject,
    /// not revoked, not expired.
    pub fn opens(&self, link: &OnboardingLink, now: Timestamp) -> bool {
        crypto::secret_matches(&self.secret, &link.secret_hash)
            && link.subject().as_ref() == Some(&self.subject)
            && link.link_id == self.link_id
            && link.status(now) == LinkStatus::Live
    }
}

/// What a check found, in the customer's terms: no API paths, no field
/// names (the stored verification message speaks to the vendor).
pub fn customer_message(code: VerificationCode) -> &'static str {
    match code {
        VerificationCode::Ok => "the role works.",
        VerificationCode::RoleMissing => "there is no role to check yet.",
        // AWS answers AccessDenied for a role that does not exist too.
        VerificationCode::AccessDenied => "we could not assume the role: either it has not been created yet, or its trust policy does not name us or the external ID shown on this page.",
        VerificationCode::ExternalIdNotEnforced => "the role lets us in without the external ID.",
        VerificationCode::AccountMismatch => "the role is in a different AWS account from this one.",
        VerificationCode::Throttled => "AWS was busy and asked us to slow down.",
        VerificationCode::Timeout => "AWS did not answer in time.",
        VerificationCode::PartitionNotServed => "this account is in an AWS partition that is not connected.",
        VerificationCode::Internal => "something went wrong on our side.",
    }
}

/// What a customer's cloud engineer does about a failed check.
pub fn fix_for(code: VerificationCode) -> &'static str {
    match code {
        VerificationCode::Ok => "Nothing: the connection works.",
        VerificationCode::RoleMissing => "We could not find the role. Launch the stack in step 2 (or deploy the downloaded template) in this AWS account, wait until the stack shows CREATE_COMPLETE, then check again.",
        VerificationCode::AccessDenied => "If you have not launched the stack yet, do it now (step 2) and check again once it shows CREATE_COMPLETE. If the role exists, its trust policy must allow the principal in the template and require the external ID exactly as shown in step 3: update the stack with the template from this page (or fix the role's trust policy), then check again.",
        VerificationCode::ExternalIdNotEnforced => "The role lets us in without the external ID, which would let anyone who knows its name in too. Add the sts:ExternalId condition from the template to its trust policy (redeploying the stack does this), then check again.",
        VerificationCode::AccountMismatch => "The role is in a different AWS account from the one this link is for. Sign in to the account named above and create the role there.",
        VerificationCode::Throttled => "AWS was busy and asked us to slow down. Wait a minute and check again; nothing needs changing.",
        VerificationCode::Timeout => "AWS did not answer in time. Check again in a minute; nothing needs changing.",
        VerificationCode::PartitionNotServed => "This account is in an AWS partition (such as China or GovCloud) that this service does not connect to. Contact the vendor that sent you this link.",
        VerificationCode::Internal => "Something went wrong on our side. Check again in a few minutes; if it persists, contact the vendor that sent you this link.",
    }
}

/// What to fix when an organization's management role refused its sync
/// (`None`: the sync failed otherwise), in the organization page's steps.
pub fn organization_fix_for(code: Option<VerificationCode>) -> &'static str {
    match code {
        Some(VerificationCode::RoleMissing) => "We could not find the management role. Create the stack from the management-role template (step 2) in the management account named above, wait until it shows CREATE_COMPLETE, then check again.",
        Some(VerificationCode::AccessDenied) => "Either the management role has not been created yet, or its trust policy does not name us or the external ID. Create (or update) the stack in the management account from the management-role template on this page, wait until it shows CREATE_COMPLETE, then check again.",
        Some(VerificationCode::ExternalIdNotEnforced) => "The management role lets us in without the external ID, which would let anyone who knows its name in too. Update the stack with the downloaded management-role template (it adds the sts:ExternalId condition), then check again.",
        Some(VerificationCode::AccountMismatch) => "The management role is in a different AWS account from the management account named above. Create the stack there.",
        Some(other) => fix_for(other),
        None => "The organization could not be read through the management role. Check that the management-role stack is CREATE_COMPLETE in the management account named above and was made from the template downloaded here (it holds the external ID); then check again.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(token: &str, hash: String) -> (Token, OnboardingLink) {
        let token = Token::parse(token).unwrap();
        let now = Timestamp::now();
        let link = OnboardingLink {
            link_id: token.link_id.clone(),
            account_id: Some(token.subject.id().to_string()),
            organization_id: None,
            secret_hash: hash,
            created_at: now,
            created_by: "key".into(),
            expires_at: now.plus(std::time::Duration::from_secs(60)),
            revoked_at: None,
            revoked_by: None,
            last_check_at: None,
        };
        (token, link)
    }

    #[test]
    fn a_new_link_deletes_the_dead_beyond_the_newest_twenty() {
        let now = Timestamp::now();
        let links: Vec<OnboardingLink> = (0..30u64)
            .map(|i| {
                let id = ulid::Ulid::new().to_string();
                let text = Token::issue("acme", &Subject::Account("123456789012".into()), &id).0;
                let mut link = link(&text, String::new()).1;
                link.created_at = Timestamp::from_datetime(
                    now.datetime() - chrono::Duration::seconds(1000 - i as i64),
                );
                match i % 3 {
                    0 => link.revoked_at = Some(now),
                    1 => link.expires_at = link.created_at,
                    _ => {}
                }
                link
            })
            .collect();
        // 20 dead of 30 (10 revoked, 10 expired): none goes; 10 live stay.
        assert!(dead_beyond_kept(&links, now).is_empty());
        let later = now.plus(std::time::Duration::from_secs(3600));
        // An hour on, all 30 are dead: the 10 oldest go, never a newer one.
        let gone = dead_beyond_kept(&links, later);
        assert_eq!(gone.len(), 10);
        let newest_gone = gone.iter().map(|l| l.created_at).max().unwrap();
        let kept_oldest = links
            .iter()
            .filter(|l| !gone.iter().any(|g| g.link_id == l.link_id))
            .map(|l| l.created_at)
            .min()
            .unwrap();
        assert!(newest_gone < kept_oldest);
    }

    #[test]
    fn a_token_opens_its_own_live_link_only() {
        let id = ulid::Ulid::new().to_string();
        let (text, hash) = Token::issue("acme-co", &Subject::Account("123456789012".into()), &id);
        assert!(text.len() <= MAX_TOKEN_LEN);
        let (token, mut link) = link(&text, hash);
        let now = Timestamp::now();
        assert!(token.opens(&link, now));
        // Another account's link, even with this secret, does not open.
        let mut other = link.clone();
        other.account_id = Some("210987654321".into());
        assert!(!token.opens(&other, now));
        // Nor one of an organization.
        other.account_id = None;
        other.organization_id = Some(ulid::Ulid::new().to_string());
        assert!(!token.opens(&other, now));
        let later = now.plus(std::time::Duration::from_secs(61));
        assert!(!token.opens(&link, later));
        link.revoked_at = Some(now);
        assert!(!token.opens(&link, now));
        // A wrong secret of the right shape.
        let forged = format!(
            "{}{}",
            &text[..text.len() - 1],
            if text.ends_with('0') { '1' } else { '0' }
        );
        let forged = Token::parse(&forged).unwrap();
        link.revoked_at = None;
        assert!(!forged.opens(&link, now));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let id = ulid::Ulid::new().to_string();
        let (text, _) = Token::issue("acme", &Subject::Account("123456789012".into()), &id);
        assert!(Token::parse(&text).is_some());
        let organization = ulid::Ulid::new().to_string();
        let (of_organization, _) =
            Token::issue("acme", &Subject::Organization(organization.clone()), &id);
        assert_eq!(
            Token::parse(&of_organization).unwrap().subject,
            Subject::Organization(organization)
        );
        for bad in [
            "",
            "onb",
            &text.replace("onb_", "oak_"),
            &format!("{text}_x"),
            &text.replace("123456789012", "12345678901"),
            &"a".repeat(MAX_TOKEN_LEN + 1),
            &text[..text.len() - 1],
        ] {
            assert!(Token::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(CreateLinkRequest::default().days().unwrap(), 7);
        for days in [0, 31] {
            let request = CreateLinkRequest {
                expires_in_days: Some(days),
            };
            assert!(request.days().is_err());
        }
    }
}
