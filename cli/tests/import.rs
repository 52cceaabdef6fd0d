//! `auditlake import` with the files people have: Graph exports in each shape (list response,
//! bare array, JSON lines, gzip), a credential report as CSV and as the CLI's JSON.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::io::Write;
use std::path::Path;

mod common;
use auditlake_testkit::planted;
use common::{auditlake, files_under as walk};
use serde_json::{Value, json};

fn count(lake: &Path, sql: &str) -> u64 {
    let (code, out, err) = auditlake(&["query", "--lake", lake.to_str().unwrap(), "--format", "json", sql], &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out).unwrap()[0]["n"].as_u64().unwrap()
}

fn import(lake: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--lake", lake.to_str().unwrap()]);
    let (code, out, err) = auditlake(&all, &[]);
    let summaries = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (code, summaries, err)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn graph_exports_import_once_with_bad_records_quarantined_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let anchor = planted::anchor(chrono::Utc::now());
    let signins = planted::signins(anchor);

    // JSON lines, with one record the mapping rejects (line 3) and one cut-off line (line 6).
    let mut lines: Vec<String> = signins.iter().map(|r| r.to_string()).collect();
    lines.insert(2, json!({"id": "bad-time", "createdDateTime": "yesterday", "status": {"errorCode": 0}}).to_string());
    lines.insert(5, r#"{"id": "cut-off", "createdDateTime": "2026-11-29T10:00:00Z", "status": {"#.to_string());
    let jsonl = dir.path().join("signins.jsonl");
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();

    let (code, summaries, err) = import(&lake, &["entra_signins", jsonl.to_str().unwrap(), "--tenant", planted::TENANT]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summaries[0]["rows"], signins.len() as u64, "{summaries:?}");
    assert_eq!(summaries[0]["quarantined"], 2);
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM entra_signins"), signins.len() as u64);
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT sign_in_event_type) AS n FROM entra_signins WHERE sign_in_event_type IS NOT NULL"),
        4,
        "event types from the records themselves"
    );
    assert_eq!(
        count(&lake, &format!("SELECT count(*) AS n FROM entra_signins WHERE tenant_id = '{}'", planted::TENANT)),
        signins.len() as u64
    );
    let mut quarantined = String::new();
    for entry in walk(&lake.join("_quarantine")) {
        quarantined.push_str(&std::fs::read_to_string(entry).unwrap());
    }
    let origins: Vec<String> =
        quarantined.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["origin"].as_str().unwrap().to_string()).collect();
    let name = jsonl.display().to_string();
    assert_eq!(origins.len(), 2, "{quarantined}");
    assert!(origins.contains(&format!("{name}:3")) && origins.contains(&format!("{name}:6")), "{origins:?}");

    // The same file again: nothing to do, nothing changed.
    let before = walk(&lake);
    let (code, summaries, err) = import(&lake, &["entra_signins", jsonl.to_str().unwrap(), "--tenant", planted::TENANT]);
    assert_eq!(code, 0, "{err}");
    assert!(summaries[0]["already_imported"].is_object(), "{summaries:?}");
    assert!(err.contains("imported before"), "{err}");
    assert_eq!(walk(&lake), before);

    // A gzipped list response (two pages) that overlaps: only the new records land.
    let extra: Vec<Value> = (0..5)
        .map(|k| {
            let mut r = auditlake_testkit::graph::signin_record(
                &format!("extra-{k}"),
                anchor - chrono::Duration::hours(k + 2),
                "interactiveUser",
            );
            r["status"] = json!({"errorCode": 0, "failureReason": null, "additionalDetails": null});
            r
        })
        .collect();
    let (first, second) = signins.split_at(signins.len() / 2);
    let page = |records: Vec<Value>| json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns", "value": records, "@odata.nextLink": "https://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken=x"});
    let text = format!("{}\n{}\n", page(first.to_vec()), page(second.iter().cloned().chain(extra.clone()).collect()));
    let gz = dir.path().join("signins-pages.json.gz");
    std::fs::write(&gz, gzip(&text)).unwrap();
    let (code, summaries, err) =
        import(&lake, &["entra_signins", gz.to_str().unwrap(), "--tenant", planted::TENANT, "--workers", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (summaries[0]["rows"].clone(), summaries[0]["duplicates"].clone()),
        (json!(5), json!(signins.len())),
        "{summaries:?}"
    );
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM entra_signins"), signins.len() as u64 + 5);
    assert_eq!(count(&lake, "SELECT count(DISTINCT id) AS n FROM entra_signins"), signins.len() as u64 + 5, "no duplicate ids");

    // Directory audits as the portal's bare array.
    let audits = planted::audits(anchor);
    let array = dir.path().join("audits.json");
    std::fs::write(&array, serde_json::to_string_pretty(&audits).unwrap()).unwrap();
    let (code, summaries, err) = import(&lake, &["entra_directory_audits", array.to_str().unwrap(), "--tenant", planted::TENANT]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summaries[0]["rows"], audits.len() as u64);
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM entra_directory_audits WHERE category = 'RoleManagement'"), 1);

    // Graph tables need the tenant.
    let (code, _, err) = import(&lake, &["entra_signins", jsonl.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("--tenant"), "{err}");
    let (code, _, err) = import(&lake, &["entra_signins", jsonl.to_str().unwrap(), "--tenant", "contoso"]);
    assert_ne!(code, 0);
    assert!(err.contains("contoso"), "the bad value is named: {err}");
}

#[test]
fn credential_reports_import_as_csv_and_as_the_clis_json() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let generated = chrono::Utc::now() - chrono::Duration::days(3);
    let csv = planted::credential_report(generated);
    let csv_path = dir.path().join("report.csv");
    std::fs::write(&csv_path, &csv).unwrap();

    let (code, _, err) = import(&lake, &["aws_iam_access_keys", csv_path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("--generated-at"), "{err}");

    let at = generated.to_rfc3339();
    let (code, summaries, err) = import(&lake, &["aws_iam_access_keys", csv_path.to_str().unwrap(), "--generated-at", &at]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summaries[0]["stem"], planted::REPORT_ACCOUNT);
    let keys = summaries[0]["rows"].as_u64().unwrap();
    assert!(keys >= 5, "{summaries:?}");
    let day = generated.date_naive();
    assert_eq!(count(&lake, &format!("SELECT count(*) AS n FROM aws_iam_access_keys WHERE dt = '{day}'")), keys);

    // The JSON that `aws iam get-credential-report` prints, for the next day's report.
    use base64::Engine;
    let next = generated + chrono::Duration::days(1);
    let response = json!({
        "Content": base64::engine::general_purpose::STANDARD.encode(planted::credential_report(next)),
        "ReportFormat": "text/csv",
        "GeneratedTime": next.to_rfc3339(),
    });
    let json_path = dir.path().join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&response).unwrap()).unwrap();
    let (code, _, err) = import(&lake, &["aws_iam_access_keys", json_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&lake, "SELECT count(DISTINCT dt) AS n FROM aws_iam_access_keys"), 2);
    let (code, summaries, _) = import(&lake, &["aws_iam_access_keys", json_path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(summaries[0]["already_imported"].is_object());
}
