//! The handler: an EventBridge scheduled event (or `{}`) in, the run summary out.

use auditlake_core::config::Config;
use auditlake_core::iam::IamSource;
use auditlake_core::invocation::{InvocationError, ScheduledEvent, open_lake, run_scheduled};
use auditlake_core::lake::Lake;
use auditlake_core::pipeline::RunSummary;
use lambda_runtime::LambdaEvent;

/// Built once per execution environment and borrowed by every invocation.
#[derive(Debug)]
pub struct Deps {
    pub lake: Lake,
    pub source: IamSource,
}

impl Deps {
    pub async fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, InvocationError> {
        let lake = open_lake(config, sdk).await?;
        Ok(Deps {
            lake,
            source: IamSource::new(sdk, config.accounts.clone(), config.iam_concurrency)
                .with_account_concurrency(config.account_concurrency),
        })
    }
}

/// Runs the IAM pipeline for one scheduled event (its `time` decides the report date).
pub async fn handle(event: LambdaEvent<ScheduledEvent>, deps: &Deps) -> Result<RunSummary, InvocationError> {
    run_scheduled(&deps.source, &deps.lake, event.payload, &event.context.request_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditlake_testkit::moto::Moto;
    use lambda_runtime::Context;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: std::collections::BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|n| map.get(n).cloned(), map.keys().map(String::as_str)).unwrap()
    }

    fn event(json: &str, request_id: &str) -> LambdaEvent<ScheduledEvent> {
        let mut context = Context::default();
        context.request_id = request_id.to_string();
        LambdaEvent::new(serde_json::from_str(json).unwrap(), context)
    }

    #[tokio::test]
    async fn a_scheduled_event_decides_the_report_date_and_returns_the_summary() {
        let moto = Moto::from_env();
        let account = moto.new_account().await;
        account.create_user("ci-bot", 2).await;
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().to_str().unwrap();
        let deps = Deps::new(&config(&[("AUDITLAKE_LAKE_URL", lake)]), &account.sdk).await.unwrap();

        // The shape EventBridge sends for a schedule rule.
        let scheduled = r#"{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",
            "source":"aws.events","account":"123456789012","time":"2026-11-27T06:00:00Z","region":"us-east-1",
            "resources":["arn:aws:events:us-east-1:123456789012:rule/auditlake-iam"],"detail":{}}"#;
        let summary = handle(event(scheduled, "req-1"), &deps).await.unwrap();
        assert_eq!(summary.rows, 2);
        assert_eq!(summary.run_id, "req-1");
        assert_eq!(
            summary.units[0].files_written,
            vec![format!("aws_iam_access_keys/dt=2026-11-27/{}-0000.parquet", account.id)]
        );

        // `{}` (a manual invocation) means now.
        let summary = handle(event("{}", "req-2"), &deps).await.unwrap();
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert!(summary.units[0].files_written[0].contains(&format!("dt={today}")));
    }

    #[test]
    fn configuration_errors_are_non_retryable_and_name_the_variable() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let err = runtime.block_on(Deps::new(&config(&[]), &aws_config::SdkConfig::builder().build())).unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "NonRetryable");
        assert!(diagnostic.error_message.contains("AUDITLAKE_LAKE_URL"), "{}", diagnostic.error_message);
    }
}
