//! Lambda `iam-access-keys`: the daily AWS IAM access-key snapshot into `aws_iam_access_keys`.
//! The behaviour is in `auditlake-core`; this only wires it.

use auditlake_core::iam::IamSource;
use auditlake_core::runtime::lambda;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per execution environment; the event's time decides the report date. A
    // failed start-up is reported and tried again by the next invocation.
    let runtime = lambda::start::<IamSource>(()).await;
    lambda_runtime::run(service_fn(|event| lambda::handle(&runtime, event))).await
}
