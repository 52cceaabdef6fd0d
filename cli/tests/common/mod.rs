//! What the CLI's test binaries share: running the `auditlake` binary this build made, and
//! reading the answers of the query files it runs.

#![allow(dead_code, reason = "each test binary uses a part of this module")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` (none when it does not exist), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The Athena query files' stems (not the engine variants).
pub fn query_stems() -> Vec<String> {
    let files = std::fs::read_dir(repo().join("athena/queries")).expect("athena/queries");
    let mut stems: Vec<String> = files
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".sql").map(String::from))
        .filter(|s| !s.contains('.'))
        .collect();
    stems.sort();
    stems
}

/// Query answers by query file stem: a JSON array of objects (the CLI) or
/// `{"columns", "rows"}` (the DuckDB runner).
pub type Answers = BTreeMap<String, serde_json::Value>;

/// A row of an answer, keyed by column name.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// Every query file run by `auditlake query --file` over `lake`.
pub fn run_queries_in_datafusion(lake: &Path) -> Answers {
    let mut answers = Answers::new();
    for stem in query_stems() {
        let path = repo().join(format!("athena/queries/{stem}.sql"));
        let (code, out, err) =
            auditlake(&["query", "--file", path.to_str().unwrap(), "--lake", lake.to_str().unwrap(), "--format", "json"], &[]);
        assert_eq!(code, 0, "{stem} in DataFusion: {err}");
        answers.insert(stem.clone(), serde_json::from_str(&out).unwrap_or_else(|e| panic!("{stem}: {e}: {out}")));
    }
    answers
}

/// The rows of `query` as objects keyed by column name.
pub fn rows(answers: &Answers, query: &str) -> Vec<Row> {
    let a = answers.get(query).unwrap_or_else(|| panic!("no answer for {query}; have {:?}", answers.keys()));
    if let Some(objects) = a.as_array() {
        return objects.iter().map(|o| o.as_object().unwrap().clone()).collect();
    }
    let columns: Vec<String> = serde_json::from_value(a["columns"].clone()).unwrap();
    a["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| columns.iter().cloned().zip(r.as_array().unwrap().iter().cloned()).collect())
        .collect()
}

/// The values of column `name` in `rows`.
pub fn col(rows: &[Row], name: &str) -> Vec<serde_json::Value> {
    rows.iter().map(|r| r.get(name).unwrap_or_else(|| panic!("no column {name}: {r:?}")).clone()).collect()
}

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
