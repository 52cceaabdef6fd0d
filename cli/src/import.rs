//! `auditlake import`: files exported elsewhere into the lake, through the collectors' mapping.
//!
//! [`credential_report`] writes a saved IAM credential report as the IAM collector writes the
//! one it fetches: the same parser and mapping ([`iam::report_snapshot`]), one snapshot per
//! account and report date with the account as the file stem (importing it again rewrites
//! the same file), unreadable lines quarantined.

use anyhow::Context;
use auditlake_core::iam::{self, report};
use auditlake_core::lake::Lake;
use auditlake_core::schema::iam_access_keys::TABLE;
use chrono::{DateTime, Utc};

/// What an import wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    pub table: String,
    pub rows: u64,
    pub files: u64,
    pub quarantined: u64,
    pub files_written: Vec<String>,
}

/// Imports one credential report (CSV text, as `GetCredentialReport` returns it) generated at
/// `generated_at`. The account comes from the report's ARNs; `origin` names the file in errors.
pub async fn credential_report(
    lake: &Lake,
    origin: &str,
    csv: &str,
    generated_at: DateTime<Utc>,
    run_id: &str,
) -> anyhow::Result<ImportSummary> {
    let account = report_account(csv).with_context(|| format!("{origin}: no ARN with an account id in the report"))?;
    let parsed = report::parse(csv).with_context(|| format!("{origin}: not a credential report"))?;
    let snapshot = iam::report_snapshot(&account, parsed, generated_at, run_id);
    let mut writer = lake.table_writer(&TABLE, account.clone());
    iam::write_snapshot(&account, generated_at.date_naive(), snapshot, &mut writer).await?;
    let stats = writer.finish().await?;
    Ok(ImportSummary {
        table: TABLE.name.to_string(),
        rows: stats.rows,
        files: stats.files,
        quarantined: stats.quarantined,
        files_written: stats.paths,
    })
}

/// The account id in the first `arn:aws:iam::<account>:` of the report.
fn report_account(csv: &str) -> Option<String> {
    let start = csv.find("arn:aws:iam::")? + "arn:aws:iam::".len();
    let account: String = csv[start..].chars().take_while(char::is_ascii_digit).collect();
    auditlake_core::config::is_account_id(&account).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_comes_from_the_arns() {
        assert_eq!(report_account("user,arn\nx,arn:aws:iam::210987654321:user/x\n").as_deref(), Some("210987654321"));
        assert_eq!(report_account("user,arn\nx,arn:aws:iam::12:user/x\n"), None);
        assert_eq!(report_account("user,arn\n"), None);
    }
}
