//! The `auditlake` binary as a user runs it.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::process::Command;

mod common;
use common::{auditlake, env_refs, moto_account_with_user};

#[test]
fn bad_values_are_named_and_nothing_panics() {
    let (code, _, err) = auditlake(&["collect", "iam-keys", "--lake", "gs://bucket/x"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("gs://bucket/x"), "{err}");

    let (code, _, err) = auditlake(&["collect", "iam-keys", "--lake", "/tmp/x"], &[("AUDITLAKE_OVERLAP", "soon")]);
    assert_eq!(code, 2);
    assert!(err.contains("AUDITLAKE_OVERLAP") && err.contains("soon"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let (code, _, err) = auditlake(&["collect", "iam-keys"], &[("AUDITLAKE_LAKE_URL", "")]);
    assert_eq!(code, 2);
    assert!(err.contains("AUDITLAKE_LAKE_URL"), "{err}");
}

#[test]
fn collect_iam_keys_writes_the_lake_and_prints_the_summary() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The CLI takes credentials from the environment, like any AWS tool.
    let (account, env) = moto_account_with_user(&runtime, "cli-user", 1);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = auditlake(
        &["collect", "iam-keys", "--lake", dir.path().to_str().unwrap(), "--time", "2026-11-01T06:00:00Z"],
        &env_refs(&env),
    );
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["rows"], 1);
    assert_eq!(summary["units"][0]["unit"], account.id.as_str());
    let file = dir.path().join(format!("aws_iam_access_keys/dt=2026-11-01/{}-0000.parquet", account.id));
    assert!(file.exists(), "{err}");
    assert!(err.contains("wrote 1 rows"), "{err}");
}

/// `collect signins` against testkit's fake Graph, secrets from the environment (a local run
/// without SSM). Run twice: with stderr piped (plain log lines) and under a pseudo-terminal
/// (`script`), where progress bars are drawn instead of the progress lines.
#[test]
fn collect_signins_from_graph_with_progress_on_a_terminal() {
    use auditlake_testkit::graph::{AppCredential, FakeGraph, FakeGraphConfig, signin_record};
    const TENANT: &str = "11111111-2222-3333-4444-555555555555";
    const SECRET: &str = "cli-canary-secret";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeGraph::start(FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }));
    fake.register_app(TENANT, "app-1", AppCredential::Secret(SECRET.into()));
    let now = chrono::Utc::now();
    let records = (0..300)
        .map(|i| {
            signin_record(
                &format!("cli-{i:04}"),
                now - chrono::Duration::minutes(170) + chrono::Duration::seconds(30 * i),
                "interactiveUser",
            )
        })
        .collect();
    fake.add_signins(TENANT, records);
    let base = fake.base_url();
    let env = |lake: &str| -> Vec<(&'static str, String)> {
        vec![
            ("AUDITLAKE_LAKE_URL", lake.to_string()),
            ("AUDITLAKE_TENANT_IDS", TENANT.into()),
            ("AUDITLAKE_GRAPH_URL", base.clone()),
            ("AUDITLAKE_LOGIN_URL", base.clone()),
            ("AUDITLAKE_SECRETS", "env".into()),
            ("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/auditlake/graph/client-id".into()),
            ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "/auditlake/graph/client-secret".into()),
            ("AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_ID", "app-1".into()),
            ("AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_SECRET", SECRET.into()),
            ("AUDITLAKE_INITIAL_LOOKBACK", "3h".into()),
            ("AUDITLAKE_GRAPH_REQUESTS_PER_10S", "1000".into()),
        ]
    };

    // Piped: the summary on stdout, progress as log lines.
    let dir = tempfile::tempdir().unwrap();
    let vars = env(dir.path().to_str().unwrap());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out, err) = auditlake(&["collect", "signins"], &vars);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["rows"], 300, "{out}");
    assert!(err.contains("slice done") && err.contains("done_percent=100"), "{err}");
    assert!(!err.contains(SECRET) && !out.contains(SECRET), "the client secret leaked");

    // On a terminal: bars, no progress lines, the same result.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("script");
    let line = format!("{} collect signins 2>&1 >/dev/null", env!("CARGO_BIN_EXE_auditlake"));
    cmd.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
    for (k, v) in env(dir.path().to_str().unwrap()) {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains("entra_signins 11111111-2222-3333-4444-555555555555"), "no progress bar: {screen}");
    assert!(screen.contains("100%") && screen.contains("300 rows"), "{screen}");
    assert!(!screen.contains("slice done"), "progress lines are replaced by the bar: {screen}");
    assert!(screen.contains("wrote 300 rows"), "{screen}");
    assert!(!screen.contains(SECRET), "the client secret leaked");
    drop(fake);
}

/// The README's local run, checked from outside with pyarrow (scripts/checks/): the Parquet a
/// user gets has the DESIGN.md columns and types, and no full key id is anywhere. Needs the
/// Python venv of scripts/test.sh on PATH (moto, boto3, pyarrow), as the moto tests need moto.
#[test]
fn collect_iam_keys_output_reads_back_in_pyarrow() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/checks/cli_iam_keys_pyarrow.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_auditlake"))
        .output()
        .expect("python3 runs (scripts/test.sh puts its venv first on PATH)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pyarrow check failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("pyarrow read 3 rows"), "{stdout}");
}

/// `collect iam-keys --azure` sends the snapshot after the lake write; `send azure --date`
/// re-sends a date from the lake, skipping what Azure acknowledged; without the settings both
/// say which ones are missing.
#[test]
fn iam_keys_go_to_azure_when_asked_and_a_date_can_be_sent_again() {
    use auditlake_testkit::azure::{FakeAzure, MONITOR_SCOPE};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (account, env) = moto_account_with_user(&runtime, "azure-user", 2);
    let fake = runtime.block_on(FakeAzure::start());
    let tenant = "33333333-4444-5555-6666-777777777777";
    let dcr = "dcr-00112233445566778899aabbccddeeff";
    fake.register_app(tenant, "sender", "cli-azure-canary");
    let columns = auditlake_core::schema::azure::stream_columns().into_iter().map(|(n, t)| (n, t.to_string())).collect();
    fake.declare_stream(dcr, "Custom-AwsIamAccessKeys_CL", columns);
    assert_eq!(MONITOR_SCOPE, "https://monitor.azure.com//.default", "the public cloud's scope, as the CLI asks for it");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().to_str().unwrap();
    let base = fake.base_url();
    let mut all = env_refs(&env);
    let azure = [
        ("AUDITLAKE_AZURE_INGESTION_URL", base.as_str()),
        ("AUDITLAKE_AZURE_DCR_ID", dcr),
        ("AUDITLAKE_AZURE_TENANT_ID", tenant),
        ("AUDITLAKE_LOGIN_URL", base.as_str()),
        ("AUDITLAKE_AZURE_CLIENT_ID_PARAM", "/auditlake/azure/client-id"),
        ("AUDITLAKE_AZURE_CLIENT_SECRET_PARAM", "/auditlake/azure/client-secret"),
        ("AUDITLAKE_SECRETS", "env"),
        ("AUDITLAKE_SECRET_AUDITLAKE_AZURE_CLIENT_ID", "sender"),
        ("AUDITLAKE_SECRET_AUDITLAKE_AZURE_CLIENT_SECRET", "cli-azure-canary"),
    ];

    // Without --azure nothing is sent, even with the settings present.
    let mut with_azure = all.clone();
    with_azure.extend_from_slice(&azure);
    let (code, _, err) = auditlake(&["collect", "iam-keys", "--lake", lake, "--time", "2026-11-02T06:00:00Z"], &with_azure);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.stats().requests, 0);

    let (code, out, err) =
        auditlake(&["collect", "iam-keys", "--azure", "--lake", lake, "--time", "2026-11-02T06:00:00Z"], &with_azure);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["units"][0]["detail"]["delivered"]["azure"]["rows"], 2, "{summary}");
    assert_eq!(fake.rows().len(), 2);
    assert!(fake.rows().iter().all(|r| r["account_id"] == account.id.as_str() && r["user_name"] == "azure-user"));

    let (code, out, err) = auditlake(&["send", "azure", "--date", "2026-11-02", "--lake", lake], &with_azure);
    assert_eq!(code, 0, "{err}");
    let delivery: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!((delivery["rows"].clone(), delivery["sent"].clone()), (serde_json::json!(2), serde_json::json!(0)), "{out}");
    assert_eq!(fake.rows().len(), 2, "acknowledged batches are not sent again");
    assert!(!err.contains("cli-azure-canary") && !out.contains("cli-azure-canary"));

    // Missing settings are named.
    all.push(("AUDITLAKE_SECRETS", "env"));
    let (code, _, err) = auditlake(&["collect", "iam-keys", "--azure", "--lake", lake], &all);
    assert_ne!(code, 0);
    assert!(err.contains("AUDITLAKE_AZURE_INGESTION_URL"), "{err}");
    let mut partial = all.clone();
    partial.push(("AUDITLAKE_AZURE_INGESTION_URL", base.as_str()));
    let (code, _, err) = auditlake(&["send", "azure", "--date", "2026-11-02", "--lake", lake], &partial);
    assert_ne!(code, 0);
    assert!(err.contains("AUDITLAKE_AZURE_DCR_ID"), "{err}");
}
