//! The IAM access-key table as Azure Monitor sees it: the custom table `AwsIamAccessKeys_CL`
//! of a Log Analytics workspace and the stream of the data collection rule that feeds it.
//!
//! [`stream_columns`] is what each row sent to the Logs Ingestion API holds: [`ROW_ID`] (a
//! stable id per key per report date, so a KQL `summarize arg_max(TimeGenerated, *) by row_id`
//! drops the rare duplicate of a batch whose acknowledgement was lost) and the lake's columns
//! with their Log Analytics types. [`table_columns`] adds `TimeGenerated`, which the rule's
//! transform sets from `report_generated_at`. `infra/azure/` declares both lists and a test
//! compares them with `auditlake schema azure-columns`, which prints this module's output.

use arrow_schema::{DataType, TimeUnit};
use chrono::NaiveDate;

use super::iam_access_keys::TABLE;

/// The custom table in the workspace.
pub const TABLE_NAME: &str = "AwsIamAccessKeys_CL";
/// The data collection rule's stream (`Custom-` + the table, as Azure names custom streams).
pub const STREAM_NAME: &str = "Custom-AwsIamAccessKeys_CL";
/// The stable row id column.
pub const ROW_ID: &str = "row_id";

/// A Log Analytics column type as data collection rules spell it (`string`, `int`, `long`,
/// `real`, `boolean`, `datetime`, `dynamic`), or `None` for a type with no column form.
pub fn log_analytics_type(data_type: &DataType) -> Option<&'static str> {
    Some(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 => "string",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "int",
        DataType::Int64 => "long",
        DataType::Float32 | DataType::Float64 => "real",
        DataType::Boolean => "boolean",
        DataType::Timestamp(TimeUnit::Millisecond, _) => "datetime",
        DataType::Struct(_) | DataType::List(_) => "dynamic",
        _ => return None,
    })
}

/// The stream's columns, in order: [`ROW_ID`], then every column of `aws_iam_access_keys`.
pub fn stream_columns() -> Vec<(String, &'static str)> {
    let mut columns = vec![(ROW_ID.to_string(), "string")];
    for field in TABLE.schema().fields() {
        let ty = log_analytics_type(field.data_type())
            .unwrap_or_else(|| unreachable!("{} has a Log Analytics type (tested)", field.name()));
        columns.push((field.name().clone(), ty));
    }
    columns
}

/// The table's columns: `TimeGenerated`, then the stream's.
pub fn table_columns() -> Vec<(String, &'static str)> {
    let mut columns = vec![("TimeGenerated".to_string(), "datetime")];
    columns.extend(stream_columns());
    columns
}

/// The stable id of one key slot of one user in one account's report of `report_date`.
pub fn row_id(account_id: &str, user_name: &str, key_slot: i32, report_date: NaiveDate) -> String {
    format!("{account_id}:{user_name}:{key_slot}:{report_date}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lake_column_has_a_log_analytics_type() {
        for field in TABLE.schema().fields() {
            assert!(log_analytics_type(field.data_type()).is_some(), "{}", field.name());
        }
        let stream = stream_columns();
        assert_eq!(stream[0], (ROW_ID.to_string(), "string"));
        assert_eq!(stream.len(), TABLE.schema().fields().len() + 1);
        assert!(stream.contains(&("report_generated_at".to_string(), "datetime")));
        assert_eq!(table_columns()[0], ("TimeGenerated".to_string(), "datetime"));
    }

    #[test]
    fn row_ids_name_account_user_slot_and_day() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default();
        assert_eq!(row_id("210987654321", "ci", 2, day), "210987654321:ci:2:2026-11-30");
    }
}
