//! The simulated organisation `auditlake demo` collects from: Entra tenants with a few weeks of
//! ordinary activity, and one AWS account's credential report.
//!
//! The first tenant is [`planted::TENANT`] ("Contoso") and carries every planted case (see
//! [`planted`]: a new country, a failure burst, risky and single-factor sign-ins, a role
//! assignment, a consent grant, password resets) on top of its everyday traffic, so each Athena
//! query has something to find. The other tenants have everyday traffic only. Everyday traffic is
//! chosen so that it never looks like a planted case: users sign in from their home country,
//! with MFA, failing now and then (far below a burst); apps and managed identities run on a
//! schedule; admins update users, groups and applications.
//!
//! Everything is generated from fixed seeds: the same `(tenants, days, now)` gives the same
//! records, which is what makes a re-run of the demo change nothing in the lake.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::graph::signin_record;
use crate::planted::{self, audit, initiated_by, location, set};

/// At most this many simulated tenants (their ids are `11111111-…` to `99999999-…`).
pub const MAX_TENANTS: usize = 9;

/// One simulated Entra tenant and what Graph holds for it.
#[derive(Debug, Clone)]
pub struct DemoTenant {
    pub id: String,
    pub name: &'static str,
    pub domain: &'static str,
    pub signins: Vec<Value>,
    pub audits: Vec<Value>,
}

const TENANT_NAMES: [(&str, &str); MAX_TENANTS] = [
    ("Contoso", "contoso.com"),
    ("Fabrikam", "fabrikam.com"),
    ("Northwind Traders", "northwindtraders.com"),
    ("Tailspin Toys", "tailspintoys.com"),
    ("Woodgrove Bank", "woodgrovebank.com"),
    ("Adventure Works", "adventure-works.com"),
    ("Litware", "litware.com"),
    ("Proseware", "proseware.com"),
    ("Wide World Importers", "wideworldimporters.com"),
];

const PEOPLE: [&str; 24] = [
    "grace", "henry", "irene", "jack", "kim", "liam", "maya", "noah", "olga", "paul", "quinn", "rosa", "sam", "tara", "umar",
    "vera", "will", "xena", "yusuf", "zoe", "amir", "bea", "chen", "dana",
];

/// (country, city, state) a user signs in from every day.
const HOMES: [(&str, &str, &str); 6] = [
    ("US", "Redmond", "Washington"),
    ("US", "Seattle", "Washington"),
    ("DE", "Berlin", "Berlin"),
    ("GB", "London", "England"),
    ("CA", "Toronto", "Ontario"),
    ("IN", "Bengaluru", "Karnataka"),
];

/// Everyday failures: wrong password, MFA required, and the "keep me signed in" interrupt.
const FAILURES: [(i64, &str); 3] = [
    (50126, "Error validating credentials due to invalid username or password."),
    (50074, "Strong Authentication is required."),
    (50140, "This error occurred due to 'Keep me signed in' interrupt when the user was signing in."),
];

/// The simulated tenants: `count` of them (1 to [`MAX_TENANTS`]), with `days` days of
/// everyday activity before `planted::anchor(now)`.
pub fn tenants(count: usize, days: u32, now: DateTime<Utc>) -> Vec<DemoTenant> {
    let anchor = planted::anchor(now);
    TENANT_NAMES
        .iter()
        .take(count.clamp(1, MAX_TENANTS))
        .enumerate()
        .map(|(k, &(name, domain))| {
            let id = if k == 0 { planted::TENANT.to_string() } else { tenant_id(k) };
            let mut signins = everyday_signins(k, domain, days, anchor);
            let mut audits = everyday_audits(k, domain, days, anchor);
            if k == 0 {
                signins.extend(planted::signins(anchor));
                audits.extend(planted::audits(anchor));
            }
            DemoTenant { id, name, domain, signins, audits }
        })
        .collect()
}

/// `22222222-2222-2222-2222-222222222222` for the second tenant, and so on.
fn tenant_id(k: usize) -> String {
    let d = char::from(b'1' + k as u8);
    let block = |n: usize| std::iter::repeat_n(d, n).collect::<String>();
    format!("{}-{}-{}-{}-{}", block(8), block(4), block(4), block(4), block(12))
}

/// A deterministic stream of choices per tenant.
fn rng(tenant: usize, purpose: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(0xa0d1_71a6 ^ ((tenant as u64) << 32) ^ purpose)
}

fn minutes_before(anchor: DateTime<Utc>, day: u32, rng: &mut fastrand::Rng) -> DateTime<Utc> {
    anchor - Duration::days(i64::from(day)) - Duration::seconds(rng.i64(0..24 * 3600))
}

fn everyday_signins(tenant: usize, domain: &str, days: u32, anchor: DateTime<Utc>) -> Vec<Value> {
    let mut rng = rng(tenant, 1);
    let mut out = Vec::new();
    let mut n = 0u64;
    let mut id = || {
        n += 1;
        // A GUID, as Graph's sign-in ids are, unique per tenant and record.
        uuid::Uuid::from_u64_pair(0xde70_0000_0000_0000 | tenant as u64, n).to_string()
    };
    for (p, person) in PEOPLE.iter().enumerate() {
        let (country, city, state) = HOMES[(p + tenant) % HOMES.len()];
        let upn = format!("{person}@{domain}");
        let user = json!({
            "userPrincipalName": upn, "userDisplayName": person,
            "userId": uuid::Uuid::from_u64_pair(0x05e5_0000_0000_0000 | tenant as u64, p as u64).to_string(),
            "location": location(city, state, country),
        });
        for day in 0..days {
            for _ in 0..rng.u32(2..6) {
                let failure = rng.u32(0..100) < 4;
                let mut record =
                    set(signin_record(&id(), minutes_before(anchor, day, &mut rng), "interactiveUser"), user.clone());
                let status = match failure {
                    true => {
                        let (code, reason) = FAILURES[rng.usize(0..FAILURES.len())];
                        json!({"errorCode": code, "failureReason": reason, "additionalDetails": null})
                    }
                    false => json!({"errorCode": 0, "failureReason": null, "additionalDetails": null}),
                };
                record = set(
                    record,
                    json!({
                        "status": status, "clientAppUsed": "Browser",
                        "conditionalAccessStatus": if failure { "notApplied" } else { "success" },
                        "authenticationRequirement": "multiFactorAuthentication",
                        "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
                        "appliedConditionalAccessPolicies": [],
                    }),
                );
                out.push(record);
            }
            for _ in 0..3 {
                let record = set(signin_record(&id(), minutes_before(anchor, day, &mut rng), "nonInteractiveUser"), user.clone());
                out.push(set(record, json!({"status": {"errorCode": 0, "failureReason": null, "additionalDetails": null}})));
            }
        }
    }
    // A directory sync app every hour and a reporting function every two hours.
    for day in 0..days {
        for hour in 0..24 {
            let t = anchor - Duration::days(i64::from(day)) - Duration::minutes(60 * hour + 7);
            let mut app = |name: &str, kind: &str, t| {
                let app_id = uuid::Uuid::from_u64_pair(0xa770_0000_0000_0000 | tenant as u64, name.len() as u64).to_string();
                set(
                    signin_record(&id(), t, kind),
                    json!({"servicePrincipalName": name, "appDisplayName": name, "appId": app_id, "servicePrincipalId": app_id,
                           "status": {"errorCode": 0, "failureReason": null, "additionalDetails": null}}),
                )
            };
            out.push(app("directory-sync", "servicePrincipal", t));
            if hour % 2 == 0 {
                out.push(app("func-reports", "managedIdentity", t - Duration::minutes(3)));
            }
        }
    }
    out
}

fn everyday_audits(tenant: usize, domain: &str, days: u32, anchor: DateTime<Utc>) -> Vec<Value> {
    let mut rng = rng(tenant, 2);
    let mut out = Vec::new();
    const EVERYDAY: [(&str, &str, &str, u32); 4] = [
        ("UserManagement", "Update user", "Update", 6),
        ("GroupManagement", "Add member to group", "Add", 3),
        ("ApplicationManagement", "Update application", "Update", 1),
        ("Policy", "Update conditional access policy", "Update", 1),
    ];
    for day in 0..days {
        for (category, activity, operation, per_day) in EVERYDAY {
            for _ in 0..rng.u32(0..=per_day * 2) {
                let id = format!("Directory_demo{tenant}_{}", out.len());
                let target = PEOPLE[rng.usize(0..PEOPLE.len())];
                out.push(audit(
                    &id,
                    minutes_before(anchor, day, &mut rng),
                    category,
                    activity,
                    json!({
                        "operationType": operation,
                        "initiatedBy": initiated_by("admin"),
                        "targetResources": [{"id": uuid::Uuid::from_u64_pair(0x7a67_0000_0000_0000 | tenant as u64, out.len() as u64).to_string(),
                            "displayName": null, "type": "User", "userPrincipalName": format!("{target}@{domain}"), "groupType": null, "modifiedProperties": []}],
                    }),
                ));
            }
        }
    }
    out
}

/// The simulated AWS account's credential report (CSV, as IAM returns it), generated at
/// `generated`: the planted report ([`planted::credential_report`]: a 400-day-old key, a key never
/// used, a root key, the zero-filled day) plus `deploy-bot` holding two active keys and a team
/// of ordinary users with one recent key each.
pub fn credential_report(generated: DateTime<Utc>) -> String {
    let t = |days: i64| (generated - Duration::days(days)).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let arn = |user: &str| format!("arn:aws:iam::{}:user/{user}", planted::REPORT_ACCOUNT);
    let key = |rotated: i64, used: i64| format!("true,{},{},eu-west-1,sts", t(rotated), t(used));
    let none = "false,N/A,N/A,N/A,N/A";
    let mut report = planted::credential_report(generated);
    let mut row = |user: &str, created: i64, key1: String, key2: &str| {
        report.push_str(&format!(
            "{user},{},{},false,N/A,N/A,N/A,false,{key1},{key2},false,N/A,false,N/A\n",
            arn(user),
            t(created)
        ));
    };
    row("deploy-bot", 60, key(45, 1), &key(3, 0));
    for (k, user) in ["etl-runner", "metrics-exporter", "backup-sync", "terraform"].iter().enumerate() {
        let k = k as i64;
        row(user, 70 + 5 * k, key(20 + 15 * k, k % 2), none);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_deterministic_and_distinct() {
        let now = Utc::now();
        let a = tenants(3, 5, now);
        let b = tenants(3, 5, now);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].id, planted::TENANT);
        assert_eq!(a[2].id, "33333333-3333-3333-3333-333333333333");
        assert_eq!(a[1].signins, b[1].signins, "same inputs, same records");
        let ids: std::collections::HashSet<&str> =
            a.iter().flat_map(|t| t.signins.iter().map(|s| s["id"].as_str().unwrap_or_default())).collect();
        assert_eq!(ids.len(), a.iter().map(|t| t.signins.len()).sum::<usize>(), "sign-in ids are unique");
        assert!(a[0].signins.len() > planted::signins(planted::anchor(now)).len());
        let anchor = planted::anchor(now);
        for s in a.iter().flat_map(|t| &t.signins) {
            let at: DateTime<Utc> = s["createdDateTime"].as_str().and_then(|t| t.parse().ok()).unwrap_or(now);
            assert!(at <= anchor, "every record is older than the anchor: {at}");
        }
    }

    #[test]
    fn the_report_has_a_user_with_two_active_keys() {
        let report = credential_report(Utc::now());
        let line = report.lines().find(|l| l.starts_with("deploy-bot,")).unwrap_or_default();
        assert_eq!(line.matches(",true,").count(), 2, "{line}");
        assert_eq!(report.lines().next().map(|h| h.split(',').count()), line.split(',').count().into());
    }
}
