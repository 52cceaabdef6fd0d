//! [`run`]: the one collection algorithm every source goes through.
//!
//! For each unit (AWS account, Entra tenant) of a [`Source`], independently:
//! 1. load the unit's checkpoint (and its version);
//! 2. let the source [`plan`](Source::plan) the window and the deterministic file stem;
//! 3. [`pull`](Source::pull) records into a [`TableWriter`];
//! 4. [`finish`](TableWriter::finish) the files — data is durable only now;
//! 5. save the checkpoint with a conditional write.
//!
//! A failing unit is reported in the [`RunSummary`] and does not stop the others. The summary
//! is logged as one JSON line and returned to the caller (Lambda handler or CLI).

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::checkpoint::{Checkpoint, CheckpointStore, LaneCheckpoint};
use crate::error::{Classify, ErrorClass};
use crate::lake::{Lake, TableWriter};
use crate::schema::TableDef;

/// What started this run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The scheduled event's time (so a retried event re-pulls the same window), else now.
    pub event_time: DateTime<Utc>,
    /// Unique per invocation; stored in every row.
    pub run_id: String,
    /// When the invocation started: time budgets count from here.
    pub started: tokio::time::Instant,
    /// The units to run instead of the source's own list (a scheduled group of tenants).
    pub units: Option<Vec<String>>,
}

impl RunRequest {
    pub fn new(event_time: Option<DateTime<Utc>>, run_id: impl Into<String>) -> Self {
        RunRequest {
            event_time: event_time.unwrap_or_else(Utc::now),
            run_id: run_id.into(),
            started: tokio::time::Instant::now(),
            units: None,
        }
    }

    /// Runs `units` instead of the source's own list when given.
    pub fn with_units(mut self, units: Option<Vec<String>>) -> Self {
        self.units = units;
        self
    }
}

/// What a source will pull for one unit in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// File-name stem, deterministic per (unit, window): a retry overwrites.
    pub stem: String,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: DateTime<Utc>,
    /// The single `dt` partition a snapshot source writes, if any.
    pub partition: Option<NaiveDate>,
}

/// What a pull achieved; becomes the next checkpoint.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    pub cursor: DateTime<Utc>,
    /// Ids written in the overlap before `cursor`, with their times.
    pub seen_ids: BTreeMap<String, DateTime<Utc>>,
    /// The time budget ran out before the window was done.
    pub more_to_do: bool,
    /// Where each lane stands (see [`Checkpoint::lanes`]); empty for a source with one.
    pub lanes: BTreeMap<String, LaneCheckpoint>,
    /// Source-specific facts for the summary.
    pub detail: Option<serde_json::Value>,
}

/// The tracing target of progress events of long pulls (a Graph slice done: `tenant`,
/// `table`, `collected_to`, `window_end`, `done_percent`, `rows`). The CLI draws its progress
/// bars from them; elsewhere they are ordinary info log lines.
pub const PROGRESS_TARGET: &str = "auditlake::progress";

/// A collection source: AWS IAM, Entra sign-ins, directory audits, …
#[async_trait]
pub trait Source: Send + Sync {
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    fn table(&self) -> &'static TableDef;

    /// Units collected and checkpointed independently.
    async fn units(&self) -> Result<Vec<String>, Self::Error>;

    /// How many units are pulled at the same time (each with its own writer and checkpoint).
    fn unit_concurrency(&self) -> usize {
        1
    }

    fn plan(&self, unit: &str, checkpoint: Option<&Checkpoint>, request: &RunRequest) -> Plan;

    /// Pulls the planned window of `unit` into `out`.
    async fn pull(
        &self,
        unit: &str,
        plan: &Plan,
        checkpoint: Option<&Checkpoint>,
        request: &RunRequest,
        out: &mut TableWriter,
    ) -> Result<PullOutcome, Self::Error>;

    /// Runs after a unit's data is durable and its checkpoint saved: a destination beside the
    /// lake (the access-key report to Azure Monitor). An error fails the unit with its class;
    /// what the unit wrote stays written.
    async fn after_unit(&self, _lake: &Lake, _unit: &str, _plan: &Plan) -> Result<Option<serde_json::Value>, Self::Error> {
        Ok(None)
    }
}

/// How one unit went.
#[derive(Debug, Clone, Serialize)]
pub struct UnitSummary {
    pub unit: String,
    pub ok: bool,
    /// Where the unit's checkpoint stands after the run (before it, for a failed unit; `None`
    /// when it never completed a run): everything before it is in the lake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<DateTime<Utc>>,
    pub rows: u64,
    pub files: u64,
    pub quarantined: u64,
    pub more_to_do: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    pub files_written: Vec<String>,
}

/// The result of one run, logged as one JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub table: String,
    pub lake: String,
    pub event_time: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub rows: u64,
    pub files: u64,
    pub quarantined: u64,
    pub units_ok: usize,
    pub units_failed: usize,
    pub more_to_do: bool,
    pub units: Vec<UnitSummary>,
}

impl RunSummary {
    /// `None` when every unit succeeded; otherwise whether a retry may help (all failures
    /// retryable) or not.
    pub fn failure_class(&self) -> Option<ErrorClass> {
        let classes: Vec<ErrorClass> = self.units.iter().filter(|u| !u.ok).filter_map(|u| u.error_class).collect();
        if classes.is_empty() {
            None
        } else if classes.iter().all(|c| *c == ErrorClass::Retryable) {
            Some(ErrorClass::Retryable)
        } else {
            Some(ErrorClass::NonRetryable)
        }
    }

    /// One line naming the failed units and why.
    pub fn failure_message(&self) -> String {
        let failed: Vec<String> = self
            .units
            .iter()
            .filter(|u| !u.ok)
            .map(|u| format!("{}: {}", u.unit, u.error.as_deref().unwrap_or("failed")))
            .collect();
        format!("{} of {} units failed for {}: {}", failed.len(), self.units.len(), self.table, failed.join("; "))
    }
}

/// Runs `source` over all its units. Fails as a whole only when the units cannot be listed.
pub async fn run<S: Source>(source: &S, lake: &Lake, request: &RunRequest) -> Result<RunSummary, S::Error> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let table = source.table();
    let units = match &request.units {
        Some(units) => units.clone(),
        None => source.units().await?,
    };
    let checkpoints = CheckpointStore::new(lake.clone());

    // Units run side by side up to the source's limit; summaries keep the order of `units`.
    let checkpoints = &checkpoints;
    let summaries: Vec<UnitSummary> = futures::stream::iter(&units)
        .map(|unit| async move {
            match run_unit(source, lake, checkpoints, unit, request).await {
                Ok(s) => s,
                Err(UnitFailure { error, class, rows, cursor }) => {
                    tracing::error!(table = table.name, unit = %unit, error = %error, class = class.as_str(), "unit failed; other units go on");
                    UnitSummary {
                        unit: unit.clone(),
                        ok: false,
                        cursor,
                        rows,
                        files: 0,
                        quarantined: 0,
                        more_to_do: true,
                        error: Some(error),
                        error_class: Some(class),
                        detail: None,
                        files_written: Vec::new(),
                    }
                }
            }
        })
        .buffered(source.unit_concurrency().max(1))
        .collect()
        .await;

    let summary = RunSummary {
        run_id: request.run_id.clone(),
        table: table.name.to_string(),
        lake: lake.url().to_string(),
        event_time: request.event_time,
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        rows: summaries.iter().map(|u| u.rows).sum(),
        files: summaries.iter().map(|u| u.files).sum(),
        quarantined: summaries.iter().map(|u| u.quarantined).sum(),
        units_ok: summaries.iter().filter(|u| u.ok).count(),
        units_failed: summaries.iter().filter(|u| !u.ok).count(),
        more_to_do: summaries.iter().any(|u| u.more_to_do),
        units: summaries,
    };
    let line = serde_json::to_string(&summary).unwrap_or_default();
    tracing::info!(target: "auditlake::summary", summary = %line, "run finished");
    Ok(summary)
}

/// Why a unit failed, with what it had written and where its checkpoint still stands.
struct UnitFailure {
    error: String,
    class: ErrorClass,
    rows: u64,
    cursor: Option<DateTime<Utc>>,
}

async fn run_unit<S: Source>(
    source: &S,
    lake: &Lake,
    checkpoints: &CheckpointStore,
    unit: &str,
    request: &RunRequest,
) -> Result<UnitSummary, UnitFailure> {
    let table = source.table();
    let (checkpoint, version) = checkpoints.load(table.name, unit).await.map_err(|e| UnitFailure {
        error: e.to_string(),
        class: e.class(),
        rows: 0,
        cursor: None,
    })?;
    let cursor = checkpoint.as_ref().map(|c| c.cursor);
    let fail = |e: &dyn std::fmt::Display, class: ErrorClass| UnitFailure { error: e.to_string(), class, rows: 0, cursor };
    let plan = source.plan(unit, checkpoint.as_ref(), request);
    tracing::info!(table = table.name, unit, stem = %plan.stem, window_end = %plan.window_end, "collecting");

    let mut writer = lake.table_writer(table, plan.stem.clone());
    // On failure the writer is dropped unfinished: open multipart uploads are abandoned and
    // the checkpoint stays where it was, so the next run pulls the same window again.
    let outcome = source.pull(unit, &plan, checkpoint.as_ref(), request, &mut writer).await.map_err(|e| fail(&e, e.class()))?;
    let stats = writer.finish().await.map_err(|e| fail(&e, e.class()))?;

    let next = Checkpoint {
        table: table.name.to_string(),
        unit: unit.to_string(),
        cursor: outcome.cursor,
        seen_ids: outcome.seen_ids,
        lanes: outcome.lanes,
        run_id: request.run_id.clone(),
        updated_at: Utc::now(),
        generation: checkpoint.as_ref().map_or(0, |c| c.generation),
    };
    checkpoints.save(next, &version).await.map_err(|e| UnitFailure {
        error: e.to_string(),
        class: e.class(),
        rows: stats.rows,
        cursor,
    })?;

    let delivered = source.after_unit(lake, unit, &plan).await.map_err(|e| UnitFailure {
        error: e.to_string(),
        class: e.class(),
        rows: stats.rows,
        cursor: Some(outcome.cursor),
    })?;
    let detail = match (outcome.detail, delivered) {
        (Some(serde_json::Value::Object(mut d)), Some(extra)) => {
            d.insert("delivered".into(), extra);
            Some(serde_json::Value::Object(d))
        }
        (None, Some(extra)) => Some(serde_json::json!({ "delivered": extra })),
        (detail, _) => detail,
    };

    Ok(UnitSummary {
        unit: unit.to_string(),
        ok: true,
        cursor: Some(outcome.cursor),
        rows: stats.rows,
        files: stats.files,
        quarantined: stats.quarantined,
        more_to_do: outcome.more_to_do,
        error: None,
        error_class: None,
        detail,
        files_written: stats.paths,
    })
}
