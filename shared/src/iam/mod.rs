//! The AWS IAM access-key source: one [`AccessKeyRow`](crate::schema::iam_access_keys::AccessKeyRow) per access key per account per day.
//!
//! [`IamSource`] resolves the accounts to cover (`accounts.rs`; [`AccountScope`]: the current
//! one, a list, or the whole Organization, entering each by `sts:AssumeRole`) and takes a
//! [`Snapshot`] of each (`snapshot.rs`):
//!
//! 1. `GenerateCredentialReport` until `COMPLETE` (bounded), then `GetCredentialReport`;
//!    the CSV is parsed by [`report`], which knows IAM's quirks.
//! 2. `ListAccessKeys` only for users whose report row shows a key (bounded concurrency, SDK
//!    adaptive retries): the report has no key ids, and users without keys need no call, so an
//!    account costs (users holding a key) + 3 IAM calls instead of 1 + U + K.
//! 3. Report slots joined to listed keys by creation time, ids sanitized by
//!    [`sanitize_access_key_id`] before they leave this module, ages computed against the
//!    report time.
//!
//! When the credential report is denied, the same rows come from `ListUsers` →
//! `ListAccessKeys` → `GetAccessKeyLastUsed` (the report-only columns `password_enabled` and
//! `mfa_active` are then null).

pub mod report;

mod accounts;
mod snapshot;

use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::NaiveDate;
use tokio::sync::OnceCell;

use crate::checkpoint::Checkpoint;
use crate::config::{AccountScope, Config};
use crate::error::{Classify, ErrorClass, classify_sdk_error, describe_sdk_error};
use crate::lake::{LakeError, TableWriter};
use crate::pipeline::{Plan, PullOutcome, RunRequest, Source};
use crate::runtime::FromConfig;
use crate::schema::iam_access_keys::TABLE;
use crate::schema::{TableDef, rows_to_batch};

pub use snapshot::{Method, ReportPolling, Snapshot, report_snapshot};

use accounts::Caller;

/// Why an account's snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("account {account}: {operation} failed: {message}")]
    Api { account: String, operation: String, message: String, class: ErrorClass },
    #[error("account {account}: the credential report was not ready after {waited:?}")]
    ReportTimeout { account: String, waited: Duration },
    /// The cause is in the message and not also `source()` (see `LakeError`).
    #[error("account {account}: {cause}")]
    ReportFormat { account: String, cause: report::ReportFormatError },
    #[error("account {account}: mapping rows to Arrow: {message}")]
    Mapping { account: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The lake holds the snapshot; sending it to Azure Monitor failed.
    #[error("account {account}: the snapshot is in the lake, but {cause}")]
    Azure { account: String, cause: crate::azure::AzureError },
    /// Azure Monitor delivery is configured but cannot start (its app's secrets).
    #[error("Azure Monitor delivery is configured but cannot start: {0}")]
    AzureStartup(crate::azure::AzureError),
}

impl Classify for IamError {
    fn class(&self) -> ErrorClass {
        match self {
            IamError::Api { class, .. } => *class,
            IamError::ReportTimeout { .. } => ErrorClass::Retryable,
            IamError::ReportFormat { .. } | IamError::Mapping { .. } => ErrorClass::NonRetryable,
            IamError::Lake(e) => e.class(),
            IamError::Azure { cause, .. } | IamError::AzureStartup(cause) => cause.class(),
        }
    }
}

fn api_error<E>(account: &str, operation: impl Into<String>, err: &SdkError<E, HttpResponse>) -> IamError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    IamError::Api {
        account: account.to_string(),
        operation: operation.into(),
        message: describe_sdk_error(err),
        class: classify_sdk_error(err),
    }
}

/// Keeps the first and last four characters: `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE`. Anything too
/// short to keep eight characters and still hide some is masked entirely.
pub fn sanitize_access_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 12 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The IAM access-key source over one or many accounts.
#[derive(Debug)]
pub struct IamSource {
    sdk: aws_config::SdkConfig,
    iam_config: aws_sdk_iam::Config,
    sts: aws_sdk_sts::Client,
    scope: AccountScope,
    concurrency: usize,
    /// Accounts snapshotted at the same time.
    account_concurrency: usize,
    polling: ReportPolling,
    caller: OnceCell<Caller>,
    /// Where each snapshot also goes once it is in the lake (`AUDITLAKE_AZURE_*`).
    azure: Option<crate::azure::AzureSink>,
}

impl IamSource {
    pub fn new(sdk: &aws_config::SdkConfig, scope: AccountScope, concurrency: usize) -> Self {
        IamSource {
            sdk: sdk.clone(),
            iam_config: aws_sdk_iam::Config::from(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            scope,
            concurrency: concurrency.max(1),
            account_concurrency: 1,
            polling: ReportPolling::default(),
            caller: OnceCell::new(),
            azure: None,
        }
    }

    /// Sends each snapshot to Azure Monitor after the lake write.
    pub fn with_azure(mut self, sink: crate::azure::AzureSink) -> Self {
        self.azure = Some(sink);
        self
    }

    /// Uses `config` as the template of every IAM client (e.g. with an interceptor that counts
    /// calls); per-account credentials are set on top of it.
    pub fn with_iam_config(mut self, config: aws_sdk_iam::Config) -> Self {
        self.iam_config = config;
        self
    }

    /// Snapshots up to `n` accounts at the same time: an organisation's accounts each wait
    /// seconds for their credential report, and one after another they would not fit a
    /// Lambda's 15 minutes.
    pub fn with_account_concurrency(mut self, n: usize) -> Self {
        self.account_concurrency = n.max(1);
        self
    }

    pub fn with_polling(mut self, polling: ReportPolling) -> Self {
        self.polling = polling;
        self
    }
}

#[async_trait]
impl FromConfig for IamSource {
    type Kind = ();

    fn needs_aws(_config: &Config) -> bool {
        true
    }

    async fn from_config(config: &Config, aws: &aws_config::SdkConfig, _kind: ()) -> Result<Self, IamError> {
        let source = IamSource::new(aws, config.accounts.clone(), config.iam_concurrency)
            .with_account_concurrency(config.account_concurrency);
        Ok(match &config.azure {
            None => source,
            Some(settings) => {
                let secrets = crate::secrets::SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(aws));
                let sink = crate::azure::AzureSink::from_settings(settings, &secrets).await.map_err(IamError::AzureStartup)?;
                source.with_azure(sink)
            }
        })
    }
}

/// The IAM source as a pipeline [`Source`]: one unit per account, one `dt` per report date.
#[async_trait]
impl Source for IamSource {
    type Error = IamError;

    fn table(&self) -> &'static TableDef {
        &TABLE
    }

    async fn units(&self) -> Result<Vec<String>, IamError> {
        self.accounts().await
    }

    fn unit_concurrency(&self) -> usize {
        self.account_concurrency
    }

    /// With Azure configured, the snapshot now in the lake goes to Azure Monitor too.
    async fn after_unit(&self, lake: &crate::lake::Lake, unit: &str, plan: &Plan) -> Result<Option<serde_json::Value>, IamError> {
        let Some(sink) = &self.azure else { return Ok(None) };
        let dt = plan.partition.unwrap_or_else(|| plan.window_end.date_naive());
        let delivery =
            sink.send_snapshot(lake, unit, dt).await.map_err(|cause| IamError::Azure { account: unit.to_string(), cause })?;
        Ok(Some(serde_json::json!({ "azure": delivery })))
    }

    fn plan(&self, unit: &str, _checkpoint: Option<&Checkpoint>, request: &RunRequest) -> Plan {
        // One snapshot per account per day: re-running the same day rewrites the same file.
        let dt = request.event_time.date_naive();
        Plan { stem: unit.to_string(), window_start: None, window_end: request.event_time, partition: Some(dt) }
    }

    async fn pull(
        &self,
        unit: &str,
        plan: &Plan,
        _checkpoint: Option<&Checkpoint>,
        request: &RunRequest,
        out: &mut TableWriter,
    ) -> Result<PullOutcome, IamError> {
        let dt: NaiveDate = plan.partition.unwrap_or_else(|| request.event_time.date_naive());
        let snapshot = self.snapshot(unit, request.event_time, &request.run_id).await?;
        let (method, report_generated_at) = (snapshot.method, snapshot.report_generated_at);
        write_snapshot(unit, dt, snapshot, out).await?;
        Ok(PullOutcome {
            cursor: report_generated_at,
            seen_ids: Default::default(),
            lanes: Default::default(),
            more_to_do: false,
            detail: Some(serde_json::json!({ "method": method, "report_generated_at": report_generated_at })),
        })
    }
}

/// Writes an account's snapshot into the `dt` partition of `out` (claimed first, so a retry
/// replaces the files of an earlier attempt) and quarantines its unreadable report lines: what
/// the collector does with every snapshot, and what an import of a saved report does.
pub async fn write_snapshot(account: &str, dt: NaiveDate, snapshot: Snapshot, out: &mut TableWriter) -> Result<(), IamError> {
    out.claim(dt);
    let batch = rows_to_batch(TABLE.schema(), &snapshot.rows)
        .map_err(|e| IamError::Mapping { account: account.into(), message: e.to_string() })?;
    out.write(dt, &batch).await?;
    for record in snapshot.rejected {
        out.quarantine(dt, record);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_keeps_four_and_four() {
        assert_eq!(sanitize_access_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(sanitize_access_key_id("short"), "…");
    }
}
