//! Fakes and data for auditlake's tests, benchmarks and `auditlake demo`.
//!
//! - [`moto`]: a handle on the moto server `scripts/test.sh` starts, with one fresh AWS
//!   account per test (moto keys state by account, so parallel tests never see each other).
//! - [`parquet_rows`]: read Parquet back into JSON rows to assert on.
//! - [`logs`]: capture every log line a test binary emits, to prove secrets never appear.
//! - [`azure`]: an in-process fake of Azure Monitor's Logs Ingestion API and its token endpoint.
//! - [`graph`]: an in-process fake of Microsoft Graph's audit logs and the Entra token endpoint.
//! - [`planted`]: a tenant and an account with the cases the Athena queries exist to find.
//! - [`demo`]: the simulated organisation `auditlake demo` collects from (the planted cases
//!   amid weeks of everyday activity, over several tenants).

pub mod azure;
pub mod demo;
pub mod graph;
pub mod moto;
pub mod planted;

/// Reads a Parquet file's bytes back as JSON objects, one per row (timestamps as RFC 3339).
pub fn parquet_rows(
    bytes: bytes::Bytes,
) -> anyhow::Result<(arrow_schema::SchemaRef, Vec<serde_json::Map<String, serde_json::Value>>)> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let batches: Vec<arrow_array::RecordBatch> = reader.collect::<Result<_, _>>()?;
    let mut writer = arrow_json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let buf = writer.into_inner();
    let rows = if buf.is_empty() { Vec::new() } else { serde_json::from_slice(&buf)? };
    Ok((schema, rows))
}

pub mod logs {
    //! A process-wide tracing subscriber that keeps every line (JSON, DEBUG and up) in memory.
    use std::io::Write;
    use std::sync::{Arc, Mutex, OnceLock};

    #[derive(Clone, Default, Debug)]
    pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

    impl LogBuffer {
        /// Everything logged so far by any test of this binary.
        pub fn contents(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    impl Write for LogBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();

    /// Installs the capturing subscriber (once) and returns its buffer. Everything at DEBUG and
    /// above is kept, including the AWS SDK's own logs, so a leak anywhere is seen.
    pub fn capture() -> LogBuffer {
        BUFFER
            .get_or_init(|| {
                let buffer = LogBuffer::default();
                let writer = buffer.clone();
                let subscriber = tracing_subscriber::fmt()
                    .json()
                    .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
                    .with_writer(move || writer.clone())
                    .finish();
                // Another subscriber may already be set by the harness; then nothing is captured
                // and the tests that rely on capture say so when they find no line.
                let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
                buffer
            })
            .clone()
    }
}
