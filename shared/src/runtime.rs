//! [`Runtime`]: the one way every entry point runs a source — the three Lambdas and the CLI.
//!
//! A source that implements [`FromConfig`] is built from the validated [`Config`]; the runtime
//! opens the lake beside it, once per process (a Lambda execution environment keeps both, with
//! the Graph tokens and SSM values they cache, across warm invocations). Then:
//!
//! - [`Runtime::collect`] runs [`pipeline::run`] and returns the summary even when some units
//!   failed (the CLI prints it and sets its exit code);
//! - [`Runtime::handle`] is what a scheduled invocation does: the event's time decides the
//!   window, and failed units fail the invocation with their [`ErrorClass`], so the Lambda's
//!   OnFailure destination alerts.
//!
//! [`lambda`] (feature `lambda`) adds the Lambda side: start-up from the environment and a
//! handler that reports a start-up error on every invocation as a `NonRetryable` diagnostic
//! instead of exiting before the runtime loop begins.
//!
//! Each scheduled run also prints its CloudWatch metrics as Embedded Metric Format lines
//! ([`crate::metrics`]), which the stack's freshness and failure alarms watch.
//!
//! Adding a source takes its module with a `FromConfig` impl, a Lambda crate whose `main`
//! calls [`lambda::start`] and [`lambda::handle`], and one arm in the CLI.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::Config;
use crate::error::{Classify, ErrorClass};
use crate::lake::{Lake, LakeUrl};
use crate::pipeline::{self, RunRequest, RunSummary, Source};

/// A source the runtime can build from the configuration.
#[async_trait]
pub trait FromConfig: Source + Sized {
    /// What the entry point chooses that the configuration does not (Graph: sign-ins or
    /// directory audits); `()` for a source with one variant.
    type Kind: Send;

    /// Whether this source calls AWS APIs with this configuration. When neither the source
    /// nor the lake does, the runtime skips the SDK's credential and region chain (whose
    /// instance-metadata probes only time out and warn on a laptop).
    fn needs_aws(config: &Config) -> bool;

    /// Builds the source. Reads secrets it needs now, so a missing parameter fails at start-up.
    async fn from_config(config: &Config, aws: &aws_config::SdkConfig, kind: Self::Kind) -> Result<Self, Self::Error>;

    /// The units an event asks for in place of the configured ones (the Graph functions take a
    /// group of tenants, so one stack can split many tenants over several invocations).
    /// By default an event that names tenants is refused.
    fn units_from_event(event: &ScheduledEvent) -> Result<Option<Vec<String>>, InvocationError> {
        match &event.tenant_ids {
            None => Ok(None),
            Some(_) => Err(InvocationError::new(
                "the event names tenant_ids, which only the Graph functions take",
                ErrorClass::NonRetryable,
            )),
        }
    }
}

/// What a scheduled invocation carries; `{}` is accepted too (manual runs). EventBridge
/// Scheduler targets pass `{"time": "<aws.scheduler.scheduled-time>", "tenant_ids": "…"}`; an
/// EventBridge rule passes its whole event, of which only `time` is read.
#[derive(Debug, Default, Deserialize)]
pub struct ScheduledEvent {
    /// The scheduled time: it decides the window (or the report date), so a retried event
    /// re-pulls and rewrites exactly the same data.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// A group of tenants to collect instead of `AUDITLAKE_TENANT_IDS`: comma-separated or a
    /// list (Graph functions only).
    #[serde(default)]
    pub tenant_ids: Option<TenantIds>,
}

/// `tenant_ids` of an event, as CloudFormation can write it: one string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TenantIds {
    Joined(String),
    List(Vec<String>),
}

impl TenantIds {
    /// The validated tenants (GUIDs or domain names), at least one.
    pub fn parse(&self) -> Result<Vec<String>, InvocationError> {
        let joined = match self {
            TenantIds::Joined(s) => s.clone(),
            TenantIds::List(items) => items.join(","),
        };
        let tenants =
            crate::config::parse_tenant_ids("tenant_ids (event)", &joined).map_err(|e| InvocationError::from_error(&e))?;
        if tenants.is_empty() {
            return Err(InvocationError::new("the event's tenant_ids is empty", ErrorClass::NonRetryable));
        }
        Ok(tenants)
    }
}

/// An invocation failure with its class; Lambdas turn it into a `Diagnostic` whose
/// `errorType` is `Retryable` or `NonRetryable`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct InvocationError {
    pub message: String,
    pub class: ErrorClass,
}

impl InvocationError {
    pub fn new(message: impl Into<String>, class: ErrorClass) -> Self {
        InvocationError { message: message.into(), class }
    }

    /// From any classified error.
    pub fn from_error<E: std::fmt::Display + Classify>(e: &E) -> Self {
        InvocationError::new(e.to_string(), e.class())
    }
}

impl Classify for InvocationError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

/// A source and the lake it writes to, built once.
#[derive(Debug)]
pub struct Runtime<S> {
    lake: Lake,
    source: S,
}

impl<S: FromConfig> Runtime<S> {
    /// Opens the configured lake and builds the source. `aws` is the SDK configuration to use
    /// (tests pass moto's); `None` loads the standard chain when the source or an S3 lake needs
    /// it.
    pub async fn start(config: &Config, aws: Option<&aws_config::SdkConfig>, kind: S::Kind) -> Result<Self, InvocationError> {
        let url = config.require_lake_url().map_err(|e| InvocationError::from_error(&e))?;
        let loaded;
        let aws = match aws {
            Some(aws) => aws,
            None => {
                loaded = crate::aws::sdk_config_if(S::needs_aws(config) || matches!(url, LakeUrl::S3 { .. })).await;
                &loaded
            }
        };
        let lake = Lake::open(url, aws).await.map_err(|e| InvocationError::from_error(&e))?;
        let source = S::from_config(config, aws, kind).await.map_err(|e| InvocationError::from_error(&e))?;
        Ok(Runtime { lake, source })
    }
}

impl<S: Source> Runtime<S> {
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// Runs every unit of the source. Fails as a whole only when the units cannot be listed;
    /// failed units are in the summary.
    pub async fn collect(&self, request: &RunRequest) -> Result<RunSummary, InvocationError> {
        pipeline::run(&self.source, &self.lake, request).await.map_err(|e| InvocationError::from_error(&e))
    }

    /// Runs `source` for one scheduled event. Units that succeeded are written even when others
    /// fail; the invocation then fails naming the failed units. A run that stopped on its time
    /// budget succeeds with `more_to_do` in the summary.
    ///
    /// The run's metrics are printed to stdout as Embedded Metric Format lines, failed or not.
    pub async fn handle(&self, event: ScheduledEvent, run_id: &str) -> Result<RunSummary, InvocationError>
    where
        S: FromConfig,
    {
        let units = S::units_from_event(&event)?;
        let request = RunRequest::new(event.time, run_id).with_units(units);
        let summary = self.collect(&request).await?;
        for line in crate::metrics::emf_lines(&summary, Utc::now()) {
            println!("{line}");
        }
        match summary.failure_class() {
            None => Ok(summary),
            Some(class) => Err(InvocationError::new(summary.failure_message(), class)),
        }
    }
}

/// The Lambda side of the runtime: start-up from the process environment, and the handler.
#[cfg(feature = "lambda")]
pub mod lambda {
    use std::future::Future;
    use std::pin::Pin;

    use lambda_runtime::LambdaEvent;
    use tokio::sync::OnceCell;

    use super::{FromConfig, InvocationError, Runtime, ScheduledEvent};
    use crate::config::Config;
    use crate::pipeline::RunSummary;

    type StartFuture<S> = Pin<Box<dyn Future<Output = Result<Runtime<S>, InvocationError>> + Send>>;

    /// A Lambda's runtime, started once per execution environment — or not yet: a start-up
    /// that failed (bad configuration, a secret not stored yet) is tried again by the next
    /// invocation, so storing the missing SSM parameter fixes a deployment without forcing a
    /// cold start. Until it succeeds, every invocation reports the start-up error as a
    /// diagnostic of its class, which reaches the OnFailure destination instead of an
    /// unexplained init crash loop.
    pub struct Started<S: FromConfig> {
        runtime: OnceCell<Runtime<S>>,
        start: Box<dyn Fn() -> StartFuture<S> + Send + Sync>,
    }

    impl<S: FromConfig> std::fmt::Debug for Started<S>
    where
        S: std::fmt::Debug,
    {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Started").field("runtime", &self.runtime.get()).finish_non_exhaustive()
        }
    }

    impl<S: FromConfig + 'static> Started<S> {
        /// Tries `start` now (a cold start does the work before the first event arrives) and
        /// again on each invocation until it succeeds.
        pub async fn new<F, Fut>(start: F) -> Self
        where
            F: Fn() -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Runtime<S>, InvocationError>> + Send + 'static,
        {
            let started = Started { runtime: OnceCell::new(), start: Box::new(move || Box::pin(start())) };
            // An error is logged here and reported again by every invocation that meets it.
            let _ = started.runtime().await;
            started
        }

        /// The runtime, starting it if no attempt has succeeded yet.
        pub async fn runtime(&self) -> Result<&Runtime<S>, InvocationError> {
            self.runtime.get_or_try_init(|| (self.start)()).await.inspect_err(|e| {
                tracing::error!(error = %e, class = e.class.as_str(), "start-up failed; the next invocation tries again");
            })
        }

        /// Whether a start-up has succeeded.
        pub fn is_started(&self) -> bool {
            self.runtime.initialized()
        }
    }

    /// Starts from the process environment (strictly: unknown `AUDITLAKE_*` names are errors).
    pub async fn start<S: FromConfig + 'static>(kind: S::Kind) -> Started<S>
    where
        S::Kind: Clone + Sync + 'static,
    {
        Started::new(move || {
            let kind = kind.clone();
            async move {
                let config = Config::from_env_strict().map_err(|e| InvocationError::from_error(&e))?;
                Runtime::start(&config, None, kind).await
            }
        })
        .await
    }

    /// The handler: an EventBridge scheduled event (or `{}`) in, the run summary out.
    pub async fn handle<S: FromConfig + 'static>(
        started: &Started<S>,
        event: LambdaEvent<ScheduledEvent>,
    ) -> Result<RunSummary, InvocationError> {
        started.runtime().await?.handle(event.payload, &event.context.request_id).await
    }

    impl From<InvocationError> for lambda_runtime::Diagnostic {
        fn from(e: InvocationError) -> Self {
            lambda_runtime::Diagnostic { error_type: e.class.as_str().to_string(), error_message: e.message }
        }
    }
}
