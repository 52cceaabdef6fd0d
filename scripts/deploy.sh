#!/usr/bin/env bash
# Deploys auditlake into one AWS account and region with the AWS CLI:
#
#   1. builds the three Lambda zips with scripts/build-lambdas.sh (or takes them from --zips DIR);
#   2. uploads each zip to the artifacts bucket under a content-addressed key
#      (lambda/<function>/<sha256>.zip; skipped when that object is already there), creating the
#      bucket first when it is missing (public access blocked, default encryption, versioning);
#   3. packages infra/template.yaml (`aws cloudformation package` uploads the nested
#      infra/quicksight.yaml) and deploys it (`aws cloudformation deploy`), with the code
#      location and architecture parameters set from steps 1-2;
#   4. uploads the calendar (one ISO date a line, 2015-01-01..2040-12-31) to
#      s3://<lake bucket>/_calendar/calendar.csv for the Athena `calendar` table;
#   5. prints the stack outputs and the next steps.
#
# Re-running it is safe: unchanged zips are not uploaded again and an unchanged stack is left
# as it is. --dry-run prints every command it would run and the resolved parameters, and
# changes nothing. The AWS CLI honours AWS_ENDPOINT_URL (the tests point it at moto).
# Run `scripts/deploy.sh --help` for the flags; docs/RUNBOOK.md for the whole procedure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="deploy.sh"

# The Lambdas, and the template parameter that carries each one's S3 key.
functions=(graph-signins graph-audits iam-access-keys)
code_key_param() {
  case "$1" in
    graph-signins) echo SignInsCodeKey ;;
    graph-audits) echo AuditsCodeKey ;;
    iam-access-keys) echo IamKeysCodeKey ;;
  esac
}

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh --tenant-ids GUID[,GUID...] [options]

Builds the auditlake Lambdas, uploads them, deploys the CloudFormation stack
(infra/template.yaml) and uploads the Athena calendar file.

Options:
  --stack-name NAME         CloudFormation stack (default: auditlake)
  --region REGION           AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the
                            profile's region)
  --tenant-ids IDS          Entra tenant ids, comma-separated (template parameter TenantIds;
                            required)
  --alert-email ADDRESS     e-mail subscribed to the alarm topic (parameter AlertEmail)
  --parameters FILE         template parameters, one Key=Value a line; lines starting
                            with # are comments
  --param Key=Value         one template parameter (repeatable; wins over --parameters)
  --zips DIR                take DIR/<function>/bootstrap.zip instead of building
                            (DIR/ARCHITECTURE, if present, names their architecture)
  --architecture ARCH       arm64 or x86_64 (default: the build's ARCHITECTURE file)
  --artifacts-bucket NAME   bucket for the zips and the packaged templates
                            (default: auditlake-artifacts-<account>-<region>; created when
                            missing)
  --dry-run                 print the commands and the resolved parameters; change nothing
  -h, --help                this help

Azure Monitor delivery of the access-key snapshot (optional; docs/AZURE.md). Setting
--azure-ingestion-url turns it on; the IAM function then also needs the next three and one
of the two credential parameters (the values are outputs of infra/azure/azuredeploy.json;
store the app's client id and secret with scripts/put-secrets.sh --azure):
  --azure-ingestion-url URL        output logsIngestionEndpoint (parameter AzureIngestionUrl)
  --azure-dcr-id ID                output dataCollectionRuleImmutableId, dcr-... (AzureDcrId)
  --azure-tenant-id ID             output tenantId (AzureTenantId)
  --azure-client-id-param NAME     SSM parameter of the app's client id, e.g.
                                   /auditlake/azure/client-id (AzureClientIdParam)
  --azure-client-secret-param NAME SSM parameter of the app's client secret, e.g.
                                   /auditlake/azure/client-secret (AzureClientSecretParam)
  --azure-cert-param NAME          SSM parameter of a PEM (key + certificate), instead of
                                   the secret (AzureCertParam)
  --azure-stream NAME              output streamName (AzureStream; default
                                   Custom-AwsIamAccessKeys_CL)
Turning it off again: --param AzureIngestionUrl=

Precedence of template parameters: --parameters FILE < --param < the dedicated flags
(--tenant-ids, --alert-email, --architecture, --azure-*). CodeBucket, SignInsCodeKey,
AuditsCodeKey, IamKeysCodeKey and Architecture are always set by this script.

Examples:
  scripts/deploy.sh --tenant-ids 72f988bf-86f1-41af-91ab-2d7cd011db47 --alert-email sec@example.com
  scripts/deploy.sh --parameters infra/prod.params --zips /tmp/lambdas --architecture arm64
  scripts/deploy.sh --tenant-ids ... --dry-run
  scripts/deploy.sh --parameters infra/prod.params \
    --azure-ingestion-url https://auditlake-abcd.westeurope-1.ingest.monitor.azure.com \
    --azure-dcr-id dcr-00112233445566778899aabbccddeeff --azure-tenant-id <tenant-guid> \
    --azure-client-id-param /auditlake/azure/client-id \
    --azure-client-secret-param /auditlake/azure/client-secret
EOF
}

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 1
}
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }
step() { printf '==> %s\n' "$*"; }

# Prints a command as a shell would read it back (on the original stdout, fd 3, so a
# redirection of the command it stands for does not swallow it).
exec 3>&1
show_cmd() {
  local out="+" arg
  for arg in "$@"; do out+=" $(printf '%q' "$arg")"; done
  printf '%s\n' "$out" >&3
}

# A command that changes something (or that --dry-run must not call): printed and skipped by
# --dry-run, run otherwise.
run() {
  if [ "$dry_run" = 1 ]; then
    if [ "$1" = awsr ]; then
      shift
      show_cmd aws --region "$region" "$@"
    else
      show_cmd "$@"
    fi
    return 0
  fi
  "$@"
}

# aws with the resolved region.
awsr() { aws --region "$region" "$@"; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# ---- template parameters: two parallel arrays (bash 3.2 has no associative arrays) ----
param_keys=()
param_values=()
set_param() {
  local key="$1" value="$2" i=0
  while [ "$i" -lt "${#param_keys[@]}" ]; do
    if [ "${param_keys[$i]}" = "$key" ]; then
      param_values[i]="$value"
      return 0
    fi
    i=$((i + 1))
  done
  param_keys+=("$key")
  param_values+=("$value")
}
get_param() {
  local key="$1" i=0
  while [ "$i" -lt "${#param_keys[@]}" ]; do
    if [ "${param_keys[$i]}" = "$key" ]; then
      printf '%s' "${param_values[$i]}"
      return 0
    fi
    i=$((i + 1))
  done
  return 1
}

# Key=Value (whitespace around either side trimmed, matching quotes around the value removed).
add_param_assignment() {
  local where="$1" line="$2" key value
  case "$line" in
    *=*) ;;
    *) die "$where: expected Key=Value, got '$line'" ;;
  esac
  key="${line%%=*}"
  value="${line#*=}"
  key="$(printf '%s' "$key" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')"
  value="$(printf '%s' "$value" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')"
  case "$value" in
    \"*\") value="${value#\"}" value="${value%\"}" ;;
    \'*\') value="${value#\'}" value="${value%\'}" ;;
  esac
  if ! grep -Eq '^[A-Za-z][A-Za-z0-9]*$' <<<"$key"; then
    die "$where: '$key' is not a template parameter name"
  fi
  set_param "$key" "$value"
}

load_parameters_file() {
  local file="$1" line n=0
  [ -f "$file" ] || die "parameters file $file not found"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    # A comment: a line whose first non-blank character is #, or " # ..." after a value.
    case "$line" in
      *[[:space:]]\#*) line="${line%%[[:space:]]#*}" ;;
    esac
    case "$(printf '%s' "$line" | sed 's/^[[:space:]]*//')" in
      '' | \#*) continue ;;
    esac
    add_param_assignment "$file:$n" "$line"
  done <"$file"
}

# ---- arguments ----
stack_name=auditlake
region=""
tenant_ids=""
alert_email=""
parameters_file=""
cli_params=()
zips_dir=""
artifacts_bucket=""
architecture=""
dry_run=0
# --azure-* flags as "TemplateParameter=value", applied after --param.
azure_params=()

need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}
while [ "$#" -gt 0 ]; do
  case "$1" in
    --stack-name) need_value "$@"; stack_name="$2"; shift 2 ;;
    --region) need_value "$@"; region="$2"; shift 2 ;;
    --tenant-ids) need_value "$@"; tenant_ids="$2"; shift 2 ;;
    --alert-email) need_value "$@"; alert_email="$2"; shift 2 ;;
    --parameters) need_value "$@"; parameters_file="$2"; shift 2 ;;
    --param) need_value "$@"; cli_params+=("$2"); shift 2 ;;
    --zips) need_value "$@"; zips_dir="$2"; shift 2 ;;
    --artifacts-bucket) need_value "$@"; artifacts_bucket="$2"; shift 2 ;;
    --architecture) need_value "$@"; architecture="$2"; shift 2 ;;
    --azure-ingestion-url) need_value "$@"; azure_params+=("AzureIngestionUrl=$2"); shift 2 ;;
    --azure-dcr-id) need_value "$@"; azure_params+=("AzureDcrId=$2"); shift 2 ;;
    --azure-stream) need_value "$@"; azure_params+=("AzureStream=$2"); shift 2 ;;
    --azure-tenant-id) need_value "$@"; azure_params+=("AzureTenantId=$2"); shift 2 ;;
    --azure-client-id-param) need_value "$@"; azure_params+=("AzureClientIdParam=$2"); shift 2 ;;
    --azure-client-secret-param) need_value "$@"; azure_params+=("AzureClientSecretParam=$2"); shift 2 ;;
    --azure-cert-param) need_value "$@"; azure_params+=("AzureCertParam=$2"); shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --*=*) die "write '${1%%=*} ${1#*=}' (flag and value as two words)" ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# ---- parameters, checked before anything talks to AWS ----
if [ -n "$parameters_file" ]; then load_parameters_file "$parameters_file"; fi
for assignment in ${cli_params[@]+"${cli_params[@]}"}; do
  add_param_assignment "--param" "$assignment"
done
if [ -n "$tenant_ids" ]; then set_param TenantIds "$tenant_ids"; fi
if [ -n "$alert_email" ]; then set_param AlertEmail "$alert_email"; fi
for assignment in ${azure_params[@]+"${azure_params[@]}"}; do
  set_param "${assignment%%=*}" "${assignment#*=}"
done

template="$root/infra/template.yaml"
[ -f "$template" ] || die "$template not found"

# `aws cloudformation deploy` drops overrides the template does not declare without a word, so
# a misspelt name is refused here. The names: keys indented two spaces under `Parameters:`.
template_params="$(awk '
  /^[^[:space:]#]/ { in_params = ($0 ~ /^Parameters:[[:space:]]*$/); next }
  in_params && /^  [A-Za-z0-9]+:/ { sub(/^  /, ""); sub(/:.*/, ""); print }
' "$template")"
i=0
while [ "$i" -lt "${#param_keys[@]}" ]; do
  # A here-string, not a pipe: with pipefail, `grep -q` leaving at its first match can kill
  # the writer with SIGPIPE, and a declared name was then reported unknown (seen in CI).
  if ! grep -qx -- "${param_keys[$i]}" <<<"$template_params"; then
    die "unknown template parameter '${param_keys[$i]}'; infra/template.yaml has: $(printf '%s' "$template_params" | tr '\n' ' ')"
  fi
  i=$((i + 1))
done

tenant_value="$(get_param TenantIds || true)"
if [ -z "$(printf '%s' "$tenant_value" | tr -d ' ,')" ]; then
  die "the template parameter TenantIds is required: pass --tenant-ids <tenant-guid>[,<tenant-guid>...] (or TenantIds=... in --parameters FILE)"
fi

# Azure Monitor delivery: combinations the template's rules refuse are refused here, before a
# 15-30 minute build. A parameter not given keeps the stack's current value, so one missing
# here is only a warning (CloudFormation refuses the deploy if the stack has none either).
azure_url="$(get_param AzureIngestionUrl || true)"
if [ -n "$azure_url" ]; then
  case "$azure_url" in
    https://*) ;;
    *) die "AzureIngestionUrl '$azure_url' is not an https URL (the logsIngestionEndpoint output of infra/azure)" ;;
  esac
  if [ -n "$(get_param AzureClientSecretParam || true)" ] && [ -n "$(get_param AzureCertParam || true)" ]; then
    die "give AzureClientSecretParam (--azure-client-secret-param) or AzureCertParam (--azure-cert-param), not both"
  fi
  azure_missing=""
  for needed in AzureDcrId AzureTenantId AzureClientIdParam; do
    if [ -z "$(get_param "$needed" || true)" ]; then azure_missing+=" $needed"; fi
  done
  if [ -z "$(get_param AzureClientSecretParam || true)" ] && [ -z "$(get_param AzureCertParam || true)" ]; then
    azure_missing+=" AzureClientSecretParam/AzureCertParam"
  fi
  if [ -n "$azure_missing" ]; then
    warn "Azure Monitor delivery is on (AzureIngestionUrl) but these are not given:$azure_missing; the stack keeps its current values, and CloudFormation refuses the deploy if it has none (see --help)"
  fi
fi

for managed in CodeBucket SignInsCodeKey AuditsCodeKey IamKeysCodeKey; do
  if get_param "$managed" >/dev/null; then
    warn "ignoring $managed from the parameters: this script sets it to the uploaded zip"
  fi
done
# Architecture: --architecture, else the zips' ARCHITECTURE file (below), else the parameters.
architecture_param="$(get_param Architecture || true)"

if [ -n "$zips_dir" ]; then
  [ -d "$zips_dir" ] || die "--zips $zips_dir is not a directory"
  zips_dir="$(cd "$zips_dir" && pwd)"
  building=0
else
  zips_dir="${CARGO_TARGET_DIR:-$root/target}/lambda"
  building=1
fi

# ---- AWS CLI, region, credentials ----
have_aws=1
if ! command -v aws >/dev/null 2>&1; then
  if [ "$dry_run" = 0 ]; then
    die "the AWS CLI (aws) is not installed or not on PATH. Install it: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html (or 'python3 -m pip install awscli'), then configure credentials with 'aws configure' or 'aws sso login'"
  fi
  warn "the AWS CLI (aws) is not installed; a real run needs it"
  have_aws=0
fi

if [ -z "$region" ]; then region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"; fi
if [ -z "$region" ] && [ "$have_aws" = 1 ]; then region="$(aws configure get region 2>/dev/null || true)"; fi
[ -n "$region" ] || die "no AWS region: pass --region (or set AWS_REGION, or a region in your AWS profile)"

account=""
if [ "$have_aws" = 1 ]; then
  if ! sts_out="$(awsr sts get-caller-identity --query Account --output text 2>&1)"; then
    if [ "$dry_run" = 0 ]; then
      die "AWS credentials are missing or invalid: 'aws sts get-caller-identity' failed: $sts_out
Configure credentials (aws configure, AWS_PROFILE=..., aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and try again."
    fi
    warn "aws sts get-caller-identity failed (a real run would stop here): $sts_out"
  else
    account="$sts_out"
  fi
fi
if [ -z "$artifacts_bucket" ]; then
  artifacts_bucket="auditlake-artifacts-${account:-<account-id>}-$region"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/auditlake-deploy.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if [ "$dry_run" = 1 ]; then
  step "dry run: nothing is changed; these are the commands a real run would run"
fi
step "stack $stack_name in ${account:-<account>}/$region; artifacts in s3://$artifacts_bucket"

# ---- 1. the zips ----
if [ "$building" = 1 ]; then
  step "building the Lambdas (scripts/build-lambdas.sh: a release build, 15-30 minutes on two cores)"
  run "$root/scripts/build-lambdas.sh"
fi
if [ -f "$zips_dir/ARCHITECTURE" ]; then
  built_for="$(tr -d '[:space:]' <"$zips_dir/ARCHITECTURE")"
  if [ -z "$architecture" ]; then
    architecture="$built_for"
  elif [ "$architecture" != "$built_for" ]; then
    warn "--architecture $architecture, but $zips_dir/ARCHITECTURE says $built_for"
  fi
fi
if [ -z "$architecture" ]; then architecture="$architecture_param"; fi
if [ -z "$architecture" ]; then
  if [ "$building" = 1 ] && [ "$dry_run" = 1 ]; then
    architecture="<from $zips_dir/ARCHITECTURE>"
  else
    die "cannot tell the zips' architecture: no $zips_dir/ARCHITECTURE; pass --architecture arm64 or --architecture x86_64"
  fi
else
  case "$architecture" in
    arm64 | x86_64) ;;
    *) die "architecture '$architecture' is neither arm64 nor x86_64" ;;
  esac
fi
set_param Architecture "$architecture"
set_param CodeBucket "$artifacts_bucket"

zip_keys=()
for f in "${functions[@]}"; do
  zip="$zips_dir/$f/bootstrap.zip"
  if [ -f "$zip" ]; then
    [ "$(head -c 2 "$zip")" = "PK" ] || die "$zip is not a zip file"
    key="lambda/$f/$(sha256_of "$zip").zip"
  elif [ "$building" = 1 ] && [ "$dry_run" = 1 ]; then
    key="lambda/$f/<sha256 of $zip>.zip"
  elif [ "$building" = 1 ]; then
    die "the build did not produce $zip"
  else
    die "missing $zip (--zips DIR must hold <function>/bootstrap.zip for ${functions[*]})"
  fi
  zip_keys+=("$key")
  set_param "$(code_key_param "$f")" "$key"
done

step "template parameters"
i=0
while [ "$i" -lt "${#param_keys[@]}" ]; do
  printf '    %-22s %s\n' "${param_keys[$i]}" "${param_values[$i]}"
  i=$((i + 1))
done

# ---- 2. artifacts bucket and uploads ----
# Succeeds when the object exists; fails when it is missing; dies on any other error.
object_exists() {
  local bucket="$1" key="$2" out
  if out="$(awsr s3api head-object --bucket "$bucket" --key "$key" 2>&1 >/dev/null)"; then
    return 0
  fi
  case "$out" in
    *"Not Found"* | *404* | *NoSuchKey*) return 1 ;;
    *) die "cannot check s3://$bucket/$key: $out" ;;
  esac
}

ensure_artifacts_bucket() {
  local out
  if out="$(awsr s3api head-bucket --bucket "$artifacts_bucket" --expected-bucket-owner "$account" 2>&1 >/dev/null)"; then
    # Lambda takes code only from a bucket in its own region.
    local location
    location="$(awsr s3api get-bucket-location --bucket "$artifacts_bucket" --query LocationConstraint --output text)"
    case "$location" in
      None | null | '') location=us-east-1 ;;
      EU) location=eu-west-1 ;;
    esac
    [ "$location" = "$region" ] ||
      die "bucket $artifacts_bucket is in $location, not $region: Lambda needs its code in the same region (pass another --artifacts-bucket)"
    echo "    s3://$artifacts_bucket exists"
    return 0
  fi
  case "$out" in
    *"Not Found"* | *404* | *NoSuchBucket*) ;;
    *403* | *Forbidden*) die "bucket $artifacts_bucket exists but is not this account's (or you may not read it): pass --artifacts-bucket NAME" ;;
    *) die "cannot check bucket $artifacts_bucket: $out" ;;
  esac
  echo "    creating s3://$artifacts_bucket"
  if [ "$region" = us-east-1 ]; then
    awsr s3api create-bucket --bucket "$artifacts_bucket" >/dev/null
  else
    awsr s3api create-bucket --bucket "$artifacts_bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  awsr s3api put-public-access-block --bucket "$artifacts_bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  awsr s3api put-bucket-encryption --bucket "$artifacts_bucket" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"},"BucketKeyEnabled":true}]}'
  awsr s3api put-bucket-versioning --bucket "$artifacts_bucket" --versioning-configuration Status=Enabled
  # Replaced versions are kept a month; the current zips and templates stay (rollbacks need them).
  awsr s3api put-bucket-lifecycle-configuration --bucket "$artifacts_bucket" --lifecycle-configuration \
    '{"Rules":[{"ID":"old-versions","Status":"Enabled","Filter":{"Prefix":""},"NoncurrentVersionExpiration":{"NoncurrentDays":30},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}]}'
  awsr s3api put-bucket-policy --bucket "$artifacts_bucket" --policy "$(printf '%s' \
    '{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*",' \
    '"Action":"s3:*","Resource":["arn:aws:s3:::'"$artifacts_bucket"'","arn:aws:s3:::'"$artifacts_bucket"'/*"],' \
    '"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}')"
}

step "artifacts bucket"
if [ "$dry_run" = 1 ]; then
  echo "    (a real run creates s3://$artifacts_bucket when missing: public access block, AES256 default encryption, versioning, TLS-only policy, replaced versions kept 30 days)"
  show_cmd aws --region "$region" s3api create-bucket --bucket "$artifacts_bucket"
else
  ensure_artifacts_bucket
fi

step "Lambda zips"
i=0
for f in "${functions[@]}"; do
  zip="$zips_dir/$f/bootstrap.zip"
  key="${zip_keys[$i]}"
  i=$((i + 1))
  if [ "$dry_run" = 1 ]; then
    echo "    (uploaded only when s3://$artifacts_bucket/$key is missing)"
    show_cmd aws --region "$region" s3api put-object --bucket "$artifacts_bucket" --key "$key" --body "$zip"
  elif object_exists "$artifacts_bucket" "$key"; then
    echo "    $f: s3://$artifacts_bucket/$key already uploaded"
  else
    echo "    $f: uploading $zip to s3://$artifacts_bucket/$key"
    awsr s3api put-object --bucket "$artifacts_bucket" --key "$key" --body "$zip" >/dev/null
  fi
done

# ---- 3. package and deploy ----
packaged="$tmp/packaged.yaml"
step "packaging infra/template.yaml (nested templates go to s3://$artifacts_bucket/cloudformation/)"
run awsr cloudformation package --template-file "$template" --s3-bucket "$artifacts_bucket" \
  --s3-prefix cloudformation --output-template-file "$packaged" >/dev/null

stack_status() {
  awsr cloudformation describe-stacks --stack-name "$stack_name" \
    --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}
if [ "$dry_run" = 0 ]; then
  status="$(stack_status)"
  case "$status" in
    ROLLBACK_COMPLETE | ROLLBACK_FAILED)
      die "stack $stack_name is in $status (its first creation failed) and cannot be updated. Read why with
  aws cloudformation describe-stack-events --stack-name $stack_name --region $region
then delete it (aws cloudformation delete-stack --stack-name $stack_name --region $region) and deploy again" ;;
    # REVIEW_IN_PROGRESS: a stack whose creating change set never ran; deploy creates it.
    REVIEW_IN_PROGRESS) ;;
    *_IN_PROGRESS) die "stack $stack_name is busy ($status); wait until it settles and run again" ;;
  esac
fi

overrides=()
i=0
while [ "$i" -lt "${#param_keys[@]}" ]; do
  overrides+=("${param_keys[$i]}=${param_values[$i]}")
  i=$((i + 1))
done

step "deploying stack $stack_name"
if ! run awsr cloudformation deploy --template-file "$packaged" --stack-name "$stack_name" \
  --s3-bucket "$artifacts_bucket" --s3-prefix cloudformation \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND \
  --no-fail-on-empty-changeset --parameter-overrides "${overrides[@]}"; then
  echo "Failed resources (latest first):" >&2
  # shellcheck disable=SC2016 # backticks are JMESPath literals
  awsr cloudformation describe-stack-events --stack-name "$stack_name" --max-items 40 \
    --query 'StackEvents[?contains(ResourceStatus, `FAILED`)].[LogicalResourceId,ResourceStatus,ResourceStatusReason]' \
    --output text >&2 2>/dev/null || true
  die "the deploy of stack $stack_name failed (events above; the console's Events tab has them all)"
fi

# ---- 4. outputs and the calendar ----
outputs_file="$tmp/outputs.tsv"
output() { awk -F'\t' -v k="$1" '$1 == k { print $2; exit }' "$outputs_file"; }
if [ "$dry_run" = 1 ]; then
  : >"$outputs_file"
  show_cmd aws --region "$region" cloudformation describe-stacks --stack-name "$stack_name" --query 'Stacks[0].Outputs'
else
  awsr cloudformation describe-stacks --stack-name "$stack_name" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text >"$outputs_file"
fi

lake_bucket="$(output LakeBucketName)"
calendar="$tmp/calendar.csv"
# One ISO date a line, 2015-01-01 to 2040-12-31, no header (awk: no GNU date needed).
awk 'BEGIN {
  split("31 28 31 30 31 30 31 31 30 31 30 31", days, " ")
  for (y = 2015; y <= 2040; y++)
    for (m = 1; m <= 12; m++) {
      n = days[m]
      if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) n = 29
      for (d = 1; d <= n; d++) printf "%04d-%02d-%02d\n", y, m, d
    }
}' >"$calendar"
calendar_sha="$(sha256_of "$calendar")"

step "calendar for Athena ($(wc -l <"$calendar" | tr -d ' ') dates)"
if [ "$dry_run" = 1 ]; then
  show_cmd aws --region "$region" s3api put-object --bucket "<LakeBucketName output>" \
    --key _calendar/calendar.csv --body calendar.csv --content-type text/csv --metadata "sha256=$calendar_sha"
elif [ -z "$lake_bucket" ]; then
  die "the stack has no LakeBucketName output; cannot upload the calendar"
else
  current="$(awsr s3api head-object --bucket "$lake_bucket" --key _calendar/calendar.csv \
    --query 'Metadata.sha256' --output text 2>/dev/null || true)"
  if [ "$current" = "$calendar_sha" ]; then
    echo "    s3://$lake_bucket/_calendar/calendar.csv is up to date"
  else
    awsr s3api put-object --bucket "$lake_bucket" --key _calendar/calendar.csv --body "$calendar" \
      --content-type text/csv --metadata "sha256=$calendar_sha" >/dev/null
    echo "    uploaded s3://$lake_bucket/_calendar/calendar.csv"
  fi
fi

if [ "$dry_run" = 1 ]; then
  step "dry run complete: nothing was changed"
  exit 0
fi

# ---- 5. what was deployed, and what to do next ----
step "stack outputs ($stack_name)"
awk -F'\t' '
  { k[NR] = $1; v[NR] = $2; if (length($1) > w) w = length($1) }
  END {
    if (NR == 0) { print "    (the stack has no outputs)"; exit }
    for (i = 1; i <= NR; i++) printf "    %-" w "s  %s\n", k[i], v[i]
  }' "$outputs_file"

key_alias="$(output LakeKeyAlias)"
[ -n "$key_alias" ] || key_alias="$(output LakeKeyArn)"
workgroup="$(output AthenaWorkGroupName)"
signins_fn="$(output SignInsFunctionName)"
audits_fn="$(output AuditsFunctionName)"
iam_fn="$(output IamKeysFunctionName)"
region_flag=""
if [ "$region" != "${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" ]; then region_flag=" --region $region"; fi
# CLI v2 takes a blob argument as base64 unless told otherwise; v1 knows no such flag.
binary_flag=" --cli-binary-format raw-in-base64-out"
case "$(aws --version 2>&1)" in aws-cli/1.*) binary_flag="" ;; esac

cat <<EOF

Next steps
  1. Store the Entra app's client id and secret (or certificate) as SSM SecureStrings
     encrypted with the stack's key (${key_alias:-see LakeKeyAlias above}); the secret is read
     from the terminal or a file, never from the command line:
       scripts/put-secrets.sh --stack-name $stack_name$region_flag --client-id <application-id>
     (add --cert-file app.pem for a certificate; the app needs AuditLog.Read.All and
     Directory.Read.All with admin consent: docs/RUNBOOK.md)
  2. Confirm the SNS subscription: AWS sent a "Subscription Confirmation" e-mail to
     ${alert_email:-the AlertEmail address}; alarms reach nobody until the link in it is clicked.
  3. Run each collector once by hand and read its summary:
       aws lambda invoke$region_flag --function-name ${signins_fn:-<SignInsFunctionName>}$binary_flag --payload '{}' --cli-read-timeout 900 out.json && cat out.json
       aws lambda invoke$region_flag --function-name ${audits_fn:-<AuditsFunctionName>}$binary_flag --payload '{}' --cli-read-timeout 900 out.json && cat out.json
       aws lambda invoke$region_flag --function-name ${iam_fn:-<IamKeysFunctionName>}$binary_flag --payload '{}' --cli-read-timeout 900 out.json && cat out.json
     (a run may take up to its 12-minute budget: --cli-read-timeout 900 keeps the CLI from
     timing out after 60 s and invoking again; '{}' collects TenantIds, the first group)
  4. Query the lake in Athena with the workgroup ${workgroup:-from the outputs above} (database auditlake).
  5. Operations (rotation, adding tenants and accounts, alarms, checkpoints, cost): docs/RUNBOOK.md
EOF
if [ -n "$azure_url" ]; then
  cat <<EOF
  6. Azure Monitor delivery is on: the IAM function reads the sending app's client id and
     secret from SSM; store them if not done yet (the secret from the terminal or a file):
       scripts/put-secrets.sh --azure --stack-name $stack_name$region_flag --client-id <application-id>
     Azure answers 403 until the app's role assignment on the rule applies (up to 30 minutes
     after deploying infra/azure): docs/AZURE.md
EOF
fi
