//! A tenant's own settings (`GET/PUT /v1/settings`, scope `admin`).

use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// Longest external-ID lifetime a tenant may set: ten years.
pub const MAX_AGE_DAYS: u32 = 3650;
pub const MAX_PRODUCT_NAME_LEN: usize = 100;
/// `logo_url` and `support_contact`.
pub const MAX_URL_LEN: usize = 2048;

/// The tenant's rotation policy, kept on its tenant item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Days an external ID stays in force before its account shows
    /// `rotation_due`; absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub external_id_max_age_days: Option<u32>,
    /// Start the rotation of a verified account past that age by itself: a
    /// pending external ID is put in place, and the two-phase rotation
    /// completes when the customer's role accepts it.
    #[serde(default)]
    pub auto_rotate_external_id: bool,
    /// The product the onboarding page names (1-100 characters); absent:
    /// "your vendor".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// An https URL of the logo the onboarding page shows (at most 2048
    /// characters); the page's Content-Security-Policy admits its origin
    /// for images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Whom the customer asks for help, shown on the onboarding page: an
    /// email address or an https URL (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "cloud-onboarding@example.com")]
    pub support_contact: Option<String>,
}

impl TenantSettings {
    pub fn validate(&self) -> Result<()> {
        if let Some(days) = self.external_id_max_age_days {
            if !(1..=MAX_AGE_DAYS).contains(&days) {
                return Err(Error::invalid(
                    "external_id_max_age_days",
                    format!("give 1-{MAX_AGE_DAYS} days, or leave it out for no limit"),
                ));
            }
        }
        if let Some(name) = &self.product_name {
            crate::validation::display_name("product_name", name, MAX_PRODUCT_NAME_LEN)?;
        }
        if let Some(url) = &self.logo_url {
            logo_origin(url)?;
        }
        if let Some(contact) = &self.support_contact {
            SupportContact::parse(contact)?;
        }
        if self.auto_rotate_external_id && self.external_id_max_age_days.is_none() {
            return Err(Error::invalid(
                "auto_rotate_external_id",
                "automatic rotation needs external_id_max_age_days: set both",
            ));
        }
        Ok(())
    }

    /// Whether an external ID in force since `since` is past its age at `now`.
    pub fn rotation_due(&self, since: Timestamp, now: Timestamp) -> bool {
        self.external_id_max_age_days
            .is_some_and(|days| since.plus(Duration::from_secs(u64::from(days) * 86_400)) <= now)
    }
}

/// Whom a customer contacts, as the page links it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupportContact {
    Email(String),
    /// An https URL without user name or password.
    Web(String),
}

impl SupportContact {
    const FIELD: &'static str = "support_contact";

    pub fn parse(text: &str) -> Result<SupportContact> {
        crate::validation::text(Self::FIELD, text, MAX_URL_LEN)?;
        if !text.contains("://") {
            crate::validation::email(Self::FIELD, text)?;
            return Ok(SupportContact::Email(text.to_string()));
        }
        let refuse = || {
            Error::invalid(
                Self::FIELD,
                "give an email address or an https URL such as https://example.com/support",
            )
        };
        let url = url::Url::parse(text).map_err(|_| refuse())?;
        if url.scheme() != "https"
            || !url.username().is_empty()
            || url.password().is_some()
            || url.host().is_none()
        {
            return Err(refuse());
        }
        Ok(SupportContact::Web(url.to_string()))
    }

    /// What the page's link points at (`mailto:` or the URL).
    pub fn href(&self) -> String {
        match self {
            SupportContact::Email(address) => format!("mailto:{address}"),
            SupportContact::Web(url) => url.clone(),
        }
    }

    /// What the page's link says.
    pub fn text(&self) -> &str {
        match self {
            SupportContact::Email(text) | SupportContact::Web(text) => text,
        }
    }
}

/// The origin (`https://host[:port]`) of a logo URL, or why it is refused.
/// The origin goes into the page's Content-Security-Policy, so it is built
/// from the parsed parts alone, and only a concrete DNS name (letters,
/// digits and hyphens in dot-separated labels, as written) or an IP
/// address is a host: no wildcard, no `;` or space that would end the
/// directive, nothing a parser would rewrite.
pub fn logo_origin(text: &str) -> Result<String> {
    let refuse = |why: &str| Err(Error::invalid("logo_url", why));
    if text.len() > MAX_URL_LEN {
        return refuse(&format!("logo_url is at most {MAX_URL_LEN} characters"));
    }
    let Ok(url) = url::Url::parse(text) else {
        return refuse(
            "logo_url must be an absolute https URL such as https://example.com/logo.svg",
        );
    };
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return refuse("logo_url must be an https URL without a user name or password");
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) if is_dns_name(name) => name.to_string(),
        Some(url::Host::Ipv4(address)) => address.to_string(),
        Some(url::Host::Ipv6(address)) => format!("[{address}]"),
        Some(url::Host::Domain(_)) => {
            return refuse("logo_url's host must be a DNS name such as cdn.example.com: letters, digits and hyphens in dot-separated labels, no wildcard or other character")
        }
        None => return refuse("logo_url must name a host"),
    };
    // The host as written must be the host parsed (nothing rewritten).
    let written = crate::validation::written_host(text);
    if !written.starts_with('[') && !written.eq_ignore_ascii_case(&host) {
        return refuse("logo_url's host must be written as it is meant (e.g. no trailing dot, no numeric shorthand)");
    }
    Ok(match url.port() {
        Some(port) => format!("https://{host}:{port}"),
        None => format!("https://{host}"),
    })
}

/// A concrete DNS name: two or more labels of 1-63 letters, digits and
/// inner hyphens, 253 characters at most.
fn is_dns_name(name: &str) -> bool {
    let label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    name.len() <= 253 && name.split('.').count() >= 2 && name.split('.').all(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_support_contact_is_an_email_address_or_an_https_url() {
        assert_eq!(
            SupportContact::parse("help@acme.example").unwrap().href(),
            "mailto:help@acme.example"
        );
        assert_eq!(
            SupportContact::parse("https://acme.example/help").unwrap(),
            SupportContact::Web("https://acme.example/help".into())
        );
        for refused in [
            "javascript:alert(1)",
            "http://acme.example",
            "https://user:pw@acme.example",
            "data:text/html,x",
            "help@acme.example\u{202e}",
            "",
        ] {
            assert!(SupportContact::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn ages_and_validation() {
        let policy = TenantSettings {
            external_id_max_age_days: Some(90),
            auto_rotate_external_id: true,
            ..Default::default()
        };
        assert!(policy.validate().is_ok());
        let since = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert!(!policy.rotation_due(since, Timestamp::parse("2026-03-31T23:59:59Z").unwrap()));
        assert!(policy.rotation_due(since, Timestamp::parse("2026-04-01T00:00:00Z").unwrap()));
        assert!(!TenantSettings::default().rotation_due(since, Timestamp::now()));
        let auto_only = TenantSettings {
            external_id_max_age_days: None,
            auto_rotate_external_id: true,
            ..Default::default()
        };
        assert!(auto_only.validate().is_err());
        let zero = TenantSettings {
            external_id_max_age_days: Some(0),
            auto_rotate_external_id: false,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn logos_are_https_urls_and_give_their_origin() {
        assert_eq!(
            logo_origin("https://cdn.example.com:8443/a/logo.svg?v=1").unwrap(),
            "https://cdn.example.com:8443"
        );
        assert_eq!(
            logo_origin("https://CDN.Example.com/logo.svg").unwrap(),
            "https://cdn.example.com"
        );
        for bad in [
            "http://example.com/logo.png",
            "javascript:alert(1)",
            "https://user:pw@example.com/logo.png",
            "/logo.png",
            // Issue 25 #10: what would end or widen the CSP directive.
            "https://cdn.example.com;sandbox/x.svg",
            "https://*/x.svg",
            "https://*.example.com/x.svg",
            "https://cdn.example.com./x.svg",
            "https://localhost/x.svg",
            "https://0x7f000001/x.svg",
            "https://cdn\u{ff0e}example.com/x.svg",
            "https:/\u{e9}cdn.example.com/x.svg",
            "https:cdn.example.com/x.svg",
        ] {
            assert!(logo_origin(bad).is_err(), "{bad}");
        }
    }
}
