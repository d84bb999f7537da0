//! AWS Organizations onboarding, the rules that need no AWS call: which
//! members a registration covers (its filters), each member's external ID,
//! and the two templates a customer deploys.
//!
//! **External IDs without per-account templates.** An organization gets a
//! random prefix from the OS CSPRNG; each member's role trusts
//! `sts:ExternalId` = prefix + that member's account id. The StackSet
//! template writes it with `!Sub "${ExternalIdPrefix}${AWS::AccountId}"`,
//! so one template serves every member and still no two accounts share an
//! external ID, and a role that trusts the bare prefix or another member's
//! ID fails verification like any wrong external ID.

use crate::role_template::quoted;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Random bytes in a prefix: 128 bits.
const PREFIX_BYTES: usize = 16;

/// A new external-ID prefix: 32 hex digits from the OS CSPRNG and `-`,
/// so a member's ID reads `<prefix>-<account id>`.
pub fn new_prefix() -> String {
    format!("{}-", crate::crypto::random_hex(PREFIX_BYTES))
}

/// The external ID a member's role must trust.
pub fn member_external_id(prefix: &str, account_id: &str) -> String {
    format!("{prefix}{account_id}")
}

/// What AWS Organizations says of a member's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberState {
    Active,
    Suspended,
    PendingClosure,
}

impl MemberState {
    /// AWS's `Status` (and the newer `State`) values.
    pub fn from_aws(value: &str) -> Self {
        match value {
            "SUSPENDED" | "CLOSED" => MemberState::Suspended,
            "PENDING_CLOSURE" => MemberState::PendingClosure,
            _ => MemberState::Active,
        }
    }

    /// A suspended or closing member is departed: no scans, no verification.
    pub fn is_departed(self) -> bool {
        self != MemberState::Active
    }
}

/// One member as discovery finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub state: MemberState,
    /// OU ids from the root's first child down to the member's parent
    /// (empty: directly under the root).
    pub ou_path: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Member {
    /// The OU directly above the member, if any.
    pub fn parent_ou(&self) -> Option<&str> {
        self.ou_path.last().map(String::as_str)
    }
}

/// An OU a filter names, alone or with everything below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OuRule {
    /// `ou-xxxx-xxxxxxxx`.
    pub ou_id: String,
    /// Also the OUs below it (default true).
    #[serde(default = "yes")]
    pub with_children: bool,
}

fn yes() -> bool {
    true
}

impl OuRule {
    fn matches(&self, member: &Member) -> bool {
        if self.with_children {
            member.ou_path.contains(&self.ou_id)
        } else {
            member.parent_ou() == Some(self.ou_id.as_str())
        }
    }
}

/// A tag a member must carry: with one of `values`, or any value when
/// `values` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    pub key: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// Which members a registration covers. Applied in this order: an
/// excluded account is out; an included account is in; a member under an
/// excluded OU is out; with include OUs, a member under none of them is
/// out; a member missing a required tag is out; the rest are in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    pub include_ous: Vec<OuRule>,
    #[serde(default)]
    pub exclude_ous: Vec<OuRule>,
    #[serde(default)]
    pub include_accounts: Vec<String>,
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
    /// Every rule must hold.
    #[serde(default)]
    pub tags: Vec<TagRule>,
}

/// Why a member is not covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilteredOut {
    ExcludedAccount,
    ExcludedOu,
    NotInIncludedOu,
    MissingTag,
}

/// The most rules of each kind a registration may have.
pub const MAX_RULES: usize = 100;
/// The most an organization's filters may hold together, as JSON (each
/// rule list is bounded, but 100 tag rules of 100 values each would be
/// megabytes: more than a DynamoDB item holds).
pub const MAX_FILTERS_BYTES: usize = 64 * 1024;

impl Filters {
    /// Whether `member` is covered, or why not.
    pub fn admit(&self, member: &Member) -> std::result::Result<(), FilteredOut> {
        let id = member.account_id.as_str();
        if self.exclude_accounts.iter().any(|a| a == id) {
            return Err(FilteredOut::ExcludedAccount);
        }
        if self.include_accounts.iter().any(|a| a == id) {
            return Ok(());
        }
        if self.exclude_ous.iter().any(|rule| rule.matches(member)) {
            return Err(FilteredOut::ExcludedOu);
        }
        if !self.include_ous.is_empty() && !self.include_ous.iter().any(|r| r.matches(member)) {
            return Err(FilteredOut::NotInIncludedOu);
        }
        let tagged = |rule: &TagRule| {
            member
                .tags
                .get(&rule.key)
                .is_some_and(|value| rule.values.is_empty() || rule.values.contains(value))
        };
        if !self.tags.iter().all(tagged) {
            return Err(FilteredOut::MissingTag);
        }
        Ok(())
    }

    /// Check every rule's shape; a failure names the field.
    pub fn check(&self) -> Result<()> {
        let ou = |field: &str, rules: &[OuRule]| -> Result<()> {
            if rules.len() > MAX_RULES {
                return Err(Error::invalid(field, format!("at most {MAX_RULES} OUs")));
            }
            for rule in rules {
                if !is_ou_id(&rule.ou_id) {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "'{}' is not an OU id; OU ids look like ou-ab12-cd34ef56",
                            crate::validation::echo(&rule.ou_id)
                        ),
                    ));
                }
            }
            Ok(())
        };
        ou("filters.include_ous", &self.include_ous)?;
        ou("filters.exclude_ous", &self.exclude_ous)?;
        for (field, accounts) in [
            ("filters.include_accounts", &self.include_accounts),
            ("filters.exclude_accounts", &self.exclude_accounts),
        ] {
            if accounts.len() > MAX_RULES {
                return Err(Error::invalid(
                    field,
                    format!("at most {MAX_RULES} accounts"),
                ));
            }
            for account in accounts {
                crate::validation::account_id(field, account)?;
            }
        }
        if self.tags.len() > MAX_RULES {
            return Err(Error::invalid(
                "filters.tags",
                format!("at most {MAX_RULES} tag rules"),
            ));
        }
        for rule in &self.tags {
            crate::validation::clean("filters.tags", &rule.key)?;
            for value in &rule.values {
                crate::validation::clean("filters.tags", value)?;
            }
            // AWS's limits: keys 1-128 characters, values up to 256.
            if rule.key.is_empty() || rule.key.chars().count() > 128 {
                return Err(Error::invalid(
                    "filters.tags",
                    "a tag key is 1-128 characters",
                ));
            }
            if rule.values.len() > MAX_RULES || rule.values.iter().any(|v| v.chars().count() > 256)
            {
                return Err(Error::invalid(
                    "filters.tags",
                    format!("a tag rule has at most {MAX_RULES} values of up to 256 characters"),
                ));
            }
        }
        crate::validation::within_budget(Some("filters"), self, MAX_FILTERS_BYTES)?;
        Ok(())
    }
}

/// Why an archived organization's prefix is not rotated (409).
pub fn archived_refuses_rotation(organization_id: &str) -> Error {
    Error::Refused {
        code: "archived",
        message: format!(
            "organization {organization_id} is archived; unarchive it before rotating its prefix"
        ),
    }
}

/// `ou-` then 4-32 lowercase letters or digits, `-`, 8-32 more.
pub fn is_ou_id(value: &str) -> bool {
    static OU_ID: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(OU_ID_PATTERN).unwrap());
    OU_ID.is_match(value)
}

/// An OU id as AWS Organizations makes them: `ou-<root part>-<OU part>`.
pub const OU_ID_PATTERN: &str = r"^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$";

/// The StackSet template: one role per member account, trusting the
/// vendor only with that member's external ID, written by `!Sub` so the
/// same template serves every member. During a rotation of the prefix
/// (`pending`), each role trusts both the current and the pending ID.
pub fn stackset_template(
    vendor_principal: &str,
    prefix: &str,
    pending: Option<&str>,
    role_name: &str,
    policies: &[String],
) -> String {
    let mut external_ids = String::from(
        r#"
                  - !Sub "${ExternalIdPrefix}${AWS::AccountId}""#,
    );
    let mut pending_parameter = String::new();
    if let Some(pending) = pending {
        external_ids.push_str(
            r#"
                  - !Sub "${PendingExternalIdPrefix}${AWS::AccountId}""#,
        );
        pending_parameter = format!(
            r#"
  PendingExternalIdPrefix:
    Type: String
    Default: {pending}
    AllowedPattern: "[\\w+=,.@:/-]*"
    Description: The new prefix of a rotation, trusted beside the current one until it is verified"#,
            pending = quoted(pending)
        );
    }
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: Cross-account role for each member account, assumable by the vendor only with that account's external ID (prefix + account id)
Parameters:
  ExternalIdPrefix:
    Type: String
    Default: {prefix}
    AllowedPattern: "[\\w+=,.@:/-]*"
    Description: The organization's external-ID prefix the vendor gave you{pending_parameter}
  VendorPrincipal:
    Type: String
    Default: {principal}
  RoleName:
    Type: String
    Default: {role_name}
{resource}"#,
        prefix = quoted(prefix),
        principal = quoted(vendor_principal),
        role_name = quoted(role_name),
        resource = crate::role_template::role_resource(
            "!Ref VendorPrincipal",
            &external_ids,
            &crate::role_template::managed_policy_arns(policies),
            "",
        ),
    )
}

/// The management account's role: read-only on AWS Organizations (what
/// discovery calls), trusting the vendor only with the management
/// account's own derived external ID (and, during a rotation, the
/// pending one).
pub fn management_role_template(
    vendor_principal: &str,
    external_ids: &[&str],
    role_name: &str,
) -> String {
    let external_ids: String = external_ids
        .iter()
        .map(|id| format!("\n                  - {}", quoted(id)))
        .collect();
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: Read-only role on AWS Organizations for the vendor's discovery of member accounts
Parameters:
  RoleName:
    Type: String
    Default: {role_name}
Resources:
  VendorOrganizationsRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Ref RoleName
{trust}      Policies:
        - PolicyName: OrganizationsReadOnly
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action:
                  - organizations:DescribeOrganization
                  - organizations:ListAccounts
                  - organizations:ListRoots
                  - organizations:ListOrganizationalUnitsForParent
                  - organizations:ListParents
                  - organizations:ListTagsForResource
                Resource: "*"
{self_read}Outputs:
  RoleArn:
    Description: Register this ARN as the organization's role_arn
    Value: !GetAtt VendorOrganizationsRole.Arn
"#,
        trust = crate::role_template::trust_policy(&quoted(vendor_principal), &external_ids),
        self_read = crate::role_template::SELF_READ_STATEMENT,
        role_name = quoted(role_name),
    )
}

/// The AWS CLI commands that deploy the StackSet to the whole
/// organization (service-managed permissions, so new accounts get the
/// role as they join and departing ones lose it).
pub fn stackset_commands(stack_set_name: &str, root_ou_id: &str, region: &str) -> String {
    format!(
        "aws cloudformation create-stack-set --stack-set-name {stack_set_name} \\\n  --template-body file://stackset-template.yaml --capabilities CAPABILITY_NAMED_IAM \\\n  --permission-model SERVICE_MANAGED \\\n  --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false\naws cloudformation create-stack-instances --stack-set-name {stack_set_name} \\\n  --deployment-targets OrganizationalUnitIds={root_ou_id} --regions {region}\n"
    )
}

/// A registered AWS Organization, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub organization_id: String,
    pub name: String,
    /// The management account (or delegated administrator) whose role
    /// discovery assumes.
    pub management_account_id: String,
    pub role_arn: String,
    /// Every member's external ID is this prefix + its account id.
    pub external_id_prefix: String,
    /// A rotation's new prefix: trusted beside the current one until the
    /// management role verifies with it (then it replaces the current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_external_id_prefix: Option<String>,
    #[serde(default)]
    pub filters: Filters,
    /// AWS's `o-…` id, once a sync has read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_organization_id: Option<String>,
    pub created_at: crate::time::Timestamp,
    pub created_by: String,
    pub updated_at: crate::time::Timestamp,
    pub updated_by: String,
    pub version: u64,
    /// What the last sync found and changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SyncSummary>,
    /// A sync queued or running, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<SyncRunStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_requested_at: Option<crate::time::Timestamp>,
    /// The API key id that asked, or `system:schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_started_at: Option<crate::time::Timestamp>,
    /// A queued or running sync's claim lapses then: a sync whose message
    /// or worker was lost is queued again by the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_lease_until: Option<crate::time::Timestamp>,
    /// When the schedule syncs it next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync_at: Option<crate::time::Timestamp>,
    /// Set while archived: not synced (on schedule or on demand); its
    /// accounts stay as the last sync left them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<crate::time::Timestamp>,
}

/// A sync on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncRunStatus {
    /// No sync on its way (never stored: the absence of a status).
    Idle,
    /// Asked for; waiting for the sync function.
    Queued,
    Running,
}

/// Where an organization's syncs stand, as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SyncState {
    /// `QUEUED` or `RUNNING` while a sync is on its way, else `IDLE`.
    pub status: SyncRunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<crate::time::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<crate::time::Timestamp>,
    /// The next scheduled sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_sync_at: Option<crate::time::Timestamp>,
}

/// A message on the organization sync queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncJob {
    pub tenant: String,
    pub organization_id: String,
}

/// How long a queued or running sync holds its claim.
pub const SYNC_LEASE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// A failed sync is tried again this soon (or at the interval, if sooner).
pub const SYNC_RETRY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The most ids a sync summary lists per kind of change (counts are exact).
pub const SUMMARY_IDS: usize = 100;

/// One sync's outcome, kept on the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncSummary {
    pub at: crate::time::Timestamp,
    /// `SUCCEEDED` or `FAILED`.
    pub status: SyncStatus,
    /// Why it failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the management role refused the sync: how, as an account's
    /// verification would say it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_refusal: Option<crate::trust::VerificationCode>,
    /// Members found in the organization.
    pub members: usize,
    /// Per kind of change: how many, and the first 100 account ids.
    pub enrolled: Changed,
    pub departed: Changed,
    pub returned: Changed,
    pub moved: Changed,
    pub renamed: Changed,
    pub filtered_out: Changed,
    /// Member accounts created or changed (an account already as the sync
    /// wants it is not written).
    #[serde(default)]
    pub accounts_written: usize,
    /// AWS Organizations calls made.
    pub calls: usize,
}

/// How an organization's sync ended (`OrganizationSyncOutcome` in the
/// OpenAPI document, apart from a region's inventory sync status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = OrganizationSyncOutcome)]
pub enum SyncStatus {
    Succeeded,
    Failed,
}

/// How many accounts a kind of change touched, and which (the first 100).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Changed {
    pub count: usize,
    pub account_ids: Vec<String>,
}

impl Changed {
    pub fn of(ids: &[String]) -> Self {
        Changed {
            count: ids.len(),
            account_ids: ids.iter().take(SUMMARY_IDS).cloned().collect(),
        }
    }
}

/// An organization as callers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationView {
    pub organization_id: String,
    pub name: String,
    pub management_account_id: String,
    pub role_arn: String,
    /// Give it to the StackSet (its template has it as the default).
    pub external_id_prefix: String,
    /// The external ID the management role must trust (prefix + its id).
    pub management_external_id: String,
    /// During a rotation: the new prefix, and the management role's new
    /// ID; both are trusted until a sync verifies the new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_external_id_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_management_external_id: Option<String>,
    pub filters: Filters,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_organization_id: Option<String>,
    pub created_at: crate::time::Timestamp,
    pub created_by: String,
    pub updated_at: crate::time::Timestamp,
    pub updated_by: String,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SyncSummary>,
    pub sync: SyncState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<crate::time::Timestamp>,
}

impl Organization {
    /// A new registration: its own id and, even for an AWS Organization
    /// registered before, its own external-ID prefix; due for a sync at once.
    pub fn new(
        name: String,
        management_account_id: String,
        role_arn: String,
        filters: Filters,
        actor: &str,
        now: crate::time::Timestamp,
    ) -> Self {
        Organization {
            organization_id: ulid::Ulid::new().to_string(),
            name,
            management_account_id,
            role_arn,
            external_id_prefix: new_prefix(),
            pending_external_id_prefix: None,
            filters,
            aws_organization_id: None,
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            updated_by: actor.to_string(),
            version: 1,
            last_sync: None,
            sync_status: None,
            sync_requested_at: None,
            sync_requested_by: None,
            sync_started_at: None,
            sync_lease_until: None,
            next_sync_at: Some(now),
            archived_at: None,
        }
    }

    pub fn view(&self) -> OrganizationView {
        OrganizationView {
            organization_id: self.organization_id.clone(),
            name: self.name.clone(),
            management_account_id: self.management_account_id.clone(),
            role_arn: self.role_arn.clone(),
            external_id_prefix: self.external_id_prefix.clone(),
            management_external_id: self.management_external_id(),
            pending_external_id_prefix: self.pending_external_id_prefix.clone(),
            pending_management_external_id: self.pending_management_external_id(),
            filters: self.filters.clone(),
            aws_organization_id: self.aws_organization_id.clone(),
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            updated_at: self.updated_at,
            updated_by: self.updated_by.clone(),
            version: self.version,
            last_sync: self.last_sync.clone(),
            sync: SyncState {
                status: self.sync_status.unwrap_or(SyncRunStatus::Idle),
                requested_at: self.sync_requested_at,
                requested_by: self.sync_requested_by.clone(),
                started_at: self.sync_started_at,
                next_sync_at: self.next_sync_at,
            },
            archived_at: self.archived_at,
        }
    }

    pub fn management_external_id(&self) -> String {
        member_external_id(&self.external_id_prefix, &self.management_account_id)
    }

    pub fn pending_management_external_id(&self) -> Option<String> {
        self.pending_external_id_prefix
            .as_deref()
            .map(|pending| member_external_id(pending, &self.management_account_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, path: &[&str], tags: &[(&str, &str)]) -> Member {
        Member {
            account_id: id.into(),
            name: format!("member {id}"),
            email: format!("{id}@example.com"),
            state: MemberState::Active,
            ou_path: path.iter().map(|s| s.to_string()).collect(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    const PROD: &str = "ou-ab12-prod0000";
    const PROD_EU: &str = "ou-ab12-prodeu00";
    const SANDBOX: &str = "ou-ab12-sandbox0";

    #[test]
    fn filters_include_and_exclude_exactly() {
        let root = member("000000000001", &[], &[]);
        let prod = member("000000000002", &[PROD], &[("team", "payments")]);
        let prod_eu = member("000000000003", &[PROD, PROD_EU], &[("team", "search")]);
        let sandbox = member("000000000004", &[SANDBOX], &[]);
        let all = [&root, &prod, &prod_eu, &sandbox];
        let admitted = |filters: &Filters| -> Vec<&str> {
            all.iter()
                .filter(|m| filters.admit(m).is_ok())
                .map(|m| &m.account_id[11..])
                .collect()
        };
        assert_eq!(admitted(&Filters::default()), ["1", "2", "3", "4"]);
        let rule = |ou: &str, with_children| OuRule {
            ou_id: ou.into(),
            with_children,
        };
        let only_prod = Filters {
            include_ous: vec![rule(PROD, true)],
            ..Default::default()
        };
        assert_eq!(admitted(&only_prod), ["2", "3"]);
        let prod_alone = Filters {
            include_ous: vec![rule(PROD, false)],
            ..Default::default()
        };
        assert_eq!(admitted(&prod_alone), ["2"]);
        assert_eq!(
            prod_alone.admit(&prod_eu),
            Err(FilteredOut::NotInIncludedOu)
        );
        let no_sandbox = Filters {
            exclude_ous: vec![rule(SANDBOX, true)],
            include_accounts: vec!["000000000004".into()],
            exclude_accounts: vec!["000000000001".into()],
            ..Default::default()
        };
        assert_eq!(
            admitted(&no_sandbox),
            ["2", "3", "4"],
            "an included account wins over its OU"
        );
        assert_eq!(no_sandbox.admit(&root), Err(FilteredOut::ExcludedAccount));
        let payments = Filters {
            tags: vec![TagRule {
                key: "team".into(),
                values: vec!["payments".into()],
            }],
            ..Default::default()
        };
        assert_eq!(admitted(&payments), ["2"]);
        assert_eq!(payments.admit(&prod_eu), Err(FilteredOut::MissingTag));
        let tagged = Filters {
            tags: vec![TagRule {
                key: "team".into(),
                values: vec![],
            }],
            ..Default::default()
        };
        assert_eq!(admitted(&tagged), ["2", "3"]);
    }

    #[test]
    fn filters_are_checked_field_by_field() {
        let bad_ou = Filters {
            exclude_ous: vec![OuRule {
                ou_id: "r-ab12".into(),
                with_children: true,
            }],
            ..Default::default()
        };
        let err = bad_ou.check().unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field: Some(f), .. } if f == "filters.exclude_ous"),
            "{err:?}"
        );
        let bad_account = Filters {
            include_accounts: vec!["12345".into()],
            ..Default::default()
        };
        assert!(bad_account.check().is_err());
        assert!(is_ou_id(PROD) && is_ou_id("ou-abcd-12345678"));
        assert!(
            !is_ou_id("ou-ab1-12345678")
                && !is_ou_id("ou-abcd-1234567")
                && !is_ou_id("ou-ABCD-12345678")
        );
        let many = Filters {
            exclude_accounts: vec!["000000000001".into(); MAX_RULES + 1],
            ..Default::default()
        };
        assert!(many.check().is_err());
    }

    #[test]
    fn member_ids_differ_per_account_and_per_registration() {
        let (a, b) = (new_prefix(), new_prefix());
        assert_ne!(a, b, "two registrations, two prefixes");
        assert_eq!(a.len(), 33);
        let one = member_external_id(&a, "000000000001");
        let two = member_external_id(&a, "000000000002");
        assert_ne!(one, two);
        crate::validation::external_id("external_id", &one).unwrap();
        assert!(one.starts_with(&a) && one.ends_with("000000000001"));
    }

    #[test]
    fn the_stackset_template_derives_each_members_id() {
        let text = stackset_template(
            "arn:aws:iam::123456789012:root",
            "0123456789abcdef0123456789abcdef-",
            None,
            "AccountOnboardingAudit",
            &["SecurityAudit".to_string()],
        );
        assert!(text.contains(r#"- !Sub "${ExternalIdPrefix}${AWS::AccountId}""#));
        assert!(text.contains(r#"Default: "0123456789abcdef0123456789abcdef-""#));
        assert!(!text.contains("PendingExternalIdPrefix"));
        // During a rotation each role trusts both IDs.
        let rotating = stackset_template(
            "arn:aws:iam::123456789012:root",
            "0123456789abcdef0123456789abcdef-",
            Some("fedcba9876543210fedcba9876543210-"),
            "AccountOnboardingAudit",
            &[],
        );
        assert!(rotating.contains(r#"- !Sub "${PendingExternalIdPrefix}${AWS::AccountId}""#));
        assert!(rotating.contains(r#"Default: "fedcba9876543210fedcba9876543210-""#));
        // A hostile role name stays a quoted scalar.
        let hostile = stackset_template("p", "x-", None, "a\"\n  Evil: b", &[]);
        assert!(hostile.contains(r#"Default: "a\"\n  Evil: b""#));
    }

    /// The README shows exactly the commands this function writes.
    #[test]
    fn the_readme_shows_the_stackset_commands() {
        let commands = stackset_commands("account-onboarding", "<root id, r-xxxx>", "us-east-1");
        assert!(
            include_str!("../../README.md").contains(&commands),
            "{commands}"
        );
    }

    #[test]
    fn states_from_aws() {
        assert_eq!(MemberState::from_aws("ACTIVE"), MemberState::Active);
        assert!(MemberState::from_aws("SUSPENDED").is_departed());
        assert!(MemberState::from_aws("PENDING_CLOSURE").is_departed());
        assert!(!MemberState::from_aws("ACTIVE").is_departed());
    }
}
