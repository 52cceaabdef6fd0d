"""Peer of the import benchmark: DuckDB reading newline-delimited JSON and writing Parquet.

Usage: python3 duckdb_json_to_parquet.py INPUT.ndjson OUTPUT.parquet [--threads N] [--with-raw]

`read_json` (schema detected from the records, as a user would run it) → `COPY … (FORMAT
parquet, COMPRESSION zstd)`, with DuckDB's default of one thread per core unless --threads.

--with-raw also keeps each record's own text in a `raw` column, as `auditlake import` does
(the lake keeps the record as Graph sent it beside its columns): `read_json_objects` over the
same file, joined row by row (`POSITIONAL JOIN`) to `read_json`'s columns. That is the same
work as the import's, so the two can be compared on it as well as on the plain conversion.
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
columns = f"read_json('{source}', format = 'newline_delimited', maximum_object_size = 16777216)"
if "--with-raw" in sys.argv:
    query = (
        f"SELECT j.*, o.json::VARCHAR AS raw FROM {columns} AS j POSITIONAL JOIN "
        f"read_json_objects('{source}', format = 'newline_delimited', maximum_object_size = 16777216) AS o"
    )
else:
    query = f"SELECT * FROM {columns}"
con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
seconds = time.perf_counter() - started
print(f"rows={rows} seconds={seconds:.2f} rows_per_s={rows / seconds:.0f}")
