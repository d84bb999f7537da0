//! The built-in scanners: with the customer's assumed role they read the
//! account (IAM globally, SQS one region at a time) and report what they
//! observe. They only call AWS; what becomes a finding is the domain's
//! (`scans::Ready::findings`), and the run around them is the use case's
//! (`usecases::scan_run`).

pub mod iam;
pub mod sqs;

use crate::scans::ScanErrorCode;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

/// A failed IAM call, with whether another attempt may succeed.
#[derive(Debug)]
pub struct ScanFailure {
    pub code: ScanErrorCode,
    pub message: String,
    pub retryable: bool,
}

impl ScanFailure {
    /// A failed call of a scanner to `service` (`prefix:operation`),
    /// classified: denied (the role lacks it), or retryable.
    pub fn of_call<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        service: &str,
        prefix: &str,
        grant: &str,
        operation: &str,
        err: SdkError<E, aws_sdk_iam::config::http::HttpResponse>,
    ) -> ScanFailure {
        use crate::aws::errors::ErrorClass;
        match crate::aws::errors::classify(&err) {
            ErrorClass::AccessDenied => ScanFailure {
                code: ScanErrorCode::AccessDenied,
                message: format!(
                    "the role may not call {prefix}:{operation}; attach {grant} to it"
                ),
                retryable: false,
            },
            ErrorClass::Throttling => ScanFailure {
                code: ScanErrorCode::Throttled,
                message: format!("{service} throttled {operation}; the scan will be retried"),
                retryable: true,
            },
            ErrorClass::Timeout => ScanFailure {
                code: ScanErrorCode::Timeout,
                message: format!("{service} did not answer {operation}; the scan will be retried"),
                retryable: true,
            },
            _ => ScanFailure {
                code: ScanErrorCode::ScannerError,
                message: format!(
                    "{service} {operation} failed: {}",
                    aws_sdk_iam::error::DisplayErrorContext(&err)
                ),
                retryable: true,
            },
        }
    }
}
