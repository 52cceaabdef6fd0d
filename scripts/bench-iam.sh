#!/usr/bin/env bash
# The IAM benchmark of docs/BENCHMARKS.md: auditlake vs the ListUsers → ListAccessKeys →
# GetAccessKeyLastUsed pattern, U users (default 1000) in one moto account, same run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/moto.sh
ensure_venv
start_moto
cargo run --locked -p auditlake-core --example bench_iam -- "${1:-1000}"
