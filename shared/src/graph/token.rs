//! [`TokenProvider`]: OAuth2 client-credentials tokens for Graph, one per tenant, cached.
//!
//! The app authenticates with a client secret or a certificate. With a certificate it sends a
//! signed client assertion (RFC 7523): PS256 with an `x5t#S256` thumbprint by default, RS256
//! with `x5t` (SHA-1) when [`AssertionAlg::Rs256`] is chosen, claims `aud` = token URL,
//! `iss` = `sub` = client id, a fresh `jti`, `nbf`/`iat` now and `exp` in 10 minutes.
//!
//! Tokens live in the provider for the life of the process (warm Lambda invocations reuse
//! them) and are renewed five minutes before they expire, or at once after a 401.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};
use sha1::Digest as _;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::GraphError;
use crate::config::AssertionAlg;

/// How the app proves its identity.
pub enum AppCredential {
    Secret(SecretString),
    Certificate(CertificateCredential),
}

impl std::fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppCredential::Secret(_) => f.write_str("Secret([REDACTED])"),
            AppCredential::Certificate(c) => {
                f.debug_struct("Certificate").field("x5t#S256", &c.x5t_s256).field("alg", &c.alg).finish()
            }
        }
    }
}

/// A private key and its certificate, ready to sign assertions.
pub struct CertificateCredential {
    key: jsonwebtoken::EncodingKey,
    x5t_s256: String,
    x5t: String,
    alg: AssertionAlg,
}

impl std::fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("x5t#S256", &self.x5t_s256)
            .field("alg", &self.alg)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl CertificateCredential {
    /// From one PEM text holding the private key (`PRIVATE KEY` or `RSA PRIVATE KEY`) and the
    /// certificate (`CERTIFICATE`), as stored in the SSM parameter.
    pub fn from_pem(pem_text: &str, alg: AssertionAlg) -> Result<Self, String> {
        let blocks = pem::parse_many(pem_text).map_err(|e| format!("not PEM: {e}"))?;
        let cert = blocks.iter().find(|b| b.tag() == "CERTIFICATE").ok_or("no CERTIFICATE block")?;
        let key = blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
            .ok_or("no PRIVATE KEY block (an RSA key is required)")?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(key).as_bytes())
            .map_err(|e| format!("the private key is not an RSA key: {e}"))?;
        Ok(CertificateCredential {
            key,
            x5t_s256: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(cert.contents())),
            x5t: URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(cert.contents())),
            alg,
        })
    }

    fn assertion(&self, client_id: &str, token_url: &str) -> Result<String, String> {
        let mut header = jsonwebtoken::Header::new(match self.alg {
            AssertionAlg::Ps256 => jsonwebtoken::Algorithm::PS256,
            AssertionAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
        });
        match self.alg {
            AssertionAlg::Ps256 => header.x5t_s256 = Some(self.x5t_s256.clone()),
            AssertionAlg::Rs256 => header.x5t = Some(self.x5t.clone()),
        }
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| format!("signing the client assertion: {e}"))
    }
}

struct Cached {
    token: SecretString,
    renew_at: Instant,
}

/// Tokens per tenant for one app registration.
pub struct TokenProvider {
    http: reqwest::Client,
    login_url: String,
    scope: String,
    client_id: String,
    credential: AppCredential,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("login_url", &self.login_url)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .finish()
    }
}

/// Renew this long before expiry, so a page request never carries a token about to lapse.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

impl TokenProvider {
    /// `graph_url` decides the scope (`{graph}/.default`): national clouds use their own host.
    pub fn new(http: reqwest::Client, login_url: &str, graph_url: &str, client_id: String, credential: AppCredential) -> Self {
        Self::with_scope(http, login_url, format!("{}/.default", graph_url.trim_end_matches('/')), client_id, credential)
    }

    /// Tokens for another resource than Graph, e.g. Azure Monitor's `https://monitor.azure.com//.default`.
    pub fn with_scope(
        http: reqwest::Client,
        login_url: &str,
        scope: String,
        client_id: String,
        credential: AppCredential,
    ) -> Self {
        TokenProvider {
            http,
            login_url: login_url.trim_end_matches('/').to_string(),
            scope,
            client_id,
            credential,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A valid token for `tenant`, from the cache when it is not close to expiry.
    pub async fn token(&self, tenant: &str) -> Result<SecretString, GraphError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(tenant).filter(|c| c.renew_at > Instant::now()) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.request(tenant).await?;
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
        cache.insert(tenant.to_string(), Cached { token: token.clone(), renew_at });
        Ok(token)
    }

    /// Forgets the tenant's token after Graph refused `refused` with a 401, so the next call
    /// requests a new one — unless a concurrent request already replaced it.
    pub async fn invalidate(&self, tenant: &str, refused: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache.get(tenant).is_some_and(|c| c.token.expose_secret() == refused.expose_secret()) {
            cache.remove(tenant);
        }
    }

    async fn request(&self, tenant: &str) -> Result<(SecretString, Duration), GraphError> {
        let token_url = format!("{}/{tenant}/oauth2/v2.0/token", self.login_url);
        let auth_err = |message: String| GraphError::Auth { tenant: tenant.to_string(), message };
        let url = TokenUrl::new(token_url.clone()).map_err(|e| auth_err(format!("token URL {token_url}: {e}")))?;
        let client =
            BasicClient::new(ClientId::new(self.client_id.clone())).set_token_uri(url).set_auth_type(AuthType::RequestBody);
        let client = match &self.credential {
            AppCredential::Secret(secret) => client.set_client_secret(ClientSecret::new(secret.expose_secret().to_string())),
            AppCredential::Certificate(_) => client,
        };
        let mut request = client.exchange_client_credentials().add_scope(Scope::new(self.scope.clone()));
        if let AppCredential::Certificate(cert) = &self.credential {
            let assertion = cert.assertion(&self.client_id, &token_url).map_err(auth_err)?;
            request = request
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", assertion);
        }
        match request.request_async(&self.http).await {
            Ok(response) => {
                let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3599));
                Ok((SecretString::from(response.access_token().secret().to_string()), lifetime))
            }
            Err(RequestTokenError::ServerResponse(e)) => Err(auth_err(format!(
                "the token endpoint refused client {}: {}{}",
                self.client_id,
                e.error(),
                e.error_description().map(|d| format!(" ({})", first_line(d))).unwrap_or_default()
            ))),
            // Transport problems may pass: let the caller's retry policy decide.
            Err(RequestTokenError::Request(e)) => {
                Err(GraphError::Transient { tenant: tenant.to_string(), message: format!("token request: {e}") })
            }
            Err(e) => Err(GraphError::Transient { tenant: tenant.to_string(), message: format!("token response: {e}") }),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
