"""infra/azure/azuredeploy.json: the Azure Monitor side of the access-key report.

- Drift: the custom table's columns, the data collection rule's stream declaration and what
  the CLI prints (`$AUDITLAKE_BIN schema azure-columns`, the binary scripts/test.sh builds)
  agree exactly: names, order and types, with the two spellings of one type mapped (the table
  API writes `dateTime`, a rule's stream `datetime`). The stream is also checked against the
  lake schema in shared/src/schema/iam_access_keys.rs, so a run without the binary still sees a
  new lake column. Without AUDITLAKE_BIN the CLI comparison skips; with it, a failing verb fails.
- The rule is of kind Direct (its own logs ingestion endpoint, no data collection endpoint),
  its transform sets TimeGenerated from report_generated_at, the app's principal gets
  Monitoring Metrics Publisher on the rule, and the outputs give what the AUDITLAKE_AZURE_*
  variables take.
- Every column name the kql/ files use exists in the table (Microsoft's parser checks the
  queries in full in test_kql.py; this is the quick, dependency-free check).

Not here: checkov. Its ARM framework (3.3.30) has no check for any resource type of this
template (Microsoft.OperationalInsights/workspaces and workspaces/tables,
Microsoft.Insights/dataCollectionRules, Microsoft.Authorization/roleAssignments,
Microsoft.Resources/deployments): `checkov -d infra/azure --framework arm` reports 0 passed,
0 failed, 0 resources. scripts/test.sh's own `checkov -d infra` step scans this folder anyway,
so a check added to checkov later applies there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "azure" / "azuredeploy.json"
LAKE_SCHEMA_RS = ROOT / "shared" / "src" / "schema" / "iam_access_keys.rs"
KQL_DIR = ROOT / "kql"

TABLE = "AwsIamAccessKeys_CL"
STREAM = "Custom-AwsIamAccessKeys_CL"
TRANSFORM = "source | extend TimeGenerated = report_generated_at"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# Column types as each API spells them, and the one spelling they are compared in.
TABLE_TYPES = {"string", "int", "long", "real", "boolean", "dateTime", "dynamic", "guid"}
STREAM_TYPES = {"string", "int", "long", "real", "boolean", "datetime", "dynamic"}
CANONICAL = {"dateTime": "datetime"}
# Arrow types of the lake schema (shared/src/schema) -> Log Analytics types.
ARROW = {"Utf8": "string", "Int32": "int", "Int64": "long", "Float64": "real", "Boolean": "boolean", "timestamp": "datetime"}


def load_template() -> dict:
    return json.loads(TEMPLATE.read_text())


def resources_of(template: dict, type_: str) -> list[dict]:
    """Resources of one type, nested deployments' inner templates included."""
    found = []
    for resource in template.get("resources", []):
        if resource.get("type") == type_:
            found.append(resource)
        found.extend(resources_of(resource.get("properties", {}).get("template", {}), type_))
    return found


def one(template: dict, type_: str) -> dict:
    found = resources_of(template, type_)
    assert len(found) == 1, f"expected one {type_} in {TEMPLATE.name}, found {len(found)}"
    return found[0]


def canonical(columns: list[dict]) -> list[tuple[str, str]]:
    return [(c["name"], CANONICAL.get(c["type"], c["type"])) for c in columns]


def table_columns(template: dict) -> list[dict]:
    return one(template, "Microsoft.OperationalInsights/workspaces/tables")["properties"]["schema"]["columns"]


def stream_columns(template: dict) -> list[dict]:
    rule = one(template, "Microsoft.Insights/dataCollectionRules")
    declarations = rule["properties"]["streamDeclarations"]
    assert list(declarations) == [STREAM], f"the rule declares {list(declarations)}, expected [{STREAM}]"
    return declarations[STREAM]["columns"]


def lake_columns() -> list[tuple[str, str]]:
    """(name, Log Analytics type) of aws_iam_access_keys, read from its Rust schema."""
    fields = re.findall(r'field\("(\w+)",\s*(?:DataType::(\w+)|(timestamp)\(\))', LAKE_SCHEMA_RS.read_text())
    assert fields, f"no field(\"…\", …) found in {LAKE_SCHEMA_RS}: update lake_columns() to its new form"
    columns = []
    for name, arrow, timestamp in fields:
        arrow = arrow or timestamp
        assert arrow in ARROW, f"{LAKE_SCHEMA_RS.name}: {name} has type {arrow}, which ARROW does not map"
        columns.append((name, ARROW[arrow]))
    return columns


def differences(what: str, expected: list[tuple[str, str]], actual: list[tuple[str, str]]) -> str:
    lines = [f"{what} differ (name, type; dateTime written datetime):"]
    for i in range(max(len(expected), len(actual))):
        e = expected[i] if i < len(expected) else None
        a = actual[i] if i < len(actual) else None
        if e != a:
            lines.append(f"  #{i + 1}: expected {e}, found {a}")
    return "\n".join(lines)


# --- Drift -----------------------------------------------------------------------------------


def test_schema_and_type_spellings():
    template = load_template()
    assert template["$schema"] == "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    bad = [c for c in table_columns(template) if c["type"] not in TABLE_TYPES]
    assert not bad, f"table column types must be spelt as the tables API does ({sorted(TABLE_TYPES)}): {bad}"
    bad = [c for c in stream_columns(template) if c["type"] not in STREAM_TYPES]
    assert not bad, f"stream column types must be spelt as a rule's stream does ({sorted(STREAM_TYPES)}): {bad}"


def test_table_is_time_generated_and_the_stream():
    template = load_template()
    expected = [("TimeGenerated", "datetime")] + canonical(stream_columns(template))
    actual = canonical(table_columns(template))
    assert actual == expected, differences("the table's columns and TimeGenerated + the stream's", expected, actual)
    table = one(template, "Microsoft.OperationalInsights/workspaces/tables")
    assert table["properties"]["schema"]["name"] == TABLE
    assert table["name"].endswith(f"'{TABLE}')]"), table["name"]
    assert TABLE.endswith("_CL")


def test_stream_is_row_id_and_the_lake_schema():
    expected = [("row_id", "string")] + lake_columns()
    actual = canonical(stream_columns(load_template()))
    assert actual == expected, differences(f"the stream and row_id + {LAKE_SCHEMA_RS.relative_to(ROOT)}", expected, actual)


def test_the_cli_prints_the_same_columns():
    binary = os.environ.get("AUDITLAKE_BIN")
    if not binary:
        pytest.skip("AUDITLAKE_BIN is not set (scripts/test.sh sets it to the debug binary): "
                    "`auditlake schema azure-columns` not compared")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"AUDITLAKE_BIN={binary} is not an executable file: build the CLI first (cargo build -p auditlake-cli)")
    result = subprocess.run([binary, "schema", "azure-columns"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (
        f"`{binary} schema azure-columns` failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    printed = json.loads(result.stdout)
    template = load_template()
    assert printed["table"] == TABLE and printed["stream"] == STREAM, (printed["table"], printed["stream"])
    for key, declared in (("stream_columns", stream_columns(template)), ("table_columns", table_columns(template))):
        assert [c["type"] for c in printed[key]] and all(c["type"] in STREAM_TYPES for c in printed[key]), printed[key]
        expected = canonical(printed[key])
        assert canonical(declared) == expected, differences(f"the CLI's {key} and the template's", expected, canonical(declared))


# --- The rule, the role, the outputs -----------------------------------------------------------


def test_rule_is_direct_with_the_transform():
    template = load_template()
    rule = one(template, "Microsoft.Insights/dataCollectionRules")
    assert rule["kind"] == "Direct", "kind Direct gives the rule its own logs ingestion endpoint"
    assert rule["apiVersion"] == "2023-03-11"
    props = rule["properties"]
    assert "dataCollectionEndpointId" not in props, "a Direct rule needs no data collection endpoint"
    destinations = props["destinations"]["logAnalytics"]
    assert len(destinations) == 1 and destinations[0]["workspaceResourceId"] == "[variables('workspaceResourceId')]"
    (flow,) = props["dataFlows"]
    assert flow["streams"] == [STREAM] and flow["outputStream"] == STREAM
    assert flow["transformKql"] == TRANSFORM
    assert flow["destinations"] == [destinations[0]["name"]]
    # The table must exist before the rule that writes to it is created.
    table_deployment = next(
        r for r in template["resources"]
        if r["type"] == "Microsoft.Resources/deployments" and resources_of(r["properties"]["template"], "Microsoft.OperationalInsights/workspaces/tables")
    )
    assert any(table_deployment["name"] in d for d in rule["dependsOn"]), rule["dependsOn"]


def test_app_gets_monitoring_metrics_publisher_on_the_rule():
    template = load_template()
    assert template["variables"]["monitoringMetricsPublisher"] == MONITORING_METRICS_PUBLISHER
    (assignment,) = resources_of(template, "Microsoft.Authorization/roleAssignments")
    rule_id = "resourceId('Microsoft.Insights/dataCollectionRules', parameters('dataCollectionRuleName'))"
    assert assignment["scope"] == f"[{rule_id}]", "the role is granted on the rule, not wider"
    props = assignment["properties"]
    assert props["roleDefinitionId"] == (
        "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('monitoringMetricsPublisher'))]"
    )
    assert props["principalId"] == "[parameters('principalObjectId')]"
    assert props["principalType"] == "ServicePrincipal"


def test_outputs_feed_the_azure_variables():
    outputs = load_template()["outputs"]
    rule_ref = "reference(resourceId('Microsoft.Insights/dataCollectionRules', parameters('dataCollectionRuleName')), '2023-03-11')"
    expected = {
        "logsIngestionEndpoint": (f"[{rule_ref}.endpoints.logsIngestion]", "AUDITLAKE_AZURE_INGESTION_URL"),
        "dataCollectionRuleImmutableId": (f"[{rule_ref}.immutableId]", "AUDITLAKE_AZURE_DCR_ID"),
        "streamName": (STREAM, "AUDITLAKE_AZURE_STREAM"),
        "tenantId": ("[subscription().tenantId]", "AUDITLAKE_AZURE_TENANT_ID"),
    }
    for name, (value, variable) in expected.items():
        assert name in outputs, f"missing output {name}"
        assert outputs[name]["value"] == value, (name, outputs[name]["value"])
        assert variable in outputs[name]["metadata"]["description"], f"output {name} must say it feeds {variable}"


def test_parameters_are_declared_and_used():
    template = load_template()
    declared = set(template["parameters"])
    assert {"workspaceName", "existingWorkspaceResourceId", "location", "principalObjectId", "retentionInDays",
            "tablePlan"} <= declared
    assert template["parameters"]["tablePlan"]["defaultValue"] == "Analytics"
    # The outer template's expressions (a nested template has its own parameters).
    outer = json.loads(json.dumps(template))
    del outer["parameters"]
    for resource in outer["resources"]:
        resource.get("properties", {}).pop("template", None)
    used = set(re.findall(r"parameters\('(\w+)'\)", json.dumps(outer)))
    assert used <= declared, f"undeclared parameters: {sorted(used - declared)}"
    assert declared <= used, f"unused parameters: {sorted(declared - used)}"
    nested = one(template, "Microsoft.Resources/deployments")
    inner = nested["properties"]["template"]
    assert set(nested["properties"]["parameters"]) == set(inner["parameters"])
    assert nested["properties"]["expressionEvaluationOptions"] == {"scope": "inner"}


# --- The kql/ files use the table's columns --------------------------------------------------


def unknown_columns(text: str, columns: set[str]) -> list[str]:
    """Snake_case (or TimeGenerated) names a query reads that are neither columns nor its own.

    Names it defines (`let x =`, `x = …` in extend/summarize/project) are its own; names called
    as functions (`arg_max(`) are functions; the rest must be columns of the table.
    """
    code = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', text)
    code = re.sub(r"//[^\n]*", "", code)
    defined = set(re.findall(r"\b(\w+)\s*=(?!=)", code))
    used = re.findall(r"(?<![\w-])([A-Za-z]\w*_\w*|TimeGenerated)\b(?!\s*\()", code)
    return sorted({name for name in used if name not in columns and name not in defined and name != TABLE})


@pytest.mark.parametrize("path", sorted(KQL_DIR.glob("*.kql")), ids=lambda p: p.name)
def test_kql_uses_table_columns(path: Path):
    columns = {c["name"] for c in table_columns(load_template())}
    unknown = unknown_columns(path.read_text(), columns)
    assert not unknown, f"kql/{path.name} uses names that are not columns of {TABLE}: {unknown}"


def test_column_check_can_fail():
    columns = {c["name"] for c in table_columns(load_template())}
    query = (
        f'{TABLE} | summarize arg_max(TimeGenerated, *) by row_id\n'
        '| extend unused_days = coalesce(days_since_last_used, age_day)  // age_days misspelt\n'
        '| where user_name == "<root_account>" and last_used_service != "no_column_here"\n'
        '| project account_id, unused_days, mfa_enabled'
    )
    assert unknown_columns(query, columns) == ["age_day", "mfa_enabled"]
    lake = dict(lake_columns())
    assert lake["account_id"] == "string" and lake["report_generated_at"] == "datetime" and lake["key_slot"] == "int"
