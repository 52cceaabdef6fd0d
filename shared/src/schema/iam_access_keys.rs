//! `aws_iam_access_keys`: one row per access key per daily snapshot (`dt` = report date).

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{TableDef, field, timestamp};

pub static TABLE: TableDef = TableDef {
    name: "aws_iam_access_keys",
    time_column: "report_generated_at",
    description: "AWS IAM access keys, one row per key per daily snapshot of the credential report",
    unique_columns: &[],
    document_columns: &[],
    schema: &SCHEMA,
};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field("account_id", DataType::Utf8, false),
        field("user_name", DataType::Utf8, false),
        field("user_arn", DataType::Utf8, true),
        // Sanitized (`AKIA…WXYZ`); null for root keys, whose ids IAM does not list.
        field("access_key_id", DataType::Utf8, true),
        field("key_slot", DataType::Int32, false),
        field("status", DataType::Utf8, false),
        field("created_at", timestamp(), true),
        field("last_used_at", timestamp(), true),
        field("last_used_region", DataType::Utf8, true),
        field("last_used_service", DataType::Utf8, true),
        field("age_days", DataType::Int64, true),
        field("days_since_last_used", DataType::Int64, true),
        field("user_created_at", timestamp(), true),
        field("password_enabled", DataType::Boolean, true),
        field("mfa_active", DataType::Boolean, true),
        field("report_generated_at", timestamp(), false),
        field("run_id", DataType::Utf8, false),
    ]))
});

/// One row of `aws_iam_access_keys`; field order and names match the schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessKeyRow {
    pub account_id: String,
    pub user_name: String,
    pub user_arn: Option<String>,
    pub access_key_id: Option<String>,
    pub key_slot: i32,
    pub status: String,
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_region: Option<String>,
    pub last_used_service: Option<String>,
    pub age_days: Option<i64>,
    pub days_since_last_used: Option<i64>,
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub user_created_at: Option<DateTime<Utc>>,
    pub password_enabled: Option<bool>,
    pub mfa_active: Option<bool>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub report_generated_at: DateTime<Utc>,
    pub run_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;

    #[test]
    fn rows_map_to_the_schema_with_millisecond_utc_timestamps() {
        let t = DateTime::parse_from_rfc3339("2026-11-28T10:20:30.123Z").unwrap().with_timezone(&Utc);
        let row = AccessKeyRow {
            account_id: "123456789012".into(),
            user_name: "alice".into(),
            user_arn: Some("arn:aws:iam::123456789012:user/alice".into()),
            access_key_id: Some("AKIA…WXYZ".into()),
            key_slot: 1,
            status: "Active".into(),
            created_at: Some(t),
            last_used_at: None,
            last_used_region: None,
            last_used_service: None,
            age_days: Some(0),
            days_since_last_used: None,
            user_created_at: Some(t),
            password_enabled: Some(false),
            mfa_active: None,
            report_generated_at: t,
            run_id: "r".into(),
        };
        let batch = super::super::rows_to_batch(TABLE.schema(), &[row]).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), TABLE.schema());
        let created = batch.column_by_name("created_at").unwrap().as_primitive::<TimestampMillisecondType>();
        assert_eq!(created.value(0), t.timestamp_millis());
        assert!(batch.column_by_name("last_used_at").unwrap().is_null(0));
    }
}
