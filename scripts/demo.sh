#!/usr/bin/env bash
# The README's first command: `auditlake demo` (simulated tenants, no account needed) with the
# debug build that scripts/test.sh makes — one build and one feature set for both, so running
# one after the other compiles nothing twice. Arguments go to `auditlake demo` (--lake DIR,
# --days N, --tenants N, --report FILE). The lake defaults to ./auditlake-demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(cd "$root" && cargo build --workspace --all-targets --locked)
exec "${CARGO_TARGET_DIR:-$root/target}/debug/auditlake" demo "$@"
