//! A small tenant and AWS account with the cases security queries exist to find.
//!
//! Every Athena query in `athena/queries/` has at least one planted row here that it must
//! surface; the test that writes this data through the real collectors checks the answers.
//! Times are relative to an `anchor` (a little before "now"), and day `k` is `anchor − k days`,
//! so the data always falls inside the queries' relative ranges.
//!
//! - sign-ins ([`signins`]): steady MFA sign-ins of alice, bob (US), carol, dave (DE) over four
//!   days; alice from Brazil on day 0 (new country); 25 failed sign-ins of bob within ten minutes
//!   on day 1 (burst); a high-risk sign-in of carol; a single-factor success of dave; an IMAP4
//!   sign-in of erin (legacy auth); a Conditional Access block of frank; the service principal
//!   `backup-runner` (5) and the managed identity `func-payroll` (3); non-interactive refreshes.
//! - directory audits ([`audits`]): eve added to Global Administrator, consent to
//!   "Shady Mail Reader", a password reset and a password change, routine user updates.
//! - a credential report ([`credential_report`]) of [`REPORT_ACCOUNT`]: a 400-day-old key last used
//!   200 days ago, a 120-day-old key never used, an active root key, keys created 10 and 8 days
//!   ago (none 9 days ago: the zero-filled day).

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde_json::{Value, json};

use crate::graph::{audit_record, signin_record};

/// The planted tenant.
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
/// The account whose credential report [`credential_report`] returns.
pub const REPORT_ACCOUNT: &str = "210987654321";

/// The time the planted data is anchored at: an hour before `now`, so every record is
/// collectable (older than the collectors' lag) and day 0 is `now`'s date or the day before.
/// The planted cases lie up to a few hours before the anchor on their day and are checked by
/// date, so an anchor early in the day moves back to 23:00 the day before: the cases then
/// fall on the days they are meant for whatever the time the tests run.
pub fn anchor(now: DateTime<Utc>) -> DateTime<Utc> {
    let anchor = now - Duration::hours(1);
    if anchor.hour() < 6 {
        let previous = anchor.date_naive().pred_opt().expect("a date after the first");
        return previous.and_hms_opt(23, 0, 0).expect("a valid time").and_utc();
    }
    anchor
}

/// The date of day `k` (0 = the anchor's date).
pub fn day(anchor: DateTime<Utc>, k: i64) -> NaiveDate {
    (anchor - Duration::days(k)).date_naive()
}

fn at(anchor: DateTime<Utc>, days: i64, minutes: i64) -> DateTime<Utc> {
    anchor - Duration::days(days) - Duration::minutes(minutes)
}

/// Replaces top-level properties of `record` with those of `with`.
pub(crate) fn set(mut record: Value, with: Value) -> Value {
    if let (Value::Object(r), Value::Object(w)) = (&mut record, with) {
        r.extend(w);
    }
    record
}

pub(crate) fn location(city: &str, state: &str, country: &str) -> Value {
    json!({"city": city, "state": state, "countryOrRegion": country, "geoCoordinates": {"altitude": null, "latitude": null, "longitude": null}})
}

const SUCCESS: fn() -> Value = || json!({"errorCode": 0, "failureReason": null, "additionalDetails": null});

fn user_signin(id: &str, time: DateTime<Utc>, user: &str, country: &str, mfa: bool) -> Value {
    let (city, state) = match country {
        "US" => ("Redmond", "Washington"),
        "DE" => ("Berlin", "Berlin"),
        "BR" => ("São Paulo", "São Paulo"),
        _ => ("", ""),
    };
    set(
        signin_record(id, time, "interactiveUser"),
        json!({
            "userPrincipalName": format!("{user}@contoso.com"),
            "userDisplayName": user,
            "userId": format!("00000000-0000-0000-0000-0000000{:05}", user.bytes().map(u32::from).sum::<u32>()),
            "status": SUCCESS(),
            "location": location(city, state, country),
            "clientAppUsed": "Browser",
            "conditionalAccessStatus": "success",
            "authenticationRequirement": if mfa { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
            "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
            "appliedConditionalAccessPolicies": [],
        }),
    )
}

/// The planted sign-ins (every event type), anchored at `anchor`.
pub fn signins(anchor: DateTime<Utc>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut id = |prefix: &str| {
        n += 1;
        format!("{prefix}-{n:04}")
    };
    for (user, country) in [("alice", "US"), ("bob", "US"), ("carol", "DE"), ("dave", "DE")] {
        for d in 0..4 {
            for k in 0..3 {
                out.push(user_signin(&id("steady"), at(anchor, d, 30 + 120 * k), user, country, true));
            }
        }
    }
    // alice appears from Brazil for the first time.
    out.push(user_signin(&id("newcountry"), at(anchor, 0, 5), "alice", "BR", true));
    // bob: a password-spray-like burst of failures, inside one clock hour of day 1.
    let burst_start = {
        let t = at(anchor, 1, 0);
        t - Duration::seconds(i64::from(t.minute()) * 60 + i64::from(t.second())) + Duration::minutes(1)
    };
    for k in 0..25 {
        let base = user_signin(&id("burst"), burst_start + Duration::seconds(20 * k), "bob", "US", false);
        out.push(set(
            base,
            json!({
                "status": {"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password.", "additionalDetails": null},
                "appDisplayName": "Office 365 Exchange Online",
                "ipAddress": "203.0.113.50",
                "conditionalAccessStatus": "notApplied",
            }),
        ));
    }
    out.push(set(
        user_signin(&id("risky"), at(anchor, 1, 200), "carol", "DE", true),
        json!({"riskLevelDuringSignIn": "high", "riskLevelAggregated": "high", "riskState": "atRisk", "riskDetail": "none", "riskEventTypes_v2": ["unfamiliarFeatures"]}),
    ));
    out.push(user_signin(&id("nomfa"), at(anchor, 0, 15), "dave", "DE", false));
    out.push(set(user_signin(&id("legacy"), at(anchor, 2, 40), "erin", "US", false), json!({"clientAppUsed": "IMAP4"})));
    out.push(set(
        // In the burst's clock hour, so that it falls on day 1 whatever the time of day (five
        // hours before the anchor, as it was, crossed midnight when the tests ran before 05:00).
        user_signin(&id("cablock"), burst_start + Duration::minutes(30), "frank", "US", true),
        json!({
            "conditionalAccessStatus": "failure",
            "status": {"errorCode": 53003, "failureReason": "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", "additionalDetails": null},
            "appliedConditionalAccessPolicies": [
                {"id": "0b4a3a3e-1d1e-4c55-9d1b-6f3c1c0e2a11", "displayName": "Require compliant device", "enforcedGrantControls": ["compliantDevice"], "enforcedSessionControls": [], "result": "failure"}
            ],
        }),
    ));
    for k in 0..5 {
        out.push(set(
            signin_record(&id("sp"), at(anchor, 0, 20 + k), "servicePrincipal"),
            json!({"servicePrincipalName": "backup-runner", "appDisplayName": "backup-runner", "status": SUCCESS(),
                   "appId": "5b1f0c8e-0000-4000-8000-00000000b001", "servicePrincipalId": "5b1f0c8e-0000-4000-8000-00000000b002"}),
        ));
    }
    for k in 0..3 {
        out.push(set(
            signin_record(&id("msi"), at(anchor, 1, 20 + k), "managedIdentity"),
            json!({"servicePrincipalName": "func-payroll", "appDisplayName": "func-payroll", "status": SUCCESS(),
                   "appId": "6c2f1d9f-0000-4000-8000-00000000c001", "servicePrincipalId": "6c2f1d9f-0000-4000-8000-00000000c002"}),
        ));
    }
    for k in 0..4 {
        out.push(set(
            signin_record(&id("refresh"), at(anchor, k, 50), "nonInteractiveUser"),
            json!({"userPrincipalName": "alice@contoso.com", "userDisplayName": "alice", "status": SUCCESS(), "location": location("Redmond", "Washington", "US")}),
        ));
    }
    out
}

pub(crate) fn audit(id: &str, time: DateTime<Utc>, category: &str, activity: &str, with: Value) -> Value {
    set(set(audit_record(id, time), json!({"category": category, "activityDisplayName": activity, "result": "success"})), with)
}

pub(crate) fn initiated_by(user: &str) -> Value {
    json!({"user": {"id": null, "displayName": null, "userPrincipalName": format!("{user}@contoso.com"), "ipAddress": "198.51.100.7", "userType": null, "homeTenantId": null, "homeTenantName": null}, "app": null})
}

/// The planted directory audits, anchored at `anchor`.
pub fn audits(anchor: DateTime<Utc>) -> Vec<Value> {
    let mut out = vec![
        audit(
            "Directory_planted_role_1",
            at(anchor, 1, 10),
            "RoleManagement",
            "Add member to role",
            json!({
                "operationType": "Assign",
                "initiatedBy": initiated_by("admin"),
                "targetResources": [{"id": "e0e0e0e0-0000-0000-0000-000000000001", "displayName": null, "type": "User", "userPrincipalName": "eve@contoso.com", "groupType": null,
                    "modifiedProperties": [{"displayName": "Role.DisplayName", "oldValue": null, "newValue": "\"Global Administrator\""}]}],
            }),
        ),
        audit(
            "Directory_planted_consent_1",
            at(anchor, 2, 10),
            "ApplicationManagement",
            "Consent to application",
            json!({
                "operationType": "Assign",
                "initiatedBy": initiated_by("alice"),
                "targetResources": [{"id": "a0a0a0a0-0000-0000-0000-000000000001", "displayName": "Shady Mail Reader", "type": "ServicePrincipal", "userPrincipalName": null, "groupType": null,
                    "modifiedProperties": [{"displayName": "ConsentAction.Permissions", "oldValue": null, "newValue": "\"Scope: Mail.Read offline_access\""}]}],
            }),
        ),
        audit(
            "Directory_planted_reset_1",
            at(anchor, 0, 10),
            "UserManagement",
            "Reset user password",
            json!({"operationType": "Update", "initiatedBy": initiated_by("admin"),
                   "targetResources": [{"id": "b0b0b0b0-0000-0000-0000-000000000001", "displayName": null, "type": "User", "userPrincipalName": "bob@contoso.com", "groupType": null, "modifiedProperties": []}]}),
        ),
        audit(
            "Directory_planted_change_1",
            at(anchor, 1, 30),
            "UserManagement",
            "Change user password",
            json!({"operationType": "Update", "initiatedBy": initiated_by("carol"),
                   "targetResources": [{"id": "c0c0c0c0-0000-0000-0000-000000000001", "displayName": null, "type": "User", "userPrincipalName": "carol@contoso.com", "groupType": null, "modifiedProperties": []}]}),
        ),
    ];
    for k in 0..6 {
        out.push(audit(
            &format!("Directory_planted_update_{k}"),
            at(anchor, k % 3, 60 + k),
            "UserManagement",
            "Update user",
            json!({}),
        ));
    }
    out
}

/// A credential report of [`REPORT_ACCOUNT`] as IAM returns it (CSV), generated at `generated`.
pub fn credential_report(generated: DateTime<Utc>) -> String {
    let t = |days: i64| (generated - Duration::days(days)).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let header = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";
    let arn = |user: &str| format!("arn:aws:iam::{REPORT_ACCOUNT}:user/{user}");
    let key1 = |rotated: String, used: Option<String>| match used {
        Some(u) => format!("true,{rotated},{u},us-east-1,s3"),
        None => format!("true,{rotated},N/A,N/A,N/A"),
    };
    let none = "false,N/A,N/A,N/A,N/A";
    let rows = [
        format!(
            "<root_account>,arn:aws:iam::{REPORT_ACCOUNT}:root,{},not_supported,{},not_supported,not_supported,true,{},{none},false,N/A,false,N/A",
            t(900),
            t(3),
            key1(t(30), Some(t(2)))
        ),
        format!(
            "legacy-ci,{},{},false,N/A,N/A,N/A,false,{},{none},false,N/A,false,N/A",
            arn("legacy-ci"),
            t(500),
            key1(t(400), Some(t(200)))
        ),
        format!(
            "old-admin,{},{},true,{},{},N/A,true,{},{none},false,N/A,false,N/A",
            arn("old-admin"),
            t(130),
            t(1),
            t(100),
            key1(t(120), None)
        ),
        format!("ci-a,{},{},false,N/A,N/A,N/A,false,{},{none},false,N/A,false,N/A", arn("ci-a"), t(10), key1(t(10), Some(t(1)))),
        format!("ci-b,{},{},false,N/A,N/A,N/A,false,{},{none},false,N/A,false,N/A", arn("ci-b"), t(8), key1(t(8), Some(t(1)))),
        format!("no-keys,{},{},true,{},{},N/A,true,{none},{none},false,N/A,false,N/A", arn("no-keys"), t(50), t(1), t(40)),
    ];
    format!("{header}\n{}\n", rows.join("\n"))
}
