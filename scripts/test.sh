#!/usr/bin/env bash
# Runs every auditlake test. This is the README's test command and what .ci/run calls.
#
# It installs what the tests need by itself (a Python venv with moto, pyarrow, cfn-lint and
# checkov, cached under ~/.cache/auditlake), starts a moto server on a free 127.0.0.1 port,
# points the AWS SDK at it, runs the Rust tests and the Python checks, stops moto, and exits
# non-zero if anything failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/moto.sh

ensure_venv
start_moto

echo "==> cargo test (debug)"
cargo_log="$(mktemp -t auditlake-cargo-test.XXXXXX.log)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$cargo_log"
passed=$(grep -o '[0-9]* passed' "$cargo_log" | awk '{s+=$1} END {print s+0}')

echo "==> auditlake collect iam-keys against moto, read back with pyarrow"
cargo build --locked -p auditlake-cli --bin auditlake
python3 scripts/checks/cli_iam_keys_pyarrow.py "${CARGO_TARGET_DIR:-$root/target}/debug/auditlake"
passed=$((passed + 1))

if compgen -G "infra/*.yaml" >/dev/null; then
  echo "==> cfn-lint and checkov"
  cfn-lint infra/*.yaml
  BC_SKIP_MAPPING=TRUE checkov --skip-download --quiet --compact -d infra
  passed=$((passed + 2))
fi

echo "==> all tests passed"
# Every failure above exits non-zero (set -e, pipefail), so reaching here means none failed.
echo "tests: $passed passed, 0 failed"
