//! Listing accounts: sort orders, filters and opaque cursors.
//!
//! Each sort order is backed by a local secondary index whose sort key is
//! `<value>\u{1}<account id>`: unique, so a cursor that remembers the last
//! value returned resumes exactly after it. Control characters are refused
//! in names, so the separator sorts below every character a value can hold.

use crate::account::{Account, Environment, VerificationStatus};
use crate::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// Upper bound of `account_id` filter values (one BatchGetItem).
pub const MAX_ACCOUNT_ID_FILTERS: usize = 100;

const SEPARATOR: char = '\u{1}';

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SortField {
    Name,
    AccountId,
    CreatedAt,
    UpdatedAt,
    LastVerifiedAt,
}

impl SortField {
    /// Every sort order.
    pub const ALL: &'static [SortField] = <SortField as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    /// The local secondary index that keeps this order; `None` for the
    /// table's own sort key (account id).
    pub fn index(self) -> Option<(&'static str, &'static str)> {
        match self {
            SortField::AccountId => None,
            SortField::Name => Some(("by-name", "lsi_name")),
            SortField::CreatedAt => Some(("by-created", "lsi_created")),
            SortField::UpdatedAt => Some(("by-updated", "lsi_updated")),
            SortField::LastVerifiedAt => Some(("by-verified", "lsi_verified")),
        }
    }

    /// The value this order sorts an account by; unique within a tenant.
    pub fn sort_value(self, account: &Account) -> String {
        let prefix = match self {
            SortField::AccountId => return account.account_id.clone(),
            SortField::Name => account.fields.name.to_lowercase(),
            SortField::CreatedAt => account.created_at.to_string(),
            SortField::UpdatedAt => account.updated_at.to_string(),
            // Never-verified accounts sort first ("0" is below any year).
            SortField::LastVerifiedAt => account
                .credential
                .last_verified_at
                .map(|at| at.to_string())
                .unwrap_or_else(|| "0".to_string()),
        };
        compose_sort_value(&prefix, &account.account_id)
    }
}

/// `<prefix>\u{1}<account id>`: the form of every index sort value.
pub fn compose_sort_value(prefix: &str, account_id: &str) -> String {
    format!("{prefix}{SEPARATOR}{account_id}")
}

/// The index attributes written with every account item.
pub fn index_attributes(account: &Account) -> Vec<(&'static str, String)> {
    SortField::ALL
        .iter()
        .copied()
        .filter_map(|field| {
            field
                .index()
                .map(|(_, attr)| (attr, field.sort_value(account)))
        })
        .collect()
}

/// The account id a sort value ends with.
pub fn account_id_of_sort_value(value: &str) -> &str {
    value.rsplit(SEPARATOR).next().unwrap_or(value)
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumString, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// Filters of `GET /v1/accounts`. All given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub environment: Option<Environment>,
    pub verification_status: Option<VerificationStatus>,
    pub parent_account_id: Option<String>,
    pub account_ids: Vec<String>,
    /// Lower-cased substring of name, owner name, owner email or account id.
    pub text: Option<String>,
    /// Archived accounts are hidden unless this is set.
    pub include_archived: bool,
    /// Only accounts linked to this organization.
    pub organization_id: Option<String>,
    /// Only departed accounts (`Some(true)`), or none of them.
    pub departed: Option<bool>,
}

impl AccountFilter {
    /// True when no filter but the archive rule applies: such pages read
    /// `limit + 1` items per Query.
    pub fn is_empty(&self) -> bool {
        AccountFilter {
            include_archived: false,
            ..self.clone()
        } == AccountFilter::default()
    }

    pub fn matches(&self, account: &Account) -> bool {
        (self.include_archived || account.archived_at.is_none())
            && self
                .environment
                .is_none_or(|env| account.fields.environment == Some(env))
            && self
                .verification_status
                .is_none_or(|status| account.credential.verification_status == status)
            && self
                .parent_account_id
                .as_ref()
                .is_none_or(|parent| account.fields.parent_account_id.as_ref() == Some(parent))
            && (self.account_ids.is_empty() || self.account_ids.contains(&account.account_id))
            && self
                .text
                .as_ref()
                .is_none_or(|text| account.search_text().contains(text.as_str()))
            && self.organization_id.as_ref().is_none_or(|id| {
                account
                    .organization
                    .as_ref()
                    .is_some_and(|link| &link.organization_id == id)
            })
            && self
                .departed
                .is_none_or(|departed| account.departed.is_some() == departed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub filter: AccountFilter,
    pub sort: SortField,
    pub order: Order,
    pub limit: usize,
    pub after: Option<Cursor>,
}

impl Default for ListRequest {
    fn default() -> Self {
        ListRequest {
            filter: AccountFilter::default(),
            sort: SortField::AccountId,
            order: Order::Asc,
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// Where the previous page ended: the sort value of its last item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: SortField,
    #[serde(rename = "o")]
    pub order: Order,
    #[serde(rename = "v")]
    pub last_value: String,
}

impl Cursor {
    pub fn after(account: &Account, sort: SortField, order: Order) -> Self {
        Cursor {
            sort,
            order,
            last_value: sort.sort_value(account),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serialises"))
    }

    /// Decode a cursor and check it belongs to the same sort and order.
    pub fn decode(text: &str, sort: SortField, order: Order) -> Result<Self> {
        let invalid = || {
            Error::invalid_with_code(
                "invalid_cursor",
                "cursor",
                "the cursor is not one this API issued; pass next_cursor from the previous page unchanged",
            )
        };
        if text.len() > MAX_CURSOR_BYTES * 2 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        // It becomes an index key: DynamoDB refuses one of 1,024 bytes or more.
        if cursor.last_value.len() >= MAX_CURSOR_BYTES {
            return Err(invalid());
        }
        let id = account_id_of_sort_value(&cursor.last_value);
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        if cursor.sort != sort || cursor.order != order {
            return Err(Error::invalid_with_code(
                "invalid_cursor",
                "cursor",
                format!(
                    "the cursor was issued for sort={} order={:?}; repeat the same sort and order, or start again without a cursor",
                    cursor.sort.as_str(),
                    cursor.order
                ),
            ));
        }
        Ok(cursor)
    }

    /// True when `value` comes after this cursor in its order.
    pub fn is_before(&self, value: &str) -> bool {
        match self.order {
            Order::Asc => value > self.last_value.as_str(),
            Order::Desc => value < self.last_value.as_str(),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Sort, page and cut an in-memory set of accounts (the `account_id`
/// filter path, where one BatchGetItem fetched them all).
pub fn page_in_memory(mut accounts: Vec<Account>, request: &ListRequest) -> Page<Account> {
    accounts.retain(|account| request.filter.matches(account));
    let mut keyed: Vec<(String, Account)> = accounts
        .into_iter()
        .map(|account| (request.sort.sort_value(&account), account))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    if request.order == Order::Desc {
        keyed.reverse();
    }
    if let Some(after) = &request.after {
        keyed.retain(|(value, _)| after.is_before(value));
    }
    let more = keyed.len() > request.limit;
    keyed.truncate(request.limit);
    let next_cursor = more
        .then(|| keyed.last())
        .flatten()
        .map(|(_, account)| Cursor::after(account, request.sort, request.order).encode());
    Page {
        items: keyed.into_iter().map(|(_, account)| account).collect(),
        next_cursor,
    }
}

/// DynamoDB's limit on a sort key value: a cursor holding a longer one is
/// not one of ours, and must be refused before DynamoDB sees it.
pub const MAX_CURSOR_BYTES: usize = 1024;

/// An opaque cursor over a table sort key (listings other than accounts):
/// base64url of the last key read.
pub fn encode_key_cursor(sort_key: Option<String>) -> Option<String> {
    sort_key.map(|key| URL_SAFE_NO_PAD.encode(key))
}

/// The sort key of a cursor from [`encode_key_cursor`], checked to belong
/// to the listing of `prefix`.
pub fn decode_key_cursor(text: Option<&str>, prefix: &str) -> Result<Option<String>> {
    decode_key_cursor_where(text, |key| key.starts_with(prefix))
}

/// The key of a cursor from [`encode_key_cursor`], checked with `belongs`
/// (a listing whose keys have a shape rather than a prefix).
pub fn decode_key_cursor_where(
    text: Option<&str>,
    belongs: impl Fn(&str) -> bool,
) -> Result<Option<String>> {
    let Some(text) = text else { return Ok(None) };
    Some(text)
        .filter(|text| text.len() <= MAX_CURSOR_BYTES * 2)
        .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| belongs(key) && key.len() < MAX_CURSOR_BYTES)
        .map(Some)
        .ok_or_else(|| {
            Error::invalid_with_code(
                "invalid_cursor",
                "cursor",
                "the cursor is not one this listing issued; pass next_cursor from the previous page unchanged",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountFields;
    use crate::time::Timestamp;

    fn account(id: &str, name: &str) -> Account {
        let fields = AccountFields {
            name: name.into(),
            owner_email: Some(format!("{name}@example.com").to_lowercase()),
            ..Default::default()
        };
        Account::register(id.into(), fields, "k", Timestamp::now())
    }

    #[test]
    fn sort_values_are_unique_and_carry_the_id() {
        let a = account("000000000001", "Same");
        let b = account("000000000002", "same");
        let va = SortField::Name.sort_value(&a);
        let vb = SortField::Name.sort_value(&b);
        assert!(va < vb);
        assert_eq!(account_id_of_sort_value(&va), "000000000001");
        // "ab" sorts after "a b" and after "a": the separator sorts lowest.
        let short = SortField::Name.sort_value(&account("000000000009", "a"));
        let long = SortField::Name.sort_value(&account("000000000001", "a b"));
        assert!(short < long);
    }

    #[test]
    fn cursor_round_trip_and_mismatch() {
        let a = account("000000000001", "One");
        let cursor = Cursor::after(&a, SortField::Name, Order::Desc);
        let text = cursor.encode();
        assert_eq!(
            Cursor::decode(&text, SortField::Name, Order::Desc).unwrap(),
            cursor
        );
        assert!(Cursor::decode(&text, SortField::Name, Order::Asc).is_err());
        assert!(Cursor::decode("not-a-cursor", SortField::Name, Order::Asc).is_err());
    }

    #[test]
    fn filters() {
        let mut a = account("000000000001", "Payments Prod");
        a.fields.environment = Some(Environment::Prod);
        let mut filter = AccountFilter {
            text: Some("payments".into()),
            ..Default::default()
        };
        assert!(filter.matches(&a));
        filter.environment = Some(Environment::Dev);
        assert!(!filter.matches(&a));
        filter.environment = None;
        filter.account_ids = vec!["000000000002".into()];
        assert!(!filter.matches(&a));
        assert!(AccountFilter::default().is_empty());
    }

    #[test]
    fn in_memory_pages_follow_each_other() {
        let accounts: Vec<_> = (1..=5)
            .map(|i| account(&format!("00000000000{i}"), &format!("n{}", 6 - i)))
            .collect();
        let mut request = ListRequest {
            sort: SortField::Name,
            order: Order::Asc,
            limit: 2,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = page_in_memory(accounts.clone(), &request);
            seen.extend(page.items.iter().map(|a| a.fields.name.clone()));
            match page.next_cursor {
                Some(next) => {
                    request.after =
                        Some(Cursor::decode(&next, SortField::Name, Order::Asc).unwrap())
                }
                None => break,
            }
        }
        assert_eq!(seen, ["n1", "n2", "n3", "n4", "n5"]);
    }
}
