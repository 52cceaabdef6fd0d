"""QuickSight as code: infra/quicksight.yaml is what scripts/gen-quicksight.py makes of
quicksight/*.json and athena/queries; every dataset runs its query file's SQL and declares the
columns that query returns; the dashboard only names datasets, columns, visuals and parameters
that exist."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
import yaml
from sqlglot import exp

import synthetic_lake

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "athena" / "queries"
TEMPLATE = ROOT / "infra" / "quicksight.yaml"


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_module("gen_quicksight", ROOT / "scripts" / "gen-quicksight.py")
runner = load_module("run_queries", ROOT / "scripts" / "checks" / "run_queries.py")

DATASETS = json.loads((ROOT / "quicksight" / "datasets.json").read_text(encoding="utf-8"))["DataSets"]
DASHBOARD = json.loads((ROOT / "quicksight" / "dashboard.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))


def resources(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def walk(node, key):
    """Every value stored under `key` anywhere in `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


def test_generated_template_is_up_to_date():
    assert TEMPLATE.read_text(encoding="utf-8") == gen.render(), "run scripts/gen-quicksight.py"


def test_template_parameters(template):
    assert set(template["Parameters"]) == {"QuickSightPrincipalArn", "AthenaWorkGroup", "DatabaseName", "NamePrefix"}
    source = resources(template, "AWS::QuickSight::DataSource")
    assert [s["Properties"]["Type"] for s in source.values()] == ["ATHENA"]
    assert next(iter(source.values()))["Properties"]["DataSourceParameters"]["AthenaParameters"]["WorkGroup"] == {
        "Ref": "AthenaWorkGroup"}
    for name, resource in template["Resources"].items():
        principals = list(walk(resource["Properties"].get("Permissions", []), "Principal"))
        assert principals == [{"Ref": "QuickSightPrincipalArn"}], name


@pytest.mark.parametrize("spec", DATASETS, ids=[d["Query"] for d in DATASETS])
def test_dataset_sql_is_its_query_file(template, spec):
    custom = template["Resources"][spec["LogicalId"]]["Properties"]["PhysicalTableMap"]["query"]["CustomSql"]
    sql = custom["SqlQuery"]["Fn::Sub"]
    # The query file without its four header lines, table names qualified with the database.
    lines = (QUERIES / f"{spec['Query']}.sql").read_text(encoding="utf-8").splitlines()
    assert all(line.startswith(f"-- {k}: ") for k, line in zip(("title", "answers", "visual", "tables"), lines))
    assert sql.replace('"${DatabaseName}".', "") == "\n".join(lines[4:]).strip() + "\n"
    assert not sql.rstrip().splitlines()[-1].lstrip().startswith("--"), "QuickSight wraps the SQL: no comment last"
    tree = sqlglot.parse_one(sql.replace("${DatabaseName}", "auditlake"), read="trino")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    tables = [t for t in tree.find_all(exp.Table) if t.name not in ctes]
    assert tables and all(t.db == "auditlake" for t in tables), [t.sql() for t in tables]
    assert "${" not in sql.replace("${DatabaseName}", "")


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict[str, pa.Table]:
    lake = synthetic_lake.build(tmp_path_factory.mktemp("lake"))
    con, missing = runner.connect(lake)
    return {d["Query"]: runner.execute(con, missing, lake, QUERIES / f"{d['Query']}.sql") for d in DATASETS}


def quicksight_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or (pa.types.is_decimal(t) and t.scale == 0):
        return "INTEGER"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DECIMAL"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "DATETIME"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    raise AssertionError(f"no QuickSight type for {t}")


@pytest.mark.parametrize("spec", DATASETS, ids=[d["Query"] for d in DATASETS])
def test_dataset_columns_are_the_query_output(answers, spec):
    table = answers[spec["Query"]]
    got = [{"Name": f.name, "Type": quicksight_type(f.type)} for f in table.schema]
    assert spec["Columns"] == got


def test_visuals_have_their_dataset_and_query(template):
    board = next(iter(resources(template, "AWS::QuickSight::Dashboard").values()))["Properties"]["Definition"]
    declared = {d["Identifier"] for d in board["DataSetIdentifierDeclarations"]}
    assert declared == {d["Identifier"] for d in DATASETS}
    columns = {d["Identifier"]: {c["Name"] for c in d["Columns"]} for d in DATASETS}
    for column in walk(board, "Column"):
        assert column["ColumnName"] in columns[column["DataSetIdentifier"]], column
    visuals = {}
    for sheet in board["Sheets"]:
        for visual in sheet["Visuals"]:
            (kind, body), = visual.items()
            visuals[body["VisualId"]] = (sheet["SheetId"], kind, body)
        controls = {c["ParameterControlId"] for ctl in sheet.get("ParameterControls", []) for c in ctl.values()}
        layout_ids = set(walk(sheet.get("Layouts", []), "ElementId"))
        assert layout_ids == {v for v, (s, _, _) in visuals.items() if s == sheet["SheetId"]} | controls
    used = {c["DataSetIdentifier"] for _, _, body in visuals.values() for c in walk(body, "Column")}
    assert used == declared, "every dataset feeds a visual"
    # The query headers name the visual each query feeds; the dashboard has it, from that query.
    by_query = {d["Query"]: d["Identifier"] for d in DATASETS}
    titles = {}
    for visual_id, (_, kind, body) in visuals.items():
        titles[body["Title"]["FormatText"]["PlainText"]] = (kind, {c["DataSetIdentifier"] for c in walk(body, "Column")})
    fed = set()
    for path in sorted(QUERIES.glob("*.sql")):
        if path.name.count(".") > 1:
            continue
        m = re.match(r'QuickSight "([^"]+)" \((table|line|bar)\)', path.read_text(encoding="utf-8").splitlines()[2][len("-- visual: "):])
        if not m:
            continue
        title, kind = m.groups()
        assert title in titles, f"{path.name}: no visual titled {title!r}"
        assert titles[title][0] == {"table": "TableVisual", "line": "LineChartVisual", "bar": "BarChartVisual"}[kind]
        assert titles[title][1] == {by_query[path.stem]}
        fed.add(path.stem)
    assert fed == set(by_query)


def test_date_filters_and_parameters(template):
    board = next(iter(resources(template, "AWS::QuickSight::Dashboard").values()))["Properties"]["Definition"]
    parameters = {p["DateTimeParameterDeclaration"]["Name"] for p in board["ParameterDeclarations"]}
    assert parameters == {"StartDate", "EndDate"}
    assert set(walk(board["Sheets"], "SourceParameterName")) == parameters
    visual_ids = set(walk(board["Sheets"], "VisualId"))
    filtered = set()
    for group in board["FilterGroups"]:
        for (kind, f) in (item for flt in group["Filters"] for item in flt.items()):
            assert kind == "TimeRangeFilter" and f["Column"]["ColumnName"] == "day"
            assert (f["RangeMinimumValue"], f["RangeMaximumValue"]) == ({"Parameter": "StartDate"}, {"Parameter": "EndDate"})
        for scope in group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]:
            assert set(scope["VisualIds"]) <= visual_ids
            filtered |= set(scope["VisualIds"])
    assert filtered == {"signins-per-day", "failed-signins-by-country", "signins-by-event-type", "directory-changes-by-category"}
