//! The `auditlake` binary as a user runs it.

use std::process::Command;

fn auditlake(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditlake"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("auditlake runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
    let moto = auditlake_testkit::moto::Moto::from_env();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let account = runtime.block_on(async {
        let account = moto.new_account().await;
        account.create_user("cli-user", 1).await;
        account
    });
    // The CLI takes credentials from the environment, like any AWS tool.
    let creds = runtime.block_on(async {
        use aws_credential_types::provider::ProvideCredentials;
        account.sdk.credentials_provider().unwrap().provide_credentials().await.unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = auditlake(
        &["collect", "iam-keys", "--lake", dir.path().to_str().unwrap(), "--time", "2026-11-01T06:00:00Z"],
        &[
            ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
            ("AWS_SESSION_TOKEN", creds.session_token().unwrap()),
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["rows"], 1);
    assert_eq!(summary["units"][0]["unit"], account.id.as_str());
    let file = dir.path().join(format!("aws_iam_access_keys/dt=2026-11-01/{}-0000.parquet", account.id));
    assert!(file.exists(), "{err}");
    assert!(err.contains("wrote 1 rows"), "{err}");
}
