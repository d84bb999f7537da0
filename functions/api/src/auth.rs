//! Authentication (API key → tenant) and authorisation (scopes).

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use service::api_key::{AliasFormat, ApiKey, Refusal, Scope};
use service::products::Product;
use service::time::Timestamp;
use std::marker::PhantomData;

/// The authenticated caller: its tenant and key. Handlers never take the
/// tenant from the request itself.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    pub key_id: String,
    /// Every scope the key holds (the route's and any others), for
    /// answers whose content depends on them (the audit log).
    pub scopes: Vec<Scope>,
}

/// The scope a route needs, as a type: `Auth<Write>`.
pub trait RequiredScope: Send + Sync {
    const SCOPE: Scope;
}

macro_rules! scope_marker {
    ($name:ident, $scope:expr) => {
        pub struct $name;
        impl RequiredScope for $name {
            const SCOPE: Scope = $scope;
        }
    };
}

scope_marker!(Read, Scope::Read);
scope_marker!(Write, Scope::Write);
scope_marker!(Execute, Scope::Execute);
scope_marker!(Admin, Scope::Admin);

/// An extractor that authenticates the key and checks it holds scope `S`.
/// Listed first in a handler, it answers 401/403 before the body is read.
pub struct Auth<S> {
    pub caller: Caller,
    _scope: PhantomData<S>,
}

/// An API key this request already authenticated, scope-checked and
/// counted against its rate (by the idempotency layer, which needs the
/// caller before the handler runs): the extractor takes it from here
/// instead of reading the key again.
#[derive(Debug, Clone)]
pub struct Authenticated(pub ApiKey);

/// The API key record of the key the request presents, checked: a 401
/// that says why otherwise. Scopes are the extractor's business.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let invalid = || ApiError::unauthorized("invalid API key");
    let token = presented_token(parts)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing API key: send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'",
            )
        })?
        .ok_or_else(invalid)?;
    // A token that cannot be a key (or an alias) costs no read: refused as it is.
    let Some(presented) = ApiKey::parse_token(&token) else {
        return match AliasFormat::of(&token) {
            Some(_) => authenticate_alias(&token, parts, state).await,
            None => Err(invalid()),
        };
    };
    // Who failed too often lately gets a 429 before any read.
    let who = failing(
        format!("key:{}/{}", presented.tenant, presented.key_id),
        parts,
    );
    state.auth_failures.check(&who)?;
    let cache = state.key_cache.as_deref();
    let cached = cache.and_then(|cache| cache.get(presented.tenant, presented.key_id));
    let read_now = cached.is_none();
    let record = match cached {
        Some(record) => Some(record),
        None => {
            state
                .store
                .get_api_key(presented.tenant, presented.key_id)
                .await?
        }
    };
    let refusal = match record
        .as_ref()
        .map(|record| record.check(presented.secret, Timestamp::now()))
    {
        Some(Ok(())) => {
            let record = record.expect("checked above");
            if let Some(cache) = cache.filter(|_| read_now) {
                cache.put(&record);
            }
            return Ok(record);
        }
        outcome => refused(outcome.and_then(Result::err)),
    };
    state.auth_failures.record(&who);
    Err(refusal)
}

/// The 401 of a key refused (`None`: no such key): revoked and expired
/// keys are told so, anything else is one "invalid API key".
fn refused(refusal: Option<Refusal>) -> ApiError {
    match refusal {
        Some(Refusal::Revoked) => ApiError::unauthorized("this API key has been revoked"),
        Some(Refusal::Expired) => ApiError::unauthorized("this API key has expired"),
        _ => ApiError::unauthorized("invalid API key"),
    }
}

/// What failures are counted against: the key (or alias), and the
/// source address. Loopback is the dev server's own clients (its tests,
/// schemathesis): one source for everything, so it is limited per key
/// only.
fn failing(key: String, parts: &Parts) -> Vec<String> {
    let source = source_address(parts)
        .filter(|address| {
            !address
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        })
        .map(|address| format!("src:{address}"));
    std::iter::once(key).chain(source).collect()
}

/// The API key record an alias stands for (found by the alias's digest,
/// then the key's record, whose revocation and expiry hold for it), or a
/// 401 that says why.
async fn authenticate_alias(
    alias: &str,
    parts: &Parts,
    state: &AppState,
) -> Result<ApiKey, ApiError> {
    let digest = service::api_key::alias_digest(alias);
    let who = failing(format!("alias:{}", &digest[..16]), parts);
    state.auth_failures.check(&who)?;
    let record = match state.store.key_of_alias(&digest).await? {
        Some((tenant, key_id)) => state.store.get_api_key(&tenant, &key_id).await?,
        None => None,
    };
    let refusal = match record
        .as_ref()
        .map(|record| record.usable(Timestamp::now()))
    {
        Some(Ok(())) => return Ok(record.expect("checked above")),
        outcome => refused(outcome.and_then(Result::err)),
    };
    state.auth_failures.record(&who);
    Err(refusal)
}

/// The address the request came from, as the platform saw it (API
/// Gateway's request context on Lambda, the connection locally); never a
/// header the caller writes.
pub fn source_address(parts: &Parts) -> Option<String> {
    use lambda_http::request::RequestContext;
    if let Some(RequestContext::ApiGatewayV2(context)) = parts.extensions.get::<RequestContext>() {
        return context.http.source_ip.clone();
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}

/// The secret of the API key a request presents, if it is well formed.
pub fn presented_secret(parts: &Parts) -> Option<String> {
    let token = presented_token(parts)??;
    ApiKey::parse_token(&token).map(|presented| presented.secret.to_string())
}

impl<S: RequiredScope> FromRequestParts<AppState> for Auth<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The idempotency layer authenticated (and counted) it already.
        let (record, counted) = match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(record)) => (record.clone(), true),
            None => (authenticate(parts, state).await?, false),
        };
        // Every authenticated request counts, a 403 too (it cost a read).
        if let Some(limiter) = state.key_limiter.as_ref().filter(|_| !counted) {
            limiter.check(&record.tenant, &record.key_id)?;
        }
        if !record.has_scope(S::SCOPE) {
            return Err(lacks_scope(S::SCOPE));
        }
        let caller = Caller {
            tenant: record.tenant,
            key_id: record.key_id,
            scopes: record.scopes,
        };
        tracing::Span::current().record("tenant", caller.tenant.as_str());
        service::aws::store::origin::set_actor(&caller.key_id);
        Ok(Auth {
            caller,
            _scope: PhantomData,
        })
    }
}

/// The key as presented: `None` when there is none, `Some(None)` when a
/// key header is there but cannot be a key (not visible ASCII, or another
/// scheme), so the caller is told "invalid", not "missing". Besides
/// `X-API-Key` and `Authorization: Bearer`, HTTP Basic with the key as
/// the user name and an empty password (Cloudability's clients send that).
fn presented_token(parts: &Parts) -> Option<Option<std::borrow::Cow<'_, str>>> {
    use std::borrow::Cow;
    if let Some(value) = parts.headers.get("x-api-key") {
        return Some(value.to_str().ok().map(|v| Cow::Borrowed(v.trim())));
    }
    if let Some(value) = parts.headers.get("x-auth-token") {
        return Some(value.to_str().ok().and_then(auth_token).map(Cow::Owned));
    }
    let authorization = parts.headers.get(header::AUTHORIZATION)?;
    let Ok(authorization) = authorization.to_str() else {
        return Some(None);
    };
    let Some((scheme, token)) = authorization.trim().split_once(' ') else {
        return Some(None);
    };
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(basic_user(token.trim()).map(Cow::Owned));
    }
    Some(
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| Cow::Borrowed(token.trim())),
    )
}

/// The key in Carbon Black's `X-Auth-Token: <secret>/<id>` form: the
/// key's 64 hex digits, a slash, and the rest of it (`oak_<tenant>_<key
/// id>`); a whole key is taken as it is.
fn auth_token(value: &str) -> Option<String> {
    // A key is ~130 characters: anything much longer is not one.
    let value = value.trim().trim_matches('"');
    if value.len() > 512 {
        return None;
    }
    Some(match value.split_once('/') {
        Some((secret, id)) => format!("{id}_{secret}"),
        None => value.to_string(),
    })
}

/// The user name of HTTP Basic credentials whose password is empty.
fn basic_user(credentials: &str) -> Option<String> {
    use base64::Engine;
    // A key is ~130 characters: anything much longer is not one.
    if credentials.len() > 512 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    password.is_empty().then(|| user.to_string())
}

/// An external scanner, by its credential (`Authorization: Bearer
/// osc_...`): it may report on scans of its data source and nothing else.
/// An API key is refused here (403): no tenant key reports results.
pub struct ScannerAuth(pub service::scanner::ScannerCredential);

impl FromRequestParts<AppState> for ScannerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let invalid = || ApiError::unauthorized("invalid or revoked scanner credential");
        let token = presented_token(parts)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing scanner credential: send it as 'Authorization: Bearer osc_...'",
                )
            })?
            .ok_or_else(invalid)?;
        if ApiKey::parse_token(&token).is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "API keys cannot report scan results; the data source's scanner sends its scanner credential (osc_...)",
            ));
        }
        let credential = state
            .external_scans()
            .credential(&token)
            .await?
            .ok_or_else(invalid)?;
        service::aws::store::origin::set_actor(&format!("scanner:{}", credential.credential_id));
        Ok(ScannerAuth(credential))
    }
}

/// The scope each POST route's handler asks for (its `Auth<S>`), so that
/// the idempotency layer, which runs before the handler, refuses a key
/// without it before it buffers a body or takes an idempotency key. A test
/// walks every POST route with a key of each scope to hold this table to
/// the handlers.
pub fn post_scope(matched_path: &str) -> Scope {
    match matched_path {
        "/v1/accounts/search" | "/v1/accounts/export" => Scope::Read,
        "/v1/api-keys"
        | "/v1/api-keys/{key_id}/aliases"
        | "/v1/webhooks"
        | "/v1/webhooks/{webhook_id}/rotate-secret"
        | "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver" => Scope::Admin,
        "/v1/accounts/{account_id}/data-sources/{data_source}/scans"
        | "/v1/account-actions"
        | "/v1/accounts/{account_id}/verify"
        | "/v1/accounts/validate-roles"
        | "/v3/vendors/{vendor}/accounts/{account_id}/verification"
        | "/v3/vendors/{vendor}/accounts/{account_id}/verification/"
        | "/api/v1/aws/invoke-scan"
        | "/api/v1/aws/invoke-scan/" => Scope::Execute,
        path if super::dialects::product_of(path) == Some(Product::CarbonBlack) => {
            super::dialects::carbonblack::post_scope(path)
        }
        _ => Scope::Write,
    }
}

/// The 403 of a key without `scope`.
pub fn lacks_scope(scope: Scope) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "this API key lacks the '{}' scope this request needs",
            scope.as_str()
        ),
    )
}
