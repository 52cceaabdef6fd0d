//! Benchmark: JSON → Parquet for realistic sign-ins, auditlake's mapping and lake writer.
//!
//! `bench_graph_parquet generate FILE N` writes N sign-ins (testkit's realistic records, all
//! four event types) as newline-delimited JSON — the input both peers read.
//! `bench_graph_parquet convert FILE OUT_DIR` streams FILE through `GraphMapper` in
//! pages of 1,000 records (as they come from Graph; two pages mapped at a time on the blocking
//! pool) into `TableWriter` (zstd Parquet, bounded row groups, encoded in its own task) and
//! prints rows, seconds and rows/s. `bench_graph_parquet map FILE` does the
//! same without writing: the decode stage alone. Peak RSS is measured from outside
//! (`/usr/bin/time`), see `scripts/bench-graph-parquet.sh`.

use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use arrow_array::RecordBatch;
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::schema::entra_signins;
use auditlake_core::schema::graph::{GraphMapper, RecordKeys, RowContext, split_by_day};
use auditlake_testkit::graph::signin_record;
use chrono::{Duration, Utc};
use futures::StreamExt;

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

/// Records per page, as Graph returns them at `$top=1000`.
const PAGE: usize = 1000;
/// Pages mapped at the same time (one per core here), in order.
const MAPPING_IN_FLIGHT: usize = 2;

thread_local! {
    /// One mapper per thread of the blocking pool: a mapper keeps its decoder between pages.
    static MAPPER: std::cell::RefCell<GraphMapper> = std::cell::RefCell::new(GraphMapper::new(&entra_signins::GRAPH));
}

/// One page of records: line ranges into a shared read buffer, so the record text is
/// copied once, into the `raw` column, as with a Graph response body.
struct Page {
    text: bytes::Bytes,
    lines: Vec<std::ops::Range<usize>>,
}

/// Reads `path` in large chunks on a thread of its own and sends pages of `PAGE` lines.
fn read_pages(path: String) -> tokio::sync::mpsc::Receiver<anyhow::Result<Page>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || {
        let result = (|| -> anyhow::Result<()> {
            let mut file = std::fs::File::open(&path)?;
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let mut chunk = Vec::with_capacity(16 << 20);
                chunk.append(&mut carry);
                let read = (&mut file).take(16 << 20).read_to_end(&mut chunk)?;
                let eof = read == 0;
                let end = if eof { chunk.len() } else { memchr::memrchr(b'\n', &chunk).map_or(0, |i| i + 1) };
                carry.extend_from_slice(&chunk[end..]);
                chunk.truncate(end);
                std::str::from_utf8(&chunk).map_err(|e| anyhow::anyhow!("input is not UTF-8: {e}"))?;
                let text = bytes::Bytes::from(chunk);
                let mut lines = Vec::with_capacity(PAGE);
                let mut start = 0;
                let ends =
                    memchr::memchr_iter(b'\n', &text).chain((!text.is_empty() && !text.ends_with(b"\n")).then_some(text.len()));
                for end in ends {
                    let record = text[start..end].trim_ascii_end();
                    if !record.is_empty() {
                        lines.push(start..start + record.len());
                    }
                    start = end + 1;
                    if lines.len() == PAGE {
                        let page = Page { text: text.clone(), lines: std::mem::replace(&mut lines, Vec::with_capacity(PAGE)) };
                        if tx.blocking_send(Ok(page)).is_err() {
                            return Ok(());
                        }
                    }
                }
                if !lines.is_empty() {
                    // A short page at a chunk boundary, as Graph also sends.
                    if tx.blocking_send(Ok(Page { text: text.clone(), lines })).is_err() {
                        return Ok(());
                    }
                }
                if eof {
                    return Ok(());
                }
            }
        })();
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

/// Converts `path` into a lake at `out_dir`; without `out_dir` the pages are only read and
/// mapped (the decode stage on its own, to tell its cost from the Parquet encoder's).
async fn convert(path: &str, out_dir: Option<&str>) -> anyhow::Result<()> {
    let mut writer = match out_dir {
        Some(dir) => {
            let lake = Lake::open(&LakeUrl::Local(dir.into()), &aws_config::SdkConfig::builder().build()).await?;
            Some(lake.table_writer(&entra_signins::TABLE, "bench"))
        }
        None => None,
    };
    let ingested_at = Utc::now();
    let started = Instant::now();
    let mut pages = read_pages(path.to_string());
    let pages = futures::stream::poll_fn(move |cx| pages.poll_recv(cx));
    // Mapping is CPU work: it runs on the blocking pool, several pages at once, while the
    // table writer's encoder task compresses the previous ones.
    let mut mapped = pages
        .map(|page| {
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(chrono::NaiveDate, RecordBatch)>> {
                let page = page?;
                // Validated as UTF-8 by the reader, whole chunk at a time.
                let records = arrow_array::StringArray::from_iter_values(
                    page.lines.iter().map(|r| std::str::from_utf8(&page.text[r.clone()]).expect("validated")),
                );
                let ctx = RowContext {
                    tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    context: &["interactiveUser"],
                    ingested_at,
                    run_id: "bench",
                };
                let mapped = MAPPER.with_borrow_mut(|mapper| mapper.map(&records, &ctx))?;
                anyhow::ensure!(mapped.rejected.is_empty(), "rejected: {:?}", mapped.rejected.first());
                let Some(batch) = mapped.batch else {
                    return Ok(Vec::new());
                };
                let keys = RecordKeys::of(&batch, &entra_signins::GRAPH)?;
                Ok(split_by_day(&batch, keys.times, None)?)
            })
        })
        .buffered(MAPPING_IN_FLIGHT);
    let mut rows = 0u64;
    while let Some(days) = mapped.next().await {
        let days = days??;
        let Some(writer) = writer.as_mut() else {
            rows += days.iter().map(|(_, batch)| batch.num_rows() as u64).sum::<u64>();
            continue;
        };
        for (dt, batch) in &days {
            writer.write(*dt, batch).await?;
            rows += batch.num_rows() as u64;
        }
        // As the collector does after each slice: days behind us are closed.
        if let Some((last, _)) = days.last() {
            writer.close_before(*last).await?;
        }
    }
    let files = match writer {
        Some(writer) => writer.finish().await?.files,
        None => 0,
    };
    let secs = started.elapsed().as_secs_f64();
    println!("rows={rows} files={files} seconds={secs:.2} rows_per_s={:.0}", rows as f64 / secs);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => generate(&args[2], args[3].parse()?),
        Some("convert") if args.len() == 4 => convert(&args[2], Some(&args[3])).await,
        Some("map") if args.len() == 3 => convert(&args[2], None).await,
        _ => anyhow::bail!("usage: bench_graph_parquet generate FILE N | convert FILE OUT_DIR | map FILE"),
    }
}
