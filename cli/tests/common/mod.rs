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
