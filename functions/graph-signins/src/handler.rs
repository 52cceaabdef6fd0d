//! The handler: an EventBridge scheduled event (or `{}`) in, the run summary out.

use auditlake_core::config::Config;
use auditlake_core::graph::{GraphSource};
use auditlake_core::invocation::{InvocationError, ScheduledEvent, open_lake, run_scheduled};
use auditlake_core::lake::Lake;
use auditlake_core::pipeline::RunSummary;
use auditlake_core::secrets::SecretStore;
use lambda_runtime::LambdaEvent;

/// Built once per execution environment and borrowed by every invocation (the Graph
/// client inside the source keeps its tokens across warm invocations).
#[derive(Debug)]
pub struct Deps {
    pub lake: Lake,
    pub source: GraphSource,
}

impl Deps {
    pub async fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, InvocationError> {
        let lake = open_lake(config, sdk).await?;
        let secrets = SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(sdk));
        let source = auditlake_core::graph::source_from_config(config, &secrets, auditlake_core::graph::signins(config))
            .await
            .map_err(|e| InvocationError::from_error(&e))?;
        Ok(Deps { lake, source })
    }
}

/// Collects the window that ends at the event's time (minus the lag), for every tenant.
pub async fn handle(event: LambdaEvent<ScheduledEvent>, deps: &Deps) -> Result<RunSummary, InvocationError> {
    run_scheduled(&deps.source, &deps.lake, event.payload, &event.context.request_id).await
}
