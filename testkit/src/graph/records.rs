//! Realistic sign-in and directory-audit records, modelled on Microsoft's published examples
//! (`shared/fixtures/graph/`) and the beta CSDL. Values vary deterministically with the id, so
//! data sets are reproducible but not all identical.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::query::format_time;

/// The tenant every generated record claims to come from.
const HOME_TENANT: &str = "0b5e2c3d-7a41-4f8e-9c2b-5d6e7f8a9b0c";

const USERS: &[(&str, &str)] = &[
    ("Adele Vance", "adelev"),
    ("Alex Wilber", "alexw"),
    ("Diego Siciliani", "diegos"),
    ("Grady Archie", "gradya"),
    ("Isaiah Langer", "isaiahl"),
    ("Johanna Lorenz", "johannal"),
    ("Lee Gu", "leeg"),
    ("Megan Bowen", "meganb"),
    ("Nestor Wilke", "nestorw"),
    ("Pradeep Gupta", "pradeepg"),
];

const APPS: &[(&str, &str)] = &[
    ("Graph explorer", "de8bc8b5-d9f9-48b1-a8ad-b748da725064"),
    ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
    ("Microsoft Office", "d3590ed6-52b3-4102-aeff-aad2292ab01c"),
    ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
    ("Microsoft Authentication Broker", "29d9ed98-a469-4536-ade2-f981bc1d605e"),
    ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
];

const RESOURCES: &[(&str, &str)] = &[
    ("Microsoft Graph", "00000003-0000-0000-c000-000000000000"),
    ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
    ("Windows Azure Service Management API", "797f4846-ba00-4fd7-ba43-dac1f8f63013"),
    ("Microsoft Teams Services", "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe"),
];

const SERVICE_PRINCIPALS: &[&str] = &["auditlake-collector", "ci-deploy", "backup-agent", "func-hr-sync"];

/// (city, state, country, latitude, longitude, first IPv4 octet)
const LOCATIONS: &[(&str, &str, &str, f64, f64, u8)] = &[
    ("Redmond", "Washington", "US", 47.68050003051758, -122.12094116210938, 131),
    ("Seattle", "Washington", "US", 47.60356903076172, -122.32945251464844, 52),
    ("London", "England", "GB", 51.5072021484375, -0.12759999930858612, 81),
    ("Berlin", "Berlin", "DE", 52.52000045776367, 13.404999732971191, 91),
    ("Sydney", "New South Wales", "AU", -33.86880111694336, 151.20899963378906, 203),
    ("Toronto", "Ontario", "CA", 43.653228759765625, -79.38318634033203, 99),
    ("Bengaluru", "Karnataka", "IN", 12.971599578857422, 77.59459686279297, 49),
];

/// (operatingSystem, browser, userAgent)
const DEVICES: &[(&str, &str, &str)] = &[
    (
        "Windows 10",
        "Edge 80.0.361",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.132 Safari/537.36 Edg/80.0.361.66",
    ),
    (
        "Windows 11",
        "Chrome 131.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "MacOs",
        "Safari 17.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    ),
    (
        "Ios 17",
        "Mobile Safari 17.2",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    ),
    (
        "Android",
        "Chrome Mobile 130.0.6723",
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36",
    ),
];

/// (errorCode, failureReason, additionalDetails)
const FAILURES: &[(i64, &str, &str)] = &[
    (50126, "Error validating credentials due to invalid username or password.", "The user didn't enter the right credentials."),
    (50074, "Strong Authentication is required.", "The user is required to perform multi-factor authentication."),
    (
        50140,
        "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
        "Expected part of the login flow.",
    ),
];

/// Deterministic bytes for a seed.
fn digest(seed: &str) -> [u8; 32] {
    Sha256::digest(seed.as_bytes()).into()
}

/// A stable GUID derived from a seed and a purpose.
fn guid(seed: &str, purpose: &str) -> String {
    let d = digest(&format!("{purpose}/{seed}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn pick<T>(items: &[T], byte: u8) -> &T {
    &items[usize::from(byte) % items.len()]
}

/// A beta `signIn` like Microsoft's example, with the beta-only properties a real one carries.
///
/// `created` is rendered the way Graph does (100 ns precision, trailing zeros dropped), so give
/// varied times to get varied fractions. `event_type` becomes `signInEventTypes: [event_type]`;
/// `isInteractive` is true only for `interactiveUser`.
pub fn signin_record(id: &str, created: DateTime<Utc>, event_type: &str) -> Value {
    let h = digest(id);
    let (user_name, user_alias) = *pick(USERS, h[0]);
    let (app_name, app_id) = *pick(APPS, h[1]);
    let (resource_name, resource_id) = *pick(RESOURCES, h[2]);
    let (city, state, country, lat, lon, octet) = *pick(LOCATIONS, h[3]);
    let (os, browser, user_agent) = *pick(DEVICES, h[4]);
    let ip = if h[5].is_multiple_of(7) {
        format!("2001:4898:{:x}:{:x}::{:x}", h[6], h[7], u16::from_be_bytes([h[8], h[9]]))
    } else {
        format!("{octet}.{}.{}.{}", h[6], h[7], h[8].max(1))
    };
    let interactive = event_type == "interactiveUser";
    let user_like = matches!(event_type, "interactiveUser" | "nonInteractiveUser");
    let failure = (h[10].is_multiple_of(8)).then(|| *pick(FAILURES, h[11]));
    let status = match failure {
        Some((code, reason, details)) => {
            json!({"errorCode": code, "failureReason": reason, "additionalDetails": details})
        }
        None => json!({"errorCode": 0, "failureReason": null, "additionalDetails": null}),
    };
    let mfa = interactive && h[12].is_multiple_of(2);
    let step_time = format_time(created);
    let authentication_details = if !user_like {
        json!([])
    } else if !interactive {
        json!([{"authenticationStepDateTime": step_time, "authenticationMethod": "Previously satisfied", "authenticationMethodDetail": null,
                "succeeded": failure.is_none(), "authenticationStepResultDetail": "First factor requirement satisfied by claim in the token", "authenticationStepRequirement": ""}])
    } else if mfa {
        json!([
            {"authenticationStepDateTime": step_time, "authenticationMethod": "Password", "authenticationMethodDetail": "Password in the cloud",
             "succeeded": true, "authenticationStepResultDetail": "Correct password", "authenticationStepRequirement": "Primary authentication"},
            {"authenticationStepDateTime": step_time, "authenticationMethod": "Mobile app notification", "authenticationMethodDetail": null,
             "succeeded": failure.is_none(), "authenticationStepResultDetail": "MFA successfully completed", "authenticationStepRequirement": "Multi-factor authentication"}
        ])
    } else {
        json!([{"authenticationStepDateTime": step_time, "authenticationMethod": "Password", "authenticationMethodDetail": "Password in the cloud",
                "succeeded": failure.is_none(), "authenticationStepResultDetail": "Correct password", "authenticationStepRequirement": "Primary authentication"}])
    };
    let (user_id, user_display, upn, sp_name, sp_id) = if user_like {
        (guid(user_alias, "user"), json!(user_name), json!(format!("{user_alias}@contoso.com")), "", String::new())
    } else {
        let sp = *pick(SERVICE_PRINCIPALS, h[13]);
        // Service-principal sign-ins carry an empty userId (the property is non-nullable).
        (String::new(), Value::Null, Value::Null, sp, guid(sp, "sp"))
    };
    let ca_status = match (user_like, h[14] % 3) {
        (false, _) | (true, 0) => "notApplied",
        (true, 1) => "success",
        _ => {
            if failure.is_some() {
                "failure"
            } else {
                "success"
            }
        }
    };
    let ca_result = if ca_status == "notApplied" { "notEnabled" } else { "success" };
    // Built in parts: one json! this size exceeds the default macro recursion limit.
    let mut record = json!({
        "id": id,
        "createdDateTime": format_time(created),
        "userDisplayName": user_display,
        "userPrincipalName": upn,
        "userId": user_id,
        "userType": "member",
        "appId": app_id,
        "appDisplayName": app_name,
        "ipAddress": ip,
        "clientAppUsed": if !user_like { Value::Null } else if interactive && h[15].is_multiple_of(2) { json!("Browser") } else { json!("Mobile Apps and Desktop clients") },
        "userAgent": if user_like { json!(user_agent) } else { Value::Null },
        "correlationId": guid(id, "correlation"),
        "conditionalAccessStatus": ca_status,
        "isInteractive": interactive,
        "tokenIssuerType": "AzureAD",
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
    });
    extend(
        &mut record,
        json!({
            "riskEventTypes": [],
            "riskEventTypes_v2": [],
            "resourceDisplayName": resource_name,
            "resourceId": resource_id,
            "homeTenantId": HOME_TENANT,
            "authenticationRequirement": if mfa { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
            "servicePrincipalName": sp_name,
            "servicePrincipalId": sp_id,
            "signInEventTypes": [event_type],
            "crossTenantAccessType": "none",
        }),
    );
    extend(
        &mut record,
        json!({
            "status": status,
            "deviceDetail": {
                "deviceId": if user_like && h[19].is_multiple_of(2) { json!(guid(user_alias, "device")) } else { json!("") },
                "displayName": null,
                "operatingSystem": if user_like { os } else { "" },
                "browser": if user_like { browser } else { "" },
                "isCompliant": user_like && h[19].is_multiple_of(2),
                "isManaged": user_like && h[19].is_multiple_of(2),
                "trustType": null
            },
            "location": {
                "city": city,
                "state": state,
                "countryOrRegion": country,
                "geoCoordinates": {"altitude": null, "latitude": lat, "longitude": lon}
            },
            "authenticationDetails": authentication_details,
            "appliedConditionalAccessPolicies": [
                {"id": "de7e60eb-ed89-4d73-8205-2227def6b7c9", "displayName": "SharePoint limited access for guest workers",
                 "enforcedGrantControls": [], "enforcedSessionControls": [], "result": "notEnabled"},
                {"id": "6701123a-b4c6-48af-8565-565c8bf7cabc", "displayName": "Require MFA for admins",
                 "enforcedGrantControls": if ca_result == "success" { json!(["Mfa"]) } else { json!([]) }, "enforcedSessionControls": [], "result": ca_result}
            ]
        }),
    );
    if !user_like {
        extend(
            &mut record,
            json!({"clientCredentialType": if h[16].is_multiple_of(2) { "certificate" } else { "clientSecret" }}),
        );
    }
    if event_type == "managedIdentity" {
        let resource = format!(
            "/subscriptions/{}/resourceGroups/rg-auditlake/providers/Microsoft.Web/sites/{sp_name}",
            guid("sub", "subscription")
        );
        extend(
            &mut record,
            json!({"managedServiceIdentity": {"msiType": "systemAssigned", "associatedResourceId": resource, "federatedTokenId": null, "federatedTokenIssuer": null}}),
        );
    }
    record
}

/// Adds `more`'s properties to `record` (both objects).
fn extend(record: &mut Value, more: Value) {
    if let (Value::Object(record), Value::Object(more)) = (record, more) {
        record.extend(more);
    }
}

/// A stable directory-audit id in Graph's shape: `Directory_<guid>_<5 chars>_<n>`.
pub fn audit_id(n: u64) -> String {
    let d = digest(&format!("audit/{n}"));
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let code: String = d[20..25].iter().map(|&b| char::from(*pick(ALPHABET, b))).collect();
    format!("Directory_{}_{code}_{n}", guid(&n.to_string(), "audit"))
}

/// A `directoryAudit` like Microsoft's example. `id` is used verbatim (see [`audit_id`] for the
/// real shape); `modifiedProperties[].oldValue/newValue` are strings holding JSON text, as on Graph.
pub fn audit_record(id: &str, activity: DateTime<Utc>) -> Value {
    let h = digest(id);
    let (actor_name, actor_alias) = *pick(USERS, h[0]);
    let (target_name, target_alias) = *pick(USERS, h[1]);
    let target_user = json!({
        "id": guid(target_alias, "user"), "displayName": null, "type": "User",
        "userPrincipalName": format!("{target_alias}@contoso.com"), "groupType": null,
        "modifiedProperties": [], "administrativeUnits": []
    });
    let group_name = *pick(&["Finance", "Sales and Marketing", "Global Admins - Break Glass", "Retail"], h[2]);
    let group_id = guid(group_name, "group");
    let (category, activity_name, operation, targets) = match h[3] % 5 {
        0 => (
            "UserManagement",
            "Update user",
            "Update",
            json!([{
                "id": guid(target_alias, "user"), "displayName": null, "type": "User",
                "userPrincipalName": format!("{target_alias}@contoso.com"), "groupType": null, "administrativeUnits": [],
                "modifiedProperties": [
                    {"displayName": "AccountEnabled", "oldValue": "[true]", "newValue": "[false]"},
                    {"displayName": "Included Updated Properties", "oldValue": null, "newValue": "\"AccountEnabled\""},
                    {"displayName": "TargetId.UserType", "oldValue": null, "newValue": "\"Member\""}
                ]
            }]),
        ),
        1 => (
            "GroupManagement",
            "Add member to group",
            "Assign",
            json!([
                {"id": guid(target_alias, "user"), "displayName": null, "type": "User", "userPrincipalName": format!("{target_alias}@contoso.com"),
                 "groupType": null, "administrativeUnits": [],
                 "modifiedProperties": [
                    {"displayName": "Group.ObjectID", "oldValue": null, "newValue": format!("\"{group_id}\"")},
                    {"displayName": "Group.DisplayName", "oldValue": null, "newValue": format!("\"{group_name}\"")}
                 ]},
                {"id": group_id, "displayName": group_name, "type": "Group", "groupType": "unifiedGroups", "modifiedProperties": [], "administrativeUnits": []}
            ]),
        ),
        2 => {
            let key_id = guid(id, "key");
            (
                "ApplicationManagement",
                "Update application – Certificates and secrets management ",
                "Update",
                json!([{
                    "id": guid(id, "application"), "displayName": "auditlake-collector", "type": "Application", "groupType": null, "administrativeUnits": [],
                    "modifiedProperties": [
                        {"displayName": "KeyDescription", "oldValue": "[]",
                         "newValue": format!("[\"[KeyIdentifier={key_id},KeyType=Password,KeyUsage=Verify,DisplayName=rotated by {actor_alias}]\"]")},
                        {"displayName": "Included Updated Properties", "oldValue": null, "newValue": "\"KeyDescription\""}
                    ]
                }]),
            )
        }
        3 => (
            "RoleManagement",
            "Add member to role",
            "Assign",
            json!([{
                "id": guid(target_alias, "user"), "displayName": target_name, "type": "User", "userPrincipalName": format!("{target_alias}@contoso.com"),
                "groupType": null, "administrativeUnits": [],
                "modifiedProperties": [
                    {"displayName": "Role.ObjectID", "oldValue": null, "newValue": format!("\"{}\"", guid("Global Reader", "role"))},
                    {"displayName": "Role.DisplayName", "oldValue": null, "newValue": "\"Global Reader\""},
                    {"displayName": "Role.TemplateId", "oldValue": null, "newValue": "\"f2ef992c-3afb-46b9-b7cf-a126ee74c451\""}
                ]
            }]),
        ),
        _ => {
            let policy_id = guid(group_name, "policy");
            let old =
                json!({"id": policy_id, "displayName": "Require MFA for admins", "state": "enabledForReportingButNotEnforced"});
            let new = json!({"id": policy_id, "displayName": "Require MFA for admins", "state": "enabled"});
            (
                "Policy",
                "Update conditional access policy",
                "Update",
                json!([{
                "id": policy_id, "displayName": "Require MFA for admins", "type": "Policy", "groupType": null, "administrativeUnits": [],
                "modifiedProperties": [{"displayName": "ConditionalAccessPolicy", "oldValue": old.to_string(), "newValue": new.to_string()}]
            }, target_user]),
            )
        }
    };
    let by_app = h[4].is_multiple_of(4);
    let initiated_by = if by_app {
        json!({"user": null, "app": {"appId": null, "displayName": "Microsoft Azure AD Group-Based Licensing", "servicePrincipalId": guid("gbl", "sp"), "servicePrincipalName": null}})
    } else {
        json!({"user": {"id": guid(actor_alias, "user"), "displayName": actor_name, "userPrincipalName": format!("{actor_alias}@contoso.com"),
                        "ipAddress": format!("131.107.{}.{}", h[5], h[6].max(1)), "userType": null, "homeTenantId": HOME_TENANT, "homeTenantName": null},
               "app": null})
    };
    let success = !h[7].is_multiple_of(10);
    json!({
        "id": id,
        "category": category,
        "correlationId": guid(id, "correlation"),
        "result": if success { "success" } else { "failure" },
        "resultReason": if success { "" } else { "Microsoft.Online.Workflows.ObjectAlreadyExistsException" },
        "activityDisplayName": activity_name,
        "activityDateTime": format_time(activity),
        "loggedByService": "Core Directory",
        "operationType": operation,
        "userAgent": if by_app { Value::Null } else { json!(pick(DEVICES, h[8]).2) },
        "initiatedBy": initiated_by,
        "targetResources": targets,
        "additionalDetails": [
            {"key": "User-Agent", "value": pick(DEVICES, h[8]).2},
            {"key": "UserType", "value": "Member"}
        ]
    })
}
