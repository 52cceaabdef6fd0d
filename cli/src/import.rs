//! `auditlake import`: files exported elsewhere into the lake, through the collectors' mapping.
//!
//! - Graph exports of sign-ins and directory audits ([`graph::import_file`]): a list response,
//!   a bare array or JSON lines ([`split`]), gzip or not, mapped in parallel, deduplicated on
//!   `id` against the lake, quarantined with file and line.
//! - IAM credential reports ([`credential_report_file`]): the CSV, or the JSON that
//!   `aws iam get-credential-report` prints (which carries the report's time), written as the
//!   IAM collector writes the report it fetches ([`credential_report`]): the same parser and
//!   mapping, one snapshot per account and report date, the account as the file stem.
//!
//! Every imported file is recorded by its content id ([`content_id`]) under
//! `_state/imports/<table>/`, so importing it again changes nothing.

pub mod graph;
pub mod split;

use std::path::Path;

use anyhow::Context;
use auditlake_core::iam::{self, report};
use auditlake_core::lake::Lake;
use auditlake_core::schema::iam_access_keys::TABLE;
use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;

/// What an import of one file wrote.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    pub table: String,
    pub file: String,
    /// The file stem of what it wrote.
    pub stem: String,
    pub rows: u64,
    pub files: u64,
    pub quarantined: u64,
    /// Records skipped because their id was already in the lake or earlier in the file.
    pub duplicates: u64,
    /// When the same bytes were imported before: that import's summary; nothing was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_imported: Option<Box<ImportSummary>>,
    pub files_written: Vec<String>,
}

/// A 128-bit id of the bytes `reader` yields: their XXH3-128 digest, hex. Not a cryptographic
/// hash: the id only has to tell files apart (no adversary forges an export to skip its own
/// import), and XXH3 reads a multi-GB file faster than the disk or page cache can copy it
/// (this pass comes before any record is written, so its time is the import's).
pub fn content_id(mut reader: impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

fn manifest_path(table: &str, digest: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("_state/imports/{table}/{digest}.json"))
}

/// The summary of an earlier import of the file with content id `digest`, if there was one.
pub async fn manifest(lake: &Lake, table: &str, digest: &str) -> anyhow::Result<Option<Box<ImportSummary>>> {
    let path = manifest_path(table, digest);
    match lake.store().get(&path).await {
        Ok(found) => {
            let bytes = found.bytes().await.with_context(|| format!("reading {path}"))?;
            Ok(Some(Box::new(serde_json::from_slice(&bytes).with_context(|| format!("{path} is not an import manifest"))?)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {path}")),
    }
}

/// Records that the file with content id `digest` was imported (after its data is durable).
pub async fn record_manifest(lake: &Lake, table: &str, digest: &str, summary: &ImportSummary) -> anyhow::Result<()> {
    let path = manifest_path(table, digest);
    let body = serde_json::to_vec_pretty(summary)?;
    lake.store().put(&path, body.into()).await.with_context(|| format!("writing {path}"))?;
    Ok(())
}

/// Imports a saved credential report: the CSV (then `generated_at` must say when IAM made it)
/// or the JSON of `aws iam get-credential-report` (`Content`, `GeneratedTime`).
pub async fn credential_report_file(
    lake: &Lake,
    path: &Path,
    generated_at: Option<DateTime<Utc>>,
    run_id: &str,
) -> anyhow::Result<ImportSummary> {
    use base64::Engine;
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("reading {origin}"))?;
    let digest = content_id(&bytes[..]).with_context(|| format!("reading {origin}"))?;
    if let Some(earlier) = manifest(lake, TABLE.name, &digest).await? {
        return Ok(ImportSummary {
            table: TABLE.name.into(),
            file: origin,
            already_imported: Some(earlier),
            ..Default::default()
        });
    }
    let text = String::from_utf8(bytes).with_context(|| format!("{origin} is not UTF-8 text"))?;
    let (csv, generated_at) = if text.trim_start().starts_with('{') {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            content: String,
            generated_time: DateTime<Utc>,
        }
        let response: Response = serde_json::from_str(&text)
            .with_context(|| format!("{origin}: not the JSON of `aws iam get-credential-report` (Content, GeneratedTime)"))?;
        let csv = base64::engine::general_purpose::STANDARD
            .decode(response.content.trim())
            .with_context(|| format!("{origin}: Content is not base64"))?;
        (String::from_utf8(csv).with_context(|| format!("{origin}: the report is not UTF-8"))?, response.generated_time)
    } else {
        let at = generated_at.with_context(|| {
            format!("{origin}: a CSV report does not say when IAM generated it: pass --generated-at (the GeneratedTime that get-credential-report printed)")
        })?;
        (text, at)
    };
    let mut summary = credential_report(lake, &origin, &csv, generated_at, run_id).await?;
    summary.file = origin;
    record_manifest(lake, TABLE.name, &digest, &summary).await?;
    Ok(summary)
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
        file: origin.to_string(),
        stem: account,
        rows: stats.rows,
        files: stats.files,
        quarantined: stats.quarantined,
        files_written: stats.paths,
        ..Default::default()
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
    fn content_ids_are_xxh3_128_digests_whatever_the_read_sizes() {
        // Expected values from the reference implementation (Python's `xxhash`, xxh3_128).
        assert_eq!(content_id(&b""[..]).unwrap(), "99aa06d3014798d86001c324468d497f");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(256 * 5_000).collect();
        assert_eq!(content_id(&bytes[..]).unwrap(), "f04a656f7c455c227daf22229bad219a");
        // The same bytes in reads that end off XXH3's 64-byte stripes: one id.
        let split = std::io::Read::chain(&bytes[..7_777], &bytes[7_777..]);
        assert_eq!(content_id(split).unwrap(), "f04a656f7c455c227daf22229bad219a");
    }

    #[test]
    fn the_account_comes_from_the_arns() {
        assert_eq!(report_account("user,arn\nx,arn:aws:iam::210987654321:user/x\n").as_deref(), Some("210987654321"));
        assert_eq!(report_account("user,arn\nx,arn:aws:iam::12:user/x\n"), None);
        assert_eq!(report_account("user,arn\n"), None);
    }
}
