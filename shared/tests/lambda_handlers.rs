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

/// What `lambda::start` does, with this configuration and moto's SDK settings.
async fn start<S: FromConfig + 'static>(config: &Config, account: &TestAccount, kind: S::Kind) -> lambda::Started<S>
where
    S::Kind: Clone + Sync + 'static,
{
    let (config, sdk) = (config.clone(), account.sdk.clone());
    lambda::Started::new(move || {
        let (config, sdk, kind) = (config.clone(), sdk.clone(), kind.clone());
        async move { Runtime::start(&config, Some(&sdk), kind).await }
    })
    .await
}

async fn invoke<S: FromConfig + 'static>(started: &lambda::Started<S>, json: &str, id: &str) -> Result<RunSummary, Diagnostic> {
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
    let err: InvocationError = started.runtime().await.unwrap_err();
    assert!(err.message.starts_with("AUDITLAKE_TENANT_IDS is not set"), "{}", err.message);
}

/// The first deploy runs before `put-secrets.sh`: once the parameter is stored, the next
/// invocation of the same (warm) execution environment starts and runs, no cold start needed.
#[tokio::test]
async fn a_failed_start_up_is_tried_again_by_the_next_invocation() {
    let account = Moto::from_env().new_account().await;
    let env = LambdaEnv::start(&account).await;
    let mut vars = env.vars.clone();
    vars.insert("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM".into(), "/auditlake/graph/stored-later".into());
    let started = start::<GraphSource>(&config(&vars), &account, GraphKind::SignIns).await;
    assert!(!started.is_started());
    let diagnostic = invoke(&started, "{}", "req-1").await.unwrap_err();
    assert_eq!(diagnostic.error_type, "NonRetryable");
    assert!(diagnostic.error_message.contains("/auditlake/graph/stored-later"), "{}", diagnostic.error_message);

    aws_sdk_ssm::Client::new(&account.sdk)
        .put_parameter()
        .name("/auditlake/graph/stored-later")
        .value(env.secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let summary = invoke(&started, "{}", "req-2").await.unwrap();
    assert_eq!(summary.units_failed, 0);
    assert!(started.is_started());
}

/// A schedule of a tenant group passes `tenant_ids` in the event: only those tenants run (one
/// not in `AUDITLAKE_TENANT_IDS` too), a bad id is refused as NonRetryable, and the IAM
/// function refuses tenants altogether.
#[tokio::test]
async fn a_tenant_group_in_the_event_replaces_the_configured_tenants() {
    const GROUP_TENANT: &str = "22222222-3333-4444-5555-666666666666";
    let account = Moto::from_env().new_account().await;
    let env = LambdaEnv::start(&account).await;
    env.fake.register_app(GROUP_TENANT, "app-1", fake::AppCredential::Secret(env.secret.into()));
    let t = Utc::now();
    let at = |i: i64| t - Duration::minutes(40) + Duration::seconds(i * 60);
    env.fake
        .add_signins(GROUP_TENANT, (0..7).map(|i| fake::signin_record(&format!("g-{i}"), at(i), "interactiveUser")).collect());
    env.fake.add_signins(env.tenant, (0..3).map(|i| fake::signin_record(&format!("e-{i}"), at(i), "interactiveUser")).collect());
    let started = start::<GraphSource>(&config(&env.vars), &account, GraphKind::SignIns).await;

    let group = serde_json::json!({ "time": t, "tenant_ids": GROUP_TENANT }).to_string();
    let summary = invoke(&started, &group, "req-group").await.unwrap();
    assert_eq!(summary.units.len(), 1);
    assert_eq!(summary.units[0].unit, GROUP_TENANT);
    assert_eq!(summary.rows, 7);
    // A list works too, and several tenants run in one invocation.
    let both = serde_json::json!({ "time": t, "tenant_ids": [GROUP_TENANT, env.tenant] }).to_string();
    let summary = invoke(&started, &both, "req-both").await.unwrap();
    assert_eq!(summary.units.iter().map(|u| u.unit.as_str()).collect::<Vec<_>>(), [GROUP_TENANT, env.tenant]);

    for bad in [r#"{"tenant_ids": "not a tenant!"}"#, r#"{"tenant_ids": " , "}"#] {
        let diagnostic = invoke(&started, bad, "req-bad").await.unwrap_err();
        assert_eq!(diagnostic.error_type, "NonRetryable", "{bad}");
        assert!(diagnostic.error_message.contains("tenant_ids"), "{}", diagnostic.error_message);
    }
    let iam =
        start::<IamSource>(&config(&vars(&[("AUDITLAKE_LAKE_URL", env.vars["AUDITLAKE_LAKE_URL"].as_str())])), &account, ())
            .await;
    let diagnostic = invoke(&iam, &group, "req-iam").await.unwrap_err();
    assert_eq!(diagnostic.error_type, "NonRetryable");
    assert!(diagnostic.error_message.contains("tenant_ids"), "{}", diagnostic.error_message);
}

/// The Embedded Metric Format lines of a real run: names, dimensions and units the stack's
/// alarms watch, and a per-tenant lag that is the distance from now to the tenant's cursor.
#[tokio::test]
async fn a_run_emits_its_metrics_as_embedded_metric_format_lines() {
    let account = Moto::from_env().new_account().await;
    let env = LambdaEnv::start(&account).await;
    let t = Utc::now();
    env.fake.add_signins(
        env.tenant,
        (0..5).map(|i| fake::signin_record(&format!("m-{i}"), t - Duration::minutes(30 + i), "interactiveUser")).collect(),
    );
    let started = start::<GraphSource>(&config(&env.vars), &account, GraphKind::SignIns).await;
    let summary = invoke(&started, &serde_json::json!({ "time": t }).to_string(), "req-emf").await.unwrap();
    let now = t + Duration::seconds(30);
    let lines: Vec<serde_json::Value> =
        auditlake_core::metrics::emf_lines(&summary, now).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");

    let run = &lines[0];
    let directive = &run["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "auditlake");
    assert_eq!(directive["Dimensions"], serde_json::json!([["Table"]]));
    let metrics: Vec<(String, String)> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap().to_string(), m["Unit"].as_str().unwrap().to_string()))
        .collect();
    let expected =
        [("RowsWritten", "Count"), ("UnitsFailed", "Count"), ("Quarantined", "Count"), ("MaxCursorLagSeconds", "Seconds")];
    assert_eq!(metrics, expected.map(|(n, u)| (n.to_string(), u.to_string())));
    assert_eq!(run["Table"], "entra_signins");
    assert_eq!(run["RowsWritten"], 5);
    assert_eq!(run["UnitsFailed"], 0);
    assert_eq!(run["_aws"]["Timestamp"], now.timestamp_millis());
    // Every metric named in the directive has a numeric value at the top level.
    for (name, _) in &metrics {
        assert!(run[name].is_number(), "{name}: {run}");
    }

    let unit = &lines[1];
    assert_eq!(unit["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Table", "Unit"]]));
    assert_eq!(
        unit["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        serde_json::json!([{"Name": "CursorLagSeconds", "Unit": "Seconds"}])
    );
    assert_eq!(unit["Unit"], env.tenant);
    let cursor = summary.units[0].cursor.unwrap();
    let lag = unit["CursorLagSeconds"].as_f64().unwrap();
    assert!((lag - (now - cursor).num_milliseconds() as f64 / 1000.0).abs() < 0.001, "{lag}");
    // The window ends the configured lag (2 min) before the event: the lag is at least that.
    assert!(lag >= 120.0, "{lag}");
    assert_eq!(run["MaxCursorLagSeconds"], unit["CursorLagSeconds"]);
}
