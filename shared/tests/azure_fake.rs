//! The access-key report to Azure Monitor against testkit's fake Logs Ingestion API: batching
//! under 1 MB, throttling, 5xx, a connection cut after Azure took a batch, a run that stops
//! half-way and is retried, an outage that leaves the lake complete, and errors that say what
//! to fix. The client secret is a canary that must never reach a log line or an error.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use auditlake_core::azure::{AzureError, AzureSink};
use auditlake_core::config::{AzureSettings, GraphApp, GraphCredentialParam, SecretSource};
use auditlake_core::error::{Classify, ErrorClass};
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::schema::azure;
use auditlake_core::secrets::SecretStore;
use auditlake_testkit::azure::{AzureFault, FakeAzure, MONITOR_SCOPE};
use auditlake_testkit::{logs, planted};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

const TENANT: &str = "22222222-3333-4444-5555-666666666666";
const CLIENT_ID: &str = "azure-sender-app";
const SECRET: &str = "azure-canary-secret-5f2e";
const DCR: &str = "dcr-0123456789abcdef0123456789abcdef";
const STREAM: &str = "Custom-AwsIamAccessKeys_CL";

struct Setup {
    fake: FakeAzure,
    lake: Lake,
    _dir: tempfile::TempDir,
    day: chrono::NaiveDate,
    rows: usize,
}

fn settings(base: &str, dcr: &str) -> AzureSettings {
    AzureSettings {
        ingestion_url: base.to_string(),
        dcr_id: dcr.to_string(),
        stream: STREAM.to_string(),
        tenant_id: TENANT.to_string(),
        app: GraphApp {
            client_id_param: "/auditlake/azure/client-id".into(),
            credential: GraphCredentialParam::Secret("/auditlake/azure/client-secret".into()),
        },
        scope: MONITOR_SCOPE.to_string(),
        login_url: base.to_string(),
    }
}

fn secrets(secret: &str) -> SecretStore {
    let vars = BTreeMap::from([
        ("AUDITLAKE_SECRET_AUDITLAKE_AZURE_CLIENT_ID".to_string(), SecretString::from(CLIENT_ID.to_string())),
        ("AUDITLAKE_SECRET_AUDITLAKE_AZURE_CLIENT_SECRET".to_string(), SecretString::from(secret.to_string())),
    ]);
    let ssm = aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::Config::builder().behavior_version_latest().build());
    SecretStore::new(&SecretSource::Env(vars), ssm)
}

async fn sink(fake: &FakeAzure) -> AzureSink {
    AzureSink::from_settings(&settings(&fake.base_url(), DCR), &secrets(SECRET))
        .await
        .unwrap()
        .with_backoff(Duration::from_millis(10))
}

/// A credential report of `extra_users` ordinary users besides the planted ones.
fn report(generated: DateTime<Utc>, extra_users: usize) -> String {
    let mut csv = planted::credential_report(generated);
    let t = (generated - chrono::Duration::days(20)).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    for i in 0..extra_users {
        csv.push_str(&format!(
            "service-user-{i:05},arn:aws:iam::{}:user/service-user-{i:05},{t},false,N/A,N/A,N/A,false,true,{t},{t},eu-west-1,sts,true,{t},N/A,N/A,N/A,false,N/A,false,N/A\n",
            planted::REPORT_ACCOUNT
        ));
    }
    csv
}

/// A local lake holding one snapshot of the planted account, and a fake with its stream.
async fn setup(extra_users: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sdk = aws_config::SdkConfig::builder().build();
    let lake = Lake::open(&LakeUrl::parse(dir.path().to_str().unwrap()).unwrap(), &sdk).await.unwrap();
    let now = Utc::now();
    let parsed = auditlake_core::iam::report::parse(&report(now, extra_users)).unwrap();
    let snapshot = auditlake_core::iam::report_snapshot(planted::REPORT_ACCOUNT, parsed, now, "run-1");
    let rows = snapshot.rows.len();
    let mut writer = lake.table_writer(&auditlake_core::schema::iam_access_keys::TABLE, planted::REPORT_ACCOUNT);
    auditlake_core::iam::write_snapshot(planted::REPORT_ACCOUNT, now.date_naive(), snapshot, &mut writer).await.unwrap();
    writer.finish().await.unwrap();

    let fake = FakeAzure::start().await;
    fake.register_app(TENANT, CLIENT_ID, SECRET);
    let columns = azure::stream_columns().into_iter().map(|(n, t)| (n, t.to_string())).collect();
    fake.declare_stream(DCR, STREAM, columns);
    Setup { fake, lake, _dir: dir, day: now.date_naive(), rows }
}

/// How many times each row id arrived.
fn arrivals(fake: &FakeAzure) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for row in fake.rows() {
        *counts.entry(row[azure::ROW_ID].as_str().unwrap().to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_report_over_one_megabyte_arrives_once_in_batches_under_the_limit() {
    let s = setup(6000).await;
    let delivery = sink(&s.fake).await.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap();
    assert_eq!(delivery.rows, s.rows);
    assert!(delivery.batches >= 3, "{delivery:?}");
    assert_eq!(delivery.sent, delivery.batches);
    let stats = s.fake.stats();
    assert_eq!(stats.batches as usize, delivery.batches);
    assert_eq!(stats.gzip_requests, stats.requests, "every batch gzip-encoded");
    assert!(stats.largest_body <= auditlake_testkit::azure::MAX_BODY_BYTES);
    let counts = arrivals(&s.fake);
    assert_eq!(counts.len(), s.rows, "every row");
    assert!(counts.values().all(|n| *n == 1), "exactly once");
    // The rows carry the lake's columns with their types (the fake checks them) and the id.
    let row = s.fake.rows().into_iter().find(|r| r["user_name"] == "legacy-ci").unwrap();
    assert_eq!(row["age_days"], 400);
    assert_eq!(row[azure::ROW_ID], format!("{}:legacy-ci:1:{}", planted::REPORT_ACCOUNT, s.day));

    // Sending the same date again sends nothing: every batch is acknowledged.
    let again = sink(&s.fake).await.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap();
    assert_eq!((again.sent, s.fake.stats().batches as usize), (0, delivery.batches));
}

#[tokio::test]
async fn throttling_and_unavailability_are_waited_out_without_duplicates() {
    let s = setup(3000).await;
    s.fake.inject(AzureFault::Throttled { retry_after: Some(1) });
    s.fake.inject(AzureFault::Throttled { retry_after: None });
    for _ in 0..3 {
        s.fake.inject(AzureFault::Unavailable);
    }
    let started = std::time::Instant::now();
    let delivery = sink(&s.fake).await.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");
    assert_eq!(delivery.retries, 5, "{delivery:?}");
    let counts = arrivals(&s.fake);
    assert_eq!(counts.len(), s.rows);
    assert!(counts.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_cut_after_acceptance_resends_only_that_batch() {
    let s = setup(6000).await;
    let sink = sink(&s.fake).await;
    // The first batch goes through; the second is taken by Azure but its 204 is lost.
    s.fake.inject(AzureFault::Throttled { retry_after: Some(0) });
    s.fake.inject(AzureFault::CutAfterAccept);
    let delivery = sink.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap();
    let counts = arrivals(&s.fake);
    assert_eq!(counts.len(), s.rows, "every row arrived");
    let twice = counts.values().filter(|n| **n == 2).count();
    assert!(twice > 0 && twice < s.rows / 2, "only the cut batch came twice: {twice} of {}", s.rows);
    assert!(counts.values().all(|n| *n <= 2));
    assert_eq!(s.fake.stats().batches as usize, delivery.batches + 1);
}

#[tokio::test]
async fn a_delivery_that_gives_up_resumes_after_the_acknowledged_batches() {
    let s = setup(6000).await;
    let sink = sink(&s.fake).await;
    // The first batch passes; the second meets more 503s than a batch's attempts.
    s.fake.inject(AzureFault::Pass);
    for _ in 0..6 {
        s.fake.inject(AzureFault::Unavailable);
    }
    let result = sink.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await;
    let error = result.unwrap_err();
    assert!(matches!(error, AzureError::Unavailable { .. }), "{error}");
    assert_eq!(error.class(), ErrorClass::Retryable);
    let after_first = s.fake.stats().batches;
    assert_eq!(after_first, 1);

    let retry = sink.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap();
    assert_eq!(retry.sent, retry.batches - 1, "the acknowledged batch is not sent again");
    let counts = arrivals(&s.fake);
    assert_eq!(counts.len(), s.rows);
    assert!(counts.values().all(|n| *n == 1), "exactly once across the two runs");
}

#[tokio::test]
async fn refusals_say_what_to_fix_and_never_show_the_secret() {
    let buffer = logs::capture();
    let s = setup(0).await;
    s.fake.inject(AzureFault::Forbidden);
    let e = sink(&s.fake).await.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap_err();
    assert!(e.to_string().contains("Monitoring Metrics Publisher"), "{e}");
    assert_eq!(e.class(), ErrorClass::Retryable, "a new role assignment takes time to apply");

    let wrong_rule =
        AzureSink::from_settings(&settings(&s.fake.base_url(), "dcr-ffffffffffffffffffffffffffffffff"), &secrets(SECRET))
            .await
            .unwrap();
    let e = wrong_rule.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap_err();
    assert!(e.to_string().contains("AUDITLAKE_AZURE_DCR_ID"), "{e}");
    assert_eq!(e.class(), ErrorClass::NonRetryable);

    let wrong_secret = AzureSink::from_settings(&settings(&s.fake.base_url(), DCR), &secrets("not-the-secret")).await.unwrap();
    let e = wrong_secret.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap_err();
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert_eq!(e.class(), ErrorClass::NonRetryable);

    // A successful send logs too; none of it, nor any error, holds the secret.
    sink(&s.fake).await.send_snapshot(&s.lake, planted::REPORT_ACCOUNT, s.day).await.unwrap();
    let captured = buffer.contents();
    assert!(!captured.is_empty(), "log capture was live");
    assert!(!captured.contains(SECRET), "the client secret reached a log line");
    assert!(!format!("{e:?}").contains("not-the-secret"));
}

#[tokio::test]
async fn an_azure_outage_leaves_the_lake_complete_and_fails_the_run_retryable() {
    use auditlake_core::iam::{IamSource, ReportPolling};
    use auditlake_core::pipeline::{self, RunRequest};
    let account = auditlake_testkit::moto::Moto::from_env().new_account().await;
    account.create_user("deploy-bot", 2).await;
    let s = setup(0).await;
    for _ in 0..6 {
        s.fake.inject(AzureFault::Unavailable);
    }
    let polling = ReportPolling {
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_wait: Duration::from_secs(30),
    };
    let source = IamSource::new(&account.sdk, auditlake_core::config::AccountScope::Current, 4)
        .with_polling(polling)
        .with_azure(sink(&s.fake).await);
    let summary = pipeline::run(&source, &s.lake, &RunRequest::new(None, "run-outage")).await.unwrap();
    assert_eq!(summary.units_failed, 1, "{summary:?}");
    assert_eq!(summary.failure_class(), Some(ErrorClass::Retryable), "the OnFailure alert fires and Lambda retries");
    let unit = &summary.units[0];
    assert!(unit.error.as_deref().unwrap().contains("the snapshot is in the lake"), "{unit:?}");
    assert_eq!(unit.rows, 2, "the lake write stands");
    let dir = auditlake_core::lake::partition_dir("aws_iam_access_keys", summary.event_time.date_naive());
    let files: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(s.lake.store().list(Some(&dir))).await.unwrap();
    assert!(files.iter().any(|f| f.location.filename().unwrap().starts_with(&account.id)), "{files:?}");

    // Azure is back: the retry delivers the two keys once.
    let summary = pipeline::run(&source, &s.lake, &RunRequest::new(None, "run-retry")).await.unwrap();
    assert_eq!(summary.units_failed, 0, "{summary:?}");
    let counts = arrivals(&s.fake);
    let keys: Vec<_> = counts.keys().filter(|k| k.starts_with(&account.id)).collect();
    assert_eq!(keys.len(), 2, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1));
}
