//! The HTTP side: one fallback handler routes by hand, so that every request — including
//! malformed ones axum's extractors would answer with plain text — gets a JSON error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use serde_json::json;

use super::query::{Cursor, Endpoint, Filter, Params, Resource, encode_component, sort};
use super::{AppCredential, Fault, Grant, Shared, State as FakeState, cert, normalise};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const GRAPH_CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// Form bodies are small; anything bigger is not a token request.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if let Some(tenant) = token_path(&path) {
        shared.lock().stats.token_requests += 1;
        let outcome = if parts.method != Method::POST {
            Err(OAuthError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests.",
            ))
        } else {
            match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                Ok(form) => issue_token(&shared, tenant, &path, &form),
                Err(_) => Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body could not be read.",
                )),
            }
        };
        return oauth_response(&shared, outcome);
    }

    let client_request_id = parts.headers.get("client-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let ids = RequestIds::new(client_request_id);
    let Some(endpoint) = Endpoint::parse(&path) else {
        let error =
            GraphError::new(StatusCode::NOT_FOUND, "UnknownError", format!("Resource not found for the segment '{path}'."));
        return graph_response(Outcome::Error(error), &ids);
    };
    if parts.method != Method::GET {
        let error = GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            format!("The method '{}' is not allowed on this resource.", parts.method),
        );
        return graph_response(Outcome::Error(error), &ids);
    }
    let (outcome, tenant) = decide(&shared, endpoint, &path, parts.uri.query(), &parts.headers);
    // Latency applies to everything after authentication: pages, faults, 429s, 4xx.
    if let Some(tenant) = tenant {
        let _in_flight = InFlight::enter(&shared, tenant);
        let delay = latency(shared.config.latency);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    graph_response(outcome, &ids)
}

/// Counts a tenant's request as in progress until dropped (also when the client hangs up and
/// the handler future is dropped mid-latency).
struct InFlight<'a> {
    shared: &'a Shared,
    tenant: String,
}

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared, tenant: String) -> Self {
        let mut state = shared.lock();
        *state.in_flight.entry(tenant.clone()).or_default() += 1;
        let busy = state.in_flight.values().filter(|n| **n > 0).count() as u64;
        state.stats.max_tenants_in_flight = state.stats.max_tenants_in_flight.max(busy);
        InFlight { shared, tenant }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.shared.lock().in_flight.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
        }
    }
}

/// `/{tenant}/oauth2/v2.0/token` → the tenant as written.
fn token_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (tenant, tail) = rest.split_once('/')?;
    (!tenant.is_empty() && tail == "oauth2/v2.0/token").then_some(tenant)
}

fn latency((min, max): (Duration, Duration)) -> Duration {
    if max <= min { min } else { min + (max - min).mul_f64(fastrand::f64()) }
}

fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

/// An Entra error: HTTP status, OAuth error, AADSTS code, description.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, code, description: description.into() }
    }

    fn missing(name: &str) -> OAuthError {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    fn invalid_client(code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, description)
    }
}

/// Validates a client-credentials request and issues an access token.
fn issue_token(shared: &Shared, tenant_in_path: &str, path: &str, form: &[u8]) -> Result<serde_json::Value, OAuthError> {
    let mut guard = shared.lock();
    // Reborrow as a plain reference so disjoint fields can be borrowed at once.
    let state: &mut FakeState = &mut guard;

    let tenant_key = normalise(tenant_in_path);
    let Some(tenant) = state.tenants.get(&tenant_key) else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant_in_path}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(form).map_err(|_| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded.",
        )
    })?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    let grant_type = field("grant_type").ok_or_else(|| OAuthError::missing("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id = field("client_id").ok_or_else(|| OAuthError::missing("client_id"))?;
    let scope = field("scope").ok_or_else(|| OAuthError::missing("scope"))?;
    if scope.trim() != format!("{}/.default", shared.base_url) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let credentials = tenant.apps.get(&normalise(client_id)).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant_in_path}'."),
        )
    })?;

    match (field("client_secret"), field("client_assertion")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                "Only one of 'client_secret' and 'client_assertion' may be presented.",
            ));
        }
        (None, None) => {
            return Err(OAuthError::invalid_client(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        (Some(secret), None) => {
            if !credentials.iter().any(|c| matches!(c, AppCredential::Secret(s) if s == secret)) {
                // Like Entra: name the app, never echo the secret.
                return Err(OAuthError::invalid_client(
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ));
            }
        }
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(JWT_BEARER) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    format!("The 'client_assertion_type' parameter must be '{JWT_BEARER}'."),
                ));
            }
            // The audience is the URL the client posted to.
            let token_url = format!("{}{path}", shared.base_url);
            let expected = cert::Expected { client_id, token_url: &token_url, now: chrono::Utc::now().timestamp() };
            let jti = cert::check_assertion(assertion, credentials, &expected)
                .map_err(|(code, description)| OAuthError::invalid_client(code, description))?;
            // The assertion is otherwise valid and the request succeeds from here: burn its jti.
            if !state.seen_jti.insert(jti) {
                return Err(OAuthError::invalid_client(
                    700027,
                    "Client assertion contains a 'jti' that was already used: assertions must not be replayed.",
                ));
            }
        }
    }

    let access_token = random_token();
    let lifetime = shared.config.token_lifetime;
    state.tokens.insert(access_token.clone(), Grant { tenant: tenant_key, expires: Instant::now() + lifetime });
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    }))
}

fn oauth_response(shared: &Shared, outcome: Result<serde_json::Value, OAuthError>) -> Response {
    let (status, body) = match outcome {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => {
            let (trace_id, correlation_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
            let description = format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                e.code, e.description
            );
            let body = json!({
                "error": e.error,
                "error_description": description,
                "error_codes": [e.code],
                "timestamp": timestamp,
                "trace_id": trace_id.to_string(),
                "correlation_id": correlation_id.to_string(),
                "error_uri": format!("{}/error?code={}", shared.base_url, e.code),
            });
            (e.status, body)
        }
    };
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    response
}

// ---------------------------------------------------------------------------------------------
// Graph data endpoints

/// A Graph error, rendered as `{"error":{"code","message","innerError":{…}}}`.
struct GraphError {
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<u64>,
}

impl GraphError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GraphError {
        GraphError { status, code: code.to_owned(), message: message.into(), retry_after: None }
    }

    fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn invalid_skip_token() -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid Skip Token")
    }
}

/// What a data request gets, decided under the lock and rendered after the latency.
enum Outcome {
    Page(String),
    Error(GraphError),
    ResetMidBody(String),
    Truncated(String),
}

/// Runs the checks in Graph's order: auth → injected fault → rate limit → licence → query.
/// Returns the outcome and the tenant of an authenticated request.
fn decide(
    shared: &Shared,
    endpoint: Endpoint,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> (Outcome, Option<String>) {
    let mut guard = shared.lock();
    let state: &mut FakeState = &mut guard;
    state.stats.graph_requests += 1;

    let tenant = match authenticate(state, headers) {
        Ok(tenant) => tenant,
        Err(message) => {
            state.stats.unauthorized += 1;
            return (Outcome::Error(GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)), None);
        }
    };

    if let Some(fault) = state.tenant_mut(&tenant).faults.pop_front() {
        state.stats.faults_served += 1;
        let outcome = match fault {
            Fault::Status { status, code, message, retry_after } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Outcome::Error(GraphError { status, code, message, retry_after })
            }
            Fault::InvalidSkipToken => Outcome::Error(GraphError::invalid_skip_token()),
            // The broken body is (the start of) what the request would have got, so a client that
            // wrongly accepts it would really see data; paging state is not advanced for it.
            Fault::ResetMidBody => Outcome::ResetMidBody(fault_body(shared, state, &tenant, endpoint, path, query)),
            Fault::TruncatedBody => Outcome::Truncated(fault_body(shared, state, &tenant, endpoint, path, query)),
        };
        return (outcome, Some(tenant.clone()));
    }

    if let Some((limit, window)) = shared.config.rate_limit {
        let received = &mut state.tenant_mut(&tenant).window;
        let now = Instant::now();
        while received.front().is_some_and(|&t| now.duration_since(t) >= window) {
            received.pop_front();
        }
        let throttled = received.len() >= limit as usize;
        if !throttled {
            received.push_back(now);
        }
        if throttled {
            state.stats.throttled += 1;
            let mut error = GraphError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests");
            error.retry_after = shared.config.retry_after;
            return (Outcome::Error(error), Some(tenant.clone()));
        }
    }

    if endpoint.resource == Resource::SignIns && !state.tenant_mut(&tenant).premium {
        let error = GraphError::new(
            StatusCode::FORBIDDEN,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        );
        return (Outcome::Error(error), Some(tenant.clone()));
    }

    match answer(shared, state, &tenant, endpoint, path, query) {
        Ok(page) => {
            state.stats.pages_served += 1;
            state.stats.rows_served += page.rows as u64;
            if let Some((token, cursor)) = page.next {
                state.cursors.insert(token, cursor);
            }
            (Outcome::Page(page.body), Some(tenant.clone()))
        }
        Err(error) => (Outcome::Error(error), Some(tenant.clone())),
    }
}

/// The tenant of a live bearer token, or the 401 message.
fn authenticate(state: &FakeState, headers: &HeaderMap) -> Result<String, &'static str> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty() => token.trim(),
        _ => return Err("Access token is empty."),
    };
    match state.tokens.get(token) {
        Some(grant) if Instant::now() < grant.expires => Ok(grant.tenant.clone()),
        // Unknown, expired and invalidated tokens look the same to a client.
        _ => Err("Access token has expired or is not yet valid."),
    }
}

/// A page to send, and the paging state its nextLink names (registered only if it is served).
struct Page {
    body: String,
    rows: usize,
    next: Option<(String, Cursor)>,
}

/// Answers the query: a new paging sequence, or the next page of one (`$skiptoken`).
fn answer(
    shared: &Shared,
    state: &mut FakeState,
    tenant: &str,
    endpoint: Endpoint,
    path: &str,
    query: Option<&str>,
) -> Result<Page, GraphError> {
    let params = Params::parse(query).map_err(GraphError::bad_request)?;
    let cursor = match &params.skiptoken {
        Some(token) => match state.cursors.get(token) {
            // A token only continues the sequence it came from: same tenant, same endpoint.
            Some(cursor) if cursor.tenant == tenant && cursor.endpoint == endpoint => cursor.clone(),
            _ => return Err(GraphError::invalid_skip_token()),
        },
        None => {
            let page_size = params.page_size(shared.config.max_page_size).map_err(GraphError::bad_request)?;
            let descending = params.descending(endpoint).map_err(GraphError::bad_request)?;
            let filter = match &params.filter {
                Some(text) => Filter::parse(text, endpoint).ok_or_else(|| GraphError::bad_request("Invalid filter clause"))?,
                None => Filter::default(),
            };
            let stored = state.tenant_mut(tenant);
            let records = match endpoint.resource {
                Resource::SignIns => &stored.signins,
                Resource::DirectoryAudits => &stored.audits,
            };
            let mut snapshot: Vec<_> = records.iter().filter(|r| filter.matches(r, endpoint.resource)).cloned().collect();
            sort(&mut snapshot, descending);
            // nextLinks repeat the original options (re-encoded) before the skip token.
            let mut link_prefix = String::new();
            for (name, value) in [("$filter", &params.filter), ("$top", &params.top), ("$orderby", &params.orderby)] {
                if let Some(value) = value {
                    link_prefix.push_str(&format!("{name}={}&", encode_component(value)));
                }
            }
            Cursor {
                tenant: tenant.to_owned(),
                endpoint,
                path: path.to_owned(),
                link_prefix,
                snapshot: Arc::new(snapshot),
                offset: 0,
                page_size,
                data_pages: 0,
                empty_next: false,
            }
        }
    };

    let (rows, next) = if cursor.empty_next {
        // An empty page mid-result: same position, the real page comes next.
        (&cursor.snapshot[..0], Some(Cursor { empty_next: false, ..cursor.clone() }))
    } else {
        let end = (cursor.offset + cursor.page_size).min(cursor.snapshot.len());
        let data_pages = cursor.data_pages + 1;
        let empty_next = shared.config.empty_page_every.is_some_and(|n| n > 0 && data_pages % n == 0);
        let next = (end < cursor.snapshot.len()).then(|| Cursor { offset: end, data_pages, empty_next, ..cursor.clone() });
        (&cursor.snapshot[cursor.offset.min(end)..end], next)
    };

    let next = next.map(|next| (random_token(), next));
    let next_link =
        next.as_ref().map(|(token, next)| format!("{}{}?{}$skiptoken={token}", shared.base_url, next.path, next.link_prefix));
    let mut body = String::with_capacity(256 + rows.iter().map(|r| r.json.len() + 1).sum::<usize>());
    body.push_str("{\"@odata.context\":");
    body.push_str(&json!(endpoint.context(&shared.base_url)).to_string());
    if let Some(link) = &next_link {
        body.push_str(",\"@odata.nextLink\":");
        body.push_str(&json!(link).to_string());
    }
    body.push_str(",\"value\":[");
    for (i, record) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&record.json);
    }
    body.push_str("]}");
    Ok(Page { body, rows: rows.len(), next })
}

/// The body a faulty 200 is cut from: the real answer if the query is valid, else a stand-in.
fn fault_body(
    shared: &Shared,
    state: &mut FakeState,
    tenant: &str,
    endpoint: Endpoint,
    path: &str,
    query: Option<&str>,
) -> String {
    match answer(shared, state, tenant, endpoint, path, query) {
        Ok(page) if page.body.len() >= 64 => page.body,
        _ => format!(
            "{{\"@odata.context\":{},\"value\":[{{\"id\":\"{}\",\"note\":\"stand-in record of a faulty response\"}}]}}",
            json!(endpoint.context(&shared.base_url)),
            uuid::Uuid::new_v4()
        ),
    }
}

/// `request-id` (fresh) and `client-request-id` (echoed when the client sent one), as Graph does.
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    fn new(client_request_id: Option<String>) -> RequestIds {
        let request_id = uuid::Uuid::new_v4().to_string();
        RequestIds { client_request_id: client_request_id.unwrap_or_else(|| request_id.clone()), request_id }
    }
}

fn graph_response(outcome: Outcome, ids: &RequestIds) -> Response {
    let mut response = match outcome {
        Outcome::Page(body) => Response::new(Body::from(body)),
        Outcome::Truncated(body) => {
            let mut bytes = body.into_bytes();
            bytes.truncate(bytes.len() / 2);
            Response::new(Body::from(bytes))
        }
        Outcome::ResetMidBody(body) => {
            let bytes = Bytes::from(body.into_bytes());
            let full = bytes.len();
            let first = bytes.slice(..full / 2);
            // The pause lets hyper flush headers and the first half before the abort.
            let stream = futures::stream::iter([Ok::<Bytes, std::io::Error>(first)]).chain(futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake Graph: connection reset mid-body"))
            }));
            let mut response = Response::new(Body::from_stream(stream));
            // The full length is announced, so the client knows the body was cut short.
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(full));
            response
        }
        Outcome::Error(error) => {
            let body = json!({"error": {
                "code": error.code,
                "message": error.message,
                "innerError": {
                    "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": ids.request_id,
                    "client-request-id": ids.client_request_id,
                }
            }});
            let mut response = Response::new(Body::from(body.to_string()));
            *response.status_mut() = error.status;
            if error.status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""),
                );
            }
            if let Some(seconds) = error.retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
    };
    add_graph_headers(response.headers_mut(), ids);
    response
}

fn add_graph_headers(headers: &mut HeaderMap, ids: &RequestIds) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        headers.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ids.client_request_id) {
        headers.insert("client-request-id", v);
    }
}
