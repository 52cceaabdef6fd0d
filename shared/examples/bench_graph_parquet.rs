//! Benchmark: JSON → Parquet for realistic sign-ins, auditlake's mapping and lake writer.
//!
//! `bench_graph_parquet generate FILE N` writes N sign-ins (testkit's realistic records, all
//! four event types) as newline-delimited JSON — the input both peers read.
//! `bench_graph_parquet convert FILE OUT_DIR` streams FILE through `GraphBatchBuilder` in
//! pages of 1,000 records (as they come from Graph) into `TableWriter` (zstd Parquet, bounded
//! row groups) and prints rows, seconds and rows/s. Peak RSS is measured from outside
//! (`/usr/bin/time`), see `scripts/bench-graph-parquet.sh`.

use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::schema::entra_signins;
use auditlake_core::schema::graph::{GraphBatchBuilder, RowContext, record_key};
use auditlake_testkit::graph::signin_record;
use chrono::{Duration, Utc};

const EVENT_TYPES: [&str; 4] = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"];

fn generate(path: &str, n: usize) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    let start = Utc::now() - Duration::days(2);
    for i in 0..n {
        let created = start + Duration::milliseconds((i as i64) * 150);
        let record = signin_record(&format!("{:08x}-6301-4ee5-be62-{:012x}", i, i * 7919), created, EVENT_TYPES[i % 4]);
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

async fn convert(path: &str, out_dir: &str) -> anyhow::Result<()> {
    let lake = Lake::open(&LakeUrl::Local(out_dir.into()), &aws_config::SdkConfig::builder().build()).await?;
    let mut writer = lake.table_writer(&entra_signins::TABLE, "bench");
    let mut builders = std::collections::BTreeMap::new();
    let started = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let now = Utc::now();
    let mut rows = 0u64;
    let mut pending = 0usize;
    for line in reader.lines() {
        let line = line?;
        // Route by the record's date, as the collector does.
        let Some((_, t)) = record_key(&line, "createdDateTime") else { anyhow::bail!("record without id/time") };
        builders.entry(t.date_naive()).or_insert_with(|| GraphBatchBuilder::new(&entra_signins::GRAPH)).push(&line);
        pending += 1;
        if pending == 1000 {
            rows += flush(&mut builders, &mut writer, now).await?;
            pending = 0;
            // As the collector does after each slice: days behind us are closed.
            writer.close_before(t.date_naive()).await?;
        }
    }
    rows += flush(&mut builders, &mut writer, now).await?;
    let stats = writer.finish().await?;
    let secs = started.elapsed().as_secs_f64();
    println!("rows={rows} files={} seconds={secs:.2} rows_per_s={:.0}", stats.files, rows as f64 / secs);
    Ok(())
}

async fn flush(
    builders: &mut std::collections::BTreeMap<chrono::NaiveDate, GraphBatchBuilder>,
    writer: &mut auditlake_core::lake::TableWriter,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<u64> {
    let ctx = RowContext { tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47", context: &["interactiveUser"], ingested_at: now, run_id: "bench" };
    let mut rows = 0;
    for (dt, builder) in builders.iter_mut() {
        let (batch, rejected) = builder.finish(&ctx)?;
        anyhow::ensure!(rejected.is_empty(), "rejected: {:?}", rejected.first());
        if let Some(batch) = batch {
            rows += batch.num_rows() as u64;
            writer.write(*dt, &batch).await?;
        }
    }
    Ok(rows)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => generate(&args[2], args[3].parse()?),
        Some("convert") => convert(&args[2], &args[3]).await,
        _ => anyhow::bail!("usage: bench_graph_parquet generate FILE N | convert FILE OUT_DIR"),
    }
}
