//! [`Config`]: the process environment turned into validated settings, once.
//!
//! This is the only module that reads the environment. Lambdas and the CLI call
//! [`Config::from_env`] at start-up; tests call [`Config::from_lookup`] with a map so they never
//! touch the process environment. Every error names the variable and the value that was wrong.
//! Variable names are those of `DESIGN.md` ("Configuration").

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;

use crate::error::{Classify, ErrorClass};
use crate::lake::LakeUrl;

/// Prefix of the variables that hold secret values when the env secret store is chosen
/// (local runs only, see [`SecretSource::Env`]).
pub const ENV_SECRET_PREFIX: &str = "AUDITLAKE_SECRET_";

/// A configuration problem, always naming the variable and (when there is one) its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
    #[error("unknown variable {names} (a typo? auditlake reads {known})", known = VARIABLES.join(", "))]
    Unknown { names: String },
}

impl Classify for ConfigError {
    /// The same settings fail the same way on every retry: only a person can fix them.
    fn class(&self) -> ErrorClass {
        match self {
            ConfigError::Missing { .. } | ConfigError::Invalid { .. } | ConfigError::Unknown { .. } => ErrorClass::NonRetryable,
        }
    }
}

/// Microsoft cloud the Graph collectors talk to (`AUDITLAKE_CLOUD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    /// Default login (token) and Graph base URLs of this cloud.
    pub fn endpoints(self) -> (&'static str, &'static str) {
        match self {
            Cloud::Global => ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
            Cloud::UsGov => ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
            Cloud::UsGovDod => ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
            Cloud::China => ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
        }
    }

    /// The Azure Monitor resource of this cloud, whose `…//.default` scope the Logs Ingestion
    /// API's tokens are requested with.
    pub fn monitor_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://monitor.azure.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://monitor.azure.us",
            Cloud::China => "https://monitor.azure.cn",
        }
    }
}

/// Which signature a certificate assertion uses (`AUDITLAKE_GRAPH_ASSERTION_ALG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlg {
    /// PS256 + `x5t#S256` (what Entra documents today).
    #[default]
    Ps256,
    /// RS256 + `x5t` (SHA-1), for older setups.
    Rs256,
}

/// The SSM parameter that proves the Graph app's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphCredentialParam {
    /// `AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM`: a client secret.
    Secret(String),
    /// `AUDITLAKE_GRAPH_CERT_PARAM`: a PEM with the private key and the certificate.
    Certificate { param: String, alg: AssertionAlg },
}

/// The Graph app registration: SSM parameter names, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphApp {
    /// `AUDITLAKE_GRAPH_CLIENT_ID_PARAM`.
    pub client_id_param: String,
    pub credential: GraphCredentialParam,
}

/// Everything a Graph collector needs, present and valid (see [`Config::graph`]).
#[derive(Debug, Clone, Copy)]
pub struct GraphSettings<'a> {
    pub tenant_ids: &'a [String],
    pub app: &'a GraphApp,
    pub graph_url: &'a str,
    pub login_url: &'a str,
    pub requests_per_10s: u32,
    pub window: WindowSettings,
    pub tenant_concurrency: usize,
    pub signin_event_types: &'a [String],
}

/// The window of an incremental collector, from `AUDITLAKE_OVERLAP`, `_LAG`,
/// `_INITIAL_LOOKBACK`, `_RETENTION` and `_TIME_BUDGET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    pub overlap: Duration,
    pub lag: Duration,
    pub initial_lookback: Duration,
    pub retention: Duration,
    pub time_budget: Duration,
}

/// Azure Monitor delivery of the access-key report (`AUDITLAKE_AZURE_*`), present and valid
/// as a whole: set `AUDITLAKE_AZURE_INGESTION_URL` and every other one is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    /// The data collection rule's logs ingestion endpoint (or a DCE), no trailing slash.
    pub ingestion_url: String,
    /// The rule's immutable id (`dcr-…`).
    pub dcr_id: String,
    /// The rule's stream (`Custom-AwsIamAccessKeys_CL`).
    pub stream: String,
    /// The Entra tenant of the sending app.
    pub tenant_id: String,
    /// The sending app: SSM parameter names, never values.
    pub app: GraphApp,
    /// `{monitor}//.default` of the cloud (`AUDITLAKE_CLOUD`).
    pub scope: String,
    /// The token endpoint's host (`AUDITLAKE_LOGIN_URL` or the cloud's).
    pub login_url: String,
}

/// Where secret values come from.
#[derive(Clone)]
pub enum SecretSource {
    /// SSM Parameter Store SecureStrings (the default; what Lambdas use).
    Ssm,
    /// `AUDITLAKE_SECRET_<PARAM NAME>` variables, for local runs only; chosen explicitly with
    /// `AUDITLAKE_SECRETS=env`. Values are captured here so nothing else reads the environment.
    Env(BTreeMap<String, SecretString>),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Ssm => f.write_str("Ssm"),
            // Names only: values redact themselves, but there is no reason to print them at all.
            SecretSource::Env(vars) => f.debug_tuple("Env").field(&vars.keys().collect::<Vec<_>>()).finish(),
        }
    }
}

/// Which AWS accounts the IAM report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountScope {
    /// The account of the credentials the process runs with.
    Current,
    /// These accounts (`AUDITLAKE_ACCOUNT_IDS`), each entered by assuming `role_name`.
    Listed { account_ids: Vec<String>, role_name: String },
    /// Every active account of the AWS Organization (`AUDITLAKE_ORGANIZATION=true`).
    Organization { role_name: String },
}

/// Validated settings shared by every binary. Fields a given binary does not use are still
/// validated, so a typo anywhere fails at start-up rather than at 3 a.m.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AUDITLAKE_LAKE_URL`; `None` only when unset (the CLI may supply `--lake`).
    pub lake_url: Option<LakeUrl>,
    pub tenant_ids: Vec<String>,
    /// The Graph app's parameters; `None` when none of `AUDITLAKE_GRAPH_*_PARAM` is set.
    pub graph_app: Option<GraphApp>,
    pub cloud: Cloud,
    pub graph_url: String,
    pub login_url: String,
    pub signin_event_types: Vec<String>,
    pub window: WindowSettings,
    pub graph_requests_per_10s: u32,
    pub accounts: AccountScope,
    /// Concurrent `ListAccessKeys` calls per account (`AUDITLAKE_IAM_CONCURRENCY`, default 8).
    pub iam_concurrency: usize,
    /// AWS accounts snapshotted at the same time (`AUDITLAKE_ACCOUNT_CONCURRENCY`, default 4).
    pub account_concurrency: usize,
    /// Entra tenants collected at the same time (`AUDITLAKE_TENANT_CONCURRENCY`, default 4);
    /// each keeps its own pacing budget, checkpoint and open files.
    pub tenant_concurrency: usize,
    pub secrets: SecretSource,
    /// Azure Monitor delivery of the access-key report; `None` when
    /// `AUDITLAKE_AZURE_INGESTION_URL` is unset.
    pub azure: Option<AzureSettings>,
    /// `AUDITLAKE_LOG`: the CLI's log filter (tracing `EnvFilter` syntax), when set.
    pub log_filter: Option<String>,
}

/// The four sign-in event types of Graph beta's `signInEventTypes`.
pub const ALL_SIGNIN_EVENT_TYPES: [&str; 4] = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"];

/// Every variable the configuration reads, besides the `AUDITLAKE_SECRET_*` values of the
/// env secret store.
pub const VARIABLES: &[&str] = &[
    "AUDITLAKE_LAKE_URL",
    "AUDITLAKE_TENANT_IDS",
    "AUDITLAKE_CLOUD",
    "AUDITLAKE_GRAPH_URL",
    "AUDITLAKE_LOGIN_URL",
    "AUDITLAKE_SIGNIN_EVENT_TYPES",
    "AUDITLAKE_OVERLAP",
    "AUDITLAKE_LAG",
    "AUDITLAKE_INITIAL_LOOKBACK",
    "AUDITLAKE_RETENTION",
    "AUDITLAKE_TIME_BUDGET",
    "AUDITLAKE_GRAPH_REQUESTS_PER_10S",
    "AUDITLAKE_IAM_CONCURRENCY",
    "AUDITLAKE_ACCOUNT_CONCURRENCY",
    "AUDITLAKE_TENANT_CONCURRENCY",
    "AUDITLAKE_GRAPH_ASSERTION_ALG",
    "AUDITLAKE_GRAPH_CLIENT_ID_PARAM",
    "AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM",
    "AUDITLAKE_GRAPH_CERT_PARAM",
    "AUDITLAKE_ACCOUNT_IDS",
    "AUDITLAKE_ORGANIZATION",
    "AUDITLAKE_ASSUME_ROLE_NAME",
    "AUDITLAKE_SECRETS",
    "AUDITLAKE_LOG",
    "AUDITLAKE_AZURE_INGESTION_URL",
    "AUDITLAKE_AZURE_DCR_ID",
    "AUDITLAKE_AZURE_STREAM",
    "AUDITLAKE_AZURE_TENANT_ID",
    "AUDITLAKE_AZURE_CLIENT_ID_PARAM",
    "AUDITLAKE_AZURE_CLIENT_SECRET_PARAM",
    "AUDITLAKE_AZURE_CERT_PARAM",
];

/// `AUDITLAKE_*` names among `names` that nothing reads: most likely a typo (a misspelt
/// `AUDITLAKE_ACCOUNT_IDS` would silently collect one account). The test tooling's own
/// variables (`AUDITLAKE_TEST_*`, `AUDITLAKE_CACHE`, `AUDITLAKE_BIN`) are not configuration and
/// are ignored.
pub fn unknown_variables<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| n.starts_with("AUDITLAKE_"))
        .filter(|n| !VARIABLES.contains(n) && !n.starts_with(ENV_SECRET_PREFIX) && !n.starts_with("AUDITLAKE_TEST_"))
        .filter(|n| !matches!(*n, "AUDITLAKE_CACHE" | "AUDITLAKE_BIN"))
        .map(String::from)
        .collect()
}

/// A comma-separated tenant list (from `var` or an event), each a GUID or a domain name.
pub fn parse_tenant_ids(var: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let tenant_ids = list(Some(value.to_string()));
    for t in &tenant_ids {
        if !is_tenant_id(t) {
            return Err(invalid(var, t, "expected a tenant GUID or a domain name such as contoso.onmicrosoft.com"));
        }
    }
    Ok(tenant_ids)
}

impl Config {
    /// [`Config::from_env`], and an error for any `AUDITLAKE_*` variable it does not know: the
    /// Lambdas and `auditlake config check` start this way, so a misspelt name in a template
    /// fails the deployment's first run instead of being ignored.
    #[allow(clippy::disallowed_methods, reason = "the one place that reads the environment")]
    pub fn from_env_strict() -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let unknown = unknown_variables(vars.keys().map(String::as_str));
        if !unknown.is_empty() {
            return Err(ConfigError::Unknown { names: unknown.join(", ") });
        }
        Self::from_lookup(|name| vars.get(name).cloned(), vars.keys().map(String::as_str))
    }

    /// What the configuration resolved to, for `auditlake config check`: names and settings,
    /// never a secret value (the env secret store is listed by parameter name only).
    pub fn describe(&self) -> serde_json::Value {
        let human = |d: Duration| humantime::format_duration(d).to_string();
        serde_json::json!({
            "lake_url": self.lake_url.as_ref().map(|u| u.to_string()),
            "tenant_ids": self.tenant_ids,
            "graph_app": self.graph_app.as_ref().map(|a| format!("{a:?}")),
            "cloud": format!("{:?}", self.cloud),
            "graph_url": self.graph_url,
            "login_url": self.login_url,
            "signin_event_types": self.signin_event_types,
            "overlap": human(self.window.overlap),
            "lag": human(self.window.lag),
            "initial_lookback": human(self.window.initial_lookback),
            "retention": human(self.window.retention),
            "time_budget": human(self.window.time_budget),
            "graph_requests_per_10s": self.graph_requests_per_10s,
            "accounts": format!("{:?}", self.accounts),
            "secrets": format!("{:?}", self.secrets),
            "azure": self.azure.as_ref().map(|a| serde_json::json!({
                "ingestion_url": a.ingestion_url, "dcr_id": a.dcr_id, "stream": a.stream,
                "tenant_id": a.tenant_id, "app": format!("{:?}", a.app), "scope": a.scope,
            })),
        })
    }

    /// Reads and validates the process environment.
    #[allow(clippy::disallowed_methods, reason = "the one place that reads the environment")]
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_lookup(|name| vars.get(name).cloned(), vars.keys().map(String::as_str))
    }

    /// Builds a config from any variable source. `names` lists every variable that exists
    /// (used to collect `AUDITLAKE_SECRET_*` when the env secret store is chosen).
    pub fn from_lookup<'a>(
        get: impl Fn(&str) -> Option<String>,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        // Empty and whitespace-only values count as unset: CloudFormation often passes "".
        let var = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());

        let lake_url = var("AUDITLAKE_LAKE_URL")
            .map(|v| {
                LakeUrl::parse(&v).map_err(|reason| ConfigError::Invalid { var: "AUDITLAKE_LAKE_URL", value: v.clone(), reason })
            })
            .transpose()?;

        let tenant_ids = parse_tenant_ids("AUDITLAKE_TENANT_IDS", var("AUDITLAKE_TENANT_IDS").as_deref().unwrap_or(""))?;

        let cloud = match var("AUDITLAKE_CLOUD").as_deref() {
            None | Some("global") => Cloud::Global,
            Some("usgov") => Cloud::UsGov,
            Some("usgov-dod") => Cloud::UsGovDod,
            Some("china") => Cloud::China,
            Some(other) => {
                return Err(invalid("AUDITLAKE_CLOUD", other, "expected global, usgov, usgov-dod or china"));
            }
        };
        let (login_default, graph_default) = cloud.endpoints();
        let graph_url = http_url("AUDITLAKE_GRAPH_URL", var("AUDITLAKE_GRAPH_URL"), graph_default)?;
        let login_url = http_url("AUDITLAKE_LOGIN_URL", var("AUDITLAKE_LOGIN_URL"), login_default)?;

        let signin_event_types = match var("AUDITLAKE_SIGNIN_EVENT_TYPES") {
            None => ALL_SIGNIN_EVENT_TYPES.iter().map(|s| s.to_string()).collect(),
            Some(v) => {
                let types = list(Some(v.clone()));
                if let Some(bad) = types.iter().find(|t| !ALL_SIGNIN_EVENT_TYPES.contains(&t.as_str())) {
                    return Err(invalid(
                        "AUDITLAKE_SIGNIN_EVENT_TYPES",
                        bad,
                        "expected interactiveUser, nonInteractiveUser, servicePrincipal or managedIdentity",
                    ));
                }
                types
            }
        };

        let duration = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            let raw = var(name).unwrap_or_else(|| default.to_string());
            humantime::parse_duration(&raw)
                .map_err(|e| invalid(name, &raw, &format!("{e}; expected a duration such as 90m, 2h or 7d")))
        };
        let overlap = duration("AUDITLAKE_OVERLAP", "1h")?;
        let lag = duration("AUDITLAKE_LAG", "2m")?;
        let initial_lookback = duration("AUDITLAKE_INITIAL_LOOKBACK", "1d")?;
        let retention = duration("AUDITLAKE_RETENTION", "30d")?;
        let time_budget = duration("AUDITLAKE_TIME_BUDGET", "12m")?;
        if initial_lookback > retention {
            return Err(invalid(
                "AUDITLAKE_INITIAL_LOOKBACK",
                &humantime::format_duration(initial_lookback).to_string(),
                "must not exceed AUDITLAKE_RETENTION (Graph rejects or empties older windows)",
            ));
        }

        let graph_requests_per_10s = positive("AUDITLAKE_GRAPH_REQUESTS_PER_10S", var("AUDITLAKE_GRAPH_REQUESTS_PER_10S"), 5)?;
        let iam_concurrency = positive("AUDITLAKE_IAM_CONCURRENCY", var("AUDITLAKE_IAM_CONCURRENCY"), 8)? as usize;
        let account_concurrency = positive("AUDITLAKE_ACCOUNT_CONCURRENCY", var("AUDITLAKE_ACCOUNT_CONCURRENCY"), 4)? as usize;
        let tenant_concurrency = positive("AUDITLAKE_TENANT_CONCURRENCY", var("AUDITLAKE_TENANT_CONCURRENCY"), 4)? as usize;

        let graph_assertion_alg = match var("AUDITLAKE_GRAPH_ASSERTION_ALG").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("ps256") => AssertionAlg::Ps256,
            Some("rs256") => AssertionAlg::Rs256,
            Some(other) => {
                return Err(invalid("AUDITLAKE_GRAPH_ASSERTION_ALG", other, "expected ps256 (default) or rs256"));
            }
        };
        let graph_app = graph_app(
            var("AUDITLAKE_GRAPH_CLIENT_ID_PARAM"),
            var("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM"),
            var("AUDITLAKE_GRAPH_CERT_PARAM"),
            graph_assertion_alg,
        )?;

        let accounts =
            account_scope(var("AUDITLAKE_ACCOUNT_IDS"), var("AUDITLAKE_ORGANIZATION"), var("AUDITLAKE_ASSUME_ROLE_NAME"))?;

        let azure = match var("AUDITLAKE_AZURE_INGESTION_URL") {
            None => None,
            Some(url) => {
                let ingestion_url = http_url("AUDITLAKE_AZURE_INGESTION_URL", Some(url), "")?;
                let required = |name: &'static str, hint: &'static str| var(name).ok_or(ConfigError::Missing { var: name, hint });
                let dcr_id = required(
                    "AUDITLAKE_AZURE_DCR_ID",
                    "the data collection rule's immutable id (dcr-…), an output of infra/azure/azuredeploy.json",
                )?;
                if !dcr_id.starts_with("dcr-") || !dcr_id[4..].chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(invalid(
                        "AUDITLAKE_AZURE_DCR_ID",
                        &dcr_id,
                        "expected a rule's immutable id: dcr- and hex digits",
                    ));
                }
                let stream = var("AUDITLAKE_AZURE_STREAM").unwrap_or_else(|| "Custom-AwsIamAccessKeys_CL".to_string());
                if !stream.starts_with("Custom-") {
                    return Err(invalid(
                        "AUDITLAKE_AZURE_STREAM",
                        &stream,
                        "expected a custom stream name such as Custom-AwsIamAccessKeys_CL",
                    ));
                }
                let tenant_id = required("AUDITLAKE_AZURE_TENANT_ID", "the Entra tenant of the app that sends to Azure Monitor")?;
                if !is_tenant_id(&tenant_id) {
                    return Err(invalid("AUDITLAKE_AZURE_TENANT_ID", &tenant_id, "expected a tenant GUID or domain"));
                }
                let app = azure_app(
                    var("AUDITLAKE_AZURE_CLIENT_ID_PARAM"),
                    var("AUDITLAKE_AZURE_CLIENT_SECRET_PARAM"),
                    var("AUDITLAKE_AZURE_CERT_PARAM"),
                    graph_assertion_alg,
                )?;
                Some(AzureSettings {
                    ingestion_url,
                    dcr_id,
                    stream,
                    tenant_id,
                    app,
                    scope: format!("{}//.default", cloud.monitor_url()),
                    login_url: login_url.clone(),
                })
            }
        };

        let secrets = match var("AUDITLAKE_SECRETS").as_deref() {
            None | Some("ssm") => SecretSource::Ssm,
            Some("env") => SecretSource::Env(
                names
                    .into_iter()
                    .filter(|n| n.starts_with(ENV_SECRET_PREFIX))
                    .filter_map(|n| get(n).map(|v| (n.to_string(), SecretString::from(v))))
                    .collect(),
            ),
            Some(other) => {
                return Err(invalid("AUDITLAKE_SECRETS", other, "expected ssm (default) or env"));
            }
        };

        Ok(Config {
            lake_url,
            tenant_ids,
            graph_app,
            cloud,
            graph_url,
            login_url,
            signin_event_types,
            window: WindowSettings { overlap, lag, initial_lookback, retention, time_budget },
            graph_requests_per_10s,
            accounts,
            iam_concurrency,
            account_concurrency,
            tenant_concurrency,
            secrets,
            azure,
            log_filter: var("AUDITLAKE_LOG"),
        })
    }

    /// The Graph settings, or an error naming the variable a Graph collector still needs.
    pub fn graph(&self) -> Result<GraphSettings<'_>, ConfigError> {
        if self.tenant_ids.is_empty() {
            return Err(ConfigError::Missing {
                var: "AUDITLAKE_TENANT_IDS",
                hint: "name the Entra tenants to collect (tenant GUIDs or domains, comma-separated)",
            });
        }
        let app = self.graph_app.as_ref().ok_or(ConfigError::Missing {
            var: "AUDITLAKE_GRAPH_CLIENT_ID_PARAM",
            hint: "name the SSM parameter holding the Graph app's client id (and AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM or AUDITLAKE_GRAPH_CERT_PARAM for its secret or certificate)",
        })?;
        Ok(GraphSettings {
            tenant_ids: &self.tenant_ids,
            app,
            graph_url: &self.graph_url,
            login_url: &self.login_url,
            requests_per_10s: self.graph_requests_per_10s,
            window: self.window,
            tenant_concurrency: self.tenant_concurrency,
            signin_event_types: &self.signin_event_types,
        })
    }

    /// The lake URL, or an error saying how to set it.
    pub fn require_lake_url(&self) -> Result<&LakeUrl, ConfigError> {
        self.lake_url
            .as_ref()
            .ok_or(ConfigError::Missing { var: "AUDITLAKE_LAKE_URL", hint: "set it to s3://bucket/prefix or a local directory" })
    }
}

fn invalid(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { var, value: value.to_string(), reason: reason.to_string() }
}

fn list(value: Option<String>) -> Vec<String> {
    value.map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default()
}

fn positive(var: &'static str, value: Option<String>, default: u32) -> Result<u32, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(invalid(var, &v, "expected a whole number greater than 0")),
        },
    }
}

fn http_url(var: &'static str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let Some(v) = value else {
        return Ok(default.to_string());
    };
    match url::Url::parse(&v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(v.trim_end_matches('/').to_string()),
        Ok(_) => Err(invalid(var, &v, "expected an http(s) URL with a host")),
        Err(e) => Err(invalid(var, &v, &e.to_string())),
    }
}

fn is_tenant_id(s: &str) -> bool {
    // The hyphenated form only: it is what goes into the token URL.
    let guid = s.len() == 36 && uuid::Uuid::try_parse(s).is_ok();
    let domain = s.contains('.')
        && s.split('.').all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    guid || domain
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn account_scope(
    account_ids: Option<String>,
    organization: Option<String>,
    role_name: Option<String>,
) -> Result<AccountScope, ConfigError> {
    let organization = match organization.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(invalid("AUDITLAKE_ORGANIZATION", organization.as_deref().unwrap_or_default(), "expected true or false"));
        }
    };
    let ids = list(account_ids.clone());
    if let Some(bad) = ids.iter().find(|id| !is_account_id(id)) {
        return Err(invalid("AUDITLAKE_ACCOUNT_IDS", bad, "expected 12-digit AWS account ids, comma-separated"));
    }
    if organization && !ids.is_empty() {
        return Err(invalid(
            "AUDITLAKE_ACCOUNT_IDS",
            account_ids.as_deref().unwrap_or_default(),
            "set either AUDITLAKE_ACCOUNT_IDS or AUDITLAKE_ORGANIZATION=true, not both",
        ));
    }
    if !organization && ids.is_empty() {
        return Ok(AccountScope::Current);
    }
    let role_name = match role_name {
        Some(r) if is_role_name(&r) => r,
        Some(r) => {
            return Err(invalid("AUDITLAKE_ASSUME_ROLE_NAME", &r, "expected an IAM role name (letters, digits and +=,.@_-)"));
        }
        None => {
            return Err(ConfigError::Missing {
                var: "AUDITLAKE_ASSUME_ROLE_NAME",
                hint: "multi-account collection assumes this read-only role in every account",
            });
        }
    };
    Ok(if organization { AccountScope::Organization { role_name } } else { AccountScope::Listed { account_ids: ids, role_name } })
}

/// The three Graph parameter variables come together: a client id and one credential. A
/// certificate wins over a secret when both are set (the secret is the fallback people keep
/// while they move to certificates).
fn graph_app(
    client_id_param: Option<String>,
    secret_param: Option<String>,
    cert_param: Option<String>,
    alg: AssertionAlg,
) -> Result<Option<GraphApp>, ConfigError> {
    let credential = match (secret_param, cert_param) {
        (_, Some(param)) => Some(GraphCredentialParam::Certificate { param, alg }),
        (Some(param), None) => Some(GraphCredentialParam::Secret(param)),
        (None, None) => None,
    };
    match (client_id_param, credential) {
        (None, None) => Ok(None),
        (Some(client_id_param), Some(credential)) => Ok(Some(GraphApp { client_id_param, credential })),
        (Some(_), None) => Err(ConfigError::Missing {
            var: "AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM",
            hint: "set it or AUDITLAKE_GRAPH_CERT_PARAM: the SSM parameter holding the Graph app's secret or certificate",
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            var: "AUDITLAKE_GRAPH_CLIENT_ID_PARAM",
            hint: "the SSM parameter holding the Graph app's client id",
        }),
    }
}

fn azure_app(
    client_id_param: Option<String>,
    secret_param: Option<String>,
    cert_param: Option<String>,
    alg: AssertionAlg,
) -> Result<GraphApp, ConfigError> {
    let client_id_param = client_id_param.ok_or(ConfigError::Missing {
        var: "AUDITLAKE_AZURE_CLIENT_ID_PARAM",
        hint: "the SSM parameter holding the client id of the app that sends to Azure Monitor",
    })?;
    let credential = match (secret_param, cert_param) {
        (_, Some(param)) => GraphCredentialParam::Certificate { param, alg },
        (Some(param), None) => GraphCredentialParam::Secret(param),
        (None, None) => {
            return Err(ConfigError::Missing {
                var: "AUDITLAKE_AZURE_CLIENT_SECRET_PARAM",
                hint: "set it or AUDITLAKE_AZURE_CERT_PARAM: the SSM parameter holding the sending app's secret or certificate",
            });
        }
    };
    Ok(GraphApp { client_id_param, credential })
}

fn is_role_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `VARIABLES` (what the strict start-up accepts) lists every name the configuration reads.
    #[test]
    fn every_variable_read_is_listed() {
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let _ = Config::from_lookup(
            |name| {
                read.borrow_mut().insert(name.to_string());
                None
            },
            [],
        );
        assert!(read.borrow().len() > 10, "{:?}", read.borrow());
        for name in read.borrow().iter() {
            assert!(VARIABLES.contains(&name.as_str()), "{name} is read but not in config::VARIABLES");
        }
    }
    use secrecy::ExposeSecret;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|n| map.get(n).cloned(), map.keys().map(String::as_str))
    }

    #[test]
    fn defaults_are_those_of_the_design() {
        let c = config(&[]).unwrap();
        assert!(c.lake_url.is_none());
        assert_eq!(c.window.overlap, Duration::from_secs(3600));
        assert_eq!(c.window.lag, Duration::from_secs(120));
        assert_eq!(c.window.retention, Duration::from_secs(30 * 86400));
        assert_eq!(c.window.time_budget, Duration::from_secs(12 * 60));
        assert_eq!(c.graph_requests_per_10s, 5);
        assert_eq!(c.signin_event_types.len(), 4);
        assert_eq!(c.accounts, AccountScope::Current);
        assert!(matches!(c.secrets, SecretSource::Ssm));
        assert_eq!(c.graph_url, "https://graph.microsoft.com");
        assert_eq!(c.require_lake_url().unwrap_err().to_string().split(' ').next(), Some("AUDITLAKE_LAKE_URL"));
    }

    #[test]
    fn errors_name_the_variable_and_the_value() {
        let cases: &[(&str, &str)] = &[
            ("AUDITLAKE_OVERLAP", "ninety minutes"),
            ("AUDITLAKE_CLOUD", "mars"),
            ("AUDITLAKE_ACCOUNT_IDS", "12345"),
            ("AUDITLAKE_GRAPH_REQUESTS_PER_10S", "0"),
            ("AUDITLAKE_ORGANIZATION", "yes"),
            ("AUDITLAKE_TENANT_IDS", "not a tenant"),
            ("AUDITLAKE_SIGNIN_EVENT_TYPES", "interactive"),
            ("AUDITLAKE_LAKE_URL", "ftp://host/x"),
            ("AUDITLAKE_GRAPH_URL", "graph"),
            ("AUDITLAKE_SECRETS", "vault"),
            ("AUDITLAKE_TENANT_CONCURRENCY", "many"),
            ("AUDITLAKE_ACCOUNT_CONCURRENCY", "-1"),
        ];
        for (var, value) in cases {
            let err = config(&[(var, value)]).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(var), "{msg} should name {var}");
            assert!(msg.contains(value), "{msg} should quote {value}");
            assert!(matches!(err, ConfigError::Invalid { .. }));
        }
    }

    #[test]
    fn multi_account_needs_a_role_name() {
        let err = config(&[("AUDITLAKE_ACCOUNT_IDS", "111111111111,222222222222")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "AUDITLAKE_ASSUME_ROLE_NAME",
                hint: "multi-account collection assumes this read-only role in every account"
            }
        );
        let c = config(&[
            ("AUDITLAKE_ACCOUNT_IDS", " 111111111111, 222222222222 "),
            ("AUDITLAKE_ASSUME_ROLE_NAME", "AuditLakeReader"),
        ])
        .unwrap();
        assert_eq!(
            c.accounts,
            AccountScope::Listed {
                account_ids: vec!["111111111111".into(), "222222222222".into()],
                role_name: "AuditLakeReader".into()
            }
        );
        let c = config(&[("AUDITLAKE_ORGANIZATION", "TRUE"), ("AUDITLAKE_ASSUME_ROLE_NAME", "r")]).unwrap();
        assert_eq!(c.accounts, AccountScope::Organization { role_name: "r".into() });
        let err = config(&[
            ("AUDITLAKE_ORGANIZATION", "true"),
            ("AUDITLAKE_ACCOUNT_IDS", "111111111111"),
            ("AUDITLAKE_ASSUME_ROLE_NAME", "r"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not both"));
    }

    #[test]
    fn lookback_beyond_retention_is_refused() {
        let err = config(&[("AUDITLAKE_INITIAL_LOOKBACK", "40d")]).unwrap_err();
        assert!(err.to_string().contains("AUDITLAKE_INITIAL_LOOKBACK"));
    }

    #[test]
    fn empty_values_count_as_unset_and_clouds_switch_endpoints() {
        let c = config(&[("AUDITLAKE_LAKE_URL", "  "), ("AUDITLAKE_CLOUD", "usgov-dod")]).unwrap();
        assert!(c.lake_url.is_none());
        assert_eq!(c.graph_url, "https://dod-graph.microsoft.us");
        assert_eq!(c.login_url, "https://login.microsoftonline.us");
        let c = config(&[("AUDITLAKE_CLOUD", "china"), ("AUDITLAKE_GRAPH_URL", "http://127.0.0.1:8080/")]).unwrap();
        assert_eq!(c.graph_url, "http://127.0.0.1:8080");
        assert_eq!(c.login_url, "https://login.chinacloudapi.cn");
    }

    #[test]
    fn env_secrets_only_when_chosen_and_never_in_debug() {
        let canary = "canary-secret-value-0f9a";
        let c = config(&[("AUDITLAKE_SECRET_GRAPH_CLIENT_SECRET", canary)]).unwrap();
        assert!(matches!(c.secrets, SecretSource::Ssm), "env secrets are never picked up implicitly");
        let c = config(&[("AUDITLAKE_SECRETS", "env"), ("AUDITLAKE_SECRET_GRAPH_CLIENT_SECRET", canary)]).unwrap();
        let SecretSource::Env(ref vars) = c.secrets else { panic!("env store expected") };
        assert_eq!(vars["AUDITLAKE_SECRET_GRAPH_CLIENT_SECRET"].expose_secret(), canary);
        assert!(!format!("{c:?}").contains(canary));
    }

    #[test]
    fn graph_settings_need_tenants_and_the_app_parameters() {
        let err = config(&[]).unwrap().graph().unwrap_err();
        assert!(err.to_string().starts_with("AUDITLAKE_TENANT_IDS is not set"), "{err}");
        let err = config(&[("AUDITLAKE_TENANT_IDS", "contoso.onmicrosoft.com")]).unwrap().graph().unwrap_err();
        assert!(err.to_string().starts_with("AUDITLAKE_GRAPH_CLIENT_ID_PARAM is not set"), "{err}");
        // Half a credential fails at start-up, not at the first Graph run.
        let err = config(&[("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/id")]).unwrap_err();
        assert!(err.to_string().starts_with("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM is not set"), "{err}");
        let err = config(&[("AUDITLAKE_GRAPH_CERT_PARAM", "/cert")]).unwrap_err();
        assert!(err.to_string().starts_with("AUDITLAKE_GRAPH_CLIENT_ID_PARAM is not set"), "{err}");
        assert_eq!(err.class(), ErrorClass::NonRetryable);

        let c = config(&[
            ("AUDITLAKE_TENANT_IDS", "contoso.onmicrosoft.com"),
            ("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/id"),
            ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "/secret"),
            ("AUDITLAKE_GRAPH_CERT_PARAM", "/cert"),
            ("AUDITLAKE_GRAPH_ASSERTION_ALG", "RS256"),
        ])
        .unwrap();
        let graph = c.graph().unwrap();
        assert_eq!(graph.app.credential, GraphCredentialParam::Certificate { param: "/cert".into(), alg: AssertionAlg::Rs256 });
        assert_eq!(graph.tenant_ids, ["contoso.onmicrosoft.com"]);
    }

    #[test]
    fn tenant_ids_accept_guids_and_domains() {
        let c = config(&[("AUDITLAKE_TENANT_IDS", "72f988bf-86f1-41af-91ab-2d7cd011db47, contoso.onmicrosoft.com")]).unwrap();
        assert_eq!(c.tenant_ids.len(), 2);
    }
}
