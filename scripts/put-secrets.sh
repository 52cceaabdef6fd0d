#!/usr/bin/env bash
# Stores the Entra (Graph) app's credentials for auditlake as SSM SecureString parameters,
# encrypted with the stack's KMS key, where the graph-signins and graph-audits Lambdas read them:
#
#   client id          -> /auditlake/graph/client-id      (template parameter GraphClientIdParam)
#   client secret      -> /auditlake/graph/client-secret  (template parameter GraphClientSecretParam)
#   or a certificate   -> /auditlake/graph/certificate    (template parameter GraphCertParam)
#      (--cert-file: one PEM holding the private key and the certificate)
#
# With --azure it stores the credentials of the app that sends the access-key snapshots to
# Azure Monitor (read by the iam-access-keys Lambda; docs/AZURE.md) instead:
#
#   client id          -> /auditlake/azure/client-id      (template parameter AzureClientIdParam)
#   client secret      -> /auditlake/azure/client-secret  (template parameter AzureClientSecretParam)
#   or a certificate   -> /auditlake/azure/certificate    (template parameter AzureCertParam)
#
# The names and the key default to what the deployed stack uses (its parameters and its
# LakeKeyAlias / LakeKeyArn output). The secret is read from standard input (typed without echo
# when that is a terminal) or from --secret-file; never from the command line. It reaches the
# AWS CLI as file:// of a private temporary file (mode 600, removed on exit), so it shows up
# neither in `ps` nor in this script's output. --overwrite replaces existing values (rotation).
#
# Run `scripts/put-secrets.sh --help` for the flags; docs/RUNBOOK.md for rotation.
set -euo pipefail
# This script handles a secret: never trace it, even under `bash -x`.
set +x

prog="put-secrets.sh"

usage() {
  cat <<'EOF'
Usage: scripts/put-secrets.sh [--azure] --client-id APP_ID [options] < secret
       scripts/put-secrets.sh [--azure] --client-id APP_ID --secret-file FILE [options]
       scripts/put-secrets.sh [--azure] --client-id APP_ID --cert-file app.pem [options]

Stores the Entra app's client id and client secret (or certificate) as SSM SecureString
parameters encrypted with the auditlake stack's KMS key: the Graph app's (read by the
sign-ins and audits Lambdas), or with --azure the app that sends the access-key snapshots to
Azure Monitor (read by the IAM Lambda; docs/AZURE.md).

Options:
  --azure                   the Azure Monitor sender app instead of the Graph app: the
                            names below default to the stack's Azure*Param parameters, else
                            /auditlake/azure/client-id, /auditlake/azure/client-secret,
                            /auditlake/azure/certificate
  --client-id ID            the app registration's Application (client) id; prompted for on a
                            terminal when omitted
  --secret-file FILE        read the client secret from FILE (default: standard input; typed
                            without echo on a terminal). Never pass a secret as an argument.
  --cert-file FILE          store a certificate instead: a PEM with the private key and the
                            certificate (the stack must be deployed with GraphCertParam, or
                            AzureCertParam with --azure, set)
  --stack-name NAME         the auditlake stack (default: auditlake); gives the key and the
                            parameter names
  --region REGION           AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)
  --key-id KEY              KMS key id, ARN or alias (default: the stack's LakeKeyAlias output)
  --client-id-param NAME    (default: the stack's GraphClientIdParam, else /auditlake/graph/client-id)
  --client-secret-param NAME (default: the stack's GraphClientSecretParam, else /auditlake/graph/client-secret)
  --cert-param NAME         (default: the stack's GraphCertParam, else /auditlake/graph/certificate)
                            (with --azure: AzureClientIdParam, AzureClientSecretParam,
                            AzureCertParam, else the /auditlake/azure/ names above)
  --overwrite               replace existing values (rotation)
  --dry-run                 show what would be stored (never the secret) and change nothing
  -h, --help                this help

After a rotation the running Lambdas keep the old value until their next cold start; see
docs/RUNBOOK.md ("Rotating the secret or certificate").
EOF
}

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 1
}

stack_name=auditlake
region=""
key_id=""
client_id=""
secret_file=""
cert_file=""
client_id_param=""
client_secret_param=""
cert_param=""
overwrite=0
dry_run=0
azure=0

need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}
while [ "$#" -gt 0 ]; do
  case "$1" in
    --client-id) need_value "$@"; client_id="$2"; shift 2 ;;
    --secret-file) need_value "$@"; secret_file="$2"; shift 2 ;;
    --cert-file) need_value "$@"; cert_file="$2"; shift 2 ;;
    --stack-name) need_value "$@"; stack_name="$2"; shift 2 ;;
    --region) need_value "$@"; region="$2"; shift 2 ;;
    --key-id) need_value "$@"; key_id="$2"; shift 2 ;;
    --client-id-param) need_value "$@"; client_id_param="$2"; shift 2 ;;
    --client-secret-param) need_value "$@"; client_secret_param="$2"; shift 2 ;;
    --cert-param) need_value "$@"; cert_param="$2"; shift 2 ;;
    --overwrite) overwrite=1; shift ;;
    --azure) azure=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --secret | --client-secret | --secret=* | --client-secret=*)
      # Not printing the value: it may be the secret.
      die "a secret is never taken from the command line (it would be visible in ps and in shell history): pipe it on standard input or use --secret-file FILE" ;;
    *) die "unknown argument '${1%%=*}' (see --help)" ;;
  esac
done

if [ -n "$secret_file" ] && [ -n "$cert_file" ]; then
  die "give --secret-file or --cert-file, not both"
fi
if [ -n "$secret_file" ] && [ ! -r "$secret_file" ]; then die "cannot read --secret-file $secret_file"; fi
if [ -n "$cert_file" ]; then
  [ -r "$cert_file" ] || die "cannot read --cert-file $cert_file"
  # The collectors take an unencrypted RSA key, PKCS#8 or PKCS#1 (not EC, not ENCRYPTED).
  grep -Eq -- '-----BEGIN (RSA )?PRIVATE KEY-----' "$cert_file" ||
    die "$cert_file holds no unencrypted RSA private key ('PRIVATE KEY' or 'RSA PRIVATE KEY' PEM block); it needs the private key and the certificate"
  grep -q -- '-----BEGIN CERTIFICATE-----' "$cert_file" ||
    die "$cert_file holds no PEM certificate (it needs the private key and the certificate)"
fi

if ! command -v aws >/dev/null 2>&1; then
  die "the AWS CLI (aws) is not installed or not on PATH. Install it: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html (or 'python3 -m pip install awscli')"
fi
if [ -z "$region" ]; then region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"; fi
if [ -z "$region" ]; then region="$(aws configure get region 2>/dev/null || true)"; fi
[ -n "$region" ] || die "no AWS region: pass --region (or set AWS_REGION)"
awsr() { aws --region "$region" "$@"; }

if ! sts_out="$(awsr sts get-caller-identity --query Account --output text 2>&1)"; then
  die "AWS credentials are missing or invalid: 'aws sts get-caller-identity' failed: $sts_out"
fi

# ---- key and names from the stack ----
stack_value() { # $1: Outputs|Parameters, $2: key
  local kind="$1" key="$2" field value
  if [ "$kind" = Outputs ]; then field=Output; else field=Parameter; fi
  value="$(awsr cloudformation describe-stacks --stack-name "$stack_name" \
    --query "Stacks[0].${kind}[?${field}Key=='$key'].${field}Value | [0]" --output text 2>/dev/null || true)"
  if [ "$value" = None ]; then value=""; fi
  printf '%s' "$value"
}
if [ -z "$key_id" ]; then
  key_id="$(stack_value Outputs LakeKeyAlias)"
  if [ -z "$key_id" ]; then key_id="$(stack_value Outputs LakeKeyArn)"; fi
  [ -n "$key_id" ] ||
    die "no KMS key: stack $stack_name (region $region) has no LakeKeyAlias or LakeKeyArn output. Deploy it first (scripts/deploy.sh), or pass --stack-name or --key-id"
fi
# The Graph app's parameters (template parameters Graph*Param, names under /auditlake/graph/)
# or, with --azure, the Azure Monitor sender's (Azure*Param, /auditlake/azure/).
if [ "$azure" = 1 ]; then
  stack_param_prefix=Azure default_prefix=/auditlake/azure app_label="Azure Monitor sender app"
else
  stack_param_prefix=Graph default_prefix=/auditlake/graph app_label="Entra app"
fi
if [ -z "$client_id_param" ]; then client_id_param="$(stack_value Parameters "${stack_param_prefix}ClientIdParam")"; fi
if [ -z "$client_id_param" ]; then client_id_param="$default_prefix/client-id"; fi
if [ -n "$cert_file" ]; then
  if [ -z "$cert_param" ]; then cert_param="$(stack_value Parameters "${stack_param_prefix}CertParam")"; fi
  if [ -z "$cert_param" ]; then cert_param="$default_prefix/certificate"; fi
  credential_param="$cert_param"
else
  if [ -z "$client_secret_param" ]; then client_secret_param="$(stack_value Parameters "${stack_param_prefix}ClientSecretParam")"; fi
  if [ -z "$client_secret_param" ]; then client_secret_param="$default_prefix/client-secret"; fi
  credential_param="$client_secret_param"
fi

# ---- the client id (not a secret) ----
if [ -z "$client_id" ] && [ -t 0 ]; then
  read -r -p "Application (client) id: " client_id
fi
[ -n "$client_id" ] || die "pass --client-id APP_ID (the app registration's Application (client) id)"
if ! grep -Eq '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$' <<<"$client_id"; then
  die "--client-id '$client_id' is not a GUID (the app registration's Application (client) id)"
fi

# ---- the secret: into a private temp file, never into argv or the output ----
umask 077
tmp="$(mktemp -d "${TMPDIR:-/tmp}/auditlake-secret.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
chmod 700 "$tmp"
value_file="$tmp/value"

if [ -n "$cert_file" ]; then
  cat -- "$cert_file" >"$value_file"
elif [ -n "$secret_file" ]; then
  # A client secret is one line: drop line ends (a trailing newline of the file included).
  tr -d '\r\n' <"$secret_file" >"$value_file"
elif [ -t 0 ]; then
  read -r -s -p "Client secret for $client_id (not echoed): " secret_value
  printf '\n' >&2
  printf '%s' "$secret_value" >"$value_file"
  unset secret_value
else
  tr -d '\r\n' >"$value_file"
fi
chmod 600 "$value_file"
[ -s "$value_file" ] || die "the secret is empty (read from ${secret_file:-${cert_file:-standard input}})"

# Parameters up to 4 KB fit the Standard tier; a PEM with a 4096-bit key does not.
credential_tier=Standard
if [ "$(wc -c <"$value_file" | tr -d ' ')" -gt 4096 ]; then credential_tier=Advanced; fi

put() { # $1: name, $2: tier, $3: description, rest: --value argument(s)
  local name="$1" tier="$2" description="$3" out
  shift 3
  local args=(ssm put-parameter --name "$name" --type SecureString --key-id "$key_id" --tier "$tier"
    --description "$description" "$@")
  if [ "$overwrite" = 1 ]; then args+=(--overwrite); fi
  if [ "$dry_run" = 1 ]; then
    echo "+ aws --region $region ${args[*]}"
    return 0
  fi
  if ! out="$(awsr "${args[@]}" 2>&1)"; then
    case "$out" in
      *ParameterAlreadyExists*) die "$name already exists; pass --overwrite to replace it (rotation)" ;;
      *) die "storing $name failed: $out" ;;
    esac
  fi
  echo "stored $name (SecureString, key $key_id, version $(printf '%s' "$out" | sed -n 's/.*"Version": *\([0-9]*\).*/\1/p'))"
}

if [ "$dry_run" = 1 ]; then echo "dry run: nothing is stored"; fi
put "$client_id_param" Standard "auditlake: $app_label client id" --value "$client_id"
if [ -n "$cert_file" ]; then
  put "$credential_param" "$credential_tier" "auditlake: $app_label certificate (PEM key + certificate)" --value "file://$value_file"
else
  put "$credential_param" "$credential_tier" "auditlake: $app_label client secret" --value "file://$value_file"
fi

if [ "$dry_run" = 0 ]; then
  cat <<EOF
Done. A collector that could not start without them picks them up at its next invocation;
running ones keep the old values until their environment is replaced (docs/RUNBOOK.md,
"Rotating the secret or certificate").
EOF
  if [ "$azure" = 1 ]; then
    if [ -n "$cert_file" ]; then credential_flag="--azure-cert-param $cert_param"; else credential_flag="--azure-client-secret-param $client_secret_param"; fi
    cat <<EOF
The IAM function sends to Azure Monitor once the stack is deployed with (outputs of infra/azure):
  scripts/deploy.sh ... --azure-ingestion-url <logsIngestionEndpoint> --azure-dcr-id <dataCollectionRuleImmutableId> \
    --azure-tenant-id <tenantId> --azure-client-id-param $client_id_param $credential_flag
EOF
  elif [ -n "$cert_file" ]; then
    cat <<EOF
A certificate is used once the stack is deployed with it (and without the secret):
  scripts/deploy.sh ... --param GraphCertParam=$cert_param --param GraphClientSecretParam=
EOF
  fi
fi
