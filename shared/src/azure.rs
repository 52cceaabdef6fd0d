//! Azure Monitor delivery of the access-key report: the rows of one account's snapshot, read
//! back from the lake, sent to a data collection rule's stream with the Logs Ingestion API.
//!
//! [`AzureSink::send_snapshot`] is a destination beside the lake, not a second pipeline: it
//! runs after the lake write is durable and reads what the lake holds, so a failure here never
//! loses or undoes anything, and a re-send of any report date is the same call
//! (`auditlake send azure --date D`).
//!
//! Exactly once, as far as Azure allows (it has no server-side dedup):
//! - the rows (with their stable [`row_id`]) are sorted by id and
//!   cut into JSON arrays under [`MAX_BATCH_BYTES`], gzip-encoded; the cut does not depend on
//!   `run_id`, so a retry of the same report makes the same batches;
//! - after each 204, the number of batches acknowledged is saved under
//!   `_state/azure/aws_iam_access_keys/dt=…/<account>.json` with the checkpoints' conditional
//!   write, with a digest of the batches; a retry with the same digest starts after them;
//! - a batch whose acknowledgement was lost (connection cut after Azure took it) is sent again
//!   and arrives twice: the KQL views drop the copy with `summarize arg_max(TimeGenerated, *)
//!   by row_id`.
//!
//! Requests: bearer token for the Monitor scope of the cloud (client secret or certificate,
//! the Graph token code), `Content-Type: application/json`, `Content-Encoding: gzip`. 429 waits
//! `Retry-After` (or backs off), 5xx and transport errors back off, a 401 renews the token
//! once; 403, 404 and other 4xx say what is wrong.

use std::time::Duration;

use arrow_array::RecordBatch;
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint::{CheckpointError, CheckpointStore, StateDocument};
use crate::config::AzureSettings;
use crate::error::{Backoff, Classify, ErrorClass};
use crate::graph::{GraphError, TokenProvider, app_credential};
use crate::lake::{Lake, LakeError, partition_dir};
use crate::schema::azure::{ROW_ID, row_id};
use crate::schema::iam_access_keys::TABLE;
use crate::secrets::SecretStore;

/// Largest JSON array sent in one request, before compression: the API takes 1 MB per call
/// (compressed or not), so an uncompressed bound keeps every call under it whatever gzip does.
pub const MAX_BATCH_BYTES: usize = 1_000_000;
const API_VERSION: &str = "2023-01-01";
/// Attempts per batch before the run gives up (and fails Retryable).
const MAX_ATTEMPTS: u32 = 6;
/// Bytes assumed for a row's `run_id` when cutting batches, so the cut is the same whatever
/// the run's id (ids are shorter than this).
const RUN_ID_ALLOWANCE: usize = 96;

/// Why a delivery failed. Never carries a secret or a token.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// The sending app's credential or token (the message names the parameter or the app).
    #[error("Azure Monitor: {0}")]
    Credential(#[from] GraphError),
    #[error(
        "Azure Monitor refused the app ({status}: {message}): assign it Monitoring Metrics Publisher on the data collection rule; a new assignment can take up to 30 minutes to apply"
    )]
    Forbidden { status: u16, message: String },
    #[error(
        "Azure Monitor has no such rule or stream ({status}: {message}): check AUDITLAKE_AZURE_INGESTION_URL, AUDITLAKE_AZURE_DCR_ID and AUDITLAKE_AZURE_STREAM against the outputs of infra/azure"
    )]
    NotFound { status: u16, message: String },
    #[error("Azure Monitor rejected a batch ({status}: {message})")]
    Rejected { status: u16, message: String },
    #[error("Azure Monitor: gave up after {attempts} attempts of a batch; last problem: {last}")]
    Unavailable { attempts: u32, last: String },
    #[error("reading the snapshot back from the lake: {0}")]
    Lake(#[from] LakeError),
    #[error("reading {path}: {message}")]
    Snapshot { path: String, message: String },
    #[error(transparent)]
    Progress(#[from] CheckpointError),
}

impl Classify for AzureError {
    fn class(&self) -> ErrorClass {
        match self {
            AzureError::Credential(e) => e.class(),
            // A new role assignment takes time to apply: the next attempt may pass.
            AzureError::Forbidden { .. } | AzureError::Unavailable { .. } => ErrorClass::Retryable,
            AzureError::NotFound { .. } | AzureError::Rejected { .. } | AzureError::Snapshot { .. } => ErrorClass::NonRetryable,
            AzureError::Lake(e) => e.class(),
            AzureError::Progress(e) => e.class(),
        }
    }
}

/// How far one snapshot's delivery got, kept under `_state/azure/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryProgress {
    /// SHA-256 of the batches (without `run_id`): a retry of the same rows resumes.
    pub digest: String,
    pub batches: usize,
    /// Batches Azure acknowledged, from the first.
    pub acknowledged: usize,
    pub generation: u64,
}

impl StateDocument for DeliveryProgress {
    fn generation(&self) -> u64 {
        self.generation
    }
    fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
}

/// What one delivery did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Delivery {
    pub account: String,
    pub report_date: NaiveDate,
    pub rows: usize,
    pub batches: usize,
    /// Batches sent by this call (the others were acknowledged before).
    pub sent: usize,
    pub retries: u32,
}

/// Sends access-key snapshots to one data collection rule's stream.
#[derive(Debug)]
pub struct AzureSink {
    http: reqwest::Client,
    tokens: TokenProvider,
    tenant: String,
    url: String,
    /// Waits between attempts of a batch without `Retry-After` (tests make them short).
    backoff: Backoff,
}

impl AzureSink {
    /// The sink of `settings`, with the sending app's credential from `secrets`.
    pub async fn from_settings(settings: &AzureSettings, secrets: &SecretStore) -> Result<Self, AzureError> {
        let (client_id, credential) = app_credential(&settings.app, secrets).await?;
        let http = crate::graph::GraphClient::http_client();
        let tokens = TokenProvider::with_scope(http.clone(), &settings.login_url, settings.scope.clone(), client_id, credential);
        let url = format!(
            "{}/dataCollectionRules/{}/streams/{}?api-version={API_VERSION}",
            settings.ingestion_url, settings.dcr_id, settings.stream
        );
        let backoff = Backoff { base: Duration::from_secs(2), max: Duration::from_secs(60), jitter: true };
        Ok(AzureSink { http, tokens, tenant: settings.tenant_id.clone(), url, backoff })
    }

    /// Backs off from `first` (doubling, capped, with jitter) between attempts of a batch.
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff.base = first;
        self
    }

    /// Sends the snapshot of `account` for `report_date` as the lake holds it.
    pub async fn send_snapshot(&self, lake: &Lake, account: &str, report_date: NaiveDate) -> Result<Delivery, AzureError> {
        let rows = read_snapshot(lake, account, report_date).await?;
        let batches = cut_batches(&rows);
        let digest = digest(&batches);
        let store = CheckpointStore::new(lake.clone());
        let path = progress_path(account, report_date);
        let (progress, mut version) = store.load_document::<DeliveryProgress>(&path).await?;
        let acknowledged = progress.filter(|p| p.digest == digest && p.batches == batches.len()).map_or(0, |p| p.acknowledged);
        let mut delivery = Delivery {
            account: account.to_string(),
            report_date,
            rows: rows.len(),
            batches: batches.len(),
            ..Default::default()
        };
        for (index, batch) in batches.iter().enumerate().skip(acknowledged) {
            delivery.retries += self.post(&batch.body).await?;
            delivery.sent += 1;
            let progress =
                DeliveryProgress { digest: digest.clone(), batches: batches.len(), acknowledged: index + 1, generation: 0 };
            version = store.save_document(&path, progress, &version).await?;
        }
        tracing::info!(
            account,
            %report_date,
            rows = delivery.rows,
            batches = delivery.batches,
            sent = delivery.sent,
            retries = delivery.retries,
            "access-key snapshot delivered to Azure Monitor"
        );
        Ok(delivery)
    }

    /// Posts one gzip-encoded batch until Azure acknowledges it; returns the retries it took.
    async fn post(&self, gzipped: &[u8]) -> Result<u32, AzureError> {
        let mut renewed = false;
        let mut last = String::new();
        for attempt in 0..MAX_ATTEMPTS {
            // The wait before the next attempt when Azure names none.
            let backoff = self.backoff.delay(attempt + 1);
            let token = self.tokens.token(&self.tenant).await?;
            let sent = self
                .http
                .post(&self.url)
                .bearer_auth(token.expose_secret())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(gzipped.to_vec())
                .send()
                .await;
            let wait = match sent {
                Ok(response) if response.status().is_success() => return Ok(attempt),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let message = error_message(response).await;
                    match status {
                        401 if !renewed => {
                            renewed = true;
                            self.tokens.invalidate(&self.tenant, &token).await;
                            last = format!("401: {message}");
                            Duration::ZERO
                        }
                        403 => return Err(AzureError::Forbidden { status, message }),
                        404 => return Err(AzureError::NotFound { status, message }),
                        429 | 500..=599 => {
                            last = format!("{status}: {message}");
                            retry_after.unwrap_or(backoff)
                        }
                        _ => return Err(AzureError::Rejected { status, message }),
                    }
                }
                // A reset or a cut connection: the batch may or may not have arrived. Sending it
                // again may duplicate it, which the views' row_id dedup absorbs; not sending it
                // could lose it.
                Err(e) => {
                    last = crate::graph::client::without_url(e);
                    backoff
                }
            };
            tracing::warn!(attempt = attempt + 1, wait_ms = wait.as_millis() as u64, problem = %last, "Azure Monitor batch not acknowledged; retrying");
            tokio::time::sleep(wait).await;
        }
        Err(AzureError::Unavailable { attempts: MAX_ATTEMPTS, last })
    }
}

/// `{"error":{"code","message"}}` as one line, or the body's start.
async fn error_message(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v["error"].is_object() => {
            format!("{} {}", v["error"]["code"].as_str().unwrap_or(""), v["error"]["message"].as_str().unwrap_or(""))
                .trim()
                .to_string()
        }
        _ => text.chars().take(200).collect(),
    }
}

/// The files of the access-key table's `report_date` partition.
async fn snapshot_files(lake: &Lake, report_date: NaiveDate) -> Result<Vec<object_store::ObjectMeta>, AzureError> {
    let dir = partition_dir(TABLE.name, report_date);
    lake.store()
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|e| AzureError::Snapshot { path: dir.to_string(), message: e.to_string() })
}

/// The accounts with a snapshot in the `report_date` partition (the account is the file stem
/// the IAM collector and the report import write).
pub async fn snapshot_accounts(lake: &Lake, report_date: NaiveDate) -> Result<Vec<String>, AzureError> {
    let listed = snapshot_files(lake, report_date).await?;
    let mut accounts: Vec<String> = listed
        .iter()
        .filter_map(|m| m.location.filename()?.split('-').next().map(str::to_string))
        .filter(|a| crate::config::is_account_id(a))
        .collect();
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

fn progress_path(account: &str, report_date: NaiveDate) -> Path {
    Path::from(format!("_state/azure/{}/dt={report_date}/{account}.json", TABLE.name))
}

/// The rows of `account`'s snapshot files in the `report_date` partition, as JSON objects with
/// their `row_id`, sorted by it.
async fn read_snapshot(
    lake: &Lake,
    account: &str,
    report_date: NaiveDate,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, AzureError> {
    let listed = snapshot_files(lake, report_date).await?;
    let prefix = format!("{account}-");
    let mut rows = Vec::new();
    for meta in listed {
        let name = meta.location.filename().unwrap_or_default();
        if !name.starts_with(&prefix) || !name.ends_with(".parquet") {
            continue;
        }
        let snapshot_err = |message: String| AzureError::Snapshot { path: meta.location.to_string(), message };
        let bytes = lake
            .store()
            .get(&meta.location)
            .await
            .map_err(|e| snapshot_err(e.to_string()))?
            .bytes()
            .await
            .map_err(|e| snapshot_err(e.to_string()))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| snapshot_err(e.to_string()))?;
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| snapshot_err(e.to_string()))?;
        let mut writer = arrow_json::ArrayWriter::new(Vec::new());
        for b in &batches {
            writer.write(b).map_err(|e| snapshot_err(e.to_string()))?;
        }
        writer.finish().map_err(|e| snapshot_err(e.to_string()))?;
        let json = writer.into_inner();
        if json.is_empty() {
            continue;
        }
        let objects: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&json).map_err(|e| snapshot_err(e.to_string()))?;
        for mut row in objects {
            let text = |k: &str| row.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let slot = row.get("key_slot").and_then(|v| v.as_i64()).unwrap_or_default() as i32;
            let id = row_id(&text("account_id"), &text("user_name"), slot, report_date);
            row.insert(ROW_ID.to_string(), id.into());
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| a[ROW_ID].as_str().cmp(&b[ROW_ID].as_str()));
    Ok(rows)
}

/// One request's body, and what identifies it across runs.
struct Batch {
    body: Vec<u8>,
    /// The batch without `run_id`.
    stable: Vec<u8>,
}

/// Cuts the rows into JSON arrays under [`MAX_BATCH_BYTES`] (counting each row's `run_id` as
/// [`RUN_ID_ALLOWANCE`] bytes), gzip-encoded.
fn cut_batches(rows: &[serde_json::Map<String, serde_json::Value>]) -> Vec<Batch> {
    use std::io::Write;
    let mut batches = Vec::new();
    let (mut current, mut stable, mut size) = (Vec::new(), Vec::new(), 2usize);
    let flush = |current: &mut Vec<String>, stable: &mut Vec<String>, batches: &mut Vec<Batch>| {
        if current.is_empty() {
            return;
        }
        let body = format!("[{}]", current.join(","));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body.as_bytes()).expect("writing to memory");
        let body = gz.finish().expect("writing to memory");
        batches.push(Batch { body, stable: format!("[{}]", stable.join(",")).into_bytes() });
        current.clear();
        stable.clear();
    };
    for row in rows {
        let text = serde_json::Value::Object(row.clone()).to_string();
        let mut without = row.clone();
        without.remove("run_id");
        let stable_text = serde_json::Value::Object(without).to_string();
        let cost = stable_text.len() + RUN_ID_ALLOWANCE + 1;
        if size + cost > MAX_BATCH_BYTES {
            flush(&mut current, &mut stable, &mut batches);
            size = 2;
        }
        size += cost;
        current.push(text);
        stable.push(stable_text);
    }
    flush(&mut current, &mut stable, &mut batches);
    batches
}

fn digest(batches: &[Batch]) -> String {
    let mut hasher = Sha256::new();
    for b in batches {
        hasher.update(&b.stable);
        hasher.update([0u8]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize, pad: usize, run: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::json!({"row_id": format!("a:u{i:05}:1:2026-11-30"), "user_name": "x".repeat(pad), "run_id": run})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn batches_stay_under_the_limit_and_do_not_depend_on_the_run() {
        let rows: Vec<_> = (0..3000).map(|i| row(i, 900, "run-a")).collect();
        let batches = cut_batches(&rows);
        assert!(batches.len() >= 3, "{}", batches.len());
        for b in &batches {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&b.body[..]), &mut text).unwrap_or_default();
            assert!(text.len() <= MAX_BATCH_BYTES, "{}", text.len());
            assert!(b.body.len() <= MAX_BATCH_BYTES);
        }
        let other: Vec<_> = (0..3000).map(|i| row(i, 900, "a-much-longer-run-id-of-another-invocation")).collect();
        assert_eq!(digest(&batches), digest(&cut_batches(&other)), "the same rows make the same batches");
        assert_ne!(digest(&batches), digest(&cut_batches(&rows[1..])));
    }
}
