//! API keys: a tenant, scopes, and a secret stored only as its hash.
//!
//! A key reads `oak_<tenant>_<key id>_<secret>`. The tenant and key id in
//! the clear let authentication be one GetItem in the tenant's own
//! partition; the 256-bit secret is compared in constant time to its hash.

use crate::crypto;
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const PREFIX: &str = "oak";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    /// Read accounts and settings.
    Read,
    /// Create, change and delete accounts.
    Write,
    /// Run actions: verifications and scans.
    Execute,
    /// Manage API keys.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: &'static [Scope] = <Scope as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    /// Parse a comma-separated list such as `read,write`.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>> {
        let scopes = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                Scope::parse(part).ok_or_else(|| {
                    Error::invalid(
                        "scopes",
                        format!("unknown scope '{part}': use read, write, execute or admin"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        normalise_scopes(scopes)
    }
}

/// Sorted, de-duplicated, at least one.
pub fn normalise_scopes(mut scopes: Vec<Scope>) -> Result<Vec<Scope>> {
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(Error::invalid(
            "scopes",
            "give at least one scope: read, write, execute or admin",
        ));
    }
    Ok(scopes)
}

/// An API key as stored. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub tenant: String,
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// Who revoked it: an API key id, or `admin-cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// The formats of the aliases issued for it, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<AliasFormat>,
}

/// An API key as shown to callers: everything but the hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// The formats of the aliases issued for it (each works as the key does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<AliasFormat>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(key: &ApiKey) -> Self {
        ApiKeyView {
            key_id: key.key_id.clone(),
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            created_at: key.created_at,
            created_by: key.created_by.clone(),
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            aliases: key.aliases.clone(),
        }
    }
}

/// A freshly issued key: the record to store and the token to hand out once.
pub struct IssuedKey {
    pub record: ApiKey,
    pub token: String,
}

/// A second form of a key, for clients that check a key's shape before
/// they send it: its own 256 CSPRNG bits in that product's format, bound
/// to the key (found by its digest, one read; then the key's record, so a
/// revoked or expired key's aliases stop working with it).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum AliasFormat {
    /// 44 characters: 32 bytes in standard base64, as Cloudcraft's keys
    /// are (its clients refuse a key of another length).
    Cloudcraft,
}

impl AliasFormat {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A new alias in this format.
    pub fn issue(self) -> String {
        match self {
            AliasFormat::Cloudcraft => crypto::random_base64(32),
        }
    }

    /// The format `token` has, if it is an alias's; anything else costs
    /// no read.
    pub fn of(token: &str) -> Option<AliasFormat> {
        use base64::Engine;
        let decoded = (token.len() == 44)
            .then(|| base64::engine::general_purpose::STANDARD.decode(token).ok())
            .flatten();
        decoded
            .filter(|bytes| bytes.len() == 32)
            .map(|_| AliasFormat::Cloudcraft)
    }
}

/// What an alias is stored (and found) by: its SHA-256, never itself.
pub fn alias_digest(alias: &str) -> String {
    crypto::hash_secret(alias)
}

/// The parts of a presented token.
#[derive(Debug, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub tenant: &'a str,
    pub key_id: &'a str,
    pub secret: &'a str,
}

/// Why a key was refused. Callers see one 401 message for all of them.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    WrongSecret,
    Revoked,
    Expired,
}

impl ApiKey {
    pub fn issue(
        tenant: &str,
        name: &str,
        scopes: Vec<Scope>,
        created_by: &str,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<IssuedKey> {
        crate::validation::tenant(tenant)?;
        crate::validation::text("name", name, crate::validation::MAX_NAME_LEN)?;
        let scopes = normalise_scopes(scopes)?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::invalid(
                "expires_at",
                "expires_at must be in the future",
            ));
        }
        let key_id = ulid::Ulid::new().to_string();
        let secret = crypto::random_hex(32);
        let token = format!("{PREFIX}_{tenant}_{key_id}_{secret}");
        let record = ApiKey {
            tenant: tenant.to_string(),
            key_id,
            name: name.to_string(),
            scopes,
            secret_hash: crypto::hash_secret(&secret),
            created_at: now,
            created_by: created_by.to_string(),
            expires_at,
            revoked_at: None,
            revoked_by: None,
            aliases: Vec::new(),
        };
        Ok(IssuedKey { record, token })
    }

    /// A record for a token chosen by an operator (e.g. `DEV_API_KEY`),
    /// which must have our form and name `tenant`.
    pub fn adopt(
        token: &str,
        tenant: &str,
        name: &str,
        scopes: Vec<Scope>,
        now: Timestamp,
    ) -> Result<ApiKey> {
        let presented = ApiKey::parse_token(token).filter(|p| p.tenant == tenant).ok_or_else(|| {
            Error::invalid(
                "api_key",
                format!("a key must read oak_{tenant}_<26-character ULID>_<64 hex digits>; unset it to have one generated"),
            )
        })?;
        Ok(ApiKey {
            tenant: tenant.to_string(),
            key_id: presented.key_id.to_string(),
            name: name.to_string(),
            scopes: normalise_scopes(scopes)?,
            secret_hash: crypto::hash_secret(presented.secret),
            created_at: now,
            created_by: "operator".to_string(),
            expires_at: None,
            revoked_at: None,
            revoked_by: None,
            aliases: Vec::new(),
        })
    }

    /// Split a presented token; `None` if it cannot be one of ours.
    pub fn parse_token(token: &str) -> Option<PresentedKey<'_>> {
        let rest = token.strip_prefix(PREFIX)?.strip_prefix('_')?;
        let mut parts = rest.rsplitn(3, '_');
        let secret = parts.next()?;
        let key_id = parts.next()?;
        let tenant = parts.next()?;
        let well_formed = secret.len() == 64
            && secret.bytes().all(|b| b.is_ascii_hexdigit())
            && key_id.len() == 26
            && key_id.bytes().all(|b| b.is_ascii_alphanumeric())
            && crate::validation::tenant(tenant).is_ok();
        well_formed.then_some(PresentedKey {
            tenant,
            key_id,
            secret,
        })
    }

    /// Check a presented secret against this record at time `now`.
    pub fn check(&self, secret: &str, now: Timestamp) -> Result<(), Refusal> {
        // Compare first, so timing does not tell revoked keys from wrong ones.
        let matches = crypto::secret_matches(secret, &self.secret_hash);
        if !matches {
            return Err(Refusal::WrongSecret);
        }
        self.usable(now)
    }

    /// Whether the key may be used at `now` (not revoked, not expired);
    /// its secret checked already, or an alias of it found by its digest.
    pub fn usable(&self, now: Timestamp) -> Result<(), Refusal> {
        if self.revoked_at.is_some() {
            return Err(Refusal::Revoked);
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_alias_has_its_products_shape_and_nothing_else_passes_for_one() {
        let alias = AliasFormat::Cloudcraft.issue();
        assert_eq!(alias.len(), 44);
        assert_eq!(AliasFormat::of(&alias), Some(AliasFormat::Cloudcraft));
        assert_ne!(alias, AliasFormat::Cloudcraft.issue());
        for not in [
            "",
            "short=",
            &"A".repeat(44),
            &format!("{}==", "A".repeat(42)),
        ] {
            assert_eq!(AliasFormat::of(not), None, "{not}");
        }
        assert_eq!(alias_digest(&alias).len(), 64);
        assert_ne!(alias_digest(&alias), alias);
    }

    use super::*;

    #[test]
    fn issue_parse_check() {
        let now = Timestamp::now();
        let issued = ApiKey::issue(
            "acme-1",
            "ci",
            vec![Scope::Write, Scope::Read, Scope::Read],
            "admin",
            None,
            now,
        )
        .unwrap();
        assert_eq!(issued.record.scopes, vec![Scope::Read, Scope::Write]);
        assert!(!issued.record.secret_hash.is_empty());
        let presented = ApiKey::parse_token(&issued.token).unwrap();
        assert_eq!(presented.tenant, "acme-1");
        assert_eq!(presented.key_id, issued.record.key_id);
        assert!(!issued.token.contains(&issued.record.secret_hash));
        assert_eq!(issued.record.check(presented.secret, now), Ok(()));
        assert_eq!(
            issued.record.check(&"0".repeat(64), now),
            Err(Refusal::WrongSecret)
        );
    }

    #[test]
    fn revoked_and_expired_keys_are_refused() {
        let now = Timestamp::now();
        let later = Timestamp::from_datetime(now.datetime() + chrono::Duration::hours(2));
        let soon = Timestamp::from_datetime(now.datetime() + chrono::Duration::hours(1));
        let issued = ApiKey::issue("t", "k", vec![Scope::Read], "x", Some(soon), now).unwrap();
        let secret = ApiKey::parse_token(&issued.token)
            .unwrap()
            .secret
            .to_string();
        assert_eq!(issued.record.check(&secret, later), Err(Refusal::Expired));
        let mut revoked = issued.record.clone();
        revoked.revoked_at = Some(now);
        assert_eq!(revoked.check(&secret, now), Err(Refusal::Revoked));
    }

    #[test]
    fn malformed_tokens() {
        for token in [
            "",
            "oak_",
            "Bearer x",
            "oak_t_id_secret",
            "xyz_t_01ARZ3NDEKTSV4RRFFQ69G5FAV_00",
        ] {
            assert!(ApiKey::parse_token(token).is_none(), "{token}");
        }
    }

    #[test]
    fn scope_lists() {
        assert_eq!(
            Scope::parse_list("admin, read").unwrap(),
            vec![Scope::Read, Scope::Admin]
        );
        assert!(Scope::parse_list("read,root").is_err());
        assert!(Scope::parse_list("").is_err());
    }
}
