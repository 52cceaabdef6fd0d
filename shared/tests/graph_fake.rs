//! The Graph collectors against testkit's fake Graph (token endpoint, `$filter` windows,
//! nextLink paging, throttling, injected faults). Every fault case ends with the lake equal to
//! the source: the same ids, each exactly once.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use auditlake_core::ErrorClass;
use auditlake_core::config::{ALL_SIGNIN_EVENT_TYPES, AssertionAlg, WindowSettings};
use auditlake_core::graph::{
    AppCredential, CertificateCredential, GraphClient, GraphKind, GraphSource, RetryPolicy, TokenProvider,
};
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::pipeline::{self, RunRequest, RunSummary, Source};
use auditlake_testkit::graph::{self as fake, FakeGraph, FakeGraphConfig, Fault, TestCertificate};
use auditlake_testkit::{logs, parquet_rows};
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use secrecy::SecretString;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        skip_token_retries: 3,
        request_timeout: Duration::from_secs(10),
    }
}

fn settings() -> WindowSettings {
    WindowSettings {
        overlap: Duration::from_secs(3600),
        lag: Duration::from_secs(120),
        initial_lookback: Duration::from_secs(86400),
        retention: Duration::from_secs(30 * 86400),
        time_budget: Duration::from_secs(600),
    }
}

struct Harness {
    fake: FakeGraph,
    client: Arc<GraphClient>,
    lake: Lake,
    _dir: tempfile::TempDir,
}

fn client_for(fake: &FakeGraph, credential: AppCredential) -> GraphClient {
    let http = GraphClient::http_client();
    let tokens = TokenProvider::new(http.clone(), &fake.base_url(), &fake.base_url(), CLIENT_ID.into(), credential);
    GraphClient::new(http, tokens, &fake.base_url(), 1000, quick_retries())
}

async fn harness(config: FakeGraphConfig, secret: &str) -> Harness {
    let fake = FakeGraph::start(config).await;
    fake.register_app(TENANT, CLIENT_ID, fake::AppCredential::Secret(secret.into()));
    let client = Arc::new(client_for(&fake, AppCredential::Secret(SecretString::from(secret.to_string()))));
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await.unwrap();
    Harness { fake, client, lake, _dir: dir }
}

fn no_limits() -> FakeGraphConfig {
    FakeGraphConfig { rate_limit: None, ..FakeGraphConfig::default() }
}

impl Harness {
    fn signins(&self, settings: WindowSettings) -> GraphSource {
        let kind = GraphKind::SignIns;
        GraphSource::new(self.client.clone(), kind, vec![TENANT.into()], settings)
    }

    fn audits(&self, settings: WindowSettings) -> GraphSource {
        GraphSource::new(self.client.clone(), GraphKind::DirectoryAudits, vec![TENANT.into()], settings)
    }

    /// `n` sign-ins spread evenly over `[from, to)`, all four event types; returns their ids.
    fn add_signins(&self, prefix: &str, n: usize, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let step = (to - from) / n as i32;
        let records: Vec<(String, DateTime<Utc>)> =
            (0..n).map(|i| (format!("{prefix}-{i:06}"), from + step * i as i32)).collect();
        let values =
            records.iter().enumerate().map(|(i, (id, t))| fake::signin_record(id, *t, ALL_SIGNIN_EVENT_TYPES[i % 4])).collect();
        self.fake.add_signins(TENANT, values);
        records
    }

    /// Every id in the table, with how often it occurs.
    async fn lake_ids(&self, table: &str) -> BTreeMap<String, usize> {
        let metas: Vec<_> = self.lake.store().list(Some(&table.into())).try_collect().await.unwrap();
        let mut ids = BTreeMap::new();
        for meta in metas {
            let bytes = self.lake.store().get(&meta.location).await.unwrap().bytes().await.unwrap();
            for row in parquet_rows(bytes).unwrap().1 {
                *ids.entry(row["id"].as_str().unwrap().to_string()).or_insert(0) += 1;
            }
        }
        ids
    }

    /// The lake holds exactly `expected`, each once.
    async fn assert_lake_equals(&self, table: &str, expected: &[(String, DateTime<Utc>)]) {
        let ids = self.lake_ids(table).await;
        let dups: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dups.is_empty(), "duplicates in the lake: {dups:?}");
        let want: std::collections::BTreeSet<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
        let have: std::collections::BTreeSet<&str> = ids.keys().map(String::as_str).collect();
        let missing: Vec<_> = want.difference(&have).take(5).collect();
        let extra: Vec<_> = have.difference(&want).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "lake ≠ source: missing {missing:?}, unexpected {extra:?} ({} vs {})",
            have.len(),
            want.len()
        );
    }
}

async fn run(source: &GraphSource, lake: &Lake, at: DateTime<Utc>, run_id: &str) -> RunSummary {
    let summary = pipeline::run(source, lake, &RunRequest::new(Some(at), run_id)).await.unwrap();
    assert_eq!(summary.units_failed, 0, "{}", summary.failure_message());
    summary
}

/// A fixed "now" on a whole minute, so windows are easy to reason about.
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Span::minutes(1)).unwrap()
}

#[tokio::test]
async fn pages_of_all_four_event_types_land_once_with_empty_pages_in_between() {
    // Pages of 100: several per query, with an empty page after each.
    let h = harness(FakeGraphConfig { empty_page_every: Some(1), served_page_size: Some(100), ..no_limits() }, "s3cret-1").await;
    let t = now();
    let records = h.add_signins("p", 2500, t - Span::hours(20), t - Span::minutes(5));
    let summary = run(&h.signins(settings()), &h.lake, t, "r1").await;
    assert_eq!(summary.rows, 2500);
    h.assert_lake_equals("entra_signins", &records).await;
    assert!(h.fake.stats().pages_served > 24, "several pages per query, empty ones included");
}

#[tokio::test]
async fn throttling_storms_with_and_without_retry_after() {
    for retry_after in [Some(1), None] {
        let h = harness(no_limits(), "s3cret-2").await;
        let t = now();
        let records = h.add_signins("t", 300, t - Span::hours(3), t - Span::minutes(10));
        for _ in 0..6 {
            h.fake.inject(
                TENANT,
                Fault::Status { status: 429, code: "TooManyRequests".into(), message: "Too many requests".into(), retry_after },
            );
        }
        run(&h.signins(settings()), &h.lake, t, "r").await;
        h.assert_lake_equals("entra_signins", &records).await;
        assert_eq!(h.fake.stats().faults_served, 6);
        assert!(h.client.stats().throttled >= 6);
    }
}

#[tokio::test]
async fn server_errors_resets_and_truncated_bodies_are_retried() {
    let h = harness(no_limits(), "s3cret-3").await;
    let t = now();
    let records = h.add_signins("e", 1200, t - Span::hours(5), t - Span::minutes(10));
    for status in [500, 503, 504, 502, 503] {
        h.fake.inject(
            TENANT,
            Fault::Status { status, code: "UnknownError".into(), message: "transient".into(), retry_after: None },
        );
    }
    h.fake.inject(TENANT, Fault::ResetMidBody);
    h.fake.inject(TENANT, Fault::TruncatedBody);
    h.fake.inject(TENANT, Fault::ResetMidBody);
    run(&h.signins(settings()), &h.lake, t, "r").await;
    h.assert_lake_equals("entra_signins", &records).await;
    assert_eq!(h.fake.stats().faults_served, 8);
}

#[tokio::test]
async fn invalid_skip_tokens_are_retried_then_the_query_restarts() {
    // Pages of 100: every query of the hour has several nextLinks.
    let h = harness(FakeGraphConfig { served_page_size: Some(100), ..no_limits() }, "s3cret-4").await;
    let t = now();
    let records = h.add_signins("k", 900, t - Span::minutes(50), t - Span::minutes(5));
    // One nextLink fails its first try and its three retries: the query restarts from its first
    // page. The fifth failure hits a nextLink after the restart and is retried.
    for _ in 0..5 {
        h.fake.inject(TENANT, Fault::InvalidSkipToken);
    }
    let source = h.signins(settings()).with_signin_event_types(vec!["interactiveUser".into()]);
    let records: Vec<_> = records.into_iter().enumerate().filter(|(i, _)| i % 4 == 0).map(|(_, r)| r).collect();
    let summary = run(&source, &h.lake, t, "r").await;
    h.assert_lake_equals("entra_signins", &records).await;
    assert_eq!(h.fake.stats().faults_served, 5);
    let detail = summary.units[0].detail.as_ref().unwrap();
    assert_eq!(detail["query_restarts"], 1, "{detail}");
    assert!(detail["skipped_duplicates"].as_u64().unwrap() > 0, "the restart re-read pages already written: {detail}");
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    let h = harness(no_limits(), "s3cret-5").await;
    let t = now();
    let first = h.add_signins("a", 100, t - Span::hours(2), t - Span::minutes(10));
    let source = h.signins(settings());
    run(&source, &h.lake, t, "r1").await;
    let tokens_before = h.fake.stats().token_requests;
    // The cached token dies between two warm invocations.
    h.fake.expire_tokens();
    let second = h.add_signins("b", 100, t, t + Span::minutes(10));
    run(&source, &h.lake, t + Span::minutes(15), "r2").await;
    assert_eq!(h.fake.stats().token_requests, tokens_before + 1, "one renewal");
    assert!(h.fake.stats().unauthorized >= 1);
    h.assert_lake_equals("entra_signins", &[first, second].concat()).await;
}

#[tokio::test]
async fn killed_after_writing_before_the_checkpoint_then_rerun() {
    let h = harness(no_limits(), "s3cret-6").await;
    let t = now();
    let records = h.add_signins("x", 400, t - Span::hours(6), t - Span::minutes(10));
    let source = h.signins(settings());
    // The collection runs and its files are finished, then the process dies before the
    // checkpoint is saved: exactly the first half of pipeline::run.
    let request = RunRequest::new(Some(t), "killed");
    let plan = source.plan(TENANT, None, &request);
    let mut writer = h.lake.table_writer(source.table(), plan.stem.clone());
    source.pull(TENANT, &plan, None, &request, &mut writer).await.unwrap();
    writer.finish().await.unwrap();
    assert_eq!(h.lake_ids("entra_signins").await.len(), 400, "the data reached the lake");

    // The next scheduled run (a later event) starts from the same checkpoint.
    let more = h.add_signins("y", 50, t, t + Span::minutes(5));
    run(&source, &h.lake, t + Span::minutes(10), "next").await;
    h.assert_lake_equals("entra_signins", &[records, more].concat()).await;
}

#[tokio::test]
async fn late_records_inside_the_overlap_are_picked_up_once() {
    let h = harness(no_limits(), "s3cret-7").await;
    let t = now();
    let on_time = h.add_signins("o", 200, t - Span::hours(3), t - Span::minutes(5));
    let source = h.signins(settings());
    run(&source, &h.lake, t, "r1").await;
    // Records dated 30 min before the last run arrive after it.
    let late = h.add_signins("late", 40, t - Span::minutes(35), t - Span::minutes(30));
    run(&source, &h.lake, t + Span::minutes(15), "r2").await;
    run(&source, &h.lake, t + Span::minutes(30), "r3").await;
    h.assert_lake_equals("entra_signins", &[on_time, late].concat()).await;
}

#[tokio::test]
async fn a_three_day_outage_is_caught_up_over_several_budgeted_runs() {
    // Pages of 50 and 40–50 ms each: the catch-up needs more requests than one 250 ms run.
    let config = FakeGraphConfig {
        latency: (Duration::from_millis(40), Duration::from_millis(50)),
        served_page_size: Some(50),
        ..no_limits()
    };
    let h = harness(config, "s3cret-8").await;
    let t = now();
    let before = h.add_signins("b", 50, t - Span::days(3) - Span::hours(2), t - Span::days(3) - Span::minutes(10));
    run(&h.signins(settings()), &h.lake, t - Span::days(3), "before-outage").await;

    let during = h.add_signins("d", 6000, t - Span::days(3) - Span::minutes(5), t - Span::minutes(5));
    let budgeted = h.signins(WindowSettings { time_budget: Duration::from_millis(250), ..settings() });
    let (mut runs, mut resumed) = (0, 0);
    loop {
        runs += 1;
        let summary = run(&budgeted, &h.lake, t + Span::minutes(runs), &format!("catch-up-{runs}")).await;
        resumed += summary.units[0].detail.as_ref().unwrap()["resumed"].as_u64().unwrap();
        if !summary.more_to_do {
            break;
        }
        assert!(runs < 60, "catch-up does not finish");
    }
    assert!(runs > 2, "the budget split the catch-up ({runs} runs)");
    assert!(resumed > 0, "a run went on with a query the one before had to leave");
    h.assert_lake_equals("entra_signins", &[before, during].concat()).await;
}

#[tokio::test]
async fn directory_audits_are_collected_too() {
    let h = harness(no_limits(), "s3cret-9").await;
    let t = now();
    let records: Vec<(String, DateTime<Utc>)> =
        (0..1500).map(|i| (fake::audit_id(i), t - Span::hours(10) + Span::seconds(20 * i as i64))).collect();
    h.fake.add_audits(TENANT, records.iter().map(|(id, at)| fake::audit_record(id, *at)).collect());
    h.fake.inject(
        TENANT,
        Fault::Status { status: 503, code: "ServiceUnavailable".into(), message: "busy".into(), retry_after: Some(1) },
    );
    let summary = run(&h.audits(settings()), &h.lake, t, "r").await;
    assert_eq!(summary.rows, 1500);
    h.assert_lake_equals("entra_directory_audits", &records).await;
}

#[tokio::test]
async fn pacing_causes_no_429_of_its_own() {
    // The fake enforces 3 requests per second; the client paces itself to the same budget.
    let config = FakeGraphConfig {
        rate_limit: Some((3, Duration::from_secs(1))),
        empty_page_every: Some(1),
        ..FakeGraphConfig::default()
    };
    let h = harness(config, "s3cret-10").await;
    let paced = Arc::new(
        client_for(&h.fake, AppCredential::Secret(SecretString::from("s3cret-10".to_string())))
            .with_pacing(3, Duration::from_secs(1)),
    );
    let t = now();
    let records = h.add_signins("r", 6000, t - Span::minutes(55), t - Span::minutes(5));
    let kind = GraphKind::SignIns;
    let source = GraphSource::new(paced.clone(), kind, vec![TENANT.into()], settings());
    run(&source, &h.lake, t, "r").await;
    h.assert_lake_equals("entra_signins", &records).await;
    assert!(h.fake.stats().graph_requests >= 12, "enough requests to meet the limit: {:?}", h.fake.stats());
    assert_eq!(h.fake.stats().throttled, 0, "self-caused 429s");
    assert_eq!(paced.stats().throttled, 0);
}

#[tokio::test]
async fn licence_and_credential_errors_fail_fast_without_the_secret() {
    let log = logs::capture();
    let canary = format!("canary-secret-{}", uuid::Uuid::new_v4());
    let h = harness(no_limits(), &canary).await;
    h.fake.set_premium(TENANT, false);
    let t = now();
    let summary = pipeline::run(&h.signins(settings()), &h.lake, &RunRequest::new(Some(t), "r")).await.unwrap();
    let unit = &summary.units[0];
    assert!(!unit.ok);
    assert_eq!(unit.error_class, Some(ErrorClass::NonRetryable));
    assert!(unit.error.as_deref().unwrap().contains("P1 or P2"), "{:?}", unit.error);
    // Directory audits need no premium licence.
    run(&h.audits(settings()), &h.lake, t, "r2").await;

    // A wrong secret: NonRetryable, and neither secret is echoed anywhere.
    let wrong = format!("wrong-{canary}");
    let bad = Arc::new(client_for(&h.fake, AppCredential::Secret(SecretString::from(wrong.clone()))));
    let source = GraphSource::new(bad, GraphKind::DirectoryAudits, vec![TENANT.into()], settings());
    let summary = pipeline::run(&source, &h.lake, &RunRequest::new(Some(t), "r3")).await.unwrap();
    let error = summary.units[0].error.clone().unwrap();
    assert_eq!(summary.failure_class(), Some(ErrorClass::NonRetryable));
    assert!(error.contains("invalid_client"), "{error}");
    let logged = log.contents();
    // Capture was live: the failure this test caused was logged, token request and all.
    assert!(logged.contains("unit failed; other units go on") && logged.contains("invalid_client"), "log capture works");
    let lake_files: Vec<_> = h.lake.store().list(None).try_collect().await.unwrap();
    for secret in [&canary, &wrong] {
        assert!(!error.contains(secret.as_str()));
        assert!(!logged.contains(secret.as_str()), "a client secret reached the logs");
        for meta in &lake_files {
            let bytes = h.lake.store().get(&meta.location).await.unwrap().bytes().await.unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(secret.as_str()));
        }
    }
    assert!(!format!("{:?}", h.client).contains(&canary));
}

#[tokio::test]
async fn certificate_assertions_ps256_and_rs256() {
    let cert = TestCertificate::generate("auditlake-test");
    for alg in [AssertionAlg::Ps256, AssertionAlg::Rs256] {
        let fake = FakeGraph::start(no_limits()).await;
        fake.register_app(
            TENANT,
            CLIENT_ID,
            fake::AppCredential::Certificate { cert_der: cert.cert_der.clone(), public_key_pem: cert.public_key_pem.clone() },
        );
        let t = now();
        fake.add_audits(TENANT, vec![fake::audit_record(&fake::audit_id(1), t - Span::minutes(30))]);
        let pem = format!("{}\n{}", cert.private_key_pem, cert.cert_pem);
        let credential = AppCredential::Certificate(CertificateCredential::from_pem(&pem, alg).unwrap());
        let client = Arc::new(client_for(&fake, credential));
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await.unwrap();
        let source = GraphSource::new(client, GraphKind::DirectoryAudits, vec![TENANT.into()], settings());
        let summary = run(&source, &lake, t, "cert").await;
        assert_eq!(summary.rows, 1, "{alg:?}");
    }
    let err = CertificateCredential::from_pem("not a pem", AssertionAlg::Ps256).unwrap_err();
    assert!(err.contains("CERTIFICATE") || err.contains("PEM"), "{err}");
}

#[tokio::test]
async fn tenants_are_pulled_side_by_side_up_to_the_concurrency_setting() {
    let tenants =
        ["aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002", "aaaaaaaa-0000-0000-0000-000000000003"];
    for concurrency in [1, 3] {
        let config = FakeGraphConfig { latency: (Duration::from_millis(40), Duration::from_millis(60)), ..no_limits() };
        let h = harness(config, "s3cret-t").await;
        let t = now();
        let mut expected = Vec::new();
        for (n, tenant) in tenants.iter().enumerate() {
            h.fake.register_app(tenant, CLIENT_ID, fake::AppCredential::Secret("s3cret-t".into()));
            let records: Vec<(String, DateTime<Utc>)> = (0..300u64)
                .map(|i| (fake::audit_id(n as u64 * 1000 + i), t - Span::hours(3) + Span::seconds(30 * i as i64)))
                .collect();
            h.fake.add_audits(tenant, records.iter().map(|(id, at)| fake::audit_record(id, *at)).collect());
            expected.extend(records);
        }
        let source = GraphSource::new(
            h.client.clone(),
            GraphKind::DirectoryAudits,
            tenants.iter().map(|t| t.to_string()).collect(),
            settings(),
        )
        .with_tenant_concurrency(concurrency);
        let summary = run(&source, &h.lake, t, "r").await;
        assert_eq!(summary.rows, 900);
        let order: Vec<&str> = summary.units.iter().map(|u| u.unit.as_str()).collect();
        assert_eq!(order, tenants, "summaries keep the order of the tenants");
        h.assert_lake_equals("entra_directory_audits", &expected).await;
        let in_flight = h.fake.stats().max_tenants_in_flight;
        if concurrency == 1 {
            assert_eq!(in_flight, 1, "one tenant at a time");
        } else {
            assert!(in_flight >= 2, "tenants were pulled one after another (max in flight {in_flight})");
        }
    }
}

#[tokio::test]
async fn a_record_graph_returns_twice_lands_once() {
    let h = harness(no_limits(), "s3cret-d").await;
    let t = now();
    let records = h.add_signins("d", 40, t - Span::hours(2), t - Span::hours(1));
    // The same records again: within one page, and again in the next query's pages.
    let again = records.iter().map(|(id, at)| fake::signin_record(id, *at, ALL_SIGNIN_EVENT_TYPES[0])).collect();
    h.fake.add_signins(TENANT, again);
    let summary = run(&h.signins(settings()), &h.lake, t, "r").await;
    assert_eq!(summary.rows, 40);
    h.assert_lake_equals("entra_signins", &records).await;
    assert!(h.fake.stats().rows_served > 40, "the fake served the duplicates");
}

#[tokio::test]
async fn faults_while_several_slices_of_one_lane_are_in_flight_lose_nothing() {
    // One event type and a day of window: the lane's window is cut into parts that run side by
    // side; faults of every kind land among them.
    let config = FakeGraphConfig {
        latency: (Duration::from_millis(20), Duration::from_millis(40)),
        served_page_size: Some(200),
        ..no_limits()
    };
    let h = harness(config, "s3cret-13").await;
    let t = now();
    let step = (Span::hours(20) - Span::minutes(10)) / 3000;
    let records: Vec<(String, DateTime<Utc>)> =
        (0..3000).map(|i| (format!("p-{i:05}"), t - Span::hours(20) + step * i)).collect();
    h.fake.add_signins(TENANT, records.iter().map(|(id, at)| fake::signin_record(id, *at, "interactiveUser")).collect());
    inject_one_fault_of_each_kind(&h);
    let source = h.signins(settings()).with_signin_event_types(vec!["interactiveUser".into()]);
    let summary = run(&source, &h.lake, t, "r").await;
    h.assert_lake_equals("entra_signins", &records).await;
    let stats = h.fake.stats();
    assert_eq!(stats.faults_served, 5, "{stats:?}");
    assert!(stats.max_requests_in_flight >= 2, "slices ran side by side: {stats:?}");
    let detail = summary.units[0].detail.as_ref().unwrap();
    assert!(detail["queries"].as_u64().unwrap() >= 2, "{detail}");

    // The next run finds nothing new and writes nothing twice.
    let again = run(&source, &h.lake, t + Span::minutes(15), "r2").await;
    assert_eq!(again.rows, 0);
    h.assert_lake_equals("entra_signins", &records).await;
}

#[tokio::test]
async fn a_routine_run_of_a_quiet_tenant_costs_one_request_per_event_type() {
    let h = harness(no_limits(), "s3cret-14").await;
    let t = now();
    // About 100 sign-ins an hour over the four event types.
    let first = h.add_signins("q", 300, t - Span::hours(3), t - Span::minutes(5));
    let source = h.signins(settings());
    let summary = run(&source, &h.lake, t, "first").await;
    assert_eq!(summary.units[0].detail.as_ref().unwrap()["requests"], 4, "one query per event type for the first day too");

    let more = h.add_signins("r", 25, t - Span::minutes(4), t + Span::minutes(10));
    let summary = run(&source, &h.lake, t + Span::minutes(15), "routine").await;
    let detail = summary.units[0].detail.as_ref().unwrap();
    assert_eq!(detail["requests"], 4, "{detail}");
    assert_eq!(detail["queries"], 4, "{detail}");
    h.assert_lake_equals("entra_signins", &[first, more].concat()).await;
}

/// Queues a 503, a reset mid-body, a 429 with Retry-After, a truncated body and an invalid skip
/// token for the next requests of the tenant (five faults).
fn inject_one_fault_of_each_kind(h: &Harness) {
    let busy = |status: u16, retry_after: Option<u64>| Fault::Status {
        status,
        code: "ServiceUnavailable".into(),
        message: "busy".into(),
        retry_after,
    };
    for fault in [busy(503, None), Fault::ResetMidBody, busy(429, Some(1)), Fault::TruncatedBody, Fault::InvalidSkipToken] {
        h.fake.inject(TENANT, fault);
    }
}

/// 3,000 interactive sign-ins in the last 11 hours before `t` (ten minutes short of it, inside
/// the lag): a first run's day-long window cut into two blind halves finds the older one empty
/// and the newer one holding every page.
fn late_heavy_day(h: &Harness, t: DateTime<Utc>, prefix: &str) -> Vec<(String, DateTime<Utc>)> {
    let step = (Span::hours(11) - Span::minutes(10)) / 3000;
    let records: Vec<(String, DateTime<Utc>)> =
        (0..3000).map(|i| (format!("{prefix}-{i:05}"), t - Span::hours(11) + step * i)).collect();
    h.fake.add_signins(TENANT, records.iter().map(|(id, at)| fake::signin_record(id, *at, "interactiveUser")).collect());
    records
}

#[tokio::test]
async fn a_lone_query_split_while_it_runs_loses_nothing_under_faults() {
    let config = FakeGraphConfig {
        latency: (Duration::from_millis(20), Duration::from_millis(40)),
        served_page_size: Some(200),
        ..no_limits()
    };
    let h = harness(config, "s3cret-15").await;
    let t = now();
    let records = late_heavy_day(&h, t, "s");
    inject_one_fault_of_each_kind(&h);
    let source = h.signins(settings()).with_signin_event_types(vec!["interactiveUser".into()]);
    let summary = run(&source, &h.lake, t, "r").await;
    h.assert_lake_equals("entra_signins", &records).await;
    let detail = summary.units[0].detail.as_ref().unwrap();
    assert!(detail["splits"].as_u64().unwrap() >= 1, "the newer half ran alone and was split: {detail}");
    assert_eq!(h.fake.stats().faults_served, 5);
    assert!(h.fake.stats().max_requests_in_flight >= 2);

    let again = run(&source, &h.lake, t + Span::minutes(15), "r2").await;
    assert_eq!(again.rows, 0);
    h.assert_lake_equals("entra_signins", &records).await;
}

#[tokio::test]
async fn records_out_of_graphs_documented_order_stop_splitting_and_lose_nothing() {
    let config = FakeGraphConfig { served_page_size: Some(200), oldest_first: true, ..no_limits() };
    let h = harness(config, "s3cret-16").await;
    let t = now();
    let records = late_heavy_day(&h, t, "o");
    let source = h.signins(settings()).with_signin_event_types(vec!["interactiveUser".into()]);
    let summary = run(&source, &h.lake, t, "r").await;
    h.assert_lake_equals("entra_signins", &records).await;
    let detail = summary.units[0].detail.as_ref().unwrap();
    assert_eq!(detail["splits"], 0, "{detail}");
}
