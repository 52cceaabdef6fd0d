//! Imports Graph exports (sign-ins, directory audits) through the collectors' mapping.
//!
//! The file is read once to name the import (its [`content_id`](super::content_id): the file
//! stem of what it writes, and the key of its manifest under `_state/imports/`), then streamed: [`super::split`]
//! cuts it into records on a blocking thread, chunks of records are mapped by
//! [`GraphMapper`]s on the blocking pool, several at once (`workers`), and the results are
//! written in file order by one [`TableWriter`](auditlake_core::lake::TableWriter) — the same mapping, per-day files and
//! quarantine as the collectors.
//!
//! Exactly once: ids already in the lake for a day (read from its Parquet files' `id` column,
//! files of this import excepted) and ids seen earlier in the file are skipped, so importing
//! an export that overlaps what the collectors wrote adds only the missing records. A file
//! whose manifest exists was imported before and is skipped whole. Memory stays bounded
//! whatever the file size: chunks in flight, one row group (the other days' are written out
//! when the input moves to another day), and the set of ids (16 bytes each).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use arrow_array::RecordBatch;
use auditlake_core::graph::GraphKind;
use auditlake_core::lake::{Lake, QuarantinedRecord};
use auditlake_core::schema::graph::{GraphMapper, RecordKeys, RowContext, record_key, split_by_day};
use auditlake_core::schema::{TableDef, entra_signins};
use chrono::{NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::ImportSummary;
use super::split::{RecordChunk, Records};

/// Records per mapping chunk, and the bytes at which a chunk is cut early.
const CHUNK_RECORDS: usize = 2_000;
const CHUNK_BYTES: usize = 8 << 20;

/// Reads `path`, gunzipping it when it starts with gzip's magic bytes; counts the bytes read
/// from disk into `read`.
fn open(path: &Path, read: Arc<AtomicU64>) -> anyhow::Result<Box<dyn Read + Send>> {
    struct Counting<R>(R, Arc<AtomicU64>);
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, Counting(file, read));
    let gzip = reader.fill_buf().with_context(|| format!("reading {}", path.display()))?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(flate2::bufread::MultiGzDecoder::new(reader)) } else { Box::new(reader) })
}

/// The content id of the file at `path`.
fn file_digest(path: &Path) -> anyhow::Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    super::content_id(file).with_context(|| format!("reading {}", path.display()))
}

/// An id as 16 bytes: a GUID's own (the hyphenated form Graph uses), or the first 16 of
/// another id's SHA-256.
fn id_key(id: &str) -> u128 {
    match uuid::Uuid::try_parse(id) {
        Ok(guid) if id.len() == 36 => guid.as_u128(),
        _ => u128::from_be_bytes(Sha256::digest(id.as_bytes())[..16].try_into().expect("16 bytes")),
    }
}

/// What a mapping chunk became.
struct MappedChunk {
    batch: Option<RecordBatch>,
    /// The line of each batch row.
    lines: Vec<u64>,
    rejected: Vec<(u64, String, String)>,
}

fn map_chunk(
    records: RecordChunk,
    mappers: &Mutex<Vec<GraphMapper>>,
    kind: GraphKind,
    tenant: &str,
    run_id: &str,
) -> anyhow::Result<MappedChunk> {
    let graph = kind.graph_table();
    let mut mapper = mappers.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_else(|| GraphMapper::new(graph));
    // Sign-ins take their event type from each record below; the context is a placeholder.
    let context: &[&str] = match kind {
        GraphKind::SignIns => &["unknown"],
        GraphKind::DirectoryAudits => &[],
    };
    let ctx = RowContext { tenant_id: tenant, context, ingested_at: Utc::now(), run_id };
    let mapped = mapper.map(&records.texts, &ctx);
    mappers.lock().unwrap_or_else(|e| e.into_inner()).push(mapper);
    let mapped = mapped?;
    // Rejected records come back in input order, with their index: give each its line.
    let mut rejected = Vec::with_capacity(mapped.rejected.len());
    let mut lines = Vec::with_capacity(records.lines.len());
    let mut pending = mapped.rejected.into_iter().peekable();
    for (i, &line) in records.lines.iter().enumerate() {
        match pending.next_if(|r| r.index == i) {
            Some(r) => rejected.push((line, r.raw, r.reason)),
            None => lines.push(line),
        }
    }
    let batch = match (mapped.batch, kind) {
        (Some(b), GraphKind::SignIns) => Some(entra_signins::event_types_from_records(&b)?),
        (b, _) => b,
    };
    Ok(MappedChunk { batch, lines, rejected })
}

/// Ids in the Parquet files of `table`'s partition `dt`, files of `own_stem` excepted. Only
/// the `id` column is read (ranged reads on S3).
#[allow(
    deprecated,
    reason = "parquet 59 deprecates ParquetObjectReader in favour of a hand-written AsyncFileReader \
              (apache/arrow-rs#10308); it still reads correctly, and replacing it is that issue's work"
)]
async fn ids_in_lake(lake: &Lake, table: &TableDef, dt: NaiveDate, own_stem: &str) -> anyhow::Result<HashSet<u128>> {
    use parquet::arrow::ParquetRecordBatchStreamBuilder;
    #[allow(deprecated, reason = "see above")]
    use parquet::arrow::async_reader::ParquetObjectReader;
    let dir = auditlake_core::lake::partition_dir(table.name, dt);
    let files: Vec<_> = lake.store().list(Some(&dir)).try_collect().await.with_context(|| format!("listing {dir}"))?;
    let mut ids = HashSet::new();
    for meta in files {
        let name = meta.location.filename().unwrap_or_default();
        if !name.ends_with(".parquet") || name.starts_with(own_stem) {
            continue;
        }
        let reader = ParquetObjectReader::new(lake.store().clone(), meta.location.clone()).with_file_size(meta.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await.with_context(|| format!("reading {}", meta.location))?;
        let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), ["id"]);
        let mut stream = builder.with_projection(mask).build()?;
        while let Some(batch) = stream.try_next().await? {
            let column = batch.column(0);
            let strings = arrow_array::cast::AsArray::as_string::<i32>(column.as_ref());
            ids.extend(strings.iter().flatten().map(id_key));
        }
    }
    Ok(ids)
}

/// Progress callback: bytes of the file read so far.
pub type OnProgress<'a> = &'a (dyn Fn(u64) + Sync);

/// Imports one Graph export file for `tenant`.
pub async fn import_file(
    lake: &Lake,
    kind: GraphKind,
    tenant: &str,
    path: &Path,
    workers: usize,
    run_id: &str,
    on_progress: OnProgress<'_>,
) -> anyhow::Result<ImportSummary> {
    let (table, graph) = (kind.table(), kind.graph_table());
    let origin = path.display().to_string();
    let digest = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || file_digest(&path)).await??
    };
    let stem = format!("import-{}", &digest[..16]);
    let mut summary =
        ImportSummary { table: table.name.to_string(), file: origin.clone(), stem: stem.clone(), ..Default::default() };
    if let Some(earlier) = super::manifest(lake, table.name, &digest).await? {
        summary.already_imported = Some(earlier);
        return Ok(summary);
    }

    // Reader: records in chunks, on a thread of its own.
    let read = Arc::new(AtomicU64::new(0));
    let reader = open(path, read.clone())?;
    let (tx, rx) = tokio::sync::mpsc::channel::<anyhow::Result<RecordChunk>>(workers + 1);
    let reading = tokio::task::spawn_blocking(move || {
        let mut records = Records::new(reader);
        while let Some(chunk) = records.next_chunk(CHUNK_RECORDS, CHUNK_BYTES) {
            let failed = chunk.is_err();
            if tx.blocking_send(chunk.map_err(Into::into)).is_err() || failed {
                return;
            }
        }
    });

    // Mapping: chunks on the blocking pool, `workers` at once, results in file order.
    let mappers = Arc::new(Mutex::new(Vec::<GraphMapper>::new()));
    let chunks = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mapped = chunks
        .map(|chunk| {
            let (mappers, tenant, run_id) = (mappers.clone(), tenant.to_string(), run_id.to_string());
            async move {
                let chunk = chunk?;
                tokio::task::spawn_blocking(move || map_chunk(chunk, &mappers, kind, &tenant, &run_id)).await?
            }
        })
        .buffered(workers.max(1));
    let mut mapped = std::pin::pin!(mapped);

    // Writing: in file order, one writer, ids deduplicated against the lake and the file.
    let mut writer = lake.table_writer(table, stem.clone());
    let mut seen: HashSet<u128> = HashSet::new();
    let mut loaded: HashSet<NaiveDate> = HashSet::new();
    let fallback_day = Utc::now().date_naive();
    while let Some(chunk) = mapped.try_next().await.with_context(|| format!("{origin}: importing"))? {
        for (line, raw, reason) in chunk.rejected {
            let dt = record_key(&raw, graph.time_property).map_or(fallback_day, |(_, t)| t.date_naive());
            writer.quarantine(dt, QuarantinedRecord { origin: format!("{origin}:{line}"), reason, raw });
        }
        let Some(batch) = chunk.batch else { continue };
        let keys = RecordKeys::of(&batch, graph)?;
        let mut keep = arrow_array::builder::BooleanBuilder::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let Some((id, time)) = keys.get(i) else {
                writer.quarantine(
                    fallback_day,
                    QuarantinedRecord {
                        origin: format!("{origin}:{}", chunk.lines[i]),
                        reason: format!("record has no readable id or {}", graph.time_property),
                        raw: keys.raws.value(i).to_string(),
                    },
                );
                keep.append_value(false);
                continue;
            };
            let dt = time.date_naive();
            if loaded.insert(dt) {
                seen.extend(ids_in_lake(lake, table, dt, &stem).await?);
            }
            let fresh = seen.insert(id_key(id));
            if !fresh {
                summary.duplicates += 1;
            }
            keep.append_value(fresh);
        }
        for (dt, rows) in split_by_day(&batch, keys.times, Some(&keep.finish()))? {
            writer.write(dt, &rows).await?;
            writer.flush_others(dt).await?;
        }
        on_progress(read.load(Ordering::Relaxed));
    }
    reading.await?;
    let stats = writer.finish().await?;
    summary.rows = stats.rows;
    summary.files = stats.files;
    summary.quarantined = stats.quarantined;
    summary.files_written = stats.paths;
    super::record_manifest(lake, table.name, &digest, &summary).await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_sixteen_bytes() {
        assert_eq!(id_key("00000000-0000-0000-0000-000000000001"), 1);
        assert_ne!(id_key("Directory_ABC_1"), id_key("Directory_ABC_2"));
        assert_eq!(id_key("Directory_ABC_1"), id_key("Directory_ABC_1"));
    }
}
