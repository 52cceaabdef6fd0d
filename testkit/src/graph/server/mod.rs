//! The HTTP side: one fallback handler routes by hand, so that every request — including
//! malformed ones axum's extractors would answer with plain text — gets a JSON error.
//!
//! - `token.rs`: the v2.0 token endpoint (client secret or certificate assertion).
//! - `data.rs`: the Graph data endpoints (auth, injected faults, rate limit, licence, paging).

mod data;
mod token;

use data::*;
use token::*;

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
        let mine = state.in_flight.entry(tenant.clone()).or_default();
        *mine += 1;
        let mine = *mine as u64;
        let busy = state.in_flight.values().filter(|n| **n > 0).count() as u64;
        state.stats.max_tenants_in_flight = state.stats.max_tenants_in_flight.max(busy);
        state.stats.max_requests_in_flight = state.stats.max_requests_in_flight.max(mine);
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
