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

    /// Classify an AWS SDK error: throttling and transport failures are
    /// retryable (`Unavailable`), the rest is an internal store error.
    pub fn from_sdk<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_dynamodb::error::SdkError;
        let retryable = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(service) => matches!(
                service.err().code(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "ThrottlingException"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
            ),
            _ => false,
        };
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
