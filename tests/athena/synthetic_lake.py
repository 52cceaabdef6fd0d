"""A small lake written with pyarrow for the query tests: the three tables with the nested
schemas of shared/src/schema (Graph names declared once and converted to snake_case, as the
Rust mapper does), hive folders `<table>/dt=YYYY-MM-DD/`, and the planted cases of the lead's
end-to-end test in miniature. Days are relative to today (UTC), as the queries' ranges are.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("ms", tz="UTC")
TENANT = "11111111-1111-1111-1111-111111111111"


# --- schema: a port of shared/src/schema/{graph,entra_signins,entra_directory_audits}.rs ---

def s(name):
    return pa.field(name, pa.string())


def b(name):
    return pa.field(name, pa.bool_())


def i32(name):
    return pa.field(name, pa.int32())


def f64(name):
    return pa.field(name, pa.float64())


def ts(name):
    return pa.field(name, TS)


def strings(name):
    return pa.field(name, pa.list_(pa.field("item", pa.string())))


def obj(name, fields):
    return pa.field(name, pa.struct(fields))


def lst(name, fields):
    return pa.field(name, pa.list_(pa.field("item", pa.struct(fields))))


RENAMES = {"createdDateTime": "created_at", "activityDateTime": "activity_at"}


def snake_case(name: str) -> str:
    """heck's to_snake_case for Graph's names: `riskEventTypes_v2` -> `risk_event_types_v2`."""
    if name in RENAMES:
        return RENAMES[name]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def lake_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(t):
        return pa.struct([lake_field(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, lake_type(t.value_type)))
    return t


def lake_field(f: pa.Field) -> pa.Field:
    return pa.field(snake_case(f.name), lake_type(f.type))


def lake_schema(graph_fields, context_columns=()) -> pa.Schema:
    fields = [lake_field(f) for f in graph_fields]
    at = [f.name for f in fields].index("id") + 1
    extra = [pa.field("tenant_id", pa.string(), nullable=False)] + [pa.field(c, pa.string()) for c in context_columns]
    fields[at:at] = extra
    fields += [
        pa.field("raw", pa.string(), nullable=False),
        pa.field("ingested_at", TS, nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
    return pa.schema(fields)


SIGNIN_GRAPH_FIELDS = [
    s("id"), ts("createdDateTime"), s("userId"), s("userPrincipalName"), s("userDisplayName"), s("userType"),
    s("appId"), s("appDisplayName"), s("ipAddress"), s("clientAppUsed"), s("userAgent"), s("correlationId"),
    s("conditionalAccessStatus"), b("isInteractive"), strings("signInEventTypes"),
    obj("status", [i32("errorCode"), s("failureReason"), s("additionalDetails")]),
    obj("location", [s("city"), s("state"), s("countryOrRegion"),
                     obj("geoCoordinates", [f64("altitude"), f64("latitude"), f64("longitude")])]),
    obj("deviceDetail", [s("deviceId"), s("displayName"), s("operatingSystem"), s("browser"), b("isCompliant"),
                         b("isManaged"), s("trustType")]),
    lst("appliedConditionalAccessPolicies", [s("id"), s("displayName"), strings("enforcedGrantControls"),
                                             strings("enforcedSessionControls"), s("result")]),
    s("riskDetail"), s("riskLevelAggregated"), s("riskLevelDuringSignIn"), s("riskState"), strings("riskEventTypes"),
    strings("riskEventTypes_v2"), s("resourceDisplayName"), s("resourceId"), s("resourceTenantId"), s("homeTenantId"),
    s("servicePrincipalId"), s("servicePrincipalName"),
    obj("authenticationAppDeviceDetails", [s("appVersion"), s("clientApp"), s("deviceId"), s("operatingSystem")]),
    s("authenticationRequirement"), strings("authenticationMethodsUsed"), s("authenticationProtocol"),
    lst("authenticationDetails", [s("authenticationMethod"), s("authenticationMethodDetail"),
                                  ts("authenticationStepDateTime"), s("authenticationStepRequirement"),
                                  s("authenticationStepResultDetail"), b("succeeded")]),
    lst("authenticationProcessingDetails", [s("key"), s("value")]),
    s("crossTenantAccessType"), s("tokenIssuerType"), s("tokenIssuerName"), s("appOwnerTenantId"),
    s("resourceOwnerTenantId"), s("alternateSignInName"), s("signInIdentifier"), s("signInIdentifierType"),
    s("sessionId"), s("originalRequestId"), i32("processingTimeInMilliseconds"), b("flaggedForReview"),
    b("isThroughGlobalSecureAccess"), s("globalSecureAccessIpAddress"),
    obj("managedServiceIdentity", [s("msiType"), s("associatedResourceId"), s("federatedTokenId"),
                                   s("federatedTokenIssuer")]),
    obj("mfaDetail", [s("authMethod"), s("authDetail")]),
]


def _identity():
    return [s("id"), s("displayName"), s("userPrincipalName"), s("ipAddress"), s("userType"), s("homeTenantId"),
            s("homeTenantName")]


AUDIT_GRAPH_FIELDS = [
    s("id"), ts("activityDateTime"), s("activityDisplayName"), s("category"), s("operationType"), s("result"),
    s("resultReason"), s("loggedByService"), s("correlationId"),
    obj("initiatedBy", [obj("user", _identity()),
                        obj("app", [s("appId"), s("displayName"), s("servicePrincipalId"),
                                    s("servicePrincipalName")])]),
    lst("targetResources", [s("id"), s("displayName"), s("type"), s("userPrincipalName"), s("groupType"),
                            lst("modifiedProperties", [s("displayName"), s("oldValue"), s("newValue")])]),
    lst("additionalDetails", [s("key"), s("value")]),
]

SIGNINS_SCHEMA = lake_schema(SIGNIN_GRAPH_FIELDS, ["sign_in_event_type"])
AUDITS_SCHEMA = lake_schema(AUDIT_GRAPH_FIELDS)
KEYS_SCHEMA = pa.schema([
    pa.field("account_id", pa.string(), nullable=False),
    pa.field("user_name", pa.string(), nullable=False),
    pa.field("user_arn", pa.string()),
    pa.field("access_key_id", pa.string()),
    pa.field("key_slot", pa.int32(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("created_at", TS),
    pa.field("last_used_at", TS),
    pa.field("last_used_region", pa.string()),
    pa.field("last_used_service", pa.string()),
    pa.field("age_days", pa.int64()),
    pa.field("days_since_last_used", pa.int64()),
    pa.field("user_created_at", TS),
    pa.field("password_enabled", pa.bool_()),
    pa.field("mfa_active", pa.bool_()),
    pa.field("report_generated_at", TS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])


# --- planted data ---

def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def at(days_ago: int, hour: int = 8, minute: int = 0, second: int = 0) -> dt.datetime:
    d = today() - dt.timedelta(days=days_ago)
    return dt.datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=dt.timezone.utc)


def write(lake: Path, table: str, schema: pa.Schema, rows: list[dict], time_column: str) -> None:
    """Writes rows into hive folders by the UTC day of `time_column` (IAM: of the report)."""
    by_day: dict[str, list[dict]] = {}
    for row in rows:
        by_day.setdefault(row[time_column].date().isoformat(), []).append(row)
    for day, day_rows in by_day.items():
        folder = lake / table / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), folder / "part-0000.parquet")


_ids = iter(range(1, 1_000_000))


def signin(upn, when, *, country="US", city="Seattle", error=0, reason=None, app="Office 365 SharePoint Online",
           client="Browser", requirement="multiFactorAuthentication", event_type="interactiveUser", ip="198.51.100.7",
           ca="success", policies=None, risk_during="none", risk_aggregated="none", risk_state="none", sp_name=None):
    n = next(_ids)
    return {
        "id": f"signin-{n:05d}",
        "tenant_id": TENANT,
        "sign_in_event_type": event_type,
        "created_at": when,
        "user_id": None if upn is None else f"user-{upn}",
        "user_principal_name": upn,
        "app_id": f"app-{app}",
        "app_display_name": app,
        "ip_address": ip,
        "client_app_used": client,
        "correlation_id": f"corr-{n}",
        "conditional_access_status": ca,
        "is_interactive": event_type == "interactiveUser",
        "status": {"error_code": error, "failure_reason": reason, "additional_details": None},
        "location": None if country is None else {
            "city": city, "state": None, "country_or_region": country,
            "geo_coordinates": {"altitude": None, "latitude": 1.0, "longitude": 2.0}},
        "applied_conditional_access_policies": policies or [],
        "risk_detail": "none",
        "risk_level_aggregated": risk_aggregated,
        "risk_level_during_sign_in": risk_during,
        "risk_state": risk_state,
        "risk_event_types_v2": [],
        "service_principal_name": sp_name,
        "authentication_requirement": requirement,
        "raw": json.dumps({"id": f"signin-{n:05d}"}),
        "ingested_at": at(0, 0),
        "run_id": "synthetic",
    }


def signins() -> list[dict]:
    rows = []
    home = {"alice": ("US", "Seattle"), "bob": ("US", "Boston"), "carol": ("DE", "Berlin"), "dave": ("DE", "Munich")}
    for user, (country, city) in home.items():
        for day in range(3, -1, -1):
            rows.append(signin(f"{user}@contoso.com", at(day, 7), country=country, city=city))
    # alice: first sign-in from BR today; a few non-interactive sign-ins from home.
    rows.append(signin("alice@contoso.com", at(0, 9), country="BR", city="São Paulo", ip="192.0.2.10"))
    rows += [signin("alice@contoso.com", at(2, 10, m), event_type="nonInteractiveUser") for m in range(2)]
    # dave: FR 55 days ago and again two days ago (not seen there in the 30 days before): new.
    # Home (DE) 50 and 28 days ago, so DE is never new within the last 30 days.
    rows.append(signin("dave@contoso.com", at(55, 12), country="FR", city="Paris"))
    rows += [signin("dave@contoso.com", at(d, 12), country="DE", city="Munich") for d in (50, 28)]
    rows.append(signin("dave@contoso.com", at(2, 12), country="FR", city="Paris"))
    # dave: a single-factor success today.
    rows.append(signin("dave@contoso.com", at(0, 11), country="DE", city="Munich",
                       requirement="singleFactorAuthentication"))
    # bob: 12 failures within 10 minutes yesterday (and one 40 days ago, out of range).
    bad = "Error validating credentials due to invalid username or password."
    rows += [signin("bob@contoso.com", at(1, 10, m * 50 // 60, (m * 50) % 60), error=50126, reason=bad,
                    app="Office 365 Exchange Online", ip="203.0.113.50") for m in range(12)]
    rows.append(signin("bob@contoso.com", at(40, 10), error=50126, reason=bad, app="Office 365 Exchange Online"))
    # carol: a high-risk sign-in yesterday.
    rows.append(signin("carol@contoso.com", at(1, 13), country="DE", city="Berlin", risk_during="high",
                       risk_state="atRisk"))
    # erin: IMAP4 (legacy, single factor) two days ago.
    rows.append(signin("erin@contoso.com", at(2, 14), client="IMAP4", app="Office 365 Exchange Online",
                       requirement="singleFactorAuthentication"))
    # frank: blocked by Conditional Access yesterday (one policy failed, one not applied).
    rows.append(signin("frank@contoso.com", at(1, 15), country="NL", city="Amsterdam", error=53003,
                       reason="Access has been blocked by Conditional Access policies.", ca="failure",
                       policies=[
                           {"id": "p1", "display_name": "Require compliant device", "enforced_grant_controls": ["RequireCompliantDevice"],
                            "enforced_session_controls": [], "result": "failure"},
                           {"id": "p2", "display_name": "Block legacy authentication", "enforced_grant_controls": ["Block"],
                            "enforced_session_controls": [], "result": "notApplied"},
                       ]))
    # workloads: a service principal today, a managed identity yesterday.
    rows += [signin(None, at(0, 1, m), country=None, app="backup-runner", client=None, requirement=None,
                    event_type="servicePrincipal", sp_name="backup-runner", ip="10.0.0.5") for m in range(5)]
    rows += [signin(None, at(1, 2, m), country=None, app="func-payroll", client=None, requirement=None,
                    event_type="managedIdentity", sp_name="func-payroll", ip="10.0.0.6") for m in range(3)]
    return rows


def audit(activity, category, when, *, initiated_upn="admin@contoso.com", targets=(), result="success"):
    n = next(_ids)
    return {
        "id": f"audit-{n:05d}",
        "tenant_id": TENANT,
        "activity_at": when,
        "activity_display_name": activity,
        "category": category,
        "operation_type": "Update",
        "result": result,
        "result_reason": "",
        "logged_by_service": "Core Directory",
        "correlation_id": f"corr-{n}",
        "initiated_by": {"user": {"id": "u-1", "display_name": None, "user_principal_name": initiated_upn,
                                  "ip_address": "198.51.100.1"}, "app": None},
        "target_resources": list(targets),
        "additional_details": [],
        "raw": json.dumps({"id": f"audit-{n:05d}"}),
        "ingested_at": at(0, 0),
        "run_id": "synthetic",
    }


def prop(name, new, old=None):
    return {"display_name": name, "old_value": old, "new_value": new}


def audits() -> list[dict]:
    eve = {"id": "eve-id", "display_name": None, "type": "User", "user_principal_name": "eve@contoso.com",
           "modified_properties": [prop("Role.ObjectID", '"role-id"'), prop("Role.DisplayName", '"Global Administrator"'),
                                   prop("Role.TemplateId", '"62e90394"')]}
    role = {"id": "role-id", "display_name": "Global Administrator", "type": "Role", "modified_properties": []}
    shady = {"id": "sp-id", "display_name": "Shady Mail Reader", "type": "ServicePrincipal",
             "modified_properties": [prop("ConsentContext.IsAdminConsent", '"False"'),
                                     prop("ConsentAction.Permissions", '"Scope: Mail.Read offline_access"')]}
    user = lambda upn: {"id": f"id-{upn}", "display_name": None, "type": "User", "user_principal_name": upn,
                        "modified_properties": []}
    rows = [
        audit("Add member to role", "RoleManagement", at(1, 9), targets=[eve, role]),
        audit("Consent to application", "ApplicationManagement", at(2, 9), initiated_upn="alice@contoso.com",
              targets=[shady]),
        audit("Reset user password", "UserManagement", at(0, 9), targets=[user("bob@contoso.com")]),
        audit("Change user password", "UserManagement", at(1, 10), initiated_upn="carol@contoso.com",
              targets=[user("carol@contoso.com")]),
        audit("Update user", "UserManagement", at(3, 9), targets=[user("dave@contoso.com")], result="failure"),
        audit("Add member to role", "RoleManagement", at(45, 9), targets=[eve, role]),
    ]
    rows += [audit("Update user", "UserManagement", at(d, 11), targets=[user("dave@contoso.com")]) for d in range(3)]
    return rows


def key(account, user, slot, created_days_ago, snapshot_days_ago, *, status="Active", used_days_ago=None, key_id=None):
    report = at(snapshot_days_ago, 6)
    created = at(created_days_ago, 12) if created_days_ago is not None else None
    used = at(used_days_ago, 12) if used_days_ago is not None else None
    return {
        "account_id": account,
        "user_name": user,
        "user_arn": f"arn:aws:iam::{account}:user/{user}",
        "access_key_id": key_id if key_id is not None or user == "<root_account>" else f"AKIA…{slot}{user[:3].upper()}",
        "key_slot": slot,
        "status": status,
        "created_at": created,
        "last_used_at": used,
        "last_used_region": None,
        "last_used_service": "s3" if used else None,
        "age_days": None if created is None else (report - created).days,
        "days_since_last_used": None if used is None else (report - used).days,
        "user_created_at": created,
        "password_enabled": False,
        "mfa_active": False,
        "report_generated_at": report,
        "run_id": "synthetic",
    }


def access_keys() -> list[dict]:
    a, b_ = "123456789012", "210987654321"
    rows = []
    # Account A: snapshots yesterday and today. deploy-bot's two keys are new today.
    for snap in (1, 0):
        rows.append(key(a, "ops", 1, 10, snap))
        rows.append(key(a, "ops2", 1, 8, snap, used_days_ago=1))
    rows.append(key(a, "deploy-bot", 1, 0, 0))
    rows.append(key(a, "deploy-bot", 2, 0, 0))
    # An old snapshot (20 days ago, beyond the latest-snapshot lookback) with an old key.
    rows.append(key(a, "gone-user", 1, 300, 20))
    # Account B: latest snapshot yesterday (a day behind A).
    rows.append(key(b_, "legacy-ci", 1, 400, 1, used_days_ago=200))
    rows.append(key(b_, "old-admin", 1, 120, 1))
    rows.append(key(b_, "retired", 1, 300, 1, status="Inactive"))
    rows.append(key(b_, "<root_account>", 1, 30, 1))
    return rows


def build(lake: Path) -> Path:
    write(lake, "entra_signins", SIGNINS_SCHEMA, signins(), "created_at")
    write(lake, "entra_directory_audits", AUDITS_SCHEMA, audits(), "activity_at")
    write(lake, "aws_iam_access_keys", KEYS_SCHEMA, access_keys(), "report_generated_at")
    return lake


if __name__ == "__main__":
    import sys
    print(build(Path(sys.argv[1])))
