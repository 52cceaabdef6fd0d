//! One account's access-key [`Snapshot`]: the credential report joined with `ListAccessKeys`,
//! or, when the report is denied, `ListUsers` → `ListAccessKeys` → `GetAccessKeyLastUsed`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_iam::types::ReportStateType;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::report::{self, ReportKey, ReportUser};
use super::{IamError, IamSource, api_error, sanitize_access_key_id};
use crate::error::{Backoff, describe_sdk_error};
use crate::lake::QuarantinedRecord;
use crate::schema::iam_access_keys::AccessKeyRow;

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

impl IamSource {
    /// Takes the access-key snapshot of one account. `as_of` is the collection time (the
    /// scheduled event's time); it stands in for a report time that cannot be right.
    pub async fn snapshot(&self, account: &str, as_of: DateTime<Utc>, run_id: &str) -> Result<Snapshot, IamError> {
        let client = self.client_for(account).await?;
        match self.credential_report(&client, account).await? {
            Some((csv, generated)) => self.snapshot_by_report(&client, account, &csv, generated, as_of, run_id).await,
            None => self.snapshot_by_list_calls(&client, account, run_id).await,
        }
    }

    /// The report's CSV and generation time, or `None` when the report is denied.
    async fn credential_report(
        &self,
        client: &aws_sdk_iam::Client,
        account: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, IamError> {
        let started = tokio::time::Instant::now();
        let backoff = Backoff { base: self.polling.first_delay, max: self.polling.max_delay, jitter: false };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let delay = backoff.delay(attempt);
            match client.generate_credential_report().send().await {
                Ok(out) if out.state() == Some(&ReportStateType::Complete) => {}
                Ok(_) => {
                    if started.elapsed() + delay > self.polling.max_wait {
                        return Err(IamError::ReportTimeout { account: account.into(), waited: started.elapsed() });
                    }
                    tokio::time::sleep(delay).await;
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

    async fn snapshot_by_report(
        &self,
        client: &aws_sdk_iam::Client,
        account: &str,
        csv: &str,
        generated: DateTime<Utc>,
        as_of: DateTime<Utc>,
        run_id: &str,
    ) -> Result<Snapshot, IamError> {
        let parsed = report::parse(csv).map_err(|cause| IamError::ReportFormat { account: account.into(), cause })?;
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

        Ok(snapshot_from_report(account, parsed, &listed, report_generated_at, run_id))
    }

    async fn snapshot_by_list_calls(
        &self,
        client: &aws_sdk_iam::Client,
        account: &str,
        run_id: &str,
    ) -> Result<Snapshot, IamError> {
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

fn is_access_denied<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
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

/// Maps a credential report of `account` alone (no `ListAccessKeys`: an exported report being
/// imported, a simulated account) to rows, through the same mapping as a collection: key ids are
/// null (the report has none), statuses and ages come from the report.
pub fn report_snapshot(
    account: &str,
    parsed: report::ParsedReport,
    report_generated_at: DateTime<Utc>,
    run_id: &str,
) -> Snapshot {
    snapshot_from_report(account, parsed, &HashMap::new(), report_generated_at, run_id)
}

/// Maps a parsed credential report of `account` to rows, pairing each key slot with the key
/// `ListAccessKeys` listed for its user in `listed` (which gives the sanitized key id and the
/// exact status; without it the id is null and the status comes from the report). Ages are
/// counted against `report_generated_at`; unparsable report lines become quarantine records.
fn snapshot_from_report(
    account: &str,
    parsed: report::ParsedReport,
    listed: &HashMap<String, Vec<ListedKey>>,
    report_generated_at: DateTime<Utc>,
    run_id: &str,
) -> Snapshot {
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
    Snapshot { rows, rejected, report_generated_at, method: Method::CredentialReport }
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
    fn listed_keys_never_print_their_full_id() {
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
