//! The Lambda path of every source, as `functions/*/src/main.rs` wires it: `Runtime::start`
//! from a configuration, then `lambda::handle` with the event EventBridge sends. Secrets come
//! from SSM (moto), tokens and pages from the fake Graph, Parquet lands in a local lake.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use auditlake_core::config::Config;
use auditlake_core::graph::{GraphKind, GraphSource};
use auditlake_core::iam::IamSource;
use auditlake_core::pipeline::RunSummary;
use auditlake_core::runtime::{FromConfig, InvocationError, Runtime, ScheduledEvent, lambda};
use auditlake_testkit::graph::{self as fake, LambdaEnv};
use auditlake_testkit::moto::{Moto, TestAccount};
use chrono::{Duration, Utc};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};

fn config(vars: &std::collections::BTreeMap<String, String>) -> Config {
    Config::from_lookup(|n| vars.get(n).cloned(), vars.keys().map(String::as_str)).unwrap()
}

fn vars(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn event(json: &str, request_id: &str) -> LambdaEvent<ScheduledEvent> {
    let mut context = Context::default();
    context.request_id = request_id.to_string();
    LambdaEvent::new(serde_json::from_str(json).unwrap(), context)
}

async fn start<S: FromConfig>(config: &Config, account: &TestAccount, kind: S::Kind) -> lambda::Started<S> {
    Runtime::start(config, Some(&account.sdk), kind).await
}

async fn invoke<S: FromConfig>(started: &lambda::Started<S>, json: &str, id: &str) -> Result<RunSummary, Diagnostic> {
    lambda::handle(started, event(json, id)).await.map_err(Diagnostic::from)
}

#[tokio::test]
async fn iam_keys_a_scheduled_event_decides_the_report_date_and_returns_the_summary() {
    let account = Moto::from_env().new_account().await;
    account.create_user("ci-bot", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let started = start::<IamSource>(&config(&vars(&[("AUDITLAKE_LAKE_URL", dir.path().to_str().unwrap())])), &account, ()).await;

    // The shape EventBridge sends for a schedule rule.
    let scheduled = r#"{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",
        "source":"aws.events","account":"123456789012","time":"2026-11-27T06:00:00Z","region":"us-east-1",
        "resources":["arn:aws:events:us-east-1:123456789012:rule/auditlake-iam"],"detail":{}}"#;
    let summary = invoke(&started, scheduled, "req-1").await.unwrap();
    assert_eq!(summary.rows, 2);
    assert_eq!(summary.run_id, "req-1");
    assert_eq!(summary.units[0].files_written, vec![format!("aws_iam_access_keys/dt=2026-11-27/{}-0000.parquet", account.id)]);

    // `{}` (a manual invocation) means now.
    let summary = invoke(&started, "{}", "req-2").await.unwrap();
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert!(summary.units[0].files_written[0].contains(&format!("dt={today}")));
}

#[tokio::test]
async fn graph_signins_and_audits_secrets_from_ssm_pages_from_graph_parquet_in_the_lake() {
    let account = Moto::from_env().new_account().await;
    let env = LambdaEnv::start(&account).await;
    let t = Utc::now();
    let at = |i: i64| t - Duration::minutes(50) + Duration::seconds(i * 60);
    env.fake
        .add_signins(env.tenant, (0..40).map(|i| fake::signin_record(&format!("s-{i}"), at(i), "nonInteractiveUser")).collect());
    env.fake.add_audits(env.tenant, (0..30).map(|i| fake::audit_record(&fake::audit_id(i as u64), at(i))).collect());
    let config = config(&env.vars);
    let scheduled = serde_json::json!({ "time": t }).to_string();

    for (kind, table, rows) in
        [(GraphKind::SignIns, "entra_signins", 40), (GraphKind::DirectoryAudits, "entra_directory_audits", 30)]
    {
        let started = start::<GraphSource>(&config, &account, kind).await;
        let summary = invoke(&started, &scheduled, "req-graph").await.unwrap();
        assert_eq!(summary.rows, rows, "{table}");
        assert!(summary.units[0].files_written.iter().all(|f| f.starts_with(&format!("{table}/dt="))), "{summary:?}");
        assert!(!format!("{started:?}").contains(env.secret));
    }
}

#[tokio::test]
async fn start_up_errors_reach_every_invocation_as_non_retryable_diagnostics() {
    let account = Moto::from_env().new_account().await;
    let env = LambdaEnv::start(&account).await;

    // Bad configuration: no lake.
    let started = start::<IamSource>(&config(&vars(&[])), &account, ()).await;
    for id in ["req-1", "req-2"] {
        let diagnostic = invoke(&started, "{}", id).await.unwrap_err();
        assert_eq!(diagnostic.error_type, "NonRetryable");
        assert!(diagnostic.error_message.contains("AUDITLAKE_LAKE_URL"), "{}", diagnostic.error_message);
    }

    // A parameter the configuration names but SSM does not have.
    let mut vars = env.vars.clone();
    vars.insert("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM".into(), "/auditlake/graph/missing".into());
    let started = start::<GraphSource>(&config(&vars), &account, GraphKind::SignIns).await;
    let diagnostic = invoke(&started, "{}", "req-3").await.unwrap_err();
    assert_eq!(diagnostic.error_type, "NonRetryable");
    assert!(diagnostic.error_message.contains("/auditlake/graph/missing"), "{}", diagnostic.error_message);
    // The message says it once (no "cause: cause" chains).
    assert_eq!(diagnostic.error_message.matches("does not exist").count(), 1, "{}", diagnostic.error_message);

    // A Graph run without tenants names the variable.
    let mut vars = env.vars.clone();
    vars.remove("AUDITLAKE_TENANT_IDS");
    let started = start::<GraphSource>(&config(&vars), &account, GraphKind::DirectoryAudits).await;
    let err: &InvocationError = started.as_ref().unwrap_err();
    assert!(err.message.starts_with("AUDITLAKE_TENANT_IDS is not set"), "{}", err.message);
}
