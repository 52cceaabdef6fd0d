//! The lake's tables as Athena and Glue see them, generated from the Arrow schemas.
//!
//! [`hive_type`] gives the Hive type string of an Arrow type (`struct<…>`, `array<…>`,
//! `timestamp`); [`columns`] the Glue column list of a table and [`create_table_ddl`] its
//! Athena `CREATE EXTERNAL TABLE` with partition projection on `dt`. `athena/tables/*.sql` and
//! the Glue tables of `infra/template.yaml` are this module's output (written by
//! `auditlake schema generate`), so they cannot drift from what the writer produces.

use arrow_schema::{DataType, Field};

use super::TableDef;

/// The partition column every table has: the UTC date of its time column, `YYYY-MM-DD`.
pub const PARTITION_COLUMN: &str = "dt";

/// Athena's partition projection for `dt`: a date projection from 2015 (as far back as the
/// `calendar`, so imported history and long retention stay queryable) to today, so no crawler
/// or `MSCK REPAIR` is ever needed; queries bound `dt`, so the range costs nothing. `{location}` is the table's folder with a trailing
/// slash; the values are Glue table parameters, also written into the DDL's `TBLPROPERTIES`.
pub fn projection_properties(location: &str) -> Vec<(&'static str, String)> {
    vec![
        ("projection.enabled", "true".into()),
        ("projection.dt.type", "date".into()),
        ("projection.dt.format", "yyyy-MM-dd".into()),
        ("projection.dt.range", PROJECTION_RANGE.into()),
        ("projection.dt.interval", "1".into()),
        ("projection.dt.interval.unit", "DAYS".into()),
        ("storage.location.template", format!("{location}dt=${{dt}}/")),
    ]
}

/// The range of `dt` values Athena projects.
pub const PROJECTION_RANGE: &str = "2015-01-01,NOW";

/// Glue's input/output formats and SerDe for Parquet.
pub const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
pub const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// An Arrow type the lake does not use and Hive has no type for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: no Hive type for Arrow {data_type}")]
pub struct UnsupportedType {
    pub column: String,
    pub data_type: String,
}

/// The Hive type string of `data_type`, as Glue stores it (no quoting; field names as they are,
/// which the lake keeps lowercase snake_case).
pub fn hive_type(column: &str, data_type: &DataType) -> Result<String, UnsupportedType> {
    hive_type_with(column, data_type, &|name| name.to_string())
}

fn hive_type_with(column: &str, data_type: &DataType, quote: &dyn Fn(&str) -> String) -> Result<String, UnsupportedType> {
    Ok(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("array<{}>", hive_type_with(column, item.data_type(), quote)?)
        }
        DataType::Struct(fields) => {
            let inner = fields
                .iter()
                .map(|f| Ok(format!("{}:{}", quote(f.name()), hive_type_with(column, f.data_type(), quote)?)))
                .collect::<Result<Vec<_>, UnsupportedType>>()?;
            format!("struct<{}>", inner.join(","))
        }
        other => return Err(UnsupportedType { column: column.to_string(), data_type: other.to_string() }),
    })
}

/// One Glue column: name and Hive type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub hive_type: String,
}

/// The Glue columns of `table`, in schema order (without the `dt` partition key).
pub fn columns(table: &TableDef) -> Result<Vec<Column>, UnsupportedType> {
    table.schema().fields().iter().map(|f| column(f)).collect()
}

fn column(field: &Field) -> Result<Column, UnsupportedType> {
    Ok(Column { name: field.name().clone(), hive_type: hive_type(field.name(), field.data_type())? })
}

/// The table's folder in a lake at `lake` (`s3://bucket` or `s3://bucket/prefix`), with a
/// trailing slash.
pub fn table_location(lake: &str, table: &TableDef) -> String {
    format!("{}/{}/", lake.trim_end_matches('/'), table.name)
}

/// Athena's `CREATE EXTERNAL TABLE` for `table` in a lake at `lake`. Every identifier is in
/// backticks, struct fields too (`user`, `location`, `type` are reserved in Hive DDL).
pub fn create_table_ddl(table: &TableDef, lake: &str) -> Result<String, UnsupportedType> {
    let backticked = |name: &str| format!("`{name}`");
    let schema = table.schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        columns.push(format!("  `{}` {}", f.name(), hive_type_with(f.name(), f.data_type(), &backticked)?));
    }
    let location = table_location(lake, table);
    let properties: Vec<String> = projection_properties(&location)
        .into_iter()
        .chain([("classification", "parquet".to_string())])
        .map(|(k, v)| format!("  '{k}' = '{v}'"))
        .collect();
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{name}` (\n{columns}\n)\nCOMMENT '{comment}'\nPARTITIONED BY (`{dt}` string)\n\
         ROW FORMAT SERDE '{SERDE}'\nSTORED AS INPUTFORMAT '{INPUT_FORMAT}'\nOUTPUTFORMAT '{OUTPUT_FORMAT}'\n\
         LOCATION '{location}'\nTBLPROPERTIES (\n{properties}\n);\n",
        name = table.name,
        columns = columns.join(",\n"),
        comment = table.description.replace('\'', "''"),
        dt = PARTITION_COLUMN,
        properties = properties.join(",\n"),
    ))
}

/// The `calendar` table: one `day` (date) per line of a CSV under `<lake>/_calendar/`, which
/// `scripts/deploy.sh` uploads. Queries LEFT JOIN it to zero-fill days without rows (Trino's
/// `sequence` does not run in the local engine).
pub const CALENDAR_TABLE: &str = "calendar";

/// Athena's DDL of the [`CALENDAR_TABLE`] in a lake at `lake`.
pub fn calendar_ddl(lake: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{CALENDAR_TABLE}` (\n  `day` date\n)\n\
         COMMENT 'One row per day from 2015-01-01 to 2040-12-31, to zero-fill days without rows'\n\
         ROW FORMAT DELIMITED FIELDS TERMINATED BY ','\nSTORED AS TEXTFILE\nLOCATION '{}/_calendar/'\n\
         TBLPROPERTIES ('classification' = 'csv');\n",
        lake.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{Fields, TimeUnit};

    use super::*;

    #[test]
    fn nested_types_use_hive_syntax() {
        let address = Fields::from(vec![Field::new("city", DataType::Utf8, true), Field::new("zip", DataType::Int32, true)]);
        let list = DataType::List(Arc::new(Field::new("item", DataType::Struct(address.clone()), true)));
        assert_eq!(hive_type("a", &list).unwrap(), "array<struct<city:string,zip:int>>");
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        assert_eq!(hive_type("t", &ts).unwrap(), "timestamp");
        let err = hive_type("m", &DataType::Binary).unwrap_err();
        assert_eq!(err.column, "m");
    }

    #[test]
    fn every_lake_table_has_a_hive_type_for_every_column() {
        for table in super::super::tables() {
            let cols = columns(table).unwrap();
            assert_eq!(cols.len(), table.schema().fields().len());
            let ddl = create_table_ddl(table, "s3://lake-bucket/").unwrap();
            assert!(ddl.contains(&format!("'storage.location.template' = 's3://lake-bucket/{}/dt=${{dt}}/'", table.name)));
            assert!(ddl.contains("PARTITIONED BY (`dt` string)"));
        }
        let signins = columns(&super::super::entra_signins::TABLE).unwrap();
        let status = signins.iter().find(|c| c.name == "status").unwrap();
        assert_eq!(status.hive_type, "struct<error_code:int,failure_reason:string,additional_details:string>");
    }
}
