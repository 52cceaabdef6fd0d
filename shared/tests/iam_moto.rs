//! The IAM access-key pipeline end to end against moto (started by `scripts/test.sh`):
//! real IAM, STS and S3 APIs, the real pipeline and lake, Parquet read back.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::collections::BTreeMap;

use auditlake_core::config::AccountScope;
use auditlake_core::iam::{IamSource, Method, ReportPolling, sanitize_access_key_id};
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::pipeline::{self, RunRequest, RunSummary};
use auditlake_testkit::moto::{Moto, TestAccount, TestKey};
use auditlake_testkit::{logs, parquet_rows};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde_json::{Map, Value};

type Row = Map<String, Value>;

fn fast(source: IamSource) -> IamSource {
    source.with_polling(ReportPolling {
        first_delay: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_millis(200),
        max_wait: std::time::Duration::from_secs(30),
    })
}

/// Every row of every Parquet file of `table` in the lake, with the file it came from.
async fn lake_rows(lake: &Lake, table: &str) -> Vec<(String, Row)> {
    let prefix = object_store::path::Path::from(table);
    let metas: Vec<_> = lake.store().list(Some(&prefix)).try_collect().await.unwrap();
    let mut out = Vec::new();
    for meta in metas {
        let bytes = lake.store().get(&meta.location).await.unwrap().bytes().await.unwrap();
        let (_, rows) = parquet_rows(bytes).unwrap();
        out.extend(rows.into_iter().map(|r| (meta.location.to_string(), r)));
    }
    out
}

/// Every byte stored in the lake (Parquet, checkpoints, quarantine) plus every decoded row.
async fn lake_text(lake: &Lake) -> String {
    let metas: Vec<_> = lake.store().list(None).try_collect().await.unwrap();
    let mut text = String::new();
    for meta in metas {
        let bytes = lake.store().get(&meta.location).await.unwrap().bytes().await.unwrap();
        text.push_str(&String::from_utf8_lossy(&bytes));
        if meta.location.as_ref().ends_with(".parquet") {
            text.push_str(&serde_json::to_string(&parquet_rows(bytes).unwrap().1).unwrap());
        }
    }
    text
}

fn by_key(rows: &[(String, Row)]) -> BTreeMap<String, Row> {
    let mut map = BTreeMap::new();
    for (_, row) in rows {
        let id = row.get("access_key_id").and_then(Value::as_str).unwrap_or("<none>").to_string();
        assert!(map.insert(id.clone(), row.clone()).is_none(), "key {id} appears more than once");
    }
    map
}

struct Fixture {
    account: TestAccount,
    solo: TestKey,
    pair: Vec<TestKey>,
    inactive: TestKey,
}

/// Users with 0, 1 and 2 keys; one key inactive; one key used, the others never used.
async fn populate(moto: &Moto, account: TestAccount) -> Fixture {
    account.create_user("no-keys", 0).await;
    let solo = account.create_user("solo", 1).await.remove(0);
    let pair = account.create_user("pair", 2).await;
    let inactive = account.create_user("dormant", 1).await.remove(0);
    account.deactivate("dormant", &inactive).await;
    solo.use_once(moto).await;
    Fixture { account, solo, pair, inactive }
}

async fn run(source: &IamSource, lake: &Lake, time: DateTime<Utc>, run_id: &str) -> RunSummary {
    let summary = pipeline::run(source, lake, &RunRequest::new(Some(time), run_id)).await.unwrap();
    assert_eq!(summary.units_failed, 0, "{}", summary.failure_message());
    summary
}

#[tokio::test]
async fn every_key_appears_once_with_its_values_and_no_full_id_anywhere() {
    let log = logs::capture();
    let moto = Moto::from_env();
    let f = populate(&moto, moto.new_account().await).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &f.account.sdk).await.unwrap();
    let source = fast(IamSource::new(&f.account.sdk, AccountScope::Current, 4));

    let now = Utc::now();
    let summary = run(&source, &lake, now, "run-1").await;
    assert_eq!(summary.rows, 4);
    assert_eq!(summary.units[0].unit, f.account.id);
    assert_eq!(summary.units[0].detail.as_ref().unwrap()["method"], "credential_report");

    let rows = lake_rows(&lake, "aws_iam_access_keys").await;
    let dt = now.format("%Y-%m-%d").to_string();
    assert!(rows.iter().all(|(path, _)| path == &format!("aws_iam_access_keys/dt={dt}/{}-0000.parquet", f.account.id)));
    let keys = by_key(&rows);
    assert_eq!(keys.len(), 4, "4 keys, users without keys have no row: {keys:?}");

    let solo = &keys[&sanitize_access_key_id(&f.solo.id)];
    assert_eq!(solo["user_name"], "solo");
    assert_eq!(solo["account_id"], f.account.id.as_str());
    assert_eq!(solo["user_arn"], format!("arn:aws:iam::{}:user/solo", f.account.id).as_str());
    assert_eq!(solo["key_slot"], 1);
    assert_eq!(solo["status"], "Active");
    assert!(solo["last_used_at"].is_string(), "the used key has a last-used date: {solo:?}");
    assert_eq!(solo["days_since_last_used"], 0);
    assert_eq!(solo["age_days"], 0);
    assert_eq!(solo["password_enabled"], false);
    assert_eq!(solo["mfa_active"], false);
    assert_eq!(solo["run_id"], "run-1");
    assert!(solo.get("last_used_region").is_none(), "moto reports not_supported: stored as null");

    for (slot, key) in f.pair.iter().enumerate() {
        let row = &keys[&sanitize_access_key_id(&key.id)];
        assert_eq!(row["user_name"], "pair");
        assert_eq!(row["key_slot"], slot as i64 + 1);
        assert!(row.get("last_used_at").is_none(), "never used: null");
        assert!(row.get("days_since_last_used").is_none());
    }
    let dormant = &keys[&sanitize_access_key_id(&f.inactive.id)];
    assert_eq!(dormant["status"], "Inactive");
    assert!(dormant["created_at"].is_string());

    // No full key id in any stored byte, decoded value, or log line.
    let stored = lake_text(&lake).await;
    let logged = log.contents();
    assert!(logged.contains("aws_iam_access_keys"), "log capture works");
    for key in [&f.solo, &f.pair[0], &f.pair[1], &f.inactive] {
        assert!(!stored.contains(&key.id), "full key id {} stored in the lake", key.id);
        if let Some(line) = logged.lines().find(|l| l.contains(&key.id)) {
            panic!("full key id {} logged: {line}", key.id);
        }
        assert!(!logged.contains(&key.secret), "a secret access key was logged");
    }
}

#[tokio::test]
async fn keys_older_than_ninety_days_are_aged_against_the_snapshot_time() {
    let moto = Moto::from_env();
    let f = populate(&moto, moto.new_account().await).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &f.account.sdk).await.unwrap();
    let source = fast(IamSource::new(&f.account.sdk, AccountScope::Current, 4));

    // moto cannot backdate a key, so the snapshot is taken 120 days after the keys were made.
    let later = Utc::now() + Duration::days(120);
    run(&source, &lake, later, "run-later").await;
    let rows = lake_rows(&lake, "aws_iam_access_keys").await;
    assert!(rows.iter().all(|(p, _)| p.contains(&format!("dt={}", later.format("%Y-%m-%d")))));
    let old: Vec<_> = rows.iter().filter(|(_, r)| r["age_days"].as_i64().unwrap() > 90).collect();
    assert_eq!(old.len(), 4, "every key is older than 90 days at that snapshot");
    let solo = &by_key(&rows)[&sanitize_access_key_id(&f.solo.id)];
    assert_eq!(solo["age_days"], 120);
    assert_eq!(solo["days_since_last_used"], 120);
}

#[tokio::test]
async fn running_twice_on_the_same_day_leaves_one_row_per_key() {
    let moto = Moto::from_env();
    let f = populate(&moto, moto.new_account().await).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &f.account.sdk).await.unwrap();
    let source = fast(IamSource::new(&f.account.sdk, AccountScope::Current, 4));

    let morning = Utc::now().date_naive().and_hms_opt(0, 5, 0).unwrap().and_utc();
    run(&source, &lake, morning, "first").await;
    run(&source, &lake, morning + Duration::hours(6), "second").await;
    let rows = lake_rows(&lake, "aws_iam_access_keys").await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|(_, r)| r["run_id"] == "second"), "the second run replaced the first");
    by_key(&rows);

    // A key deleted between two runs of the same day disappears from that day's snapshot.
    f.account.iam().delete_access_key().user_name("solo").access_key_id(&f.solo.id).send().await.unwrap();
    run(&source, &lake, morning + Duration::hours(12), "third").await;
    let rows = lake_rows(&lake, "aws_iam_access_keys").await;
    assert_eq!(rows.len(), 3);
    assert!(!by_key(&rows).contains_key(&sanitize_access_key_id(&f.solo.id)));
}

#[tokio::test]
async fn two_accounts_through_assume_role_land_in_one_s3_lake() {
    let moto = Moto::from_env();
    let a = populate(&moto, moto.new_account().await).await;
    let b = moto.new_account().await;
    let b_key = b.create_user("builder", 1).await.remove(0);

    let bucket = format!("lake-{}", uuid::Uuid::new_v4().simple());
    moto.create_bucket(&bucket).await;
    let url = LakeUrl::parse(&format!("s3://{bucket}/auditlake")).unwrap();
    let lake = Lake::open(&url, &a.account.sdk).await.unwrap();
    let scope =
        AccountScope::Listed { account_ids: vec![a.account.id.clone(), b.id.clone()], role_name: "AuditLakeReader".into() };
    // Both accounts at once, as an organisation is collected.
    let source = fast(IamSource::new(&a.account.sdk, scope, 4).with_account_concurrency(2));

    let summary = run(&source, &lake, Utc::now(), "multi").await;
    assert_eq!(summary.units.len(), 2);
    assert_eq!(summary.rows, 5);

    let rows = lake_rows(&lake, "aws_iam_access_keys").await;
    let keys = by_key(&rows);
    assert_eq!(keys.len(), 5);
    let builder = &keys[&sanitize_access_key_id(&b_key.id)];
    assert_eq!(builder["account_id"], b.id.as_str());
    assert_eq!(builder["user_arn"], format!("arn:aws:iam::{}:user/builder", b.id).as_str());
    assert_eq!(rows.iter().filter(|(_, r)| r["account_id"] == a.account.id.as_str()).count(), 4);
    let files: std::collections::BTreeSet<_> = rows.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(files.len(), 2, "one file per account: {files:?}");

    // Checkpoints live in the same S3 lake, one per account.
    let state: Vec<_> = lake.store().list(Some(&"_state/aws_iam_access_keys".into())).try_collect().await.unwrap();
    assert_eq!(state.len(), 2);
}

/// Answers every credential-report call as IAM does for a caller without
/// `iam:GenerateCredentialReport`: HTTP 403 with an `AccessDenied` error document. Everything
/// else goes to moto unchanged.
#[derive(Debug, Clone, Default)]
struct DenyCredentialReport(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl Intercept for DenyCredentialReport {
    fn name(&self) -> &'static str {
        "DenyCredentialReport"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        if op == "GenerateCredentialReport" || op == "GetCredentialReport" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                 <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/auditor is not authorized to \
                 perform: iam:{op}</Message></Error><RequestId>4b7e8f0c</RequestId></ErrorResponse>"
            );
            let mut denied = HttpResponse::new(StatusCode::try_from(403u16)?, SdkBody::from(body));
            denied.headers_mut().insert("content-type", "text/xml");
            *context.response_mut() = denied;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_denied_credential_report_falls_back_to_list_calls_with_the_same_keys() {
    let moto = Moto::from_env();
    let f = populate(&moto, moto.new_account().await).await;
    let by_report =
        fast(IamSource::new(&f.account.sdk, AccountScope::Current, 4)).snapshot(&f.account.id, Utc::now(), "r").await.unwrap();

    // The whole pipeline, with IAM answering AccessDenied to the report.
    let deny = DenyCredentialReport::default();
    let iam_config = aws_sdk_iam::config::Builder::from(&f.account.sdk).interceptor(deny.clone()).build();
    let denied = fast(IamSource::new(&f.account.sdk, AccountScope::Current, 4).with_iam_config(iam_config));
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &f.account.sdk).await.unwrap();
    let summary = run(&denied, &lake, Utc::now(), "denied").await;
    assert!(deny.0.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the report was asked for and denied");
    assert_eq!(summary.units[0].detail.as_ref().unwrap()["method"], "list_calls");
    assert_eq!(by_report.method, Method::CredentialReport);

    let lake_keys: BTreeMap<String, Row> = by_key(&lake_rows(&lake, "aws_iam_access_keys").await);
    let mut from_lake: Vec<_> = lake_keys
        .values()
        .map(|r| {
            (
                r["user_name"].as_str().unwrap().to_string(),
                r["access_key_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r.get("last_used_at").is_none_or(Value::is_null),
                r.get("password_enabled").is_none_or(Value::is_null),
            )
        })
        .collect();
    from_lake.sort();
    let mut from_report: Vec<_> = by_report
        .rows
        .iter()
        .map(|r| (r.user_name.clone(), r.access_key_id.clone().unwrap(), r.status.clone(), r.last_used_at.is_none(), true))
        .collect();
    from_report.sort();
    // Same keys, statuses and use; only the report-only columns are null.
    assert_eq!(from_lake, from_report);
    assert_eq!(from_lake.len(), 4);
}
