//! The lake: Parquet tables and pipeline state over one `object_store` (S3 or a local dir).
//!
//! - [`LakeUrl`] (`url.rs`): `s3://bucket/prefix`, `file:///path` or a plain local path.
//! - [`Lake`]: the opened store, rooted at the lake URL, with [`Lake::table_writer`].
//! - [`TableWriter`] (`writer.rs`): streams record batches into Hive-partitioned Parquet files
//!   and quarantines records that could not be mapped.
//! - `s3_credentials.rs`: S3 requests signed with the AWS SDK's credential chain.
//!
//! The file stem is deterministic per (unit, window): a retried window rewrites the same
//! names, and [`TableWriter::finish`] deletes what an earlier attempt left behind, so a re-run
//! overwrites and never duplicates. S3 and local directories share every line of this code;
//! only [`Lake::open`] differs.

mod s3_credentials;
mod url;
mod writer;

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::error::{Classify, ErrorClass};
use crate::schema::TableDef;

pub use url::LakeUrl;
pub use writer::{QuarantinedRecord, TableWriter, WriteStats, partition_dir};

use s3_credentials::SdkCredentials;

/// A failure reading or writing the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("cannot open lake {url}: {message}")]
    Open { url: String, message: String },
    // The cause is part of each message (Lambda diagnostics show only the message), so it is
    // not also exposed as `source()`: an error chain would print it twice.
    #[error("lake object {path}: {cause}")]
    Store { path: String, cause: object_store::Error },
    #[error("writing Parquet {path}: {cause}")]
    Parquet { path: String, cause: parquet::errors::ParquetError },
    #[error("encoding quarantine records for {path}: {cause}")]
    Encode { path: String, cause: serde_json::Error },
    #[error("Parquet encoder for {path} failed: {message}")]
    Encoder { path: String, message: String },
}

impl Classify for LakeError {
    fn class(&self) -> ErrorClass {
        match self {
            LakeError::Store { cause, .. } => store_error_class(cause),
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
        TableWriter::new(self.store.clone(), table, stem.into())
    }
}
