//! `auditlake demo` as a newcomer runs it: into an empty folder, then again.
//!
//! The demo's lake must hold the three tables with the planted cases amid the everyday
//! traffic, every query file must answer with them (checked here, query by query, through
//! `auditlake query`), the report must be written with every visual, and a second run must
//! change nothing in the lake.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::path::Path;

mod common;
use common::{Answers, Row, auditlake, col, query_stems, rows, run_queries_in_datafusion};
use serde_json::json;

/// The lake's Parquet files, lake-relative.
fn parquet_files(lake: &Path) -> Vec<String> {
    common::files_under(lake)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| p.strip_prefix(lake).unwrap().display().to_string())
        .collect()
}

fn count(lake: &Path, table: &str) -> u64 {
    let (code, out, err) = auditlake(
        &["query", "--lake", lake.to_str().unwrap(), "--format", "json", &format!("SELECT count(*) AS n FROM {table}")],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["n"].as_u64().unwrap()
}

#[test]
fn the_demo_collects_answers_reports_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (code, out, err) = auditlake(&["demo", "--lake", lake.to_str().unwrap(), "--days", "10", "--tenants", "3"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "the demo talks on stderr: {out}");
    assert!(err.contains("SIMULATED"), "it says the data is simulated: {err}");
    assert!(err.contains("Next, try:"), "{err}");
    assert!(!err.contains("INFO"), "no log lines unless asked: {err}");

    // The three tables, with the everyday traffic of three tenants around the planted cases.
    for table in ["entra_signins", "entra_directory_audits", "aws_iam_access_keys"] {
        assert!(lake.join(table).is_dir(), "{table} exists");
    }
    let signins = count(&lake, "entra_signins");
    assert!(signins > 3 * 10 * 150, "{signins} sign-ins");
    let (code, out, _) = auditlake(
        &[
            "query",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "json",
            "SELECT count(DISTINCT tenant_id) AS t, count(DISTINCT sign_in_event_type) AS e FROM entra_signins",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        json!([{"t": 3, "e": 4}]),
        "three tenants, four event types"
    );

    // Every query file answers with its planted case.
    let answers = run_queries_in_datafusion(&lake);
    check_planted_cases(&answers);

    // The report: every visual drawn.
    let report = std::fs::read_to_string(lake.join("report.html")).unwrap();
    assert_eq!(report.matches("<figure class=\"chart\"").count(), 5, "five charts");
    assert_eq!(report.matches("<figure class=\"table\"").count(), 1, "one table");
    assert!(!report.contains("class=\"empty\""), "no empty visual");
    assert!(report.contains("Simulated data"));
    assert!(!report.contains("src=\"http") && !report.contains("href=\"http"), "nothing fetched");

    // Running it again adds nothing and rewrites nothing.
    let files = parquet_files(&lake);
    let counts: Vec<u64> =
        ["entra_signins", "entra_directory_audits", "aws_iam_access_keys"].iter().map(|t| count(&lake, t)).collect();
    let (code, _, err) = auditlake(&["demo", "--lake", lake.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("earlier demo run"), "{err}");
    assert!(err.contains("collected entra_signins: 0 new rows"), "{err}");
    let again: Vec<u64> =
        ["entra_signins", "entra_directory_audits", "aws_iam_access_keys"].iter().map(|t| count(&lake, t)).collect();
    assert_eq!(counts, again, "same rows after a second run");
    let files_again = parquet_files(&lake);
    assert_eq!(files, files_again, "same files");
}

/// Each query's planted case is in its answer; the everyday traffic may add rows around it.
fn check_planted_cases(answers: &Answers) {
    let stems = query_stems();
    assert_eq!(answers.len(), stems.len());
    let find = |rows: &[Row], column: &str, value: serde_json::Value| -> Row {
        rows.iter()
            .find(|r| r.get(column) == Some(&value))
            .cloned()
            .unwrap_or_else(|| panic!("no {column} = {value} in {rows:?}"))
    };
    let mut checked = Vec::new();
    let mut check = |stem: &str| {
        checked.push(stem.to_string());
        rows(answers, stem)
    };

    // AWS keys.
    let old = check("iam_keys_older_than_90_days");
    assert_eq!(col(&old, "user_name"), [json!("legacy-ci"), json!("old-admin")], "the old keys, oldest first");
    assert_eq!(col(&old, "age_days"), [json!(400), json!(120)]);
    let unused = check("iam_keys_unused_90_days");
    assert_eq!(col(&unused, "user_name"), [json!("legacy-ci"), json!("old-admin")]);
    let two = check("iam_users_with_two_active_keys");
    assert_eq!(col(&two, "user_name"), [json!("deploy-bot")]);
    let root = check("iam_root_access_keys");
    assert_eq!(root.len(), 1);
    let per_day = check("iam_keys_created_per_day");
    assert_eq!(per_day.len(), 91);
    let today = chrono::Utc::now().date_naive();
    let created = |k: i64| find(&per_day, "day", json!((today - chrono::Duration::days(k)).to_string()))["keys_created"].clone();
    // Report days count from the demo's first run, which is today (or just before midnight).
    let zero_days = (0..91).filter(|k| created(*k) == json!(0)).count();
    assert!(zero_days > 80, "mostly zero-filled days: {zero_days}");
    assert!((8..=11).any(|k| created(k) == json!(0)), "the planted zero-filled day between keys of day 10 and 8");

    // Sign-ins.
    let bursts = check("signins_failure_bursts");
    let bob = find(&bursts, "user_principal_name", json!("bob@contoso.com"));
    assert_eq!(bob["failures"], 25);
    assert_eq!(bursts.len(), 1, "everyday failures never look like a burst: {bursts:?}");
    let new_country = check("signins_new_country_for_user");
    assert_eq!(new_country.len(), 1, "everyday users stay at home: {new_country:?}");
    assert_eq!(
        (new_country[0]["user_principal_name"].clone(), new_country[0]["country_or_region"].clone()),
        (json!("alice@contoso.com"), json!("BR"))
    );
    let failed = check("signins_failed_by_user_app_reason");
    assert_eq!(failed[0]["user_principal_name"], "bob@contoso.com", "the burst leads the failures");
    assert!(failed.len() > 5, "everyday failures too");
    let risky = check("signins_risky");
    assert_eq!(col(&risky, "user_principal_name"), [json!("carol@contoso.com")]);
    let no_mfa = check("signins_success_without_mfa");
    find(&no_mfa, "user_principal_name", json!("dave@contoso.com"));
    let legacy = check("signins_legacy_authentication");
    assert_eq!(col(&legacy, "user_principal_name"), [json!("erin@contoso.com")]);
    let ca = check("signins_conditional_access_failures");
    assert_eq!(find(&ca, "user_principal_name", json!("frank@contoso.com"))["policy_name"], "Require compliant device");
    let apps = check("signins_service_principals_by_app");
    for name in ["backup-runner", "func-payroll", "directory-sync", "func-reports"] {
        find(&apps, "service_principal_name", json!(name));
    }
    let by_result = check("signins_per_day_by_result");
    assert_eq!(by_result.len(), 31);
    let days_with_signins = by_result.iter().filter(|r| r["sign_ins"].as_u64() > Some(0)).count();
    assert!((10..=12).contains(&days_with_signins), "ten days of activity: {days_with_signins}");
    let by_country = check("signins_failed_by_country");
    assert!(col(&by_country, "country_or_region").iter().any(|c| c != "US"), "failures from several countries");
    let by_type = check("signins_by_event_type");
    let types: std::collections::BTreeSet<String> =
        col(&by_type, "sign_in_event_type").iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(types.len(), 4, "{types:?}");

    // Directory audits.
    let roles = check("audits_directory_role_assignments");
    assert_eq!(find(&roles, "target", json!("eve@contoso.com"))["role_name"], "Global Administrator");
    let consents = check("audits_consent_grants");
    assert_eq!(col(&consents, "application"), [json!("Shady Mail Reader")]);
    let passwords = check("audits_password_resets_and_changes");
    find(&passwords, "activity_display_name", json!("Reset user password"));
    let categories = check("audits_changes_by_category");
    for category in ["RoleManagement", "ApplicationManagement", "UserManagement", "GroupManagement", "Policy"] {
        find(&categories, "category", json!(category));
    }

    checked.sort();
    assert_eq!(checked, stems, "every query file's answer is checked");
}
