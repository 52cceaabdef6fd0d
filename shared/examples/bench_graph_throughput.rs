//! Benchmark: sustained sign-in rows/s against testkit's fake Graph enforcing the real limit
//! (5 requests per 10 s per tenant, 429 with Retry-After), 1,000 rows per page and 1–3 s page
//! latency. The ceiling is 5 × 1,000 / 10 s = 500 rows/s. Peers, same run, same data:
//! - auditlake's `GraphSource` (paced, the four event-type queries in flight together);
//! - a plain sequential loop following `@odata.nextLink`, one event type after another.
//!
//! `cargo run -p auditlake-core --example bench_graph_throughput -- [ROWS]` (default 60,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use auditlake_core::config::WindowSettings;
use auditlake_core::graph::{AppCredential, GraphClient, GraphKind, GraphSource, RetryPolicy, TokenProvider};
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::pipeline::{self, RunRequest};
use auditlake_testkit::graph::{self as fake, FakeGraph, FakeGraphConfig};
use chrono::{DurationRound, Utc};
use secrecy::SecretString;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const TYPES: [&str; 4] = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"];

async fn fresh_fake(rows: usize, now: chrono::DateTime<Utc>) -> FakeGraph {
    let fake = FakeGraph::start(FakeGraphConfig {
        rate_limit: Some((5, Duration::from_secs(10))),
        retry_after: Some(2),
        latency: (Duration::from_secs(1), Duration::from_secs(3)),
        max_page_size: 1000,
        ..FakeGraphConfig::default()
    })
    .await;
    fake.register_app(TENANT, CLIENT, fake::AppCredential::Secret("bench-secret".into()));
    let start = now - chrono::Duration::minutes(58);
    let step = chrono::Duration::minutes(55) / rows as i32;
    let records = (0..rows).map(|i| fake::signin_record(&format!("id-{i:08}"), start + step * i as i32, TYPES[i % 4])).collect();
    fake.add_signins(TENANT, records);
    fake
}

/// The usual collector: for each event type, GET the first page, then each nextLink, one at a
/// time; on 429 sleep Retry-After (or 5 s) and try again.
async fn sequential(fake: &FakeGraph, from: &str, to: &str) -> anyhow::Result<(usize, u64)> {
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "client_credentials".to_string()),
        ("client_id", CLIENT.to_string()),
        ("client_secret", "bench-secret".to_string()),
        ("scope", format!("{}/.default", fake.base_url())),
    ];
    let token: serde_json::Value =
        http.post(format!("{}/{TENANT}/oauth2/v2.0/token", fake.base_url())).form(&form).send().await?.json().await?;
    let token = token["access_token"].as_str().unwrap_or_default().to_string();
    let (mut rows, mut throttled) = (0, 0);
    for t in TYPES {
        let filter = format!("createdDateTime ge {from} and createdDateTime le {to} and signInEventTypes/any(x: x eq '{t}')");
        let mut next = Some(
            reqwest::Url::parse_with_params(
                &format!("{}/beta/auditLogs/signIns", fake.base_url()),
                &[("$filter", filter.as_str()), ("$top", "1000")],
            )?
            .to_string(),
        );
        while let Some(url) = next.take() {
            let response = http.get(&url).bearer_auth(&token).send().await?;
            if response.status() == 429 {
                throttled += 1;
                let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(5);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                next = Some(url);
                continue;
            }
            let page: serde_json::Value = response.json().await?;
            rows += page["value"].as_array().map_or(0, Vec::len);
            next = page["@odata.nextLink"].as_str().map(String::from);
        }
    }
    Ok((rows, throttled))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(60_000);
    let now = Utc::now().duration_trunc(chrono::Duration::minutes(1))?;
    println!(
        "{rows} sign-ins (4 event types) in one hour; fake Graph: 5 requests / 10 s / tenant, 1,000 rows/page, 1–3 s latency; ceiling 500 rows/s\n"
    );
    println!("| collector | rows | seconds | rows/s | % of ceiling | 429s caused |");
    println!("|---|---:|---:|---:|---:|---:|");

    let fake = fresh_fake(rows, now).await;
    let http = GraphClient::http_client();
    let tokens = TokenProvider::new(
        http.clone(),
        &fake.base_url(),
        &fake.base_url(),
        CLIENT.into(),
        AppCredential::Secret(SecretString::from("bench-secret".to_string())),
    );
    let client = Arc::new(GraphClient::new(http, tokens, &fake.base_url(), 5, RetryPolicy::default()));
    let settings = WindowSettings {
        overlap: Duration::from_secs(3600),
        lag: Duration::from_secs(60),
        initial_lookback: Duration::from_secs(3600),
        retention: Duration::from_secs(30 * 86400),
        time_budget: Duration::from_secs(3600),
        slice: Duration::from_secs(3600),
    };
    let source = GraphSource::new(client.clone(), GraphKind::SignIns, vec![TENANT.into()], settings)
        .with_signin_event_types(TYPES.iter().map(|s| s.to_string()).collect());
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await?;
    let started = Instant::now();
    let summary = pipeline::run(&source, &lake, &RunRequest::new(Some(now), "bench")).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        summary.rows as usize == rows && summary.units_failed == 0,
        "auditlake wrote {} of {rows}: {:?}",
        summary.rows,
        summary.units
    );
    let rate = summary.rows as f64 / secs;
    println!(
        "| auditlake GraphSource (paced, 4 queries in flight) | {} | {secs:.1} | {rate:.0} | {:.1} % | {} |",
        summary.rows,
        rate / 5.0,
        fake.stats().throttled
    );

    let fake = fresh_fake(rows, now).await;
    let from = (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let started = Instant::now();
    let (got, throttled) = sequential(&fake, &from, &to).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(got == rows, "the sequential loop read {got} of {rows}");
    let rate = got as f64 / secs;
    println!("| sequential follow-nextLink loop | {got} | {secs:.1} | {rate:.0} | {:.1} % | {throttled} |", rate / 5.0);
    Ok(())
}
