//! The AWS IAM access-key source: one [`AccessKeyRow`] per access key per account per day.
//!
//! [`IamSource`] resolves the accounts to cover ([`AccountScope`]: the current one, a list, or
//! the whole Organization, entering each by `sts:AssumeRole`) and takes a [`Snapshot`] of each:
//!
//! 1. `GenerateCredentialReport` until `COMPLETE` (bounded), then `GetCredentialReport`;
//!    the CSV is parsed by [`report`], which knows IAM's quirks.
//! 2. `ListAccessKeys` only for users whose report row shows a key (bounded concurrency, SDK
//!    adaptive retries): the report has no key ids, and users without keys need no call, so an
//!    account costs (users holding a key) + 3 IAM calls instead of 1 + U + K.
//! 3. Report slots joined to listed keys by creation time, ids sanitized by
//!    [`sanitize_access_key_id`] before they leave this module, ages computed against the
//!    report time.
//!
//! When the credential report is denied, the same rows come from `ListUsers` →
//! `ListAccessKeys` → `GetAccessKeyLastUsed` (the report-only columns `password_enabled` and
//! `mfa_active` are then null).

pub mod report;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_iam::types::ReportStateType;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OnceCell;

use crate::checkpoint::Checkpoint;
use crate::config::AccountScope;
use crate::error::{Classify, ErrorClass, classify_sdk_error, describe_sdk_error};
use crate::lake::{LakeError, QuarantinedRecord, TableWriter};
use crate::pipeline::{Plan, PullOutcome, RunRequest, Source};
use crate::schema::iam_access_keys::{AccessKeyRow, TABLE};
use crate::schema::{TableDef, rows_to_batch};

use report::{ReportKey, ReportUser};

/// Why an account's snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("account {account}: {operation} failed: {message}")]
    Api { account: String, operation: String, message: String, class: ErrorClass },
    #[error("account {account}: the credential report was not ready after {waited:?}")]
    ReportTimeout { account: String, waited: Duration },
    #[error("account {account}: {source}")]
    ReportFormat { account: String, source: report::ReportFormatError },
    #[error("account {account}: mapping rows to Arrow: {message}")]
    Mapping { account: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl Classify for IamError {
    fn class(&self) -> ErrorClass {
        match self {
            IamError::Api { class, .. } => *class,
            IamError::ReportTimeout { .. } => ErrorClass::Retryable,
            IamError::ReportFormat { .. } | IamError::Mapping { .. } => ErrorClass::NonRetryable,
            IamError::Lake(e) => e.class(),
        }
    }
}

fn api_error<E, R>(
    account: &str,
    operation: impl Into<String>,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> IamError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    IamError::Api {
        account: account.to_string(),
        operation: operation.into(),
        message: describe_sdk_error(err),
        class: classify_sdk_error(err),
    }
}

/// Keeps the first and last four characters: `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE`. Anything too
/// short to keep eight characters and still hide some is masked entirely.
pub fn sanitize_access_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 12 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// How long to wait for `GenerateCredentialReport` to reach `COMPLETE`.
#[derive(Debug, Clone, Copy)]
pub struct ReportPolling {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_wait: Duration,
}

impl Default for ReportPolling {
    fn default() -> Self {
        ReportPolling {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            max_wait: Duration::from_secs(180),
        }
    }
}

/// How a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    CredentialReport,
    /// The report was denied: ListUsers → ListAccessKeys → GetAccessKeyLastUsed.
    ListCalls,
}

/// One account's access keys at one time.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub rows: Vec<AccessKeyRow>,
    /// Report rows that could not be parsed.
    pub rejected: Vec<QuarantinedRecord>,
    pub report_generated_at: DateTime<Utc>,
    pub method: Method,
}

/// The IAM access-key source over one or many accounts.
#[derive(Debug)]
pub struct IamSource {
    sdk: aws_config::SdkConfig,
    iam_config: aws_sdk_iam::Config,
    sts: aws_sdk_sts::Client,
    scope: AccountScope,
    concurrency: usize,
    /// Accounts snapshotted at the same time.
    account_concurrency: usize,
    polling: ReportPolling,
    caller: OnceCell<Caller>,
}

#[derive(Debug, Clone)]
struct Caller {
    account: String,
    partition: String,
}

impl IamSource {
    pub fn new(sdk: &aws_config::SdkConfig, scope: AccountScope, concurrency: usize) -> Self {
        IamSource {
            sdk: sdk.clone(),
            iam_config: aws_sdk_iam::Config::from(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            scope,
            concurrency: concurrency.max(1),
            account_concurrency: 1,
            polling: ReportPolling::default(),
            caller: OnceCell::new(),
        }
    }

    /// Uses `config` as the template of every IAM client (e.g. with an interceptor that counts
    /// calls); per-account credentials are set on top of it.
    pub fn with_iam_config(mut self, config: aws_sdk_iam::Config) -> Self {
        self.iam_config = config;
        self
    }

    /// Snapshots up to `n` accounts at the same time: an organisation's accounts each wait
    /// seconds for their credential report, and one after another they would not fit a
    /// Lambda's 15 minutes.
    pub fn with_account_concurrency(mut self, n: usize) -> Self {
        self.account_concurrency = n.max(1);
        self
    }

    pub fn with_polling(mut self, polling: ReportPolling) -> Self {
        self.polling = polling;
        self
    }

    async fn caller(&self) -> Result<&Caller, IamError> {
        self.caller
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| api_error("(current)", "sts:GetCallerIdentity", &e))?;
                let account = out.account().unwrap_or_default().to_string();
                let partition = out.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
                Ok(Caller { account, partition })
            })
            .await
    }

    /// The account ids this source covers, in a stable order.
    pub async fn accounts(&self) -> Result<Vec<String>, IamError> {
        let mut ids = match &self.scope {
            AccountScope::Current => vec![self.caller().await?.account.clone()],
            AccountScope::Listed { account_ids, .. } => account_ids.clone(),
            AccountScope::Organization { .. } => {
                let orgs = aws_sdk_organizations::Client::new(&self.sdk);
                let pages: Vec<_> = orgs
                    .list_accounts()
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| api_error("(organization)", "organizations:ListAccounts", &e))?;
                pages
                    .iter()
                    .flat_map(|page| page.accounts())
                    .filter(|a| is_active(a))
                    .filter_map(|a| a.id().map(str::to_string))
                    .collect()
            }
        };
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// An IAM client for `account`: the process's own credentials for its own account, an
    /// assumed role for any other.
    async fn client_for(&self, account: &str) -> Result<aws_sdk_iam::Client, IamError> {
        let role_name = match &self.scope {
            AccountScope::Current => None,
            AccountScope::Listed { role_name, .. } | AccountScope::Organization { role_name } => Some(role_name),
        };
        let caller = self.caller().await?;
        let Some(role_name) = role_name.filter(|_| caller.account != account) else {
            return Ok(aws_sdk_iam::Client::from_conf(self.iam_config.clone()));
        };
        let role_arn = format!("arn:{}:iam::{account}:role/{role_name}", caller.partition);
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("auditlake-iam-access-keys")
            .duration_seconds(3600)
            .send()
            .await
            .map_err(|e| api_error(account, format!("sts:AssumeRole {role_arn}"), &e))?;
        let c = out.credentials().ok_or_else(|| IamError::Api {
            account: account.to_string(),
            operation: format!("sts:AssumeRole {role_arn}"),
            message: "the response carried no credentials".into(),
            class: ErrorClass::Retryable,
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "auditlake-assume-role",
        );
        let config = self.iam_config.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        Ok(aws_sdk_iam::Client::from_conf(config))
    }

    /// Takes the access-key snapshot of one account. `as_of` is the collection time (the
    /// scheduled event's time); it stands in for a report time that cannot be right.
    pub async fn snapshot(&self, account: &str, as_of: DateTime<Utc>, run_id: &str) -> Result<Snapshot, IamError> {
        let client = self.client_for(account).await?;
        match self.credential_report(&client, account).await? {
            Some((csv, generated)) => self.from_report(&client, account, &csv, generated, as_of, run_id).await,
            None => self.from_list_calls(&client, account, run_id).await,
        }
    }

    /// The snapshot as taken when the credential report is denied (1 + users + keys calls).
    pub async fn snapshot_by_list_calls(&self, account: &str, run_id: &str) -> Result<Snapshot, IamError> {
        let client = self.client_for(account).await?;
        self.from_list_calls(&client, account, run_id).await
    }

    /// The report's CSV and generation time, or `None` when the report is denied.
    async fn credential_report(
        &self,
        client: &aws_sdk_iam::Client,
        account: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, IamError> {
        let started = tokio::time::Instant::now();
        let mut delay = self.polling.first_delay;
        loop {
            match client.generate_credential_report().send().await {
                Ok(out) if out.state() == Some(&ReportStateType::Complete) => {}
                Ok(_) => {
                    if started.elapsed() + delay > self.polling.max_wait {
                        return Err(IamError::ReportTimeout { account: account.into(), waited: started.elapsed() });
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.polling.max_delay);
                    continue;
                }
                Err(e) if is_access_denied(&e) => {
                    return Ok(self.denied(account, "GenerateCredentialReport", &describe_sdk_error(&e)));
                }
                Err(e) => return Err(api_error(account, "iam:GenerateCredentialReport", &e)),
            }
            match client.get_credential_report().send().await {
                Ok(out) => {
                    let csv = out.content().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
                    let generated = out.generated_time().and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?));
                    return Ok(Some((csv, generated.unwrap_or_else(Utc::now))));
                }
                // Expired or not there yet between the two calls: generate again (bounded above).
                Err(e) if matches!(e.code(), Some("ReportNotPresent" | "ReportExpired" | "ReportInProgress")) => {
                    if started.elapsed() + delay > self.polling.max_wait {
                        return Err(IamError::ReportTimeout { account: account.into(), waited: started.elapsed() });
                    }
                    tokio::time::sleep(delay).await;
                }
                Err(e) if is_access_denied(&e) => {
                    return Ok(self.denied(account, "GetCredentialReport", &describe_sdk_error(&e)));
                }
                Err(e) => return Err(api_error(account, "iam:GetCredentialReport", &e)),
            }
        }
    }

    fn denied<T>(&self, account: &str, operation: &str, message: &str) -> Option<T> {
        tracing::warn!(
            account,
            operation,
            error = message,
            "credential report denied; falling back to ListUsers/ListAccessKeys/GetAccessKeyLastUsed (1 + users + keys calls)"
        );
        None
    }

    async fn from_report(
        &self,
        client: &aws_sdk_iam::Client,
        account: &str,
        csv: &str,
        generated: DateTime<Utc>,
        as_of: DateTime<Utc>,
        run_id: &str,
    ) -> Result<Snapshot, IamError> {
        let parsed = report::parse(csv).map_err(|source| IamError::ReportFormat { account: account.into(), source })?;
        // AWS regenerates a report older than 4 h, so a much older GeneratedTime means a stale
        // or synthetic report (moto answers 2015-02-02): ages against it would be meaningless.
        let report_generated_at = if generated < as_of - chrono::Duration::days(1) {
            tracing::warn!(account, generated = %generated, as_of = %as_of, "credential report GeneratedTime is more than a day before the collection time; ages are computed against the collection time");
            as_of
        } else {
            generated
        };

        let holders: Vec<String> =
            parsed.users.iter().filter(|u| !u.is_root() && !u.keys.is_empty()).map(|u| u.user.clone()).collect();
        let listed: HashMap<String, Vec<ListedKey>> = futures::stream::iter(holders)
            .map(|user| async move { list_keys(client, account, &user).await.map(|keys| (user, keys)) })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;

        let mut rows = Vec::new();
        for user in &parsed.users {
            let keys = listed.get(&user.user).map(Vec::as_slice).unwrap_or_default();
            for (slot, key) in match_slots(&user.keys, keys) {
                rows.push(row_from_report(account, user, slot, key, report_generated_at, run_id));
            }
        }
        let rejected = parsed
            .rejected
            .into_iter()
            .map(|r| QuarantinedRecord {
                origin: format!("credential report of account {account}, line {}", r.line),
                reason: r.reason,
                raw: r.raw,
            })
            .collect();
        Ok(Snapshot { rows, rejected, report_generated_at, method: Method::CredentialReport })
    }

    async fn from_list_calls(&self, client: &aws_sdk_iam::Client, account: &str, run_id: &str) -> Result<Snapshot, IamError> {
        let users: Vec<_> = client
            .list_users()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error(account, "iam:ListUsers", &e))?;
        let now = Utc::now();
        let per_user: Vec<Vec<AccessKeyRow>> = futures::stream::iter(users)
            .map(|user| async move {
                let keys = list_keys(client, account, user.user_name()).await?;
                let mut rows = Vec::with_capacity(keys.len());
                for (i, key) in keys.iter().enumerate() {
                    let last = client
                        .get_access_key_last_used()
                        .access_key_id(&key.id)
                        .send()
                        .await
                        .map_err(|e| api_error(account, "iam:GetAccessKeyLastUsed", &e))?;
                    let used = last.access_key_last_used();
                    let last_used_at = used.and_then(|u| u.last_used_date()).and_then(smithy_to_chrono);
                    let created_at = key.created;
                    rows.push(AccessKeyRow {
                        account_id: account.to_string(),
                        user_name: user.user_name().to_string(),
                        user_arn: Some(user.arn().to_string()),
                        access_key_id: Some(sanitize_access_key_id(&key.id)),
                        key_slot: i as i32 + 1,
                        status: key.status.clone(),
                        created_at,
                        last_used_at,
                        last_used_region: used.map(|u| u.region()).filter(|r| !r.is_empty() && *r != "N/A").map(str::to_string),
                        last_used_service: used
                            .map(|u| u.service_name())
                            .filter(|s| !s.is_empty() && *s != "N/A")
                            .map(str::to_string),
                        age_days: created_at.map(|c| days_between(c, now)),
                        days_since_last_used: last_used_at.map(|u| days_between(u, now)),
                        user_created_at: smithy_to_chrono(user.create_date()),
                        password_enabled: None,
                        mfa_active: None,
                        report_generated_at: now,
                        run_id: run_id.to_string(),
                    });
                }
                Ok::<_, IamError>(rows)
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut rows: Vec<AccessKeyRow> = per_user.into_iter().flatten().collect();
        rows.sort_by(|a, b| (&a.user_name, a.key_slot).cmp(&(&b.user_name, b.key_slot)));
        Ok(Snapshot { rows, rejected: Vec::new(), report_generated_at: now, method: Method::ListCalls })
    }
}

fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    match account.state() {
        Some(state) => *state == AccountState::Active,
        #[allow(deprecated)]
        None => account.status() == Some(&AccountStatus::Active),
    }
}

fn is_access_denied<E: ProvideErrorMetadata, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool {
    matches!(e.code(), Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"))
}

/// A key as `ListAccessKeys` returns it (full id: it never leaves this module unsanitized).
#[derive(Clone)]
struct ListedKey {
    id: String,
    status: String,
    created: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ListedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListedKey").field("id", &sanitize_access_key_id(&self.id)).field("status", &self.status).finish()
    }
}

/// The user's keys, oldest first (a user holds at most two, so one page).
async fn list_keys(client: &aws_sdk_iam::Client, account: &str, user: &str) -> Result<Vec<ListedKey>, IamError> {
    let out = match client.list_access_keys().user_name(user).send().await {
        Ok(out) => out,
        // Deleted between the report and this call: the report's slots still stand.
        Err(e) if e.code() == Some("NoSuchEntity") => return Ok(Vec::new()),
        Err(e) => {
            return Err(api_error(account, format!("iam:ListAccessKeys for user {user}"), &e));
        }
    };
    let mut keys: Vec<ListedKey> = out
        .access_key_metadata()
        .iter()
        .filter_map(|k| {
            Some(ListedKey {
                id: k.access_key_id()?.to_string(),
                status: k.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                created: k.create_date().and_then(smithy_to_chrono),
            })
        })
        .collect();
    keys.sort_by_key(|k| k.created);
    Ok(keys)
}

/// Pairs each occupied report slot with a listed key: same creation second first (slot
/// `last_rotated` is the key's creation time), then the remaining keys in creation order.
fn match_slots<'a>(slots: &'a [ReportKey], keys: &'a [ListedKey]) -> Vec<(&'a ReportKey, Option<&'a ListedKey>)> {
    let mut used = vec![false; keys.len()];
    let mut out: Vec<(&ReportKey, Option<&ListedKey>)> = slots
        .iter()
        .map(|slot| {
            let hit = keys
                .iter()
                .enumerate()
                .position(|(i, k)| !used[i] && k.created.is_some_and(|c| (c - slot.last_rotated).num_seconds().abs() <= 1));
            if let Some(i) = hit {
                used[i] = true;
            }
            (slot, hit.map(|i| &keys[i]))
        })
        .collect();
    for entry in out.iter_mut().filter(|(_, k)| k.is_none()) {
        if let Some(i) = used.iter().position(|u| !u) {
            used[i] = true;
            entry.1 = Some(&keys[i]);
        }
    }
    out
}

fn row_from_report(
    account: &str,
    user: &ReportUser,
    slot: &ReportKey,
    key: Option<&ListedKey>,
    report_generated_at: DateTime<Utc>,
    run_id: &str,
) -> AccessKeyRow {
    let created_at = key.and_then(|k| k.created).or(Some(slot.last_rotated));
    let status = match key {
        Some(k) if !k.status.is_empty() => k.status.clone(),
        _ if slot.active => "Active".to_string(),
        _ => "Inactive".to_string(),
    };
    AccessKeyRow {
        account_id: account.to_string(),
        user_name: user.user.clone(),
        user_arn: Some(user.arn.clone()).filter(|a| !a.is_empty()),
        access_key_id: key.map(|k| sanitize_access_key_id(&k.id)),
        key_slot: slot.slot,
        status,
        created_at,
        last_used_at: slot.last_used_date,
        last_used_region: slot.last_used_region.clone(),
        last_used_service: slot.last_used_service.clone(),
        age_days: created_at.map(|c| days_between(c, report_generated_at)),
        days_since_last_used: slot.last_used_date.map(|u| days_between(u, report_generated_at)),
        user_created_at: user.user_creation_time,
        password_enabled: user.password_enabled,
        mfa_active: user.mfa_active,
        report_generated_at,
        run_id: run_id.to_string(),
    }
}

/// Whole days from `from` to `to`, never negative (clock skew between IAM and us).
fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days().max(0)
}

fn smithy_to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.to_millis().ok()?)
}

/// The IAM source as a pipeline [`Source`]: one unit per account, one `dt` per report date.
#[async_trait]
impl Source for IamSource {
    type Error = IamError;

    fn table(&self) -> &'static TableDef {
        &TABLE
    }

    async fn units(&self) -> Result<Vec<String>, IamError> {
        self.accounts().await
    }

    fn unit_concurrency(&self) -> usize {
        self.account_concurrency
    }

    fn plan(&self, unit: &str, _checkpoint: Option<&Checkpoint>, request: &RunRequest) -> Plan {
        // One snapshot per account per day: re-running the same day rewrites the same file.
        let dt = request.event_time.date_naive();
        Plan { stem: unit.to_string(), window_start: None, window_end: request.event_time, partition: Some(dt) }
    }

    async fn pull(
        &self,
        unit: &str,
        plan: &Plan,
        _checkpoint: Option<&Checkpoint>,
        request: &RunRequest,
        out: &mut TableWriter,
    ) -> Result<PullOutcome, IamError> {
        let dt: NaiveDate = plan.partition.unwrap_or_else(|| request.event_time.date_naive());
        out.claim(dt);
        let snapshot = self.snapshot(unit, request.event_time, &request.run_id).await?;
        let batch = rows_to_batch(TABLE.schema(), &snapshot.rows)
            .map_err(|e| IamError::Mapping { account: unit.into(), message: e.to_string() })?;
        out.write(dt, &batch).await?;
        for record in snapshot.rejected {
            out.quarantine(dt, record);
        }
        Ok(PullOutcome {
            cursor: snapshot.report_generated_at,
            seen_ids: Default::default(),
            more_to_do: false,
            detail: Some(serde_json::json!({ "method": snapshot.method, "report_generated_at": snapshot.report_generated_at })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn slot(n: i32, rotated: &str) -> ReportKey {
        ReportKey {
            slot: n,
            active: true,
            last_rotated: ts(rotated),
            last_used_date: None,
            last_used_region: None,
            last_used_service: None,
        }
    }

    fn key(id: &str, created: &str) -> ListedKey {
        ListedKey { id: id.into(), status: "Active".into(), created: Some(ts(created)) }
    }

    #[test]
    fn sanitizing_keeps_four_and_four() {
        assert_eq!(sanitize_access_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(sanitize_access_key_id("short"), "…");
        assert!(!format!("{:?}", key("AKIAIOSFODNN7EXAMPLE", "2026-01-01T00:00:00Z")).contains("AKIAIOSFODNN7EXAMPLE"));
    }

    #[test]
    fn slots_match_by_creation_time_then_order() {
        let slots = [slot(1, "2020-01-01T00:00:00Z"), slot(2, "2024-06-01T00:00:00Z")];
        let keys = [key("AKIA0000000000000NEW", "2024-06-01T00:00:00.400Z"), key("AKIA0000000000000OLD", "2020-01-01T00:00:00Z")];
        let matched = match_slots(&slots, &keys);
        assert_eq!(matched[0].1.unwrap().id, "AKIA0000000000000OLD");
        assert_eq!(matched[1].1.unwrap().id, "AKIA0000000000000NEW");

        // A key rotated after the report: no time matches, order decides, nothing is lost.
        let keys = [key("AKIA00000000000OTHER", "2026-01-01T00:00:00Z")];
        let matched = match_slots(&slots[..1], &keys);
        assert_eq!(matched[0].1.unwrap().id, "AKIA00000000000OTHER");
        // Root: no listed keys, the slot still becomes a row.
        assert!(match_slots(&slots, &[])[1].1.is_none());
    }

    #[test]
    fn ages_are_counted_against_the_report_time() {
        let user = ReportUser {
            line: 2,
            user: "old".into(),
            arn: "arn:aws:iam::1:user/old".into(),
            user_creation_time: None,
            password_enabled: Some(false),
            mfa_active: Some(false),
            keys: vec![],
        };
        let mut s = slot(1, "2026-08-01T00:00:00Z");
        s.last_used_date = Some(ts("2026-11-18T12:00:00Z"));
        let row = row_from_report("111111111111", &user, &s, None, ts("2026-11-28T11:00:00Z"), "r");
        assert_eq!(row.age_days, Some(119));
        assert_eq!(row.days_since_last_used, Some(9));
        assert_eq!(row.access_key_id, None);
        assert_eq!(row.status, "Active");
    }
}
