//! The identifiers a request can carry in its path, checked before any of
//! them reaches DynamoDB (whose key values must stay under 1,024 bytes):
//! a malformed one is a 400 naming the parameter, never a 500.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;
use utoipa::ToSchema;

/// A string that was checked once, where it entered: a path parameter or
/// a body field. Deserialising one runs the check, so a handler that holds
/// one needs no further validation, and DynamoDB never sees an unchecked id.
macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $parameter:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Check `value`; a failure names `field`.
            pub fn parse(field: &str, value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                let check: fn(&str, &str) -> Result<()> = $check;
                check(field, &value)?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                $name::parse($parameter, value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

checked_string!(
    /// A 12-digit AWS account id, leading zeros included.
    AccountId,
    "account_id",
    crate::validation::account_id
);
checked_string!(
    /// The 26-character ULID of a scan.
    ScanId,
    "scan_id",
    |field, value| rule(field, is_ulid(value), SCAN_ID_RULE)
);
checked_string!(
    /// The 26-character ULID of an API key.
    KeyId,
    "key_id",
    |field, value| rule(field, is_ulid(value), KEY_ID_RULE)
);
checked_string!(
    /// The 26-character ULID of a webhook endpoint.
    WebhookId,
    "webhook_id",
    |field, value| rule(field, is_ulid(value), WEBHOOK_ID_RULE)
);
checked_string!(
    /// The 26-character ULID of a registered organization.
    OrganizationId,
    "organization_id",
    |field, value| rule(field, is_ulid(value), ORGANIZATION_ID_RULE)
);
checked_string!(
    /// The 26-character ULID of an onboarding link.
    LinkId,
    "link_id",
    |field, value| rule(field, is_ulid(value), LINK_ID_RULE)
);
checked_string!(
    /// The 26-character ULID of a suppression rule.
    SuppressionRuleId,
    "rule_id",
    |field, value| rule(field, is_ulid(value), RULE_ID_RULE)
);
checked_string!(
    /// A webhook delivery: `dlv_`, the event's time and its id's hex.
    DeliveryId,
    "delivery_id",
    |field, value| rule(field, is_delivery_id(value), DELIVERY_ID_RULE)
);
checked_string!(
    /// A data source name (`aws:iam`); whether this deployment offers it is
    /// the catalogue's question, not the name's.
    DataSourceName,
    "data_source",
    |field, value| rule(field, is_data_source_name(value), DATA_SOURCE_RULE)
);
checked_string!(
    /// A finding's stable id: 32 hex digits (of its rule and resource).
    FindingId,
    "finding_id",
    |field, value| rule(
        field,
        value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        FINDING_ID_RULE
    )
);
checked_string!(
    /// An external ID as IAM accepts it in `sts:ExternalId`.
    ExternalId,
    "external_id",
    crate::validation::external_id
);

const SCAN_ID_RULE: &str = "scan_id is the 26-character id returned when the scan was queued";
const KEY_ID_RULE: &str = "an API key id is the 26-character id returned when the key was issued";
const WEBHOOK_ID_RULE: &str =
    "webhook_id is the 26-character id returned when the webhook was created";
const ORGANIZATION_ID_RULE: &str =
    "organization_id is the 26-character id returned when the organization was registered";
const DELIVERY_ID_RULE: &str =
    "delivery_id is dlv_, 14 digits, _ and 32 hex digits, as the delivery log lists it";
const LINK_ID_RULE: &str =
    "link_id is the 26-character id returned when the onboarding link was created";
const RULE_ID_RULE: &str =
    "rule_id is the 26-character id returned when the suppression rule was created";
const FINDING_ID_RULE: &str = "finding_id is the 32-hex-digit id the findings listing shows";
const DATA_SOURCE_RULE: &str = "a data source name is 1-64 characters of letters, digits and :._- (GET /v1/data-sources lists them)";

fn rule(field: &str, valid: bool, what: &str) -> Result<()> {
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(field, what))
    }
}

/// Longest value accepted for a path parameter without a rule of its own.
pub const MAX_PATH_PARAMETER: usize = 128;

fn is_ulid(value: &str) -> bool {
    value.len() == 26 && value.parse::<ulid::Ulid>().is_ok()
}

/// A data source name: `aws:iam`, `aws:guard-duty`, ...
pub fn is_data_source_name(value: &str) -> bool {
    static NAME: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(DATA_SOURCE_NAME_PATTERN).unwrap());
    NAME.is_match(value)
}

/// A data source's name, e.g. `aws:iam`.
pub const DATA_SOURCE_NAME_PATTERN: &str = r"^[A-Za-z0-9:._-]{1,64}$";

/// Check one path parameter by its name in the route template. Every
/// route's parameters pass through here (a router layer), so a route added
/// later cannot forget it; a name without a rule of its own is still held
/// to [`MAX_PATH_PARAMETER`] bytes.
pub fn path_parameter(name: &str, value: &str) -> Result<()> {
    match name {
        "account_id" => AccountId::parse(name, value).map(drop),
        "key_id" => KeyId::parse(name, value).map(drop),
        "scan_id" => ScanId::parse(name, value).map(drop),
        "webhook_id" => WebhookId::parse(name, value).map(drop),
        "delivery_id" => DeliveryId::parse(name, value).map(drop),
        "organization_id" => OrganizationId::parse(name, value).map(drop),
        "data_source" => DataSourceName::parse(name, value).map(drop),
        "finding_id" => FindingId::parse(name, value).map(drop),
        "rule_id" => SuppressionRuleId::parse(name, value).map(drop),
        "link_id" => LinkId::parse(name, value).map(drop),
        // An onboarding token: its page tells a bad one apart (410) itself.
        "token" => rule(
            name,
            !value.is_empty() && value.len() <= MAX_TOKEN_LEN,
            "an onboarding link's token is at most 200 characters",
        ),
        _ => rule(
            name,
            !value.is_empty() && value.len() <= MAX_PATH_PARAMETER,
            "this path parameter is 1-128 bytes long",
        ),
    }
}

/// The regular expression a path parameter's value matches exactly when
/// [`path_parameter`] accepts it, for the OpenAPI document (so clients and
/// fuzzers make real ids); `None` for a name without a rule of its own.
pub fn path_parameter_pattern(name: &str) -> Option<&'static str> {
    const ULID: &str = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$";
    Some(match name {
        "account_id" => "^[0-9]{12}$",
        "key_id" | "scan_id" | "webhook_id" | "organization_id" | "rule_id" | "link_id" => ULID,
        "delivery_id" => "^dlv_[0-9]{14}_[0-9a-f]{32}$",
        "data_source" => "^[A-Za-z0-9:._-]{1,64}$",
        "finding_id" => "^[0-9a-fA-F]{32}$",
        _ => return None,
    })
}

/// Whether `value` has the shape of a webhook delivery id (`dlv_<14 digits>_<32 hex>`).
pub fn is_delivery_id(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("dlv_") else {
        return false;
    };
    let Some((time, hex)) = rest.split_once('_') else {
        return false;
    };
    time.len() == 14
        && time.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 32
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The longest onboarding-link token accepted (ours are far shorter).
pub const MAX_TOKEN_LEN: usize = 200;

/// A finding's rule and resource type as scanners report them, e.g.
/// `IAM_USER_WITHOUT_MFA`, `AWS.EC2.Instance`.
pub const RULE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$";

/// Whether `name` is a finding's rule as scanners may report it.
pub fn is_rule_name(name: &str) -> bool {
    static RULE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(RULE_PATTERN).unwrap());
    RULE.is_match(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_bounded() {
        let long = "1".repeat(1021);
        for name in ["account_id", "key_id", "scan_id", "data_source", "anything"] {
            let err = path_parameter(name, &long).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: Some(f), .. } if f == name),
                "{name}: {err:?}"
            );
        }
        assert!(path_parameter("account_id", "123456789012").is_ok());
        assert!(path_parameter("key_id", "01JABCDEFGHJKMNPQRSTVWXYZ0").is_ok());
        assert!(path_parameter("data_source", "aws:iam").is_ok());
        assert!(path_parameter("data_source", "aws iam").is_err());
        assert!(path_parameter("anything", "x").is_ok());
    }

    #[test]
    fn ids_parse_once_when_deserialised() {
        let id: AccountId = serde_json::from_str("\"000000000042\"").unwrap();
        assert_eq!(&*id, "000000000042");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"000000000042\"");
        let err = serde_json::from_str::<AccountId>("\"42\"").unwrap_err();
        assert!(err.to_string().contains("exactly 12 digits"), "{err}");
        assert!(serde_json::from_str::<ScanId>("\"01JABCDEFGHJKMNPQRSTVWXYZ0\"").is_ok());
        assert!(serde_json::from_str::<ScanId>("\"01JABC\"").is_err());
        assert!(serde_json::from_str::<DataSourceName>("\"aws:iam\"").is_ok());
        assert!(serde_json::from_str::<DataSourceName>("\"aws iam\"").is_err());
        assert!(serde_json::from_str::<ExternalId>("\"x\"").is_err());
        let err = ExternalId::parse("accounts[2].external_id", "x").unwrap_err();
        assert!(
            matches!(err, Error::Invalid { field: Some(f), .. } if f == "accounts[2].external_id")
        );
    }

    /// The document's patterns accept exactly what the service does: each
    /// valid value, and every one-character change of it, shorter and
    /// longer ones too.
    #[test]
    fn path_patterns_agree_with_the_checks() {
        let ulid = ulid::Ulid::new().to_string();
        let samples = [
            ("account_id", "012345678901".to_string()),
            ("key_id", ulid.clone()),
            ("scan_id", ulid.to_lowercase()),
            ("webhook_id", ulid.clone()),
            ("organization_id", ulid.clone()),
            ("rule_id", ulid.clone()),
            ("link_id", ulid.clone()),
            (
                "delivery_id",
                format!("dlv_20261203101500_{}", "0a".repeat(16)),
            ),
            ("data_source", "aws:guard-duty.v2_x".to_string()),
            ("finding_id", "0123456789abcdefABCDEF0123456789".to_string()),
        ];
        for (name, valid) in samples {
            let pattern = regex::Regex::new(path_parameter_pattern(name).unwrap()).unwrap();
            let mut variants = vec![
                valid.clone(),
                String::new(),
                valid[1..].to_string(),
                format!("{valid}0"),
                "a".repeat(65),
            ];
            for at in 0..valid.len() {
                for c in (32u8..127).map(char::from) {
                    let mut changed = valid.clone();
                    changed.replace_range(at..at + 1, &c.to_string());
                    variants.push(changed);
                }
            }
            for value in variants {
                assert_eq!(
                    pattern.is_match(&value),
                    path_parameter(name, &value).is_ok(),
                    "{name}: {value:?}"
                );
            }
        }
        assert!(path_parameter_pattern("token").is_none());
    }
}
