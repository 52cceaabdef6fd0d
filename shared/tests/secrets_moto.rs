//! SecretStore against moto's SSM (SecureString + KMS): values arrive, errors name the
//! parameter, and a canary secret never shows up in a log line, an error or Debug output.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use auditlake_core::config::SecretSource;
use auditlake_core::secrets::{SecretError, SecretStore};
use auditlake_testkit::logs;
use auditlake_testkit::moto::{Moto, TestAccount};
use aws_sdk_ssm::types::ParameterType;
use secrecy::ExposeSecret;

async fn put(account: &TestAccount, name: &str, value: &str, kind: ParameterType) {
    aws_sdk_ssm::Client::new(&account.sdk)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .send()
        .await
        .expect("moto PutParameter");
}

#[tokio::test]
async fn secure_strings_are_read_decrypted_and_cached() {
    let moto = Moto::from_env();
    let account = moto.new_account().await;
    let names: Vec<String> = (0..12).map(|i| format!("/auditlake/test/secret-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        put(&account, name, &format!("value-{i}"), ParameterType::SecureString).await;
    }
    let store = SecretStore::new(&SecretSource::Ssm, aws_sdk_ssm::Client::new(&account.sdk));
    // Twelve names: more than one GetParameters call (ten at most per call).
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let values = store.get_many(&refs).await.unwrap();
    assert_eq!(values.len(), 12);
    assert_eq!(values["/auditlake/test/secret-11"].expose_secret(), "value-11");

    // Cached: deleting the parameter does not affect this process.
    aws_sdk_ssm::Client::new(&account.sdk).delete_parameter().name(&names[0]).send().await.unwrap();
    assert_eq!(store.get(&names[0]).await.unwrap().expose_secret(), "value-0");
}

#[tokio::test]
async fn errors_name_the_parameter() {
    let moto = Moto::from_env();
    let account = moto.new_account().await;
    put(&account, "/auditlake/plain", "not-so-secret", ParameterType::String).await;
    let store = SecretStore::new(&SecretSource::Ssm, aws_sdk_ssm::Client::new(&account.sdk));

    let err = store.get("/auditlake/missing").await.unwrap_err();
    assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("/auditlake/missing"), "{err}");

    let err = store.get("/auditlake/plain").await.unwrap_err();
    assert!(matches!(err, SecretError::NotSecure { .. }), "{err:?}");
    assert!(err.to_string().contains("/auditlake/plain") && err.to_string().contains("SecureString"), "{err}");
    assert!(!err.to_string().contains("not-so-secret"));
}

#[tokio::test]
async fn a_canary_secret_never_appears_in_logs_errors_or_debug() {
    let log = logs::capture();
    let canary = format!("canary-{}", uuid::Uuid::new_v4());
    let moto = Moto::from_env();
    let account = moto.new_account().await;
    put(&account, "/auditlake/canary", &canary, ParameterType::SecureString).await;
    let store = SecretStore::new(&SecretSource::Ssm, aws_sdk_ssm::Client::new(&account.sdk));

    let value = store.get("/auditlake/canary").await.unwrap();
    assert_eq!(value.expose_secret(), canary);
    tracing::info!(secret = ?value, store = ?store, "logging the secret's Debug on purpose");
    let err = store.get_many(&["/auditlake/canary", "/auditlake/absent"]).await.unwrap_err();
    tracing::error!(error = %err, debug = ?err, "and an error next to it");

    let rendered = format!("{value:?} {store:?} {err} {err:?}");
    assert!(!rendered.contains(&canary), "{rendered}");
    let logged = log.contents();
    assert!(logged.contains("logging the secret's Debug on purpose"), "log capture works");
    assert!(!logged.contains(&canary), "the canary reached a log line");
}
