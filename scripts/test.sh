#!/usr/bin/env bash
# Runs every auditlake check. This is the README's test command and what .ci/run calls.
#
# It installs what the tests need by itself (a Python venv with moto, pyarrow, cfn-lint and
# checkov, cached under ~/.cache/auditlake), starts a moto server on a free 127.0.0.1 port and
# points the AWS SDK at it, then runs the gates (rustfmt, clippy with warnings denied, rustdoc
# with warnings denied) and every Rust test (one debug build with one feature set: the CLI
# binary the CLI tests run, and check with pyarrow, is the one this build made). It prints the
# counts the test runners reported and exits non-zero if anything failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/moto.sh

started=$SECONDS
step() { echo "==> $* ($((SECONDS - started)) s)"; }

ensure_venv
start_moto

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test (debug)"
cargo_log="$(mktemp -t auditlake-cargo-test.XXXXXX.log)"
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$cargo_log"
cargo_status=${PIPESTATUS[0]}
set -e
# One "test result:" line per test binary: add up what the runner itself reported.
read -r passed failed ignored < <(
  sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$cargo_log" |
    awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}'
)
binaries=$(grep -c '^test result:' "$cargo_log" || true)

# Python tests (tests/**/test_*.py): the templates, the deploy script against moto, the query files.
# They run after cargo test because some of them call the auditlake binary it built.
py_passed=0 py_failed=0 py_status=0
if compgen -G "tests/*/test_*.py" >/dev/null; then
  # The report test (tests/report) opens the demo's HTML report in headless Chromium and is
  # skipped without one, so install Debian's chromium where this machine lets us.
  if ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ] && sudo -n true >/dev/null 2>&1; then sudo="sudo -n"; fi
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "==> chromium not available (not on PATH and no apt-get to install it): the report browser test will be skipped"
    elif [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
      echo "==> chromium not available (not on PATH, not root and no passwordless sudo): the report browser test will be skipped"
    else
      step "installing chromium for the report test"
      apt_log="$(mktemp -t auditlake-apt.XXXXXX.log)"
      install_chromium() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >>"$apt_log" 2>&1; }
      if ! install_chromium && ! { $sudo apt-get update -q >>"$apt_log" 2>&1 && install_chromium; }; then
        echo "==> chromium not available (apt-get install chromium failed, log: $apt_log): the report browser test will be skipped"
      fi
    fi
  fi
  export AUDITLAKE_TEST_ARTIFACTS="$root/test-artifacts"
  step "pytest"
  py_report="$(mktemp -t auditlake-pytest.XXXXXX.xml)"
  AUDITLAKE_BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/auditlake" \
    python3 -m pytest -q -p no:cacheprovider --junitxml="$py_report" tests || py_status=$?
  read -r py_passed py_failed < <(python3 - "$py_report" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad)
PY
  )
fi

lint_status=0
if compgen -G "infra/*.yaml" >/dev/null; then
  step "cfn-lint and checkov"
  cfn-lint infra/*.yaml || lint_status=$?
  BC_SKIP_MAPPING=TRUE checkov --skip-download --quiet --compact -d infra || lint_status=$?
fi

echo "tests: $passed passed, $failed failed, $ignored ignored (cargo test, $binaries test binaries); $py_passed passed, $py_failed failed (pytest) in $((SECONDS - started)) s"
if [ "$cargo_status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$py_status" -ne 0 ] || [ "$lint_status" -ne 0 ]; then
  echo "==> FAILED (cargo test exit $cargo_status, pytest exit $py_status, template checks exit $lint_status)" >&2
  exit 1
fi
echo "==> all checks passed"
