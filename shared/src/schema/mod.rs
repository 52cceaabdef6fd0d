//! One Arrow schema per lake table, and the mapping of source records into it.
//!
//! [`TableDef`] names a table, its time column (which decides the `dt` partition) and its Arrow
//! schema. The schema here is the single source: Athena DDL and Glue columns are generated from
//! it. Timestamps are `Timestamp(Millisecond, "UTC")` (Athena engine v3 reads milliseconds).
//!
//! - [`iam_access_keys`]: `aws_iam_access_keys`, one row per access key per daily snapshot.
//! - [`entra_signins`], [`entra_directory_audits`]: Graph records, declared with Graph's names
//!   and mapped by [`graph::GraphMapper`].
//! - [`hive`]: the same tables as Athena DDL and Glue columns (generated, never hand-written).

use std::sync::{Arc, LazyLock};

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, SchemaRef, TimeUnit};
use serde::Serialize;

pub mod azure;
pub mod entra_directory_audits;
pub mod entra_signins;
pub mod graph;
pub mod hive;
pub mod iam_access_keys;

/// A lake table.
#[derive(Debug)]
pub struct TableDef {
    /// Table name, also the top-level folder in the lake.
    pub name: &'static str,
    /// Column whose UTC date is the `dt` partition.
    pub time_column: &'static str,
    /// One sentence for generated DDL comments and docs.
    pub description: &'static str,
    /// Top-level columns whose values (nearly) never repeat, such as record ids: the writer
    /// skips dictionary encoding for them, which would only cost time before falling back.
    pub unique_columns: &'static [&'static str],
    /// Top-level columns that hold whole documents (the raw JSON of a record): unique and
    /// kilobytes long, so the writer keeps neither a dictionary nor min/max statistics for
    /// them (no query filters on them, and both would cost most of the write time).
    pub document_columns: &'static [&'static str],
    schema: &'static LazyLock<SchemaRef>,
}

impl TableDef {
    pub fn schema(&self) -> SchemaRef {
        (*self.schema).clone()
    }
}

/// Every table of the lake.
pub fn tables() -> [&'static TableDef; 3] {
    [&entra_signins::TABLE, &entra_directory_audits::TABLE, &iam_access_keys::TABLE]
}

/// The lake table named `name`.
pub fn table(name: &str) -> Option<&'static TableDef> {
    tables().into_iter().find(|t| t.name == name)
}

/// The timestamp type of every time column.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
}

pub(crate) fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

/// Serializes rows into one batch of `schema` with arrow-json's serde decoder, so a row struct
/// and its schema are the only mapping code a table needs.
pub fn rows_to_batch<T: Serialize>(schema: SchemaRef, rows: &[T]) -> Result<RecordBatch, ArrowError> {
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone()).with_batch_size(rows.len().max(1)).build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(schema)))
}
