//! The one error type of the model crate. The API maps it to HTTP in one place.

use std::fmt::Display;

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
    /// Rows of an all-or-nothing import that cannot be imported.
    #[error("{} rows are invalid (listed in details); nothing was imported. Fix them, or import with ?mode=best_effort", .0.len())]
    InvalidRows(Vec<crate::csv_io::RowError>),
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
    /// A capability this deployment was not configured with.
    #[error("{message}")]
    NotConfigured { code: &'static str, message: String },
    /// The item changed while we worked on it; retrying is safe.
    #[error("{0}")]
    Conflict(String),
    /// The datastore is throttling or unreachable: the request may be retried.
    #[error("the datastore is temporarily unavailable: {0}")]
    Unavailable(String),
    /// Anything else from the datastore. The text is for logs, never for callers.
    #[error("datastore error: {0}")]
    Store(String),
}

impl Error {
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

    /// Classify an AWS SDK error ([`crate::aws_errors`]): throttling,
    /// timeouts and transient failures are retryable (`Unavailable`), the
    /// rest is an internal store error.
    pub fn from_sdk<E>(
        err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        let retryable = crate::aws_errors::classify(&err).is_retryable();
        let text = sdk_error_text(&err);
        if retryable {
            Error::Unavailable(text)
        } else {
            Error::Store(text)
        }
    }
}

fn sdk_error_text<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let context = aws_sdk_dynamodb::error::DisplayErrorContext(err);
    context.to_string()
}

impl From<serde_dynamo::Error> for Error {
    fn from(err: serde_dynamo::Error) -> Self {
        Error::Store(format!("item conversion: {err}"))
    }
}

/// Shorthand for store errors that are not SDK errors.
pub fn store_error(what: impl Display) -> Error {
    Error::Store(what.to_string())
}
