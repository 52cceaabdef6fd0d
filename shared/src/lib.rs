//! `auditlake-core`: everything two or more auditlake binaries use.
//!
//! A run reads [`config::Config`] once, opens the [`lake::Lake`] (S3 or a local directory), and
//! hands a [`pipeline::Source`] to [`pipeline::run`], which for each unit (account or tenant)
//! loads a [`checkpoint::Checkpoint`], pulls records through the source, streams them as
//! Parquet with a [`lake::TableWriter`], and only then moves the checkpoint.
//!
//! - [`config`]: environment → validated `Config` (the only module that reads the environment).
//! - [`secrets`]: `SecretStore` over SSM SecureStrings (or env, for local runs only).
//! - [`lake`]: lake URL, Parquet writer over `object_store`, quarantine.
//! - [`checkpoint`]: typed checkpoints with conditional writes.
//! - [`pipeline`]: the `Source` trait and the one collection algorithm.
//! - [`schema`]: one Arrow schema per table, row → `RecordBatch` mapping, and the tables as
//!   Athena DDL and Glue columns.
//! - [`iam`]: the AWS IAM access-key source (credential report + `ListAccessKeys`).
//! - [`graph`]: the Microsoft Graph sources (sign-ins, directory audits): tokens, pacing,
//!   retries, paging, incremental windows.
//! - [`azure`]: the access-key report to Azure Monitor (Logs Ingestion API), exactly once,
//!   after the lake write.
//! - [`runtime`]: `Runtime<S>`, the one way the Lambdas and the CLI build and run a source
//!   (`FromConfig`), the scheduled event and the invocation error.
//! - [`metrics`]: a run's CloudWatch metrics as Embedded Metric Format lines.
//! - [`error`]: `Retryable` / `NonRetryable` classification shared by every error type.
//! - [`aws`]: AWS SDK configuration.

pub mod aws;
pub mod azure;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod graph;
pub mod iam;
pub mod lake;
pub mod metrics;
pub mod pipeline;
pub mod runtime;
pub mod schema;
pub mod secrets;

pub use error::{Classify, ErrorClass};
