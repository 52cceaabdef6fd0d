//! Trino functions people write in Athena that DataFusion does not have, as UDFs with Trino's
//! names and meaning, so ad-hoc SQL copied from the Athena console runs locally unchanged
//! (`../shared/reference/sql-portability.md` lists them). The query files themselves keep to
//! the portable subset and do not need these.
//!
//! - `hour(ts)`, `day_of_week(ts)` (Monday = 1 … Sunday = 7, as in Trino);
//! - `date_diff(unit, a, b)`: whole units from `a` to `b`, truncated toward zero;
//! - `date_add(unit, n, ts)`: `ts` moved by `n` units;
//! - `from_iso8601_timestamp(text)`.
//!
//! Units: `millisecond`, `second`, `minute`, `hour`, `day`, `week` (fixed lengths; months and
//! years, whose length varies, are refused with a message saying so).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::compute::kernels::cast::cast;
use datafusion::arrow::compute::kernels::temporal::{DatePart, date_part};
use datafusion::arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMillisecondType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Milliseconds in one `unit`.
fn unit_ms(unit: &str) -> Result<i64> {
    Ok(match unit.to_ascii_lowercase().as_str() {
        "millisecond" => 1,
        "second" => 1_000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        "month" | "quarter" | "year" => {
            return Err(DataFusionError::Plan(format!(
                "unit '{unit}' has no fixed length; locally only millisecond to week are supported"
            )));
        }
        other => return Err(DataFusionError::Plan(format!("'{other}' is not a date_diff/date_add unit"))),
    })
}

fn udf(
    name: &str,
    inputs: Vec<DataType>,
    output: DataType,
    f: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
) -> ScalarUDF {
    create_udf(
        name,
        inputs,
        output,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let out = f(&arrays)?;
            Ok(if scalar {
                ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(out)
            })
        }),
    )
}

/// Registers the functions in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(udf("hour", vec![timestamp()], DataType::Int64, |a| {
        Ok(cast(&date_part(a[0].as_ref(), DatePart::Hour)?, &DataType::Int64)?)
    }));
    ctx.register_udf(udf("day_of_week", vec![timestamp()], DataType::Int64, |a| {
        let monday0 = date_part(a[0].as_ref(), DatePart::DayOfWeekMonday0)?;
        let days: Int64Array = monday0.as_primitive::<Int32Type>().iter().map(|d| d.map(|d| i64::from(d) + 1)).collect();
        Ok(Arc::new(days))
    }));
    ctx.register_udf(udf("date_diff", vec![DataType::Utf8, timestamp(), timestamp()], DataType::Int64, |a| {
        let (units, from, to) = (
            a[0].as_string::<i32>(),
            a[1].as_primitive::<TimestampMillisecondType>(),
            a[2].as_primitive::<TimestampMillisecondType>(),
        );
        let out: Result<Int64Array> = (0..from.len())
            .map(|i| {
                if units.is_null(i) || from.is_null(i) || to.is_null(i) {
                    return Ok(None);
                }
                // Integer division truncates toward zero, as Trino's date_diff does.
                Ok(Some((to.value(i) - from.value(i)) / unit_ms(units.value(i))?))
            })
            .collect();
        Ok(Arc::new(out?))
    }));
    ctx.register_udf(udf("date_add", vec![DataType::Utf8, DataType::Int64, timestamp()], timestamp(), |a| {
        let (units, n, ts) = (
            a[0].as_string::<i32>(),
            a[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>(),
            a[2].as_primitive::<TimestampMillisecondType>(),
        );
        let out: Result<TimestampMillisecondArray> = (0..ts.len())
            .map(|i| {
                if units.is_null(i) || n.is_null(i) || ts.is_null(i) {
                    return Ok(None);
                }
                Ok(Some(ts.value(i) + n.value(i) * unit_ms(units.value(i))?))
            })
            .collect();
        Ok(Arc::new(out?.with_timezone("UTC")))
    }));
    ctx.register_udf(udf("from_iso8601_timestamp", vec![DataType::Utf8], timestamp(), |a| {
        let texts: &StringArray = a[0].as_string::<i32>();
        let out: Result<TimestampMillisecondArray> = texts
            .iter()
            .map(|t| {
                t.map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map(|d| d.timestamp_millis())
                        .or_else(|_| {
                            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis())
                        })
                        .map_err(|_| {
                            DataFusionError::Execution(format!("from_iso8601_timestamp: '{t}' is not an ISO 8601 timestamp"))
                        })
                })
                .transpose()
            })
            .collect();
        Ok(Arc::new(out?.with_timezone("UTC")))
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one_row(sql: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx.sql(sql).await?.collect().await?;
        let rows = crate::query::json_rows(&batches).map_err(|e| DataFusionError::External(e.into()))?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    #[tokio::test]
    async fn trino_functions_answer_as_in_trino() {
        let row = one_row(
            "SELECT hour(from_iso8601_timestamp('2026-11-30T21:15:00Z')) AS h,
                    day_of_week(from_iso8601_timestamp('2026-11-29T10:00:00Z')) AS sunday,
                    day_of_week(from_iso8601_timestamp('2026-11-30')) AS monday,
                    date_diff('day', from_iso8601_timestamp('2026-11-01'), from_iso8601_timestamp('2026-11-30T12:00:00Z')) AS days,
                    date_diff('hour', from_iso8601_timestamp('2026-11-30T12:00:00Z'), from_iso8601_timestamp('2026-11-30T10:30:00Z')) AS back,
                    date_add('day', -14, from_iso8601_timestamp('2026-11-30T00:00:00Z')) AS two_weeks_before,
                    hour(TIMESTAMP '2026-11-30 05:00:00') AS from_literal",
        )
        .await
        .unwrap();
        assert_eq!(row["h"], 21);
        assert_eq!((row["sunday"].clone(), row["monday"].clone()), (7.into(), 1.into()));
        assert_eq!(row["days"], 29);
        assert_eq!(row["back"], -1, "truncated toward zero");
        assert_eq!(row["two_weeks_before"], "2026-11-16T00:00:00Z");
        assert_eq!(row["from_literal"], 5);
    }

    #[tokio::test]
    async fn units_without_a_fixed_length_are_refused_by_name() {
        let e =
            one_row("SELECT date_diff('month', from_iso8601_timestamp('2026-01-01'), from_iso8601_timestamp('2026-03-01')) AS m")
                .await
                .unwrap_err();
        assert!(e.to_string().contains("'month' has no fixed length"), "{e}");
        let e = one_row("SELECT from_iso8601_timestamp('yesterday') AS t").await.unwrap_err();
        assert!(e.to_string().contains("'yesterday' is not an ISO 8601 timestamp"), "{e}");
    }
}
