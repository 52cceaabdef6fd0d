//! The token endpoint: `POST /{tenant}/oauth2/v2.0/token` with client credentials, answered
//! as Entra does (OAuth2 error bodies with `AADSTS` codes).

#[allow(clippy::wildcard_imports)]
use super::*;

/// An Entra error: HTTP status, OAuth error, AADSTS code, description.
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    pub(super) fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, code, description: description.into() }
    }

    pub(super) fn missing(name: &str) -> OAuthError {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    pub(super) fn invalid_client(code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, description)
    }
}

/// Validates a client-credentials request and issues an access token.
pub(super) fn issue_token(
    shared: &Shared,
    tenant_in_path: &str,
    path: &str,
    form: &[u8],
) -> Result<serde_json::Value, OAuthError> {
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

pub(super) fn oauth_response(shared: &Shared, outcome: Result<serde_json::Value, OAuthError>) -> Response {
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
