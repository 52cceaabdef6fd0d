//! `auditlake demo`: auditlake end to end on a laptop, with simulated data and no account.
//!
//! A simulated organisation (testkit's [`demo`]: Entra tenants with
//! weeks of everyday activity and the planted cases, and an AWS account's credential report)
//! is served on loopback by the fake Graph, which follows Graph's and the token endpoint's
//! published contract. The real collectors pull it into a local lake exactly as a Lambda
//! would ([`Runtime`]), the credential report goes through the IAM collector's parser and
//! mapping ([`import::credential_report`]), every query file runs over the lake, and the
//! report is written. Re-running it on the same lake changes nothing: the simulated data is
//! anchored at the first run's time (kept in `_state/demo.json`), so checkpoints and dedup
//! see the same records again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use auditlake_core::config::Config;
use auditlake_core::graph::{GraphKind, GraphSource};
use auditlake_core::pipeline::RunRequest;
use auditlake_core::runtime::Runtime;
use auditlake_testkit::demo;
use auditlake_testkit::graph::{AppCredential, FakeGraph, FakeGraphConfig};
use chrono::{DateTime, Utc};

use crate::progress::eprintln as say;
use crate::{import, queries, query, report};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The lake directory (created when missing; re-running on it is safe).
    #[arg(long, default_value = "auditlake-demo")]
    lake: PathBuf,
    /// Days of simulated activity (1 to 30: Graph keeps sign-ins for 30 days).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=30))]
    days: u32,
    /// Simulated Entra tenants (1 to 9); the first carries the planted cases.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=demo::MAX_TENANTS as u64))]
    tenants: u64,
    /// Where to write the HTML report (default: report.html in the lake directory).
    #[arg(long)]
    report: Option<PathBuf>,
}

/// The simulated app's credentials: not a secret, the fake Graph accepts only these.
const DEMO_CLIENT_ID: &str = "00000000-0000-0000-0000-00000000de70";
const DEMO_CLIENT_SECRET: &str = "simulated-demo-secret";

/// What the first run on a lake chose, so later runs simulate the same records.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DemoState {
    now: DateTime<Utc>,
    days: u32,
    tenants: u64,
}

fn load_or_create_state(lake: &Path, args: &DemoArgs) -> anyhow::Result<(DemoState, bool)> {
    let path = lake.join("_state/demo.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let state: DemoState = serde_json::from_str(&text).with_context(|| format!("{} is not a demo state", path.display()))?;
        return Ok((state, true));
    }
    let state = DemoState { now: Utc::now(), days: args.days, tenants: args.tenants };
    std::fs::create_dir_all(path.parent().unwrap_or(lake)).with_context(|| format!("creating {}", lake.display()))?;
    std::fs::write(&path, serde_json::to_string_pretty(&state)?).with_context(|| format!("writing {}", path.display()))?;
    Ok((state, false))
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let lake_dir = &args.lake;
    let lake_arg = lake_dir.display().to_string();
    let (state, again) = load_or_create_state(lake_dir, &args)?;
    say("auditlake demo: everything below is SIMULATED data (no AWS or Entra account is used).");
    if again {
        say(&format!(
            "{lake_arg} was made by an earlier demo run ({} days, {} tenants, {}): collecting the same simulated records again, which adds nothing.",
            state.days,
            state.tenants,
            state.now.format("%Y-%m-%d %H:%M UTC")
        ));
        if (state.days, state.tenants) != (args.days, args.tenants) {
            say("  (--days and --tenants apply to a new lake only: pass another --lake to try other sizes)");
        }
    }

    // 1. A simulated Graph on loopback with the simulated tenants.
    let tenants = demo::tenants(state.tenants as usize, state.days, state.now);
    let fake = FakeGraph::start(FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }).await;
    for t in &tenants {
        fake.register_app(&t.id, DEMO_CLIENT_ID, AppCredential::Secret(DEMO_CLIENT_SECRET.into()));
        fake.add_signins(&t.id, t.signins.clone());
        fake.add_audits(&t.id, t.audits.clone());
    }
    let names: Vec<String> =
        tenants.iter().map(|t| format!("{} ({} sign-ins, {} audits)", t.name, t.signins.len(), t.audits.len())).collect();
    say(&format!("simulated Graph at {} serving {}", fake.base_url(), names.join(", ")));

    // 2. The Graph collectors, configured as a deployment would be (secrets from the environment
    // store instead of SSM).
    let base = fake.base_url();
    let tenant_ids = tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(",");
    let lookback = format!("{}d", state.days + 1);
    let lake_url = std::path::absolute(lake_dir)?.display().to_string();
    let vars = [
        ("AUDITLAKE_LAKE_URL", lake_url.as_str()),
        ("AUDITLAKE_TENANT_IDS", &tenant_ids),
        ("AUDITLAKE_GRAPH_URL", &base),
        ("AUDITLAKE_LOGIN_URL", &base),
        ("AUDITLAKE_SECRETS", "env"),
        ("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/auditlake-demo/graph/client-id"),
        ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "/auditlake-demo/graph/client-secret"),
        ("AUDITLAKE_SECRET_AUDITLAKE_DEMO_GRAPH_CLIENT_ID", DEMO_CLIENT_ID),
        ("AUDITLAKE_SECRET_AUDITLAKE_DEMO_GRAPH_CLIENT_SECRET", DEMO_CLIENT_SECRET),
        ("AUDITLAKE_INITIAL_LOOKBACK", &lookback),
        // The simulated Graph does not throttle; a real tenant allows 5 requests per 10 s.
        ("AUDITLAKE_GRAPH_REQUESTS_PER_10S", "1000"),
    ];
    let config = Config::from_lookup(
        |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_string()),
        vars.iter().map(|(n, _)| *n),
    )?;
    let run_id = crate::cli_run_id();
    for kind in [GraphKind::SignIns, GraphKind::DirectoryAudits] {
        let runtime = Runtime::<GraphSource>::start(&config, None, kind).await?;
        let summary = runtime.collect(&RunRequest::new(None, run_id.clone())).await?;
        if summary.units_failed > 0 {
            anyhow::bail!("{}", summary.failure_message());
        }
        say(&format!("collected {}: {} new rows in {} files", summary.table, summary.rows, summary.files));
    }
    drop(fake);

    // 3. The simulated account's credential report, through the IAM collector's mapping.
    let lake = crate::open_lake(&config, None).await?;
    let report_time = state.now;
    let csv = demo::credential_report(report_time);
    let iam = import::credential_report(&lake, "the simulated credential report", &csv, report_time, &run_id).await?;
    say(&format!("collected {}: {} keys of account {}", iam.table, iam.rows, auditlake_testkit::planted::REPORT_ACCOUNT));

    // 4. Every query file, in the local engine.
    let engine = query::LakeSql::open(&lake).await?;
    let mut answered = Vec::new();
    for q in queries::embedded() {
        let (_, batches) = engine.run(q.local_sql()).await.map_err(|e| anyhow::anyhow!("{}: {e}", q.local_file_name()))?;
        answered.push((q.stem.clone(), q.title.clone(), batches.iter().map(|b| b.num_rows()).sum::<usize>()));
    }
    say(&format!("ran the {} query files of athena/queries/ over the lake:", answered.len()));
    for (stem, title, rows) in &answered {
        say(&format!("  {rows:>5} rows  {title}  ({stem})"));
    }

    // 5. The report.
    let today = Utc::now();
    let report_path = args.report.clone().unwrap_or_else(|| lake_dir.join("report.html"));
    let report = report::Report {
        lake: lake_arg.clone(),
        from: (today - chrono::Duration::days(29)).date_naive(),
        to: today.date_naive(),
        generated_at: today,
        banner: Some("Simulated data from auditlake demo: the tenants, users and keys are made up.".into()),
    };
    let (html, _) = report.render(&engine).await?;
    std::fs::write(&report_path, html).with_context(|| format!("writing {}", report_path.display()))?;
    say(&format!("wrote the report: {}", report_path.display()));

    say("");
    say("Next, try:");
    say(&format!("  auditlake query --lake {lake_arg} \"SELECT sign_in_event_type, count(*) FROM entra_signins GROUP BY 1\""));
    say(&format!("  auditlake query --lake {lake_arg} --file athena/queries/signins_failure_bursts.sql"));
    say(&format!("  auditlake report --lake {lake_arg} --out report.html"));
    say("  and for your own tenant and accounts: README.md, \"Collect from a real tenant\".");
    Ok(ExitCode::SUCCESS)
}
