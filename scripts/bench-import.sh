#!/usr/bin/env bash
# Import benchmark of docs/BENCHMARKS.md: `auditlake import entra_signins` of generated
# sign-ins (newline-delimited JSON, the JSON → Parquet bench's generator) beside pyarrow
# (read_json + write_table) and DuckDB (read_json → COPY … FORMAT parquet) on the same file,
# in the same run; DuckDB also with each record's text kept in a `raw` column, as the import
# keeps it (the same work). auditlake runs with 1 and 2 workers and with 1 worker pinned to
# one core (rows/s must grow with cores) into an empty local lake each time. Peak RSS and CPU
# seconds (user + system, all threads) come from /usr/bin/time; rows/s is rows over wall time.
#
# Usage: scripts/bench-import.sh [ROWS...]   (default: 250000 1000000; the largest input is
# generated once into $BENCH_DIR, ~2.2 GB for 1M rows)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/moto.sh
ensure_venv

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake/target}"
# The CLI and the input's generator in one build: built apart, the two package selections
# unify dependency features differently and the second build recompiles tokio and everything
# above it (~20 min on two cores).
cargo build --release --locked -p auditlake-cli -p auditlake-core --bins --example bench_graph_parquet
auditlake="$CARGO_TARGET_DIR/release/auditlake"

work="${BENCH_DIR:-$(mktemp -d -t auditlake-bench.XXXXXX)}"
sizes=("${@:-250000 1000000}")
read -r -a sizes <<<"${sizes[*]}"
largest="${sizes[-1]}"
input="$work/signins-$largest.ndjson"
if [ ! -f "$input" ]; then
  # The JSON → Parquet bench's generator; the input is the same whatever build made it.
  "$CARGO_TARGET_DIR/release/examples/bench_graph_parquet" generate "$input" "$largest"
fi
tenant=11111111-1111-1111-1111-111111111111

echo "| rows | input MB | tool | seconds | rows/s | peak RSS MB | CPU s |"
echo "|---:|---:|---|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  file="$work/signins-$n.ndjson"
  [ -f "$file" ] || head -n "$n" "$input" >"$file"
  mb=$(( $(stat -L -c %s "$file") / 1048576 ))
  for tool in "auditlake import, 1 worker" "auditlake import, 2 workers" "auditlake import, 1 worker on 1 core" pyarrow duckdb "duckdb + raw"; do
    rm -rf "$work/out" && mkdir -p "$work/out"
    import=("$auditlake" import entra_signins "$file" --tenant "$tenant" --lake "$work/out")
    case "$tool" in
      "auditlake import, 1 worker") cmd=("${import[@]}" --workers 1) ;;
      "auditlake import, 2 workers") cmd=("${import[@]}" --workers 2) ;;
      # One mapping worker still leaves the writer and the reader threads a second core: pinned
      # to one core, the import shows what a second core adds.
      "auditlake import, 1 worker on 1 core") cmd=(taskset -c 0 "${import[@]}" --workers 1) ;;
      pyarrow) cmd=(python3 scripts/checks/pyarrow_json_to_parquet.py "$file" "$work/out/out.parquet") ;;
      duckdb) cmd=(python3 scripts/checks/duckdb_json_to_parquet.py "$file" "$work/out/out.parquet") ;;
      # The same work as the import's: the columns and each record's own text.
      "duckdb + raw") cmd=(python3 scripts/checks/duckdb_json_to_parquet.py "$file" "$work/out/out.parquet" --with-raw) ;;
    esac
    start=$(date +%s.%N)
    /usr/bin/time -f "%M %U %S" -o "$work/usage" "${cmd[@]}" >"$work/result" 2>"$work/stderr" ||
      { echo "$tool failed:" >&2; cat "$work/stderr" >&2; exit 1; }
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    read -r rss user sys <"$work/usage"
    if [[ "$tool" == auditlake* ]]; then
      rows=$(python3 -c 'import json,sys; print(sum(json.loads(l)["rows"] for l in open(sys.argv[1])))' "$work/result")
    else
      rows=$(sed -n 's/.*rows=\([0-9]*\).*/\1/p' "$work/result")
    fi
    [ "$rows" = "$n" ] || { echo "$tool wrote $rows rows of $n" >&2; exit 1; }
    echo "| $n | $mb | $tool | $secs | $(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%.0f", r / s }') | $(( rss / 1024 )) | $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }') |"
  done
done
