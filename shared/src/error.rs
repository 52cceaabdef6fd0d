//! Error classes shared by every module: is a failure worth retrying?
//!
//! Each module has its own typed error (thiserror); all of them implement [`Classify`] so the
//! Lambda handlers can report `Retryable` (throttling, 5xx, timeouts) or `NonRetryable`
//! (configuration, access denied, bad input) without inspecting strings.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
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

/// Classifies an AWS SDK error: transport failures, throttling, transient codes and 5xx are
/// retryable; everything the service rejected on purpose (access denied, validation, missing
/// entity) is not. Throttling and transient codes are the SDK's own lists (the ones its retry
/// strategy uses), so this stays in step with the SDK.
pub fn classify_sdk_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorClass::Retryable,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let transient = THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code);
            if transient || service.raw().status().is_server_error() { ErrorClass::Retryable } else { ErrorClass::NonRetryable }
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

/// Exponential backoff, the one policy of every retry and polling loop: attempt `n` (from 1)
/// waits `base · 2^(n−1)`, capped at `max`; with `jitter`, a random delay in `[d/2, d]` so
/// that clients that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: std::time::Duration,
    pub max: std::time::Duration,
    pub jitter: bool,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = the first retry).
    pub fn delay(&self, attempt: u32) -> std::time::Duration {
        let d = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.max);
        if self.jitter { d.mul_f64(0.5 + fastrand::f64() * 0.5) } else { d }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitter_stays_in_the_upper_half() {
        let b = Backoff { base: Duration::from_millis(500), max: Duration::from_secs(5), jitter: false };
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
        let j = Backoff { jitter: true, ..b };
        for _ in 0..100 {
            let d = j.delay(3);
            assert!(d >= Duration::from_millis(1000) && d <= Duration::from_millis(2000), "{d:?}");
        }
    }
}
