#!/usr/bin/env bash
# JSON → Parquet benchmark of docs/BENCHMARKS.md: realistic sign-ins as newline-delimited JSON,
# converted by auditlake (GraphBatchBuilder + TableWriter, release build) and by pyarrow
# (json.read_json + parquet.write_table, zstd), same input, same run. Wall time and peak RSS
# come from /usr/bin/time. Sizes default to 250k, 500k and 1M rows (memory must stay flat).
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

echo "| rows | input MB | collector | seconds | rows/s | peak RSS MB |"
echo "|---:|---:|---|---:|---:|---:|"
for n in "${sizes[@]}"; do
  file="$work/signins-$n.ndjson"
  [ -f "$file" ] || head -n "$n" "$input" >"$file"
  mb=$(( $(stat -c %s "$file") / 1048576 ))
  for peer in auditlake pyarrow; do
    rm -rf "$work/out" && mkdir -p "$work/out"
    if [ "$peer" = auditlake ]; then
      cmd=("$bin" convert "$file" "$work/out")
    else
      cmd=(python3 scripts/checks/pyarrow_json_to_parquet.py "$file" "$work/out/out.parquet")
    fi
    /usr/bin/time -f "%M" -o "$work/rss" "${cmd[@]}" >"$work/result"
    rate=$(sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p' "$work/result")
    secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/result")
    echo "| $n | $mb | $peer | $secs | $rate | $(( $(cat "$work/rss") / 1024 )) |"
  done
done
