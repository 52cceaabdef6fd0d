#!/usr/bin/env python3
"""Runs the Athena query files (athena/queries/*.sql, Trino SQL) over a local lake with DuckDB.

    python3 scripts/checks/run_queries.py --lake DIR [--queries athena/queries] [--only NAME...]

The interim local engine until the CLI runs the same files with DataFusion. It registers each
lake table as a view over DIR/<table>/dt=*/*.parquet (hive partitioning, `dt` kept a VARCHAR
as in Glue, never cast to a date), adds the `calendar` view Athena has as a Glue table (one
DATE column `day`, 2015-01-01 .. 2040-12-31), runs every query file and prints ONE JSON
document to stdout:

    {"<file stem>": {"columns": [...], "rows": [[...], ...]}, ...}

Dates are ISO dates, timestamps ISO timestamps in UTC with milliseconds (`...T10:20:30.123Z`).

The query text runs as written: it is in the subset of Trino SQL that DuckDB and DataFusion also
run (shared/reference/sql-portability.md). It is never transpiled (sqlglot's trino->duckdb
transpile changes meanings, e.g. date_diff). Two Trino functions of that subset that DuckDB
lacks are added as macros with the same meaning for the codes the subset allows:
`date_format(ts, fmt)` (%Y %m %d %H %S %T) and `regexp_like(s, pattern)`. Where DuckDB cannot
run a file at all, a `<stem>.duckdb.sql` beside it is run instead (none is needed today);
`<stem>.datafusion.sql` variants are for DataFusion and ignored here.

Exit status: 0 with the JSON document; 1 when a query fails (the message names the file and
carries DuckDB's error, with its LINE context when DuckDB gives one) or a table a query reads
has no data in the lake; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import math
import re
import sys
import uuid
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
LAKE_TABLES = ("entra_signins", "entra_directory_audits", "aws_iam_access_keys")
VARIANT_SUFFIXES = (".duckdb.sql", ".datafusion.sql")

MACROS = (
    # Trino's date_format takes MySQL codes; for %Y %m %d %H %S %T they equal strftime's.
    "CREATE MACRO date_format(value, fmt) AS strftime(value, fmt)",
    "CREATE MACRO regexp_like(value, pattern) AS regexp_matches(value, pattern)",
)
CALENDAR = (
    "CREATE VIEW calendar AS "
    "SELECT CAST(range AS DATE) AS day "
    "FROM range(DATE '2015-01-01', DATE '2041-01-01', INTERVAL 1 DAY)"
)


class QueryError(Exception):
    """A query file that could not be run; the message says which and why."""


def query_files(queries_dir: Path, only: list[str] | None) -> list[Path]:
    """The Athena query files (not their variants), by name, optionally only the named ones."""
    files = sorted(
        p for p in queries_dir.glob("*.sql") if not any(p.name.endswith(s) for s in VARIANT_SUFFIXES)
    )
    if only:
        by_stem = {p.stem: p for p in files}
        wanted = [n[: -len(".sql")] if n.endswith(".sql") else n for n in only]
        unknown = [n for n in wanted if n not in by_stem]
        if unknown:
            raise QueryError(f"no query file named {', '.join(unknown)} in {queries_dir}")
        files = [by_stem[n] for n in wanted]
    return files


def table_glob(lake: Path, table: str) -> str:
    return str(lake / table / "dt=*" / "*.parquet")


def connect(lake: Path) -> tuple[duckdb.DuckDBPyConnection, set[str]]:
    """A DuckDB connection with the lake's tables, `calendar` and the macros; also the names of
    the lake tables that have no data (no view exists for them)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for macro in MACROS:
        con.execute(macro)
    con.execute(CALENDAR)
    missing = set()
    for table in LAKE_TABLES:
        if not any((lake / table).glob("dt=*/*.parquet")):
            missing.add(table)
            continue
        pattern = table_glob(lake, table).replace("'", "''")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}', "
            "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'}, union_by_name = true)"
        )
    return con, missing


def sql_for(path: Path) -> Path:
    """The file DuckDB runs for a query: its `.duckdb.sql` variant when there is one."""
    variant = path.with_name(path.stem + ".duckdb.sql")
    return variant if variant.exists() else path


def references(sql: str, table: str) -> bool:
    return re.search(rf"(?<![\w.\"]){re.escape(table)}(?![\w\"])", sql) is not None


def to_json(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return str(value)


def execute(con: duckdb.DuckDBPyConnection, missing: set[str], lake: Path, path: Path):
    """Runs the query file `path` (or its DuckDB variant); its answer as an Arrow table."""
    source = sql_for(path)
    sql = source.read_text(encoding="utf-8")
    for table in sorted(missing):
        if references(sql, table):
            raise QueryError(
                f"{source}: table {table} has no data in the lake: no file matches {table_glob(lake, table)}"
            )
    try:
        # Through Arrow: DuckDB's own Python conversion of TIMESTAMPTZ needs pytz.
        table = con.sql(sql).to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(f"{source}: DuckDB {type(e).__name__}: {e}") from None
    return table


def run(con: duckdb.DuckDBPyConnection, missing: set[str], lake: Path, path: Path) -> dict:
    """Runs the query file `path`; its answer as {"columns": [...], "rows": [[...], ...]}."""
    table = execute(con, missing, lake, path)
    columns = [[to_json(v) for v in column.to_pylist()] for column in table.columns]
    return {"columns": table.column_names, "rows": [list(row) for row in zip(*columns)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, type=Path, help="local lake directory (holds <table>/dt=YYYY-MM-DD/)")
    parser.add_argument("--queries", type=Path, default=ROOT / "athena" / "queries", help="folder of the query files")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these query files (stems)")
    args = parser.parse_args(argv)

    if not args.lake.is_dir():
        print(f"run_queries: lake directory {args.lake} does not exist", file=sys.stderr)
        return 1
    try:
        files = query_files(args.queries, args.only)
        if not files:
            raise QueryError(f"no query files in {args.queries}")
        con, missing = connect(args.lake)
        results = {path.stem: run(con, missing, args.lake, path) for path in files}
    except QueryError as e:
        print(f"run_queries: {e}", file=sys.stderr)
        return 1
    json.dump(results, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
