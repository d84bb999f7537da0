//! `Idempotency-Key` on every POST: the same key and request answer the
//! first response again for 24 hours (`Idempotent-Replayed: true`); the
//! same key with another request is a 422; while the first is running, a
//! second waits for its answer (up to [`WAIT`], then a 409 to retry).
//! What is kept and why: [`service::idempotency`].

use crate::auth::{self, Authenticated};
use crate::body::{read_body, MAX_BODY_BYTES, MAX_CSV_BYTES};
use crate::error::ApiError;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service::idempotency::{
    fingerprint, keeps, IdempotencyKey, KeptResponse, ReplayKey, Taken, HEADER, KEPT_HEADERS,
    MAX_KEPT_BODY, REPLAYED_HEADER,
};
use std::time::{Duration, Instant};

/// How long a request waits for another holding its key.
pub const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_millis(1600);

/// The layer: POSTs with an Idempotency-Key, others pass through.
pub async fn idempotent(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    match run_once(&state, raw.as_bytes().to_vec(), request, next).await {
        Ok(response) | Err(response) => response,
    }
}

/// The idempotency protocol in its order: authenticate, authorise and
/// rate-limit the caller; read the body under the route's limit; claim
/// the key (or replay, refuse, or wait); run the request once and keep
/// its answer. Each step is a different early answer.
async fn run_once(
    state: &AppState,
    raw_key: Vec<u8>,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = IdempotencyKey::parse(&raw_key).map_err(|err| fail(err.into()))?;
    let (mut parts, body) = request.into_parts();
    // Not an API key (a scanner's credential, or garbage): the route's own
    // authentication answers; scanners' uploads are idempotent per page.
    let Some(secret) = auth::presented_secret(&parts) else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let record = authorise(state, &parts).await?;
    let replay_key = ReplayKey::derive(&secret, &record.key_id, &key);
    let (content_type, body) = readable_body(&parts, body).await?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // The content type is part of the request: a retry as text/plain gets
    // its own answer (a 415), never the JSON request's replay.
    let fingerprint = fingerprint(parts.method.as_str(), path, &content_type, &body);
    let held = claim(state, &record, key.digest(), &fingerprint, &replay_key).await?;
    parts.extensions.insert(Authenticated(record));
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    settle(state, &held, &replay_key, response).await
}

fn fail(err: ApiError) -> Response {
    err.into_response()
}

/// The caller first: keys are per API key, and a stranger's request must
/// not hold anyone's key. Then its scope and its rate, as the handler's
/// extractor would: a replay or a wait is a request too.
async fn authorise(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Result<service::api_key::ApiKey, Response> {
    let record = auth::authenticate(parts, state).await.map_err(fail)?;
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|matched| matched.as_str().to_string())
        .unwrap_or_default();
    let scope = auth::post_scope(&route);
    if let Some(limiter) = &state.key_limiter {
        limiter
            .check(&record.tenant, &record.key_id)
            .map_err(fail)?;
    }
    if !record.has_scope(scope) {
        return Err(fail(auth::lacks_scope(scope)));
    }
    Ok(record)
}

/// The body under the same limit as without the header (a CSV import's,
/// else a JSON body's), with its content type. A body no route reads
/// (text/plain, a malformed type) is the 415 it would be without the
/// header, never a replay of a JSON request's.
async fn readable_body(
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<(String, axum::body::Bytes), Response> {
    let (content_type, media) = crate::body::media_type(&parts.headers);
    let limit = match &media {
        Some(media) if media.is_csv() => MAX_CSV_BYTES,
        _ => MAX_BODY_BYTES,
    };
    let body = read_body(body, limit).await.map_err(fail)?;
    let readable = media
        .as_ref()
        .is_some_and(|media| media.is_csv() || media.is_json());
    if !body.is_empty() && !readable {
        return Err(fail(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected a JSON body with Content-Type: application/json (or text/csv for an import), got '{}'", service::validation::echo(&content_type)),
        )));
    }
    Ok((content_type, body))
}

/// A key this request holds: whose, which, and the claim's token.
struct Held {
    tenant: String,
    key_id: String,
    digest: String,
    token: String,
}

/// Take `caller`'s key (`digest`) for this request, or answer without
/// running it: the first response again, a 422 for another request's key,
/// or a 409 after waiting [`WAIT`] for one still running. Waiting polls
/// with a doubling pause, so a waiter costs a handful of conditional
/// writes (about eight in WAIT), not one every 100 ms.
async fn claim(
    state: &AppState,
    caller: &service::api_key::ApiKey,
    digest: String,
    fingerprint: &str,
    replay_key: &ReplayKey,
) -> Result<Held, Response> {
    let deadline = Instant::now() + WAIT;
    let mut pause = POLL;
    loop {
        let taken = state
            .store
            .take_idempotency_key(&caller.tenant, &caller.key_id, &digest, fingerprint)
            .await
            .map_err(|err| fail(err.into()))?;
        match taken {
            Taken::Fresh { token } => {
                return Ok(Held {
                    tenant: caller.tenant.clone(),
                    key_id: caller.key_id.clone(),
                    digest,
                    token,
                })
            }
            Taken::Done(kept) => return Err(replay(kept, replay_key)),
            Taken::OtherRequest => {
                return Err(fail(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for another request (method, path or body differ) in the last 24 hours; use a new key for a new request",
                )))
            }
            Taken::Running if Instant::now() >= deadline => {
                return Err(fail(ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        StatusCode::CONFLICT,
                        "idempotency_key_in_use",
                        "a request with this Idempotency-Key is still running; retry after the Retry-After delay to get its response",
                    )
                }))
            }
            Taken::Running => {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(MAX_POLL);
            }
        }
    }
}

/// Keep the request's answer under its key (a success, sealed) or let the
/// key go (an error, so a corrected retry runs), and answer it.
async fn settle(
    state: &AppState,
    held: &Held,
    replay_key: &ReplayKey,
    response: Response,
) -> Result<Response, Response> {
    let Held {
        tenant,
        key_id,
        digest,
        token,
    } = held;
    let (response_parts, response_body) = response.into_parts();
    let bytes = match axum::body::to_bytes(response_body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(error = %err, "a response body could not be read");
            let _ = state
                .store
                .release_idempotency_key(tenant, key_id, digest, token)
                .await;
            return Err(fail(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            )));
        }
    };
    let status = response_parts.status.as_u16();
    let outcome = if keeps(status) {
        let kept = KeptResponse {
            status,
            headers: KEPT_HEADERS
                .iter()
                .filter_map(|name| {
                    let value = response_parts.headers.get(*name)?.to_str().ok()?;
                    Some((name.to_string(), value.to_string()))
                })
                .collect(),
            sealed_body: (bytes.len() <= MAX_KEPT_BODY).then(|| replay_key.seal(&bytes)),
        };
        state
            .store
            .keep_idempotent_response(tenant, key_id, digest, token, &kept)
            .await
    } else {
        state
            .store
            .release_idempotency_key(tenant, key_id, digest, token)
            .await
    };
    if let Err(err) = outcome {
        // The answer stands; a retry within the lease waits, after it runs.
        tracing::error!(error = %err.chain(), "idempotency key not settled");
    }
    Ok(Response::from_parts(response_parts, Body::from(bytes)))
}

/// The first response again, marked as a replay.
fn replay(kept: KeptResponse, replay_key: &ReplayKey) -> Response {
    let Some(body) = kept.sealed_body.as_deref().and_then(|s| replay_key.open(s)) else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "idempotent_response_not_kept",
            format!(
                "the request with this Idempotency-Key already succeeded (status {}), but its response was too large to keep; read the result instead of retrying",
                kept.status
            ),
        )
        .into_response();
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    for (name, value) in &kept.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
