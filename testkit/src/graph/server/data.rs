//! The Graph data endpoints: `/{v1.0|beta}/auditLogs/{signIns|directoryAudits}`, checked in
//! Graph's order (auth → injected fault → rate limit → licence → query) and paged by
//! `$skiptoken`.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A Graph error, rendered as `{"error":{"code","message","innerError":{…}}}`.
pub(super) struct GraphError {
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<u64>,
}

impl GraphError {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GraphError {
        GraphError { status, code: code.to_owned(), message: message.into(), retry_after: None }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(super) fn invalid_skip_token() -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid Skip Token")
    }
}

/// What a data request gets, decided under the lock and rendered after the latency.
pub(super) enum Outcome {
    Page(String),
    Error(GraphError),
    ResetMidBody(String),
    Truncated(String),
}

/// Runs the checks in Graph's order: auth → injected fault → rate limit → licence → query.
/// Returns the outcome and the tenant of an authenticated request.
pub(super) fn decide(
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

    // Graph answers "Invalid Skip Token" only to nextLinks: such a fault waits at the head of
    // the queue for the tenant's next request that carries a `$skiptoken`.
    let is_next_link = Params::parse(query).is_ok_and(|p| p.skiptoken.is_some());
    let faults = &mut state.tenant_mut(&tenant).faults;
    let applies = |f: &Fault| !matches!(f, Fault::InvalidSkipToken) || is_next_link;
    let fault = if faults.front().is_some_and(applies) { faults.pop_front() } else { None };
    if let Some(fault) = fault {
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
pub(super) fn authenticate(state: &FakeState, headers: &HeaderMap) -> Result<String, &'static str> {
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
pub(super) struct Page {
    body: String,
    rows: usize,
    next: Option<(String, Cursor)>,
}

/// Answers the query: a new paging sequence, or the next page of one (`$skiptoken`).
pub(super) fn answer(
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
            let asked = params.page_size(shared.config.max_page_size).map_err(GraphError::bad_request)?;
            let page_size = shared.config.served_page_size.map_or(asked, |n| asked.min(n.max(1)));
            let descending = params.descending(endpoint).map_err(GraphError::bad_request)?
                && (params.orderby.is_some() || !shared.config.oldest_first);
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
pub(super) fn fault_body(
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
pub(super) struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    pub(super) fn new(client_request_id: Option<String>) -> RequestIds {
        let request_id = uuid::Uuid::new_v4().to_string();
        RequestIds { client_request_id: client_request_id.unwrap_or_else(|| request_id.clone()), request_id }
    }
}

pub(super) fn graph_response(outcome: Outcome, ids: &RequestIds) -> Response {
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

pub(super) fn add_graph_headers(headers: &mut HeaderMap, ids: &RequestIds) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        headers.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ids.client_request_id) {
        headers.insert("client-request-id", v);
    }
}
