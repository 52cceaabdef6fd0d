//! Lambda `iam-access-keys`: the daily AWS IAM access-key snapshot into the auditlake.
//!
//! `main` only wires: tracing, configuration and clients built once per execution environment,
//! then the runtime loop. The behaviour is in [`handler`] and `auditlake-core`.

mod handler;

use auditlake_core::config::Config;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = auditlake_core::aws::load_sdk_config().await;
    let deps = handler::Deps::new(&config, &sdk).await?;
    lambda_runtime::run(service_fn(|event| handler::handle(event, &deps))).await
}
