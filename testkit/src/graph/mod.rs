//! An in-process fake of Microsoft Graph's audit-log endpoints and the Entra ID token endpoint,
//! so the real Graph client can be tested for paging, throttling and faults without a tenant.
//!
//! One HTTP server on `127.0.0.1:<random port>` plays both hosts ([`FakeGraph::base_url`] is
//! the "login" host and the "graph" host at once). It follows the contract in
//! `shared/reference/external-apis.md` and Microsoft's published examples:
//!
//! **Token endpoint** `POST /{tenant}/oauth2/v2.0/token` (client-credentials grant only)
//! - form fields `grant_type=client_credentials`, `client_id`, `scope` = `{base_url}/.default`,
//!   then either `client_secret` or `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//!   + `client_assertion`;
//! - the assertion is checked like Entra does: RS256/PS256 signature with a registered
//!   certificate's key, chosen by the `x5t#S256` (SHA-256) or `x5t` (SHA-1) thumbprint header
//!   (whichever is present must match); `aud` = the token URL; `iss` = `sub` = `client_id`;
//!   `exp` in the future and at most 1 h ahead; `nbf` ≤ now + 5 min; `jti` never seen before;
//! - errors are Entra-shaped (`{"error","error_description":"AADSTSnnn: …","error_codes":[nnn],…}`):
//!   400 `invalid_request` for an unknown tenant (AADSTS90002) or a missing field, 400
//!   `invalid_scope`, 400 `unauthorized_client` for an unknown app, 401 `invalid_client` for a
//!   bad secret or assertion. The secret sent is never echoed back;
//! - success: `{"token_type":"Bearer","expires_in":…,"ext_expires_in":…,"access_token":…}` with a
//!   random opaque token, valid for that tenant only. There is no refresh token.
//!
//! **Graph data** `GET /{v1.0|beta}/auditLogs/signIns` and `GET /{v1.0|beta}/auditLogs/directoryAudits`
//! (path segments after the version are case-insensitive, as on Graph). Per request, in order:
//! 1. `Authorization: Bearer …` must be a live token → else 401 `InvalidAuthenticationToken`;
//! 2. the tenant's next injected [`Fault`] (FIFO), if any, is served instead of the answer;
//! 3. the per-tenant rate limit (default 5 requests per 10 s, sliding window) → 429
//!    `TooManyRequests` with `Retry-After`;
//! 4. sign-ins need a premium tenant → 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`;
//! 5. the query: `$filter` (time comparisons `ge|le|gt|lt|eq` on `createdDateTime` /
//!    `activityDateTime` with 0–7 fractional digits, quoted or not, and for beta sign-ins
//!    `signInEventTypes/any(x: x eq '…')`, clauses joined by `and`), `$top` (≤ `max_page_size`),
//!    `$orderby` (time `asc|desc`), `$skiptoken`; `$skip` and other options are rejected (400).
//!
//! Contract facts it reproduces: v1.0 sign-ins are interactive only, and beta without an
//! event-type clause also returns only `interactiveUser`; the default order is descending by
//! time; paging returns `@odata.nextLink` (original `$filter`/`$top` kept, percent-encoded, plus an
//! opaque `$skiptoken`) until the result is exhausted, over a *snapshot* taken at the first request,
//! so late records show up only in a new query (never in a running sequence); pages may be empty
//! mid-result ([`FakeGraphConfig::empty_page_every`]); an unknown skip token gives 400
//! `Invalid Skip Token`; every Graph error body is `{"error":{"code","message","innerError":{…}}}`.
//!
//! Not modelled: `$select`, `$count`, `or` in filters, properties other than time and event type,
//! per-app (rather than per-tenant) limits, retention, and the difference between the v1.0 and
//! beta shapes of a record (both return the stored JSON as is).

mod cert;
mod query;
mod records;
mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cert::TestCertificate;
pub use records::{audit_id, audit_record, signin_record};

/// How the fake behaves; every knob has Graph's real value as default.
#[derive(Clone, Debug)]
pub struct FakeGraphConfig {
    /// Largest `$top` accepted, and the page size when `$top` is absent (Graph: 1,000).
    pub max_page_size: usize,
    /// Per tenant: at most this many data requests per sliding window (Graph: 5 per 10 s).
    /// Only requests that reach the rate-limit check and pass it are recorded (429s are not).
    pub rate_limit: Option<(u32, Duration)>,
    /// Seconds sent in `Retry-After` on rate-limit 429s; `None` sends a 429 without the header.
    pub retry_after: Option<u64>,
    /// Each data response (after authentication) is delayed uniformly within `[min, max]`.
    pub latency: (Duration, Duration),
    /// `expires_in` of issued tokens; the token stops working after it.
    pub token_lifetime: Duration,
    /// `Some(n)`: after every `n` non-empty pages, serve an extra page with `"value": []` and a
    /// nextLink, as Graph sometimes does mid-result.
    pub empty_page_every: Option<usize>,
    /// `Some(n)`: pages hold at most `n` records whatever `$top` asks (Graph's pages may be
    /// shorter than `$top`), so a test gets several nextLinks from few records.
    pub served_page_size: Option<usize>,
    /// Without `$orderby`, serve records oldest first instead of Graph's documented newest
    /// first: a collector must not lose records to an order it assumed.
    pub oldest_first: bool,
}

impl Default for FakeGraphConfig {
    fn default() -> Self {
        FakeGraphConfig {
            max_page_size: 1000,
            rate_limit: Some((5, Duration::from_secs(10))),
            retry_after: Some(2),
            latency: (Duration::ZERO, Duration::ZERO),
            token_lifetime: Duration::from_secs(3599),
            empty_page_every: None,
            served_page_size: None,
            oldest_first: false,
        }
    }
}

/// A credential registered for an app (client id) in a tenant. An app may have several
/// (key rotation): a secret matches any registered secret, an assertion the certificate whose
/// thumbprint its header names.
#[derive(Clone)]
pub enum AppCredential {
    Secret(String),
    Certificate { cert_der: Vec<u8>, public_key_pem: String },
}

impl std::fmt::Debug for AppCredential {
    // Secrets must never reach logs, even from test helpers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppCredential::Secret(_) => f.write_str("Secret(<redacted>)"),
            AppCredential::Certificate { cert_der, .. } => {
                write!(f, "Certificate {{ x5t#S256: {} }}", cert::x5t_s256(cert_der))
            }
        }
    }
}

/// A failure served instead of the real answer to one Graph data request of a tenant.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Any status with a Graph error body `{"error":{"code","message","innerError":{…}}}`,
    /// and `Retry-After` when given.
    Status { status: u16, code: String, message: String, retry_after: Option<u64> },
    /// 200 with headers and the first part of the body, then the connection is aborted.
    ResetMidBody,
    /// 200 with a complete HTTP response whose JSON body is cut in half (invalid JSON).
    TruncatedBody,
    /// 400 `Invalid Skip Token`, as Graph transiently answers a valid nextLink. Served only to
    /// a request with a `$skiptoken` (a nextLink); it waits at the head of the queue until one
    /// comes.
    InvalidSkipToken,
}

/// Counters of what the fake has seen and served, for assertions on client behaviour.
#[derive(Clone, Debug, Default)]
pub struct GraphStats {
    /// Requests to the token endpoint (successful or not).
    pub token_requests: u64,
    /// Requests to the Graph data endpoints (any outcome).
    pub graph_requests: u64,
    /// 200 pages with a JSON body served (empty pages included, faults not).
    pub pages_served: u64,
    /// Records in those pages.
    pub rows_served: u64,
    /// 429s caused by the rate limit (self-caused by the client; injected 429s not counted).
    pub throttled: u64,
    /// Injected faults consumed.
    pub faults_served: u64,
    /// 401s from the Graph data endpoints.
    pub unauthorized: u64,
    /// The most tenants that had a data request in progress (within its latency) at once.
    pub max_tenants_in_flight: u64,
    /// The most data requests of one tenant in progress (within their latency) at once.
    pub max_requests_in_flight: u64,
}

/// A running fake. Dropping it stops the server (connections already open may linger until
/// their client closes them).
pub struct FakeGraph {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph").field("base_url", &self.shared.base_url).finish_non_exhaustive()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGraph {
    /// Binds `127.0.0.1:0` and serves in a task of the current Tokio runtime.
    ///
    /// # Panics
    /// If no local port can be bound (nothing a test could do about it).
    pub async fn start(config: FakeGraphConfig) -> FakeGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for the fake Graph");
        let addr = listener.local_addr().expect("local address of the fake Graph");
        let shared = Arc::new(Shared { config, base_url: format!("http://{addr}"), state: Mutex::new(State::default()) });
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Graph server stopped");
            }
        });
        FakeGraph { shared, server }
    }

    /// `http://127.0.0.1:PORT`: use it as both the login host and the Graph host.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Registers (another) credential for `client_id` in `tenant`, creating both as needed.
    pub fn register_app(&self, tenant: &str, client_id: &str, credential: AppCredential) {
        let mut state = self.shared.lock();
        let apps = &mut state.tenant_mut(tenant).apps;
        apps.entry(normalise(client_id)).or_default().push(credential);
    }

    /// Whether the tenant has Entra ID P1/P2 (default true); sign-ins answer 403 without it.
    pub fn set_premium(&self, tenant: &str, premium: bool) {
        self.shared.lock().tenant_mut(tenant).premium = premium;
    }

    /// Adds sign-in records (any JSON; `id`, `createdDateTime`, `signInEventTypes`/`isInteractive`
    /// are interpreted). May be called at any time, e.g. to simulate late-arriving records.
    pub fn add_signins(&self, tenant: &str, records: Vec<serde_json::Value>) {
        let records = records.iter().map(|r| Arc::new(query::Record::new(r, "createdDateTime")));
        self.shared.lock().tenant_mut(tenant).signins.extend(records);
    }

    /// Adds directory-audit records (`id` and `activityDateTime` are interpreted).
    pub fn add_audits(&self, tenant: &str, records: Vec<serde_json::Value>) {
        let records = records.iter().map(|r| Arc::new(query::Record::new(r, "activityDateTime")));
        self.shared.lock().tenant_mut(tenant).audits.extend(records);
    }

    /// Queues a fault; each Graph data request of the tenant (after authentication) consumes one.
    pub fn inject(&self, tenant: &str, fault: Fault) {
        self.shared.lock().tenant_mut(tenant).faults.push_back(fault);
    }

    /// Invalidates every token issued so far: the next Graph request with one gets 401.
    pub fn expire_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    pub fn stats(&self) -> GraphStats {
        self.shared.lock().stats.clone()
    }
}

/// Tenant and client ids are GUIDs (or domain names), which Entra compares case-insensitively.
fn normalise(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// State shared by the handle and the server task.
struct Shared {
    config: FakeGraphConfig,
    base_url: String,
    state: Mutex<State>,
}

impl Shared {
    /// The state lock; a panic elsewhere must not cascade into every later request.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct State {
    tenants: HashMap<String, Tenant>,
    /// access token → grant
    tokens: HashMap<String, Grant>,
    /// Assertion ids already redeemed (Entra rejects replays).
    seen_jti: HashSet<String>,
    /// skip token → position in a paging sequence. Kept after use: a client may retry a nextLink.
    cursors: HashMap<String, query::Cursor>,
    stats: GraphStats,
    /// Data requests in progress per tenant.
    in_flight: HashMap<String, usize>,
}

impl State {
    fn tenant_mut(&mut self, tenant: &str) -> &mut Tenant {
        self.tenants.entry(normalise(tenant)).or_default()
    }
}

struct Tenant {
    apps: HashMap<String, Vec<AppCredential>>,
    premium: bool,
    signins: Vec<Arc<query::Record>>,
    audits: Vec<Arc<query::Record>>,
    faults: VecDeque<Fault>,
    /// When the requests counted by the rate limit were received.
    window: VecDeque<Instant>,
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant {
            apps: HashMap::new(),
            premium: true,
            signins: Vec::new(),
            audits: Vec::new(),
            faults: VecDeque::new(),
            window: VecDeque::new(),
        }
    }
}

struct Grant {
    tenant: String,
    expires: Instant,
}

/// Everything a Graph Lambda needs around it in a test: the app's client id and secret as SSM
/// SecureStrings in a moto account, a fake Graph that knows the app, a lake directory, and the
/// `AUDITLAKE_*` variables pointing at all of it (short first window, no pacing).
#[derive(Debug)]
pub struct LambdaEnv {
    pub fake: FakeGraph,
    pub vars: std::collections::BTreeMap<String, String>,
    pub tenant: &'static str,
    /// The client secret, to check it appears nowhere.
    pub secret: &'static str,
    pub lake_dir: tempfile::TempDir,
}

impl LambdaEnv {
    pub async fn start(account: &crate::moto::TestAccount) -> LambdaEnv {
        const TENANT: &str = "11111111-2222-3333-4444-555555555555";
        const SECRET: &str = "lambda-canary-secret";
        let ssm = aws_sdk_ssm::Client::new(&account.sdk);
        for (name, value) in [("/auditlake/graph/client-id", "app-1"), ("/auditlake/graph/client-secret", SECRET)] {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .expect("moto PutParameter");
        }
        let fake = FakeGraph::start(FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }).await;
        fake.register_app(TENANT, "app-1", AppCredential::Secret(SECRET.into()));
        let lake_dir = tempfile::tempdir().expect("temp dir");
        let vars = [
            ("AUDITLAKE_LAKE_URL", lake_dir.path().to_string_lossy().into_owned()),
            ("AUDITLAKE_TENANT_IDS", TENANT.to_string()),
            ("AUDITLAKE_GRAPH_CLIENT_ID_PARAM", "/auditlake/graph/client-id".into()),
            ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "/auditlake/graph/client-secret".into()),
            ("AUDITLAKE_GRAPH_URL", fake.base_url()),
            ("AUDITLAKE_LOGIN_URL", fake.base_url()),
            ("AUDITLAKE_INITIAL_LOOKBACK", "1h".into()),
            ("AUDITLAKE_GRAPH_REQUESTS_PER_10S", "1000".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        LambdaEnv { fake, vars, tenant: TENANT, secret: SECRET, lake_dir }
    }
}
