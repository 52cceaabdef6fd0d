"""kql/*.kql: every query parses and type-checks with Microsoft's own Kusto parser.

The parser is the npm package @kusto/language-service-next (Kusto.Language compiled to
JavaScript), pinned below. A session fixture installs it once into
~/.cache/auditlake/node/ (AUDITLAKE_CACHE moves that) with `npm install --prefix`, and
tests/azure/parse_kql.mjs runs it under node: the table AwsIamAccessKeys_CL is declared in the
parser's global state with the columns infra/azure/azuredeploy.json gives it, so a misspelt
column, a wrong type or a syntax error is a diagnostic of severity Error, and fails here with
the file, line and message. Without node (or npm for the first install) these tests skip.

Each file also keeps the header of athena/queries (title, answers, visual, tables), in KQL's
`//` comments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KQL_DIR = ROOT / "kql"
TEMPLATE = ROOT / "infra" / "azure" / "azuredeploy.json"
PARSE_SCRIPT = Path(__file__).with_name("parse_kql.mjs")

PACKAGE = "@kusto/language-service-next"
VERSION = "12.4.1"
TABLE = "AwsIamAccessKeys_CL"
HEADER_KEYS = ("title", "answers", "visual", "tables")

KQL_FILES = sorted(KQL_DIR.glob("*.kql"))
ATHENA_DIR = ROOT / "athena" / "queries"
# The Athena queries' output columns that the KQL twins name differently: the lake's partition
# `dt` (a 'YYYY-MM-DD' string) is the report's day (a datetime) in Log Analytics.
ATHENA_RENAMED = {"snapshot_dt": "snapshot_date"}


def table_columns() -> list[dict]:
    """The custom table's columns as the template declares them (type spelling `dateTime`)."""
    template = json.loads(TEMPLATE.read_text())

    def walk(resources):
        for resource in resources:
            if resource.get("type") == "Microsoft.OperationalInsights/workspaces/tables":
                yield resource
            inner = resource.get("properties", {}).get("template", {})
            yield from walk(inner.get("resources", []))

    tables = list(walk(template["resources"]))
    assert len(tables) == 1, f"expected one workspaces/tables resource in {TEMPLATE}, found {len(tables)}"
    return tables[0]["properties"]["schema"]["columns"]


def cache_dir() -> Path:
    return Path(os.environ.get("AUDITLAKE_CACHE") or Path.home() / ".cache" / "auditlake")


def install_parser() -> Path:
    """The installed package's folder: installed once per machine, checked by version."""
    target = cache_dir() / "node" / f"kusto-language-service-next-{VERSION}"
    package_dir = target / "node_modules" / "@kusto" / "language-service-next"

    def ready() -> bool:
        try:
            return json.loads((package_dir / "package.json").read_text())["version"] == VERSION and (
                target / ".complete"
            ).is_file()
        except (OSError, ValueError, KeyError):
            return False

    if ready():
        return package_dir
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not on PATH: cannot install {PACKAGE}@{VERSION} (the KQL parser) into {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Install beside the target and rename, so an interrupted install is never taken as done.
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        result = subprocess.run(
            [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--ignore-scripts",
             "--loglevel=error", f"{PACKAGE}@{VERSION}"],
            capture_output=True, text=True, timeout=600, check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"npm install {PACKAGE}@{VERSION} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        (staging / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not ready():
        pytest.fail(f"{PACKAGE}@{VERSION} is not at {package_dir} after npm install")
    return package_dir


@pytest.fixture(scope="session")
def parser():
    """A function: {label: query text} -> {label: {"diagnostics": […], "columns": […]}}."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the KQL files cannot be checked with Microsoft's Kusto parser")
    package_dir = install_parser()
    columns = table_columns()

    def parse(queries: dict[str, str]) -> dict[str, dict]:
        request = {"database": "auditlake", "tables": [{"name": TABLE, "columns": columns}], "queries": queries}
        result = subprocess.run(
            [node, str(PARSE_SCRIPT), str(package_dir)],
            input=json.dumps(request), capture_output=True, text=True, timeout=300, check=False,
        )
        assert result.returncode == 0, f"{PARSE_SCRIPT.name} failed (exit {result.returncode}):\n{result.stderr}"
        return json.loads(result.stdout)

    return parse


@pytest.fixture(scope="session")
def analyzed(parser):
    """Every kql/*.kql file's diagnostics and result columns, from one node run."""
    return parser({path.name: path.read_text() for path in KQL_FILES})


def errors(found: list[dict]) -> list[dict]:
    return [d for d in found if d["severity"] == "Error"]


def describe(name: str, found: list[dict]) -> str:
    return "\n".join(
        f"kql/{name}:{d.get('line', '?')}:{d.get('column', '?')}: {d['severity']} {d['code']}: {d['message']}"
        for d in found
    )


def test_there_are_kql_files():
    names = {path.stem for path in KQL_FILES}
    # The IAM questions of athena/queries, each with its KQL twin.
    athena = {path.stem for path in ATHENA_DIR.glob("iam_*.sql")}
    assert athena, "no athena/queries/iam_*.sql"
    assert names == athena, f"kql/ and athena/queries/iam_*.sql differ: {sorted(names ^ athena)}"


@pytest.mark.parametrize("path", KQL_FILES, ids=lambda p: p.name)
def test_header(path: Path):
    lines = path.read_text().splitlines()
    for i, key in enumerate(HEADER_KEYS):
        assert i < len(lines) and lines[i].startswith(f"// {key}: ") and lines[i][len(f"// {key}: "):].strip(), (
            f"kql/{path.name} line {i + 1} must be `// {key}: …` (the athena/queries header, as KQL comments)"
        )
    assert lines[3] == f"// tables: {TABLE}", f"kql/{path.name}: the tables line must name {TABLE}"
    athena = ATHENA_DIR / f"{path.stem}.sql"
    if athena.is_file():
        athena_answers = next(line for line in athena.read_text().splitlines() if line.startswith("-- answers: "))
        assert lines[1] == "// answers: " + athena_answers[len("-- answers: "):], (
            f"kql/{path.name} answers another question than athena/queries/{athena.name}"
        )


@pytest.mark.parametrize("path", KQL_FILES, ids=lambda p: p.name)
def test_parses_without_errors(path: Path, analyzed):
    found = errors(analyzed[path.name]["diagnostics"])
    assert not found, f"the Kusto parser reports errors:\n{describe(path.name, found)}"


@pytest.mark.parametrize("path", KQL_FILES, ids=lambda p: p.name)
def test_answers_with_the_athena_columns(path: Path, analyzed):
    """The result's columns (as the parser infers them) are the Athena twin's, in order."""
    sqlglot = pytest.importorskip("sqlglot")
    athena = ATHENA_DIR / f"{path.stem}.sql"
    assert athena.is_file(), f"kql/{path.name} has no twin athena/queries/{athena.name}"
    expected = [ATHENA_RENAMED.get(name, name) for name in sqlglot.parse_one(athena.read_text(), read="trino").named_selects]
    columns = analyzed[path.name]["columns"]
    assert columns is not None, f"kql/{path.name} does not end in a table"
    assert [c["name"] for c in columns] == expected, f"kql/{path.name} returns other columns than athena/queries/{athena.name}"


@pytest.mark.parametrize("path", KQL_FILES, ids=lambda p: p.name)
def test_deduplicates_by_row_id_first(path: Path):
    text = path.read_text()
    dedup = "summarize arg_max(TimeGenerated, *) by row_id"
    assert dedup in text, f"kql/{path.name} must drop duplicate batches with `{dedup}`"
    body = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    first_summarize = next(i for i, line in enumerate(body) if "summarize" in line)
    assert dedup in body[first_summarize], f"kql/{path.name}: the first summarize must be `{dedup}`"


def test_parser_reports_an_unknown_column(parser):
    """The check can fail: a column the table does not have, a type error, a syntax error."""
    found = parser({
        "unknown column": f"{TABLE} | where no_such_column > 90 | project account_id",
        "misspelt column": f"{TABLE} | summarize arg_max(TimeGenerated, *) by row_id | project age_day",
        "type error": f"{TABLE} | where age_days > \"ninety\"",
        "syntax error": f"{TABLE} | where",
        "unknown table": "AwsIamAccessKey_CL | take 1",
        "fine": f"{TABLE} | summarize arg_max(TimeGenerated, *) by row_id | project account_id, age_days",
    })
    found = {label: answer["diagnostics"] for label, answer in found.items()}
    for label in ("unknown column", "misspelt column", "type error", "syntax error", "unknown table"):
        assert errors(found[label]), f"{label}: the parser reported no error: {found[label]}"
    assert any("no_such_column" in d["message"] for d in errors(found["unknown column"])), found["unknown column"]
    assert any(d.get("line") == 1 for d in errors(found["unknown column"])), "errors must carry a line"
    assert not errors(found["fine"]), describe("fine", found["fine"])
