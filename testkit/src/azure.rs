//! An in-process fake of Azure Monitor's Logs Ingestion API and the Entra token endpoint it
//! needs, so the sender can be tested for batching, retries and exactly-once delivery.
//!
//! One HTTP server on `127.0.0.1:<port>` plays the login host and the data collection
//! endpoint. It follows `shared/reference/external-apis.md`:
//!
//! **Token** `POST /{tenant}/oauth2/v2.0/token`, client-credentials grant with a client secret;
//! the scope must be [`MONITOR_SCOPE`] (Entra-shaped `invalid_scope` otherwise), the app and
//! secret registered with [`FakeAzure::register_app`] (`invalid_client` otherwise).
//!
//! **Ingestion** `POST /dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01`.
//! Per request, in order: a live bearer token (401); a known rule and stream (404, as Azure
//! answers an unknown rule); `api-version` (400); `Content-Type: application/json` (415);
//! the body at most [`MAX_BODY_BYTES`] as sent, compressed or not (413); `Content-Encoding:
//! gzip` decoded; the next injected [`AzureFault`]; then the body must be a JSON array of
//! objects whose properties are the stream's declared columns with values of their types
//! (400 naming the first offender). Accepted rows are kept; the answer is 204.
//!
//! Not modelled: the 64 KB field limit, the transform, ingestion latency.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

/// The scope a token for the Logs Ingestion API is requested with (public cloud).
pub const MONITOR_SCOPE: &str = "https://monitor.azure.com//.default";
/// The largest request body the API takes, compressed or not.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const API_VERSION: &str = "2023-01-01";

/// A fault served instead of an answer, in order of injection.
#[derive(Debug, Clone)]
pub enum AzureFault {
    /// No fault: the request is answered normally (to place faults on later requests).
    Pass,
    /// 429, with `Retry-After` seconds when given.
    Throttled { retry_after: Option<u64> },
    /// 503 Service Unavailable.
    Unavailable,
    /// 403 as when the app lacks Monitoring Metrics Publisher on the rule.
    Forbidden,
    /// The batch is accepted (its rows kept), then the connection is cut before the 204: the
    /// client cannot know the batch arrived.
    CutAfterAccept,
}

/// What the fake has received.
#[derive(Debug, Clone, Default)]
pub struct AzureStats {
    pub token_requests: u64,
    /// Ingestion requests, any outcome.
    pub requests: u64,
    /// Batches accepted (204s, and batches accepted before a cut connection).
    pub batches: u64,
    /// Largest body received as sent (compressed when gzip).
    pub largest_body: usize,
    /// Requests that said `Content-Encoding: gzip`.
    pub gzip_requests: u64,
}

/// The declared rule: immutable id, stream, and the stream's `(column, type)`s.
type Rule = (String, String, Vec<(String, String)>);

#[derive(Default)]
struct Inner {
    apps: HashMap<(String, String), String>,
    tokens: Vec<String>,
    rule: Option<Rule>,
    faults: VecDeque<AzureFault>,
    rows: Vec<serde_json::Map<String, Value>>,
    stats: AzureStats,
}

struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The running fake; stops when dropped.
pub struct FakeAzure {
    shared: Arc<Shared>,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeAzure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAzure").field("base_url", &self.base_url).finish()
    }
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeAzure {
    /// Binds `127.0.0.1:0` and serves in a task of the current Tokio runtime.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start() -> FakeAzure {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for the fake Azure");
        let base_url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared { inner: Mutex::new(Inner::default()) });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Azure server stopped");
            }
        });
        FakeAzure { shared, base_url, server }
    }

    /// `http://127.0.0.1:PORT`: the login host and the data collection endpoint.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn register_app(&self, tenant: &str, client_id: &str, secret: &str) {
        self.shared.lock().apps.insert((tenant.to_lowercase(), client_id.to_string()), secret.to_string());
    }

    /// Declares the data collection rule and its stream's columns (`(name, type)`, types as
    /// data collection rules spell them).
    pub fn declare_stream(&self, dcr_id: &str, stream: &str, columns: Vec<(String, String)>) {
        self.shared.lock().rule = Some((dcr_id.to_string(), stream.to_string(), columns));
    }

    pub fn inject(&self, fault: AzureFault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Every row accepted so far, in order of arrival.
    pub fn rows(&self) -> Vec<serde_json::Map<String, Value>> {
        self.shared.lock().rows.clone()
    }

    pub fn stats(&self) -> AzureStats {
        self.shared.lock().stats.clone()
    }

    /// Makes every issued token invalid (as if they expired).
    pub fn expire_tokens(&self) {
        self.shared.lock().tokens.clear();
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid response")
}

fn azure_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": format!("AADSTS{code}: {description}"), "error_codes": [code]}),
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let Ok(body) = axum::body::to_bytes(body, 4 * MAX_BODY_BYTES).await else {
        return azure_error(StatusCode::PAYLOAD_TOO_LARGE, "ContentLengthLimitExceeded", "The request body is too large.");
    };
    if let Some(tenant) = path.strip_prefix('/').and_then(|p| p.strip_suffix("/oauth2/v2.0/token")) {
        return token(&shared, tenant, &body);
    }
    if let Some(rest) = path.strip_prefix("/dataCollectionRules/") {
        return ingest(&shared, rest, parts.uri.query().unwrap_or(""), &parts.headers, &body);
    }
    azure_error(StatusCode::NOT_FOUND, "NotFound", &format!("No route for {path}."))
}

fn token(shared: &Shared, tenant: &str, form: &[u8]) -> Response {
    let mut inner = shared.lock();
    inner.stats.token_requests += 1;
    let fields: HashMap<String, String> = serde_urlencoded::from_bytes(form).unwrap_or_default();
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, "The grant type is not supported.");
    }
    if field("scope") != MONITOR_SCOPE {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {} is not valid.",
                field("scope")
            ),
        );
    }
    // The secret is compared, never echoed.
    match inner.apps.get(&(tenant.to_lowercase(), field("client_id"))) {
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{}' was not found in the directory '{tenant}'.", field("client_id")),
        ),
        Some(secret) if *secret != field("client_secret") => {
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided.")
        }
        Some(_) => {
            let token = format!("fake-monitor-{}", uuid::Uuid::new_v4());
            inner.tokens.push(token.clone());
            json_response(
                StatusCode::OK,
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
            )
        }
    }
}

fn value_has_type(value: &Value, ty: &str) -> bool {
    match (ty, value) {
        (_, Value::Null) => true,
        ("string", Value::String(_)) => true,
        ("int" | "long", Value::Number(n)) => n.is_i64(),
        ("real", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("datetime", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        ("dynamic", _) => true,
        _ => false,
    }
}

fn ingest(shared: &Shared, rest: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut inner = shared.lock();
    inner.stats.requests += 1;
    inner.stats.largest_body = inner.stats.largest_body.max(body.len());
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| inner.tokens.iter().any(|k| k == t)) {
        return azure_error(StatusCode::UNAUTHORIZED, "InvalidToken", "The access token is missing, invalid or expired.");
    }
    let Some((dcr, stream)) = rest.split_once("/streams/") else {
        return azure_error(StatusCode::NOT_FOUND, "NotFound", "No stream in the path.");
    };
    let Some((rule, declared_stream, columns)) = inner.rule.clone() else {
        return azure_error(StatusCode::NOT_FOUND, "NotFound", "No data collection rule is declared.");
    };
    if dcr != rule {
        return azure_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Data collection rule with immutable Id '{dcr}' not found."),
        );
    }
    if stream != declared_stream {
        return azure_error(StatusCode::NOT_FOUND, "InvalidStream", &format!("Stream '{stream}' is not declared in the rule."));
    }
    if !query.split('&').any(|p| p == format!("api-version={API_VERSION}")) {
        return azure_error(StatusCode::BAD_REQUEST, "MissingApiVersion", "The api-version query parameter is required.");
    }
    if !headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json")) {
        return azure_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", "Content-Type must be application/json.");
    }
    if body.len() > MAX_BODY_BYTES {
        return azure_error(StatusCode::PAYLOAD_TOO_LARGE, "ContentLengthLimitExceeded", "The request body is larger than 1 MB.");
    }
    let gzip = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) == Some("gzip");
    let text = if gzip {
        inner.stats.gzip_requests += 1;
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(body).read_to_end(&mut out).is_err() {
            return azure_error(StatusCode::BAD_REQUEST, "InvalidContentEncoding", "The body is not valid gzip.");
        }
        out
    } else {
        body.to_vec()
    };
    let fault = inner.faults.pop_front();
    match fault {
        Some(AzureFault::Throttled { retry_after }) => {
            let mut response = azure_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Rate limit exceeded.");
            if let Some(s) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, s.into());
            }
            return response;
        }
        Some(AzureFault::Unavailable) => {
            return azure_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is temporarily unavailable.");
        }
        Some(AzureFault::Forbidden) => {
            return azure_error(
                StatusCode::FORBIDDEN,
                "OperationFailed",
                "The authentication token provided does not have access to ingest data for the data collection rule.",
            );
        }
        Some(AzureFault::CutAfterAccept | AzureFault::Pass) | None => {}
    }
    let rows: Vec<serde_json::Map<String, Value>> = match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Array(items)) => {
            match items.into_iter().map(|v| if let Value::Object(o) = v { Ok(o) } else { Err(()) }).collect() {
                Ok(rows) => rows,
                Err(()) => return azure_error(StatusCode::BAD_REQUEST, "InvalidPayload", "Every element must be an object."),
            }
        }
        _ => return azure_error(StatusCode::BAD_REQUEST, "InvalidPayload", "The body must be a JSON array."),
    };
    for row in &rows {
        for (name, value) in row {
            match columns.iter().find(|(c, _)| c == name) {
                None => {
                    return azure_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidPayload",
                        &format!("Column '{name}' is not declared in the stream."),
                    );
                }
                Some((_, ty)) if !value_has_type(value, ty) => {
                    return azure_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidPayload",
                        &format!("Column '{name}' expects {ty}, got {value}."),
                    );
                }
                Some(_) => {}
            }
        }
    }
    inner.rows.extend(rows);
    inner.stats.batches += 1;
    if matches!(fault, Some(AzureFault::CutAfterAccept)) {
        drop(inner);
        // Unwinding out of the handler ends the connection's task before any response is
        // written: the client sees the connection close, as when a network cut loses the 204.
        // `resume_unwind` does not run the panic hook, so nothing is printed.
        std::panic::resume_unwind(Box::new("fake Azure: connection cut after the batch was accepted"));
    }
    Response::builder().status(StatusCode::NO_CONTENT).body(Body::empty()).expect("a valid response")
}
