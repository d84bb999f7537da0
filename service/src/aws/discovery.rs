//! Discovering an AWS Organization through its management (or delegated
//! administrator) role, and what a sync changes.
//!
//! Discovery walks the OU tree from the root, breadth first: for each
//! parent one ListAccountsForParent and one ListOrganizationalUnitsForParent
//! (both paged to the end), so each member's OU path comes with it and no
//! ListParents per account is needed; tags are read (ListTagsForResource,
//! a few at once) only when a filter asks for them. The client retries
//! Organizations' throttling with backoff (its standard retry, 8
//! attempts). Depth and size are bounded, as AWS bounds them.

use crate::organizations::{FilteredOut, Filters, Member, MemberState};
use crate::{Error, Result};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use utoipa::ToSchema;

/// AWS allows OUs five levels deep under the root.
pub const MAX_DEPTH: usize = 5;
/// More members than AWS's default quota allows: refuse rather than walk on.
pub const MAX_MEMBERS: usize = 20_000;
/// OUs walked at most (AWS's quota is 1,000 per organization; 2,000 to spare).
pub const MAX_OUS: usize = 2_000;
/// Tag reads at once.
const TAG_READS_AT_ONCE: usize = 8;

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    pub organization_id: String,
    pub management_account_id: String,
    pub root_id: String,
    pub members: Vec<Member>,
    /// Organizations API calls made (pages included).
    pub calls: usize,
}

/// An Organizations client acting with `credentials` (an assumed role),
/// retrying throttling with backoff.
pub fn client(
    sdk: &aws_config::SdkConfig,
    credentials: aws_sdk_organizations::config::Credentials,
) -> Result<aws_sdk_organizations::Client> {
    Ok(aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(sdk)
            .credentials_provider(credentials)
            .retry_config(
                aws_sdk_organizations::config::retry::RetryConfig::standard().with_max_attempts(8),
            )
            .build(),
    ))
}

fn failed<E: std::error::Error + Send + Sync + 'static>(what: &'static str) -> impl Fn(E) -> Error {
    move |err| Error::unavailable_because(format!("Organizations {what} failed"), err)
}

/// Walk the organization: every member, its OU path, state and (when
/// `with_tags`) its tags.
pub async fn discover(
    client: &aws_sdk_organizations::Client,
    with_tags: bool,
) -> Result<Discovery> {
    let mut calls = 0;
    let organization = client
        .describe_organization()
        .send()
        .await
        .map_err(failed("DescribeOrganization"))?
        .organization
        .ok_or_else(|| Error::unavailable("DescribeOrganization returned no organization"))?;
    calls += 1;
    let mut pages = client.list_roots().into_paginator().send();
    let mut root_id = None;
    while let Some(page) = pages.next().await {
        calls += 1;
        for root in page.map_err(failed("ListRoots"))?.roots.unwrap_or_default() {
            root_id.get_or_insert(root.id.unwrap_or_default());
        }
    }
    let root_id = root_id.ok_or_else(|| Error::unavailable("the organization has no root"))?;

    let mut members = Vec::new();
    let mut queue: VecDeque<(String, Vec<String>)> =
        VecDeque::from([(root_id.clone(), Vec::new())]);
    let mut walked = 0;
    while let Some((parent, path)) = queue.pop_front() {
        walked += 1;
        if walked > MAX_OUS {
            return Err(Error::unavailable(format!(
                "the organization has more than {MAX_OUS} OUs; discovery stopped"
            )));
        }
        let (accounts, children, pages) = under(client, &parent).await?;
        calls += pages;
        for account in accounts {
            members.push(member(account, &path));
            if members.len() > MAX_MEMBERS {
                return Err(Error::unavailable(format!(
                    "the organization has more than {MAX_MEMBERS} accounts; discovery stopped"
                )));
            }
        }
        if path.len() < MAX_DEPTH {
            for child in children {
                let id = child.id.unwrap_or_default();
                let mut child_path = path.clone();
                child_path.push(id.clone());
                queue.push_back((id, child_path));
            }
        }
    }
    if with_tags {
        let ids: Vec<String> = members.iter().map(|m| m.account_id.clone()).collect();
        let tags: Vec<Result<(BTreeMap<String, String>, usize)>> = futures::stream::iter(ids)
            .map(|account_id| read_tags(client, account_id))
            .buffered(TAG_READS_AT_ONCE)
            .collect()
            .await;
        for (member, result) in members.iter_mut().zip(tags) {
            let (tags, pages) = result?;
            member.tags = tags;
            calls += pages;
        }
    }
    Ok(Discovery {
        organization_id: organization.id.unwrap_or_default(),
        management_account_id: organization.master_account_id.unwrap_or_default(),
        root_id,
        members,
        calls,
    })
}

/// The accounts and OUs directly under `parent`, both listings paged to
/// the end at once, with the pages read.
async fn under(
    client: &aws_sdk_organizations::Client,
    parent: &str,
) -> Result<(
    Vec<aws_sdk_organizations::types::Account>,
    Vec<aws_sdk_organizations::types::OrganizationalUnit>,
    usize,
)> {
    let (accounts, children) = futures::join!(
        async {
            let mut pages = client
                .list_accounts_for_parent()
                .parent_id(parent)
                .into_paginator()
                .send();
            let mut found = Vec::new();
            let mut pages_read = 0;
            while let Some(page) = pages.next().await {
                pages_read += 1;
                found.extend(
                    page.map_err(failed("ListAccountsForParent"))?
                        .accounts
                        .unwrap_or_default(),
                );
            }
            Ok::<_, Error>((found, pages_read))
        },
        async {
            let mut pages = client
                .list_organizational_units_for_parent()
                .parent_id(parent)
                .into_paginator()
                .send();
            let mut found = Vec::new();
            let mut pages_read = 0;
            while let Some(page) = pages.next().await {
                pages_read += 1;
                found.extend(
                    page.map_err(failed("ListOrganizationalUnitsForParent"))?
                        .organizational_units
                        .unwrap_or_default(),
                );
            }
            Ok::<_, Error>((found, pages_read))
        },
    );
    let ((accounts, account_pages), (children, child_pages)) = (accounts?, children?);
    Ok((accounts, children, account_pages + child_pages))
}

/// A listed account as a member at `path` (its tags read later). Its
/// `State` when AWS gives one, else the older `Status`.
fn member(account: aws_sdk_organizations::types::Account, path: &[String]) -> Member {
    let state = account
        .state
        .as_ref()
        .map(|state| state.as_str().to_string())
        .or_else(|| {
            account
                .status
                .as_ref()
                .map(|status| status.as_str().to_string())
        })
        .unwrap_or_default();
    Member {
        account_id: account.id.unwrap_or_default(),
        name: account.name.unwrap_or_default(),
        email: account.email.unwrap_or_default(),
        state: MemberState::from_aws(&state),
        ou_path: path.to_vec(),
        tags: BTreeMap::new(),
    }
}

/// One account's tags, paged to the end; returns them and the pages read.
async fn read_tags(
    client: &aws_sdk_organizations::Client,
    account_id: String,
) -> Result<(BTreeMap<String, String>, usize)> {
    let mut pages = client
        .list_tags_for_resource()
        .resource_id(account_id)
        .into_paginator()
        .send();
    let mut tags = BTreeMap::new();
    let mut pages_read = 0;
    while let Some(page) = pages.next().await {
        pages_read += 1;
        for tag in page
            .map_err(failed("ListTagsForResource"))?
            .tags
            .unwrap_or_default()
        {
            tags.insert(tag.key, tag.value);
        }
    }
    Ok((tags, pages_read))
}

/// A member as the previous sync left it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct Enrolled {
    pub account_id: String,
    pub name: String,
    pub ou_path: Vec<String>,
    /// Suspended, closing, gone from the organization, or now filtered out.
    pub departed: bool,
}

/// What one sync changes, each list sorted by account id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SyncDiff {
    /// New members that pass the filters.
    pub enrolled: Vec<String>,
    /// Members suspended, closing or gone (kept, marked departed).
    pub departed: Vec<String>,
    /// Departed members that are active and covered again.
    pub returned: Vec<String>,
    /// Members whose OU changed.
    pub moved: Vec<String>,
    /// Members whose Organizations name changed.
    pub renamed: Vec<String>,
    /// Members the filters leave out (enrolled ones among them depart).
    pub filtered_out: Vec<(String, FilteredOut)>,
}

impl SyncDiff {
    pub fn is_empty(&self) -> bool {
        self.enrolled.is_empty()
            && self.departed.is_empty()
            && self.returned.is_empty()
            && self.moved.is_empty()
            && self.renamed.is_empty()
    }
}

/// Compare what the previous sync left with what discovery found. Pure:
/// the same inputs give the same diff, and applying a diff then planning
/// again against the same discovery gives an empty one.
pub fn plan(previous: &[Enrolled], found: &[Member], filters: &Filters) -> SyncDiff {
    let before: BTreeMap<&str, &Enrolled> = previous
        .iter()
        .map(|member| (member.account_id.as_str(), member))
        .collect();
    let mut diff = SyncDiff::default();
    let mut seen = std::collections::BTreeSet::new();
    for member in found {
        let id = member.account_id.as_str();
        seen.insert(id);
        let admitted = filters.admit(member);
        if let Err(why) = admitted {
            diff.filtered_out.push((id.to_string(), why));
        }
        let covered = admitted.is_ok() && !member.state.is_departed();
        match (before.get(id), covered) {
            (None, true) => diff.enrolled.push(id.to_string()),
            (None, false) => {}
            (Some(old), true) => {
                if old.departed {
                    diff.returned.push(id.to_string());
                }
                if old.ou_path != member.ou_path {
                    diff.moved.push(id.to_string());
                }
                if old.name != member.name {
                    diff.renamed.push(id.to_string());
                }
            }
            (Some(old), false) => {
                if !old.departed {
                    diff.departed.push(id.to_string());
                }
            }
        }
    }
    for old in previous {
        if !seen.contains(old.account_id.as_str()) && !old.departed {
            diff.departed.push(old.account_id.clone());
        }
    }
    for list in [
        &mut diff.enrolled,
        &mut diff.departed,
        &mut diff.returned,
        &mut diff.moved,
        &mut diff.renamed,
    ] {
        list.sort();
    }
    diff.filtered_out.sort_by(|a, b| a.0.cmp(&b.0));
    diff
}

/// The enrolled set after applying `diff` to `previous` with what was
/// `found`: what the next sync compares with.
pub fn apply(previous: &[Enrolled], found: &[Member], diff: &SyncDiff) -> Vec<Enrolled> {
    let mut next: BTreeMap<String, Enrolled> = previous
        .iter()
        .map(|member| (member.account_id.clone(), member.clone()))
        .collect();
    for member in found {
        let id = &member.account_id;
        if diff.enrolled.contains(id)
            || diff.returned.contains(id)
            || diff.moved.contains(id)
            || diff.renamed.contains(id)
        {
            next.insert(
                id.clone(),
                Enrolled {
                    account_id: id.clone(),
                    name: member.name.clone(),
                    ou_path: member.ou_path.clone(),
                    departed: false,
                },
            );
        }
    }
    for id in &diff.departed {
        if let Some(member) = next.get_mut(id) {
            member.departed = true;
        }
    }
    next.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::organizations::OuRule;

    fn member(id: &str, name: &str, path: &[&str], state: MemberState) -> Member {
        Member {
            account_id: id.into(),
            name: name.into(),
            email: format!("{id}@example.com"),
            state,
            ou_path: path.iter().map(|s| s.to_string()).collect(),
            tags: BTreeMap::new(),
        }
    }

    const A: &str = "ou-ab12-aaaaaaaa";
    const B: &str = "ou-ab12-bbbbbbbb";

    #[test]
    fn each_change_of_the_organization_is_one_entry_of_the_next_diff() {
        let filters = Filters::default();
        let found = vec![
            member("000000000001", "one", &[A], MemberState::Active),
            member("000000000002", "two", &[A], MemberState::Active),
            member("000000000003", "three", &[B], MemberState::Active),
        ];
        let first = plan(&[], &found, &filters);
        assert_eq!(
            first.enrolled,
            ["000000000001", "000000000002", "000000000003"]
        );
        let enrolled = apply(&[], &found, &first);
        assert!(
            plan(&enrolled, &found, &filters).is_empty(),
            "a re-sync changes nothing"
        );

        // Moved, suspended, removed, added, renamed.
        let found = vec![
            member("000000000001", "one", &[B], MemberState::Active),
            member("000000000002", "two", &[A], MemberState::Suspended),
            member("000000000004", "four", &[], MemberState::Active),
            member("000000000005", "five", &[A], MemberState::PendingClosure),
        ];
        let diff = plan(&enrolled, &found, &filters);
        assert_eq!(diff.moved, ["000000000001"]);
        assert_eq!(diff.departed, ["000000000002", "000000000003"]);
        assert_eq!(
            diff.enrolled,
            ["000000000004"],
            "a closing newcomer is not enrolled"
        );
        let enrolled = apply(&enrolled, &found, &diff);
        assert!(plan(&enrolled, &found, &filters).is_empty());

        // The suspended one comes back under a new name.
        let found = vec![
            member("000000000001", "one", &[B], MemberState::Active),
            member("000000000002", "two (restored)", &[A], MemberState::Active),
            member("000000000004", "four", &[], MemberState::Active),
        ];
        let diff = plan(&enrolled, &found, &filters);
        assert_eq!(diff.returned, ["000000000002"]);
        assert_eq!(diff.renamed, ["000000000002"]);
        assert!(diff.departed.is_empty() && diff.enrolled.is_empty());
        let enrolled = apply(&enrolled, &found, &diff);
        assert_eq!(
            enrolled.iter().filter(|m| m.departed).count(),
            1,
            "only 3 stays departed"
        );
    }

    #[test]
    fn a_filter_that_starts_excluding_a_member_departs_it() {
        let found = vec![
            member("000000000001", "one", &[A], MemberState::Active),
            member("000000000002", "two", &[B], MemberState::Active),
        ];
        let enrolled = apply(&[], &found, &plan(&[], &found, &Filters::default()));
        let only_a = Filters {
            include_ous: vec![OuRule {
                ou_id: A.into(),
                with_children: true,
            }],
            ..Default::default()
        };
        let diff = plan(&enrolled, &found, &only_a);
        assert_eq!(diff.departed, ["000000000002"]);
        assert_eq!(
            diff.filtered_out,
            [("000000000002".to_string(), FilteredOut::NotInIncludedOu)]
        );
    }

    #[test]
    fn a_member_takes_its_state_else_its_status_and_its_path() {
        use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
        let path = vec!["ou-a".to_string(), "ou-b".to_string()];
        let closing = super::member(
            Account::builder()
                .id("000000000001")
                .name("one")
                .state(AccountState::PendingClosure)
                .status(AccountStatus::Active)
                .build(),
            &path,
        );
        assert_eq!(closing.state, MemberState::PendingClosure, "State wins");
        assert_eq!(closing.ou_path, path);
        assert_eq!(closing.account_id, "000000000001");
        let older = super::member(
            Account::builder()
                .id("000000000002")
                .status(AccountStatus::Suspended)
                .build(),
            &[],
        );
        assert_eq!(older.state, MemberState::Suspended, "Status when no State");
        assert!(older.tags.is_empty() && older.ou_path.is_empty());
    }
}
