//! `auditlake`: run auditlake's collection pipelines from a laptop.
//!
//! The same `pipeline::run` as the Lambdas, with the lake in a local directory or on S3 and the
//! configuration read from the same `AUDITLAKE_*` variables (flags override a few of them).
//! Logs go to stderr; the run summary is printed to stdout as one JSON line.

use std::process::ExitCode;

use anyhow::Context;
use auditlake_core::config::Config;
use auditlake_core::graph::{self, GraphKind};
use auditlake_core::iam::IamSource;
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::pipeline::{self, RunRequest};
use auditlake_core::secrets::SecretStore;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "auditlake", version, about = "Keep Entra ID and AWS identity logs in a Parquet lake you own")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a collection pipeline once.
    Collect {
        #[command(subcommand)]
        source: CollectSource,
    },
}

#[derive(Debug, Subcommand)]
enum CollectSource {
    /// Snapshot AWS IAM access keys (credential report + ListAccessKeys) into aws_iam_access_keys.
    IamKeys(CollectArgs),
    /// Entra ID sign-ins (every AUDITLAKE_SIGNIN_EVENT_TYPES) from Graph into entra_signins.
    Signins(CollectArgs),
    /// Entra ID directory audits from Graph into entra_directory_audits.
    Audits(CollectArgs),
}

#[derive(Debug, clap::Args)]
struct CollectArgs {
    /// Lake location: s3://bucket/prefix or a local directory (default: $AUDITLAKE_LAKE_URL).
    #[arg(long)]
    lake: Option<String>,
    /// Collection time (RFC 3339); decides the report date. Default: now.
    #[arg(long)]
    time: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Collect { source } => {
            let (args, which) = match &source {
                CollectSource::IamKeys(a) => (a, "iam-keys"),
                CollectSource::Signins(a) => (a, "signins"),
                CollectSource::Audits(a) => (a, "audits"),
            };
            let url = match &args.lake {
                Some(raw) => LakeUrl::parse(raw).map_err(|reason| anyhow::anyhow!("--lake {raw:?} is invalid: {reason}"))?,
                None => config.require_lake_url()?.clone(),
            };
            let sdk = auditlake_core::aws::load_sdk_config().await;
            let lake = Lake::open(&url, &sdk).await?;
            let request = RunRequest::new(args.time, cli_run_id());
            let summary = match which {
                "iam-keys" => {
                    let source = IamSource::new(&sdk, config.accounts.clone(), config.iam_concurrency)
                        .with_account_concurrency(config.account_concurrency);
                    pipeline::run(&source, &lake, &request).await.context("listing the accounts to collect")?
                }
                _ => {
                    let secrets = SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(&sdk));
                    let kind = if which == "signins" { graph::signins(&config) } else { GraphKind::DirectoryAudits };
                    let source = graph::source_from_config(&config, &secrets, kind).await?;
                    pipeline::run(&source, &lake, &request).await?
                }
            };
            println!("{}", serde_json::to_string(&summary)?);
            if summary.units_failed > 0 {
                eprintln!("error: {}", summary.failure_message());
                return Ok(ExitCode::from(1));
            }
            eprintln!(
                "wrote {} rows in {} files to {} ({} quarantined){}",
                summary.rows,
                summary.files,
                summary.lake,
                summary.quarantined,
                if summary.more_to_do { "; more remains: run it again to continue" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A run id that sorts by time: `cli-`, the start time in milliseconds and the process id.
fn cli_run_id() -> String {
    format!("cli-{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id())
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUDITLAKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
