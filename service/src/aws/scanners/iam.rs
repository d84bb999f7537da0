//! The built-in `aws:iam` scanner. With the customer's assumed role it
//! reports IAM users without MFA, active access keys older than 90 days or
//! unused for 90 days, and users and roles with administrator access.
//!
//! One paginated GetAccountAuthorizationDetails gives every user, group,
//! role and customer managed policy with their documents; MFA devices and
//! access keys are read per user, eight users at a time.

use super::ScanFailure;
use crate::scans::Observation;
use crate::time::Timestamp;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::EntityType;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub const NO_MFA: &str = "IAM_USER_WITHOUT_MFA";
pub const OLD_KEY: &str = "IAM_ACCESS_KEY_OLDER_THAN_90_DAYS";
pub const UNUSED_KEY: &str = "IAM_ACCESS_KEY_UNUSED_90_DAYS";
pub const ADMIN: &str = "IAM_ADMINISTRATOR_ACCESS";

const USER: &str = "AWS.IAM.User";
const ROLE: &str = "AWS.IAM.Role";
const KEY_AGE_LIMIT_DAYS: i64 = 90;
const USERS_AT_ONCE: usize = 8;

/// What the scan saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Users, groups and roles examined.
    pub resources: u32,
    pub observations: Vec<Observation>,
}

fn failure<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    operation: &str,
    err: SdkError<E, aws_sdk_iam::config::http::HttpResponse>,
) -> ScanFailure {
    ScanFailure::of_call(
        "IAM",
        "iam",
        "the AWS managed policy SecurityAudit (or ReadOnlyAccess)",
        operation,
        err,
    )
}

/// A user, role or group with what grants it permissions.
#[derive(Debug, Default)]
struct Principal {
    arn: String,
    name: String,
    inline: Vec<(String, String)>,
    attached: Vec<String>,
    groups: Vec<String>,
}

/// An IAM client acting with `credentials` (the customer's assumed role),
/// at the IAM endpoint of the role's partition.
pub fn client(
    sdk_config: &aws_config::SdkConfig,
    credentials: aws_sdk_iam::config::Credentials,
    role_arn: &str,
) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(sdk_config)
            .credentials_provider(credentials)
            .region(aws_sdk_iam::config::Region::new(iam_region(role_arn)))
            .build(),
    )
}

/// IAM is global; its endpoint sits in the partition's first region.
fn iam_region(role_arn: &str) -> &'static str {
    crate::partitions::home_region(role_arn.split(':').nth(1).unwrap_or_default())
}

// Long: one pass over GetAccountAuthorizationDetails' pages, each IAM rule applied to the item in
// hand.
pub async fn scan(iam: &aws_sdk_iam::Client, now: Timestamp) -> Result<Report, ScanFailure> {
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut groups: HashMap<String, Principal> = HashMap::new();
    let mut local_policies: HashMap<String, String> = HashMap::new();
    let mut pages = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Role)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| failure("GetAccountAuthorizationDetails", err))?;
        for user in page.user_detail_list.unwrap_or_default() {
            users.push(Principal {
                arn: user.arn.unwrap_or_default(),
                name: user.user_name.unwrap_or_default(),
                inline: inline_policies(user.user_policy_list),
                attached: attached_arns(user.attached_managed_policies),
                groups: user.group_list.unwrap_or_default(),
            });
        }
        for role in page.role_detail_list.unwrap_or_default() {
            roles.push(Principal {
                arn: role.arn.unwrap_or_default(),
                name: role.role_name.unwrap_or_default(),
                inline: inline_policies(role.role_policy_list),
                attached: attached_arns(role.attached_managed_policies),
                groups: Vec::new(),
            });
        }
        for group in page.group_detail_list.unwrap_or_default() {
            let name = group.group_name.unwrap_or_default();
            groups.insert(
                name.clone(),
                Principal {
                    arn: group.arn.unwrap_or_default(),
                    name,
                    inline: inline_policies(group.group_policy_list),
                    attached: attached_arns(group.attached_managed_policies),
                    groups: Vec::new(),
                },
            );
        }
        for policy in page.policies.unwrap_or_default() {
            let default = policy.default_version_id.clone();
            if let Some(document) = policy
                .policy_version_list
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.is_default_version || v.version_id == default)
                .and_then(|v| v.document)
            {
                local_policies.insert(policy.arn.unwrap_or_default(), document);
            }
        }
    }

    let mut report = Report {
        resources: (users.len() + roles.len() + groups.len()) as u32,
        observations: Vec::new(),
    };
    let grants = |principal: &Principal| admin_grant(principal, &local_policies);
    for (principal, resource_type) in users
        .iter()
        .map(|u| (u, USER))
        .chain(roles.iter().map(|r| (r, ROLE)))
    {
        let mut via = grants(principal);
        for group in &principal.groups {
            if via.is_none() {
                via = groups
                    .get(group)
                    .and_then(grants)
                    .map(|how| format!("group {group}: {how}"));
            }
        }
        if let Some(via) = via {
            report.observations.push(Observation {
                rule: ADMIN,
                title: format!("{} has administrator access", principal.name),
                resource_type,
                resource_id: principal.arn.clone(),
                score: 9.0,
                details: BTreeMap::from([("granted_by".to_string(), via)]),
            });
        }
    }

    // Owned inputs: a stream of futures borrowing from a local trips
    // "FnOnce is not general enough" once the whole scan is spawned.
    let per_user: Vec<Vec<Observation>> = futures::stream::iter(users)
        .map(|user| {
            let iam = iam.clone();
            async move { credentials_of(&iam, &user, now).await }
        })
        .buffered(USERS_AT_ONCE)
        .try_collect()
        .await?;
    report.observations.extend(per_user.into_iter().flatten());
    Ok(report)
}

/// Name and document of each inline policy.
fn inline_policies(
    policies: Option<Vec<aws_sdk_iam::types::PolicyDetail>>,
) -> Vec<(String, String)> {
    policies
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p.policy_name.unwrap_or_default(),
                p.policy_document.unwrap_or_default(),
            )
        })
        .collect()
}

fn attached_arns(policies: Option<Vec<aws_sdk_iam::types::AttachedPolicy>>) -> Vec<String> {
    policies
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect()
}

/// How a principal gets administrator access, if it does.
fn admin_grant(principal: &Principal, local_policies: &HashMap<String, String>) -> Option<String> {
    for arn in &principal.attached {
        if arn.ends_with(":iam::aws:policy/AdministratorAccess") {
            return Some("AWS managed policy AdministratorAccess".into());
        }
        if local_policies
            .get(arn)
            .is_some_and(|doc| grants_everything(doc))
        {
            return Some(format!(
                "managed policy {arn} allows Action * on Resource *"
            ));
        }
    }
    principal
        .inline
        .iter()
        .find(|(_, doc)| grants_everything(doc))
        .map(|(name, _)| format!("inline policy {name} allows Action * on Resource *"))
}

/// True when a policy document has an Allow statement with Action `*` and
/// Resource `*`. IAM hands documents URL-encoded.
pub fn grants_everything(document: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    let Ok(policy) = serde_json::from_str::<Value>(&decoded)
        .or_else(|_| serde_json::from_str::<Value>(document))
    else {
        return false;
    };
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return false,
    };
    let has_star = |value: &Value| match value {
        Value::String(text) => text == "*",
        Value::Array(list) => list.iter().any(|v| v.as_str() == Some("*")),
        _ => false,
    };
    statements.iter().any(|statement| {
        statement["Effect"].as_str() == Some("Allow")
            && has_star(&statement["Action"])
            && has_star(&statement["Resource"])
    })
}

/// MFA and access-key observations of one user.
async fn credentials_of(
    iam: &aws_sdk_iam::Client,
    user: &Principal,
    now: Timestamp,
) -> Result<Vec<Observation>, ScanFailure> {
    let (mfa, keys) = futures::join!(
        iam.list_mfa_devices().user_name(&user.name).send(),
        iam.list_access_keys().user_name(&user.name).send(),
    );
    let mfa = mfa.map_err(|err| failure("ListMFADevices", err))?;
    let keys = keys.map_err(|err| failure("ListAccessKeys", err))?;
    let mut observations = Vec::new();
    if mfa.mfa_devices.is_empty() {
        observations.push(Observation {
            rule: NO_MFA,
            title: format!("IAM user {} has no MFA device", user.name),
            resource_type: USER,
            resource_id: user.arn.clone(),
            score: 7.0,
            details: BTreeMap::new(),
        });
    }
    for key in keys.access_key_metadata {
        let active = key.status.as_ref().is_some_and(|s| s.as_str() == "Active");
        let (Some(key_id), Some(created)) = (key.access_key_id, key.create_date) else {
            continue;
        };
        if !active {
            continue;
        }
        let age_days = days_between(created, now);
        let last_used = iam
            .get_access_key_last_used()
            .access_key_id(&key_id)
            .send()
            .await
            .map_err(|err| failure("GetAccessKeyLastUsed", err))?
            .access_key_last_used
            .and_then(|used| used.last_used_date);
        let details = |extra: (&str, String)| {
            BTreeMap::from([
                ("access_key_id".to_string(), key_id.clone()),
                ("age_days".to_string(), age_days.to_string()),
                (extra.0.to_string(), extra.1),
            ])
        };
        if age_days > KEY_AGE_LIMIT_DAYS {
            observations.push(Observation {
                rule: OLD_KEY,
                title: format!(
                    "access key {key_id} of {} is {age_days} days old; rotate it",
                    user.name
                ),
                resource_type: USER,
                resource_id: key_resource(&user.arn, &key_id),
                score: 5.0,
                details: details(("created", created.to_string())),
            });
        }
        let idle_days = match last_used {
            Some(used) => days_between(used, now),
            None => age_days,
        };
        if idle_days > KEY_AGE_LIMIT_DAYS {
            let when = last_used.map_or_else(|| "never".to_string(), |d| d.to_string());
            observations.push(Observation {
                rule: UNUSED_KEY,
                title: format!("access key {key_id} of {} has not been used for {idle_days} days; deactivate it", user.name),
                resource_type: USER,
                resource_id: key_resource(&user.arn, &key_id),
                score: 4.0,
                details: details(("last_used", when)),
            });
        }
    }
    Ok(observations)
}

/// Access keys have no ARN of their own: the user's ARN and the key id.
fn key_resource(user_arn: &str, key_id: &str) -> String {
    format!("{user_arn}#{key_id}")
}

fn days_between(then: aws_sdk_iam::primitives::DateTime, now: Timestamp) -> i64 {
    (now.datetime().timestamp() - then.secs()) / 86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_region_per_partition() {
        assert_eq!(iam_region("arn:aws:iam::1:role/a"), "us-east-1");
        assert_eq!(iam_region("arn:aws-cn:iam::1:role/a"), "cn-north-1");
        assert_eq!(iam_region("arn:aws-us-gov:iam::1:role/a"), "us-gov-west-1");
    }

    #[test]
    fn admin_statements() {
        assert!(grants_everything(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        ));
        assert!(grants_everything(
            r#"{"Statement":{"Effect":"Allow","Action":["s3:*","*"],"Resource":["*"]}}"#
        ));
        // URL-encoded, as IAM returns documents.
        assert!(grants_everything(
            "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
        ));
        assert!(!grants_everything(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        ));
        assert!(!grants_everything(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b"}]}"#
        ));
        assert!(!grants_everything(
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#
        ));
        assert!(!grants_everything("not json"));
    }

    #[test]
    fn admin_grant_names_the_policy() {
        let locals = HashMap::from([(
            "arn:aws:iam::1:policy/mine".to_string(),
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.to_string(),
        )]);
        let mut principal = Principal {
            attached: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            ..Default::default()
        };
        assert_eq!(admin_grant(&principal, &locals), None);
        principal.attached.push("arn:aws:iam::1:policy/mine".into());
        assert!(admin_grant(&principal, &locals)
            .unwrap()
            .contains("policy/mine"));
        principal.attached = vec!["arn:aws-us-gov:iam::aws:policy/AdministratorAccess".into()];
        assert!(admin_grant(&principal, &locals)
            .unwrap()
            .contains("AdministratorAccess"));
    }
}
