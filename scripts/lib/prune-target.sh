#!/usr/bin/env bash
# prune-target.sh DIR: removes all but the newest two builds of each test binary and build
# output in DIR/debug/deps (Cargo names them `<crate>-<16 hex>`, the hash covering dependencies,
# features and compiler, not the source), so a target directory reused by CI runs does not grow
# by hundreds of MB with every dependency or toolchain change. Cargo
# rebuilds whatever a later run still needs, so pruning too much costs time, never a wrong
# result. Written here because Cargo's own cache cleaning (`-Zgc`) covers only the
# download cache, and cargo-sweep would be one more tool to install.
set -euo pipefail
deps="${1:?usage: prune-target.sh TARGET_DIR}/debug/deps"
[ -d "$deps" ] || exit 0
# Executables only (test binaries and the CLI's copies): the large files, and never an input
# of another crate's build, unlike .rlib/.rmeta files.
before=$(du -sm "$deps" | cut -f1)
find "$deps" -maxdepth 1 -type f -perm -u+x -regextype posix-extended -regex '.*/[A-Za-z0-9_]+-[0-9a-f]{16}' \
  -printf '%T@ %f\n' |
  sort -rn |
  awk '{ name = $2; sub(/-[0-9a-f]{16}$/, "", name); if (++seen[name] > 2) print $2 }' |
  while read -r file; do
    rm -f "$deps/$file" "$deps/$file.d" "$deps/$file.dwp"
  done
after=$(du -sm "$deps" | cut -f1)
echo "pruned $deps: $before MB -> $after MB"
