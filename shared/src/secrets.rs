//! [`SecretStore`]: secret values by SSM parameter name, fetched once per process.
//!
//! Lambdas use SSM Parameter Store SecureStrings (`GetParameters` with decryption, up to ten
//! names per call) and keep values for the life of the execution environment, so a warm
//! invocation makes no SSM call. Local runs may choose the env store explicitly
//! (`AUDITLAKE_SECRETS=env`), which maps a parameter name such as `/auditlake/graph/client-secret`
//! to `AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_SECRET`.
//!
//! Values are [`SecretString`]s: their `Debug` prints `[REDACTED]`, and no error of this module
//! ever carries a value — only parameter names.

use std::collections::{BTreeMap, HashMap};

use secrecy::SecretString;
use tokio::sync::Mutex;

use crate::config::{ENV_SECRET_PREFIX, SecretSource};
use crate::error::{Classify, ErrorClass, classify_sdk_error, describe_sdk_error};

/// Why a secret could not be read. Names the parameter, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "SSM parameter {name} does not exist (create it with `aws ssm put-parameter --type SecureString --name {name} --value …`)"
    )]
    NotFound { name: String },
    #[error("SSM parameter {name} is a {actual}, expected SecureString: store secrets encrypted with KMS")]
    NotSecure { name: String, actual: String },
    #[error("reading SSM parameter {name} failed: {message}")]
    Ssm { name: String, message: String, class: ErrorClass },
    #[error("secret {name} is not set: with AUDITLAKE_SECRETS=env, set {var}")]
    EnvMissing { name: String, var: String },
}

impl Classify for SecretError {
    fn class(&self) -> ErrorClass {
        match self {
            SecretError::Ssm { class, .. } => *class,
            _ => ErrorClass::NonRetryable,
        }
    }
}

/// Secret values by parameter name; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SecretStore {
    backend: Backend,
    cache: Mutex<HashMap<String, SecretString>>,
}

#[derive(Debug)]
enum Backend {
    Ssm(aws_sdk_ssm::Client),
    Env(BTreeMap<String, SecretString>),
}

/// SSM accepts at most ten names per `GetParameters` call.
const SSM_BATCH: usize = 10;

impl SecretStore {
    /// The store the configuration chose; `ssm` is used only for [`SecretSource::Ssm`].
    pub fn new(source: &SecretSource, ssm: aws_sdk_ssm::Client) -> Self {
        let backend = match source {
            SecretSource::Ssm => Backend::Ssm(ssm),
            SecretSource::Env(vars) => Backend::Env(vars.clone()),
        };
        SecretStore { backend, cache: Mutex::new(HashMap::new()) }
    }

    /// One secret by parameter name.
    pub async fn get(&self, name: &str) -> Result<SecretString, SecretError> {
        let mut values = self.get_many(&[name]).await?;
        Ok(values.remove(name).expect("get_many returns every requested name or fails"))
    }

    /// Several secrets in as few calls as possible; fails naming the first missing parameter.
    pub async fn get_many(&self, names: &[&str]) -> Result<HashMap<String, SecretString>, SecretError> {
        let mut cache = self.cache.lock().await;
        let missing: Vec<&str> = names.iter().copied().filter(|n| !cache.contains_key(*n)).collect();
        if !missing.is_empty() {
            match &self.backend {
                Backend::Ssm(client) => {
                    for chunk in missing.chunks(SSM_BATCH) {
                        fetch_ssm(client, chunk, &mut cache).await?;
                    }
                }
                Backend::Env(vars) => {
                    for name in missing {
                        let var = env_var_name(name);
                        let value = vars.get(&var).ok_or_else(|| SecretError::EnvMissing { name: name.to_string(), var })?;
                        cache.insert(name.to_string(), value.clone());
                    }
                }
            }
        }
        Ok(names.iter().map(|n| (n.to_string(), cache[*n].clone())).collect())
    }
}

async fn fetch_ssm(
    client: &aws_sdk_ssm::Client,
    names: &[&str],
    cache: &mut HashMap<String, SecretString>,
) -> Result<(), SecretError> {
    let first = names.first().copied().unwrap_or_default().to_string();
    let out = client
        .get_parameters()
        .set_names(Some(names.iter().map(|n| n.to_string()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            SecretError::Ssm {
                // GetParameters fails as a whole (e.g. AccessDenied on one ARN): name them all.
                name: if names.len() == 1 { first.clone() } else { names.join(", ") },
                message: describe_sdk_error(&e),
                class: classify_sdk_error(&e),
            }
        })?;
    if let Some(name) = out.invalid_parameters().first() {
        return Err(SecretError::NotFound { name: name.clone() });
    }
    for p in out.parameters() {
        let name = p.name().unwrap_or_default().to_string();
        let kind = p.r#type().map(|t| t.as_str().to_string()).unwrap_or_default();
        if kind != "SecureString" {
            return Err(SecretError::NotSecure { name, actual: kind });
        }
        cache.insert(name, SecretString::from(p.value().unwrap_or_default().to_string()));
    }
    // SSM answers by exact name; anything still absent was not returned at all.
    match names.iter().find(|n| !cache.contains_key(**n)) {
        Some(name) => Err(SecretError::NotFound { name: name.to_string() }),
        None => Ok(()),
    }
}

/// `/auditlake/graph/client-secret` → `AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_SECRET`.
pub fn env_var_name(parameter: &str) -> String {
    let body: String = parameter.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{ENV_SECRET_PREFIX}{}", body.trim_matches('_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn env_names_follow_parameter_names() {
        assert_eq!(env_var_name("/auditlake/graph/client-secret"), "AUDITLAKE_SECRET_AUDITLAKE_GRAPH_CLIENT_SECRET");
        assert_eq!(env_var_name("plain"), "AUDITLAKE_SECRET_PLAIN");
    }

    #[tokio::test]
    async fn env_store_reads_captured_values_and_names_missing_ones() {
        let vars = BTreeMap::from([("AUDITLAKE_SECRET_A_B".to_string(), SecretString::from("v1".to_string()))]);
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::Config::builder().behavior_version(aws_config::BehaviorVersion::latest()).build(),
        );
        let store = SecretStore::new(&SecretSource::Env(vars), ssm);
        assert_eq!(store.get("/a/b").await.unwrap().expose_secret(), "v1");
        let err = store.get("/a/c").await.unwrap_err();
        assert!(err.to_string().contains("/a/c") && err.to_string().contains("AUDITLAKE_SECRET_A_C"), "{err}");
        assert!(!format!("{store:?}").contains("v1"));
    }
}
