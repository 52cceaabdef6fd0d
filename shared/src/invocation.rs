//! What every scheduled entry point (the Lambdas) shares: the event it accepts, the error it
//! reports, and the step from an event to a [`RunSummary`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::{Classify, ErrorClass};
use crate::lake::Lake;
use crate::pipeline::{self, RunRequest, RunSummary, Source};

/// The part of an EventBridge scheduled event we use; `{}` is accepted too (manual runs).
#[derive(Debug, Default, Deserialize)]
pub struct ScheduledEvent {
    /// The scheduled time: it decides the window (or the report date), so a retried event
    /// re-pulls and rewrites exactly the same data.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
}

/// An invocation failure with its class; Lambdas turn it into a `Diagnostic` whose
/// `errorType` is `Retryable` or `NonRetryable`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InvocationError {
    pub message: String,
    pub class: ErrorClass,
}

impl InvocationError {
    pub fn new(message: impl Into<String>, class: ErrorClass) -> Self {
        InvocationError { message: message.into(), class }
    }

    /// From any classified error.
    pub fn from_error<E: std::fmt::Display + Classify>(e: &E) -> Self {
        InvocationError::new(e.to_string(), e.class())
    }
}

#[cfg(feature = "lambda")]
impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.class.as_str().to_string(), error_message: e.message }
    }
}

/// Opens the configured lake (`AUDITLAKE_LAKE_URL`), the first thing every Lambda does.
pub async fn open_lake(config: &crate::config::Config, sdk: &aws_config::SdkConfig) -> Result<Lake, InvocationError> {
    let url = config.require_lake_url().map_err(|e| InvocationError::new(e.to_string(), ErrorClass::NonRetryable))?;
    Lake::open(url, sdk).await.map_err(|e| InvocationError::from_error(&e))
}

/// Runs `source` for one scheduled event. Units that succeeded are written even when others
/// fail; the invocation then fails naming the failed units, so the OnFailure destination
/// alerts. A run that stopped on its time budget succeeds with `more_to_do` in the summary.
pub async fn run_scheduled<S: Source>(
    source: &S,
    lake: &Lake,
    event: ScheduledEvent,
    run_id: &str,
) -> Result<RunSummary, InvocationError> {
    let request = RunRequest::new(event.time, run_id);
    let summary = pipeline::run(source, lake, &request).await.map_err(|e| InvocationError::from_error(&e))?;
    match summary.failure_class() {
        None => Ok(summary),
        Some(class) => Err(InvocationError::new(summary.failure_message(), class)),
    }
}
