//! `pipeline::run` over a local lake with a small in-test source: one failing unit does not stop
//! the others, failed units keep their checkpoint, quarantined records are written with their
//! origin, and a re-run of the same window rewrites instead of duplicating.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use auditlake_core::checkpoint::{Checkpoint, CheckpointStore};
use auditlake_core::error::{Classify, ErrorClass};
use auditlake_core::lake::{Lake, LakeUrl, QuarantinedRecord, TableWriter};
use auditlake_core::pipeline::{self, Plan, PullOutcome, RunRequest, Source};
use auditlake_core::schema::iam_access_keys::{AccessKeyRow, TABLE};
use auditlake_core::schema::{TableDef, rows_to_batch};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
#[error("unit {0} is unreachable")]
struct Unreachable(String);

impl Classify for Unreachable {
    fn class(&self) -> ErrorClass {
        ErrorClass::Retryable
    }
}

/// Emits `rows_per_unit` rows per unit (fewer on later calls, to prove stale parts go), fails
/// for units named `bad*`, and quarantines one record per unit while `quarantine` is set.
struct TestSource {
    units: Vec<String>,
    rows_per_unit: AtomicUsize,
    quarantine: AtomicBool,
}

impl TestSource {
    fn new(units: &[&str], rows_per_unit: usize) -> Self {
        TestSource {
            units: units.iter().map(|u| u.to_string()).collect(),
            rows_per_unit: AtomicUsize::new(rows_per_unit),
            quarantine: AtomicBool::new(true),
        }
    }
}

fn row(unit: &str, i: usize, t: DateTime<Utc>) -> AccessKeyRow {
    AccessKeyRow {
        account_id: unit.to_string(),
        user_name: format!("user-{i}"),
        user_arn: None,
        access_key_id: Some(format!("AKIA…{i:04}")),
        key_slot: 1,
        status: "Active".into(),
        created_at: Some(t),
        last_used_at: None,
        last_used_region: None,
        last_used_service: None,
        age_days: Some(0),
        days_since_last_used: None,
        user_created_at: None,
        password_enabled: None,
        mfa_active: None,
        report_generated_at: t,
        run_id: "x".into(),
    }
}

#[async_trait]
impl Source for TestSource {
    type Error = Unreachable;

    fn table(&self) -> &'static TableDef {
        &TABLE
    }

    async fn units(&self) -> Result<Vec<String>, Unreachable> {
        Ok(self.units.clone())
    }

    fn plan(&self, unit: &str, _checkpoint: Option<&Checkpoint>, request: &RunRequest) -> Plan {
        Plan {
            stem: unit.to_string(),
            window_start: None,
            window_end: request.event_time,
            partition: Some(request.event_time.date_naive()),
        }
    }

    async fn pull(
        &self,
        unit: &str,
        plan: &Plan,
        _checkpoint: Option<&Checkpoint>,
        request: &RunRequest,
        out: &mut TableWriter,
    ) -> Result<PullOutcome, Unreachable> {
        let dt = plan.partition.unwrap();
        out.claim(dt);
        let n = self.rows_per_unit.load(Ordering::SeqCst);
        // Several batches, as a paging source would produce.
        for chunk in (0..n).collect::<Vec<_>>().chunks(3) {
            let rows: Vec<_> = chunk.iter().map(|i| row(unit, *i, request.event_time)).collect();
            out.write(dt, &rows_to_batch(TABLE.schema(), &rows).unwrap()).await.unwrap();
        }
        if unit.starts_with("bad") {
            return Err(Unreachable(unit.to_string()));
        }
        if self.quarantine.load(Ordering::SeqCst) {
            out.quarantine(
                dt,
                QuarantinedRecord { origin: format!("{unit} line 7"), reason: "not a date".into(), raw: "x,y,z".into() },
            );
        }
        Ok(PullOutcome {
            cursor: request.event_time,
            seen_ids: Default::default(),
            lanes: Default::default(),
            more_to_do: false,
            detail: None,
        })
    }
}

/// Lake-relative paths of every Parquet file under `root`, sorted.
fn parquet_files(root: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut names: Vec<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_failing_unit_is_reported_and_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await.unwrap();
    let source = TestSource::new(&["good-a", "bad-b", "good-c"], 7);
    let request = RunRequest::new(Some("2026-11-28T06:00:00Z".parse().unwrap()), "run-1");

    let summary = pipeline::run(&source, &lake, &request).await.unwrap();
    assert_eq!((summary.units_ok, summary.units_failed), (2, 1));
    assert_eq!(summary.rows, 14);
    assert_eq!(summary.quarantined, 2);
    assert_eq!(summary.failure_class(), Some(ErrorClass::Retryable));
    assert!(summary.failure_message().contains("bad-b is unreachable"), "{}", summary.failure_message());
    let bad = summary.units.iter().find(|u| u.unit == "bad-b").unwrap();
    assert!(!bad.ok && bad.files_written.is_empty());

    // The failed unit's file was never completed, and it has no checkpoint.
    assert_eq!(
        parquet_files(dir.path()),
        vec!["aws_iam_access_keys/dt=2026-11-28/good-a-0000.parquet", "aws_iam_access_keys/dt=2026-11-28/good-c-0000.parquet"]
    );
    let checkpoints = CheckpointStore::new(lake.clone());
    assert!(checkpoints.load(TABLE.name, "bad-b").await.unwrap().0.is_none());
    let (good, _) = checkpoints.load(TABLE.name, "good-a").await.unwrap();
    assert_eq!(good.unwrap().run_id, "run-1");

    // Quarantined records are kept with their origin and reason.
    let q = std::fs::read_to_string(dir.path().join("_quarantine/aws_iam_access_keys/dt=2026-11-28/good-a.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(q.lines().next().unwrap()).unwrap();
    assert_eq!(record["origin"], "good-a line 7");
    assert_eq!(record["reason"], "not a date");
    assert_eq!(record["raw"], "x,y,z");
}

#[tokio::test]
async fn a_rerun_of_the_same_window_rewrites_and_removes_stale_parts() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await.unwrap();
    let source = TestSource::new(&["u"], 5);
    let request = RunRequest::new(Some("2026-11-28T06:00:00Z".parse().unwrap()), "run-1");
    pipeline::run(&source, &lake, &request).await.unwrap();

    // An earlier attempt that had left an extra part (e.g. a larger file split in two).
    let stale = dir.path().join("aws_iam_access_keys/dt=2026-11-28/u-0001.parquet");
    std::fs::copy(dir.path().join("aws_iam_access_keys/dt=2026-11-28/u-0000.parquet"), &stale).unwrap();
    // A file of another unit in the same partition must survive.
    let other = dir.path().join("aws_iam_access_keys/dt=2026-11-28/uu-0000.parquet");
    std::fs::copy(&stale, &other).unwrap();

    source.rows_per_unit.store(2, Ordering::SeqCst);
    let summary = pipeline::run(&source, &lake, &RunRequest::new(Some(request.event_time), "run-2")).await.unwrap();
    assert_eq!(summary.rows, 2);
    assert!(!stale.exists(), "stale part of the same stem removed");
    assert!(other.exists(), "another stem's file kept");
    let bytes = std::fs::read(dir.path().join("aws_iam_access_keys/dt=2026-11-28/u-0000.parquet")).unwrap();
    let (_, rows) = auditlake_testkit::parquet_rows(bytes.into()).unwrap();
    assert_eq!(rows.len(), 2);

    // Zero rows on a later run of the same day: the partition is claimed, old rows removed.
    source.rows_per_unit.store(0, Ordering::SeqCst);
    pipeline::run(&source, &lake, &RunRequest::new(Some(request.event_time), "run-3")).await.unwrap();
    assert_eq!(parquet_files(dir.path()), vec!["aws_iam_access_keys/dt=2026-11-28/uu-0000.parquet"]);
}

#[tokio::test]
async fn a_rerun_that_quarantines_nothing_removes_the_earlier_attempts_quarantine_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await.unwrap();
    let source = TestSource::new(&["u", "v"], 3);
    let time = "2026-11-28T06:00:00Z".parse().unwrap();
    pipeline::run(&source, &lake, &RunRequest::new(Some(time), "run-1")).await.unwrap();
    let quarantined = |unit: &str| dir.path().join(format!("_quarantine/aws_iam_access_keys/dt=2026-11-28/{unit}.jsonl"));
    assert!(quarantined("u").exists() && quarantined("v").exists());

    // The retry of the same window finds nothing to quarantine (say, a fixed parser): the
    // earlier attempt's quarantine file goes, as its stale parts would.
    source.quarantine.store(false, Ordering::SeqCst);
    let only_u = TestSource { units: vec!["u".into()], ..source };
    let summary = pipeline::run(&only_u, &lake, &RunRequest::new(Some(time), "run-2")).await.unwrap();
    assert_eq!(summary.quarantined, 0);
    assert!(!quarantined("u").exists(), "the quarantine file of the retried stem is removed");
    assert!(quarantined("v").exists(), "another stem's quarantine file is kept");
}
