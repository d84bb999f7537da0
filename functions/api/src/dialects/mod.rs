//! Other products' account APIs, served beside `/v1` on the same host so
//! that a client written for one of them works with only its base URL and
//! key changed. Each dialect is an adapter like the `/v1` handlers: it
//! reads its product's request into the body the use cases read, calls
//! the same use case, and writes the result in its product's shape. It
//! adds no rule of its own: an account created in one dialect is the same
//! account in `/v1` and every other, with the same events and versions.
//!
//! Errors are made once, as [`ApiError`]s, and said again in the
//! product's shape by [`in_product_shape`], the outermost layer, so that
//! a refusal from authentication, the path check or a body extractor
//! reads as the product's too.

pub mod carbonblack;
pub mod cloudability;
pub mod cloudcraft;
pub mod panther;
pub mod risken;

use crate::error::{ApiError, Refusal};
use crate::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use service::products::Product;

/// The routes of every dialect this deployment serves.
pub fn routes(served: &[Product]) -> Router<AppState> {
    let mut router = Router::new().route(
        "/v1/dialects/{product}/openapi.json",
        axum::routing::get(document),
    );
    for product in served {
        router = router.merge(match product {
            Product::Panther => panther::routes(),
            Product::Cloudcraft => cloudcraft::routes(),
            Product::Cloudability => cloudability::routes(),
            Product::Risken => risken::routes(),
            Product::CarbonBlack => carbonblack::routes(),
        });
    }
    router
}

/// The product whose API `path` belongs to.
pub fn product_of(path: &str) -> Option<Product> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next()?, segments.next()) {
        ("cloud-accounts", _) => Some(Product::Panther),
        ("aws", Some("account")) => Some(Product::Cloudcraft),
        ("v3", Some("vendors")) => Some(Product::Cloudability),
        ("api", Some("v1")) => Some(Product::Risken),
        ("public-cloud", Some("account-management")) | ("account-management", Some("v1")) => {
            Some(Product::CarbonBlack)
        }
        _ => None,
    }
}

/// Said again in the product's shape: every error answer on a product's
/// paths (the body the product documents, its statuses), keeping the
/// headers that tell a client when to retry.
pub async fn in_product_shape(request: Request, next: Next) -> Response {
    let Some(product) = product_of(request.uri().path()) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let refusal = response.extensions().get::<Refusal>().cloned();
    let (status, body) = match product {
        Product::Panther => panther::error(&method, status, refusal.as_ref()),
        Product::Cloudcraft => cloudcraft::error(status, refusal.as_ref()),
        Product::Cloudability => cloudability::error(status, refusal.as_ref()),
        Product::Risken => risken::error(status, refusal.as_ref()),
        Product::CarbonBlack => carbonblack::error(status, refusal.as_ref()),
    };
    let mut shaped = (status, axum::Json(body)).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = response.headers().get(&name) {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    for name in ["ratelimit-policy", "ratelimit"] {
        if let Some(value) = response.headers().get(name) {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}

/// `GET /v1/dialects/{product}/openapi.json`: the product's document, as
/// its vendor publishes it, for the dialects this deployment serves.
async fn document(
    State(state): State<AppState>,
    Path(product): Path<String>,
) -> Result<Response, ApiError> {
    let product = product
        .parse::<Product>()
        .ok()
        .filter(|product| state.dialects.contains(product))
        .ok_or_else(|| {
            ApiError::not_found(
                "no such dialect here; this deployment serves: ".to_string()
                    + &served_names(&state.dialects),
            )
        })?;
    let text = match product {
        Product::Panther => include_str!("../../dialects/panther.openapi.json"),
        Product::Cloudcraft => include_str!("../../dialects/cloudcraft.openapi.json"),
        Product::Cloudability => include_str!("../../dialects/cloudability.openapi.json"),
        Product::Risken => include_str!("../../dialects/risken.openapi.json"),
        Product::CarbonBlack => include_str!("../../dialects/carbonblack.openapi.json"),
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response())
}

fn served_names(served: &[Product]) -> String {
    let names: Vec<&str> = served.iter().map(|product| product.as_str()).collect();
    match names.is_empty() {
        true => "none".to_string(),
        false => names.join(", "),
    }
}

/// The status a product answers with: ours for a 4xx and a 503 (retry
/// later), a 500 for any other server error.
pub fn product_status(status: StatusCode) -> StatusCode {
    match status.as_u16() {
        400..=499 | 503 => status,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A refusal's message for a product whose errors have no field of their
/// own: `field: message`, unless the message names its field first.
pub fn after_field(field: Option<String>, message: String) -> String {
    match field {
        Some(field) if !message.starts_with(&field) => format!("{field}: {message}"),
        _ => message,
    }
}

/// `text` with each of `names` (ours, theirs) replaced where it stands
/// alone (not inside a longer name), longest first.
pub fn rename_words(text: &str, names: &[(&str, &str)]) -> String {
    let mut names = names.to_vec();
    names.sort_by_key(|(ours, _)| std::cmp::Reverse(ours.len()));
    let mut text = text.to_string();
    for (ours, theirs) in names {
        text = replace_word(&text, ours, theirs);
    }
    text
}

fn replace_word(text: &str, word: &str, by: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        match before.is_some_and(is_name) || after.is_some_and(is_name) {
            true => out.push_str(word),
            false => out.push_str(by),
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// The account a product's UUID id names in this tenant (one GetItem: the
/// id carries the account id), compared with the id stored on it; a 404
/// naming `what` otherwise, also for an id that is no such UUID.
pub async fn find_by_product_id(
    state: &AppState,
    tenant: &str,
    product: Product,
    id: &str,
    what: &str,
) -> Result<service::account::Account, ApiError> {
    let missing = || ApiError::not_found(format!("no {what} with id '{}'", echo(id)));
    let account_id = service::products::AccountUuid::account_of(id).ok_or_else(missing)?;
    let account = state
        .store
        .get_account(tenant, &account_id)
        .await?
        .ok_or_else(missing)?;
    match account.product_id(product).matches(id) {
        true => Ok(account),
        false => Err(missing()),
    }
}

/// At most 64 characters of what the caller sent, control characters
/// escaped, for a message.
pub fn echo(text: &str) -> String {
    text.chars().take(64).flat_map(char::escape_debug).collect()
}
