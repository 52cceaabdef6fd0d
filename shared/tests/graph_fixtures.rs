//! Microsoft's published example payloads (testkit/fixtures/graph/) map to lake rows without
//! loss: every property the schema declares holds the original value, nested values included,
//! and `raw` keeps the whole record.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use auditlake_core::schema::graph::{GraphMapper, GraphTable, RowContext, snake_case};
use auditlake_core::schema::{entra_directory_audits, entra_signins};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

fn fixture(name: &str) -> Vec<Box<RawValue>> {
    #[derive(serde::Deserialize)]
    struct Page {
        value: Vec<Box<RawValue>>,
    }
    let path = format!("{}/../testkit/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Page>(&text).unwrap().value
}

/// Maps records and returns the lake rows as JSON objects (lake names).
fn map(table: &'static GraphTable, records: &[Box<RawValue>], context: &[&str]) -> Vec<Map<String, Value>> {
    let records = arrow_array::StringArray::from_iter_values(records.iter().map(|r| r.get()));
    let ctx =
        RowContext { tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47", context, ingested_at: Utc::now(), run_id: "fixture" };
    let mapped = GraphMapper::new(table).map(&records, &ctx).unwrap();
    assert!(mapped.rejected.is_empty(), "{:?}", mapped.rejected);
    let batch = mapped.batch.unwrap();
    assert_eq!(batch.schema(), table.lake_schema());
    let mut writer = arrow_json::ArrayWriter::new(Vec::new());
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    serde_json::from_slice(&writer.into_inner()).unwrap()
}

/// Every value of `original` at a path the lake row has must be equal there.
fn assert_no_loss(path: &str, original: &Value, mapped: Option<&Value>, checked: &mut usize) {
    match (original, mapped) {
        (Value::Null, None | Some(Value::Null)) => {}
        (Value::Object(o), Some(Value::Object(m))) => {
            for (k, v) in o {
                let lake_key = snake_case(k);
                // Keys the schema does not declare live only in `raw`.
                if let Some(mv) = m.get(&lake_key) {
                    assert_no_loss(&format!("{path}.{lake_key}"), v, Some(mv), checked);
                } else if !v.is_null() {
                    eprintln!("{path}.{k}: not a column (kept in raw)");
                }
            }
        }
        // An empty object or all-null object may be written as a struct of nulls.
        (Value::Object(o), None) => assert!(o.values().all(Value::is_null), "{path}: object lost"),
        (Value::Array(o), Some(Value::Array(m))) => {
            assert_eq!(o.len(), m.len(), "{path}: list length");
            for (i, (a, b)) in o.iter().zip(m).enumerate() {
                assert_no_loss(&format!("{path}[{i}]"), a, Some(b), checked);
            }
        }
        (Value::Array(o), None) => assert!(o.is_empty(), "{path}: list lost"),
        (Value::String(s), Some(Value::String(m))) if s.len() > 19 && s.ends_with('Z') => {
            // Timestamps: milliseconds are kept (Athena's precision).
            let a: DateTime<Utc> = s.parse().unwrap();
            let b: DateTime<Utc> = m.parse().unwrap_or_else(|_| format!("{m}Z").parse().unwrap());
            assert_eq!(a.timestamp_millis(), b.timestamp_millis(), "{path}");
            *checked += 1;
        }
        (Value::Number(a), Some(Value::Number(b))) => {
            assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9, "{path}: {a} vs {b}");
            *checked += 1;
        }
        (a, Some(b)) => {
            assert_eq!(a, b, "{path}");
            *checked += 1;
        }
        (a, None) => panic!("{path}: {a} was lost"),
    }
}

#[test]
fn published_sign_in_examples_map_without_loss() {
    for name in ["signins_v1_example1.json", "signins_v1_example2_nextlink.json"] {
        let records = fixture(name);
        let rows = map(&entra_signins::GRAPH, &records, &["interactiveUser"]);
        assert_eq!(rows.len(), records.len());
        let mut checked = 0;
        for (record, row) in records.iter().zip(&rows) {
            let original: Value = serde_json::from_str(record.get()).unwrap();
            assert_no_loss(name, &original, Some(&Value::Object(row.clone())), &mut checked);
            assert_eq!(row["raw"], record.get(), "raw keeps the record verbatim");
            assert_eq!(row["sign_in_event_type"], "interactiveUser");
            assert_eq!(row["tenant_id"], "72f988bf-86f1-41af-91ab-2d7cd011db47");
        }
        assert!(checked > 20, "{name}: only {checked} values compared");
    }

    let rows = map(&entra_signins::GRAPH, &fixture("signins_v1_example1.json"), &["interactiveUser"]);
    let row = &rows[0];
    assert_eq!(row["location"]["city"], "Redmond");
    assert_eq!(row["location"]["country_or_region"], "US");
    assert!((row["location"]["geo_coordinates"]["latitude"].as_f64().unwrap() - 47.68050003051758).abs() < 1e-12);
    assert_eq!(row["status"]["error_code"], 0);
    assert_eq!(row["is_interactive"], true);
    let policies = row["applied_conditional_access_policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[1]["display_name"], "Medium signin risk block");
    assert!(policies.iter().all(|p| p["result"] == "notEnabled"));
    assert!(row["created_at"].as_str().unwrap().starts_with("2020-03-13T19:15:41.619"));
}

#[test]
fn published_directory_audit_example_maps_without_loss() {
    let records = fixture("directoryaudits_v1_example.json");
    let rows = map(&entra_directory_audits::GRAPH, &records, &[]);
    let mut checked = 0;
    let original: Value = serde_json::from_str(records[0].get()).unwrap();
    assert_no_loss("audit", &original, Some(&Value::Object(rows[0].clone())), &mut checked);
    let row = &rows[0];
    assert_eq!(row["activity_display_name"], "Add member to group");
    assert_eq!(row["initiated_by"]["user"]["user_principal_name"], "bob@wingtiptoysonline.com");
    assert_eq!(row["target_resources"][0]["modified_properties"][0]["new_value"], "DirectorySync");
    assert_eq!(row["target_resources"][0]["group_type"], "unifiedGroups");
    assert_eq!(row["additional_details"][0]["key"], "Additional Detail Name");
    assert!(checked > 15, "only {checked} values compared");
}

#[test]
fn lenient_parsing_quarantines_only_the_bad_record() {
    let records = [
        r#"{"id":"a","createdDateTime":"2026-11-28T10:00:00Z","status":{"errorCode":"50126"},"isInteractive":true,"newProperty":{"x":1}}"#,
        r#"{"id":"b","createdDateTime":"2026-11-28T10:00:01Z","location":{},"riskEventTypes_v2":null}"#,
        r#"{"id":"c","createdDateTime":"not a time"}"#,
        r#"{"id":"d","createdDateTime":"2026-11-28T10:00:02Z","userId":"u","userId":"v"}"#,
    ];
    let ctx = RowContext { tenant_id: "t.onmicrosoft.com", context: &["interactiveUser"], ingested_at: Utc::now(), run_id: "r" };
    let mapped = GraphMapper::new(&entra_signins::GRAPH).map(&arrow_array::StringArray::from(records.to_vec()), &ctx).unwrap();
    let (batch, rejected) = (mapped.batch.unwrap(), mapped.rejected);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(batch.num_rows(), 3);
    assert!(rejected[0].raw.contains("not a time"), "{rejected:?}");
}
