//! What other products' account APIs know an account by, kept on the
//! account so that a client written for one of them (a dialect, served
//! beside `/v1`) finds the same account again. Allocated once, when the
//! account is registered, and never reused: an account deleted and
//! registered again gets new ones, so an id an old client kept finds
//! nothing rather than the new account.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A product whose account API this service also serves (a dialect).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Product {
    /// Panther's cloud accounts (`/cloud-accounts/aws`).
    Panther,
    /// Cloudcraft's AWS accounts (`/aws/account`).
    Cloudcraft,
    /// Cloudability's vendor credentials (`/v3/vendors/aws/accounts`).
    Cloudability,
    /// RISKEN's AWS API (`/api/v1/aws/...`).
    Risken,
    /// Carbon Black Cloud's account management
    /// (`/public-cloud/account-management/v1/...`).
    CarbonBlack,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The ids other products' APIs give this account (read-only). Fields a
/// product has and `/v1` lacks are labels named `<product>:<field>`
/// (Cloudcraft's region: `cloudcraft:region`), which round-trip in both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Products {
    /// Panther's `integrationId` (`/cloud-accounts/aws/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panther: Option<PantherIds>,
    /// Cloudcraft's account `id` (`/aws/account/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudcraft: Option<CloudcraftIds>,
    /// RISKEN's numeric `aws_id`, allocated the first time RISKEN's API
    /// meets the account (from a per-tenant sequence; never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risken: Option<RiskenIds>,
}

impl Products {
    /// The ids of an account registered now.
    pub fn allocate(account_id: &str) -> Self {
        Products {
            panther: Some(PantherIds {
                integration_id: AccountUuid::allocate(account_id).0,
            }),
            cloudcraft: Some(CloudcraftIds {
                id: AccountUuid::allocate(account_id).0,
            }),
            risken: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.panther.is_none() && self.cloudcraft.is_none() && self.risken.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RiskenIds {
    /// RISKEN's `aws_id`.
    pub aws_id: u32,
}

/// A tenant's RISKEN `project_id`: one project per tenant, a number
/// derived from the tenant's name (1 to 2^31 - 1), the same everywhere.
pub fn risken_project_id(tenant: &str) -> u32 {
    positive_u31(&format!("project/{tenant}"))
}

/// RISKEN's `aws_data_source_id` of a data source: derived from its name,
/// so it is stable across deployments and never names another source.
pub fn risken_data_source_id(data_source: &str) -> u32 {
    positive_u31(&format!("data-source/{data_source}"))
}

fn positive_u31(text: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text);
    let number = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff;
    number.max(1)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PantherIds {
    /// An [`AccountUuid`].
    #[schema(example = "00001cbe-991a-8c4f-a1b2-c3d4e5f60718")]
    pub integration_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CloudcraftIds {
    /// An [`AccountUuid`].
    #[schema(example = "00001cbe-991a-8e21-93c7-5a0f3b2d9e41")]
    pub id: String,
}

/// A product's id of an account: a UUID (version 8) that carries the AWS
/// account id in its first 48 bits, so finding the account is one key
/// lookup, and 74 random bits, so it is never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUuid(pub String);

impl AccountUuid {
    /// A new id for `account_id` (12 digits): its number in the first 48
    /// bits, the rest from the CSPRNG.
    pub fn allocate(account_id: &str) -> Self {
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).expect("the operating system CSPRNG is unavailable");
        Self::compose(account_id, random)
    }

    /// The id of an account stored before ids were allocated: derived
    /// from its creation time (and the product), so it is stable and
    /// differs from the id of an account registered again later.
    pub fn derived(product: Product, account_id: &str, created_at: Timestamp) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!(
            "{}/{account_id}/{}",
            product.as_str(),
            created_at.datetime().timestamp_millis()
        ));
        let mut bits = [0u8; 10];
        bits.copy_from_slice(&digest[..10]);
        Self::compose(account_id, bits)
    }

    fn compose(account_id: &str, rest: [u8; 10]) -> Self {
        let number: u64 = account_id.parse().unwrap_or(0);
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&number.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&rest);
        // RFC 9562: version 8 (custom) in byte 6's high nibble, variant 10 in byte 8.
        bytes[6] = 0x80 | (bytes[6] & 0x0f);
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        let hex = hex::encode(bytes);
        AccountUuid(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))
    }

    /// The AWS account id an integration id names, if it is one of ours
    /// (any case); `None` for anything else, looked up by nobody.
    pub fn account_of(text: &str) -> Option<String> {
        if text.len() != 36 {
            return None;
        }
        let hex: String = text.chars().filter(|c| *c != '-').collect();
        let dashes = [8, 13, 18, 23].iter().all(|i| text.as_bytes()[*i] == b'-');
        let bytes = hex::decode(hex.to_ascii_lowercase()).ok()?;
        if !dashes || bytes.len() != 16 || bytes[6] >> 4 != 8 || bytes[8] >> 6 != 2 {
            return None;
        }
        let mut number = [0u8; 8];
        number[2..].copy_from_slice(&bytes[..6]);
        let number = u64::from_be_bytes(number);
        (number < 1_000_000_000_000).then(|| format!("{number:012}"))
    }

    /// Whether `presented` (any case) is this id.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.eq_ignore_ascii_case(presented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risken_numbers_are_stable_positive_and_apart() {
        assert_eq!(risken_project_id("acme"), risken_project_id("acme"));
        assert_ne!(risken_project_id("acme"), risken_project_id("other"));
        let names = [
            "aws:iam",
            "aws:guard-duty",
            "aws:access-analyzer",
            "aws:admin-checker",
            "aws:cloudsploit",
            "aws:portscan",
        ];
        let mut ids: Vec<u32> = names.iter().map(|n| risken_data_source_id(n)).collect();
        assert!(ids.iter().all(|id| (1..=i32::MAX as u32).contains(id)));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), names.len());
    }

    #[test]
    fn an_account_uuid_names_its_account() {
        let id = AccountUuid::allocate("000123456789");
        assert_eq!(id.0.len(), 36);
        assert_eq!(&id.0[14..15], "8", "version 8: {}", id.0);
        assert!(matches!(&id.0[19..20], "8" | "9" | "a" | "b"), "{}", id.0);
        assert_eq!(
            AccountUuid::account_of(&id.0).as_deref(),
            Some("000123456789")
        );
        assert_eq!(
            AccountUuid::account_of(&id.0.to_uppercase()).as_deref(),
            Some("000123456789")
        );
        assert_eq!(
            AccountUuid::account_of(&AccountUuid::allocate("999999999999").0).as_deref(),
            Some("999999999999")
        );
    }

    #[test]
    fn each_registration_gets_a_new_id() {
        let first = AccountUuid::allocate("123456789012");
        let second = AccountUuid::allocate("123456789012");
        assert_ne!(first, second);
        assert!(first.matches(&first.0.to_uppercase()));
        assert!(!first.matches(&second.0));
    }

    #[test]
    fn derived_ids_are_stable_and_differ_by_creation_time() {
        let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let later = Timestamp::parse("2026-01-01T00:00:01Z").unwrap();
        assert_eq!(
            AccountUuid::derived(Product::Panther, "123456789012", at),
            AccountUuid::derived(Product::Panther, "123456789012", at)
        );
        assert_ne!(
            AccountUuid::derived(Product::Panther, "123456789012", at),
            AccountUuid::derived(Product::Panther, "123456789012", later)
        );
        assert_ne!(
            AccountUuid::derived(Product::Panther, "123456789012", at),
            AccountUuid::derived(Product::Cloudcraft, "123456789012", at)
        );
        let derived = AccountUuid::derived(Product::Panther, "123456789012", at);
        assert_eq!(
            AccountUuid::account_of(&derived.0).as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn anything_else_names_no_account() {
        for text in [
            "",
            "not-a-uuid",
            "00001cbe-991a-4c4f-a1b2-c3d4e5f60718", // version 4
            "00001cbe-991a-8c4f-c1b2-c3d4e5f60718", // another variant
            "ffffffff-ffff-8fff-bfff-ffffffffffff", // beyond 12 digits
            "00001cbe0991a08c4f0a1b20c3d4e5f60718",
            "00001cbe-991a-8c4f-a1b2-c3d4e5f6071g",
            "00001cbe-991a-8c4f-a1b2-c3d4e5f60718-",
            "\u{e9}0001cbe-991a-8c4f-a1b2-c3d4e5f607",
        ] {
            assert_eq!(AccountUuid::account_of(text), None, "{text}");
        }
    }
}
