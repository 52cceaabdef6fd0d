//! The handler: an EventBridge scheduled event (or `{}`) in, the run summary out.

use auditlake_core::config::Config;
use auditlake_core::graph::{GraphKind, GraphRuntime};
use auditlake_core::invocation::{InvocationError, ScheduledEvent};
use auditlake_core::pipeline::RunSummary;
use lambda_runtime::LambdaEvent;

/// Built once per execution environment and borrowed by every invocation.
pub type Deps = GraphRuntime;

pub async fn deps(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Deps, InvocationError> {
    let kind: GraphKind = auditlake_core::graph::signins(config);
    GraphRuntime::new(config, sdk, kind).await
}

pub async fn handle(event: LambdaEvent<ScheduledEvent>, deps: &Deps) -> Result<RunSummary, InvocationError> {
    deps.handle(event.payload, &event.context.request_id).await
}

#[cfg(test)]
mod tests {
    //! The whole Lambda path: secrets from SSM (moto), tokens and pages from the fake Graph,
    //! Parquet in a local lake.
    use super::*;
    use auditlake_testkit::graph::{self as fake, LambdaEnv};
    use auditlake_testkit::moto::Moto;
    use chrono::{Duration, Utc};
    use lambda_runtime::Context;

    #[tokio::test]
    async fn secrets_from_ssm_pages_from_graph_parquet_in_the_lake() {
        let account = Moto::from_env().new_account().await;
        let env = LambdaEnv::start(&account).await;
        let t = Utc::now();
        env.fake.add_signins(
            env.tenant,
            (0..40)
                .map(|i| {
                    fake::signin_record(
                        &format!("s-{i}"),
                        t - Duration::minutes(50) + Duration::seconds(i * 60),
                        "nonInteractiveUser",
                    )
                })
                .collect(),
        );
        let config = Config::from_lookup(|n| env.vars.get(n).cloned(), env.vars.keys().map(String::as_str)).unwrap();
        let deps = deps(&config, &account.sdk).await.unwrap();

        let mut context = Context::default();
        context.request_id = "req-graph".into();
        let event = serde_json::from_value(serde_json::json!({ "time": t })).unwrap();
        let summary = handle(LambdaEvent::new(event, context), &deps).await.unwrap();
        assert_eq!(summary.rows, 40);
        assert!(summary.units[0].files_written.iter().all(|f| f.starts_with("entra_signins/dt=")));
        assert!(!format!("{deps:?}").contains(env.secret));
    }
}
