//! [`GraphClient`]: one paced, retried GET of a Graph page.
//!
//! Every request of a tenant first takes a slot from the tenant's [`Pacer`], then a token from
//! the [`TokenProvider`]. Failures are handled as Graph documents them: 429 waits `Retry-After`
//! (pausing the whole tenant) or backs off exponentially with jitter; 500/502/503/504,
//! timeouts, connection resets and bodies that are cut short are retried with backoff; a 401
//! renews the token once; "Invalid Skip Token" retries the same link a few times; licence and
//! permission errors fail at once with a message a person can act on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Mutex;

use super::GraphError;
use super::pacer::Pacer;
use super::token::TokenProvider;
use crate::error::Backoff;

/// Retry settings (tests shorten the delays).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Retries of the same nextLink after "Invalid Skip Token" before giving up on it.
    pub skip_token_retries: u32,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            skip_token_retries: 3,
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// One page of a Graph collection.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    pub next_link: Option<String>,
    /// HTTP requests this page took (1, plus retries, 429s and token renewals).
    pub requests: u32,
    /// From sending the request that got the page to the end of its body (pacing not included).
    pub latency: Duration,
}

#[derive(Deserialize)]
struct PageBody {
    #[serde(default)]
    value: Vec<Box<RawValue>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Tells a pull's running queries to send no more requests (its time budget is up); pages
/// already asked for are still read, so that the pull can write them and the next run goes on
/// from their nextLinks instead of asking for them again.
#[derive(Debug, Clone)]
pub struct StopSending(tokio::sync::watch::Receiver<bool>);

impl StopSending {
    /// The sender sets the signal with `send(true)`.
    pub fn channel() -> (tokio::sync::watch::Sender<bool>, StopSending) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, StopSending(rx))
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal is set (never, when its sender went away unset).
    pub async fn set(&mut self) {
        if self.0.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Counters a run reports (and benchmarks read).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ClientStats {
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
}

/// Paced, retried access to Graph for any number of tenants.
#[derive(Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    tokens: TokenProvider,
    graph_url: String,
    budget: (u32, Duration),
    retry: RetryPolicy,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    stats: std::sync::Mutex<ClientStats>,
}

const LICENCE_CODE: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

impl GraphClient {
    /// `requests_per_10s` is the per-tenant pacing budget (Graph allows 5 for these reports).
    pub fn new(http: reqwest::Client, tokens: TokenProvider, graph_url: &str, requests_per_10s: u32, retry: RetryPolicy) -> Self {
        GraphClient {
            http,
            tokens,
            graph_url: graph_url.trim_end_matches('/').to_string(),
            budget: (requests_per_10s, Duration::from_secs(10)),
            retry,
            pacers: Mutex::new(HashMap::new()),
            stats: std::sync::Mutex::new(ClientStats::default()),
        }
    }

    /// An HTTP client suited to Graph: no redirects (tokens must not follow them), gzip.
    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .gzip(true)
            .user_agent(concat!("auditlake/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a static reqwest configuration builds")
    }

    /// Replaces the pacing budget: `limit` requests per `window` per tenant (tests and
    /// benchmarks use short windows).
    pub fn with_pacing(mut self, limit: u32, window: Duration) -> Self {
        self.budget = (limit, window);
        self
    }

    pub fn graph_url(&self) -> &str {
        &self.graph_url
    }

    /// The average time between two requests of one tenant at the pacing budget (2 s at 5
    /// per 10 s, plus the pacer's safety margin).
    pub fn request_interval(&self) -> Duration {
        Pacer::interval(self.budget.0, self.budget.1)
    }

    pub fn stats(&self) -> ClientStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut ClientStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    async fn pacer(&self, tenant: &str) -> Arc<Pacer> {
        let mut pacers = self.pacers.lock().await;
        pacers.entry(tenant.to_string()).or_insert_with(|| Arc::new(Pacer::new(self.budget.0, self.budget.1))).clone()
    }

    /// GETs one page at `url` (a first-page URL or a nextLink, used verbatim); `None` when
    /// `stop` was set before a request for it went out (a request already sent is read).
    /// `rank`: what the query still has to read, in hundredths of a page (see
    /// [`Pacer::acquire_ranked`]).
    pub async fn get_page(
        &self,
        tenant: &str,
        url: &str,
        stop: &mut StopSending,
        rank: &Arc<AtomicU32>,
    ) -> Result<Option<Page>, GraphError> {
        let pacer = self.pacer(tenant).await;
        let mut renewed_token = false;
        let mut skip_token_failures = 0;
        let mut last_problem = String::new();
        for attempt in 1..=self.retry.max_attempts {
            if stop.is_set() {
                return Ok(None);
            }
            if attempt > 1 {
                self.count(|s| s.retries += 1);
            }
            // The token first (a renewal is a request of its own to another endpoint), then
            // the slot: the pacer's record of a request is then as close to its send as it
            // can be.
            let token = match self.tokens.token(tenant).await {
                Ok(t) => t,
                Err(GraphError::Transient { message, .. }) => {
                    last_problem = message;
                    self.backoff(attempt).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            tokio::select! {
                biased;
                () = stop.set() => return Ok(None),
                () = pacer.acquire_ranked(rank) => {}
            }
            self.count(|s| s.requests += 1);
            let sent_at = tokio::time::Instant::now();
            let sent = self.http.get(url).bearer_auth(token.expose_secret()).timeout(self.retry.request_timeout).send().await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last_problem = format!("request failed: {}", without_url(e));
                    tracing::warn!(tenant, attempt, problem = %last_problem, "Graph request failed; retrying");
                    self.backoff(attempt).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    last_problem = format!("HTTP {status}, body cut short: {}", without_url(e));
                    tracing::warn!(tenant, attempt, problem = %last_problem, "Graph response incomplete; retrying");
                    self.backoff(attempt).await;
                    continue;
                }
            };
            match status {
                200 => match serde_json::from_slice::<PageBody>(&body) {
                    Ok(page) => {
                        let latency = sent_at.elapsed();
                        return Ok(Some(Page { records: page.value, next_link: page.next_link, requests: attempt, latency }));
                    }
                    Err(e) => {
                        last_problem = format!("invalid JSON in a 200 response ({} bytes): {e}", body.len());
                        tracing::warn!(tenant, attempt, problem = %last_problem, "Graph page unreadable; retrying");
                        self.backoff(attempt).await;
                    }
                },
                429 => {
                    self.count(|s| s.throttled += 1);
                    last_problem = "throttled (429)".into();
                    match retry_after {
                        Some(secs) => {
                            tracing::warn!(tenant, retry_after = secs, "Graph throttled the tenant; honouring Retry-After");
                            pacer.pause(Duration::from_secs(secs)).await;
                        }
                        None => {
                            tracing::warn!(tenant, attempt, "Graph throttled the tenant without Retry-After; backing off");
                            self.backoff(attempt).await;
                        }
                    }
                }
                401 if !renewed_token => {
                    tracing::info!(tenant, "Graph answered 401; renewing the token once");
                    self.tokens.invalidate(tenant, &token).await;
                    renewed_token = true;
                }
                401 => {
                    let e = error_detail(&body);
                    return Err(GraphError::Auth {
                        tenant: tenant.into(),
                        message: format!("401 after a fresh token: {}: {}", e.code, e.message),
                    });
                }
                403 => {
                    let e = error_detail(&body);
                    if e.code == LICENCE_CODE {
                        return Err(GraphError::Licence { tenant: tenant.into() });
                    }
                    return Err(GraphError::Permission { tenant: tenant.into(), code: e.code, message: e.message });
                }
                400 if error_detail(&body).message.to_ascii_lowercase().contains("skip token") => {
                    skip_token_failures += 1;
                    if skip_token_failures > self.retry.skip_token_retries {
                        return Err(GraphError::InvalidSkipToken { tenant: tenant.into() });
                    }
                    last_problem = "Invalid Skip Token".into();
                    tracing::warn!(tenant, skip_token_failures, "Graph rejected a skip token; retrying the same link");
                    self.backoff(1).await;
                }
                500 | 502 | 503 | 504 => {
                    let e = error_detail(&body);
                    last_problem = format!("HTTP {status} {}", e.code);
                    tracing::warn!(tenant, attempt, status, "Graph server error; retrying");
                    match retry_after {
                        Some(secs) => pacer.pause(Duration::from_secs(secs)).await,
                        None => self.backoff(attempt).await,
                    }
                }
                _ => {
                    let e = error_detail(&body);
                    return Err(GraphError::Request { tenant: tenant.into(), status, code: e.code, message: e.message });
                }
            }
        }
        Err(GraphError::Exhausted { tenant: tenant.into(), attempts: self.retry.max_attempts, last: last_problem })
    }

    /// Exponential backoff with jitter (see [`Backoff`]).
    async fn backoff(&self, attempt: u32) {
        let backoff = Backoff { base: self.retry.base_delay, max: self.retry.max_delay, jitter: true };
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

fn error_detail(body: &[u8]) -> ErrorDetail {
    serde_json::from_slice::<ErrorBody>(body).map(|b| b.error).unwrap_or_default()
}

/// A reqwest error without its URL (a nextLink's skip token is opaque but long), with its
/// causes, which reqwest's `Display` leaves out.
pub(crate) fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
