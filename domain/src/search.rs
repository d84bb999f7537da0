//! Account search (the Carbon Black search): criteria, a small query
//! language, multi-field sorting and start/rows paging, evaluated over a
//! tenant's accounts.
//!
//! Query language:
//! - `word`: case-insensitive substring of name, owner name, owner email,
//!   account id, any label value, or an enrolled account's Organizations
//!   name, email or OU ids
//! - `field:value` on `name`, `owner`, `email` (the owner's or the
//!   Organizations one), `account_id`, `environment`, `ou` (any OU on the
//!   path), `organization` (its registration id), `labels.<key>` (or
//!   `label` for any label value)
//! - `"a phrase"` (also `field:"a phrase"`)
//! - `*` wildcards: then the pattern must match the whole value
//! - `AND`, `OR`, `NOT`, parentheses; adjacent terms are ANDed;
//!   NOT binds tighter than AND, AND tighter than OR.

use crate::account::{Account, Environment, VerificationStatus};
use crate::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use utoipa::ToSchema;

pub const MAX_ROWS: usize = 10_000;
pub const MAX_QUERY_LEN: usize = 2048;
/// Deepest nesting of parentheses and NOTs together. Every walk of an
/// expression recurses once per level, so this bounds the stack a query
/// can use, whatever its shape within [`MAX_QUERY_LEN`].
pub const MAX_QUERY_DEPTH: usize = 32;
/// Most terms in one query: each is matched against every candidate
/// account, so this bounds the CPU a query costs per account read.
pub const MAX_QUERY_TERMS: usize = 64;

/// A parsed query. AND and OR chains are flat lists, so a long chain adds
/// no depth: the tree is at most [`MAX_QUERY_DEPTH`] levels deep (plus the
/// OR and AND list of each level).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Term { field: Field, pattern: Pattern },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Any,
    Name,
    Owner,
    Email,
    AccountId,
    Environment,
    AnyLabel,
    Label(String),
    /// Any OU id on an enrolled account's path.
    Ou,
    /// The organization an account is enrolled from.
    Organization,
}

/// A glob whose only wildcard is `*` (`?` matches itself), compiled to a
/// linear-time automaton: a query's pattern is matched against every
/// account a search reads, so its cost must not grow with its shape.
pub type Glob = crate::glob::Glob;

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Lower-cased substring.
    Contains(String),
    /// Lower-cased glob over the whole value (`*` any run).
    Glob(Glob),
}

impl Pattern {
    fn new(text: &str) -> Self {
        let lower = text.to_lowercase();
        if lower.contains('*') {
            Pattern::Glob(Glob::new(&lower, crate::glob::Wildcards::Star))
        } else {
            Pattern::Contains(lower)
        }
    }

    fn matches(&self, value: &str) -> bool {
        let value = value.to_lowercase();
        match self {
            Pattern::Contains(part) => value.contains(part.as_str()),
            Pattern::Glob(glob) => glob.matches(&value),
        }
    }
}

impl Expr {
    pub fn matches(&self, account: &Account) -> bool {
        match self {
            Expr::Not(inner) => !inner.matches(account),
            Expr::And(all) => all.iter().all(|e| e.matches(account)),
            Expr::Or(any) => any.iter().any(|e| e.matches(account)),
            Expr::Term { field, pattern } => {
                let fields = &account.fields;
                let text = |value: Option<&str>| value.is_some_and(|v| pattern.matches(v));
                match field {
                    Field::Name => text(Some(&fields.name)),
                    Field::Owner => text(fields.owner_name.as_deref()),
                    Field::Email => {
                        text(fields.owner_email.as_deref())
                            || text(account.organization.as_ref().map(|l| l.email.as_str()))
                    }
                    Field::Ou => account
                        .organization
                        .as_ref()
                        .is_some_and(|l| l.ou_path.iter().any(|ou| pattern.matches(ou))),
                    Field::Organization => text(
                        account
                            .organization
                            .as_ref()
                            .map(|l| l.organization_id.as_str()),
                    ),
                    Field::AccountId => text(Some(&account.account_id)),
                    Field::Environment => text(fields.environment.map(Environment::as_str)),
                    Field::AnyLabel => fields.labels.values().any(|v| pattern.matches(v)),
                    Field::Label(key) => text(fields.labels.get(key).map(String::as_str)),
                    Field::Any => {
                        text(Some(&fields.name))
                            || text(fields.owner_name.as_deref())
                            || text(fields.owner_email.as_deref())
                            || text(Some(&account.account_id))
                            || fields.labels.values().any(|v| pattern.matches(v))
                            || account.organization.as_ref().is_some_and(|l| {
                                pattern.matches(&l.name)
                                    || pattern.matches(&l.email)
                                    || l.ou_path.iter().any(|ou| pattern.matches(ou))
                            })
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Term {
        field: Option<String>,
        value: String,
    },
}

fn syntax_error(position: usize, what: impl std::fmt::Display) -> Error {
    Error::invalid_with_code(
        "invalid_query",
        "query",
        format!("query syntax error at position {position}: {what}"),
    )
}

fn tokenize(query: &str) -> Result<Vec<(usize, Token)>> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                tokens.push((start, Token::Open));
                i += 1;
            }
            ')' => {
                tokens.push((start, Token::Close));
                i += 1;
            }
            _ => {
                // A word, possibly `field:`, possibly followed by a quoted phrase.
                let mut word = String::new();
                let mut field = None;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && chars[i] != '('
                    && chars[i] != ')'
                {
                    if chars[i] == '"' {
                        let close =
                            chars[i + 1..]
                                .iter()
                                .position(|&q| q == '"')
                                .ok_or_else(|| {
                                    syntax_error(i, "unterminated quote: close the phrase with \"")
                                })?;
                        word.extend(&chars[i + 1..i + 1 + close]);
                        i += close + 2;
                        continue;
                    }
                    if chars[i] == ':' && field.is_none() {
                        if word.is_empty() {
                            return Err(syntax_error(i, "':' needs a field name before it"));
                        }
                        field = Some(std::mem::take(&mut word));
                        i += 1;
                        continue;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                let token = match (field.is_none(), word.as_str()) {
                    (true, "AND") => Token::And,
                    (true, "OR") => Token::Or,
                    (true, "NOT") => Token::Not,
                    _ => {
                        if word.is_empty() {
                            return Err(syntax_error(i, "a field needs a value after ':'"));
                        }
                        Token::Term { field, value: word }
                    }
                };
                tokens.push((start, token));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
    /// Parentheses and NOTs open around the current token.
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    /// Enter one level of nesting, refusing the query past the bound
    /// before the recursion that level would cost.
    fn descend(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_QUERY_DEPTH {
            return Err(syntax_error(
                self.position(),
                format!("parentheses and NOT nest more than {MAX_QUERY_DEPTH} levels deep; simplify the query"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr> {
        let mut any = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.pop().expect("one element")
        } else {
            Expr::Or(any)
        })
    }

    fn and(&mut self) -> Result<Expr> {
        let mut all = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Token::And) => self.at += 1,
                Some(Token::Term { .. } | Token::Not | Token::Open) => {}
                _ => break,
            }
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one element")
        } else {
            Expr::And(all)
        })
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.peek() == Some(&Token::Not) {
            self.descend()?;
            self.at += 1;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        let position = self.position();
        match self.tokens.get(self.at).map(|(_, t)| t.clone()) {
            Some(Token::Open) => {
                self.descend()?;
                self.at += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(syntax_error(
                        self.position(),
                        "expected ')' to close the '(' at position ".to_string()
                            + &position.to_string(),
                    ));
                }
                self.at += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Term { field, value }) => {
                self.terms += 1;
                if self.terms > MAX_QUERY_TERMS {
                    return Err(syntax_error(
                        position,
                        format!("a query has at most {MAX_QUERY_TERMS} terms; narrow it with criteria instead"),
                    ));
                }
                self.at += 1;
                let field = match field.as_deref() {
                    None => Field::Any,
                    Some("name") => Field::Name,
                    Some("owner") => Field::Owner,
                    Some("email") => Field::Email,
                    Some("account_id") => Field::AccountId,
                    Some("environment") => Field::Environment,
                    Some("label") | Some("labels") => Field::AnyLabel,
                    Some("ou") => Field::Ou,
                    Some("organization") => Field::Organization,
                    Some(other) if other.starts_with("labels.") && other.len() > 7 => Field::Label(other[7..].to_string()),
                    Some(other) => {
                        return Err(syntax_error(
                            position,
                            format!("unknown field '{}': use name, owner, email, account_id, environment, ou, organization, label or labels.<key>", crate::validation::echo(other)),
                        ))
                    }
                };
                Ok(Expr::Term {
                    field,
                    pattern: Pattern::new(&value),
                })
            }
            Some(Token::Close) => Err(syntax_error(position, "unexpected ')'")),
            Some(Token::And) | Some(Token::Or) => {
                Err(syntax_error(position, "AND/OR needs a term on both sides"))
            }
            Some(Token::Not) => unreachable!("handled by unary"),
            None => Err(syntax_error(
                position,
                "the query ends where a term was expected",
            )),
        }
    }
}

/// Parse a query; `None` for an empty one.
pub fn parse_query(query: &str) -> Result<Option<Expr>> {
    if query.len() > MAX_QUERY_LEN {
        return Err(Error::invalid_with_code(
            "invalid_query",
            "query",
            format!("the query is limited to {MAX_QUERY_LEN} bytes"),
        ));
    }
    let tokens = tokenize(query)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        end: query.chars().count(),
        depth: 0,
        terms: 0,
    };
    let expr = parser.or()?;
    if parser.at < parser.tokens.len() {
        return Err(syntax_error(
            parser.position(),
            "unexpected text after the end of the query (a stray ')'?)",
        ));
    }
    Ok(Some(expr))
}

/// A criterion: one value or a list (any may match).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(value) => vec![value.as_str()],
            OneOrMany::Many(values) => values.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Exact names (case-insensitive).
    #[serde(default)]
    pub name: OneOrMany,
    #[serde(default)]
    pub environment: OneOrMany,
    #[serde(default)]
    pub account_id: OneOrMany,
    #[serde(default)]
    pub verification_status: OneOrMany,
    #[serde(default)]
    pub parent_account_id: OneOrMany,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchSortField {
    Name,
    AccountId,
    OwnerEmail,
    Environment,
    CreatedAt,
    UpdatedAt,
    LastVerifiedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchOrder {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SortSpec {
    pub field: SearchSortField,
    #[serde(default)]
    pub order: SearchOrder,
}

/// Body of `POST /v1/accounts/search` (and of the CSV export).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    #[serde(default)]
    pub start: usize,
    /// At most 10,000; default 100.
    #[serde(default)]
    pub rows: Option<usize>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub criteria: Criteria,
    #[serde(default)]
    pub sort: Vec<SortSpec>,
    #[serde(default)]
    pub include_archived: bool,
    /// `next_cursor` of the previous page: resume strictly after its last
    /// result (stable while others write, unlike `start`).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A checked search, ready to run over accounts.
pub struct Search {
    pub start: usize,
    pub rows: usize,
    expr: Option<Expr>,
    names: Vec<String>,
    environments: Vec<Environment>,
    pub account_ids: Vec<String>,
    statuses: Vec<VerificationStatus>,
    parents: Vec<String>,
    sort: Vec<SortSpec>,
    include_archived: bool,
    cursor: Option<SearchCursor>,
}

/// Most values of one criterion (as many as one BatchGetItem reads).
pub const MAX_CRITERIA_VALUES: usize = 100;
/// Accounts one search request reads at most, by default: the bound of
/// its cost (DynamoDB reads, memory, CPU) whatever the tenant's size.
/// Beyond it a search is answered window by window (see [`Window`]).
pub const DEFAULT_READ_BUDGET: usize = 10_000;

/// Where a search reads its candidates, chosen from the criteria so that
/// a selective search reads (about) what it returns: every source yields
/// accounts in account-id order, so windows of them can be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `criteria.account_id`: one BatchGetItem.
    AccountIds(Vec<String>),
    /// `criteria.parent_account_id`: the `by-parent` index, a Query each.
    Parents(Vec<String>),
    /// `criteria.verification_status`: the `by-status` index.
    Statuses(Vec<VerificationStatus>),
    /// `criteria.environment`: the `by-environment` index.
    Environments(Vec<Environment>),
    /// No indexed criterion: the tenant's partition.
    Partition,
}

/// Candidates read for one request: every account of the source after
/// the window's start, up to and including `end`. `end` is `None` when the
/// source was read to its end.
#[derive(Debug, Default)]
pub struct Window {
    pub accounts: Vec<Account>,
    pub end: Option<String>,
}

/// The opaque `next_cursor`: where the window starts (exclusive account
/// id; absent for the first) and the sort key of the last result returned
/// in it (absent to start the window from its beginning).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
struct SearchCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    w: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Vec<String>>,
}

impl SearchCursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("strings serialise"))
    }
}

/// What one search request found.
#[derive(Debug)]
pub struct Found {
    /// Matches in the window read (all matches when `complete`).
    pub num_found: usize,
    pub page: Vec<Account>,
    pub next_cursor: Option<String>,
    /// Every candidate was read in this request, so `num_found` is the total.
    pub complete: bool,
}

/// Drop repeated values, keeping the first of each (a repeated value would
/// read its index twice, and BatchGetItem refuses repeated keys).
fn unique<T: PartialEq + Clone>(values: &mut Vec<T>) {
    let mut kept: Vec<T> = Vec::with_capacity(values.len());
    for value in values.drain(..) {
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    *values = kept;
}

/// The values of an id criterion, each once.
fn unique_ids(values: &OneOrMany) -> Vec<String> {
    let mut ids: Vec<String> = values.values().into_iter().map(str::to_string).collect();
    unique(&mut ids);
    ids
}

fn criterion_values<'a>(field: &str, values: &'a OneOrMany) -> Result<Vec<&'a str>> {
    let values = values.values();
    if values.len() > MAX_CRITERIA_VALUES {
        return Err(Error::invalid(
            format!("criteria.{field}"),
            format!(
                "at most {MAX_CRITERIA_VALUES} values per criterion, got {}; split the search",
                values.len()
            ),
        ));
    }
    Ok(values)
}

impl SearchRequest {
    // Long: every criterion of a search compiled into the one index choice, key condition and
    // filter they share.
    pub fn compile(&self) -> Result<Search> {
        let rows = self.rows.unwrap_or(100);
        if rows > MAX_ROWS {
            return Err(Error::invalid(
                "rows",
                format!("rows is at most {MAX_ROWS}"),
            ));
        }
        let criteria = &self.criteria;
        let echo = crate::validation::echo;
        for (field, values) in [
            ("name", &criteria.name),
            ("environment", &criteria.environment),
            ("account_id", &criteria.account_id),
            ("verification_status", &criteria.verification_status),
            ("parent_account_id", &criteria.parent_account_id),
        ] {
            criterion_values(field, values)?;
        }
        let mut environments: Vec<Environment> = criteria
            .environment
            .values()
            .into_iter()
            .map(|v| {
                Environment::parse(v).ok_or_else(|| {
                    Error::invalid(
                        "criteria.environment",
                        format!("'{}' is not DEV, STAGING, TEST or PROD", echo(v)),
                    )
                })
            })
            .collect::<Result<_>>()?;
        unique(&mut environments);
        let mut statuses: Vec<VerificationStatus> = criteria
            .verification_status
            .values()
            .into_iter()
            .map(|v| {
                VerificationStatus::parse(v).ok_or_else(|| {
                    Error::invalid(
                        "criteria.verification_status",
                        format!(
                            "'{}' is not NOT_STARTED, IN_PROGRESS, SUCCESS, FAIL or TIMED_OUT",
                            echo(v)
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?;
        unique(&mut statuses);
        for id in criteria.account_id.values() {
            crate::validation::account_id("criteria.account_id", id)?;
        }
        for id in criteria.parent_account_id.values() {
            crate::validation::account_id("criteria.parent_account_id", id)?;
        }
        let after = match &self.cursor {
            None => None,
            Some(text) => {
                let invalid = || {
                    Error::invalid_with_code(
                        "invalid_cursor",
                        "cursor",
                        "pass next_cursor from the previous page unchanged, with the same sort",
                    )
                };
                // A cursor holds at most a window start and one short key
                // per sort field: anything longer is not one of ours.
                if text.len() > 4096 {
                    return Err(invalid());
                }
                let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
                let cursor: SearchCursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
                if cursor
                    .k
                    .as_ref()
                    .is_some_and(|key| key.len() != self.sort.len() + 1)
                    || cursor
                        .w
                        .as_deref()
                        .is_some_and(|id| crate::validation::account_id("cursor", id).is_err())
                {
                    return Err(invalid());
                }
                if self.start != 0 {
                    return Err(Error::invalid("start", "give start or cursor, not both"));
                }
                Some(cursor)
            }
        };
        Ok(Search {
            cursor: after,
            start: self.start,
            rows,
            expr: parse_query(self.query.as_deref().unwrap_or(""))?,
            names: criteria
                .name
                .values()
                .into_iter()
                .map(str::to_lowercase)
                .collect(),
            environments,
            account_ids: unique_ids(&criteria.account_id),
            statuses,
            parents: unique_ids(&criteria.parent_account_id),
            sort: self.sort.clone(),
            include_archived: self.include_archived,
        })
    }
}

impl Search {
    pub fn matches(&self, account: &Account) -> bool {
        let fields = &account.fields;
        (self.include_archived || account.archived_at.is_none())
            && (self.names.is_empty() || self.names.contains(&fields.name.to_lowercase()))
            && (self.environments.is_empty()
                || fields
                    .environment
                    .is_some_and(|e| self.environments.contains(&e)))
            && (self.account_ids.is_empty() || self.account_ids.contains(&account.account_id))
            && (self.statuses.is_empty()
                || self
                    .statuses
                    .contains(&account.credential.verification_status))
            && (self.parents.is_empty()
                || fields
                    .parent_account_id
                    .as_ref()
                    .is_some_and(|p| self.parents.contains(p)))
            && self.expr.as_ref().is_none_or(|expr| expr.matches(account))
    }

    /// The sort key of an account: one value per sort field, then the id.
    fn key(&self, account: &Account) -> Vec<String> {
        let mut key: Vec<String> = self
            .sort
            .iter()
            .map(|spec| sort_key(account, spec.field))
            .collect();
        key.push(account.account_id.clone());
        key
    }

    fn compare(&self, a: &[String], b: &[String]) -> std::cmp::Ordering {
        for (index, (x, y)) in a.iter().zip(b).enumerate() {
            let ordering = x.cmp(y);
            let descending = self
                .sort
                .get(index)
                .is_some_and(|spec| spec.order == SearchOrder::Desc);
            let ordering = if descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    }

    /// Where this search reads its candidates: the most selective indexed
    /// criterion (account ids, then parents, then statuses unless all are
    /// SUCCESS, the common case, then environments), else the partition.
    pub fn source(&self) -> Source {
        let only_success = self
            .statuses
            .iter()
            .all(|s| *s == VerificationStatus::Success);
        if !self.account_ids.is_empty() {
            Source::AccountIds(self.account_ids.clone())
        } else if !self.parents.is_empty() {
            Source::Parents(self.parents.clone())
        } else if !self.statuses.is_empty() && (!only_success || self.environments.is_empty()) {
            Source::Statuses(self.statuses.clone())
        } else if !self.environments.is_empty() {
            Source::Environments(self.environments.clone())
        } else {
            Source::Partition
        }
    }

    /// The exclusive account id the window of this request starts after.
    pub fn window_start(&self) -> Option<&str> {
        self.cursor.as_ref().and_then(|c| c.w.as_deref())
    }

    /// Filter, sort (ties broken by account id, so the order is total), cut
    /// the candidates of one window. When the window holds every candidate
    /// (the usual case) this is the whole answer; else `next_cursor` moves
    /// on through this window and then to the next one.
    pub fn run(&self, window: Window) -> Found {
        let mut found: Vec<(Vec<String>, Account)> = window
            .accounts
            .into_iter()
            .filter(|a| self.matches(a))
            .map(|a| (self.key(&a), a))
            .collect();
        found.sort_by(|(a, _), (b, _)| self.compare(a, b));
        let total = found.len();
        let after = self.cursor.as_ref().and_then(|c| c.k.as_ref());
        let skipped = match after {
            Some(after) => found
                .iter()
                .take_while(|(key, _)| self.compare(key, after).is_le())
                .count(),
            None => self.start,
        };
        let page: Vec<(Vec<String>, Account)> =
            found.into_iter().skip(skipped).take(self.rows).collect();
        let more_here = skipped + page.len() < total;
        let next_cursor = if more_here {
            page.last().map(|(key, _)| SearchCursor {
                w: self.window_start().map(str::to_string),
                k: Some(key.clone()),
            })
        } else {
            window.end.clone().map(|end| SearchCursor {
                w: Some(end),
                k: None,
            })
        };
        Found {
            num_found: total,
            page: page.into_iter().map(|(_, account)| account).collect(),
            next_cursor: next_cursor.map(|c| c.encode()),
            complete: self.window_start().is_none() && window.end.is_none(),
        }
    }
}

fn sort_key(account: &Account, field: SearchSortField) -> String {
    let fields = &account.fields;
    match field {
        SearchSortField::Name => fields.name.to_lowercase(),
        SearchSortField::AccountId => account.account_id.clone(),
        SearchSortField::OwnerEmail => fields
            .owner_email
            .clone()
            .unwrap_or_default()
            .to_lowercase(),
        SearchSortField::Environment => fields
            .environment
            .map(|e| e.as_str().to_string())
            .unwrap_or_default(),
        SearchSortField::CreatedAt => account.created_at.to_string(),
        SearchSortField::UpdatedAt => account.updated_at.to_string(),
        SearchSortField::LastVerifiedAt => account
            .credential
            .last_verified_at
            .map(|t| t.to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountFields;
    use crate::time::Timestamp;
    use std::collections::BTreeMap;

    fn account(id: &str, name: &str, owner: &str, env: Environment, team: &str) -> Account {
        let fields = AccountFields {
            name: name.into(),
            owner_name: Some(owner.into()),
            owner_email: Some(format!("{}@example.com", owner.to_lowercase())),
            environment: Some(env),
            labels: BTreeMap::from([("team".to_string(), team.to_string())]),
            ..Default::default()
        };
        Account::register(id.into(), fields, "k", Timestamp::now())
    }

    fn accounts() -> Vec<Account> {
        vec![
            account(
                "000000000001",
                "Payments Prod",
                "Alice",
                Environment::Prod,
                "payments",
            ),
            account(
                "000000000002",
                "Payments Dev",
                "Bob",
                Environment::Dev,
                "payments",
            ),
            account(
                "000000000003",
                "Search Prod",
                "Carol",
                Environment::Prod,
                "search",
            ),
            account(
                "000000000004",
                "Data lake",
                "Alice",
                Environment::Staging,
                "data",
            ),
        ]
    }

    fn found(query: &str) -> Vec<String> {
        let expr = parse_query(query).unwrap().unwrap();
        accounts()
            .iter()
            .filter(|a| expr.matches(a))
            .map(|a| a.account_id[11..].to_string())
            .collect()
    }

    #[test]
    fn terms_fields_phrases_wildcards() {
        assert_eq!(found("payments"), ["1", "2"]);
        assert_eq!(found("name:prod"), ["1", "3"]);
        assert_eq!(found("owner:alice"), ["1", "4"]);
        assert_eq!(found("email:bob@example.com"), ["2"]);
        assert_eq!(found("\"data lake\""), ["4"]);
        assert_eq!(found("name:\"payments dev\""), ["2"]);
        assert_eq!(found("name:pay*"), ["1", "2"]);
        assert_eq!(found("name:*prod"), ["1", "3"]);
        assert_eq!(found("name:p*s*d"), ["1"]);
        assert_eq!(found("account_id:00000000000*"), ["1", "2", "3", "4"]);
        assert_eq!(found("labels.team:search"), ["3"]);
        assert_eq!(found("label:data"), ["4"]);
        assert_eq!(found("environment:STAGING"), ["4"]);
    }

    #[test]
    fn boolean_logic_and_precedence() {
        assert_eq!(found("payments AND prod"), ["1"]);
        assert_eq!(found("payments prod"), ["1"], "adjacent terms are ANDed");
        assert_eq!(found("search OR lake"), ["3", "4"]);
        assert_eq!(found("NOT payments"), ["3", "4"]);
        assert_eq!(found("payments AND NOT dev"), ["1"]);
        // AND binds tighter than OR.
        assert_eq!(found("lake OR payments AND prod"), ["1", "4"]);
        assert_eq!(found("(lake OR payments) AND prod"), ["1"]);
        assert_eq!(found("NOT (owner:alice OR owner:bob)"), ["3"]);
    }

    #[test]
    fn syntax_errors_point_at_the_position() {
        let message = |q: &str| match parse_query(q).unwrap_err() {
            Error::Invalid {
                message,
                field,
                code,
            } => {
                assert_eq!(field.as_deref(), Some("query"));
                assert_eq!(code, "invalid_query");
                message
            }
            other => panic!("{other:?}"),
        };
        assert!(
            message("(payments").contains("position 9"),
            "{}",
            message("(payments")
        );
        assert!(message("payments)").contains("position 8"));
        assert!(message("name:\"open").contains("position 5"));
        assert!(message("colour:red").contains("unknown field 'colour'"));
        assert!(message("payments AND").contains("position 12"));
        assert!(message("OR payments").contains("position 0"));
        assert!(message("name:").contains("needs a value"));
        assert_eq!(parse_query("   ").unwrap(), None);
    }

    #[test]
    fn criteria_sort_and_paging() {
        let request = SearchRequest {
            rows: Some(2),
            criteria: Criteria {
                environment: OneOrMany::Many(vec!["PROD".into(), "STAGING".into()]),
                ..Default::default()
            },
            sort: vec![
                SortSpec {
                    field: SearchSortField::OwnerEmail,
                    order: SearchOrder::Asc,
                },
                SortSpec {
                    field: SearchSortField::Name,
                    order: SearchOrder::Desc,
                },
            ],
            ..Default::default()
        };
        let search = request.compile().unwrap();
        let Found {
            num_found: total,
            page,
            next_cursor: next,
            complete,
        } = search.run(Window {
            accounts: accounts(),
            end: None,
        });
        assert!(complete);
        assert!(next.is_some());
        assert_eq!(total, 3);
        let ids: Vec<_> = page.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(
            ids,
            ["000000000001", "000000000004"],
            "alice's by name desc: Payments Prod, Data lake"
        );
        let bad = SearchRequest {
            rows: Some(10_001),
            ..Default::default()
        };
        assert!(bad.compile().is_err());
        let bad = SearchRequest {
            criteria: Criteria {
                environment: OneOrMany::One("QA".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(bad.compile().is_err());
    }
}
