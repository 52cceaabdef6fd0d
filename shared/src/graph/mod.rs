//! Microsoft Graph: sign-ins and directory audits.
//!
//! - [`token::TokenProvider`]: client-credentials tokens (secret or certificate assertion),
//!   cached per tenant, renewed before expiry.
//! - [`pacer::Pacer`]: the per-tenant request budget (5 per 10 s by default).
//! - [`client::GraphClient`]: one paced, retried page GET; errors classified.
//! - [`source::GraphSource`]: the pipeline source — incremental windows per tenant, paging,
//!   dedup on `id`, time budget.

pub mod client;
pub mod pacer;
pub mod source;
pub mod token;

use std::sync::Arc;

use crate::config::Config;
use crate::error::{Classify, ErrorClass};
use crate::lake::LakeError;
use crate::secrets::{SecretError, SecretStore};

pub use client::{GraphClient, RetryPolicy};
pub use source::{GraphKind, GraphSource, WindowSettings};
pub use token::{AppCredential, AssertionAlg, CertificateCredential, TokenProvider};

/// Why a Graph request or collection failed. Never carries a secret or a token.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(
        "tenant {tenant}: authentication failed: {message}. Check the app's client id, its secret or certificate, and that it exists in this tenant"
    )]
    Auth { tenant: String, message: String },
    #[error(
        "tenant {tenant}: sign-in logs need a Microsoft Entra ID P1 or P2 licence (Graph answered Authentication_RequestFromNonPremiumTenantOrB2CTenant); directory audits work without it"
    )]
    Licence { tenant: String },
    #[error(
        "tenant {tenant}: permission denied ({code}: {message}). Grant the app AuditLog.Read.All and Directory.Read.All (application permissions) with admin consent"
    )]
    Permission { tenant: String, code: String, message: String },
    #[error("tenant {tenant}: Graph rejected the request (HTTP {status} {code}: {message})")]
    Request { tenant: String, status: u16, code: String, message: String },
    #[error("tenant {tenant}: Graph kept rejecting the skip token of a nextLink")]
    InvalidSkipToken { tenant: String },
    #[error("tenant {tenant}: {message}")]
    Transient { tenant: String, message: String },
    #[error("tenant {tenant}: gave up after {attempts} attempts; last problem: {last}")]
    Exhausted { tenant: String, attempts: u32, last: String },
    #[error("Graph credentials: {0}")]
    Secret(#[from] SecretError),
    #[error("Graph configuration: {0}")]
    Config(String),
    #[error("tenant {tenant}: mapping records to Arrow: {message}")]
    Mapping { tenant: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl Classify for GraphError {
    fn class(&self) -> ErrorClass {
        match self {
            GraphError::InvalidSkipToken { .. } | GraphError::Transient { .. } | GraphError::Exhausted { .. } => {
                ErrorClass::Retryable
            }
            GraphError::Secret(e) => e.class(),
            GraphError::Lake(e) => e.class(),
            GraphError::Auth { .. }
            | GraphError::Licence { .. }
            | GraphError::Permission { .. }
            | GraphError::Request { .. }
            | GraphError::Config(_)
            | GraphError::Mapping { .. } => ErrorClass::NonRetryable,
        }
    }
}

/// Builds the Graph client from the configuration, reading the app's client id and its secret
/// or certificate from the secret store (SSM parameter names in the config, values never).
pub async fn client_from_config(config: &Config, secrets: &SecretStore) -> Result<Arc<GraphClient>, GraphError> {
    let id_param = config
        .graph_client_id_param
        .as_deref()
        .ok_or_else(|| GraphError::Config("AUDITLAKE_GRAPH_CLIENT_ID_PARAM is not set".into()))?;
    let credential = match (&config.graph_client_secret_param, &config.graph_cert_param) {
        (_, Some(cert_param)) => {
            let pem = secrets.get(cert_param).await?;
            let cert = CertificateCredential::from_pem(secrecy::ExposeSecret::expose_secret(&pem), config.graph_assertion_alg)
                .map_err(|e| GraphError::Config(format!("SSM parameter {cert_param}: {e}")))?;
            AppCredential::Certificate(cert)
        }
        (Some(secret_param), None) => AppCredential::Secret(secrets.get(secret_param).await?),
        (None, None) => {
            return Err(GraphError::Config(
                "set AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM or AUDITLAKE_GRAPH_CERT_PARAM (the SSM parameter holding the app's secret or certificate)"
                    .into(),
            ));
        }
    };
    let client_id = secrecy::ExposeSecret::expose_secret(&secrets.get(id_param).await?).trim().to_string();
    let http = GraphClient::http_client();
    let tokens = TokenProvider::new(http.clone(), &config.login_url, &config.graph_url, client_id, credential);
    Ok(Arc::new(GraphClient::new(http, tokens, &config.graph_url, config.graph_requests_per_10s, RetryPolicy::default())))
}

/// The source a Lambda or the CLI runs: client from the secret store, tenants and windows
/// from the configuration.
pub async fn source_from_config(config: &Config, secrets: &SecretStore, kind: GraphKind) -> Result<GraphSource, GraphError> {
    if config.tenant_ids.is_empty() {
        return Err(GraphError::Config(
            "AUDITLAKE_TENANT_IDS is not set: name the Entra tenants to collect (comma-separated)".into(),
        ));
    }
    let client = client_from_config(config, secrets).await?;
    Ok(GraphSource::new(client, kind, config.tenant_ids.clone(), WindowSettings::from_config(config))
        .with_tenant_concurrency(config.tenant_concurrency))
}

/// The sign-in source for the configured event types.
pub fn signins(config: &Config) -> GraphKind {
    GraphKind::SignIns { event_types: config.signin_event_types.clone() }
}

/// What a Graph Lambda builds once per execution environment: the lake and the source (whose
/// client keeps its tokens across warm invocations).
#[derive(Debug)]
pub struct GraphRuntime {
    pub lake: crate::lake::Lake,
    pub source: GraphSource,
}

impl GraphRuntime {
    pub async fn new(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        kind: GraphKind,
    ) -> Result<Self, crate::invocation::InvocationError> {
        use crate::invocation::{InvocationError, open_lake};
        let lake = open_lake(config, sdk).await?;
        let secrets = SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(sdk));
        let source = source_from_config(config, &secrets, kind).await.map_err(|e| InvocationError::from_error(&e))?;
        Ok(GraphRuntime { lake, source })
    }

    /// Collects the window that ends at the event's time (minus the lag), for every tenant.
    pub async fn handle(
        &self,
        event: crate::invocation::ScheduledEvent,
        run_id: &str,
    ) -> Result<crate::pipeline::RunSummary, crate::invocation::InvocationError> {
        crate::invocation::run_scheduled(&self.source, &self.lake, event, run_id).await
    }
}
