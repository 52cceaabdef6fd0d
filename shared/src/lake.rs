//! The lake: Parquet tables and pipeline state over one `object_store` (S3 or a local dir).
//!
//! - [`LakeUrl`]: `s3://bucket/prefix`, `file:///path` or a plain local path.
//! - [`Lake`]: the opened store, rooted at the lake URL, with [`Lake::table_writer`].
//! - [`TableWriter`]: streams record batches into Hive-partitioned Parquet files
//!   `<table>/dt=YYYY-MM-DD/<stem>-NNNN.parquet` through parquet's `AsyncArrowWriter` over
//!   object_store's `BufWriter` (zstd, bounded row groups, multipart upload), and quarantines records that could not be
//!   mapped to `_quarantine/<table>/dt=…/<stem>.jsonl`.
//!
//! The file stem is deterministic per (unit, window): a retried window rewrites the same
//! names, and [`TableWriter::finish`] deletes higher-numbered parts left by an earlier attempt,
//! so a re-run overwrites and never duplicates. S3 and local directories share every line of
//! this code; only [`Lake::open`] differs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow_array::RecordBatch;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{CredentialProvider, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::error::{Classify, ErrorClass};
use crate::schema::TableDef;

/// Where the lake lives, parsed from `AUDITLAKE_LAKE_URL` or `--lake`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    S3 { bucket: String, prefix: String },
    Local(PathBuf),
}

impl LakeUrl {
    /// Parses `s3://bucket[/prefix]`, `file:///abs/path` or a local path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !is_bucket_name(bucket) {
                return Err(format!("{bucket:?} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"));
            }
            return Ok(LakeUrl::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
        }
        if raw.starts_with("file://") {
            let url = url::Url::parse(raw).map_err(|e| e.to_string())?;
            let path = url.to_file_path().map_err(|_| "a file:// URL needs an absolute path".to_string())?;
            return Ok(LakeUrl::Local(path));
        }
        if raw.contains("://") {
            return Err("expected s3://bucket/prefix, file:///path or a local directory".to_string());
        }
        Ok(LakeUrl::Local(PathBuf::from(raw)))
    }
}

impl std::fmt::Display for LakeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            LakeUrl::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

/// A failure reading or writing the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("cannot open lake {url}: {message}")]
    Open { url: String, message: String },
    #[error("lake object {path}: {source}")]
    Store { path: String, source: object_store::Error },
    #[error("writing Parquet {path}: {source}")]
    Parquet { path: String, source: parquet::errors::ParquetError },
    #[error("encoding quarantine records for {path}: {source}")]
    Encode { path: String, source: serde_json::Error },
    #[error("Parquet encoder for {path} failed: {message}")]
    Encoder { path: String, message: String },
}

impl Classify for LakeError {
    fn class(&self) -> ErrorClass {
        match self {
            LakeError::Store { source, .. } => store_error_class(source),
            LakeError::Parquet { .. } | LakeError::Encoder { .. } => ErrorClass::Retryable,
            LakeError::Open { .. } | LakeError::Encode { .. } => ErrorClass::NonRetryable,
        }
    }
}

pub(crate) fn store_error_class(e: &object_store::Error) -> ErrorClass {
    match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }
        | object_store::Error::InvalidPath { .. }
        | object_store::Error::NotSupported { .. }
        | object_store::Error::NotImplemented { .. } => ErrorClass::NonRetryable,
        _ => ErrorClass::Retryable,
    }
}

/// The opened lake. Paths given to [`Lake::store`] are relative to the lake root.
#[derive(Debug, Clone)]
pub struct Lake {
    url: LakeUrl,
    store: Arc<dyn ObjectStore>,
}

/// Largest number of rows in one row group: bounds writer memory (plus the byte bound below).
const MAX_ROW_GROUP_ROWS: usize = 64 * 1024;
const MAX_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;
/// Files are rotated after this many rows so that no single object grows without bound.
const MAX_ROWS_PER_FILE: usize = 2_000_000;

impl Lake {
    /// Opens the lake. S3 uses the region, endpoint (`AWS_ENDPOINT_URL`) and credential chain of
    /// `aws`, so a profile, SSO or a Lambda role work exactly as for the SDK clients. A local
    /// directory is created when missing.
    pub async fn open(url: &LakeUrl, aws: &aws_config::SdkConfig) -> Result<Self, LakeError> {
        let open_err = |message: String| LakeError::Open { url: url.to_string(), message };
        let store: Arc<dyn ObjectStore> = match url {
            LakeUrl::S3 { bucket, prefix } => {
                let credentials =
                    aws.credentials_provider().ok_or_else(|| open_err("no AWS credentials are configured".to_string()))?;
                let mut builder =
                    AmazonS3Builder::new().with_bucket_name(bucket).with_credentials(Arc::new(SdkCredentials::new(credentials)));
                if let Some(region) = aws.region() {
                    builder = builder.with_region(region.as_ref());
                }
                if let Some(endpoint) = aws.endpoint_url() {
                    builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
                }
                let s3 = builder.build().map_err(|e| open_err(e.to_string()))?;
                if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix.as_str())) }
            }
            LakeUrl::Local(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| open_err(e.to_string()))?;
                let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| open_err(e.to_string()))?;
                Arc::new(fs)
            }
        };
        Ok(Lake { url: url.clone(), store })
    }

    pub fn url(&self) -> &LakeUrl {
        &self.url
    }

    /// The store, rooted at the lake URL.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The local directory of the lake, when it is one (conditional checkpoint writes need it).
    pub fn local_root(&self) -> Option<&std::path::Path> {
        match &self.url {
            LakeUrl::Local(dir) => Some(dir),
            LakeUrl::S3 { .. } => None,
        }
    }

    /// A writer for one (table, unit, window): every file it writes starts with `stem`.
    pub fn table_writer(&self, table: &'static TableDef, stem: impl Into<String>) -> TableWriter {
        TableWriter {
            store: self.store.clone(),
            table,
            stem: stem.into(),
            open: BTreeMap::new(),
            parts: BTreeMap::new(),
            quarantine: Vec::new(),
            stats: WriteStats::default(),
        }
    }
}

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
}

enum EncoderMessage {
    Batch(RecordBatch),
    /// Close the file. Without it (the writer was dropped after a failure) the file is
    /// abandoned unfinished, never completed with partial data.
    Finish,
}

impl OpenPart {
    fn open(store: Arc<dyn ObjectStore>, table: &TableDef, path: Path) -> Result<Self, LakeError> {
        // BufWriter switches to a multipart upload once a part's worth of bytes is buffered.
        let object = BufWriter::new(store, path.clone());
        let mut writer = AsyncArrowWriter::try_new(object, table.schema(), Some(writer_properties(table)))
            .map_err(|source| LakeError::Parquet { path: path.to_string(), source })?;
        let (batches, mut inbox) = tokio::sync::mpsc::channel::<EncoderMessage>(2);
        let name = path.to_string();
        let encoder = tokio::spawn(async move {
            let err = |source| LakeError::Parquet { path: name.clone(), source };
            while let Some(message) = inbox.recv().await {
                match message {
                    EncoderMessage::Batch(batch) => writer.write(&batch).await.map_err(err)?,
                    EncoderMessage::Finish => {
                        writer.close().await.map_err(err)?;
                        return Ok(());
                    }
                }
            }
            Ok(())
        });
        Ok(OpenPart { path, batches, encoder, rows: 0 })
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

    /// Keeps a record that could not be mapped; it is written at [`finish`](Self::finish).
    pub fn quarantine(&mut self, dt: NaiveDate, record: QuarantinedRecord) {
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

    /// Closes every open file, writes quarantined records, and deletes parts of an earlier
    /// attempt of the same stem that this attempt did not rewrite. Only after this returns is
    /// the data durable, and only then may a checkpoint move.
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
            serde_json::to_writer(&mut *buf, record).map_err(|source| LakeError::Encode { path: path.to_string(), source })?;
            buf.push(b'\n');
        }
        for (dt, body) in by_dt {
            let path = quarantine_path(self.table.name, dt, &self.stem);
            self.store
                .put(&path, PutPayload::from(body))
                .await
                .map_err(|source| LakeError::Store { path: path.to_string(), source })?;
        }
        Ok(self.stats)
    }

    async fn remove_stale_parts(&self, dt: NaiveDate, written: u32) -> Result<(), LakeError> {
        let dir = partition_dir(self.table.name, dt);
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|source| LakeError::Store { path: dir.to_string(), source })?;
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
                    .map_err(|source| LakeError::Store { path: meta.location.to_string(), source })?;
            }
        }
        Ok(())
    }
}

fn writer_properties(table: &TableDef) -> WriterProperties {
    use parquet::schema::types::ColumnPath;
    let raw = ColumnPath::from(crate::schema::graph::RAW);
    let mut builder = WriterProperties::builder()
        // Level 1: within ~5 % of level 3's size on sign-in columns (18 vs 19 MB per 500k
        // records, docs/BENCHMARKS.md), and faster.
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("1 is a valid zstd level")))
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .set_created_by(format!("auditlake {}", env!("CARGO_PKG_VERSION")))
        // Every raw record is unique and kilobytes long: a dictionary never pays off and
        // min/max statistics of whole JSON documents help no query. Both cost most of the
        // write time when left on.
        .set_column_dictionary_enabled(raw.clone(), false)
        .set_column_statistics_enabled(raw, parquet::file::properties::EnabledStatistics::None);
    for column in table.unique_columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), false);
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

/// Lets `object_store` sign S3 requests with the AWS SDK's credential chain (profiles, SSO,
/// container and Lambda roles), which `AmazonS3Builder` alone does not fully implement.
/// Credentials are cached until five minutes before they expire.
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        SdkCredentials { provider, cached: Mutex::new(None) }
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|t| t > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(credential.clone());
            }
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
        let credential = Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        });
        *cached = Some((credential.clone(), c.expiry()));
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_urls_parse_and_reject_with_reasons() {
        assert_eq!(
            LakeUrl::parse("s3://my-lake/logs/").unwrap(),
            LakeUrl::S3 { bucket: "my-lake".into(), prefix: "logs".into() }
        );
        assert_eq!(LakeUrl::parse("s3://my-lake").unwrap(), LakeUrl::S3 { bucket: "my-lake".into(), prefix: "".into() });
        assert_eq!(LakeUrl::parse("file:///tmp/lake").unwrap(), LakeUrl::Local("/tmp/lake".into()));
        assert_eq!(LakeUrl::parse("./lake").unwrap(), LakeUrl::Local("./lake".into()));
        assert!(LakeUrl::parse("s3://My_Bucket/x").unwrap_err().contains("My_Bucket"));
        assert!(LakeUrl::parse("gs://b/x").is_err());
    }

    #[test]
    fn part_numbers_belong_to_their_stem_only() {
        assert_eq!(part_number("acct_2026-01-01-0003.parquet", "acct_2026-01-01"), Some(3));
        assert_eq!(part_number("acct_2026-01-01-0003.parquet", "acct_2026-01"), None);
        assert_eq!(part_number("acct_2026-01-01.jsonl", "acct_2026-01-01"), None);
    }
}
