//! What the CLI's test binaries share: running the `auditlake` binary this build made.

use std::process::Command;

/// Runs `auditlake` with `args` and extra environment; its exit code, stdout and stderr.
pub fn auditlake(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditlake"));
    cmd.args(args).envs(env.iter().copied());
    let out = cmd.output().expect("auditlake runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh moto account in which `user` holds `keys` access keys, and the environment that
/// points the CLI at it the way any AWS tool is pointed: credentials, endpoint, region.
pub fn moto_account_with_user(
    runtime: &tokio::runtime::Runtime,
    user: &str,
    keys: usize,
) -> (auditlake_testkit::moto::TestAccount, Vec<(&'static str, String)>) {
    use aws_credential_types::provider::ProvideCredentials;
    let moto = auditlake_testkit::moto::Moto::from_env();
    let account = runtime.block_on(async {
        let account = moto.new_account().await;
        account.create_user(user, keys).await;
        account
    });
    let creds = runtime.block_on(async {
        account.sdk.credentials_provider().expect("moto credentials").provide_credentials().await.expect("credentials")
    });
    let env = vec![
        ("AWS_ACCESS_KEY_ID", creds.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key().to_string()),
        ("AWS_SESSION_TOKEN", creds.session_token().unwrap_or_default().to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    (account, env)
}

/// `pairs` as the `(&str, &str)` list [`auditlake`] takes.
pub fn env_refs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
