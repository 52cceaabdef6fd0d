//! [`TableWriter`]: one (table, unit, window) streamed into Hive-partitioned Parquet parts.
//!
//! Parts are `<table>/dt=YYYY-MM-DD/<stem>-NNNN.parquet`, written by parquet's
//! `AsyncArrowWriter` over object_store's `BufWriter` (zstd, bounded row groups, multipart
//! upload) with the per-column settings of the table's [`TableDef`]. Records that could not be
//! mapped go to `_quarantine/<table>/dt=…/<stem>.jsonl`.
//!
//! Every partition the writer claimed belongs to this attempt: [`TableWriter::finish`] deletes
//! parts and quarantine files of the same stem that this attempt did not rewrite, so a re-run
//! overwrites and never duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::LakeError;
use crate::schema::TableDef;

/// Largest number of rows in one row group: bounds writer memory (plus the byte bound below).
const MAX_ROW_GROUP_ROWS: usize = 64 * 1024;
const MAX_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;
/// Files are rotated after this many rows so that no single object grows without bound.
const MAX_ROWS_PER_FILE: usize = 2_000_000;

/// What a [`TableWriter`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    pub rows: u64,
    pub files: u64,
    pub quarantined: u64,
    /// Lake-relative paths of the Parquet files written, in order.
    pub paths: Vec<String>,
}

/// A record that could not be mapped, kept with the reason instead of being dropped.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedRecord {
    /// Where the record came from, e.g. `credential report line 17`.
    pub origin: String,
    pub reason: String,
    /// The record as received (CSV line or JSON text).
    pub raw: String,
}

/// An open Parquet file. Encoding and compression run in a task of their own, so they use the
/// second core while the caller maps the next page; the channel holds at most two batches, so
/// memory stays bounded by the row group plus two batches.
struct OpenPart {
    path: Path,
    batches: tokio::sync::mpsc::Sender<EncoderMessage>,
    encoder: tokio::task::JoinHandle<Result<(), LakeError>>,
    rows: usize,
    /// Rows sent since the last flush (or since opening).
    unflushed: usize,
}

enum EncoderMessage {
    Batch(RecordBatch),
    /// Write the row group in progress to the file now, freeing its memory.
    Flush,
    /// Close the file. Without it (the writer was dropped after a failure) the file is
    /// abandoned unfinished, never completed with partial data.
    Finish,
}

impl OpenPart {
    fn open(store: Arc<dyn ObjectStore>, table: &TableDef, path: Path) -> Result<Self, LakeError> {
        // BufWriter switches to a multipart upload once a part's worth of bytes is buffered.
        let object = BufWriter::new(store, path.clone());
        let mut writer = AsyncArrowWriter::try_new(object, table.schema(), Some(writer_properties(table)))
            .map_err(|cause| LakeError::Parquet { path: path.to_string(), cause })?;
        let (batches, mut inbox) = tokio::sync::mpsc::channel::<EncoderMessage>(2);
        let name = path.to_string();
        let encoder = tokio::spawn(async move {
            let err = |cause| LakeError::Parquet { path: name.clone(), cause };
            while let Some(message) = inbox.recv().await {
                match message {
                    EncoderMessage::Batch(batch) => writer.write(&batch).await.map_err(err)?,
                    EncoderMessage::Flush => writer.flush().await.map_err(err)?,
                    EncoderMessage::Finish => {
                        writer.close().await.map_err(err)?;
                        return Ok(());
                    }
                }
            }
            Ok(())
        });
        Ok(OpenPart { path, batches, encoder, rows: 0, unflushed: 0 })
    }

    /// The encoder's own error, after it stopped taking batches.
    async fn failure(self) -> LakeError {
        match self.encoder.await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => LakeError::Encoder { path: self.path.to_string(), message: "stopped early".into() },
            Err(e) => LakeError::Encoder { path: self.path.to_string(), message: e.to_string() },
        }
    }

    async fn finish(self) -> Result<(), LakeError> {
        if self.batches.send(EncoderMessage::Finish).await.is_err() {
            return Err(self.failure().await);
        }
        match self.encoder.await {
            Ok(result) => result,
            Err(e) => Err(LakeError::Encoder { path: self.path.to_string(), message: e.to_string() }),
        }
    }
}

/// Streams one (table, unit, window) into Parquet parts, per `dt` partition.
pub struct TableWriter {
    store: Arc<dyn ObjectStore>,
    table: &'static TableDef,
    stem: String,
    open: BTreeMap<NaiveDate, OpenPart>,
    /// Parts written per partition (also partitions claimed with none).
    parts: BTreeMap<NaiveDate, u32>,
    quarantine: Vec<(NaiveDate, QuarantinedRecord)>,
    stats: WriteStats,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("table", &self.table.name)
            .field("stem", &self.stem)
            .field("stats", &self.stats)
            .finish()
    }
}

impl TableWriter {
    pub(super) fn new(store: Arc<dyn ObjectStore>, table: &'static TableDef, stem: String) -> Self {
        TableWriter {
            store,
            table,
            stem,
            open: BTreeMap::new(),
            parts: BTreeMap::new(),
            quarantine: Vec::new(),
            stats: WriteStats::default(),
        }
    }

    /// Declares that this writer owns partition `dt` even if it writes no row there, so that
    /// [`finish`](Self::finish) removes parts an earlier attempt left in it.
    pub fn claim(&mut self, dt: NaiveDate) {
        self.parts.entry(dt).or_insert(0);
    }

    /// Appends rows whose time column falls on `dt`.
    pub async fn write(&mut self, dt: NaiveDate, batch: &RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            self.claim(dt);
            return Ok(());
        }
        if !self.open.contains_key(&dt) {
            let part = self.parts.entry(dt).or_insert(0);
            let path = part_path(self.table.name, dt, &self.stem, *part);
            *part += 1;
            self.open.insert(dt, OpenPart::open(self.store.clone(), self.table, path)?);
        }
        let part = self.open.get_mut(&dt).expect("inserted above");
        if part.batches.send(EncoderMessage::Batch(batch.clone())).await.is_err() {
            let part = self.open.remove(&dt).expect("present");
            return Err(part.failure().await);
        }
        part.rows += batch.num_rows();
        part.unflushed += batch.num_rows();
        self.stats.rows += batch.num_rows() as u64;
        if part.rows >= MAX_ROWS_PER_FILE {
            let part = self.open.remove(&dt).expect("present");
            self.close_part(part).await?;
        }
        Ok(())
    }

    /// Closes the files of partitions before `dt`: a source that moves forward in time calls
    /// this so that only the current day's writer holds a row group in memory. A later row
    /// for a closed partition simply opens its next part.
    pub async fn close_before(&mut self, dt: NaiveDate) -> Result<(), LakeError> {
        let older: Vec<NaiveDate> = self.open.range(..dt).map(|(d, _)| *d).collect();
        for d in older {
            let part = self.open.remove(&d).expect("listed above");
            self.close_part(part).await?;
        }
        Ok(())
    }

    /// Writes out the row groups in progress of every open partition but `current`: for input
    /// in no particular time order (an import), so that one row group is in memory at a time
    /// rather than one per day touched. Files stay open; a partition written again later
    /// simply starts another row group.
    pub async fn flush_others(&mut self, current: NaiveDate) -> Result<(), LakeError> {
        let others: Vec<NaiveDate> =
            self.open.iter().filter(|(d, p)| **d != current && p.unflushed > 0).map(|(d, _)| *d).collect();
        for d in others {
            let part = self.open.get_mut(&d).expect("listed above");
            part.unflushed = 0;
            if part.batches.send(EncoderMessage::Flush).await.is_err() {
                let part = self.open.remove(&d).expect("present");
                return Err(part.failure().await);
            }
        }
        Ok(())
    }

    /// Keeps a record that could not be mapped; it is written at [`finish`](Self::finish).
    pub fn quarantine(&mut self, dt: NaiveDate, record: QuarantinedRecord) {
        self.claim(dt);
        self.stats.quarantined += 1;
        self.quarantine.push((dt, record));
    }

    async fn close_part(&mut self, part: OpenPart) -> Result<(), LakeError> {
        let path = part.path.to_string();
        part.finish().await?;
        self.stats.files += 1;
        self.stats.paths.push(path);
        Ok(())
    }

    /// Closes every open file, writes quarantined records, and deletes what an earlier attempt
    /// of the same stem left in a claimed partition and this attempt did not rewrite: parts
    /// numbered beyond this attempt's, and a quarantine file where this attempt quarantined
    /// nothing. Only after this returns is the data durable, and only then may a checkpoint
    /// move.
    pub async fn finish(mut self) -> Result<WriteStats, LakeError> {
        for part in std::mem::take(&mut self.open).into_values() {
            self.close_part(part).await?;
        }
        for (dt, written) in self.parts.clone() {
            self.remove_stale_parts(dt, written).await?;
        }
        let mut by_dt: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
        for (dt, record) in &self.quarantine {
            let path = quarantine_path(self.table.name, *dt, &self.stem);
            let buf = by_dt.entry(*dt).or_default();
            serde_json::to_writer(&mut *buf, record).map_err(|cause| LakeError::Encode { path: path.to_string(), cause })?;
            buf.push(b'\n');
        }
        for dt in self.parts.keys().filter(|dt| !by_dt.contains_key(dt)) {
            let path = quarantine_path(self.table.name, *dt, &self.stem);
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(cause) => return Err(LakeError::Store { path: path.to_string(), cause }),
            }
        }
        for (dt, body) in by_dt {
            let path = quarantine_path(self.table.name, dt, &self.stem);
            self.store
                .put(&path, PutPayload::from(body))
                .await
                .map_err(|cause| LakeError::Store { path: path.to_string(), cause })?;
        }
        Ok(self.stats)
    }

    async fn remove_stale_parts(&self, dt: NaiveDate, written: u32) -> Result<(), LakeError> {
        let dir = partition_dir(self.table.name, dt);
        let listed: Vec<_> =
            self.store.list(Some(&dir)).try_collect().await.map_err(|cause| LakeError::Store { path: dir.to_string(), cause })?;
        for meta in listed {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let Some(n) = part_number(name, &self.stem) else {
                continue;
            };
            if n >= written {
                tracing::info!(path = %meta.location, "removing part left by an earlier attempt of this window");
                self.store
                    .delete(&meta.location)
                    .await
                    .map_err(|cause| LakeError::Store { path: meta.location.to_string(), cause })?;
            }
        }
        Ok(())
    }
}

fn writer_properties(table: &TableDef) -> WriterProperties {
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    let mut builder = WriterProperties::builder()
        // Level 1: within ~5 % of level 3's size on sign-in columns (18 vs 19 MB per 500k
        // records, docs/BENCHMARKS.md), and faster.
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("1 is a valid zstd level")))
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .set_created_by(format!("auditlake {}", env!("CARGO_PKG_VERSION")));
    for column in table.unique_columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), false);
    }
    for column in table.document_columns {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(*column), false)
            .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None);
    }
    builder.build()
}

/// `<table>/dt=YYYY-MM-DD/`
pub fn partition_dir(table: &str, dt: NaiveDate) -> Path {
    Path::from(format!("{table}/dt={}", dt.format("%Y-%m-%d")))
}

fn part_path(table: &str, dt: NaiveDate, stem: &str, part: u32) -> Path {
    Path::from(format!("{table}/dt={}/{stem}-{part:04}.parquet", dt.format("%Y-%m-%d")))
}

fn quarantine_path(table: &str, dt: NaiveDate, stem: &str) -> Path {
    Path::from(format!("_quarantine/{table}/dt={}/{stem}.jsonl", dt.format("%Y-%m-%d")))
}

/// `stem-0007.parquet` → 7 when it belongs to `stem`.
fn part_number(file_name: &str, stem: &str) -> Option<u32> {
    let rest = file_name.strip_prefix(stem)?.strip_prefix('-')?.strip_suffix(".parquet")?;
    (rest.len() == 4).then(|| rest.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_numbers_belong_to_their_stem_only() {
        assert_eq!(part_number("acct_2026-01-01-0003.parquet", "acct_2026-01-01"), Some(3));
        assert_eq!(part_number("acct_2026-01-01-0003.parquet", "acct_2026-01"), None);
        assert_eq!(part_number("acct_2026-01-01.jsonl", "acct_2026-01-01"), None);
    }
}
