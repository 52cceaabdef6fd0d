"""The Athena query files (athena/queries): Trino syntax, headers, partition pruning on `dt`,
the portable subset, and their answers over a small synthetic lake run by
scripts/checks/run_queries.py (DuckDB)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import synthetic_lake

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "athena" / "queries"
RUNNER = ROOT / "scripts" / "checks" / "run_queries.py"
LAKE_TABLES = {"entra_signins", "entra_directory_audits", "aws_iam_access_keys"}
KNOWN_TABLES = LAKE_TABLES | {"calendar"}
VARIANT_SUFFIXES = (".datafusion.sql", ".duckdb.sql")
HEADER_KEYS = ("title", "answers", "visual", "tables")

ATHENA_FILES = sorted(p for p in QUERIES.glob("*.sql") if not p.name.endswith(VARIANT_SUFFIXES))
VARIANT_FILES = sorted(p for p in QUERIES.glob("*.sql") if p.name.endswith(VARIANT_SUFFIXES))

# Trino idioms outside the portable subset (shared/reference/sql-portability.md).
NOT_PORTABLE = [
    r"\bdate_diff\s*\(", r"\bdate_add\s*\(", r"\bcount_if\s*\(", r"\bmax_by\s*\(", r"\bmin_by\s*\(",
    r"\bhour\s*\(", r"\bday_of_week\s*\(", r"\bfrom_iso8601_\w+\s*\(", r"\bformat_datetime\s*\(",
    r"\bsequence\s*\(", r"\belement_at\s*\(", r"\b(any|all|none)_match\s*\(", r"\btransform\s*\(",
    r"\bfilter\s*\((?!\s*where\b)", r"->", r"::", r"\bstrftime\s*\(", r"\bapprox_distinct\s*\(",
    r"\blistagg\s*\(", r"\bdate_parse\s*\(",
]
DATE_FORMAT_CODES = {"%Y", "%m", "%d", "%H", "%S", "%T"}


def ids(paths):
    return [p.name for p in paths]


def header(text: str) -> dict[str, str]:
    values = {}
    for key, line in zip(HEADER_KEYS, text.splitlines()[:4]):
        m = re.fullmatch(rf"-- {key}: (\S.*)", line)
        assert m, f"line {len(values) + 1} must be '-- {key}: ...', is {line!r}"
        values[key] = m.group(1).strip()
    return values


def without_comments(text: str) -> str:
    return "\n".join(re.sub(r"--.*$", "", line) for line in text.splitlines())


def tables_of(tree: exp.Expression) -> set[str]:
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


def pruned_by_dt(table: exp.Table) -> bool:
    """Whether the SELECT reading `table` has a `dt` bound (>=, >, =, BETWEEN, IN) on it, joined
    to the WHERE by AND only (so Athena's partition projection can prune on it)."""
    select = table.find_ancestor(exp.Select)
    where = select.args.get("where") if select else None
    if where is None:
        return False
    alias = table.alias_or_name
    for column in where.find_all(exp.Column):
        if column.name != "dt" or column.table not in ("", alias):
            continue
        predicate = column.parent
        if not isinstance(predicate, (exp.GTE, exp.GT, exp.EQ, exp.Between, exp.In)):
            continue
        if isinstance(predicate, (exp.GTE, exp.GT)) and predicate.this is not column:
            continue
        node = predicate.parent
        while isinstance(node, (exp.And, exp.Paren)):
            node = node.parent
        if node is where:
            return True
    return False


def test_there_are_query_files():
    assert len(ATHENA_FILES) >= 20


@pytest.mark.parametrize("path", ATHENA_FILES, ids=ids(ATHENA_FILES))
def test_query_file_parses_as_trino_with_header(path: Path):
    assert re.fullmatch(r"(iam|signins|audits)_[a-z0-9_]+\.sql", path.name)
    text = path.read_text(encoding="utf-8")
    values = header(text)
    for key in ("title", "answers"):
        assert "'" not in values[key], f"{key} must be plain text without quotes"
    assert values["visual"] == "none" or values["visual"].startswith("QuickSight ")
    tree = sqlglot.parse_one(text, read="trino")
    declared = {t.strip() for t in values["tables"].split(",")}
    assert declared == tables_of(tree), "the tables line must list the tables the query reads"
    assert declared <= KNOWN_TABLES


@pytest.mark.parametrize("path", ATHENA_FILES + VARIANT_FILES, ids=ids(ATHENA_FILES + VARIANT_FILES))
def test_every_lake_table_is_pruned_by_dt(path: Path):
    tree = sqlglot.parse_one(path.read_text(encoding="utf-8"), read="trino")
    reads = [t for t in tree.find_all(exp.Table) if t.name in LAKE_TABLES]
    assert reads, "reads no lake table"
    for table in reads:
        assert pruned_by_dt(table), f"{table.sql('trino')} is read without a dt bound in its WHERE"


@pytest.mark.parametrize("path", ATHENA_FILES + VARIANT_FILES, ids=ids(ATHENA_FILES + VARIANT_FILES))
def test_query_stays_in_the_portable_subset(path: Path):
    sql = without_comments(path.read_text(encoding="utf-8"))
    for pattern in NOT_PORTABLE:
        assert not re.search(pattern, sql, re.IGNORECASE), f"non-portable idiom {pattern!r}"
    tree = sqlglot.parse_one(sql, read="trino")
    for call in tree.find_all(exp.TimeToStr):
        fmt = call.args["format"]
        codes = set(re.findall(r"%.", fmt.name if isinstance(fmt, exp.Literal) else fmt.sql()))
        assert codes <= DATE_FORMAT_CODES, f"date_format codes {codes - DATE_FORMAT_CODES} differ between engines"


@pytest.mark.parametrize("path", VARIANT_FILES, ids=ids(VARIANT_FILES))
def test_variant_sits_beside_its_athena_file(path: Path):
    base = path.name
    for suffix in VARIANT_SUFFIXES:
        base = base.removesuffix(suffix)
    assert (QUERIES / f"{base}.sql").exists(), f"{path.name} has no {base}.sql beside it"


def test_query_titles_are_unique():
    titles = [header(p.read_text(encoding="utf-8"))["title"] for p in ATHENA_FILES]
    assert len(titles) == len(set(titles))


# --- execution over a synthetic lake ---

def run_runner(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return synthetic_lake.build(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def answers(lake: Path) -> dict:
    done = run_runner("--lake", str(lake))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {p.stem for p in ATHENA_FILES}
    return result


def rows(answers: dict, name: str) -> list[dict]:
    a = answers[name]
    return [dict(zip(a["columns"], r)) for r in a["rows"]]


def day(days_ago: int) -> str:
    return (synthetic_lake.today() - dt.timedelta(days=days_ago)).isoformat()


def test_keys_older_than_90_days(answers):
    got = rows(answers, "iam_keys_older_than_90_days")
    # Account 210987654321's latest snapshot is yesterday's; the 20-day-old snapshot is not read.
    assert [(r["account_id"], r["user_name"]) for r in got] == [("210987654321", "legacy-ci"), ("210987654321", "old-admin")]
    assert got[0]["age_days"] > got[1]["age_days"] > 90
    assert got[0]["snapshot_dt"] == day(1)


def test_keys_created_per_day_are_zero_filled_and_counted_once(answers):
    got = {r["day"]: r["keys_created"] for r in rows(answers, "iam_keys_created_per_day")}
    assert len(got) == 91 and min(got) == day(90) and max(got) == day(0)
    assert (got[day(10)], got[day(9)], got[day(8)]) == (1, 0, 1)  # listed by two snapshots, counted once
    assert got[day(0)] == 2  # deploy-bot's two keys, created in the same second
    assert got[day(30)] == 1  # the root key
    assert sum(got.values()) == 5


def test_keys_unused_users_with_two_keys_and_root_keys(answers):
    unused = rows(answers, "iam_keys_unused_90_days")
    assert [(r["user_name"], r["finding"]) for r in unused] == [("legacy-ci", "unused over 90 days"), ("old-admin", "never used")]
    two = rows(answers, "iam_users_with_two_active_keys")
    assert [(r["account_id"], r["user_name"], r["active_keys"]) for r in two] == [("123456789012", "deploy-bot", 2)]
    root = rows(answers, "iam_root_access_keys")
    assert [(r["account_id"], r["key_slot"]) for r in root] == [("210987654321", 1)]


def test_failed_sign_ins(answers):
    got = rows(answers, "signins_failed_by_user_app_reason")
    top = got[0]
    assert (top["user_principal_name"], top["app_display_name"], top["error_code"], top["failures"]) == (
        "bob@contoso.com", "Office 365 Exchange Online", 50126, 12)  # the failure 40 days ago is out of range
    assert top["failure_reason"].startswith("Error validating credentials")
    assert [r["user_principal_name"] for r in got] == ["bob@contoso.com", "frank@contoso.com"]
    bursts = rows(answers, "signins_failure_bursts")
    assert [(r["user_principal_name"], r["failures"]) for r in bursts] == [("bob@contoso.com", 12)]
    by_country = {(r["day"], r["country_or_region"]): r["failures"] for r in rows(answers, "signins_failed_by_country")}
    assert by_country == {(day(1), "US"): 12, (day(1), "NL"): 1}


def test_new_country(answers):
    got = rows(answers, "signins_new_country_for_user")
    assert [(r["user_principal_name"], r["country_or_region"], r["first_seen_at"][:10]) for r in got] == [
        ("alice@contoso.com", "BR", day(0)),
        ("dave@contoso.com", "FR", day(2)),  # last seen in FR 55 days ago
    ]
    assert got[0]["city"] == "São Paulo" and got[0]["previous_country"] == "US"


def test_legacy_auth_no_mfa_risky_and_conditional_access(answers):
    legacy = rows(answers, "signins_legacy_authentication")
    assert [(r["user_principal_name"], r["client_app_used"], r["successes"]) for r in legacy] == [("erin@contoso.com", "IMAP4", 1)]
    no_mfa = rows(answers, "signins_success_without_mfa")
    assert [r["user_principal_name"] for r in no_mfa] == ["dave@contoso.com", "erin@contoso.com"]
    risky = rows(answers, "signins_risky")
    assert [(r["user_principal_name"], r["risk_level_during_sign_in"], r["risk_state"]) for r in risky] == [
        ("carol@contoso.com", "high", "atRisk")]
    ca = rows(answers, "signins_conditional_access_failures")
    assert [(r["user_principal_name"], r["policy_name"], r["error_code"]) for r in ca] == [
        ("frank@contoso.com", "Require compliant device", 53003)]


def test_workload_sign_ins_and_dashboard_feeds(answers):
    sp = rows(answers, "signins_service_principals_by_app")
    assert [(r["sign_in_event_type"], r["service_principal_name"], r["sign_ins"]) for r in sp] == [
        ("servicePrincipal", "backup-runner", 5), ("managedIdentity", "func-payroll", 3)]
    per_day = {r["day"]: r for r in rows(answers, "signins_per_day_by_result")}
    assert len(per_day) == 31 and min(per_day) == day(30) and max(per_day) == day(0)
    assert (per_day[day(1)]["failures"], per_day[day(1)]["successes"]) == (13, 8)
    assert per_day[day(10)]["sign_ins"] == 0
    assert sum(r["failures"] for r in per_day.values()) == 13
    by_type = {}
    for r in rows(answers, "signins_by_event_type"):
        by_type[r["sign_in_event_type"]] = by_type.get(r["sign_in_event_type"], 0) + r["sign_ins"]
    assert by_type["servicePrincipal"] == 5 and by_type["managedIdentity"] == 3 and by_type["nonInteractiveUser"] == 2
    categories = {}
    for r in rows(answers, "audits_changes_by_category"):
        categories[r["category"]] = categories.get(r["category"], 0) + r["changes"]
    assert categories == {"RoleManagement": 1, "ApplicationManagement": 1, "UserManagement": 6}


def test_audits(answers):
    roles = rows(answers, "audits_directory_role_assignments")
    assert [(r["target"], r["role_name"], r["initiated_by"]) for r in roles] == [
        ("eve@contoso.com", "Global Administrator", "admin@contoso.com")]  # the one 45 days ago is out of range
    consents = rows(answers, "audits_consent_grants")
    assert [(r["application"], r["initiated_by"], r["is_admin_consent"]) for r in consents] == [
        ("Shady Mail Reader", "alice@contoso.com", "False")]
    passwords = rows(answers, "audits_password_resets_and_changes")
    assert [(r["activity_display_name"], r["target"]) for r in passwords] == [
        ("Reset user password", "bob@contoso.com"), ("Change user password", "carol@contoso.com")]


def test_variants_answer_as_their_athena_file(lake, answers, tmp_path):
    """DuckDB also runs the DataFusion variants (unnest in the select list): same answers."""
    for variant in VARIANT_FILES:
        base = variant.name.split(".")[0]
        shutil.copy(variant, tmp_path / f"{base}.sql")
    done = run_runner("--lake", str(lake), "--queries", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for name, got in json.loads(done.stdout).items():
        assert got == answers[name], name
        assert got["rows"], f"{name}: the synthetic lake should give the variant rows to compare"


def test_runner_keeps_dt_a_string_and_has_a_calendar(lake, tmp_path):
    (tmp_path / "signins_types.sql").write_text(
        "SELECT typeof(s.dt) AS dt_type, min(c.day) AS first_day, max(c.day) AS last_day, typeof(min(c.day)) AS day_type\n"
        "FROM entra_signins AS s CROSS JOIN calendar AS c WHERE s.dt >= '2000-01-01' GROUP BY 1"
    )
    done = run_runner("--lake", str(lake), "--queries", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["signins_types"]["rows"] == [["VARCHAR", "2015-01-01", "2040-12-31", "DATE"]]


def test_runner_reports_the_failing_file_and_a_missing_table(lake, tmp_path):
    (tmp_path / "signins_broken.sql").write_text("SELECT\n  no_such_column\nFROM entra_signins WHERE dt >= '2026-01-01'")
    done = run_runner("--lake", str(lake), "--queries", str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert "signins_broken.sql" in done.stderr and "no_such_column" in done.stderr

    empty = tmp_path / "empty-lake"
    shutil.copytree(lake / "entra_signins", empty / "entra_signins")
    done = run_runner("--lake", str(empty), "--only", "iam_root_access_keys")
    assert done.returncode == 1
    assert "aws_iam_access_keys" in done.stderr and "iam_root_access_keys.sql" in done.stderr
    done = run_runner("--lake", str(empty), "--only", "signins_risky")
    assert done.returncode == 0, done.stderr
