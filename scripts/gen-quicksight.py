#!/usr/bin/env python3
"""Generates infra/quicksight.yaml, the QuickSight stack, from quicksight/*.json and the query
files in athena/queries.

    python3 scripts/gen-quicksight.py            # writes infra/quicksight.yaml
    python3 scripts/gen-quicksight.py --check    # exit 1 if infra/quicksight.yaml is stale

- quicksight/datasource.json: the Athena data source (the workgroup is a parameter).
- quicksight/datasets.json: one dataset per visual: the query file it runs and its output
  columns with their QuickSight types. The custom SQL is the query file's text without its
  four header lines, each table name after FROM/JOIN qualified with the database
  (`"${DatabaseName}".entra_signins`: QuickSight runs custom SQL with no default database),
  so the dashboard and the query files cannot drift.
- quicksight/dashboard.json: the dashboard definition (sheets, visuals, date parameters and
  controls, filters). Visuals name datasets by their Identifier; the generator declares each
  with its dataset's ARN.

The stack has exactly four parameters (QuickSightPrincipalArn, AthenaWorkGroup, DatabaseName,
NamePrefix) and is used as a nested stack by infra/template.yaml. Needs PyYAML (in the test
venv: `source scripts/lib/moto.sh && ensure_venv`).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import sys
from pathlib import Path

import yaml
from sqlglot.dialects.trino import Trino
from sqlglot.tokens import TokenType

ROOT = Path(__file__).resolve().parents[1]
QUICKSIGHT = ROOT / "quicksight"
QUERIES = ROOT / "athena" / "queries"
OUTPUT = ROOT / "infra" / "quicksight.yaml"

TABLES = ("entra_signins", "entra_directory_audits", "aws_iam_access_keys", "calendar")
DATABASE = '"${DatabaseName}".'
HEADER = re.compile(r"-- (title|answers|visual|tables): .*")
PRINCIPAL = {"Ref": "QuickSightPrincipalArn"}


def load(name: str) -> dict:
    return json.loads((QUICKSIGHT / name).read_text(encoding="utf-8"))


def query_sql(stem: str) -> str:
    """The query file's SQL without its header lines (title, answers, visual, tables)."""
    lines = (QUERIES / f"{stem}.sql").read_text(encoding="utf-8").splitlines()
    header = [HEADER.fullmatch(line) for line in lines[:4]]
    if not all(header):
        raise SystemExit(f"athena/queries/{stem}.sql: the first four lines must be its header")
    body = [line.rstrip() for line in lines[4:]]
    return "\n".join(body).strip("\n") + "\n"


def qualify(sql: str) -> tuple[str, int]:
    """`sql` with each lake table (and `calendar`) right after FROM or JOIN prefixed with the
    database, and how many were."""
    inserts = []
    tokens = Trino().tokenize(sql)
    for before, token in zip(tokens, tokens[1:]):
        if before.token_type in (TokenType.FROM, TokenType.JOIN) and token.text.lower() in TABLES:
            inserts.append(token.start)
    for at in reversed(inserts):
        sql = sql[:at] + DATABASE + sql[at:]
    return sql, len(inserts)


def permissions(actions: list[str]) -> list[dict]:
    return [{"Principal": PRINCIPAL, "Actions": actions}]


def data_source(spec: dict) -> dict:
    properties = copy.deepcopy(spec["Properties"])
    properties["Permissions"] = permissions(spec["PermissionActions"])
    return {"Type": "AWS::QuickSight::DataSource", "Properties": properties}


def data_set(spec: dict, common: dict, source_id: str) -> dict:
    sql, _ = qualify(query_sql(spec["Query"]))
    return {
        "Type": "AWS::QuickSight::DataSet",
        "Properties": {
            "AwsAccountId": {"Ref": "AWS::AccountId"},
            "DataSetId": {"Fn::Sub": "${NamePrefix}-" + spec["Identifier"]},
            "Name": {"Fn::Sub": "${NamePrefix} " + spec["Name"]},
            "ImportMode": common["ImportMode"],
            "PhysicalTableMap": {
                "query": {
                    "CustomSql": {
                        "DataSourceArn": {"Fn::GetAtt": [source_id, "Arn"]},
                        "Name": spec["Query"],
                        "SqlQuery": {"Fn::Sub": sql},
                        "Columns": spec["Columns"],
                    }
                }
            },
            "LogicalTableMap": {
                "main": {"Alias": spec["Query"], "Source": {"PhysicalTableId": "query"}},
            },
            "Permissions": permissions(common["PermissionActions"]),
        },
    }


def dashboard(spec: dict, data_sets: list[dict]) -> dict:
    properties = copy.deepcopy(spec["Properties"])
    definition = copy.deepcopy(spec["Definition"])
    declarations = [
        {"Identifier": ds["Identifier"], "DataSetArn": {"Fn::GetAtt": [ds["LogicalId"], "Arn"]}} for ds in data_sets
    ]
    properties["Definition"] = {"DataSetIdentifierDeclarations": declarations, **definition}
    properties["Permissions"] = permissions(spec["PermissionActions"])
    return {"Type": "AWS::QuickSight::Dashboard", "Properties": properties}


def template() -> dict:
    source_spec = load("datasource.json")
    sets_spec = load("datasets.json")
    board_spec = load("dashboard.json")
    source_id = source_spec["LogicalId"]
    resources = {source_id: data_source(source_spec)}
    for ds in sets_spec["DataSets"]:
        resources[ds["LogicalId"]] = data_set(ds, sets_spec, source_id)
    resources[board_spec["LogicalId"]] = dashboard(board_spec, sets_spec["DataSets"])
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "auditlake QuickSight: an Athena data source, one dataset per visual (custom SQL from "
        "athena/queries), and the identity dashboard. Nested stack of infra/template.yaml. "
        "Needs a QuickSight subscription in the account and QuickSight access to Athena and the lake bucket.",
        "Parameters": {
            "QuickSightPrincipalArn": {
                "Type": "String",
                "Description": "QuickSight user or group ARN that gets full permissions on the data source, datasets and dashboard",
                "AllowedPattern": "^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:[0-9]{12}:(user|group)/.+$",
            },
            "AthenaWorkGroup": {
                "Type": "String",
                "Description": "Athena workgroup the data source runs its queries in",
                "MinLength": 1,
            },
            "DatabaseName": {
                "Type": "String",
                "Description": "Glue database of the lake tables and the calendar table",
                "AllowedPattern": "^[a-z0-9_]{1,255}$",
            },
            "NamePrefix": {
                "Type": "String",
                "Description": "Prefix of the QuickSight ids and names (letters, digits, hyphens, underscores)",
                "AllowedPattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$",
            },
        },
        "Resources": resources,
        "Outputs": {
            "DataSourceArn": {"Value": {"Fn::GetAtt": [source_id, "Arn"]}},
            "DashboardId": {"Value": board_spec["Properties"]["DashboardId"]},
            "DashboardArn": {"Value": {"Fn::GetAtt": [board_spec["LogicalId"], "Arn"]}},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the SQL); no anchors and aliases (CloudFormation
    rejects them)."""

    def ignore_aliases(self, data):
        return True


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    body = yaml.dump(template(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return (
        "# Generated by scripts/gen-quicksight.py from quicksight/*.json and athena/queries/*.sql.\n"
        "# Do not edit: change those files and run the generator (tests/athena/test_quicksight.py checks).\n"
        + body
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if infra/quicksight.yaml differs from the output")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(OUTPUT), "generated"))
            print(f"{OUTPUT} is stale: run scripts/gen-quicksight.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
