//! CloudWatch metrics of a run, as Embedded Metric Format (EMF) log lines.
//!
//! A Lambda prints these JSON lines to stdout; CloudWatch Logs turns them into metrics without
//! any API call (no `cloudwatch:PutMetricData` permission, no extra latency). The stack's alarms
//! watch them:
//!
//! - per run, dimension `Table`: `RowsWritten`, `UnitsFailed`, `Quarantined` (Count) and
//!   `MaxCursorLagSeconds` (Seconds) — the largest lag between now and a unit's cursor, i.e.
//!   how old the newest data surely in the lake is. The freshness alarm fires when it passes
//!   its threshold or when no value arrives at all;
//! - per unit (tenant or account), dimensions `Table` and `Unit`: `CursorLagSeconds`.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::pipeline::RunSummary;

/// The metric namespace of every auditlake metric.
pub const NAMESPACE: &str = "auditlake";

/// The EMF lines of `summary`, lags measured at `now`: one line for the run, one per unit
/// whose cursor is known.
pub fn emf_lines(summary: &RunSummary, now: DateTime<Utc>) -> Vec<String> {
    let timestamp = now.timestamp_millis();
    let lag = |cursor: DateTime<Utc>| ((now - cursor).num_milliseconds().max(0) as f64) / 1000.0;
    let lags: Vec<f64> = summary.units.iter().filter_map(|u| u.cursor.map(lag)).collect();

    let mut run_metrics = vec![
        json!({"Name": "RowsWritten", "Unit": "Count"}),
        json!({"Name": "UnitsFailed", "Unit": "Count"}),
        json!({"Name": "Quarantined", "Unit": "Count"}),
    ];
    let mut run = json!({
        "Table": summary.table,
        "RowsWritten": summary.rows,
        "UnitsFailed": summary.units_failed,
        "Quarantined": summary.quarantined,
        "run_id": summary.run_id,
    });
    // With no cursor at all (every unit failed before its first checkpoint) the value is left
    // out rather than invented: the alarm treats a missing value as stale.
    if let Some(max) = lags.iter().copied().reduce(f64::max) {
        run_metrics.push(json!({"Name": "MaxCursorLagSeconds", "Unit": "Seconds"}));
        run["MaxCursorLagSeconds"] = json!(max);
    }
    run["_aws"] = envelope(timestamp, &["Table"], run_metrics);

    let mut lines = vec![run.to_string()];
    for unit in &summary.units {
        let Some(cursor) = unit.cursor else { continue };
        let mut line = json!({
            "Table": summary.table,
            "Unit": unit.unit,
            "CursorLagSeconds": lag(cursor),
            "run_id": summary.run_id,
        });
        line["_aws"] = envelope(timestamp, &["Table", "Unit"], vec![json!({"Name": "CursorLagSeconds", "Unit": "Seconds"})]);
        lines.push(line.to_string());
    }
    lines
}

fn envelope(timestamp: i64, dimensions: &[&str], metrics: Vec<Value>) -> Value {
    json!({
        "Timestamp": timestamp,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [dimensions],
            "Metrics": metrics,
        }],
    })
}
