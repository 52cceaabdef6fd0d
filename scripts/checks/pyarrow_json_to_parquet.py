"""Peer of the JSON → Parquet benchmark: pyarrow's JSON reader + Parquet writer (zstd).

Usage: python3 pyarrow_json_to_parquet.py INPUT.ndjson OUTPUT.parquet [--with-raw]

--with-raw also stores every record's text in a `raw` column, as auditlake does (context for
docs/BENCHMARKS.md; the benchmark's peer is the plain form).
"""
import sys
import time

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq

started = time.perf_counter()
table = pj.read_json(sys.argv[1])
if "--with-raw" in sys.argv[3:]:
    # Each line as one string, read by pyarrow's own (multi-threaded) CSV reader: a
    # delimiter that JSON text never contains, no quoting.
    lines = pcsv.read_csv(
        sys.argv[1],
        read_options=pcsv.ReadOptions(column_names=["raw"], block_size=1 << 24),
        parse_options=pcsv.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False),
        convert_options=pcsv.ConvertOptions(column_types={"raw": pa.large_string()}),
    )
    table = table.append_column("raw", lines.column("raw"))
pq.write_table(table, sys.argv[2], compression="zstd")
seconds = time.perf_counter() - started
print(f"rows={table.num_rows} seconds={seconds:.2f} rows_per_s={table.num_rows / seconds:.0f}")
