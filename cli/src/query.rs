//! `auditlake query`: SQL over the lake with Apache DataFusion, the local engine beside Athena.
//!
//! [`LakeSql`] registers the three lake tables as listing tables over the lake's own object
//! store (a local directory or S3, with the credentials the collectors use), with `dt` as a
//! partition column so `WHERE dt >= '…'` reads only the matching folders, and the `calendar`
//! table the zero-filling queries join (generated in memory). The files of `athena/queries/`
//! run as they are; where DataFusion cannot run the Trino text (see
//! `../shared/reference/sql-portability.md`), a `<name>.datafusion.sql` variant beside the file
//! is run instead ([`query_file_text`]). Trino functions with no DataFusion counterpart that
//! people write in Athena are registered under their Trino names ([`trino`]).

mod trino;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use arrow_array::{Date32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use auditlake_core::lake::Lake;
use auditlake_core::schema::{self, hive};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::prelude::SessionContext;

/// The URL the lake's object store is registered under inside DataFusion.
const LAKE_STORE_URL: &str = "lake://root";

/// The calendar's range: wide enough for any retention, small enough to build instantly.
const CALENDAR_FROM: (i32, u32, u32) = (2015, 1, 1);
const CALENDAR_TO: (i32, u32, u32) = (2040, 12, 31);

/// A DataFusion session with the lake's tables registered.
pub struct LakeSql {
    ctx: SessionContext,
    /// The time queries see as now (`current_date`, `now()`); `None` = the wall clock.
    as_of: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for LakeSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSql").field("session", &self.ctx.session_id()).finish()
    }
}

impl LakeSql {
    /// Registers every lake table (and `calendar`) over `lake`.
    pub async fn open(lake: &Lake) -> anyhow::Result<Self> {
        let ctx = SessionContext::new();
        let store_url = url::Url::parse(LAKE_STORE_URL)?;
        ctx.register_object_store(&store_url, lake.store().clone());
        for table in schema::tables() {
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![(hive::PARTITION_COLUMN.to_string(), DataType::Utf8)]);
            let location = format!("{LAKE_STORE_URL}/{}/", table.name);
            ctx.register_listing_table(table.name, &location, options, Some(table.schema()), None)
                .await
                .with_context(|| format!("registering {} at {location}", table.name))?;
        }
        ctx.register_table(hive::CALENDAR_TABLE, Arc::new(calendar()?))?;
        trino::register(&ctx);
        Ok(LakeSql { ctx, as_of: None })
    }

    /// Queries see `now` as the current time: the relative ranges of the query files
    /// (`current_date - interval '30' day`) then end on `now`'s date.
    pub fn with_as_of(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        self.as_of = Some(now);
        self
    }

    /// Runs one statement and collects its result.
    pub async fn run(&self, sql: &str) -> datafusion::error::Result<(Arc<Schema>, Vec<RecordBatch>)> {
        // The session's state as `SessionContext::sql` would plan with (start time marked),
        // with the start time moved to `as_of`: the planner folds `current_date` from it.
        let mut state = self.ctx.state();
        if let Some(now) = self.as_of {
            state.execution_props_mut().query_execution_start_time = Some(now);
        }
        let plan = state.create_logical_plan(sql).await?;
        let frame = datafusion::dataframe::DataFrame::new(state, plan);
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        Ok((schema, batches))
    }
}

/// `calendar(day date)`, one row per day, in memory.
fn calendar() -> anyhow::Result<MemTable> {
    let day = |(y, m, d): (i32, u32, u32)| chrono::NaiveDate::from_ymd_opt(y, m, d).context("calendar bounds");
    let epoch = day((1970, 1, 1))?;
    let (from, to) = (day(CALENDAR_FROM)?, day(CALENDAR_TO)?);
    let days: Date32Array = ((from - epoch).num_days() as i32..=(to - epoch).num_days() as i32).map(Some).collect();
    let schema = Arc::new(Schema::new(vec![Field::new("day", DataType::Date32, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(days)])?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// The SQL to run for a query file: its `.datafusion.sql` variant when one exists beside it.
pub fn query_file_text(path: &Path) -> anyhow::Result<(PathBuf, String)> {
    let variant = path.with_extension("datafusion.sql");
    let chosen = if path.extension().is_some_and(|e| e == "sql")
        && !path.file_name().and_then(|n| n.to_str()).is_some_and(crate::queries::is_variant_name)
        && variant.exists()
    {
        variant
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&chosen).with_context(|| format!("reading {}", chosen.display()))?;
    Ok((chosen, text))
}

/// How `auditlake query` prints a result.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects (nulls written out).
    Json,
}

/// Writes `batches` to `out` in `format`.
pub fn write(out: &mut dyn std::io::Write, format: Format, schema: &Arc<Schema>, batches: &[RecordBatch]) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let table = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(out, "(no rows; columns: {})", names.join(", "))?;
            } else {
                writeln!(out, "{table}")?;
            }
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out);
            if batches.is_empty() {
                writer.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                writer.write(b)?;
            }
        }
        Format::Json => {
            let mut writer =
                arrow_json::WriterBuilder::new().with_explicit_nulls(true).build::<_, arrow_json::writer::JsonArray>(out);
            for b in batches {
                writer.write(b)?;
            }
            // Writes `[]` when there were no rows, so the output is always JSON.
            writer.finish()?;
            writer.into_inner().write_all(b"\n")?;
        }
    }
    Ok(())
}

/// A result as JSON objects, one per row (dates as `YYYY-MM-DD`, timestamps as RFC 3339, nulls
/// written out), for code that reads answers by column name.
pub fn json_rows(batches: &[RecordBatch]) -> anyhow::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut writer =
        arrow_json::WriterBuilder::new().with_explicit_nulls(true).build::<_, arrow_json::writer::JsonArray>(Vec::new());
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_slice(&bytes)?)
}
