//! The one error type. The API maps it to HTTP in one place; the AWS
//! adapters make it from SDK errors (`service::aws::errors::from_sdk`).

use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller sent something we refuse; nothing was written.
    #[error("{message}")]
    Invalid {
        /// Machine-readable reason, e.g. `invalid_value`, `immutable_field`.
        code: &'static str,
        /// JSON path (or query parameter) of the offending input.
        field: Option<String>,
        message: String,
    },
    /// Several fields of one body (or CSV row) refused at once, each an
    /// [`Error::Invalid`], so the caller fixes them in one round.
    #[error("{}", summary(.0))]
    InvalidFields(Vec<Error>),
    /// Rows of an all-or-nothing import that cannot be imported.
    #[error("{} rows are invalid (listed in details); nothing was imported. Fix them, or import with ?mode=best_effort", .0.len())]
    InvalidRows(Vec<RowError>),
    #[error("{resource} '{id}' was not found")]
    NotFound { resource: &'static str, id: String },
    #[error("{resource} '{id}' already exists")]
    AlreadyExists { resource: &'static str, id: String },
    /// An `If-Match` precondition (or optimistic version check) failed.
    #[error("{resource} '{id}' was modified since version {expected}; read it again and retry with its current ETag")]
    VersionMismatch {
        resource: &'static str,
        id: String,
        expected: u64,
    },
    /// The account is archived: only reads, delete and unarchive apply.
    #[error("account '{id}' is archived; unarchive it first (POST /v1/accounts/{id}/unarchive)")]
    Archived { id: String },
    /// The account left its AWS Organization: only reads and delete apply
    /// until a sync finds it active and covered again.
    #[error("account '{id}' has departed from its organization ({}); it returns when the organization's sync finds it active and covered by the filters again", <&'static str>::from(reason))]
    Departed {
        id: String,
        reason: crate::membership::DepartureReason,
    },
    /// The data source is not attached to the account.
    #[error("data source '{data_source}' is not attached to account {account_id}; attach it with PUT /v1/accounts/{account_id}/data-sources/{data_source}")]
    NotAttached {
        account_id: String,
        data_source: String,
    },
    /// The data source is not offered by this deployment.
    #[error(
        "data source '{name}' is not offered here; GET /v1/data-sources lists them ({offered})"
    )]
    UnknownDataSource { name: String, offered: String },
    /// The request is well formed but the resource's state refuses it now
    /// (e.g. a scan of an account whose credential is not verified).
    #[error("{message}")]
    Refused {
        /// Machine-readable reason, e.g. `credential_not_verified`.
        code: &'static str,
        message: String,
    },
    /// The caller is who it says but may not do this (e.g. a scanner
    /// credential of another data source).
    #[error("{0}")]
    Forbidden(String),
    /// A capability this deployment was not configured with.
    #[error("{message}")]
    NotConfigured { code: &'static str, message: String },
    /// The item changed while we worked on it; retrying is safe.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (DynamoDB, SQS, STS) is throttling or unreachable: the
    /// request may be retried.
    #[error("temporarily unavailable: {context}")]
    Unavailable {
        context: String,
        #[source]
        source: Option<Cause>,
    },
    /// Anything else from the datastore. The text is for logs, never for callers.
    #[error("datastore error: {context}")]
    Store {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

/// The error underneath a [`Error::Store`] or [`Error::Unavailable`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The first problem, and how many more there are.
fn summary(problems: &[Error]) -> String {
    match problems {
        [] => "the request is invalid".to_string(),
        [only] => only.to_string(),
        [first, rest @ ..] => format!(
            "{first} (and {} more problems, listed in details)",
            rest.len()
        ),
    }
}

impl Error {
    /// Ok with no problems, the one problem, or all of them at once.
    pub fn all(mut problems: Vec<Error>) -> Result<()> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(Error::InvalidFields(problems)),
        }
    }

    /// Each problem of a refusal as (code, field, message): one for an
    /// [`Error::Invalid`], each of an [`Error::InvalidFields`].
    pub fn problems(&self) -> Vec<(&'static str, Option<&str>, String)> {
        match self {
            Error::Invalid {
                code,
                field,
                message,
            } => vec![(code, field.as_deref(), message.clone())],
            Error::InvalidFields(all) => all.iter().flat_map(Error::problems).collect(),
            other => vec![("invalid_value", None, other.to_string())],
        }
    }

    /// A datastore failure described by `context` alone.
    pub fn store(context: impl Into<String>) -> Self {
        Error::Store {
            context: context.into(),
            source: None,
        }
    }

    /// A retryable failure described by `context` alone.
    pub fn unavailable(context: impl Into<String>) -> Self {
        Error::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    /// A retryable failure of a dependency, caused by `err`.
    pub fn unavailable_because<E: std::error::Error + Send + Sync + 'static>(
        context: impl Into<String>,
        err: E,
    ) -> Self {
        Error::Unavailable {
            context: context.into(),
            source: Some(Box::new(err)),
        }
    }

    /// This error and each of its causes, joined by `: ` (for logs).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            code: "invalid_value",
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn invalid_with_code(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Why a row of a CSV import cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    pub row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The CSV column at fault.
    pub column: String,
    pub message: String,
}

/// A store error caused by `err` (for `map_err`).
pub fn store_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> Error {
    Error::Store {
        context: "internal".into(),
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_cause() {
        let io = std::io::Error::other("disk on fire");
        let err = store_error(io);
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), "disk on fire");
        assert_eq!(err.chain(), "datastore error: internal: disk on fire");
        // What a caller may see says nothing of the cause.
        assert!(!err.to_string().contains("fire"));
        assert!(std::error::Error::source(&Error::unavailable("busy")).is_none());
    }
}
