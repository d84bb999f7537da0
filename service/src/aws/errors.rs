//! One classifier of AWS SDK errors for every client (DynamoDB, SQS, STS,
//! IAM). Throttling and transient errors are the SDK's own lists
//! (`aws-runtime`'s retry classifiers), so what we call retryable is what
//! the SDK retries, and a code AWS adds there is picked up with the SDK.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use domain::error::{Cause, Error};

/// What an AWS error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The principal may not do this: retrying will not help.
    AccessDenied,
    /// Slow down and retry.
    Throttling,
    /// No answer in time.
    Timeout,
    /// A failure another attempt may not meet (5xx, connection reset).
    Transient,
    /// Anything else: a request the service refuses.
    Other,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttling | ErrorClass::Timeout | ErrorClass::Transient
        )
    }
}

/// Status codes the SDK's `HttpStatusCodeClassifier` retries.
const TRANSIENT_STATUS: [u16; 4] = [500, 502, 503, 504];

/// Classify an SDK error by its kind, code and status.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) => ErrorClass::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => ErrorClass::Timeout,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorClass::Transient,
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            of_code(service.err().code(), status)
        }
        _ => ErrorClass::Other,
    }
}

/// Classify a service error by its code and HTTP status.
pub fn of_code(code: Option<&str>, status: u16) -> ErrorClass {
    match code {
        Some("AccessDenied" | "AccessDeniedException") => ErrorClass::AccessDenied,
        Some(code) if THROTTLING_ERRORS.contains(&code) => ErrorClass::Throttling,
        Some(code) if TRANSIENT_ERRORS.contains(&code) => ErrorClass::Transient,
        _ if TRANSIENT_STATUS.contains(&status) => ErrorClass::Transient,
        _ => ErrorClass::Other,
    }
}

/// The domain's error for a DynamoDB SDK error: throttling, timeouts and
/// transient failures are retryable (`Unavailable`), the rest an internal
/// store error.
pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = classify(&err).is_retryable();
    let context = format!(
        "DynamoDB {}",
        err.as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("call failed")
    );
    let source = Some(Box::new(err) as Cause);
    if retryable {
        Error::Unavailable { context, source }
    } else {
        Error::Store { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_as_the_sdk_retries_them() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
        ] {
            assert_eq!(of_code(Some(code), 400), ErrorClass::Throttling, "{code}");
        }
        assert_eq!(of_code(Some("RequestTimeout"), 400), ErrorClass::Transient);
        assert_eq!(
            of_code(Some("InternalServerError"), 500),
            ErrorClass::Transient
        );
        assert_eq!(of_code(None, 503), ErrorClass::Transient);
        assert_eq!(of_code(Some("AccessDenied"), 403), ErrorClass::AccessDenied);
        assert_eq!(of_code(Some("ValidationException"), 400), ErrorClass::Other);
        assert!(!ErrorClass::AccessDenied.is_retryable());
        assert!(ErrorClass::Timeout.is_retryable());
    }
}
