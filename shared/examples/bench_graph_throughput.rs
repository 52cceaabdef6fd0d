//! Benchmark: Graph sign-in throughput under Graph's real throttle, for the shapes of backlog
//! users meet, each against a plain sequential loop in the same run.
//!
//! testkit's fake Graph enforces 5 requests per 10 s per tenant (429 with `Retry-After: 2`
//! beyond it), serves 1,000 rows per page and delays every data response by a fixed latency
//! (1 s and 3 s). The ceiling is 5 × 1,000 rows / 10 s = 500 rows/s.
//!
//! Shapes (`SHAPE` argument, default all):
//! - `dense-4`: 60,000 sign-ins inside one hour, four event types (the first run of a big tenant);
//! - `spread-1`, `spread-4`: 24,000 sign-ins spread over the last 20 hours, one event type
//!   (`interactiveUser`) or four; first run with a 30-hour lookback;
//! - `outage-4`: three days of a mid-size tenant (72,000 sign-ins, four types) caught up after an
//!   outage by runs with a 60 s time budget, chained while they report `more_to_do` (as a warm
//!   Lambda would run them: the client, its tokens and pacer are kept);
//! - `sparse-4`: a tenant with ≤ 100 sign-ins an hour on its routine 15-minute run (the window
//!   is the 1-hour overlap plus 15 minutes): the figures are requests and seconds per run.
//!
//! Peers, each against its own fake with the same data, side by side: auditlake's
//! `GraphSource` through `pipeline::run` (Parquet and checkpoint included), and a sequential
//! loop that runs one query per event type over the whole window, follows `@odata.nextLink`
//! one page at a time and sleeps `Retry-After` on a 429.
//!
//! `cargo run -p auditlake-core --example bench_graph_throughput -- [SHAPE] [--latency S]
//! [--data-hours H]`: `--latency` runs one of the two latencies; `--data-hours` moves where the
//! spread shapes' records begin (20 hours back by default, inside the 30-hour lookback), to see
//! how a result depends on where the records lie relative to the cuts a first run makes.

#![allow(clippy::unwrap_used, reason = "a benchmark harness: a failed setup step should stop it")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use auditlake_core::config::WindowSettings;
use auditlake_core::graph::{AppCredential, GraphClient, GraphKind, GraphSource, RetryPolicy, TokenProvider};
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::pipeline::{self, RunRequest, RunSummary};
use auditlake_testkit::graph::{self as fake, FakeGraph, FakeGraphConfig};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use secrecy::SecretString;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const ALL_TYPES: [&str; 4] = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"];

/// One backlog to collect.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    types: &'static [&'static str],
    rows: usize,
    /// Records lie evenly in `[now − from, now − to]`.
    from: TimeDelta,
    to: TimeDelta,
    /// How far back the run reaches (first run) ...
    lookback: TimeDelta,
    /// ... or, when set, the cursor of an existing checkpoint: a routine run.
    cursor_before: Option<TimeDelta>,
    budget: Duration,
}

fn shapes() -> Vec<Shape> {
    let h = TimeDelta::hours;
    let spread_1 = Shape {
        name: "spread-1",
        types: &ALL_TYPES[..1],
        rows: 24_000,
        from: h(20),
        to: TimeDelta::minutes(3),
        lookback: h(30),
        cursor_before: None,
        budget: Duration::from_secs(3600),
    };
    // The same backlog over the four event types.
    let spread_4 = Shape { name: "spread-4", types: &ALL_TYPES, ..spread_1 };
    vec![
        Shape {
            name: "dense-4",
            types: &ALL_TYPES,
            rows: 60_000,
            from: TimeDelta::minutes(58),
            to: TimeDelta::minutes(3),
            lookback: h(1),
            cursor_before: None,
            budget: Duration::from_secs(3600),
        },
        spread_1,
        spread_4,
        Shape {
            name: "outage-4",
            types: &ALL_TYPES,
            rows: 72_000,
            from: h(72),
            to: TimeDelta::minutes(3),
            lookback: h(73),
            cursor_before: None,
            budget: Duration::from_secs(60),
        },
        Shape {
            name: "sparse-4",
            types: &ALL_TYPES,
            // ~100 an hour over the four event types.
            rows: 115,
            from: TimeDelta::minutes(70),
            to: TimeDelta::minutes(3),
            lookback: h(1),
            cursor_before: Some(TimeDelta::minutes(15)),
            budget: Duration::from_secs(720),
        },
    ]
}

async fn fresh_fake(shape: &Shape, latency: Duration, now: DateTime<Utc>) -> FakeGraph {
    let fake = FakeGraph::start(FakeGraphConfig {
        rate_limit: Some((5, Duration::from_secs(10))),
        retry_after: Some(2),
        latency: (latency, latency),
        max_page_size: 1000,
        ..FakeGraphConfig::default()
    })
    .await;
    fake.register_app(TENANT, CLIENT, fake::AppCredential::Secret("bench-secret".into()));
    let start = now - shape.from;
    let step = (shape.from - shape.to) / shape.rows as i32;
    let records = (0..shape.rows)
        .map(|i| {
            let t = shape.types[i % shape.types.len()];
            fake::signin_record(&format!("id-{i:08}"), start + step * i as i32, t)
        })
        .collect();
    fake.add_signins(TENANT, records);
    fake
}

/// What one collector achieved on one shape.
struct Outcome {
    rows: u64,
    seconds: f64,
    requests: u64,
    runs: u32,
    throttled: u64,
}

async fn auditlake(shape: &Shape, latency: Duration, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
    let fake = fresh_fake(shape, latency, now).await;
    let http = GraphClient::http_client();
    let credential = AppCredential::Secret(SecretString::from("bench-secret".to_string()));
    let tokens = TokenProvider::new(http.clone(), &fake.base_url(), &fake.base_url(), CLIENT.into(), credential);
    let client = Arc::new(GraphClient::new(http, tokens, &fake.base_url(), 5, RetryPolicy::default()));
    let settings = WindowSettings {
        overlap: Duration::from_secs(3600),
        lag: Duration::from_secs(60),
        initial_lookback: shape.lookback.to_std()?,
        retention: Duration::from_secs(30 * 86400),
        time_budget: shape.budget,
    };
    let source = GraphSource::new(client.clone(), GraphKind::SignIns, vec![TENANT.into()], settings)
        .with_signin_event_types(shape.types.iter().map(|s| s.to_string()).collect());
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await?;

    // A routine run: the previous run (untimed, uncounted) left a checkpoint 15 minutes ago.
    if let Some(ago) = shape.cursor_before {
        let summary = pipeline::run(&source, &lake, &RunRequest::new(Some(now - ago), "previous")).await?;
        anyhow::ensure!(summary.units_failed == 0, "{}", summary.failure_message());
        // The routine run comes 15 minutes later: the previous run's requests have left
        // Graph's 10-second window (and the pacer's).
        tokio::time::sleep(Duration::from_millis(10_500)).await;
    }
    let before = fake.stats();
    let started = Instant::now();
    let (mut rows, mut requests, mut runs) = (0, 0, 0);
    loop {
        runs += 1;
        let summary: RunSummary = pipeline::run(&source, &lake, &RunRequest::new(Some(now), format!("bench-{runs}"))).await?;
        anyhow::ensure!(summary.units_failed == 0, "{}", summary.failure_message());
        rows += summary.rows;
        let detail = summary.units[0].detail.clone().unwrap_or_default();
        requests += detail["requests"].as_u64().unwrap_or_default();
        eprintln!(
            "  {} {}: run {runs}: {} rows, {} requests, {} queries, {} duplicates skipped, {:.1} s",
            shape.name,
            latency.as_secs(),
            summary.rows,
            detail["requests"],
            detail["queries"],
            detail["skipped_duplicates"],
            summary.duration_ms as f64 / 1000.0
        );
        if !summary.more_to_do || runs > 50 {
            break;
        }
    }
    let after = fake.stats();
    Ok(Outcome { rows, seconds: started.elapsed().as_secs_f64(), requests, runs, throttled: after.throttled - before.throttled })
}

/// The usual collector: for each event type, one query over the whole window: GET the first
/// page, then each nextLink, one at a time; on 429 sleep Retry-After (or 5 s) and try again.
async fn sequential(shape: &Shape, latency: Duration, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
    let fake = fresh_fake(shape, latency, now).await;
    let from = now - shape.cursor_before.map_or(shape.lookback, |ago| ago + TimeDelta::hours(1));
    let to = now - TimeDelta::minutes(1);
    let (from, to) =
        (from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "client_credentials".to_string()),
        ("client_id", CLIENT.to_string()),
        ("client_secret", "bench-secret".to_string()),
        ("scope", format!("{}/.default", fake.base_url())),
    ];
    let started = Instant::now();
    let token: serde_json::Value =
        http.post(format!("{}/{TENANT}/oauth2/v2.0/token", fake.base_url())).form(&form).send().await?.json().await?;
    let token = token["access_token"].as_str().unwrap_or_default().to_string();
    let (mut rows, mut requests) = (0u64, 0u64);
    for t in shape.types {
        let filter = format!("createdDateTime ge {from} and createdDateTime le {to} and signInEventTypes/any(x: x eq '{t}')");
        let mut next = Some(
            reqwest::Url::parse_with_params(
                &format!("{}/beta/auditLogs/signIns", fake.base_url()),
                &[("$filter", filter.as_str()), ("$top", "1000")],
            )?
            .to_string(),
        );
        while let Some(url) = next.take() {
            requests += 1;
            let response = http.get(&url).bearer_auth(&token).send().await?;
            if response.status() == 429 {
                let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(5);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                next = Some(url);
                continue;
            }
            let page: serde_json::Value = response.json().await?;
            rows += page["value"].as_array().map_or(0, Vec::len) as u64;
            next = page["@odata.nextLink"].as_str().map(String::from);
        }
    }
    Ok(Outcome { rows, seconds: started.elapsed().as_secs_f64(), requests, runs: 1, throttled: fake.stats().throttled })
}

fn row(collector: &str, shape: &Shape, latency: Duration, o: &Outcome) -> String {
    let rate = o.rows as f64 / o.seconds;
    format!(
        "| {} | {} s | {collector} | {} | {} | {:.1} | **{rate:.0}** | {:.1} % | {} | {:.0} | {} |",
        shape.name,
        latency.as_secs(),
        o.rows,
        o.runs,
        o.seconds,
        rate / 5.0,
        o.requests,
        o.rows as f64 / o.requests.max(1) as f64,
        o.throttled
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG=auditlake_core::graph=debug shows each query, page and split.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut only: Option<String> = None;
    let mut latencies = vec![Duration::from_secs(1), Duration::from_secs(3)];
    let mut data_hours: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> anyhow::Result<f64> {
            let v = args.next().ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
            v.parse().map_err(|_| anyhow::anyhow!("{name}: {v:?} is not a number"))
        };
        match arg.as_str() {
            "--latency" => latencies = vec![Duration::from_secs_f64(value("--latency")?)],
            "--data-hours" => data_hours = Some(value("--data-hours")?),
            _ if arg.starts_with("--") => anyhow::bail!("unknown option {arg}"),
            _ => only = Some(arg),
        }
    }
    let now = Utc::now().duration_trunc(TimeDelta::minutes(1))?;
    println!("fake Graph: 5 requests / 10 s / tenant, 1,000 rows/page, fixed latency; ceiling 500 rows/s\n");
    println!(
        "| shape | latency | collector | rows | runs | seconds | rows/s | % of ceiling | requests | rows/request | 429s caused |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for mut shape in shapes().into_iter().filter(|s| only.as_deref().is_none_or(|o| o == s.name)) {
        if let Some(hours) = data_hours.filter(|_| shape.name.starts_with("spread")) {
            let from = TimeDelta::seconds((hours * 3600.0) as i64);
            anyhow::ensure!(
                hours > 0.1 && from < shape.lookback,
                "--data-hours must lie inside the {}-hour lookback",
                shape.lookback.num_hours()
            );
            shape.from = from;
            eprintln!("  {}: records from {hours} hours back", shape.name);
        }
        let shape = &shape;
        for latency in latencies.iter().copied() {
            // Each against its own fake: they share nothing but the machine.
            let (ours, theirs) = tokio::join!(auditlake(shape, latency, now), sequential(shape, latency, now));
            let (ours, theirs) = (ours?, theirs?);
            anyhow::ensure!(
                ours.rows as usize == shape.rows || shape.cursor_before.is_some(),
                "auditlake wrote {} of {}",
                ours.rows,
                shape.rows
            );
            println!("{}", row("auditlake", shape, latency, &ours));
            println!("{}", row("sequential loop", shape, latency, &theirs));
        }
    }
    Ok(())
}
