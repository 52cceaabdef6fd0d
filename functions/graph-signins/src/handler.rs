//! The handler: an EventBridge scheduled event (or `{}`) in, the run summary out.

use auditlake_core::config::Config;
use auditlake_core::graph::GraphSource;
use auditlake_core::invocation::{InvocationError, ScheduledEvent, run_scheduled};
use auditlake_core::lake::Lake;
use auditlake_core::pipeline::RunSummary;
use auditlake_core::secrets::SecretStore;
use auditlake_core::{Classify, ErrorClass};
use lambda_runtime::{Diagnostic, LambdaEvent};

/// Built once per execution environment and borrowed by every invocation.
#[derive(Debug)]
pub struct Deps {
    pub lake: Lake,
    pub source: GraphSource,
}

impl Deps {
    pub async fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, HandlerError> {
        let url = config.require_lake_url().map_err(|e| InvocationError::new(e.to_string(), ErrorClass::NonRetryable))?;
        let lake = Lake::open(url, sdk).await.map_err(|e| InvocationError::from_error(&e))?;
        let secrets = SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(sdk));
        let kind = auditlake_core::graph::signins(config);
        let source = auditlake_core::graph::source_from_config(config, &secrets, kind).await.map_err(|e| InvocationError::new(e.to_string(), e.class()))?;
        Ok(Deps { lake, source })
    }
}

/// Lambda's view of an [`InvocationError`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] pub InvocationError);

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        Diagnostic { error_type: e.0.class.as_str().to_string(), error_message: e.0.message }
    }
}

/// Collects the window that ends at the event's time (minus the lag), for every tenant.
pub async fn handle(event: LambdaEvent<ScheduledEvent>, deps: &Deps) -> Result<RunSummary, HandlerError> {
    Ok(run_scheduled(&deps.source, &deps.lake, event.payload, &event.context.request_id).await?)
}
