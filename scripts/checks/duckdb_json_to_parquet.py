"""Peer of the import benchmark: DuckDB reading newline-delimited JSON and writing Parquet.

Usage: python3 duckdb_json_to_parquet.py INPUT.ndjson OUTPUT.parquet [--threads N]

`read_json` (schema detected from the records, as a user would run it) → `COPY … (FORMAT
parquet, COMPRESSION zstd)`, with DuckDB's default of one thread per core unless --threads.
"""
import sys
import time

import duckdb

started = time.perf_counter()
con = duckdb.connect()
if "--threads" in sys.argv:
    con.execute(f"SET threads = {int(sys.argv[sys.argv.index('--threads') + 1])}")
source = sys.argv[1].replace("'", "''")
target = sys.argv[2].replace("'", "''")
con.execute(
    f"COPY (SELECT * FROM read_json('{source}', format = 'newline_delimited', maximum_object_size = 16777216)) "
    f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
)
rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
seconds = time.perf_counter() - started
print(f"rows={rows} seconds={seconds:.2f} rows_per_s={rows / seconds:.0f}")
