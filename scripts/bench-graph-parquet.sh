#!/usr/bin/env bash
# JSON → Parquet benchmark of docs/BENCHMARKS.md: realistic sign-ins as newline-delimited JSON,
# converted by auditlake (GraphMapper + TableWriter, release build) and by pyarrow
# (json.read_json + parquet.write_table, zstd), same input, same run. Peak RSS and CPU time
# (user + system, all threads) come from /usr/bin/time. "pyarrow + raw" also stores each
# record's text, as auditlake does (same output; context, not the target's peer).
# "auditlake map" is the decode stage alone (no Parquet), to tell the two stages' costs apart.
# Sizes default to 250k, 500k and 1M rows (memory must stay flat).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/moto.sh
ensure_venv

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --locked -p auditlake-core --example bench_graph_parquet
bin="$CARGO_TARGET_DIR/release/examples/bench_graph_parquet"

work="${BENCH_DIR:-$(mktemp -d -t auditlake-bench.XXXXXX)}"
sizes=("${@:-250000 500000 1000000}")
read -r -a sizes <<<"${sizes[*]}"
largest="${sizes[-1]}"
input="$work/signins-$largest.ndjson"
[ -f "$input" ] || "$bin" generate "$input" "$largest"

echo "| rows | input MB | collector | seconds | rows/s | peak RSS MB | CPU s |"
echo "|---:|---:|---|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  file="$work/signins-$n.ndjson"
  [ -f "$file" ] || head -n "$n" "$input" >"$file"
  mb=$(( $(stat -c %s "$file") / 1048576 ))
  for peer in auditlake pyarrow "pyarrow + raw" "auditlake map"; do
    rm -rf "$work/out" && mkdir -p "$work/out"
    case "$peer" in
      auditlake) cmd=("$bin" convert "$file" "$work/out") ;;
      pyarrow) cmd=(python3 scripts/checks/pyarrow_json_to_parquet.py "$file" "$work/out/out.parquet") ;;
      "pyarrow + raw") cmd=(python3 scripts/checks/pyarrow_json_to_parquet.py "$file" "$work/out/out.parquet" --with-raw) ;;
      *) cmd=("$bin" map "$file") ;;
    esac
    /usr/bin/time -f "%M %U %S" -o "$work/usage" "${cmd[@]}" >"$work/result"
    rate=$(sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p' "$work/result")
    secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/result")
    read -r rss user sys <"$work/usage"
    echo "| $n | $mb | $peer | $secs | $rate | $(( rss / 1024 )) | $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }') |"
  done
done
