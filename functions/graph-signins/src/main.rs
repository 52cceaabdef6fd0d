//! Lambda `graph-signins`: Entra ID sign-ins (all configured event types) from Microsoft Graph into `entra_signins`.
//!
//! `main` only wires: tracing, configuration, the secret store and the Graph client (its
//! tokens are cached across warm invocations), then the runtime loop.

mod handler;

use auditlake_core::config::Config;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = auditlake_core::aws::load_sdk_config().await;
    let deps = handler::deps(&config, &sdk).await?;
    lambda_runtime::run(service_fn(|event| handler::handle(event, &deps))).await
}
