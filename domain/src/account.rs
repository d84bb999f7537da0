//! Accounts: the customer AWS accounts a tenant registers.

use crate::products::{AccountUuid, Product, Products};
use crate::time::Timestamp;
use crate::validation;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Names as serde and strum both write them: one spelling, derived.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Environment {
    Dev,
    Staging,
    Test,
    Prod,
}

impl Environment {
    /// Every environment.
    pub const ALL: &'static [Environment] = <Environment as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

pub use crate::trust::VerificationStatus;

/// The state of the account's cross-account role, as last verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    pub verification_status: VerificationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_code: Option<crate::trust::VerificationCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<Timestamp>,
    /// When the verifier will check the role again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_verification_at: Option<Timestamp>,
    /// Failed verifications in a row (drives the retry backoff).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_failures: u32,
    /// The role this result belongs to: after a change of `role_arn` the
    /// result of the previous role is never shown as the new one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Weaknesses of the role's trust policy found at the last verification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_findings: Vec<crate::trust_lint::TrustFinding>,
    /// Per attached data source, the IAM actions it needs that the role
    /// lacks; its scans are refused until a verification finds them granted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub missing_permissions: BTreeMap<String, Vec<String>>,
    /// When the role last refused AssumeRole without and with a wrong
    /// external ID. Scheduled verifications of a proven role read its
    /// trust policy instead of probing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_at: Option<Timestamp>,
    /// The AssumeRole calls of the last verification, as the access log keeps them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<crate::access::AccessRecord>,
    /// Who asked for the last verification: an API key id,
    /// `onboarding-link:<link id>` (the customer's page) or `system:verifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Credential {
    pub fn not_started() -> Self {
        Credential {
            verification_status: VerificationStatus::NotStarted,
            verification_code: None,
            verification_message: None,
            last_verified_at: None,
            next_verification_at: None,
            consecutive_failures: 0,
            role_arn: None,
            trust_findings: Vec::new(),
            missing_permissions: BTreeMap::new(),
            probed_at: None,
            sessions: Vec::new(),
            verified_by: None,
        }
    }
}

/// The most an account's caller-set fields may hold together, as JSON:
/// each field has its own bound, and this bounds their sum so that an
/// account item (with its credential, sessions and pending state) stays
/// well inside DynamoDB's 400 KB and its events inside what a channel
/// carries.
pub const MAX_FIELDS_BYTES: usize = 128 * 1024;

/// Everything a caller may set on an account. `POST` sets them with the
/// account id, `PUT` replaces them, `PATCH` merges into them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct AccountFields {
    /// Display name, 1-128 characters.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "email")]
    pub owner_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Region ids the account uses, e.g. `us-east-1`; one partition.
    #[serde(default, deserialize_with = "null_as_default")]
    pub regions: Vec<String>,
    /// The cross-account role. Absent: the role the onboarding page and the
    /// templates create in this account (`CUSTOMER_ROLE_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "arn:aws:iam::123456789012:role/AccountOnboardingAudit")]
    pub role_arn: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub region_ignore_list: Vec<String>,
    /// Resource types never stored, e.g. `AWS.S3.Bucket`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_type_ignore_list: Vec<String>,
    /// Regular expressions over resource ids never stored.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_regex_ignore_list: Vec<String>,
    /// The payer (management) account this linked account belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_account_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

impl AccountFields {
    /// Every field name, in declaration order. Used to reject unknown fields
    /// and to build replacement updates; a test keeps it in step with the struct.
    pub const NAMES: [&'static str; 11] = [
        "name",
        "owner_name",
        "owner_email",
        "environment",
        "regions",
        "role_arn",
        "region_ignore_list",
        "resource_type_ignore_list",
        "resource_regex_ignore_list",
        "parent_account_id",
        "labels",
    ];

    /// The account's partition: its regions', else its role's, else `aws`.
    pub fn partition(&self) -> &str {
        self.regions
            .first()
            .and_then(|id| crate::regions::find(id))
            .map(|region| region.partition)
            .or_else(|| {
                self.role_arn
                    .as_deref()
                    .and_then(|arn| arn.split(':').nth(1))
            })
            .unwrap_or(crate::partitions::COMMERCIAL)
    }

    /// Check every field of an account whose id is `account_id`: every
    /// problem at once (each field checked on its own), so one round of
    /// fixes suffices.
    pub fn validate(&self, account_id: &str) -> Result<()> {
        let mut problems = Vec::new();
        let mut check = |result: Result<()>| {
            if let Err(problem) = result {
                problems.push(problem);
            }
        };
        check(validation::display_name(
            "name",
            &self.name,
            validation::MAX_NAME_LEN,
        ));
        if let Some(owner) = &self.owner_name {
            check(validation::text(
                "owner_name",
                owner,
                validation::MAX_NAME_LEN,
            ));
        }
        if let Some(email) = &self.owner_email {
            check(validation::email("owner_email", email));
        }
        check(self.role_in_place(account_id));
        check(validation::regions("region_ignore_list", &self.region_ignore_list).map(drop));
        check(validation::resource_types(
            "resource_type_ignore_list",
            &self.resource_type_ignore_list,
        ));
        check(validation::regexes(
            "resource_regex_ignore_list",
            &self.resource_regex_ignore_list,
        ));
        if let Some(parent) = &self.parent_account_id {
            check(
                validation::account_id("parent_account_id", parent).and_then(|()| {
                    if parent == account_id {
                        return Err(Error::invalid(
                            "parent_account_id",
                            "an account cannot be its own parent",
                        ));
                    }
                    Ok(())
                }),
            );
        }
        check(validation::labels("labels", &self.labels));
        // The whole budget only means something once each field is whole.
        if problems.is_empty() {
            validation::within_budget(None, self, MAX_FIELDS_BYTES)?;
        }
        Error::all(problems)
    }

    /// The regions, and the role: in this account and the regions' partition.
    fn role_in_place(&self, account_id: &str) -> Result<()> {
        let partition = validation::regions("regions", &self.regions)?;
        if let Some(arn) = &self.role_arn {
            let role = validation::role_arn("role_arn", arn)?;
            if role.account_id != account_id {
                return Err(Error::invalid(
                    "role_arn",
                    format!(
                        "the role is in account {} but this account is {account_id}: the role must be created in the account it grants access to",
                        role.account_id
                    ),
                ));
            }
            if let Some(partition) = partition.filter(|p| *p != role.partition) {
                return Err(Error::invalid(
                    "role_arn",
                    format!(
                        "the role is in partition {} but the regions are in {partition}",
                        role.partition
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `null` reads as the empty list or map, like an absent field.
fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A registered account as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    #[schema(example = "123456789012")]
    pub account_id: String,
    #[serde(flatten)]
    pub fields: AccountFields,
    /// Generated by the server (CSPRNG, 160 bits); the customer's role must
    /// require it in its trust policy (`sts:ExternalId`).
    pub external_id: String,
    /// A new external ID during a rotation: the old one stays in force until
    /// a verification with this one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_external_id: Option<String>,
    /// When the external ID came into force (absent: `created_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id_since: Option<Timestamp>,
    /// The external ID is older than the tenant's `external_id_max_age_days`
    /// (as of the last verification): rotate it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotation_due: bool,
    pub credential: Credential,
    /// A new `role_arn` asked for while the current role works: the current
    /// one stays in force (verified, scanned with) until a verification of
    /// this one succeeds, which switches to it in one write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_role_arn: Option<String>,
    /// The last verification of the pending role (never shown in `credential`,
    /// which always belongs to `role_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_role_credential: Option<Credential>,
    pub created_at: Timestamp,
    /// Id of the API key that created the account.
    pub created_by: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
    /// Set while the account is archived: not verified on schedule, not
    /// scanned, hidden from listings, read-only but for delete and unarchive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    /// Set on an account enrolled from (or adopted by) an AWS
    /// Organization's sync: which organization, and where it sits there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationLink>,
    /// Set while the account has left its organization (suspended,
    /// closing, removed, or no longer covered by the filters): like an
    /// archived account it is not verified or scanned, and it is read-only
    /// but for delete; unlike one it stays in listings (filter
    /// `departed=true`) and returns by itself when the organization's sync
    /// finds it active and covered again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departed: Option<Departure>,
    /// What other products' APIs (the dialects beside `/v1`) know this
    /// account by: Panther's `integrationId`, Cloudcraft's `id`. Allocated
    /// at registration.
    #[serde(default, skip_serializing_if = "Products::is_empty")]
    pub products: Products,
    /// Incremented by every write; the `ETag` is this number, quoted.
    pub version: u64,
}

/// Where an enrolled account sits in its AWS Organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationLink {
    /// The registration (`GET /v1/organizations/{organization_id}`).
    pub organization_id: String,
    /// The account's name in AWS Organizations.
    pub name: String,
    /// The account's root email in AWS Organizations.
    pub email: String,
    /// OU ids from the root's first child down to the account's parent.
    pub ou_path: Vec<String>,
    /// True for an account registered by hand before the organization
    /// found it: it keeps its own role and external ID.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

/// Why and when an account left its organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Departure {
    pub at: Timestamp,
    pub reason: DepartureReason,
}

pub use crate::membership::DepartureReason;

/// Body fields the server manages: a request may not set them.
pub const SERVER_MANAGED_FIELDS: [&str; 15] = [
    "products",
    "external_id_since",
    "rotation_due",
    "pending_role_arn",
    "pending_role_credential",
    "archived_at",
    "organization",
    "departed",
    "credential",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "version",
    "pending_external_id",
];

impl Account {
    /// A new account with a fresh external ID, not yet verified.
    pub fn register(
        account_id: String,
        fields: AccountFields,
        actor: &str,
        now: Timestamp,
    ) -> Self {
        let mut credential = Credential::not_started();
        // With a role, the verifier checks it at once.
        credential.next_verification_at = fields.role_arn.is_some().then_some(now);
        let products = Products::allocate(&account_id);
        Account {
            account_id,
            fields,
            external_id: crate::crypto::new_external_id(),
            pending_external_id: None,
            external_id_since: Some(now),
            rotation_due: false,
            credential,
            pending_role_arn: None,
            pending_role_credential: None,
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            updated_by: actor.to_string(),
            archived_at: None,
            organization: None,
            departed: None,
            products,
            version: 1,
        }
    }

    /// `product`'s id of this account: the one allocated at registration,
    /// or for an account stored before there was one, one derived from its
    /// creation time.
    pub fn product_id(&self, product: Product) -> AccountUuid {
        let stored = match product {
            Product::Panther => self.products.panther.as_ref().map(|p| &p.integration_id),
            Product::Cloudcraft => self.products.cloudcraft.as_ref().map(|c| &c.id),
            // Cloudability and Carbon Black name an account by its AWS account id.
            Product::Cloudability | Product::CarbonBlack => {
                return AccountUuid(self.account_id.clone())
            }
            // RISKEN's is a number, allocated apart (`products.risken`).
            Product::Risken => {
                let aws_id = self.products.risken.map(|ids| ids.aws_id.to_string());
                return AccountUuid(aws_id.unwrap_or_default());
            }
        };
        match stored {
            Some(id) => AccountUuid(id.clone()),
            None => AccountUuid::derived(product, &self.account_id, self.created_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// Lower-cased text that the listing's `q` matches against: the
    /// caller's fields and, for an enrolled account, its Organizations
    /// name, email and OU path.
    pub fn search_text(&self) -> String {
        let mut text = search_text(&self.account_id, &self.fields);
        if let Some(link) = &self.organization {
            for part in [&link.name, &link.email].into_iter().chain(&link.ou_path) {
                text.push('\n');
                text.push_str(&part.to_lowercase());
            }
        }
        text
    }

    /// What writing `requested` as the role does: a working role is
    /// replaced only once the new one verifies; a role that does not work
    /// (or none) is replaced at once.
    pub fn role_change(&self, requested: Option<&str>) -> RoleChange {
        let current = self.fields.role_arn.as_deref();
        if requested == current {
            return RoleChange::Keep;
        }
        let works = self.credential.verification_status == VerificationStatus::Success
            && current.is_some()
            && self.credential.role_arn.as_deref() == current;
        match requested {
            Some(role) if works => RoleChange::Pending(role.to_string()),
            _ => RoleChange::Replace,
        }
    }

    /// Whether `external_id` is one of this account's own: the current
    /// one, or the one pending in a rotation. A client may send back only
    /// these; the service generates every external ID.
    pub fn owns_external_id(&self, external_id: &str) -> bool {
        self.external_id == external_id || self.pending_external_id.as_deref() == Some(external_id)
    }

    /// The external ID a role made now should trust: the pending one
    /// during a rotation, else the current one.
    pub fn external_id_to_deploy(&self) -> &str {
        self.pending_external_id
            .as_deref()
            .unwrap_or(&self.external_id)
    }

    /// Why the account may not be verified, scanned or edited now, if it
    /// may not: archived by a caller, or departed from its organization.
    pub fn inactive(&self) -> Option<Error> {
        if self.archived_at.is_some() {
            return Some(Error::Archived {
                id: self.account_id.clone(),
            });
        }
        self.departed.as_ref().map(|departure| Error::Departed {
            id: self.account_id.clone(),
            reason: departure.reason,
        })
    }
}

/// How a write of the account's fields treats its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    /// The role stays; a pending one stays pending.
    Keep,
    /// The fields' role replaces the current one; nothing stays pending.
    Replace,
    /// The current role stays in force and this one becomes pending.
    Pending(String),
}

/// Lower-cased name, owner, email and account id: what `q` searches.
/// The name of an account reserved by its id alone (`POST
/// /v1/aws/iam-parameters`) until the vendor names it: a placeholder the
/// onboarding page does not show the customer.
pub fn reserved_name(account_id: &str) -> String {
    format!("Pending {account_id}")
}

pub fn search_text(account_id: &str, fields: &AccountFields) -> String {
    [
        Some(fields.name.as_str()),
        fields.owner_name.as_deref(),
        fields.owner_email.as_deref(),
        Some(account_id),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n")
    .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_fields() -> AccountFields {
        AccountFields {
            name: "Prod".into(),
            owner_name: Some("Ops".into()),
            owner_email: Some("ops@example.com".into()),
            environment: Some(Environment::Prod),
            regions: vec!["us-east-1".into()],
            role_arn: Some("arn:aws:iam::123456789012:role/Audit".into()),
            region_ignore_list: vec!["us-west-1".into()],
            resource_type_ignore_list: vec!["AWS.S3.Bucket".into()],
            resource_regex_ignore_list: vec!["^tmp-".into()],
            parent_account_id: Some("210987654321".into()),
            labels: BTreeMap::from([("team".into(), "core".into())]),
        }
    }

    #[test]
    fn names_match_the_struct() {
        let json = serde_json::to_value(full_fields()).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        let mut expected: Vec<_> = AccountFields::NAMES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn role_must_be_in_the_account() {
        let fields = full_fields();
        assert!(fields.validate("123456789012").is_ok());
        let err = fields.validate("999999999999").unwrap_err();
        assert!(matches!(err, Error::Invalid { field: Some(ref f), .. } if f == "role_arn"));
    }

    #[test]
    fn role_partition_must_match_regions() {
        let mut fields = full_fields();
        fields.role_arn = Some("arn:aws-cn:iam::123456789012:role/Audit".into());
        assert!(fields.validate("123456789012").is_err());
        fields.regions = vec!["cn-north-1".into()];
        assert!(fields.validate("123456789012").is_ok());
    }

    #[test]
    fn not_its_own_parent() {
        let mut fields = full_fields();
        fields.parent_account_id = Some("123456789012".into());
        assert!(fields.validate("123456789012").is_err());
    }

    #[test]
    fn register_generates_external_id_and_json_round_trips() {
        let now = Timestamp::now();
        let account = Account::register("123456789012".into(), full_fields(), "key1", now);
        assert_eq!(account.external_id.len(), 40);
        assert_eq!(
            account.credential.verification_status,
            VerificationStatus::NotStarted
        );
        assert_eq!(account.etag(), "\"1\"");
        let json = serde_json::to_string(&account).unwrap();
        let back: Account = serde_json::from_str(&json).unwrap();
        assert_eq!(back, account);
    }

    #[test]
    fn only_a_working_role_waits_for_its_successor() {
        let mut account =
            Account::register("123456789012".into(), full_fields(), "k", Timestamp::now());
        let current = account.fields.role_arn.clone().unwrap();
        let next = "arn:aws:iam::123456789012:role/Next";
        // Never verified: replaced at once.
        assert_eq!(account.role_change(Some(next)), RoleChange::Replace);
        account.credential.verification_status = VerificationStatus::Success;
        account.credential.role_arn = Some(current.clone());
        assert_eq!(
            account.role_change(Some(next)),
            RoleChange::Pending(next.to_string())
        );
        assert_eq!(account.role_change(Some(&current)), RoleChange::Keep);
        // Removing the role is the caller's call.
        assert_eq!(account.role_change(None), RoleChange::Replace);
        // A success that belongs to another role does not count.
        account.credential.role_arn = Some(next.to_string());
        assert_eq!(account.role_change(Some(next)), RoleChange::Replace);
    }

    #[test]
    fn search_text_is_lowercase() {
        let account =
            Account::register("123456789012".into(), full_fields(), "k", Timestamp::now());
        assert_eq!(
            account.search_text(),
            "prod\nops\nops@example.com\n123456789012"
        );
    }
}
