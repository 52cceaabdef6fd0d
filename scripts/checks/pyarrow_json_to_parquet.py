"""Peer of the JSON → Parquet benchmark: pyarrow's JSON reader + Parquet writer (zstd).

Usage: python3 pyarrow_json_to_parquet.py INPUT.ndjson OUTPUT.parquet
"""
import sys
import time

import pyarrow.json as pj
import pyarrow.parquet as pq

started = time.perf_counter()
table = pj.read_json(sys.argv[1])
pq.write_table(table, sys.argv[2], compression="zstd")
seconds = time.perf_counter() - started
print(f"rows={table.num_rows} seconds={seconds:.2f} rows_per_s={table.num_rows / seconds:.0f}")
