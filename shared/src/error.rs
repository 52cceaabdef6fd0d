//! Error classes shared by every module: is a failure worth retrying?
//!
//! Each module has its own typed error (thiserror); all of them implement [`Classify`] so the
//! Lambda handlers can report `Retryable` (throttling, 5xx, timeouts) or `NonRetryable`
//! (configuration, access denied, bad input) without inspecting strings.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Whether running the same work again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorClass {
    Retryable,
    NonRetryable,
}

impl ErrorClass {
    /// The Lambda `errorType` for this class.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::NonRetryable => "NonRetryable",
        }
    }
}

/// Implemented by every error type of the crate.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}

/// Error codes AWS services use for throttling and transient faults.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies an AWS SDK error: transport failures, throttling and 5xx are retryable;
/// everything the service rejected on purpose (access denied, validation, missing entity) is not.
pub fn classify_sdk_error<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> ErrorClass
where
    R: std::fmt::Debug,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorClass::Retryable,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if TRANSIENT_CODES.contains(&code) { ErrorClass::Retryable } else { ErrorClass::NonRetryable }
        }
        // Construction failures are bugs or bad input: retrying does not help.
        _ => ErrorClass::NonRetryable,
    }
}

/// One line describing an SDK error: the service's code and message when there is one,
/// otherwise the transport error chain. (The SDK's `Display` says only "service error".)
pub fn describe_sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
            }
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}
