#!/usr/bin/env bash
# Builds every Lambda as target/lambda/<function>/bootstrap.zip with cargo-lambda (from PyPI,
# cached in a venv under ~/.cache/auditlake). arm64 (Graviton) by default; x86_64 when the
# aarch64 Rust target cannot be installed. The chosen architecture is written to
# target/lambda/ARCHITECTURE for scripts/deploy.sh.
#
# Release builds are slow (tens of minutes cold on two cores); tests never need them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${AUDITLAKE_CACHE:-$HOME/.cache/auditlake}"
venv="$cache/cargo-lambda-1.9.2"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet cargo-lambda==1.9.2
  touch "$venv/.complete"
fi
export PATH="$venv/bin:$PATH"

arch_flag=--arm64
arch=arm64
# Captured first, not piped: with pipefail, `grep -q` leaving at its first match can fail the
# writer with SIGPIPE.
if ! grep -qx aarch64-unknown-linux-gnu <<<"$(rustup target list --installed 2>/dev/null)"; then
  if ! rustup target add aarch64-unknown-linux-gnu; then
    echo "warning: the aarch64 Rust target is unavailable; building x86_64 Lambdas instead" >&2
    arch_flag=--x86-64
    arch=x86_64
  fi
fi

functions=(iam-access-keys graph-signins graph-audits)
args=()
for f in "${functions[@]}"; do args+=(--package "$f"); done
cargo lambda build --release "$arch_flag" --output-format zip "${args[@]}"

out="${CARGO_TARGET_DIR:-$root/target}/lambda"
echo "$arch" >"$out/ARCHITECTURE"
for f in "${functions[@]}"; do
  ls -l "$out/$f/bootstrap.zip"
done
echo "built ${#functions[@]} Lambda(s) for $arch in $out"
