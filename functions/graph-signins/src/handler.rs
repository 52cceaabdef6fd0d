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

#[cfg(test)]
mod tests {
    //! The whole Lambda path: secrets from SSM (moto), tokens and pages from the fake Graph,
    //! Parquet in a local lake.
    use super::*;
    use auditlake_testkit::graph::{self as fake, FakeGraph, FakeGraphConfig};
    use auditlake_testkit::moto::Moto;
    use aws_sdk_ssm::types::ParameterType;
    use lambda_runtime::Context;

    const TENANT: &str = "11111111-2222-3333-4444-555555555555";

    #[tokio::test]
    async fn secrets_from_ssm_pages_from_graph_parquet_in_the_lake() {
        let moto = Moto::from_env();
        let account = moto.new_account().await;
        let ssm = aws_sdk_ssm::Client::new(&account.sdk);
        for (name, value) in [("/auditlake/graph/client-id", "app-1"), ("/auditlake/graph/client-secret", "lambda-canary-secret")] {
            ssm.put_parameter().name(name).value(value).r#type(ParameterType::SecureString).send().await.unwrap();
        }
        let fake = FakeGraph::start(FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }).await;
        fake.register_app(TENANT, "app-1", fake::AppCredential::Secret("lambda-canary-secret".into()));
        let t = chrono::Utc::now();
        fake.add_signins(TENANT, (0..40).map(|i| fake::signin_record(&format!("s-{i}"), t - chrono::Duration::minutes(50) + chrono::Duration::seconds(i * 60), "nonInteractiveUser")).collect());

        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("AUDITLAKE_LAKE_URL", dir.path().to_str().unwrap().to_string()),
            ("AUDITLAKE_TENANT_IDS", TENANT.to_string()),
            ("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/auditlake/graph/client-id".into()),
            ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "/auditlake/graph/client-secret".into()),
            ("AUDITLAKE_GRAPH_URL", fake.base_url()),
            ("AUDITLAKE_LOGIN_URL", fake.base_url()),
            // A short first window and no pacing keep the test to a few requests.
            ("AUDITLAKE_INITIAL_LOOKBACK", "1h".into()),
            ("AUDITLAKE_GRAPH_REQUESTS_PER_10S", "1000".into()),
        ];
        let map: std::collections::BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let config = Config::from_lookup(|n| map.get(n).cloned(), map.keys().map(String::as_str)).unwrap();
        let deps = Deps::new(&config, &account.sdk).await.unwrap();

        let mut context = Context::default();
        context.request_id = "req-graph".into();
        let event = serde_json::from_value(serde_json::json!({ "time": t })).unwrap();
        let summary = handle(LambdaEvent::new(event, context), &deps).await.unwrap();
        assert_eq!(summary.rows, 40);
        assert_eq!(summary.table, "entra_signins");
        assert!(summary.units[0].files_written.iter().all(|f| f.starts_with("entra_signins/dt=")));
        assert!(!format!("{deps:?}").contains("lambda-canary-secret"));
    }
}
