"""infra/template.yaml and infra/member-role.yaml: the properties that protect users.

- every IAM policy statement in infra/*.yaml names concrete actions and resources; a statement
  that must use `Resource: "*"` says so (Sid `StarRequired…` and a YAML comment with the reason);
- the environment each Lambda gets from the template is accepted by the collectors'
  configuration (`auditlake config check`, the binary `scripts/test.sh` builds, in
  AUDITLAKE_BIN), and a misspelt variable name is refused and named;
- functions, buckets, schedules, alarms and the key are wired the way the design needs
  (concurrency, timeouts, failure destinations, encryption, TLS-only, freshness alarms).

The templates are read with cfn-lint's own loader, so `!Ref`/`!Sub`/`!If` come back as
`{"Ref": …}`/`{"Fn::Sub": …}`/`{"Fn::If": …}` and every node knows its line. A small evaluator
below resolves intrinsics for a few parameter scenarios (defaults plus sample values).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import load

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"
MEMBER_ROLE = INFRA / "member-role.yaml"
CONFIG_RS = ROOT / "shared" / "src" / "config.rs"
IAM_SRC = ROOT / "shared" / "src" / "iam"

TENANT = "11111111-1111-1111-1111-111111111111"
ACCOUNT = "123456789012"
STACK = "auditlake"

FUNCTIONS = ("SignInsFunction", "AuditsFunction", "IamKeysFunction")
GRAPH_FUNCTIONS = ("SignInsFunction", "AuditsFunction")
TABLES = {
    "SignInsFunction": "entra_signins",
    "AuditsFunction": "entra_directory_audits",
    "IamKeysFunction": "aws_iam_access_keys",
}
TENANT_GROUP_PARAMS = ("TenantIds", "TenantIds2", "TenantIds3", "TenantIds4")

# Azure Monitor delivery of the access-key snapshot (IAM function only): the template
# parameter behind each AUDITLAKE_AZURE_* variable, and sample values (infra/azure outputs).
AZURE_PARAMS = {
    "AUDITLAKE_AZURE_INGESTION_URL": "AzureIngestionUrl",
    "AUDITLAKE_AZURE_DCR_ID": "AzureDcrId",
    "AUDITLAKE_AZURE_STREAM": "AzureStream",
    "AUDITLAKE_AZURE_TENANT_ID": "AzureTenantId",
    "AUDITLAKE_AZURE_CLIENT_ID_PARAM": "AzureClientIdParam",
    "AUDITLAKE_AZURE_CLIENT_SECRET_PARAM": "AzureClientSecretParam",
    "AUDITLAKE_AZURE_CERT_PARAM": "AzureCertParam",
}
AZURE = {
    "AzureIngestionUrl": "https://example-abcd.westeurope-1.ingest.monitor.azure.com",
    "AzureDcrId": "dcr-00112233445566778899aabbccddeeff",
    "AzureTenantId": "33333333-3333-3333-3333-333333333333",
    "AzureClientIdParam": "/auditlake/azure/client-id",
    "AzureClientSecretParam": "/auditlake/azure/client-secret",
}
AZURE_CERTIFICATE = dict(AZURE, AzureClientSecretParam="", AzureCertParam="/auditlake/azure/certificate")

# Parameter values for the scenarios: what a user could pass (they must satisfy the template's
# own constraints, checked below). Parameters without a default get these samples.
REQUIRED_SAMPLES = {
    "CodeBucket": "auditlake-artifacts-123456789012-us-east-1",
    "SignInsCodeKey": "lambda/graph-signins/0123abcd.zip",
    "AuditsCodeKey": "lambda/graph-audits/0123abcd.zip",
    "IamKeysCodeKey": "lambda/iam-access-keys/0123abcd.zip",
    "TenantIds": TENANT,
}
SCENARIOS = {
    "defaults": {},
    "certificate": {"GraphClientSecretParam": "", "GraphCertParam": "/auditlake/graph/cert"},
    "four-groups-usgov": {
        "TenantIds": f"{TENANT}, contoso.onmicrosoft.com",
        "TenantIds2": "22222222-2222-2222-2222-222222222222",
        "TenantIds3": "33333333-3333-3333-3333-333333333333,fabrikam.onmicrosoft.com",
        "TenantIds4": "44444444-4444-4444-4444-444444444444",
        "GraphCloud": "usgov",
        "QuickSightPrincipalArn": f"arn:aws:quicksight:us-east-1:{ACCOUNT}:user/default/analyst",
        "AlertEmail": "secops@example.com",
        "LakeExpirationDays": "400",
    },
    "listed-accounts": {"AccountIds": "111111111111,222222222222", "AssumeRoleName": "AuditLakeReader"},
    "organization": {"Organization": "true"},
    "azure": AZURE,
    "azure-certificate-organization": {
        **AZURE_CERTIFICATE,
        "AzureTenantId": "contoso.onmicrosoft.com",
        "AzureStream": "Custom-AwsIamAccessKeysTest_CL",
        "Organization": "true",
    },
}

# Sample values of the resources a template refers to (what CloudFormation would return).
RESOURCE_REF_SAMPLES = {
    "LakeBucket": "auditlake-lakebucket-1a2b3c4d5e6f",
    "AthenaResultsBucket": "auditlake-athenaresultsbucket-1a2b3c4d5e6f",
    "AccessLogsBucket": "auditlake-accesslogsbucket-1a2b3c4d5e6f",
}
PSEUDO = {
    "AWS::StackName": STACK,
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/guid",
}


# ---------------------------------------------------------------------------------------------
# Loading and a small intrinsic-function evaluator
# ---------------------------------------------------------------------------------------------

_CACHE: dict[Path, dict] = {}


def template(path: Path | None = None) -> dict:
    path = path or TEMPLATE
    if path not in _CACHE:
        assert path.is_file(), f"{path} is missing"
        _CACHE[path] = load(str(path))
    return _CACHE[path]


def infra_templates() -> list[Path]:
    return sorted(INFRA.glob("*.yaml"))


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def intrinsic(node):
    """(name, argument) when `node` is a one-key intrinsic function, else None."""
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref" or key.startswith("Fn::") or key == "Condition":
            return str(key), value
    return None


class Scenario:
    """Parameter values and the conditions they decide, for one template."""

    def __init__(self, tmpl: dict, overrides: dict[str, str]):
        self.tmpl = tmpl
        params = tmpl.get("Parameters", {})
        self.params: dict[str, str] = {}
        for name, spec in params.items():
            if name in overrides:
                self.params[name] = str(overrides[name])
            elif "Default" in spec:
                self.params[name] = str(spec["Default"])
            elif name in REQUIRED_SAMPLES:
                self.params[name] = REQUIRED_SAMPLES[name]
            else:
                raise AssertionError(f"no sample value for required parameter {name}")
        unknown = set(overrides) - set(params)
        assert not unknown, f"scenario sets parameters the template does not declare: {unknown}"
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.tmpl.get("Conditions", {}).get(name)
            assert spec is not None, f"unknown condition {name}"
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def resolve(self, node):
        """The value of `node` with every intrinsic evaluated; AWS::NoValue items dropped."""
        fn = intrinsic(node)
        if fn:
            return self._call(*fn)
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                r = self.resolve(v)
                if r is not NO_VALUE:
                    out[str(k)] = r
            return out
        if isinstance(node, list):
            return [r for r in (self.resolve(x) for x in node) if r is not NO_VALUE]
        if isinstance(node, str):
            return str(node)
        return node

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        resources = self.tmpl.get("Resources", {})
        assert name in resources, f"!Ref {name}: no such parameter or resource"
        if name in RESOURCE_REF_SAMPLES:
            return RESOURCE_REF_SAMPLES[name]
        return f"{STACK}-{name}-SAMPLE"

    def get_att(self, name: str, attribute: str) -> str:
        assert name in self.tmpl.get("Resources", {}), f"!GetAtt {name}.{attribute}: no such resource"
        if attribute == "Arn" and name in RESOURCE_REF_SAMPLES:
            return f"arn:aws:s3:::{RESOURCE_REF_SAMPLES[name]}"
        return f"arn:aws:sample:us-east-1:{ACCOUNT}:{name}/{attribute}"

    def sub(self, text: str, variables: dict | None = None) -> str:
        variables = variables or {}

        def replace(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and not expr.startswith("AWS::"):
                res, att = expr.split(".", 1)
                return self.get_att(res, att)
            value = self.ref(expr)
            assert value is not NO_VALUE, f"${{{expr}}} in a !Sub"
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _call(self, name: str, arg):
        if name == "Ref":
            return self.ref(str(arg))
        if name == "Condition":
            return self.condition(str(arg))
        if name == "Fn::If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(str(cond)) else no)
        if name == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if name == "Fn::Not":
            return not self.resolve(arg[0])
        if name == "Fn::And":
            return all(self.resolve(x) for x in arg)
        if name == "Fn::Or":
            return any(self.resolve(x) for x in arg)
        if name == "Fn::Sub":
            if isinstance(arg, list):
                return self.sub(str(arg[0]), arg[1])
            return self.sub(str(arg))
        if name == "Fn::GetAtt":
            if isinstance(arg, str):
                res, att = arg.split(".", 1)
            else:
                res, att = arg
            return self.get_att(str(res), str(att))
        if name == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(x) for x in self.resolve(items))
        if name == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(str(sep))
        if name == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::FindInMap":
            mapping, key1, key2 = (self.resolve(x) for x in arg)
            return self.tmpl["Mappings"][str(mapping)][str(key1)][str(key2)]
        raise AssertionError(f"the test's evaluator does not know {name}")

    def resources(self) -> dict[str, dict]:
        """The resources this scenario creates (Condition evaluated)."""
        out = {}
        for lid, res in self.tmpl["Resources"].items():
            cond = res.get("Condition")
            if cond is None or self.condition(str(cond)):
                out[str(lid)] = res
        return out


def scenario(name: str) -> Scenario:
    return Scenario(template(), SCENARIOS[name])


def rule_verdicts(sc: Scenario) -> list[tuple[str, bool]]:
    """(rule, assertion holds) for every assertion of the template's Rules; a rule whose
    RuleCondition is false asserts nothing (all its assertions hold)."""
    out = []
    for rule_name, rule in sc.tmpl.get("Rules", {}).items():
        applies = "RuleCondition" not in rule or bool(sc.resolve(rule["RuleCondition"]))
        for assertion in rule["Assertions"]:
            out.append((str(rule_name), not applies or bool(sc.resolve(assertion["Assert"]))))
    return out


def function_env(sc: Scenario, function: str) -> dict[str, str]:
    props = sc.tmpl["Resources"][function]["Properties"]
    env = sc.resolve(props.get("Environment", {})).get("Variables", {})
    return {str(k): str(v) for k, v in env.items()}


def config_variables() -> list[str]:
    """`config::VARIABLES` of shared/src/config.rs: every variable the configuration reads."""
    text = CONFIG_RS.read_text()
    m = re.search(r"pub const VARIABLES: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert m, "shared/src/config.rs has no `pub const VARIABLES: &[&str]` (the list of known variables)"
    return re.findall(r'"(AUDITLAKE_[A-Z0-9_]+)"', m.group(1))


# ---------------------------------------------------------------------------------------------
# Scenarios are valid inputs of the template
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenarios_satisfy_parameter_constraints_and_rules(name):
    sc = scenario(name)
    for pname, spec in sc.tmpl["Parameters"].items():
        value = sc.params[pname]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (pname, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(str(spec["AllowedPattern"]), value), (pname, value, spec["AllowedPattern"])
        if spec.get("Type") == "Number":
            float(value)
    for rule_name, holds in rule_verdicts(sc):
        assert holds, f"rule {rule_name} refuses scenario {name}"


@pytest.mark.parametrize(
    "overrides",
    [
        {"GraphCertParam": "/auditlake/graph/cert"},  # secret and certificate both
        {"GraphClientSecretParam": ""},  # neither
        {"AccountIds": "111111111111", "Organization": "true"},  # listed accounts and organisation
        # Azure delivery turned on without all it needs.
        {**AZURE, "AzureDcrId": ""},
        {**AZURE, "AzureTenantId": ""},
        {**AZURE, "AzureClientIdParam": ""},
        {**AZURE, "AzureClientSecretParam": ""},  # neither secret nor certificate
        {**AZURE, "AzureCertParam": "/auditlake/azure/certificate"},  # both
    ],
)
def test_rules_refuse_combinations_the_collectors_refuse(overrides):
    sc = Scenario(template(), overrides)
    verdicts = [holds for _, holds in rule_verdicts(sc)]
    assert not all(verdicts), f"no rule refuses {overrides}"


@pytest.mark.parametrize(
    "overrides",
    [
        # Without AzureIngestionUrl the other Azure parameters are not checked by the rules
        # (and reach no function: see the environment tests).
        {"AzureDcrId": "dcr-0011"},
        {"AzureClientSecretParam": "/auditlake/azure/client-secret", "AzureCertParam": "/auditlake/azure/certificate"},
    ],
)
def test_azure_rules_apply_only_when_delivery_is_on(overrides):
    sc = Scenario(template(), overrides)
    assert all(holds for _, holds in rule_verdicts(sc)), overrides


def test_azure_parameters_condition_and_rules():
    tmpl = template()
    params = tmpl["Parameters"]
    for pname in AZURE_PARAMS.values():
        spec = params[pname]
        assert spec["Type"] == "String", pname
        wanted = "Custom-AwsIamAccessKeys_CL" if pname == "AzureStream" else ""
        assert spec["Default"] == wanted, pname
        # The description names the variable it becomes and where the value comes from.
        env_var = next(k for k, v in AZURE_PARAMS.items() if v == pname)
        assert env_var in str(spec["Description"]), pname
        if not pname.endswith("Param"):
            assert "infra/azure" in str(spec["Description"]), pname
    for pname in ("AzureClientIdParam", "AzureClientSecretParam", "AzureCertParam"):
        pattern = str(params[pname]["AllowedPattern"])
        assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "/auditlake/azure/client-id"), pname
        assert not re.fullmatch(pattern, "auditlake/azure/client-id"), f"{pname}: names must start with /"
    for value, ok in [
        ("https://example-abcd.westeurope-1.ingest.monitor.azure.com", True),
        ("http://example-abcd.westeurope-1.ingest.monitor.azure.com", False),
        ("example-abcd.westeurope-1.ingest.monitor.azure.com", False),
    ]:
        assert bool(re.fullmatch(str(params["AzureIngestionUrl"]["AllowedPattern"]), value)) == ok, value
    assert not re.fullmatch(str(params["AzureDcrId"]["AllowedPattern"]), "00112233445566778899aabbccddeeff")
    assert not re.fullmatch(str(params["AzureTenantId"]["AllowedPattern"]), "not a tenant")

    # Grouped in the console like the others: every parameter in exactly one group.
    groups = tmpl["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [str(p) for g in groups for p in g["Parameters"]]
    assert sorted(grouped) == sorted(params), set(params) ^ set(grouped)
    (azure_group,) = [g for g in groups if "AzureIngestionUrl" in g["Parameters"]]
    assert set(azure_group["Parameters"]) == set(AZURE_PARAMS.values())
    assert "Azure" in azure_group["Label"]["default"]

    assert tmpl["Conditions"]["SendsToAzure"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AzureIngestionUrl"}, ""]}]}
    for name in SCENARIOS:
        sc = scenario(name)
        assert sc.condition("SendsToAzure") == (sc.params["AzureIngestionUrl"] != ""), name

    # The rules apply exactly when delivery is on.
    azure_rules = {k: v for k, v in tmpl["Rules"].items() if "Azure" in str(k)}
    assert len(azure_rules) >= 2
    for rule_name, rule in azure_rules.items():
        assert rule["RuleCondition"] == tmpl["Conditions"]["SendsToAzure"], rule_name
        for assertion in rule["Assertions"]:
            assert "AzureIngestionUrl" in str(assertion["AssertDescription"]), rule_name


# ---------------------------------------------------------------------------------------------
# (a) Policies: concrete actions and resources; Resource "*" only where AWS requires it
# ---------------------------------------------------------------------------------------------

def policy_documents(node, where: str = ""):
    """Every policy document (a mapping with a Statement) anywhere under `node`."""
    if isinstance(node, dict):
        if "Statement" in node and intrinsic(node) is None:
            yield where, node
        for k, v in node.items():
            yield from policy_documents(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from policy_documents(v, f"{where}[{i}]")


def expand(node):
    """The alternatives of `node`: both branches of every Fn::If, AWS::NoValue dropped."""
    fn = intrinsic(node)
    if fn and fn[0] == "Fn::If":
        out = []
        for branch in fn[1][1:]:
            out.extend(expand(branch))
        return out
    if fn and fn[0] == "Ref" and fn[1] == "AWS::NoValue":
        return []
    return [node]


def statements(doc):
    items = doc["Statement"]
    items = items if isinstance(items, list) else [items]
    out = []
    for item in items:
        out.extend(expand(item))
    return out


def values(node) -> list:
    """A string-or-list field (Action, Resource) as its alternatives, Fn::If expanded."""
    out = []
    for alt in expand(node):
        if isinstance(alt, list):
            for item in alt:
                out.extend(expand(item))
        else:
            out.append(alt)
    return out


def is_tls_only_deny(st) -> bool:
    cond = st.get("Condition", {})
    return (
        st.get("Effect") == "Deny"
        and st.get("Principal") == "*"
        and str(cond.get("Bool", {}).get("aws:SecureTransport", "")).lower() == "false"
    )


def all_statements():
    for path in infra_templates():
        tmpl = template(path)
        for lid, res in tmpl.get("Resources", {}).items():
            for where, doc in policy_documents(res.get("Properties", {})):
                for st in statements(doc):
                    yield path, f"{lid}.{where}", st


def test_there_are_policies_to_check():
    kinds = {(p.name, w.split(".")[0]) for p, w, _ in all_statements()}
    for expected in [
        ("template.yaml", "LakeKey"),
        ("template.yaml", "LakeBucketPolicy"),
        ("template.yaml", "AthenaResultsBucketPolicy"),
        ("template.yaml", "AlertTopicPolicy"),
        ("template.yaml", "ScheduleDeadLetterQueuePolicy"),
        ("template.yaml", "SignInsPolicy"),
        ("template.yaml", "AuditsPolicy"),
        ("template.yaml", "IamKeysPolicy"),
        ("template.yaml", "SchedulerPolicy"),
        ("template.yaml", "SchedulerRole"),
        ("member-role.yaml", "ReaderRole"),
    ]:
        assert expected in kinds, f"no policy statements found for {expected}"


def test_actions_are_concrete():
    bad = []
    for path, where, st in all_statements():
        if "NotAction" in st:
            bad.append((path.name, where, "NotAction"))
        for action in values(st.get("Action", [])):
            if not isinstance(action, str):
                bad.append((path.name, where, f"non-literal action {action}"))
                continue
            if action == "*" or "?" in action:
                bad.append((path.name, where, action))
            elif "*" in action:
                # Only a TLS-only Deny may cover a whole service: it takes rights away, and
                # listing actions there would leave the rest open over plain HTTP.
                if not (is_tls_only_deny(st) and re.fullmatch(r"[a-z0-9-]+:\*", action)):
                    bad.append((path.name, where, action))
    assert not bad, f"wildcard actions: {bad}"


def _resource_text(res) -> str | None:
    """A resource as text with intrinsics shown as placeholders; None for Ref/GetAtt (concrete)."""
    fn = intrinsic(res)
    if fn is None:
        return str(res)
    name, arg = fn
    if name in ("Ref", "Fn::GetAtt"):
        return None
    if name == "Fn::Sub":
        text = arg[0] if isinstance(arg, list) else arg
        return re.sub(r"\$\{[^}]+\}", "X", str(text))
    if name == "Fn::Join":
        return "".join("X" if not isinstance(p, str) else p for p in arg[1])
    return f"<{name}>"


def resource_is_concrete(res) -> bool:
    text = _resource_text(res)
    if text is None:
        return True
    if text == "*":
        return False
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        if len(parts) < 6:
            return False
        _, _partition, service, _region, _account, resource = parts
        # Region and account may be "*" (a role name in every member account); the service
        # and the resource's type or name may not.
        return "*" not in service and not resource.startswith("*") and resource not in ("", "X")
    # A bucket/queue/topic ARN from Ref/GetAtt with a key suffix: "X/prefix/*".
    return text.startswith("X") and text != "X*"


def test_resources_are_concrete_or_star_is_required():
    bad = []
    for path, where, st in all_statements():
        if "NotResource" in st:
            bad.append((path.name, where, "NotResource"))
        if "Resource" not in st:
            # Trust policies name no resource; they are checked by their principals below.
            assert "AssumeRolePolicyDocument" in where, (path.name, where, "statement without Resource")
            continue
        sid = str(st.get("Sid", ""))
        resources = values(st["Resource"])
        stars = [r for r in resources if r == "*"]
        if stars:
            if not sid.startswith("StarRequired"):
                bad.append((path.name, where, f"Resource '*' without a StarRequired Sid ({sid or 'no Sid'})"))
            if len(resources) != len(stars):
                bad.append((path.name, where, "StarRequired statement mixes '*' with other resources"))
        else:
            if sid.startswith("StarRequired"):
                bad.append((path.name, where, f"{sid} names no '*' resource (rename the Sid)"))
            for r in resources:
                if not resource_is_concrete(r):
                    bad.append((path.name, where, f"resource {r}"))
    assert not bad, bad


def test_star_required_statements_carry_a_reason_comment():
    found = 0
    missing = []
    for path, where, st in all_statements():
        sid = st.get("Sid")
        if not (isinstance(sid, str) and sid.startswith("StarRequired")):
            continue
        found += 1
        lines = path.read_text().splitlines()
        line = sid.start_mark.line  # 0-based line of the Sid value
        assert re.search(r"\bSid:\s*" + re.escape(str(sid)) + r"\b", lines[line]), (path.name, line, lines[line])
        on_line = lines[line].split("#", 1)[1].strip() if "#" in lines[line] else ""
        # The comment block right above the Sid line (contiguous comment lines).
        block = []
        i = line - 1
        while i >= 0 and lines[i].strip().startswith("#"):
            block.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        reason = " ".join([*block, on_line]).strip()
        if len(reason) < 20:
            missing.append(f"{path.name}:{line + 1} {sid}")
    assert found >= 3, "expected StarRequired statements (KMS key policy, IAM reads)"
    assert not missing, f"StarRequired statements without a reason comment on or above the Sid line: {missing}"


def test_allow_statements_name_their_principals():
    bad = []
    for path, where, st in all_statements():
        if st.get("Effect") != "Allow" or "Principal" not in st:
            continue
        principal = st["Principal"]
        if principal == "*" or (isinstance(principal, dict) and "*" in values(principal.get("AWS", []))):
            bad.append((path.name, where))
    assert not bad, f"Allow statements open to any principal: {bad}"


def test_key_policy_names_only_the_expected_principals():
    key_policy = template()["Resources"]["LakeKey"]["Properties"]["KeyPolicy"]
    aws, services = set(), set()
    for st in statements(key_policy):
        assert st["Effect"] == "Allow"
        principal = st["Principal"]
        for p in values(principal.get("AWS", [])):
            fn = intrinsic(p)
            if get_att_target(p):
                aws.add(get_att_target(p)[0])
            elif fn and fn[0] == "Fn::Sub":
                aws.add(str(fn[1]))
            else:
                aws.add(str(p))
        for p in values(principal.get("Service", [])):
            fn = intrinsic(p)
            services.add(str(fn[1]) if fn else str(p))
    assert aws == {
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
        "SignInsRole",
        "AuditsRole",
        "IamKeysRole",
        "SchedulerRole",
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${QuickSightServiceRoleName}",
    }, aws
    assert services == {"logs.${AWS::Region}.amazonaws.com", "cloudwatch.amazonaws.com"}, services
    # The account root: administration, and use only through the services that hold the data.
    for st in statements(key_policy):
        if "root" in json.dumps(st.get("Principal")) and any(
            a in values(st["Action"]) for a in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant")
        ):
            assert "kms:ViaService" in st["Condition"]["StringEquals"], st["Sid"]


# ---------------------------------------------------------------------------------------------
# (b) The Lambda environments are accepted by the collectors' configuration
# ---------------------------------------------------------------------------------------------

def test_environments_use_only_variables_the_code_knows():
    known = set(config_variables())
    for name in SCENARIOS:
        sc = scenario(name)
        for function in FUNCTIONS:
            unknown = set(function_env(sc, function)) - known
            assert not unknown, f"{function} ({name}) sets {unknown}, which shared/src/config.rs does not read"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_environments_are_complete_and_consistent(name):
    sc = scenario(name)
    for function in FUNCTIONS:
        env = function_env(sc, function)
        assert env["AUDITLAKE_LAKE_URL"] == f"s3://{RESOURCE_REF_SAMPLES['LakeBucket']}", env
        if function in GRAPH_FUNCTIONS:
            assert env["AUDITLAKE_TENANT_IDS"] == sc.params["TenantIds"]
            assert env["AUDITLAKE_GRAPH_CLIENT_ID_PARAM"] == sc.params["GraphClientIdParam"]
            creds = {k for k in env if k in ("AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM", "AUDITLAKE_GRAPH_CERT_PARAM")}
            assert len(creds) == 1, f"{function}: exactly one Graph credential variable, got {creds}"
            assert env["AUDITLAKE_CLOUD"] == sc.params["GraphCloud"]
            budget = re.fullmatch(r"(\d+)m", env["AUDITLAKE_TIME_BUDGET"])
            assert budget, env["AUDITLAKE_TIME_BUDGET"]
            timeout = sc.resolve(sc.tmpl["Resources"][function]["Properties"]["Timeout"])
            assert int(budget.group(1)) * 60 + 120 <= timeout, "the time budget must leave room to write and checkpoint"
        azure = {k: v for k, v in env.items() if k.startswith("AUDITLAKE_AZURE")}
        if function in GRAPH_FUNCTIONS or sc.params["AzureIngestionUrl"] == "":
            assert not azure, f"{function} ({name}): {azure}"
        else:
            # Every Azure variable the parameters set, with their values; one credential.
            wanted = {var: sc.params[p] for var, p in AZURE_PARAMS.items() if sc.params[p] != ""}
            assert azure == wanted, (function, name, azure, wanted)
            creds = {k for k in azure if k in ("AUDITLAKE_AZURE_CLIENT_SECRET_PARAM", "AUDITLAKE_AZURE_CERT_PARAM")}
            assert len(creds) == 1, f"{function}: exactly one Azure credential variable, got {creds}"
        if function not in GRAPH_FUNCTIONS:
            assert not any(k.startswith("AUDITLAKE_GRAPH") or k == "AUDITLAKE_TENANT_IDS" for k in env), env
            other_accounts = sc.params["AccountIds"] != "" or sc.params["Organization"] == "true"
            assert ("AUDITLAKE_ASSUME_ROLE_NAME" in env) == other_accounts, env
            assert ("AUDITLAKE_ACCOUNT_IDS" in env) == (sc.params["AccountIds"] != ""), env
            assert ("AUDITLAKE_ORGANIZATION" in env) == (sc.params["Organization"] == "true"), env


def auditlake_bin() -> str:
    """The CLI binary under test; a missing one fails the test (it must not pass unnoticed)."""
    path = os.environ.get("AUDITLAKE_BIN")
    if not path:
        pytest.fail(
            "AUDITLAKE_BIN is not set: it must name the built `auditlake` CLI binary "
            "(scripts/test.sh sets it to <target>/debug/auditlake after cargo test)"
        )
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"AUDITLAKE_BIN={path} is not an executable file: build the CLI first (cargo build -p auditlake-cli)")
    return path


def config_check(binary: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the function's environment (plus PATH), as the Lambda would see it.
    return subprocess.run(
        [binary, "config", "check"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def env_cases():
    seen = set()
    for name in sorted(SCENARIOS):
        sc = scenario(name)
        for function in FUNCTIONS:
            env = function_env(sc, function)
            # Sign-ins and audits get the same environment; each function is checked anyway.
            key = (function, tuple(sorted(env.items())))
            if key not in seen:
                seen.add(key)
                yield pytest.param(env, id=f"{function}-{name}")


ENV_CASES = list(env_cases())


@pytest.mark.parametrize("env", ENV_CASES)
def test_config_check_accepts_function_environment(env):
    out = config_check(auditlake_bin(), env)
    assert out.returncode == 0, f"auditlake config check refused {env}:\n{out.stderr}"
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got: {out.stdout!r}"
    assert isinstance(json.loads(lines[0]), dict), lines[0]


def mutate(name: str) -> str:
    """A plausible typo of a variable name: a plural dropped or added."""
    return name[:-1] if name.endswith("S") else name + "S"


def mutation_cases():
    known = set(config_variables())
    for case in ENV_CASES:
        env = case.values[0]
        for var in sorted(env):
            bad = mutate(var)
            assert bad not in known, f"mutation {var} → {bad} is a real variable"
            mutated = {(bad if k == var else k): v for k, v in env.items()}
            yield pytest.param(mutated, bad, id=f"{case.id}-{bad}")


@pytest.mark.parametrize(("env", "bad"), list(mutation_cases()))
def test_config_check_refuses_a_misspelt_variable(env, bad):
    out = config_check(auditlake_bin(), env)
    assert out.returncode != 0, f"auditlake config check accepted {bad}: {out.stdout}"
    # The exact name, not as part of a longer one (AUDITLAKE_TENANT_ID inside AUDITLAKE_TENANT_IDS).
    assert re.search(r"(?<![A-Z0-9_])" + re.escape(bad) + r"(?![A-Z0-9_])", out.stderr), (
        f"stderr does not name {bad}:\n{out.stderr}"
    )


# ---------------------------------------------------------------------------------------------
# (c) Structure
# ---------------------------------------------------------------------------------------------

def resources_of_type(tmpl: dict, kind: str) -> dict[str, dict]:
    return {str(k): v for k, v in tmpl["Resources"].items() if v["Type"] == kind}


def is_ref(node, target: str) -> bool:
    return intrinsic(node) == ("Ref", target)


def get_att_target(node) -> tuple[str, str] | None:
    """(resource, attribute) of a `!GetAtt`, else None."""
    fn = intrinsic(node)
    if fn is None or fn[0] != "Fn::GetAtt":
        return None
    arg = fn[1]
    res, att = arg.split(".", 1) if isinstance(arg, str) else arg
    return str(res), str(att)


def is_key_arn(node) -> bool:
    """The lake key, by `!Ref LakeKey` (its id) or `!GetAtt LakeKey.Arn`."""
    return is_ref(node, "LakeKey") or get_att_target(node) == ("LakeKey", "Arn")


def test_names_other_parts_depend_on():
    tmpl = template()
    for lid, kind in {
        "LakeBucket": "AWS::S3::Bucket",
        "AthenaResultsBucket": "AWS::S3::Bucket",
        "GlueDatabase": "AWS::Glue::Database",
        "AthenaWorkGroup": "AWS::Athena::WorkGroup",
        "LakeKey": "AWS::KMS::Key",
        "AlertTopic": "AWS::SNS::Topic",
        "CalendarTable": "AWS::Glue::Table",
        "SignInsFunction": "AWS::Lambda::Function",
        "AuditsFunction": "AWS::Lambda::Function",
        "IamKeysFunction": "AWS::Lambda::Function",
    }.items():
        assert tmpl["Resources"][lid]["Type"] == kind, lid
    assert set(resources_of_type(tmpl, "AWS::Lambda::Function")) == set(FUNCTIONS)
    for param in [
        "CodeBucket", "SignInsCodeKey", "AuditsCodeKey", "IamKeysCodeKey", "Architecture", "AlertEmail",
        "TenantIds", "TenantIds2", "TenantIds3", "TenantIds4", "GraphClientIdParam", "GraphClientSecretParam",
        "GraphCertParam", "GraphCloud", "SignInsSchedule", "AuditsSchedule", "IamKeysSchedule", "AccountIds",
        "Organization", "AssumeRoleName", "QuickSightPrincipalArn", "GraphFreshnessMinutes", "IamFreshnessHours",
        "LakeTransitionDays", "LakeExpirationDays", "AthenaBytesScannedCutoff", "LogRetentionDays", "DatabaseName",
        *AZURE_PARAMS.values(),
    ]:
        assert param in tmpl["Parameters"], param
    for output in [
        "LakeBucketName", "LakeUrl", "AthenaResultsBucketName", "AthenaWorkGroupName", "DatabaseName",
        "LakeKeyArn", "LakeKeyAlias", "AlertTopicArn", "SignInsFunctionName", "AuditsFunctionName",
        "IamKeysFunctionName", "IamCollectorRoleArn",
    ]:
        assert output in tmpl["Outputs"], output
    assert scenario("defaults").resolve(tmpl["Outputs"]["LakeUrl"]["Value"]) == f"s3://{RESOURCE_REF_SAMPLES['LakeBucket']}"
    assert get_att_target(tmpl["Outputs"]["IamCollectorRoleArn"]["Value"]) == ("IamKeysRole", "Arn")


def test_generated_region_markers():
    text = TEMPLATE.read_text()
    begin = "  # BEGIN GENERATED by `auditlake schema cfn` from shared/src/schema and athena/queries (do not edit)\n"
    end = "  # END GENERATED\n"
    assert text.count(begin) == 1 and text.count(end) == 1
    assert text.index("\nResources:\n") < text.index(begin) < text.index(end) < text.index("\nOutputs:\n")
    # Nothing but resources of the generator's kinds between the markers.
    tmpl = template()
    between = text[text.index(begin) + len(begin): text.index(end)]
    for lid in re.findall(r"^  ([A-Za-z0-9]+):\s*$", between, re.M):
        assert tmpl["Resources"][lid]["Type"] in ("AWS::Glue::Table", "AWS::Athena::NamedQuery"), lid


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions(function):
    tmpl = template()
    props = tmpl["Resources"][function]["Properties"]
    assert props["Runtime"] == "provided.al2023" and props["Handler"] == "bootstrap"
    assert props["Timeout"] == 900
    assert props["MemorySize"] == (1024 if function in GRAPH_FUNCTIONS else 512)
    assert is_key_arn(props["KmsKeyArn"])
    assert is_ref(props["Architectures"][0], "Architecture")
    assert is_ref(props["Code"]["S3Bucket"], "CodeBucket")

    for name in SCENARIOS:
        sc = scenario(name)
        concurrency = sc.resolve(props["ReservedConcurrentExecutions"])
        # One run at a time in every scenario: two runs of one tenant group side by side would
        # write the same files; groups queue instead.
        assert concurrency == 1, (name, concurrency)

    # A failed asynchronous run is retried at most twice and then reported on the topic.
    configs = [
        c["Properties"] for c in resources_of_type(tmpl, "AWS::Lambda::EventInvokeConfig").values()
        if is_ref(c["Properties"]["FunctionName"], function)
    ]
    assert len(configs) == 1, f"{function}: one EventInvokeConfig"
    assert configs[0]["MaximumRetryAttempts"] <= 2
    assert is_ref(configs[0]["DestinationConfig"]["OnFailure"]["Destination"], "AlertTopic")

    # Its own log group, with retention and the key, named as Lambda names it.
    log_ref = props["LoggingConfig"]["LogGroup"]
    assert intrinsic(log_ref)[0] == "Ref"
    group = tmpl["Resources"][intrinsic(log_ref)[1]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert is_ref(group["Properties"]["RetentionInDays"], "LogRetentionDays")
    assert is_key_arn(group["Properties"]["KmsKeyId"])
    sc = scenario("defaults")
    assert sc.resolve(group["Properties"]["LogGroupName"]) == "/aws/lambda/" + sc.resolve(props["FunctionName"])

    # An Errors alarm on the topic.
    errors = [
        a["Properties"] for a in resources_of_type(tmpl, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Errors"
        and is_ref(a["Properties"]["Dimensions"][0]["Value"], function)
    ]
    assert len(errors) == 1, f"{function}: one Errors alarm"


def bucket_policy_statements(tmpl: dict, bucket: str) -> list:
    out = []
    for res in resources_of_type(tmpl, "AWS::S3::BucketPolicy").values():
        if is_ref(res["Properties"]["Bucket"], bucket):
            out.extend(statements(res["Properties"]["PolicyDocument"]))
    return out


def test_buckets():
    tmpl = template()
    buckets = resources_of_type(tmpl, "AWS::S3::Bucket")
    assert {"LakeBucket", "AthenaResultsBucket"} <= set(buckets)
    # S3 delivers server access logs only into SSE-S3 buckets: a log target is the one
    # documented exception to SSE-KMS.
    log_targets = {
        intrinsic(b["Properties"]["LoggingConfiguration"]["DestinationBucketName"])[1]
        for b in buckets.values()
        if "LoggingConfiguration" in b["Properties"]
    }
    for lid, bucket in buckets.items():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if lid in log_targets:
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", lid
        else:
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", lid
            assert is_key_arn(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]), lid
            assert rule["BucketKeyEnabled"] is True, lid
            assert "LoggingConfiguration" in props, f"{lid}: server access logging"
        assert props["VersioningConfiguration"]["Status"] == "Enabled", lid
        pab = props["PublicAccessBlockConfiguration"]
        assert all(pab[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")), lid
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced", lid
        assert props.get("LifecycleConfiguration", {}).get("Rules"), f"{lid}: lifecycle rules"
        tls = [st for st in bucket_policy_statements(tmpl, lid) if is_tls_only_deny(st)]
        assert tls, f"{lid}: no TLS-only (aws:SecureTransport false → Deny) bucket policy"
        st = tls[0]
        assert st["Principal"] == "*" and values(st["Action"]) == ["s3:*"], lid
        covered = {json.dumps(r, sort_keys=True) for r in values(st["Resource"])}
        assert json.dumps({"Fn::GetAtt": [lid, "Arn"]}, sort_keys=True) in covered or json.dumps(
            {"Fn::GetAtt": f"{lid}.Arn"}, sort_keys=True
        ) in covered, f"{lid}: the TLS deny covers the bucket"
        assert json.dumps({"Fn::Sub": "${%s.Arn}/*" % lid}, sort_keys=True) in covered, f"{lid}: the TLS deny covers the objects"


def test_lake_lifecycle_never_expires_checkpoints_or_calendar():
    rules = template()["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for name in SCENARIOS:
        sc = scenario(name)
        for rule in sc.resolve(rules):
            if "ExpirationInDays" in rule:
                prefix = rule.get("Prefix", "")
                assert prefix in ("entra_signins/", "entra_directory_audits/", "aws_iam_access_keys/", "_quarantine/"), rule
        expiring = [r for r in sc.resolve(rules) if "ExpirationInDays" in r]
        assert bool(expiring) == (sc.params["LakeExpirationDays"] != "0"), name


def test_lake_prefixes_in_collector_policies():
    tmpl = template()
    for function, table in TABLES.items():
        role, _ = get_att_target(tmpl["Resources"][function]["Properties"]["Role"])
        policies = [
            p for p in resources_of_type(tmpl, "AWS::IAM::Policy").values()
            if any(is_ref(r, role) for r in p["Properties"]["Roles"])
        ]
        assert len(policies) == 1, function
        sts = statements(policies[0]["Properties"]["PolicyDocument"])
        # The Azure sender's delivery progress is checked in test_azure_delivery_progress_prefix.
        s3_objects = [
            st for st in sts if "s3:PutObject" in values(st["Action"]) and st.get("Sid") != "ReadWriteAzureDeliveryProgress"
        ]
        assert len(s3_objects) == 1
        prefixes = sorted(intrinsic(r)[1] for r in values(s3_objects[0]["Resource"]))
        assert prefixes == sorted(
            "${LakeBucket.Arn}/" + p for p in (f"{table}/*", f"_state/{table}/*", f"_quarantine/{table}/*")
        ), prefixes
        for action in ("s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"):
            assert action in values(s3_objects[0]["Action"]), action
        (listing,) = [st for st in sts if "s3:ListBucket" in values(st["Action"])]
        cond = listing["Condition"]
        (op,) = cond
        assert sorted(cond[op]["s3:prefix"]) == sorted([f"{table}/*", f"_state/{table}/*", f"_quarantine/{table}/*"])
        # Every other statement of a collector touches no S3 object.
        for st in sts:
            if st is not s3_objects[0] and st is not listing and st.get("Sid") != "ReadWriteAzureDeliveryProgress":
                assert not any(str(a).startswith("s3:") for a in values(st["Action"])), st


def test_azure_delivery_progress_prefix():
    """The Azure sender keeps its progress at _state/azure/aws_iam_access_keys/dt=…/<account>.json
    (shared/src/azure.rs): the IAM role reads and writes there only when delivery is on."""
    src = (ROOT / "shared" / "src" / "azure.rs").read_text()
    assert '"_state/azure/{}/dt={report_date}/{account}.json", TABLE.name' in src, "the progress path moved: update the policy"
    tmpl = template()
    doc = tmpl["Resources"]["IamKeysPolicy"]["Properties"]["PolicyDocument"]
    for name in SCENARIOS:
        sc = scenario(name)
        sts = [st for st in sc.resolve(doc)["Statement"] if st.get("Sid") == "ReadWriteAzureDeliveryProgress"]
        if not sc.condition("SendsToAzure"):
            assert sts == [], name
            continue
        (st,) = sts
        assert st["Effect"] == "Allow" and sorted(st["Action"]) == ["s3:GetObject", "s3:PutObject"], st
        assert st["Resource"] == f"arn:aws:s3:::{RESOURCE_REF_SAMPLES['LakeBucket']}/_state/azure/aws_iam_access_keys/*"
    for policy in ("SignInsPolicy", "AuditsPolicy"):
        assert "azure" not in json.dumps(tmpl["Resources"][policy]).lower(), policy


def test_ssm_parameter_arns_match_parameter_names():
    tmpl = template()
    for param in ("GraphClientIdParam", "GraphClientSecretParam", "GraphCertParam"):
        pattern = str(tmpl["Parameters"][param]["AllowedPattern"])
        assert "^/" in pattern, f"{param}: names must start with / (the ARN is parameter<name>)"
    for name in ("defaults", "certificate"):
        sc = scenario(name)
        for function in GRAPH_FUNCTIONS:
            env = function_env(sc, function)
            wanted = {
                f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{v}"
                for k, v in env.items() if k.endswith("_PARAM")
            }
            policy = f"{function.removesuffix('Function')}Policy"
            sts = sc.resolve(tmpl["Resources"][policy]["Properties"]["PolicyDocument"])["Statement"]
            (ssm,) = [st for st in sts if "ssm:GetParameters" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]
            assert set(ssm["Resource"]) == wanted, (name, function, ssm["Resource"], wanted)


def test_iam_collector_reads_exactly_the_azure_app_parameters():
    tmpl = template()
    for pname in ("AzureClientIdParam", "AzureClientSecretParam", "AzureCertParam"):
        assert "^/" in str(tmpl["Parameters"][pname]["AllowedPattern"]), pname
    doc = tmpl["Resources"]["IamKeysPolicy"]["Properties"]["PolicyDocument"]
    # In the template: one conditional statement, under SendsToAzure only.
    items = doc["Statement"]
    ssm_items = [i for i in items if "ssm:" in json.dumps(i)]
    assert len(ssm_items) == 1
    cond, yes, no = ssm_items[0]["Fn::If"]
    assert cond == "SendsToAzure" and no == {"Ref": "AWS::NoValue"}
    assert yes["Action"] == "ssm:GetParameters" and yes["Effect"] == "Allow"
    for name in SCENARIOS:
        sc = scenario(name)
        env = function_env(sc, "IamKeysFunction")
        sts = [st for st in sc.resolve(doc)["Statement"] if "ssm:GetParameters" in json.dumps(st["Action"])]
        if not sc.condition("SendsToAzure"):
            assert sts == [], name
            assert not any(k.endswith("_PARAM") for k in env), env
            continue
        (ssm,) = sts
        # Exactly the parameters the function's environment names, nothing else (no Graph app).
        wanted = {
            f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{v}" for k, v in env.items() if k.endswith("_PARAM")
        }
        assert len(wanted) == 2 and sorted(ssm["Resource"]) == sorted(wanted), (name, ssm["Resource"], wanted)
        assert all(k.startswith("AUDITLAKE_AZURE_") for k in env if k.endswith("_PARAM")), env
        # The SecureStrings are decrypted with the stack's key, as for the Graph functions.
        (kms,) = [st for st in sc.resolve(doc)["Statement"] if st.get("Sid") == "UseLakeKey"]
        assert "kms:Decrypt" in kms["Action"]
    # The Graph functions' environments and policies know nothing of Azure.
    for function in GRAPH_FUNCTIONS:
        assert "Azure" not in json.dumps(tmpl["Resources"][function]["Properties"]["Environment"]), function
        assert "AUDITLAKE_AZURE" not in json.dumps(tmpl["Resources"][function]), function


def test_iam_collector_permissions_follow_the_account_scope():
    tmpl = template()
    doc = tmpl["Resources"]["IamKeysPolicy"]["Properties"]["PolicyDocument"]
    for name, assume, org in [("defaults", False, False), ("listed-accounts", True, False), ("organization", True, True)]:
        sc = scenario(name)
        actions = {a for st in sc.resolve(doc)["Statement"] for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
        assert ("sts:AssumeRole" in actions) == assume, name
        assert ("organizations:ListAccounts" in actions) == org, name
    sc = scenario("listed-accounts")
    (assume_st,) = [st for st in sc.resolve(doc)["Statement"] if st["Action"] == "sts:AssumeRole"]
    assert assume_st["Resource"] == "arn:aws:iam::*:role/AuditLakeReader"


def iam_actions_the_code_calls() -> set[str]:
    """IAM API calls in shared/src/iam/*.rs (`.list_access_keys()` → iam:ListAccessKeys)."""
    from cfnlint.data import AdditionalSpecs  # noqa: F401  (the package holding Policies.json)

    spec = json.loads((Path(AdditionalSpecs.__file__).parent / "Policies.json").read_text())
    iam_actions = set(spec["iam"]["Actions"])  # lower-case names
    calls = set()
    for src in IAM_SRC.glob("*.rs"):
        for ident in re.findall(r"\.([a-z][a-z0-9_]*)\(\)", src.read_text()):
            flat = ident.replace("_", "")
            if flat in iam_actions and "_" in ident:
                calls.add("iam:" + "".join(w.capitalize() for w in ident.split("_")))
    return calls


def test_member_role_allows_exactly_the_iam_reads_the_code_makes():
    expected = iam_actions_the_code_calls()
    assert {"iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:ListAccessKeys"} <= expected, expected
    role = template(MEMBER_ROLE)["Resources"]["ReaderRole"]["Properties"]
    granted = {a for p in role["Policies"] for st in statements(p["PolicyDocument"]) for a in values(st["Action"])}
    assert granted == expected, f"member role grants {granted}, the code calls {expected}"
    # Trusted by the collector's role (a parameter) and nobody else.
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Effect"] == "Allow" and values(trust["Action"]) == ["sts:AssumeRole"]
    assert trust["Principal"] == {"AWS": {"Ref": "CollectorRoleArn"}}
    assert is_ref(role["RoleName"], "RoleName")
    assert template(MEMBER_ROLE)["Parameters"]["RoleName"]["Default"] == template()["Parameters"]["AssumeRoleName"]["Default"]
    # The collector itself reads its own account with the same calls.
    collector = template()["Resources"]["IamKeysPolicy"]["Properties"]["PolicyDocument"]
    collector_iam = {a for st in statements(collector) for a in values(st["Action"]) if str(a).startswith("iam:")}
    assert collector_iam == expected, collector_iam


def test_schedules():
    tmpl = template()
    schedules = resources_of_type(tmpl, "AWS::Scheduler::Schedule")
    by_function: dict[str, list] = {f: [] for f in FUNCTIONS}
    for lid, res in schedules.items():
        target = res["Properties"]["Target"]
        function, _ = get_att_target(target["Arn"])
        by_function[function].append((lid, res))
        props = res["Properties"]
        assert props["FlexibleTimeWindow"]["Mode"] == "OFF", lid
        assert 0 <= target["RetryPolicy"]["MaximumRetryAttempts"] <= 5, lid
        assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400, lid
        dlq = get_att_target(target["DeadLetterConfig"]["Arn"])
        assert dlq and tmpl["Resources"][dlq[0]]["Type"] == "AWS::SQS::Queue", lid
    assert len(by_function["IamKeysFunction"]) == 1
    for function in GRAPH_FUNCTIONS:
        assert len(by_function[function]) == 4, f"{function}: one schedule per tenant group"

    for name in SCENARIOS:
        sc = scenario(name)
        active = sc.resources()
        for function, items in by_function.items():
            groups = set()
            for lid, res in items:
                if lid not in active:
                    continue
                event = json.loads(sc.resolve(res["Properties"]["Target"]["Input"]))
                assert event["time"] == "<aws.scheduler.scheduled-time>", lid
                if function in GRAPH_FUNCTIONS:
                    assert set(event) == {"time", "tenant_ids"}, event
                    groups.add(event["tenant_ids"])
                else:
                    assert set(event) == {"time"}, event
            if function in GRAPH_FUNCTIONS:
                wanted = {sc.params[p] for p in TENANT_GROUP_PARAMS if sc.params[p] != ""}
                assert groups == wanted, (name, function, groups, wanted)


def test_alarms():
    tmpl = template()
    alarms = resources_of_type(tmpl, "AWS::CloudWatch::Alarm")
    for lid, res in alarms.items():
        props = res["Properties"]
        # The topic and key policies admit alarms named <stack>-*.
        assert str(intrinsic(props["AlarmName"])[1]).startswith("${AWS::StackName}-"), lid
        assert [is_ref(a, "AlertTopic") for a in props["AlarmActions"]] == [True], lid
        assert [is_ref(a, "AlertTopic") for a in props["OKActions"]] == [True], lid
    freshness = {
        props["Dimensions"][0]["Value"]: props
        for props in (a["Properties"] for a in alarms.values())
        if props.get("MetricName") == "MaxCursorLagSeconds"
    }
    assert set(freshness) == set(TABLES.values())
    for table, props in freshness.items():
        assert props["Namespace"] == "auditlake" and props["Dimensions"][0]["Name"] == "Table"
        assert props["Statistic"] == "Maximum" and props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "breaching", table
        for name in SCENARIOS:
            sc = scenario(name)
            period, threshold = sc.resolve(props["Period"]), sc.resolve(props["Threshold"])
            if table == "aws_iam_access_keys":
                wanted = int(sc.params["IamFreshnessHours"]) * 3600
            else:
                wanted = int(sc.params["GraphFreshnessMinutes"]) * 60
            assert threshold == wanted and period == wanted, (table, period, threshold, wanted)
            evaluations = sc.resolve(props["EvaluationPeriods"])
            limit = 86400 if period < 3600 else 604800
            assert period % 60 == 0 and period * evaluations <= limit, (table, period, evaluations)
    # Every value a freshness parameter allows maps to seconds.
    for param, mapping, unit in [("GraphFreshnessMinutes", "GraphFreshnessSeconds", 60), ("IamFreshnessHours", "IamFreshnessSeconds", 3600)]:
        allowed = [str(v) for v in tmpl["Parameters"][param]["AllowedValues"]]
        assert sorted(allowed) == sorted(tmpl["Mappings"][mapping]), param
        for v in allowed:
            assert tmpl["Mappings"][mapping][v]["Seconds"] == int(v) * unit
    dlq_alarms = [a for a in alarms.values() if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert len(dlq_alarms) == 1


def test_encryption_of_topic_queue_and_key():
    tmpl = template()
    key = tmpl["Resources"]["LakeKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert tmpl["Resources"]["LakeKey"]["DeletionPolicy"] == "Retain"
    for res in resources_of_type(tmpl, "AWS::SNS::Topic").values():
        assert is_key_arn(res["Properties"]["KmsMasterKeyId"])
    for res in resources_of_type(tmpl, "AWS::SQS::Queue").values():
        assert is_key_arn(res["Properties"]["KmsMasterKeyId"])
    workgroup = tmpl["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert is_key_arn(workgroup["ResultConfiguration"]["EncryptionConfiguration"]["KmsKey"])
    assert is_ref(workgroup["BytesScannedCutoffPerQuery"], "AthenaBytesScannedCutoff")


def test_calendar_table():
    table = template()["Resources"]["CalendarTable"]["Properties"]["TableInput"]
    assert table["Name"] == "calendar"
    sd = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [("day", "date")]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert sd["SerdeInfo"]["Parameters"]["field.delim"] == ","
    assert scenario("defaults").resolve(sd["Location"]) == f"s3://{RESOURCE_REF_SAMPLES['LakeBucket']}/_calendar/"


def test_quicksight_nested_stack():
    tmpl = template()
    stack = tmpl["Resources"]["QuickSightStack"]
    assert stack["Type"] == "AWS::CloudFormation::Stack" and stack["Condition"] == "HasQuickSight"
    params = stack["Properties"]["Parameters"]
    assert set(params) == {"QuickSightPrincipalArn", "AthenaWorkGroup", "DatabaseName", "NamePrefix"}
    assert stack["Properties"]["TemplateURL"] == "quicksight.yaml"
    assert "QuickSightStack" not in scenario("defaults").resources()
    assert "QuickSightStack" in scenario("four-groups-usgov").resources()
    nested = INFRA / "quicksight.yaml"
    if nested.exists():
        declared = set(template(nested).get("Parameters", {}))
        assert set(params) <= declared, f"quicksight.yaml does not declare {set(params) - declared}"
        required = {k for k, v in template(nested).get("Parameters", {}).items() if "Default" not in v}
        assert required <= set(params), f"quicksight.yaml needs {required - set(params)}"
