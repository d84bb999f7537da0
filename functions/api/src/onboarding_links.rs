//! `/v1/accounts/{id}/onboarding-links` and
//! `/v1/organizations/{id}/onboarding-links`: links a vendor sends its
//! customer (scope `write`); each opens `/onboard/<token>` for that account
//! (or organization) only.

use crate::auth::{Auth, Read, Write};
use crate::body::{parse, OptionalJsonObject};
use crate::error::{ApiError, ErrorResponse};
use crate::path::Path;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use service::ids::{AccountId, LinkId, OrganizationId};
use service::onboarding::{CreateLinkRequest, LinkView, Subject};
use service::usecases::onboarding::NewLink;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedLink {
    #[serde(flatten)]
    link: NewLink,
    /// The page to send the customer. Shown this once: only its hash is kept.
    url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkList {
    /// Oldest first, live or not (never their tokens).
    items: Vec<LinkView>,
}

#[utoipa::path(
    post, path = "/v1/accounts/{account_id}/onboarding-links", tag = "trust",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    request_body(content = CreateLinkRequest, description = "Optional: without a body the defaults apply (7 days)"),
    responses(
        (status = 201, description = "Created; `url` is shown this once", body = CreatedLink),
        (status = 409, description = "too_many_onboarding_links: the account has 5 live ones; or it is archived", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_onboarding_link(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    base: crate::PublicBase,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    create(
        &state,
        &auth,
        Subject::Account(account_id.to_string()),
        base,
        body,
    )
    .await
}

async fn create(
    state: &AppState,
    auth: &Auth<Write>,
    subject: Subject,
    base: crate::PublicBase,
    body: serde_json::Map<String, Value>,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    let request: CreateLinkRequest = parse(Value::Object(body))?;
    let link = state
        .onboarding()
        .create(&auth.caller.tenant, &auth.caller.key_id, subject, request)
        .await?;
    let url = format!("{}{}", base.0, link.path);
    Ok((StatusCode::CREATED, Json(CreatedLink { link, url })))
}

#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/onboarding-links", tag = "trust",
    params(("account_id" = String, Path, description = "12-digit AWS account id")),
    responses((status = 200, body = LinkList)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_onboarding_links(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
) -> Result<Json<LinkList>, ApiError> {
    list(&state, &auth, Subject::Account(account_id.to_string())).await
}

async fn list(
    state: &AppState,
    auth: &Auth<Read>,
    subject: Subject,
) -> Result<Json<LinkList>, ApiError> {
    let items = state
        .onboarding()
        .list(&auth.caller.tenant, &subject)
        .await?;
    Ok(Json(LinkList { items }))
}

#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}/onboarding-links/{link_id}", tag = "trust",
    params(
        ("account_id" = String, Path, description = "12-digit AWS account id"),
        ("link_id" = String, Path, description = "As the link's creation returned it"),
    ),
    responses(
        (status = 204, description = "Revoked: the page answers 410 from the next request on"),
        (status = 404, description = "No such link", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn revoke_onboarding_link(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((account_id, link_id)): Path<(AccountId, LinkId)>,
) -> Result<StatusCode, ApiError> {
    revoke(
        &state,
        &auth,
        Subject::Account(account_id.to_string()),
        &link_id,
    )
    .await
}

async fn revoke(
    state: &AppState,
    auth: &Auth<Write>,
    subject: Subject,
    link_id: &str,
) -> Result<StatusCode, ApiError> {
    state
        .onboarding()
        .revoke(&auth.caller.tenant, &auth.caller.key_id, &subject, link_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/v1/organizations/{organization_id}/onboarding-links", tag = "organizations",
    params(("organization_id" = String, Path)),
    request_body(content = CreateLinkRequest, description = "Optional: without a body the defaults apply (7 days)"),
    responses(
        (status = 201, description = "Created; `url` (shown this once) opens the organization's page: the management role, then the StackSet", body = CreatedLink),
        (status = 409, description = "too_many_onboarding_links: the organization has 5 live ones; or it is archived", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_organization_link(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
    base: crate::PublicBase,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    let subject = Subject::Organization(organization_id.to_string());
    create(&state, &auth, subject, base, body).await
}

#[utoipa::path(
    get, path = "/v1/organizations/{organization_id}/onboarding-links", tag = "organizations",
    params(("organization_id" = String, Path)),
    responses((status = 200, body = LinkList)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_organization_links(
    auth: Auth<Read>,
    State(state): State<AppState>,
    Path(organization_id): Path<OrganizationId>,
) -> Result<Json<LinkList>, ApiError> {
    list(
        &state,
        &auth,
        Subject::Organization(organization_id.to_string()),
    )
    .await
}

#[utoipa::path(
    delete, path = "/v1/organizations/{organization_id}/onboarding-links/{link_id}", tag = "organizations",
    params(
        ("organization_id" = String, Path),
        ("link_id" = String, Path, description = "As the link's creation returned it"),
    ),
    responses(
        (status = 204, description = "Revoked: the page answers 410 from the next request on"),
        (status = 404, description = "No such link", body = ErrorResponse),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn revoke_organization_link(
    auth: Auth<Write>,
    State(state): State<AppState>,
    Path((organization_id, link_id)): Path<(OrganizationId, LinkId)>,
) -> Result<StatusCode, ApiError> {
    revoke(
        &state,
        &auth,
        Subject::Organization(organization_id.to_string()),
        &link_id,
    )
    .await
}
