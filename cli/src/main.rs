//! `auditlake`: run auditlake's collection pipelines from a laptop.
//!
//! `collect` runs the same `pipeline::run` as the Lambdas, with the lake in a local directory or
//! on S3 and the configuration read from the same `AUDITLAKE_*` variables (flags override a few
//! of them). Logs go to stderr (with a progress bar per tenant on a terminal, see [`progress`]);
//! the run summary is printed to stdout as one JSON line.
//!
//! `demo` runs all of it against a simulated tenant on loopback ([`demo`]); `query` runs SQL
//! over the lake with DataFusion ([`query`], the query files in [`queries`]); `report` writes the
//! dashboard as one HTML file ([`report`]).
//!
//! `schema` prints the tables as Athena DDL and Glue columns and regenerates the repository's
//! generated files ([`schema_cmd`]); `config check` validates an environment as a Lambda would.

use std::process::ExitCode;

use anyhow::Context;
use auditlake_core::config::Config;
use auditlake_core::graph::{GraphKind, GraphSource};
use auditlake_core::iam::IamSource;
use auditlake_core::lake::LakeUrl;
use auditlake_core::pipeline::RunRequest;
use auditlake_core::runtime::{FromConfig, Runtime};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

/// See `tikv-jemallocator` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod demo;
mod import;
mod progress;
mod queries;
mod query;
mod report;
mod schema_cmd;

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
    /// Try auditlake without any account: collect a simulated tenant into a local lake, run
    /// every query and write the report.
    Demo(demo::DemoArgs),
    /// Run SQL over the lake (Apache DataFusion): the Athena query files or your own.
    Query(QueryArgs),
    /// Write the dashboard as one self-contained HTML file.
    Report(ReportArgs),
    /// Import exported files (Graph JSON of sign-ins or audits, IAM credential reports) into
    /// the lake through the collectors' mapping; a file imported before is skipped.
    Import(ImportArgs),
    /// Send what the lake holds to another destination.
    Send {
        #[command(subcommand)]
        destination: SendDestination,
    },
    /// The lake's tables as Athena DDL and Glue columns; the repository's generated files.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Check a configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// The SQL to run (tables: entra_signins, entra_directory_audits, aws_iam_access_keys,
    /// calendar; `dt` is the partition column, 'YYYY-MM-DD').
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    sql: Option<String>,
    /// A query file, e.g. athena/queries/signins_risky.sql (its .datafusion.sql variant is run
    /// when one exists beside it).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Lake location: s3://bucket/prefix or a local directory (default: $AUDITLAKE_LAKE_URL).
    #[arg(long)]
    lake: Option<String>,
    #[arg(long, value_enum, default_value_t = query::Format::Table)]
    format: query::Format,
}

#[derive(Debug, Subcommand)]
enum SendDestination {
    /// The access-key snapshots of one report date to Azure Monitor (AUDITLAKE_AZURE_*), for a
    /// backfill or after fixing the data collection rule; batches Azure acknowledged before are
    /// not sent again.
    Azure {
        /// The report date (the `dt` partition), YYYY-MM-DD.
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Only these accounts (default: every account with a snapshot that day).
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// Lake location: s3://bucket/prefix or a local directory (default: $AUDITLAKE_LAKE_URL).
        #[arg(long)]
        lake: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum ImportTable {
    EntraSignins,
    EntraDirectoryAudits,
    AwsIamAccessKeys,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The table the files hold.
    #[arg(value_enum)]
    table: ImportTable,
    /// The files: Graph JSON (a list response, a bare array or JSON lines; gzip or not) for
    /// the Entra tables; a credential report (CSV, or the JSON of `aws iam
    /// get-credential-report`) for aws_iam_access_keys.
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    /// Lake location: s3://bucket/prefix or a local directory (default: $AUDITLAKE_LAKE_URL).
    #[arg(long)]
    lake: Option<String>,
    /// The Entra tenant the records are from (the tenant_id column; Graph records do not say).
    #[arg(long, required_if_eq_any([("table", "entra_signins"), ("table", "entra_directory_audits")]))]
    tenant: Option<String>,
    /// When IAM generated a CSV credential report (RFC 3339); the JSON form carries it.
    #[arg(long)]
    generated_at: Option<DateTime<Utc>>,
    /// Records mapped side by side (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Lake location: s3://bucket/prefix or a local directory (default: $AUDITLAKE_LAKE_URL).
    #[arg(long)]
    lake: Option<String>,
    /// The HTML file to write.
    #[arg(long, default_value = "auditlake-report.html")]
    out: std::path::PathBuf,
    /// First day shown (default: 29 days before --to).
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// Last day shown, and the "today" of the queries' relative ranges (default: today, UTC).
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Print Athena's CREATE EXTERNAL TABLE (partition projection on dt) for one table or all.
    Ddl {
        table: Option<String>,
        /// The lake the DDL points at: s3://bucket or s3://bucket/prefix.
        #[arg(long, default_value = schema_cmd::PLACEHOLDER_LAKE)]
        lake: String,
    },
    /// Print a table's Glue columns with their Hive types, as JSON (what `aws glue` takes).
    GlueColumns { table: String },
    /// Print the Azure Monitor custom table and stream columns of the access-key report, as
    /// JSON (what infra/azure/ declares).
    AzureColumns,
    /// Write athena/tables/*.sql and the generated region of infra/template.yaml.
    Generate {
        /// Only compare: list the files that differ and exit 1 if any does.
        #[arg(long)]
        check: bool,
        /// The repository's root folder.
        #[arg(long, default_value = ".")]
        root: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the AUDITLAKE_* environment as a Lambda does at start-up (unknown AUDITLAKE_*
    /// names are errors) and print what it resolves to; contacts nothing.
    Check,
}

#[derive(Debug, Subcommand)]
enum CollectSource {
    /// Snapshot AWS IAM access keys (credential report + ListAccessKeys) into aws_iam_access_keys.
    IamKeys {
        #[command(flatten)]
        args: CollectArgs,
        /// Also send the snapshot to Azure Monitor (AUDITLAKE_AZURE_*), after the lake write.
        #[arg(long)]
        azure: bool,
    },
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
    let config = match cli.command {
        Command::Config { command: ConfigCommand::Check } => Config::from_env_strict(),
        _ => Config::from_env(),
    };
    // The demo speaks for itself: only warnings and errors from the pipelines it runs (and the
    // progress bars on a terminal) unless AUDITLAKE_LOG asks for more.
    let quiet = matches!(cli.command, Command::Demo(_)).then_some("warn");
    init_tracing(cli.log_format, config.as_ref().ok().and_then(|c| c.log_filter.as_deref()).or(quiet));
    let result = match config {
        Ok(config) => run(cli, config).await,
        Err(e) => Err(e.into()),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            progress::eprintln(&format!("error: {e:#}"));
            ExitCode::from(2)
        }
    };
    progress::finish();
    code
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema { command } => schema(command),
        Command::Demo(args) => demo::run(args).await,
        Command::Query(args) => run_query(config, args).await,
        Command::Report(args) => run_report(config, args).await,
        Command::Import(args) => run_import(config, args).await,
        Command::Send { destination: SendDestination::Azure { date, accounts, lake } } => {
            send_azure(config, date, accounts, lake.as_deref()).await
        }
        Command::Config { command: ConfigCommand::Check } => {
            // A Graph function's settings are checked as a whole (tenants need the app's parameters).
            if !config.tenant_ids.is_empty() {
                config.graph()?;
            }
            println!("{}", serde_json::to_string(&config.describe())?);
            progress::eprintln("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect { source } => match source {
            CollectSource::IamKeys { args, azure } => {
                let mut config = config;
                if azure && config.azure.is_none() {
                    anyhow::bail!(
                        "--azure needs AUDITLAKE_AZURE_INGESTION_URL and the other AUDITLAKE_AZURE_* settings (docs/AZURE.md)"
                    );
                }
                // A laptop run sends only when asked; a Lambda sends whenever Azure is configured.
                if !azure {
                    config.azure = None;
                }
                collect::<IamSource>(config, args, ()).await
            }
            CollectSource::Signins(args) => collect::<GraphSource>(config, args, GraphKind::SignIns).await,
            CollectSource::Audits(args) => collect::<GraphSource>(config, args, GraphKind::DirectoryAudits).await,
        },
    }
}

/// The `--lake` flag, parsed; its error names the flag and the value.
fn lake_flag(raw: &str) -> anyhow::Result<LakeUrl> {
    LakeUrl::parse(raw).map_err(|reason| anyhow::anyhow!("--lake {raw:?} is invalid: {reason}"))
}

/// The lake of `--lake` or the configuration, opened with the SDK's chain only when on S3.
async fn open_lake(config: &Config, lake: Option<&str>) -> anyhow::Result<auditlake_core::lake::Lake> {
    let url = match lake {
        Some(raw) => lake_flag(raw)?,
        None => config.require_lake_url()?.clone(),
    };
    let aws = auditlake_core::aws::sdk_config_if(matches!(url, LakeUrl::S3 { .. })).await;
    Ok(auditlake_core::lake::Lake::open(&url, &aws).await?)
}

async fn run_query(config: Config, args: QueryArgs) -> anyhow::Result<ExitCode> {
    let lake = open_lake(&config, args.lake.as_deref()).await?;
    let (origin, sql) = match (&args.sql, &args.file) {
        (Some(sql), _) => ("the query".to_string(), sql.clone()),
        (None, Some(file)) => {
            let (path, text) = query::query_file_text(file)?;
            (path.display().to_string(), text)
        }
        (None, None) => anyhow::bail!("give the SQL to run or --file"),
    };
    let engine = query::LakeSql::open(&lake).await?;
    let (schema, batches) = engine.run(&sql).await.map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    let mut out = std::io::stdout().lock();
    query::write(&mut out, args.format, &schema, &batches)?;
    Ok(ExitCode::SUCCESS)
}

async fn send_azure(
    config: Config,
    date: chrono::NaiveDate,
    accounts: Vec<String>,
    lake: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let settings = config.azure.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "sending to Azure needs AUDITLAKE_AZURE_INGESTION_URL and the other AUDITLAKE_AZURE_* settings (docs/AZURE.md)"
        )
    })?;
    let lake = open_lake(&config, lake).await?;
    let aws = auditlake_core::aws::sdk_config_if(matches!(config.secrets, auditlake_core::config::SecretSource::Ssm)).await;
    let secrets = auditlake_core::secrets::SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(&aws));
    let sink = auditlake_core::azure::AzureSink::from_settings(settings, &secrets).await?;
    let accounts = if accounts.is_empty() { auditlake_core::azure::snapshot_accounts(&lake, date).await? } else { accounts };
    if accounts.is_empty() {
        anyhow::bail!("the lake holds no access-key snapshot for {date}");
    }
    for account in &accounts {
        let delivery = sink.send_snapshot(&lake, account, date).await.map_err(|e| anyhow::anyhow!("account {account}: {e}"))?;
        println!("{}", serde_json::to_string(&delivery)?);
        progress::eprintln(&format!(
            "account {account}, {date}: {} rows in {} batches ({} sent now, the others acknowledged before)",
            delivery.rows, delivery.batches, delivery.sent
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_import(config: Config, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let lake = open_lake(&config, args.lake.as_deref()).await?;
    if let Some(tenant) = &args.tenant {
        auditlake_core::config::parse_tenant_ids("--tenant", tenant)?;
    }
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let run_id = cli_run_id();
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        let summary = match args.table {
            ImportTable::AwsIamAccessKeys => import::credential_report_file(&lake, file, args.generated_at, &run_id).await,
            ImportTable::EntraSignins | ImportTable::EntraDirectoryAudits => {
                let kind =
                    if matches!(args.table, ImportTable::EntraSignins) { GraphKind::SignIns } else { GraphKind::DirectoryAudits };
                let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                let progress = progress::FileProgress::new(&name, size);
                let tenant = args.tenant.as_deref().unwrap_or_default();
                let result =
                    import::graph::import_file(&lake, kind, tenant, file, workers, &run_id, &|read| progress.update(read)).await;
                progress.finish();
                result
            }
        };
        match summary {
            Ok(summary) => {
                println!("{}", serde_json::to_string(&summary)?);
                match &summary.already_imported {
                    Some(earlier) => progress::eprintln(&format!(
                        "{name}: imported before ({} rows into {}); nothing to do",
                        earlier.rows, earlier.table
                    )),
                    None => progress::eprintln(&format!(
                        "{name}: {} rows into {} in {} files, {} already in the lake, {} quarantined",
                        summary.rows, summary.table, summary.files, summary.duplicates, summary.quarantined
                    )),
                }
            }
            Err(e) => {
                progress::eprintln(&format!("error: {e:#}"));
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

async fn run_report(config: Config, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let lake = open_lake(&config, args.lake.as_deref()).await?;
    let now = Utc::now();
    let to = args.to.unwrap_or(now.date_naive());
    // A past --to is the end of that day for the queries; today is now.
    let as_of = if to == now.date_naive() { now } else { to.and_hms_opt(23, 59, 59).unwrap_or_default().and_utc() };
    let from = args.from.unwrap_or(to - chrono::Duration::days(29));
    let engine = query::LakeSql::open(&lake).await?.with_as_of(as_of);
    let report = report::Report { lake: lake.url().to_string(), from, to, generated_at: now, banner: None };
    let (html, visuals) = report.render(&engine).await?;
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    for v in &visuals {
        progress::eprintln(&format!("  {:>5} rows  {}", v.rows, v.title));
    }
    progress::eprintln(&format!("wrote {} ({from} to {to})", args.out.display()));
    Ok(ExitCode::SUCCESS)
}

fn schema(command: SchemaCommand) -> anyhow::Result<ExitCode> {
    match command {
        SchemaCommand::Ddl { table, lake } => {
            for t in schema_cmd::selected(table.as_deref())? {
                println!("{}", auditlake_core::schema::hive::create_table_ddl(t, &lake)?);
            }
        }
        SchemaCommand::GlueColumns { table } => {
            for t in schema_cmd::selected(Some(&table))? {
                println!("{}", schema_cmd::glue_columns_json(t)?);
            }
        }
        SchemaCommand::AzureColumns => println!("{}", schema_cmd::azure_columns_json()?),
        SchemaCommand::Generate { check, root } => {
            let changed = schema_cmd::generate(&root, check)?;
            for path in &changed {
                progress::eprintln(&format!("{} {}", if check { "differs:" } else { "wrote" }, path.display()));
            }
            if check && !changed.is_empty() {
                progress::eprintln("generated files are out of date: run `auditlake schema generate` and commit the result");
                return Ok(ExitCode::from(1));
            }
            if changed.is_empty() {
                progress::eprintln("generated files are up to date");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One run of a source through the same runtime as the Lambdas; the summary goes to stdout.
async fn collect<S: FromConfig>(mut config: Config, args: CollectArgs, kind: S::Kind) -> anyhow::Result<ExitCode> {
    if let Some(raw) = &args.lake {
        config.lake_url = Some(lake_flag(raw)?);
    }
    let runtime = Runtime::<S>::start(&config, None, kind).await?;
    let summary = runtime.collect(&RunRequest::new(args.time, cli_run_id())).await?;
    println!("{}", serde_json::to_string(&summary)?);
    if summary.units_failed > 0 {
        progress::eprintln(&format!("error: {}", summary.failure_message()));
        return Ok(ExitCode::from(1));
    }
    progress::eprintln(&format!(
        "wrote {} rows in {} files to {} ({} quarantined){}",
        summary.rows,
        summary.files,
        summary.lake,
        summary.quarantined,
        if summary.more_to_do { "; more remains: run it again to continue" } else { "" }
    ));
    Ok(ExitCode::SUCCESS)
}

/// A run id that sorts by time: `cli-`, the start time in milliseconds and the process id.
fn cli_run_id() -> String {
    format!("cli-{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id())
}

/// `filter`: `AUDITLAKE_LOG` (tracing's `EnvFilter` syntax); info and SDK warnings when unset.
fn init_tracing(format: LogFormat, filter: Option<&str>) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};

    let filter = || {
        filter
            .and_then(|f| EnvFilter::try_new(f).ok())
            .unwrap_or_else(|| EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"))
    };
    match format {
        // On a terminal, long pulls show a progress bar per tenant; log lines go above them.
        LogFormat::Text if std::io::stderr().is_terminal() => {
            let bars = indicatif::MultiProgress::new();
            let logs = tracing_subscriber::fmt::layer().with_writer(progress::SuspendingWriter::new(bars.clone())).with_filter(
                filter().add_directive(
                    format!("{}=off", auditlake_core::pipeline::PROGRESS_TARGET).parse().expect("a valid directive"),
                ),
            );
            let progress = progress::ProgressLayer::new(bars).with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(auditlake_core::pipeline::PROGRESS_TARGET, tracing::Level::INFO),
            );
            tracing_subscriber::registry().with(logs).with(progress).init();
        }
        // Colours only for a terminal: logs redirected to a file stay plain text.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).json().init(),
    }
}
