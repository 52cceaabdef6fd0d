"""scripts/deploy.sh and scripts/put-secrets.sh against a moto server of their own.

The scripts run as a user would run them (a subprocess, the AWS CLI on PATH), pointed at moto
with AWS_ENDPOINT_URL. Stand-in zips (a `bootstrap` file in a zip) replace the real Lambda build.

moto limitations are worked around here, in the test only (the scripts do not know about
them):

- moto serves templates from its S3 only for `TemplateURL`s whose host is `localhost` or an
  `amazonaws.com` name: with `http://127.0.0.1:PORT/bucket/key` it takes "127" for the bucket
  (NoSuchBucket from CreateChangeSet). The CLI builds that URL from the endpoint, so the
  endpoint here is `http://localhost:PORT`.
- moto's CloudFormation (5.2.5) leaves a stack created or updated through a change set (which
  is what `aws cloudformation deploy` does) without Outputs, and ignores `Architectures` of an
  `AWS::Lambda::Function` (every function is x86_64). The server below is moto_server with two
  patches for that: outputs are rebuilt after a change set executes, and the architectures
  are copied to the function.
- moto resolves `!If [condition, item, !Ref AWS::NoValue]` inside a list to a null item where
  CloudFormation drops the item (an IAM policy statement list with a null is then
  "MalformedPolicyDocument"). The server drops such nulls.
- moto takes every parameter left at its default as changed when a stack is updated (it
  compares with the parameters given at creation, defaults left out), so a re-deploy with the
  same parameters "modifies" most resources, and crashes (HTTP 500) on a resource whose
  condition is false (the QuickSight nested stack). The server compares with the resolved
  parameters.
- moto evaluates only `StringEquals` conditions of a bucket policy and takes any other
  condition as met, so the artifacts bucket's TLS-only statement (Deny when
  `aws:SecureTransport` is "false") would deny every object request. The server drops such
  statements when it checks a request (real clients use TLS, so they never apply there).

moto's CloudFormation skips resources it does not model (Glue, Athena, Scheduler, CloudWatch
alarms, QuickSight) without a word, so those are checked by cfn-lint, not here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "scripts" / "deploy.sh"
PUT_SECRETS = ROOT / "scripts" / "put-secrets.sh"
TEMPLATE = ROOT / "infra" / "template.yaml"

REGION = "us-east-1"
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT_ID = "22222222-2222-2222-2222-222222222222"
EMAIL = "secops@example.com"
STACK = "auditlake"
ARCH = "arm64"  # not moto's default (x86_64), so the test sees it was passed on
FUNCTIONS = ("graph-signins", "graph-audits", "iam-access-keys")

MOTO_LAUNCHER = r'''
import json
import sys

from moto.awslambda.models import LambdaFunction
from moto.cloudformation.models import CloudFormationBackend

_execute = CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    _execute(self, change_set_name, stack_name)
    change_set = self.change_sets.get(change_set_name) or next(
        c for c in self.change_sets.values() if c.change_set_name == change_set_name
    )
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()


CloudFormationBackend.execute_change_set = execute_change_set

_create = LambdaFunction.create_from_cloudformation_json.__func__


def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    fn = _create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    architectures = cloudformation_json["Properties"].get("Architectures")
    if architectures:
        fn.architectures = architectures
    return fn


LambdaFunction.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

import moto.cloudformation.parsing as parsing

_clean_json = parsing.clean_json


def clean_json(resource_json, resources_map):
    # `!If [cond, item, !Ref AWS::NoValue]` inside a list removes the item in CloudFormation;
    # moto leaves a null there (an IAM policy with a null statement is then malformed).
    if isinstance(resource_json, list):
        cleaned = (clean_json(item, resources_map) for item in resource_json)
        return [item for item in cleaned if item is not None]
    return _clean_json(resource_json, resources_map)


parsing.clean_json = clean_json

_build_resource_diff = parsing.ResourceMap.build_resource_diff


def build_resource_diff(self, other_template, parameters=None):
    # moto compares an update's parameters with those given at creation, without the
    # defaults, so every defaulted parameter looks changed and every resource that refers to
    # one is "modified" (a skipped conditional resource then crashes the update). Compare with
    # the resolved values instead.
    given = self.input_parameters
    self.input_parameters = dict(self.resolved_parameters, **(given or {}))
    try:
        return _build_resource_diff(self, other_template, parameters)
    finally:
        self.input_parameters = given


parsing.ResourceMap.build_resource_diff = build_resource_diff

from moto.s3.models import FakeBucket
from moto.iam.access_control import IAMPolicy, PermissionResult


def get_permission(self, action, resource):
    # moto evaluates only StringEquals conditions and takes any other condition as met, so a
    # TLS-only statement (Deny when aws:SecureTransport is "false") would deny every request.
    # Clients of real buckets use TLS: such statements never apply.
    if self.policy is None:
        return PermissionResult.NEUTRAL
    doc = json.loads(self.policy.decode())
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    kept = [s for s in statements if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") != "false"]
    if not kept:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps(dict(doc, Statement=kept))).is_action_permitted(action, resource)


FakeBucket.get_permission = get_permission

from moto.server import main

main(["-H", "127.0.0.1", "-p", sys.argv[1]])
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """A moto server of this module's own; yields its endpoint URL."""
    if shutil.which("aws") is None:
        pytest.fail("the AWS CLI (aws) is not on PATH: run through scripts/test.sh, or `source scripts/lib/moto.sh && ensure_venv`")
    work = tmp_path_factory.mktemp("moto")
    launcher = work / "moto_patched.py"
    launcher.write_text(MOTO_LAUNCHER)
    port = _free_port()
    log = open(work / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, str(launcher), str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://localhost:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto did not start: " + (work / "moto.log").read_text(errors="replace"))
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def env(moto, tmp_path_factory):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(
        AWS_ENDPOINT_URL=moto,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="AKIADEPLOYTEST000000",
        AWS_SECRET_ACCESS_KEY="deploy-test-secret",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp_path_factory.mktemp("awsconfig") / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path_factory.mktemp("awscreds") / "none"),
    )
    # The venv's aws first, as scripts/test.sh has it.
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    return e


def client(env, service):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    """Stand-in zips: DIR/<function>/bootstrap.zip (a different `bootstrap` each) and
    DIR/ARCHITECTURE, as scripts/build-lambdas.sh lays them out."""
    d = tmp_path_factory.mktemp("zips")
    for f in FUNCTIONS:
        (d / f).mkdir()
        with zipfile.ZipFile(d / f / "bootstrap.zip", "w") as z:
            info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            z.writestr(info, f"#!/bin/sh\necho stand-in for {f}\n")
    (d / "ARCHITECTURE").write_text(ARCH + "\n")
    return d


def run(cmd, env, stdin=None, timeout=300):
    return subprocess.run(
        [str(c) for c in cmd], env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def deploy_cmd(zips, *extra):
    return [DEPLOY, "--zips", zips, "--tenant-ids", TENANT, "--alert-email", EMAIL, *extra]


def sha256_b64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifacts_bucket(env) -> str:
    account = client(env, "sts").get_caller_identity()["Account"]
    return f"auditlake-artifacts-{account}-{REGION}"


NO_VALUE = object()


def load_template() -> dict:
    """infra/template.yaml with its short-form tags as the long form ({"Fn::If": ...})."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {("Condition" if suffix == "Condition" else f"Fn::{suffix}"): value}

    Loader.add_multi_constructor("!", tag)
    return yaml.load(TEMPLATE.read_text(), Loader=Loader)


def template_environments(params: dict[str, str], lake_bucket: str) -> dict[str, dict[str, object]]:
    """Each function's environment as the template sets it for `params`, keyed by the template
    parameter of its code key (SignInsCodeKey, ...). Values this test cannot resolve (other
    resources' attributes) are None."""
    template = load_template()
    values = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    values.update(params)

    def condition(name):
        return evaluate(template["Conditions"][name])

    def evaluate(node):
        if isinstance(node, dict):
            (fn, arg), = node.items()
            if fn == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                return values.get(arg)  # a resource's Ref: unknown here
            if fn == "Condition":
                return condition(arg)
            if fn == "Fn::Equals":
                a, b = (evaluate(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not evaluate(arg[0])
            if fn == "Fn::Or":
                return any(evaluate(x) for x in arg)
            if fn == "Fn::And":
                return all(evaluate(x) for x in arg)
            if fn == "Fn::If":
                return evaluate(arg[1] if condition(arg[0]) else arg[2])
            if fn == "Fn::Sub" and isinstance(arg, str):
                out = arg.replace("${LakeBucket}", lake_bucket)
                out = re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: values.get(m.group(1), m.group(0)), out)
                return None if "${" in out else out
            return None
        return node

    found = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        code_key = props["Code"]["S3Key"]["Ref"]
        variables = props.get("Environment", {}).get("Variables", {})
        env = {}
        for name, node in variables.items():
            value = evaluate(node)
            if value is not NO_VALUE:
                env[name] = value
        found[code_key] = env
    return found


# ---- errors and dry run: nothing may change ----


def test_missing_tenant_ids_is_a_clear_error(env, zips):
    r = run([DEPLOY, "--zips", zips, "--alert-email", EMAIL, "--stack-name", "auditlake-notenant",
             "--artifacts-bucket", "auditlake-notenant-artifacts"], env)
    assert r.returncode != 0
    assert "TenantIds" in r.stderr and "--tenant-ids" in r.stderr, r.stderr
    assert "auditlake-notenant-artifacts" not in [b["Name"] for b in client(env, "s3").list_buckets()["Buckets"]]
    assert "auditlake-notenant" not in [s["StackName"] for s in client(env, "cloudformation").describe_stacks()["Stacks"]]


def test_missing_zip_is_a_clear_error(env, zips, tmp_path):
    partial = tmp_path / "zips"
    shutil.copytree(zips, partial)
    (partial / "graph-audits" / "bootstrap.zip").unlink()
    r = run(deploy_cmd(partial, "--stack-name", "auditlake-nozip"), env)
    assert r.returncode != 0
    assert "graph-audits/bootstrap.zip" in r.stderr, r.stderr


def test_missing_credentials_is_a_clear_error(env, zips):
    bad = dict(env)
    del bad["AWS_ACCESS_KEY_ID"], bad["AWS_SECRET_ACCESS_KEY"]
    r = run(deploy_cmd(zips, "--stack-name", "auditlake-nocreds"), bad)
    assert r.returncode != 0
    assert "credentials" in r.stderr and "sts get-caller-identity" in r.stderr, r.stderr


def test_missing_aws_cli_is_a_clear_error(env, zips, tmp_path):
    # A PATH with the tools the script needs but no aws.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "cat", "sed", "grep", "tr", "head", "mktemp", "rm", "awk", "cut", "sha256sum", "wc"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    no_aws = dict(env, PATH=str(bin_dir))
    r = run(["bash", DEPLOY, "--zips", zips, "--tenant-ids", TENANT], no_aws)
    assert r.returncode != 0
    assert "AWS CLI" in r.stderr and "install" in r.stderr.lower(), r.stderr


def test_dry_run_changes_nothing(env, zips):
    s3 = client(env, "s3")
    cfn = client(env, "cloudformation")
    buckets_before = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    stacks_before = sorted(s["StackName"] for s in cfn.describe_stacks()["Stacks"])

    r = run(deploy_cmd(zips, "--stack-name", "auditlake-dry", "--param", "LogRetentionDays=30", "--dry-run"), env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # Every step is shown: upload, package, deploy, calendar; with the resolved parameters.
    for expected in ("s3api put-object", "cloudformation package", "cloudformation deploy", "_calendar/calendar.csv",
                     "CAPABILITY_AUTO_EXPAND", "--no-fail-on-empty-changeset"):
        assert expected in out, f"{expected!r} missing from the dry run:\n{out}"
    assert f"TenantIds={TENANT}" in out.replace("\\", "")
    assert f"Architecture={ARCH}" in out
    for f in FUNCTIONS:
        assert f"lambda/{f}/{sha256_hex(zips / f / 'bootstrap.zip')}.zip" in out

    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == buckets_before
    assert sorted(s["StackName"] for s in cfn.describe_stacks()["Stacks"]) == stacks_before


def test_parameters_file_flags_and_unknown_names(env, zips, tmp_path):
    params = tmp_path / "prod.params"
    params.write_text(
        "# production\n"
        "\n"
        "TenantIds=22222222-2222-2222-2222-222222222222\n"
        "  GraphCloud = usgov   # inline comment\n"
        "AlertEmail=old@example.com\n"
        'SignInsSchedule="rate(5 minutes)"\n'
        "LogRetentionDays=30\n"
    )
    r = run([DEPLOY, "--zips", zips, "--parameters", params, "--param", "LogRetentionDays=90",
             "--alert-email", EMAIL, "--stack-name", "auditlake-params", "--dry-run"], env)
    assert r.returncode == 0, r.stderr
    deploy_line = next(line for line in r.stdout.splitlines() if "cloudformation deploy" in line).replace("\\", "")
    for expected in ("TenantIds=22222222-2222-2222-2222-222222222222", "GraphCloud=usgov", f"AlertEmail={EMAIL}",
                     "SignInsSchedule=rate(5 minutes)", "LogRetentionDays=90", f"Architecture={ARCH}"):
        assert expected in deploy_line, f"{expected!r} not in {deploy_line}"
    assert "old@example.com" not in deploy_line

    r = run([DEPLOY, "--zips", zips, "--tenant-ids", TENANT, "--param", "TenantID=x", "--dry-run"], env)
    assert r.returncode != 0
    assert "unknown template parameter 'TenantID'" in r.stderr


# ---- the real deploy ----


@pytest.fixture(scope="module")
def deployed(env, zips):
    r = run(deploy_cmd(zips), env)
    assert r.returncode == 0, f"deploy failed\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def outputs(env, stack=STACK) -> dict[str, str]:
    s = client(env, "cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}


def test_deploy_creates_the_stack(env, deployed):
    stack = client(env, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["TenantIds"] == TENANT
    assert params["Architecture"] == ARCH
    assert params["CodeBucket"] == artifacts_bucket(env)


def test_deploy_prints_outputs_and_next_steps(env, deployed):
    outs = outputs(env)
    assert "LakeBucketName" in outs
    for key, value in outs.items():
        assert key in deployed.stdout and value in deployed.stdout, f"output {key} not printed:\n{deployed.stdout}"
    for expected in ("put-secrets.sh", "aws lambda invoke", "--payload '{}'", "docs/RUNBOOK.md", EMAIL,
                     outs["SignInsFunctionName"], outs["LakeKeyAlias"]):
        assert expected in deployed.stdout, expected
    # The invoke command fits the CLI in use: CLI v2 needs --cli-binary-format for a JSON payload,
    # v1 rejects the flag.
    version = run(["aws", "--version"], env)
    v1 = (version.stdout + version.stderr).startswith("aws-cli/1.")
    assert ("--cli-binary-format raw-in-base64-out" in deployed.stdout) != v1


# The function outputs and template code-key parameters of the three Lambdas.
FUNCTION_OUTPUTS = {
    "graph-signins": ("SignInsFunctionName", "SignInsCodeKey"),
    "graph-audits": ("AuditsFunctionName", "AuditsCodeKey"),
    "iam-access-keys": ("IamKeysFunctionName", "IamKeysCodeKey"),
}


def test_functions_run_the_uploaded_code(env, zips, deployed):
    lam = client(env, "lambda")
    outs = outputs(env)
    lake = outs["LakeBucketName"]
    environments = template_environments({"TenantIds": TENANT, "AlertEmail": EMAIL, "Architecture": ARCH}, lake)
    assert set(environments) == {code_key for _, code_key in FUNCTION_OUTPUTS.values()}
    for f, (output, code_key) in FUNCTION_OUTPUTS.items():
        cfg = lam.get_function(FunctionName=outs[output])["Configuration"]
        assert cfg["CodeSha256"] == sha256_b64(zips / f / "bootstrap.zip"), f
        assert cfg["Runtime"] == "provided.al2023"
        assert cfg["Handler"] == "bootstrap"
        assert cfg["Architectures"] == [ARCH]
        variables = cfg["Environment"]["Variables"]
        expected = environments[code_key]
        assert set(variables) == set(expected), f
        for name, value in expected.items():
            if value is not None:
                assert variables[name] == str(value), (f, name)
        assert variables["AUDITLAKE_LAKE_URL"] == f"s3://{lake}"
        if f != "iam-access-keys":
            assert variables["AUDITLAKE_TENANT_IDS"] == TENANT
            assert variables["AUDITLAKE_GRAPH_CLIENT_ID_PARAM"] == "/auditlake/graph/client-id"
            assert variables["AUDITLAKE_GRAPH_CLIENT_SECRET_PARAM"] == "/auditlake/graph/client-secret"


def test_zips_are_content_addressed_in_a_private_bucket(env, zips, deployed):
    s3 = client(env, "s3")
    bucket = artifacts_bucket(env)
    for f in FUNCTIONS:
        s3.head_object(Bucket=bucket, Key=f"lambda/{f}/{sha256_hex(zips / f / 'bootstrap.zip')}.zip")
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]


def test_calendar_is_uploaded(env, deployed):
    body = client(env, "s3").get_object(Bucket=outputs(env)["LakeBucketName"], Key="_calendar/calendar.csv")["Body"].read()
    lines = body.decode().splitlines()
    assert lines[0] == "2015-01-01" and lines[-1] == "2040-12-31"
    assert len(lines) == 26 * 365 + 7  # 7 leap days: 2016, 2020, ..., 2040
    assert "2024-02-29" in lines and "2100-02-29" not in lines and "2023-02-29" not in lines
    assert len(set(lines)) == len(lines) and lines == sorted(lines)


def test_second_run_is_a_no_op(env, zips, deployed):
    s3 = client(env, "s3")
    bucket = artifacts_bucket(env)
    lam = client(env, "lambda")
    shas = {f["FunctionName"]: f["CodeSha256"] for f in lam.list_functions()["Functions"]}

    r = run(deploy_cmd(zips), env)
    assert r.returncode == 0, f"second deploy failed\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.stdout.count("already uploaded") == len(FUNCTIONS), r.stdout
    assert "is up to date" in r.stdout  # the calendar
    for f in FUNCTIONS:
        key = f"lambda/{f}/{sha256_hex(zips / f / 'bootstrap.zip')}.zip"
        versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        assert len(versions) == 1, f"{key} uploaded again: {versions}"
    status = client(env, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert {f["FunctionName"]: f["CodeSha256"] for f in lam.list_functions()["Functions"]} == shas


# ---- put-secrets.sh ----


@pytest.fixture
def traced_env(env, tmp_path):
    """env with an `aws` first on PATH that logs its arguments before running the real one,
    and a TMPDIR of its own: where a secret must never appear (argv) or stay (temp files)."""
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    argv_log = tmp_path / "aws-argv.log"
    real_aws = shutil.which("aws", path=env["PATH"])
    shim = shim_dir / "aws"
    shim.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{argv_log}"\nexec "{real_aws}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    e = dict(env, PATH=f"{shim_dir}{os.pathsep}{env['PATH']}", TMPDIR=str(tmpdir))
    return e, argv_log, tmpdir


def ssm_value(env, name):
    p = client(env, "ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    return p


def test_put_secrets_stores_secure_strings_without_showing_the_secret(env, deployed, traced_env):
    e, argv_log, tmpdir = traced_env
    canary = "canary-Zq8~sEcReT.value_1234567890"
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID], e, stdin=canary + "\n")
    assert r.returncode == 0, r.stderr
    assert canary not in r.stdout and canary not in r.stderr
    assert canary not in argv_log.read_text(), "the secret reached the aws command line"
    assert list(tmpdir.iterdir()) == [], "temporary files were left behind"

    ssm = client(env, "ssm")
    described = {p["Name"]: p for p in ssm.describe_parameters()["Parameters"]}
    for name in ("/auditlake/graph/client-id", "/auditlake/graph/client-secret"):
        assert described[name]["Type"] == "SecureString"
    # Encrypted with the stack's key, named by its alias (the LakeKeyAlias output).
    assert described["/auditlake/graph/client-secret"]["KeyId"] == outputs(env)["LakeKeyAlias"]
    assert described["/auditlake/graph/client-id"]["KeyId"] == outputs(env)["LakeKeyAlias"]
    assert ssm_value(env, "/auditlake/graph/client-secret")["Value"] == canary
    assert ssm_value(env, "/auditlake/graph/client-id")["Value"] == CLIENT_ID


def test_put_secrets_rotation_needs_overwrite(env, deployed, traced_env, tmp_path):
    e, argv_log, tmpdir = traced_env
    first = "canary-first-0001"
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--client-id-param", "/auditlake/test/rotate-id",
             "--client-secret-param", "/auditlake/test/rotate"], e, stdin=first)
    assert r.returncode == 0, r.stderr

    rotated = "canary-rotated-0002"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(rotated + "\n")
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--client-id-param", "/auditlake/test/rotate-id",
             "--client-secret-param", "/auditlake/test/rotate",
             "--secret-file", secret_file], e)
    assert r.returncode != 0
    assert "--overwrite" in r.stderr
    assert rotated not in r.stderr + r.stdout
    assert ssm_value(env, "/auditlake/test/rotate")["Value"] == first

    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--client-id-param", "/auditlake/test/rotate-id",
             "--client-secret-param", "/auditlake/test/rotate",
             "--secret-file", secret_file, "--overwrite"], e)
    assert r.returncode == 0, r.stderr
    assert rotated not in r.stdout + r.stderr
    assert rotated not in argv_log.read_text()
    assert ssm_value(env, "/auditlake/test/rotate")["Value"] == rotated  # trailing newline dropped
    assert list(tmpdir.iterdir()) == []


def test_put_secrets_refuses_a_secret_on_the_command_line(env, traced_env):
    e, _, _ = traced_env
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--secret", "canary-argv-0003"], e)
    assert r.returncode != 0
    assert "canary-argv-0003" not in r.stdout + r.stderr
    assert "standard input" in r.stderr


def test_put_secrets_dry_run_stores_nothing(env, deployed, traced_env):
    e, argv_log, _ = traced_env
    canary = "canary-dry-0004"
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--client-id-param", "/auditlake/test/dry-id",
             "--client-secret-param", "/auditlake/test/dry", "--dry-run"], e,
            stdin=canary)
    assert r.returncode == 0, r.stderr
    assert canary not in r.stdout + r.stderr
    assert "put-parameter" in r.stdout
    assert "put-parameter" not in argv_log.read_text()
    names = [p["Name"] for p in client(env, "ssm").describe_parameters()["Parameters"]]
    assert "/auditlake/test/dry" not in names


def test_put_secrets_stores_a_certificate(env, deployed, traced_env, tmp_path):
    e, argv_log, tmpdir = traced_env
    # Not a real key: the script checks for the two PEM blocks only. A 4096-bit key and its
    # certificate pass the Standard tier's 4 KB, so this one is made as large.
    body = "A" * 64 + "\n"
    pem = ("-----BEGIN PRIVATE KEY-----\n" + "canary-cert-0005\n" + body * 50 + "-----END PRIVATE KEY-----\n"
           "-----BEGIN CERTIFICATE-----\n" + body * 30 + "-----END CERTIFICATE-----\n")
    cert = tmp_path / "app.pem"
    cert.write_text(pem)
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--client-id-param", "/auditlake/test/cert-id",
             "--cert-param", "/auditlake/test/certificate", "--cert-file", cert], e)
    assert r.returncode == 0, r.stderr
    assert "canary-cert-0005" not in r.stdout + r.stderr + argv_log.read_text()
    assert "GraphCertParam=/auditlake/test/certificate" in r.stdout  # how to switch the stack over
    stored = ssm_value(env, "/auditlake/test/certificate")
    assert stored["Type"] == "SecureString" and stored["Value"] == pem
    described = client(env, "ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": ["/auditlake/test/certificate"]}])["Parameters"][0]
    assert described["Tier"] == "Advanced"
    assert list(tmpdir.iterdir()) == []

    not_pem = tmp_path / "secret.txt"
    not_pem.write_text("canary-notpem-0006\n")
    r = run([PUT_SECRETS, "--client-id", CLIENT_ID, "--cert-file", not_pem], e)
    assert r.returncode != 0 and "PEM" in r.stderr
    assert "canary-notpem-0006" not in r.stdout + r.stderr


def test_put_secrets_under_bash_x_shows_no_secret(env, deployed, traced_env):
    e, argv_log, tmpdir = traced_env
    canary = "canary-xtrace-0007"
    r = run(["bash", "-x", PUT_SECRETS, "--client-id", CLIENT_ID, "--client-id-param", "/auditlake/test/x-id",
             "--client-secret-param", "/auditlake/test/x"], e, stdin=canary)
    assert r.returncode == 0, r.stderr
    assert canary not in r.stdout + r.stderr + argv_log.read_text()
    assert ssm_value(env, "/auditlake/test/x")["Value"] == canary


# ---- Azure Monitor delivery (the IAM function only) ----

AZURE_STACK = "auditlake-azure"
AZURE_FLAGS = {
    "--azure-ingestion-url": ("AzureIngestionUrl", "https://example-abcd.westeurope-1.ingest.monitor.azure.com"),
    "--azure-dcr-id": ("AzureDcrId", "dcr-00112233445566778899aabbccddeeff"),
    "--azure-tenant-id": ("AzureTenantId", "33333333-3333-3333-3333-333333333333"),
    "--azure-client-id-param": ("AzureClientIdParam", "/auditlake/azure/client-id"),
    "--azure-client-secret-param": ("AzureClientSecretParam", "/auditlake/azure/client-secret"),
}


def azure_args() -> list[str]:
    return [a for flag, (_, value) in AZURE_FLAGS.items() for a in (flag, value)]


def test_help_lists_the_azure_flags(env):
    r = run([DEPLOY, "--help"], env)
    assert r.returncode == 0, r.stderr
    for flag, (param, _) in AZURE_FLAGS.items():
        assert flag in r.stdout and param in r.stdout, flag
    for flag in ("--azure-cert-param", "--azure-stream"):
        assert flag in r.stdout, flag
    r = run([PUT_SECRETS, "--help"], env)
    assert r.returncode == 0 and "--azure" in r.stdout, r.stderr


def test_azure_flags_dry_run_and_refusals(env, zips):
    r = run(deploy_cmd(zips, "--stack-name", "auditlake-azure-dry", *azure_args(),
                       "--param", "AzureIngestionUrl=https://overridden.example", "--dry-run"), env)
    assert r.returncode == 0, r.stderr
    deploy_line = next(line for line in r.stdout.splitlines() if "cloudformation deploy" in line).replace("\\", "")
    for param, value in AZURE_FLAGS.values():
        assert f"{param}={value}" in deploy_line, f"{param}={value} not in {deploy_line}"  # the flag wins over --param
    assert "overridden.example" not in deploy_line

    # Both credentials, or a URL that is not https: refused before anything is built or uploaded.
    for extra, message in [
        (["--azure-cert-param", "/auditlake/azure/certificate"], "not both"),
        (["--azure-ingestion-url", "http://example-abcd.westeurope-1.ingest.monitor.azure.com"], "https"),
    ]:
        r = run(deploy_cmd(zips, "--stack-name", "auditlake-azure-bad", *azure_args(), *extra, "--dry-run"), env)
        assert r.returncode != 0 and message in r.stderr, (extra, r.stderr)

    # Turned on with parts missing: a warning that names them (the stack may hold them).
    r = run(deploy_cmd(zips, "--stack-name", "auditlake-azure-dry", "--azure-ingestion-url",
                       AZURE_FLAGS["--azure-ingestion-url"][1], "--dry-run"), env)
    assert r.returncode == 0, r.stderr
    for param in ("AzureDcrId", "AzureTenantId", "AzureClientIdParam"):
        assert param in r.stderr, r.stderr


@pytest.fixture(scope="module")
def azure_deployed(env, zips):
    r = run(deploy_cmd(zips, "--stack-name", AZURE_STACK, *azure_args()), env)
    assert r.returncode == 0, f"deploy with the Azure flags failed\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def test_azure_flags_reach_only_the_iam_function(env, azure_deployed):
    stack = client(env, "cloudformation").describe_stacks(StackName=AZURE_STACK)["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    for param, value in AZURE_FLAGS.values():
        assert params[param] == value, param
    assert "put-secrets.sh --azure" in azure_deployed.stdout

    outs = outputs(env, AZURE_STACK)
    lake = outs["LakeBucketName"]
    environments = template_environments(
        {"TenantIds": TENANT, "AlertEmail": EMAIL, "Architecture": ARCH, **dict(AZURE_FLAGS.values())}, lake
    )
    lam = client(env, "lambda")
    for f, (output, code_key) in FUNCTION_OUTPUTS.items():
        variables = lam.get_function(FunctionName=outs[output])["Configuration"]["Environment"]["Variables"]
        expected = environments[code_key]
        assert set(variables) == set(expected), f
        for name, value in expected.items():
            if value is not None:
                assert variables[name] == str(value), (f, name)
        azure = {k: v for k, v in variables.items() if k.startswith("AUDITLAKE_AZURE")}
        if f == "iam-access-keys":
            assert azure == {
                "AUDITLAKE_AZURE_INGESTION_URL": AZURE_FLAGS["--azure-ingestion-url"][1],
                "AUDITLAKE_AZURE_DCR_ID": AZURE_FLAGS["--azure-dcr-id"][1],
                "AUDITLAKE_AZURE_STREAM": "Custom-AwsIamAccessKeys_CL",
                "AUDITLAKE_AZURE_TENANT_ID": AZURE_FLAGS["--azure-tenant-id"][1],
                "AUDITLAKE_AZURE_CLIENT_ID_PARAM": "/auditlake/azure/client-id",
                "AUDITLAKE_AZURE_CLIENT_SECRET_PARAM": "/auditlake/azure/client-secret",
            }, azure
        else:
            assert azure == {}, f

    # The IAM function's role may read exactly the two Azure parameters (and no Graph one).
    account = client(env, "sts").get_caller_identity()["Account"]
    iam = client(env, "iam")
    role = lam.get_function(FunctionName=outs["IamKeysFunctionName"])["Configuration"]["Role"].rsplit("/", 1)[1]
    ssm_resources = []
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if any(a.startswith("ssm:") for a in actions):
                assert actions == ["ssm:GetParameters"], st
                ssm_resources += st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
    assert sorted(ssm_resources) == [
        f"arn:aws:ssm:{REGION}:{account}:parameter/auditlake/azure/client-id",
        f"arn:aws:ssm:{REGION}:{account}:parameter/auditlake/azure/client-secret",
    ], ssm_resources

    # The stack without the flags (the `deployed` one, if it ran) has no Azure variable at all.
    names = [s["StackName"] for s in client(env, "cloudformation").describe_stacks()["Stacks"]]
    if STACK in names:
        plain = outputs(env)
        iam = lam.get_function(FunctionName=plain["IamKeysFunctionName"])["Configuration"]["Environment"]["Variables"]
        assert not any(k.startswith("AUDITLAKE_AZURE") for k in iam), iam


def test_put_secrets_azure_stores_the_sender_app(env, azure_deployed, traced_env):
    e, argv_log, tmpdir = traced_env
    canary = "canary-azure-Secret.0008"
    azure_client_id = "44444444-4444-4444-4444-444444444444"
    r = run([PUT_SECRETS, "--azure", "--stack-name", AZURE_STACK, "--client-id", azure_client_id], e,
            stdin=canary + "\n")
    assert r.returncode == 0, r.stderr
    assert canary not in r.stdout + r.stderr + argv_log.read_text()
    assert list(tmpdir.iterdir()) == []
    # The names the stack's IAM function reads, encrypted with that stack's key.
    described = {p["Name"]: p for p in client(env, "ssm").describe_parameters()["Parameters"]}
    alias = outputs(env, AZURE_STACK)["LakeKeyAlias"]
    for name in ("/auditlake/azure/client-id", "/auditlake/azure/client-secret"):
        assert described[name]["Type"] == "SecureString" and described[name]["KeyId"] == alias, described[name]
    assert ssm_value(env, "/auditlake/azure/client-secret")["Value"] == canary
    assert ssm_value(env, "/auditlake/azure/client-id")["Value"] == azure_client_id
    assert "--azure-client-id-param /auditlake/azure/client-id" in r.stdout

    r = run([PUT_SECRETS, "--azure", "--stack-name", AZURE_STACK, "--client-id", azure_client_id,
             "--client-secret", canary], e)
    assert r.returncode != 0 and canary not in r.stdout + r.stderr
