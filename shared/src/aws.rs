//! The one place AWS SDK configuration is loaded.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

/// Loads the standard chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, Lambda role, …)
/// with adaptive retries: IAM publishes no rate limits and throttles with a token bucket, so
/// the client-side rate limiter of adaptive mode avoids retry storms across concurrent calls.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::adaptive().with_max_attempts(6)).load().await
}

/// [`load_sdk_config`] when a run calls AWS at all; otherwise an empty configuration, so a
/// laptop run with a local lake skips the credential and region chain (whose instance-metadata
/// probes only time out and warn there).
pub async fn sdk_config_if(needed: bool) -> aws_config::SdkConfig {
    if needed {
        load_sdk_config().await
    } else {
        aws_config::SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build()
    }
}
