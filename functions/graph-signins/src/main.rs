//! Lambda `graph-signins`: Entra ID sign-ins (every configured event type) from Microsoft
//! Graph into `entra_signins`. The behaviour is in `auditlake-core`; this only wires it.

use auditlake_core::graph::{GraphKind, GraphSource};
use auditlake_core::runtime::lambda;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per execution environment: Graph tokens and SSM values are reused by warm
    // invocations. A failed start-up is reported and tried again by the next invocation.
    let runtime = lambda::start::<GraphSource>(GraphKind::SignIns).await;
    lambda_runtime::run(service_fn(|event| lambda::handle(&runtime, event))).await
}
