//! The one place AWS SDK configuration is loaded.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

/// Loads the standard chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, Lambda role, …)
/// with adaptive retries: IAM publishes no rate limits and throttles with a token bucket, so
/// the client-side rate limiter of adaptive mode avoids retry storms across concurrent calls.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::adaptive().with_max_attempts(6)).load().await
}
