//! Tests of the fake Graph itself, with plain reqwest clients: the token endpoint, paging,
//! filters, rate limiting and fault injection behave as the published contract says.

use std::collections::HashSet;
use std::time::Duration;

use auditlake_testkit::graph::{
    AppCredential, FakeGraph, FakeGraphConfig, Fault, TestCertificate, audit_id, audit_record, signin_record,
};
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SECRET: &str = "Xq8~not-a-real-secret.value_123";

/// Unthrottled by default: only the rate-limit test wants throttling.
fn quiet() -> FakeGraphConfig {
    FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client")
}

fn token_url(fake: &FakeGraph, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", fake.base_url())
}

async fn secret_token_response(fake: &FakeGraph, secret: &str, scope: &str) -> reqwest::Response {
    http()
        .post(token_url(fake, TENANT))
        .form(&[("grant_type", "client_credentials"), ("client_id", CLIENT), ("scope", scope), ("client_secret", secret)])
        .send()
        .await
        .expect("token request")
}

/// A fake with one app (client secret) and a token for it.
async fn fake_with_token(config: FakeGraphConfig) -> (FakeGraph, String) {
    let fake = FakeGraph::start(config).await;
    fake.register_app(TENANT, CLIENT, AppCredential::Secret(SECRET.to_owned()));
    let token = fresh_token(&fake).await;
    (fake, token)
}

async fn fresh_token(fake: &FakeGraph) -> String {
    let response = secret_token_response(fake, SECRET, &format!("{}/.default", fake.base_url())).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token JSON");
    body["access_token"].as_str().expect("access_token").to_owned()
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    http().get(url).bearer_auth(token).send().await.expect("Graph request")
}

async fn get_json(url: &str, token: &str) -> (StatusCode, Value) {
    let response = get(url, token).await;
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

/// Follows nextLinks verbatim from `first`; returns each page's ids.
async fn all_pages(first: &str, token: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut url = Some(first.to_owned());
    while let Some(next) = url {
        let (status, body) = get_json(&next, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ids =
            body["value"].as_array().expect("value array").iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect();
        pages.push(ids);
        url = body.get("@odata.nextLink").and_then(Value::as_str).map(str::to_owned);
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

fn with_filter(base: &str, filter: &str, top: Option<usize>) -> String {
    let mut url = reqwest::Url::parse(base).expect("URL");
    url.query_pairs_mut().append_pair("$filter", filter);
    if let Some(top) = top {
        url.query_pairs_mut().append_pair("$top", &top.to_string());
    }
    url.to_string()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).single().expect("valid time")
}

/// Record `i`'s time: one per second, with a varying 100 ns fraction.
fn time_of(i: u32) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(i64::from(i))
        + chrono::Duration::nanoseconds(i64::from(i % 9_999) * 1_234_500 % 1_000_000_000 / 100 * 100)
}

/// Always 7 fractional digits (chrono has no `%.7f`).
fn graph_time(t: DateTime<Utc>) -> String {
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

// --------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_with_client_secret() {
    let (fake, token) = fake_with_token(quiet()).await;
    let scope = format!("{}/.default", fake.base_url());

    let ok: Value = secret_token_response(&fake, SECRET, &scope).await.json().await.expect("JSON");
    assert_eq!(ok["token_type"], "Bearer");
    assert_eq!(ok["expires_in"], 3599);
    assert!(ok["access_token"].as_str().is_some_and(|t| t.len() >= 32));
    let (status, _) = get_json(&format!("{}/v1.0/auditLogs/signIns", fake.base_url()), &token).await;
    assert_eq!(status, StatusCode::OK);

    let wrong_secret = "Wr0ng~secret-that-must-not-be-echoed";
    let response = secret_token_response(&fake, wrong_secret, &scope).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = response.text().await.expect("body");
    assert!(!text.contains(wrong_secret), "secret echoed: {text}");
    let body: Value = serde_json::from_str(&text).expect("JSON error");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    assert!(body["error_description"].as_str().is_some_and(|d| d.starts_with("AADSTS7000215:")));

    let response = secret_token_response(&fake, SECRET, "https://graph.microsoft.com/.default").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.expect("JSON")["error"], "invalid_scope");

    let response = http()
        .post(token_url(&fake, "99999999-0000-0000-0000-000000000000"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("scope", scope.as_str()),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!((body["error"].as_str(), body["error_codes"][0].as_u64()), (Some("invalid_request"), Some(90002)));

    // Malformed requests get JSON errors too.
    let response = http().get(token_url(&fake, TENANT)).send().await.expect("GET token");
    assert!(response.status().is_client_error());
    assert!(response.json::<Value>().await.is_ok());
    let response = http().post(token_url(&fake, TENANT)).body("%%%&&=").send().await.expect("junk form");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());

    assert_eq!(fake.stats().token_requests, 7);
}

#[tokio::test]
async fn token_lifetime_is_configurable_and_enforced() {
    let config = FakeGraphConfig { token_lifetime: Duration::from_millis(300), ..quiet() };
    let (fake, token) = fake_with_token(config).await;
    let url = format!("{}/beta/auditLogs/directoryAudits", fake.base_url());
    assert_eq!(get(&url, &token).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, body) = get_json(&url, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

/// Which thumbprint header an assertion carries.
enum Thumbprint {
    S256,
    Sha1,
}

fn assertion(
    signer: &TestCertificate,
    named: &TestCertificate,
    alg: Algorithm,
    thumbprint: Thumbprint,
    aud: &str,
    jti: &str,
) -> String {
    let mut header = Header::new(alg);
    match thumbprint {
        Thumbprint::S256 => header.x5t_s256 = Some(named.x5t_s256()),
        Thumbprint::Sha1 => header.x5t = Some(named.x5t_sha1()),
    }
    let now = Utc::now().timestamp();
    let claims = json!({"aud": aud, "iss": CLIENT, "sub": CLIENT, "jti": jti, "nbf": now, "iat": now, "exp": now + 600});
    let key = EncodingKey::from_rsa_pem(signer.private_key_pem.as_bytes()).expect("RSA private key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign assertion")
}

async fn assertion_response(fake: &FakeGraph, jwt: &str) -> (StatusCode, Value) {
    let scope = format!("{}/.default", fake.base_url());
    let response = http()
        .post(token_url(fake, TENANT))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("scope", scope.as_str()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", jwt),
        ])
        .send()
        .await
        .expect("token request");
    (response.status(), response.json().await.expect("JSON"))
}

#[tokio::test]
async fn token_with_certificate_assertion() {
    let cert = TestCertificate::generate("auditlake-test");
    let other = TestCertificate::generate("someone-else");
    assert!(cert.private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(cert.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let fake = FakeGraph::start(quiet()).await;
    fake.register_app(TENANT, CLIENT, cert.credential());
    let aud = token_url(&fake, TENANT);

    let ps256 = assertion(&cert, &cert, Algorithm::PS256, Thumbprint::S256, &aud, "jti-1");
    let (status, body) = assertion_response(&fake, &ps256).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(get(&format!("{}/beta/auditLogs/signIns", fake.base_url()), token).await.status(), StatusCode::OK);

    let rs256 = assertion(&cert, &cert, Algorithm::RS256, Thumbprint::Sha1, &aud, "jti-2");
    let (status, body) = assertion_response(&fake, &rs256).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Signed by another key but naming the registered certificate.
    let forged = assertion(&other, &cert, Algorithm::PS256, Thumbprint::S256, &aud, "jti-3");
    let (status, body) = assertion_response(&fake, &forged).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");

    // Naming an unregistered certificate.
    let unknown = assertion(&other, &other, Algorithm::PS256, Thumbprint::S256, &aud, "jti-4");
    let (status, body) = assertion_response(&fake, &unknown).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");

    // Replay of a redeemed assertion.
    let (status, body) = assertion_response(&fake, &ps256).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");

    // Wrong audience (Graph instead of the token URL).
    let wrong_aud = assertion(&cert, &cert, Algorithm::PS256, Thumbprint::S256, &fake.base_url(), "jti-5");
    let (status, body) = assertion_response(&fake, &wrong_aud).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (StatusCode::UNAUTHORIZED, Some(700023)), "{body}");

    // A secret is not accepted for a certificate-only app.
    let response = secret_token_response(&fake, SECRET, &format!("{}/.default", fake.base_url())).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn paging_filters_and_event_types() {
    let (fake, token) = fake_with_token(quiet()).await;
    let interactive: Vec<_> = (0..2500u32).map(|i| signin_record(&format!("i-{i:05}"), time_of(i), "interactiveUser")).collect();
    let non_interactive: Vec<_> =
        (0..300u32).map(|i| signin_record(&format!("n-{i:05}"), time_of(i * 7), "nonInteractiveUser")).collect();
    let service: Vec<_> = (0..40u32).map(|i| signin_record(&format!("s-{i:05}"), time_of(i * 50), "servicePrincipal")).collect();
    fake.add_signins(TENANT, interactive.clone());
    fake.add_signins(TENANT, non_interactive);
    fake.add_signins(TENANT, service);
    let beta = format!("{}/beta/auditLogs/signIns", fake.base_url());

    // 2,500 interactive records in pages of 1000, 1000, 500, newest first.
    let first = format!("{beta}?$top=1000");
    let (status, page) = get_json(&first, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["@odata.context"], format!("{}/beta/$metadata#auditLogs/signIns", fake.base_url()));
    let next = page["@odata.nextLink"].as_str().expect("nextLink");
    assert!(next.starts_with(&format!("{beta}?")) && next.contains("$top=1000") && next.contains("$skiptoken="), "{next}");
    let pages = all_pages(&first, &token).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000, 1000, 500]);
    let ids: Vec<String> = pages.concat();
    let expected: Vec<String> = (0..2500u32).rev().map(|i| format!("i-{i:05}")).collect();
    assert_eq!(ids, expected, "descending by time, every id once");

    // A time window, bounds inclusive at full (7-digit) precision; `+` for spaces.
    let (lo, hi) = (time_of(1200), time_of(1299));
    let filter = format!("createdDateTime ge {} and createdDateTime le {}", graph_time(lo), graph_time(hi));
    let pages = all_pages(&with_filter(&beta, &filter, Some(40)), &token).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![40, 40, 20]);
    let window: HashSet<String> = pages.concat().into_iter().collect();
    assert_eq!(window, (1200..1300u32).map(|i| format!("i-{i:05}")).collect());
    // gt/lt exclude the bounds.
    let filter = format!("createdDateTime gt {} and createdDateTime lt {}", graph_time(lo), graph_time(hi));
    assert_eq!(all_pages(&with_filter(&beta, &filter, None), &token).await.concat().len(), 98);

    // Event type: only non-interactive, also combined with a window (quoted timestamps, other variable).
    let filter = "signInEventTypes/any(t: t eq 'nonInteractiveUser')";
    let ids: HashSet<String> = all_pages(&with_filter(&beta, filter, None), &token).await.concat().into_iter().collect();
    assert_eq!(ids, (0..300u32).map(|i| format!("n-{i:05}")).collect());
    let filter =
        format!("createdDateTime ge '{}' and signInEventTypes/any(x:x eq 'servicePrincipal')", graph_time(time_of(1000)));
    let ids = all_pages(&with_filter(&beta, &filter, None), &token).await.concat();
    assert_eq!(ids.len(), 20, "service principals 20..40 are at or after record 1000's time");

    // v1.0 returns interactive sign-ins only.
    let v1 = format!("{}/v1.0/auditLogs/signIns?$top=1000", fake.base_url());
    let (_, page) = get_json(&v1, &token).await;
    assert!(page["value"].as_array().expect("value").iter().all(|r| r["isInteractive"] == true));
    assert_eq!(all_pages(&v1, &token).await.concat().len(), 2500);

    // $orderby asc reverses the order.
    let asc = format!("{beta}?$orderby=createdDateTime%20asc&$top=1000");
    let ids = all_pages(&asc, &token).await.concat();
    assert_eq!(ids.first().map(String::as_str), Some("i-00000"));

    let stats = fake.stats();
    assert_eq!(stats.rows_served, 2500 + 1000 + 100 + 98 + 300 + 20 + 1000 + 2500 + 2500);
    assert_eq!(stats.throttled + stats.faults_served + stats.unauthorized, 0);
}

#[tokio::test]
async fn late_records_stay_out_of_a_running_sequence() {
    let (fake, token) = fake_with_token(quiet()).await;
    fake.add_audits(TENANT, (0..30u32).map(|i| audit_record(&audit_id(u64::from(i)), time_of(i * 10))).collect());
    let url = format!("{}/v1.0/auditLogs/directoryAudits?$top=10", fake.base_url());

    let (_, first) = get_json(&url, &token).await;
    assert_eq!(first["@odata.context"], format!("{}/v1.0/$metadata#auditLogs/directoryAudits", fake.base_url()));
    let mut seen: Vec<String> =
        first["value"].as_array().expect("value").iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect();
    // Late records: one in the middle of the remaining pages, one newer than everything.
    fake.add_audits(TENANT, vec![audit_record("late-middle", time_of(55)), audit_record("late-newest", time_of(1000))]);
    let rest = all_pages(first["@odata.nextLink"].as_str().expect("nextLink"), &token).await;
    seen.extend(rest.concat());
    assert_eq!(seen.len(), 30);
    assert!(!seen.iter().any(|id| id.starts_with("late-")));

    let again = all_pages(&url, &token).await.concat();
    assert_eq!(again.len(), 32);
    assert_eq!(again.first().map(String::as_str), Some("late-newest"));
    assert!(again.iter().any(|id| id == "late-middle"));
}

#[tokio::test]
async fn rate_limit_per_tenant() {
    let config = FakeGraphConfig { rate_limit: Some((5, Duration::from_millis(500))), ..FakeGraphConfig::default() };
    let (fake, token) = fake_with_token(config).await;
    let _second_token = fresh_token(&fake).await; // the token endpoint does not count
    let url = format!("{}/beta/auditLogs/signIns", fake.base_url());
    for _ in 0..5 {
        assert_eq!(get(&url, &token).await.status(), StatusCode::OK);
    }
    let response = get(&url, &token).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert_eq!(response.json::<Value>().await.expect("JSON")["error"]["code"], "TooManyRequests");
    assert_eq!(fake.stats().throttled, 1);

    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(get(&url, &token).await.status(), StatusCode::OK);

    let config =
        FakeGraphConfig { rate_limit: Some((5, Duration::from_millis(500))), retry_after: None, ..FakeGraphConfig::default() };
    let (fake, token) = fake_with_token(config).await;
    let url = format!("{}/beta/auditLogs/signIns", fake.base_url());
    for _ in 0..5 {
        assert_eq!(get(&url, &token).await.status(), StatusCode::OK);
    }
    let response = get(&url, &token).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(fake.stats().throttled, 1);
}

#[tokio::test]
async fn faults_are_served_once_each() {
    let (fake, token) = fake_with_token(quiet()).await;
    fake.add_signins(TENANT, (0..20u32).map(|i| signin_record(&format!("r{i}"), time_of(i), "interactiveUser")).collect());
    let url = format!("{}/beta/auditLogs/signIns?$top=5", fake.base_url());

    fake.inject(
        TENANT,
        Fault::Status {
            status: 503,
            code: "serviceNotAvailable".into(),
            message: "Service unavailable".into(),
            retry_after: Some(7),
        },
    );
    let response = get(&url, &token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "serviceNotAvailable");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(get(&url, &token).await.status(), StatusCode::OK);

    fake.inject(TENANT, Fault::ResetMidBody);
    let response = get(&url, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.is_err(), "the body read must fail");
    assert_eq!(get(&url, &token).await.status(), StatusCode::OK);

    fake.inject(TENANT, Fault::TruncatedBody);
    let response = get(&url, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("complete HTTP body");
    assert!(!bytes.is_empty() && serde_json::from_slice::<Value>(&bytes).is_err());
    let (status, page) = get_json(&url, &token).await;
    assert_eq!((status, page["value"].as_array().map(Vec::len)), (StatusCode::OK, Some(5)));

    // A nextLink answered "Invalid Skip Token" once works when retried verbatim.
    let next = page["@odata.nextLink"].as_str().expect("nextLink").to_owned();
    fake.inject(TENANT, Fault::InvalidSkipToken);
    let (status, body) = get_json(&next, &token).await;
    assert_eq!((status, body["error"]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("Invalid Skip Token")));
    let (status, body) = get_json(&next, &token).await;
    assert_eq!((status, body["value"].as_array().map(Vec::len)), (StatusCode::OK, Some(5)));

    // Faults belong to a tenant: another tenant's queue does not touch this one.
    fake.inject("other-tenant", Fault::TruncatedBody);
    assert_eq!(get(&url, &token).await.status(), StatusCode::OK);

    let stats = fake.stats();
    assert_eq!(stats.faults_served, 4);
    assert_eq!(stats.pages_served, 5);
}

#[tokio::test]
async fn auth_licence_and_query_errors() {
    let (fake, token) = fake_with_token(quiet()).await;
    let base = fake.base_url();
    let signins = format!("{base}/beta/auditLogs/signIns");
    let audits = format!("{base}/v1.0/auditLogs/directoryAudits");

    let response = http().get(&signins).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    fake.expire_tokens();
    let (status, body) = get_json(&signins, &token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("InvalidAuthenticationToken")));
    assert_eq!(fake.stats().unauthorized, 2);
    let token = fresh_token(&fake).await;
    assert_eq!(get(&signins, &token).await.status(), StatusCode::OK);

    // A token is valid for its own tenant only.
    fake.register_app("22222222-0000-0000-0000-000000000000", CLIENT, AppCredential::Secret(SECRET.into()));
    fake.inject("22222222-0000-0000-0000-000000000000", Fault::TruncatedBody);
    assert_eq!(get(&signins, &token).await.status(), StatusCode::OK, "the other tenant's fault is not ours");

    fake.set_premium(TENANT, false);
    let (status, body) = get_json(&signins, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
    assert_eq!(get(&audits, &token).await.status(), StatusCode::OK, "audits need no premium licence");
    fake.set_premium(TENANT, true);

    let (status, body) = get_json(&format!("{signins}?$skiptoken=bogus"), &token).await;
    assert_eq!((status, body["error"]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("Invalid Skip Token")));
    let (status, body) = get_json(&format!("{signins}?$skip=10"), &token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")));
    assert_eq!(get(&format!("{signins}?$top=1001"), &token).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(get(&format!("{signins}?$top=abc"), &token).await.status(), StatusCode::BAD_REQUEST);
    for filter in [
        "createdDateTime ge",
        "createdDateTime ge yesterday",
        "userId eq 'x'",
        "createdDateTime ge 2026-11-28T00:00:00Z or createdDateTime le 2026-11-29T00:00:00Z",
        "signInEventTypes/any(t: t eq 'nonInteractiveUser'",
    ] {
        let (status, body) = get_json(&with_filter(&signins, filter, None), &token).await;
        assert_eq!(
            (status, body["error"]["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Invalid filter clause")),
            "{filter}"
        );
    }
    // v1.0 has no signInEventTypes; audits filter on activityDateTime.
    let v1 = format!("{base}/v1.0/auditLogs/signIns");
    assert_eq!(
        get(&with_filter(&v1, "signInEventTypes/any(t: t eq 'interactiveUser')", None), &token).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&with_filter(&audits, "createdDateTime ge 2026-11-28T00:00:00Z", None), &token).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&with_filter(&audits, "activityDateTime ge 2026-11-28T00:00:00.1234567Z", None), &token).await.status(),
        StatusCode::OK
    );

    let response = get(&format!("{base}/v1.0/users"), &token).await;
    assert!(response.status().is_client_error());
    assert!(response.json::<Value>().await.expect("JSON")["error"]["code"].is_string());
}

#[tokio::test]
async fn empty_pages_mid_result() {
    let config = FakeGraphConfig { empty_page_every: Some(2), ..quiet() };
    let (fake, token) = fake_with_token(config).await;
    fake.add_signins(TENANT, (0..25u32).map(|i| signin_record(&format!("e{i:02}"), time_of(i), "interactiveUser")).collect());
    let pages = all_pages(&format!("{}/beta/auditLogs/signIns?$top=5", fake.base_url()), &token).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 5, 0, 5, 5, 0, 5]);
    let ids: HashSet<String> = pages.concat().into_iter().collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(fake.stats().pages_served, 7);
}

#[tokio::test]
async fn latency_is_applied() {
    let latency = (Duration::from_millis(100), Duration::from_millis(150));
    let (fake, token) = fake_with_token(FakeGraphConfig { latency, ..quiet() }).await;
    let started = std::time::Instant::now();
    assert_eq!(get(&format!("{}/beta/auditLogs/signIns", fake.base_url()), &token).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn records_look_real() {
    let created =
        Utc.with_ymd_and_hms(2026, 11, 28, 10, 20, 30).single().expect("time") + chrono::Duration::nanoseconds(123_456_700);
    let record = signin_record("66ea54eb-6301-4ee5-be62-ff5a759b0100", created, "interactiveUser");
    assert_eq!(record["createdDateTime"], "2026-11-28T10:20:30.1234567Z");
    assert_eq!(record["isInteractive"], true);
    assert_eq!(record["signInEventTypes"], json!(["interactiveUser"]));
    for key in [
        "status",
        "location",
        "deviceDetail",
        "appliedConditionalAccessPolicies",
        "authenticationDetails",
        "riskEventTypes_v2",
        "tokenIssuerType",
        "crossTenantAccessType",
        "userType",
    ] {
        assert!(record.get(key).is_some(), "missing {key}");
    }
    assert!(record["location"]["geoCoordinates"]["latitude"].is_f64());
    let round = signin_record("x", Utc.with_ymd_and_hms(2026, 11, 28, 10, 20, 30).single().expect("time"), "nonInteractiveUser");
    assert_eq!(round["createdDateTime"], "2026-11-28T10:20:30Z");
    assert_eq!(round["isInteractive"], false);

    // Real sign-ins are a few KB of JSON; so are these, whatever the event type.
    for event_type in ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"] {
        let sizes: Vec<usize> =
            (0..50).map(|i| signin_record(&format!("id-{i}"), created, event_type).to_string().len()).collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((1500..=2500).contains(&mean) && sizes.iter().all(|&n| (1300..=2700).contains(&n)), "{event_type}: {sizes:?}");
    }
    let users: HashSet<String> =
        (0..50).map(|i| signin_record(&format!("id-{i}"), created, "interactiveUser")["userId"].to_string()).collect();
    assert!(users.len() > 3, "values vary with the id");
    assert_eq!(signin_record("same", created, "servicePrincipal"), signin_record("same", created, "servicePrincipal"));

    let id = audit_id(27_777_783);
    assert!(id.starts_with("Directory_") && id.ends_with("_27777783") && id.split('_').count() == 4, "{id}");
    for i in 0..20 {
        let audit = audit_record(&audit_id(i), created);
        assert_eq!(audit["activityDateTime"], "2026-11-28T10:20:30.1234567Z");
        for target in audit["targetResources"].as_array().expect("targets") {
            for property in target["modifiedProperties"].as_array().expect("modifiedProperties") {
                for side in ["oldValue", "newValue"] {
                    let value = &property[side];
                    assert!(
                        value.is_null() || value.as_str().is_some_and(|s| serde_json::from_str::<Value>(s).is_ok()),
                        "{value}"
                    );
                }
            }
        }
    }
}
