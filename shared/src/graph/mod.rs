//! Microsoft Graph: sign-ins and directory audits.
//!
//! - [`token::TokenProvider`]: client-credentials tokens (secret or certificate assertion),
//!   cached per tenant, renewed before expiry.
//! - [`pacer::Pacer`]: the per-tenant request budget (5 per 10 s by default).
//! - [`client::GraphClient`]: one paced, retried page GET; errors classified.
//! - [`schedule::Schedule`]: which queries a tenant's pull runs (slices sized to the data,
//!   several side by side, the time budget planned for) and how far its cursor may move.
//! - [`source::GraphSource`]: the pipeline source — incremental windows per tenant, paging,
//!   dedup on `id`, time budget; built from the configuration by its [`FromConfig`] impl
//!   (below), which reads the app's credential from the secret store.

pub mod client;
pub mod pacer;
pub mod schedule;
pub mod source;
pub mod token;

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::config::{Config, ConfigError, GraphApp, GraphCredentialParam, GraphSettings, SecretSource};
use crate::error::{Classify, ErrorClass};
use crate::lake::LakeError;
use crate::runtime::FromConfig;
use crate::secrets::{SecretError, SecretStore};

pub use client::{GraphClient, RetryPolicy};
pub use source::{GraphKind, GraphSource};
pub use token::{AppCredential, CertificateCredential, TokenProvider};

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
    /// The message already names the parameter (values never appear).
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("SSM parameter {param} does not hold a usable certificate: {message}")]
    Certificate { param: String, message: String },
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
            GraphError::Config(e) => e.class(),
            GraphError::Auth { .. }
            | GraphError::Licence { .. }
            | GraphError::Permission { .. }
            | GraphError::Request { .. }
            | GraphError::Certificate { .. }
            | GraphError::Mapping { .. } => ErrorClass::NonRetryable,
        }
    }
}

/// An app registration's client id and credential from the secret store (parameter names from
/// the config, values never): the Graph app, or the app that sends to Azure Monitor.
pub async fn app_credential(app: &GraphApp, secrets: &SecretStore) -> Result<(String, AppCredential), GraphError> {
    let credential = match &app.credential {
        GraphCredentialParam::Certificate { param, alg } => {
            let pem = secrets.get(param).await?;
            let cert = CertificateCredential::from_pem(pem.expose_secret(), *alg)
                .map_err(|message| GraphError::Certificate { param: param.clone(), message })?;
            AppCredential::Certificate(cert)
        }
        GraphCredentialParam::Secret(param) => AppCredential::Secret(secrets.get(param).await?),
    };
    let client_id = secrets.get(&app.client_id_param).await?.expose_secret().trim().to_string();
    Ok((client_id, credential))
}

/// The Graph app's credential and the client every tenant of the source shares.
async fn client_from_settings(settings: &GraphSettings<'_>, secrets: &SecretStore) -> Result<Arc<GraphClient>, GraphError> {
    let (client_id, credential) = app_credential(settings.app, secrets).await?;
    let http = GraphClient::http_client();
    let tokens = TokenProvider::new(http.clone(), settings.login_url, settings.graph_url, client_id, credential);
    Ok(Arc::new(GraphClient::new(http, tokens, settings.graph_url, settings.requests_per_10s, RetryPolicy::default())))
}

#[async_trait::async_trait]
impl FromConfig for GraphSource {
    /// Sign-ins or directory audits: the one thing the binary chooses.
    type Kind = GraphKind;

    /// SSM holds the app's secrets unless a laptop run chose `AUDITLAKE_SECRETS=env`.
    fn needs_aws(config: &Config) -> bool {
        matches!(config.secrets, SecretSource::Ssm)
    }

    /// A scheduled group of tenants (`tenant_ids` in the event) replaces `AUDITLAKE_TENANT_IDS`.
    fn units_from_event(event: &crate::runtime::ScheduledEvent) -> Result<Option<Vec<String>>, crate::runtime::InvocationError> {
        event.tenant_ids.as_ref().map(|t| t.parse()).transpose()
    }

    async fn from_config(config: &Config, aws: &aws_config::SdkConfig, kind: GraphKind) -> Result<Self, GraphError> {
        let settings = config.graph()?;
        let secrets = SecretStore::new(&config.secrets, aws_sdk_ssm::Client::new(aws));
        let client = client_from_settings(&settings, &secrets).await?;
        Ok(GraphSource::new(client, kind, settings.tenant_ids.to_vec(), settings.window)
            .with_signin_event_types(settings.signin_event_types.to_vec())
            .with_tenant_concurrency(settings.tenant_concurrency))
    }
}
