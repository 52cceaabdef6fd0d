# Sourced by scripts/test.sh and scripts/bench-iam.sh: the cached Python venv and a moto server.
# shellcheck shell=bash

# ensure_venv: installs scripts/requirements-test.txt into a venv under ~/.cache/auditlake keyed
# by the file's hash (once per machine) and puts it first on PATH.
ensure_venv() {
  local cache="${AUDITLAKE_CACHE:-$HOME/.cache/auditlake}" req="scripts/requirements-test.txt"
  mkdir -p "$cache"
  local venv
  venv="$cache/venv-$(sha256sum "$req" | cut -c1-12)"
  if [ ! -f "$venv/.complete" ]; then
    echo "==> creating $venv (moto, pyarrow, cfn-lint, checkov, pytest, sqlglot, duckdb, awscli, pyyaml)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$req"
    # Marked complete only at the end, so an interrupted install is redone next time.
    touch "$venv/.complete"
  fi
  export PATH="$venv/bin:$PATH"
}

# start_moto: starts moto on a free 127.0.0.1 port, stops it when the calling shell exits, and
# exports the variables that point the AWS SDK and the tests at it.
start_moto() {
  local port log
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  log="$(mktemp -t auditlake-moto.XXXXXX.log)"
  echo "==> starting moto on 127.0.0.1:$port (log: $log)"
  moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT
  local _
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/data.json" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then cat "$log" >&2; echo "moto exited" >&2; return 1; fi
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port/moto-api/data.json" >/dev/null

  export AUDITLAKE_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL="$AUDITLAKE_TEST_MOTO_ENDPOINT"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=AKIAMOTODEFAULT00000 AWS_SECRET_ACCESS_KEY=moto-default-secret
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
}
