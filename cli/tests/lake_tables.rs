//! The lake as Athena sees it: a lake written by the real collectors (the fake Graph, moto and
//! a credential report through the IAM mapping) with testkit's planted cases, whose Parquet
//! schemas must match the Glue columns of `infra/template.yaml` field by field, and over which
//! every `athena/queries/*.sql` runs with checked answers.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{Answers, auditlake, col, env_refs, moto_account_with_user, repo, rows, run_queries_in_datafusion};

use auditlake_core::schema::{self, hive};
use auditlake_testkit::planted;
use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::Type;

/// `athena/tables/*.sql` and the template's generated region are what `schema generate` makes.
#[test]
fn generated_files_match_the_schemas() {
    let root = repo();
    let (code, _, err) = auditlake(&["schema", "generate", "--check", "--root", root.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
}

/// The planted lake: sign-ins and audits from the fake Graph, one moto account's keys through
/// `collect iam-keys`, and the planted credential report through the IAM report mapping.
fn write_planted_lake(lake: &Path) -> chrono::DateTime<chrono::Utc> {
    use auditlake_testkit::graph::{AppCredential, FakeGraph, FakeGraphConfig};
    const SECRET: &str = "planted-canary-secret";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let now = chrono::Utc::now();
    let anchor = planted::anchor(now);

    let fake = runtime.block_on(FakeGraph::start(FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }));
    fake.register_app(planted::TENANT, "app-1", AppCredential::Secret(SECRET.into()));
    fake.add_signins(planted::TENANT, planted::signins(anchor));
    fake.add_audits(planted::TENANT, planted::audits(anchor));
    let base = fake.base_url();
    let lake_str = lake.to_str().unwrap();
    let graph_env = [
        ("AUDITLAKE_LAKE_URL", lake_str),
        ("AUDITLAKE_TENANT_IDS", planted::TENANT),
        ("AUDITLAKE_GRAPH_URL", &base),
        ("AUDITLAKE_LOGIN_URL", &base),
        ("AUDITLAKE_SECRETS", "env"),
        ("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/auditlake/graph/client-id"),
        ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "/auditlake/graph/client-secret"),
        ("AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_ID", "app-1"),
        ("AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_SECRET", SECRET),
        ("AUDITLAKE_INITIAL_LOOKBACK", "5d"),
        ("AUDITLAKE_GRAPH_REQUESTS_PER_10S", "1000"),
    ];
    for source in ["signins", "audits"] {
        let (code, out, err) = auditlake(&["collect", source], &graph_env);
        assert_eq!(code, 0, "{source}: {err}");
        let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let expected = if source == "signins" { planted::signins(anchor).len() } else { planted::audits(anchor).len() };
        assert_eq!(summary["rows"], expected as u64, "{source}: {out}");
    }
    drop(fake);

    // One account in moto: deploy-bot with two active keys.
    let (account, env) = moto_account_with_user(&runtime, "deploy-bot", 2);
    let (code, _, err) = auditlake(&["collect", "iam-keys", "--lake", lake_str], &env_refs(&env));
    assert_eq!(code, 0, "{err}");

    // The planted credential report through the collector's report mapping and the lake writer.
    runtime.block_on(async {
        use auditlake_core::lake::{Lake, LakeUrl};
        let lake = Lake::open(&LakeUrl::parse(lake_str).unwrap(), &account.sdk).await.unwrap();
        let parsed = auditlake_core::iam::report::parse(&planted::credential_report(now)).unwrap();
        let snapshot = auditlake_core::iam::report_snapshot(planted::REPORT_ACCOUNT, parsed, now, "planted");
        assert!(snapshot.rejected.is_empty());
        let table = &auditlake_core::schema::iam_access_keys::TABLE;
        let batch = schema::rows_to_batch(table.schema(), &snapshot.rows).unwrap();
        let mut writer = lake.table_writer(table, planted::REPORT_ACCOUNT);
        let dt = now.date_naive();
        writer.claim(dt);
        writer.write(dt, &batch).await.unwrap();
        writer.finish().await.unwrap();
    });
    now
}

/// A Parquet column's type as Athena reads it, derived from the Parquet schema alone (physical
/// and logical types), so it checks the writer rather than restating the generator.
fn parquet_hive_type(t: &Type) -> String {
    let info = t.get_basic_info();
    if t.is_group() {
        let fields = t.get_fields();
        let is_list = info.logical_type_ref() == Some(&LogicalType::List) || info.converted_type() == ConvertedType::LIST;
        if is_list {
            // Three-level list: <name> (LIST) { repeated group list { <element> } }.
            let repeated = &fields[0];
            assert_eq!(repeated.get_basic_info().repetition(), Repetition::REPEATED, "{}", info.name());
            let element =
                if repeated.is_group() && repeated.get_fields().len() == 1 { &repeated.get_fields()[0] } else { repeated };
            return format!("array<{}>", parquet_hive_type(element));
        }
        let inner: Vec<String> =
            fields.iter().map(|f| format!("{}:{}", f.get_basic_info().name(), parquet_hive_type(f))).collect();
        return format!("struct<{}>", inner.join(","));
    }
    match (t.get_physical_type(), info.logical_type_ref()) {
        (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)) => "string".into(),
        (PhysicalType::BOOLEAN, None) => "boolean".into(),
        (PhysicalType::INT32, None) => "int".into(),
        (PhysicalType::INT32, Some(LogicalType::Integer(i))) if i.bit_width == 32 && i.is_signed => "int".into(),
        (PhysicalType::INT64, None) => "bigint".into(),
        (PhysicalType::INT64, Some(LogicalType::Integer(i))) if i.bit_width == 64 && i.is_signed => "bigint".into(),
        (PhysicalType::DOUBLE, None) => "double".into(),
        // Athena engine v3 reads milliseconds; nanoseconds or int96 would not round-trip.
        (PhysicalType::INT64, Some(LogicalType::Timestamp(ts))) if ts.is_adjusted_to_u_t_c && ts.unit == TimeUnit::MILLIS => {
            "timestamp".into()
        }
        (physical, logical) => panic!("column {}: Parquet {physical:?} {logical:?} has no Athena type here", info.name()),
    }
}

/// The Glue columns of every table in the generated region of `infra/template.yaml`.
fn template_glue_columns() -> BTreeMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap();
    let begin = text.find("# BEGIN GENERATED").expect("the template's generated region");
    let end = text.find("# END GENERATED").expect("the template's generated region");
    let mut tables = BTreeMap::new();
    let (mut table, mut in_columns, mut name) = (None::<String>, false, None::<String>);
    for line in text[begin..end].lines() {
        if let Some(n) = line.strip_prefix("        Name: ") {
            table = Some(n.to_string());
            tables.insert(n.to_string(), Vec::new());
        } else if line == "          Columns:" {
            in_columns = true;
        } else if in_columns && let Some(n) = line.strip_prefix("            - Name: ") {
            name = Some(n.to_string());
        } else if in_columns && let Some(ty) = line.strip_prefix("              Type: ") {
            let ty: String = serde_json::from_str(ty).unwrap();
            tables.get_mut(table.as_ref().unwrap()).unwrap().push((name.take().unwrap(), ty));
        } else {
            in_columns = false;
        }
    }
    tables
}

fn first_parquet(dir: &Path) -> PathBuf {
    let files = common::files_under(dir);
    files
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap_or_else(|| panic!("no Parquet file under {}", dir.display()))
}

#[test]
fn planted_lake_matches_glue_and_answers_the_queries() {
    let dir = tempfile::tempdir().unwrap();
    let now = write_planted_lake(dir.path());

    // 1. Every table's Parquet schema, read back, is the template's Glue column list.
    let glue = template_glue_columns();
    for table in schema::tables() {
        let file = first_parquet(&dir.path().join(table.name));
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        let root = reader.metadata().file_metadata().schema_descr().root_schema().clone();
        let written: Vec<(String, String)> =
            root.get_fields().iter().map(|f| (f.name().to_string(), parquet_hive_type(f))).collect();
        let declared = glue.get(table.name).unwrap_or_else(|| panic!("no Glue table {} in the template", table.name));
        assert_eq!(written.len(), declared.len(), "{}: column count", table.name);
        for (w, d) in written.iter().zip(declared) {
            assert_eq!(w, d, "{}: Parquet column vs Glue column", table.name);
        }
        assert_eq!(hive::columns(table).unwrap().len(), written.len());
    }

    // 2. Every query runs over the lake; the planted cases are in the answers. Once in DuckDB
    // (scripts/checks/run_queries.py) and once in the CLI's own engine (DataFusion), which
    // runs a `.datafusion.sql` variant where one exists.
    let answers = run_queries(dir.path());
    check_answers(&answers, now);
    let answers = run_queries_in_datafusion(dir.path());
    check_answers(&answers, now);
}

fn run_queries(lake: &Path) -> Answers {
    let out = Command::new("python3")
        .arg(repo().join("scripts/checks/run_queries.py"))
        .arg("--lake")
        .arg(lake)
        .arg("--queries")
        .arg(repo().join("athena/queries"))
        .output()
        .expect("python3 runs (scripts/test.sh puts its venv first on PATH)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "queries failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn check_answers(answers: &Answers, now: chrono::DateTime<chrono::Utc>) {
    use serde_json::json;
    let stems = common::query_stems();
    assert!(stems.len() >= 14, "{stems:?}");
    for stem in &stems {
        assert!(answers.contains_key(stem), "{stem} did not run");
    }
    let anchor = planted::anchor(now);
    let day = |k: i64| json!(planted::day(anchor, k).to_string());
    let report_day = |k: i64| json!((now - chrono::Duration::days(k)).date_naive().to_string());

    // AWS keys: the old and unused keys of the reported account, deploy-bot's two keys (moto),
    // the root key, and a day without keys that still has its row.
    let old = rows(answers, "iam_keys_older_than_90_days");
    assert_eq!(col(&old, "user_name"), [json!("legacy-ci"), json!("old-admin")], "{old:?}");
    assert_eq!(col(&old, "age_days"), [json!(400), json!(120)]);
    assert!(old.iter().all(|r| r["account_id"] == planted::REPORT_ACCOUNT));
    let unused = rows(answers, "iam_keys_unused_90_days");
    assert_eq!(col(&unused, "user_name"), [json!("legacy-ci"), json!("old-admin")], "{unused:?}");
    let two = rows(answers, "iam_users_with_two_active_keys");
    assert_eq!(two.len(), 1, "{two:?}");
    assert_eq!((two[0]["user_name"].clone(), two[0]["active_keys"].clone()), (json!("deploy-bot"), json!(2)));
    let root = rows(answers, "iam_root_access_keys");
    assert_eq!(col(&root, "account_id"), [json!(planted::REPORT_ACCOUNT)], "{root:?}");
    assert_eq!(root[0]["age_days"], 30);
    let per_day = rows(answers, "iam_keys_created_per_day");
    assert_eq!(per_day.len(), 91, "every day of the range has a row");
    let created_on = |k: i64| per_day.iter().find(|r| r["day"] == report_day(k)).map(|r| r["keys_created"].clone());
    assert_eq!(created_on(10), Some(json!(1)));
    assert_eq!(created_on(9), Some(json!(0)), "the zero-filled day");
    assert_eq!(created_on(8), Some(json!(1)));
    assert_eq!(created_on(0), Some(json!(2)), "deploy-bot's two keys, created by moto today");

    // Sign-ins.
    let failed = rows(answers, "signins_failed_by_user_app_reason");
    assert_eq!(failed[0]["user_principal_name"], "bob@contoso.com", "{failed:?}");
    assert_eq!((failed[0]["error_code"].clone(), failed[0]["failures"].clone()), (json!(50126), json!(25)));
    assert_eq!(failed[0]["app_display_name"], "Office 365 Exchange Online");
    let bursts = rows(answers, "signins_failure_bursts");
    assert_eq!(col(&bursts, "user_principal_name"), [json!("bob@contoso.com")], "{bursts:?}");
    assert_eq!(bursts[0]["failures"], 25);
    let new_country = rows(answers, "signins_new_country_for_user");
    assert_eq!(new_country.len(), 1, "{new_country:?}");
    assert_eq!(
        (new_country[0]["user_principal_name"].clone(), new_country[0]["country_or_region"].clone()),
        (json!("alice@contoso.com"), json!("BR"))
    );
    assert_eq!(new_country[0]["previous_country"], "US");
    let legacy = rows(answers, "signins_legacy_authentication");
    assert_eq!(col(&legacy, "user_principal_name"), [json!("erin@contoso.com")], "{legacy:?}");
    assert_eq!(legacy[0]["client_app_used"], "IMAP4");
    let no_mfa = rows(answers, "signins_success_without_mfa");
    let mut users = col(&no_mfa, "user_principal_name");
    users.sort_by_key(|v| v.to_string());
    assert_eq!(users, [json!("dave@contoso.com"), json!("erin@contoso.com")], "{no_mfa:?}");
    let risky = rows(answers, "signins_risky");
    assert_eq!(col(&risky, "user_principal_name"), [json!("carol@contoso.com")], "{risky:?}");
    assert_eq!(risky[0]["risk_level_during_sign_in"], "high");
    let ca = rows(answers, "signins_conditional_access_failures");
    assert_eq!(col(&ca, "user_principal_name"), [json!("frank@contoso.com")], "{ca:?}");
    assert_eq!((ca[0]["error_code"].clone(), ca[0]["policy_name"].clone()), (json!(53003), json!("Require compliant device")));
    let apps = rows(answers, "signins_service_principals_by_app");
    let apps: Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> = apps
        .iter()
        .map(|r| (r["sign_in_event_type"].clone(), r["service_principal_name"].clone(), r["sign_ins"].clone()))
        .collect();
    assert_eq!(
        apps,
        [
            (json!("servicePrincipal"), json!("backup-runner"), json!(5)),
            (json!("managedIdentity"), json!("func-payroll"), json!(3))
        ]
    );
    let by_result = rows(answers, "signins_per_day_by_result");
    assert_eq!(by_result.len(), 31, "zero-filled over 31 days: {by_result:?}");
    let on = |rows: &[serde_json::Map<String, serde_json::Value>], k: i64| {
        rows.iter().filter(|r| r["day"] == day(k)).cloned().collect::<Vec<_>>()
    };
    assert_eq!(on(&by_result, 1)[0]["failures"], 26, "bob's 25 and frank's block");
    assert_eq!(on(&by_result, 10)[0]["sign_ins"], 0, "a day without sign-ins still has its row");
    let by_country = rows(answers, "signins_failed_by_country");
    let us = on(&by_country, 1).into_iter().find(|r| r["country_or_region"] == "US").unwrap();
    assert_eq!((us["failures"].clone(), us["users"].clone()), (json!(26), json!(2)));
    let by_type = rows(answers, "signins_by_event_type");
    let count =
        |k: i64, ty: &str| on(&by_type, k).into_iter().find(|r| r["sign_in_event_type"] == ty).map(|r| r["sign_ins"].clone());
    assert_eq!(count(0, "servicePrincipal"), Some(json!(5)));
    assert_eq!(count(1, "managedIdentity"), Some(json!(3)));

    // Directory audits.
    let roles = rows(answers, "audits_directory_role_assignments");
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert_eq!(
        (roles[0]["target"].clone(), roles[0]["role_name"].clone()),
        (json!("eve@contoso.com"), json!("Global Administrator"))
    );
    let consents = rows(answers, "audits_consent_grants");
    assert_eq!(col(&consents, "application"), [json!("Shady Mail Reader")], "{consents:?}");
    assert_eq!(consents[0]["initiated_by"], "alice@contoso.com");
    let passwords = rows(answers, "audits_password_resets_and_changes");
    assert_eq!(col(&passwords, "activity_display_name"), [json!("Reset user password"), json!("Change user password")]);
    let categories = rows(answers, "audits_changes_by_category");
    let changes = |k: i64, c: &str| on(&categories, k).into_iter().find(|r| r["category"] == c).map(|r| r["changes"].clone());
    assert_eq!(changes(1, "RoleManagement"), Some(json!(1)));
    assert_eq!(changes(2, "ApplicationManagement"), Some(json!(1)));
}
