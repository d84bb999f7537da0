//! The API's one error type, and the one place errors become HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"error": {"code": ..., "message": ..., "field": ...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, e.g. `invalid_value`, `not_found`, `precondition_failed`.
    pub code: String,
    /// What went wrong and how to fix it.
    pub message: String,
    /// The offending body field (JSON path) or query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Per-item problems, e.g. the rows of a rejected CSV import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// What an error response says, kept on the response too, so that a
/// dialect can say it again in its product's shape ([`crate::dialects`]).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// Header fields of the IETF httpapi RateLimit draft.
#[derive(Debug)]
pub struct RateLimitFields {
    /// `RateLimit-Policy`, e.g. `"per-key";q=50;w=1`.
    pub policy: String,
    /// `RateLimit`, e.g. `"per-key";r=0;t=1`.
    pub state: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, sent as `Retry-After` with 503 and 429.
    pub retry_after: Option<u32>,
    /// The `RateLimit-Policy` and `RateLimit` fields of a 429 (boxed: an
    /// error is returned by value everywhere, so it stays small).
    pub rate_limit: Option<Box<RateLimitFields>>,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            rate_limit: None,
            details: None,
        }
    }

    pub fn bad_request(
        code: &'static str,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            field,
            ..ApiError::new(StatusCode::BAD_REQUEST, code, message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<service::Error> for ApiError {
    fn from(err: service::Error) -> Self {
        use service::Error;
        match err {
            Error::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, field, message),
            // The first problem as the error, every one in details.
            Error::InvalidFields(_) => {
                let problems = err.problems();
                let (code, field, _) =
                    problems
                        .first()
                        .cloned()
                        .unwrap_or(("invalid_value", None, String::new()));
                let details: Vec<serde_json::Value> = problems
                    .iter()
                    .map(|(code, field, message)| {
                        serde_json::json!({"code": code, "field": field, "message": message})
                    })
                    .collect();
                ApiError {
                    details: Some(serde_json::Value::Array(details)),
                    ..ApiError::bad_request(code, field.map(str::to_string), err.to_string())
                }
            }
            Error::InvalidRows(ref rows) => ApiError {
                details: Some(serde_json::to_value(rows).unwrap_or_default()),
                ..ApiError::bad_request("invalid_rows", Some("body".into()), err.to_string())
            },
            Error::NotFound { .. } => ApiError::not_found(err.to_string()),
            Error::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", err.to_string())
            }
            Error::Archived { .. } => {
                ApiError::new(StatusCode::CONFLICT, "archived", err.to_string())
            }
            Error::Departed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "departed", err.to_string())
            }
            Error::NotAttached { .. } | Error::UnknownDataSource { .. } => {
                ApiError::not_found(err.to_string())
            }
            Error::Refused { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            Error::NotConfigured { code, message } => ApiError {
                retry_after: Some(60),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            },
            Error::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            Error::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            Error::VersionMismatch { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                err.to_string(),
            ),
            Error::Unavailable { .. } => {
                tracing::warn!(error = %err.chain(), "dependency unavailable");
                ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the service is briefly unavailable; retry after the Retry-After delay",
                    )
                }
            }
            Error::Store { .. } => {
                tracing::error!(error = %err.chain(), "datastore error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let rate_limit = self
            .rate_limit
            .map(|fields| {
                [
                    ("ratelimit-policy", fields.policy),
                    ("ratelimit", fields.state),
                ]
            })
            .into_iter()
            .flatten();
        let refusal = Refusal {
            code: self.code,
            message: self.message.clone(),
            field: self.field.clone(),
        };
        let body = ErrorResponse {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(refusal);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in rate_limit {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
