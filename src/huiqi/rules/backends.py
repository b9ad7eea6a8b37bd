"""Where compiled programmes run: DuckDB in-process, PostgreSQL, Spark.

The compiler (``compiler.compile_pack``) builds one backend-neutral Ibis expression over tables named by
the register layout (``firms``, ``offices``, ...). This module only gets those tables onto an engine and
the result back: the same compiled programmes run everywhere, and ``tests/backends`` proves the results
identical firm by firm.

- DuckDB (default): Arrow tables are registered without copying, or Parquet files are scanned directly;
  results can be streamed to Parquet by DuckDB itself (``copy_to_parquet``) so a register larger than
  memory never passes through Python.
- PostgreSQL: the layout tables live in the database (``load_postgres`` creates them from Arrow, or
  ``postgres_tables`` opens ones already there); the rules run inside the database as one SQL statement.
- Spark: each table is a Parquet dataset (local files or a cluster's storage: ``hdfs://``, ``s3a://``)
  read by Spark; the rules run as Spark SQL. ``spark_session`` builds a local session for tests and
  small jobs; on a cluster pass your own ``SparkSession`` (see docs/scaling.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from huiqi.firms.register import TABLES

BACKENDS = ("duckdb", "postgres", "spark")
#: how ``copy_to_parquet`` writes: zstd at level 1 took a tenth less of the engine's CPU at 1 M firms than
#: DuckDB's default level 3 (writing was a sixth of it), for a file 3 % smaller (booleans, small decimals
#: and ENUMs compress as well at either level)
PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"


class BackendError(RuntimeError):
    """An engine that is not installed or cannot be reached; the message says which and how to fix it."""


def table_name(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


# -- DuckDB -------------------------------------------------------------------------------------------
def duckdb_connect(
    *, memory_limit: str | None = None, temp_directory: str | Path | None = None, threads: int | None = None
) -> Any:
    """An in-process DuckDB; with ``memory_limit`` and ``temp_directory`` it spills to disk (out-of-core)."""
    con = ibis.duckdb.connect()
    raw = con.con
    if memory_limit:
        raw.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        raw.execute(f"SET temp_directory = '{Path(temp_directory).as_posix()}'")
    if threads:
        raw.execute(f"SET threads = {int(threads)}")
    # row order is not part of the results' meaning; letting DuckDB drop it saves memory on large joins
    raw.execute("SET preserve_insertion_order = false")
    return con


def duckdb_parquet_tables(con: Any, register: str | Path, prefix: str = "register_") -> dict[str, ir.Table]:
    """Views over a register directory's Parquet files: DuckDB scans them lazily, nothing is loaded."""
    root = Path(register)
    out = {}
    for name in TABLES:
        view = table_name(prefix, name)
        path = (root / f"{name}.parquet").as_posix().replace("'", "''")
        # a view cannot take a bound parameter: the path is quoted above, the view name is ours
        con.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{path}')")  # nosec B608
        out[name] = con.table(view)
    return out


def copy_to_parquet(
    table: ir.Table, path: str | Path, *, enums: Mapping[str, Sequence[str]] | None = None
) -> int:
    """Run a compiled table on its DuckDB and stream the rows to a Parquet file; returns the row count.

    ``enums``: string columns of few values (a compiled pack's ``unmet_values``) written as ENUMs of them:
    the writer is handed the dictionary instead of hashing every string (unmet lists were two thirds of the
    writing); the file holds the same strings. An integer column there (a pack's ``as_bits`` table) is the
    position of its value in the list, looked up as an ENUM without making the string at all."""
    backend = table._find_backend()
    if backend.name != "duckdb":
        raise BackendError(f"copy_to_parquet runs on DuckDB; this table is on {backend.name}")
    from huiqi.rules.batch import duckdb_sql

    sql = duckdb_sql(table)
    if enums:
        casts = []
        for column, values in enums.items():
            kind = f"ENUM({', '.join(map(_text, dict.fromkeys(values)))})"
            name = _ident(column)
            if table[column].type().is_integer():
                casts.append(f"CAST([{', '.join(map(_text, values))}] AS {kind}[])[{name} + 1] AS {name}")
            else:
                casts.append(f"CAST({name} AS {kind}) AS {name}")
        sql = f"SELECT * REPLACE ({', '.join(casts)}) FROM ({sql})"  # nosec B608  # quoted names and values
    target = Path(path).as_posix().replace("'", "''")
    result = backend.con.execute(f"COPY ({sql}) TO '{target}' ({PARQUET})").fetchone()
    return int(result[0]) if result else 0


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- PostgreSQL ---------------------------------------------------------------------------------------
def postgres_connect(url: str) -> Any:
    """An Ibis PostgreSQL connection from a SQLAlchemy-style URL (``postgresql+psycopg://...``)."""
    from urllib.parse import unquote, urlsplit

    parsed = urlsplit(url)  # the engine stays free of SQLAlchemy: the URL is parsed here
    try:
        return ibis.postgres.connect(
            host=parsed.hostname or "localhost",
            port=parsed.port or 5432,
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            database=parsed.path.lstrip("/") or None,
        )
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        raise BackendError(f"the PostgreSQL backend needs ibis-framework[postgres]: {exc}") from None


def load_postgres(con: Any, tables: Mapping[str, pa.Table], prefix: str = "register_") -> dict[str, ir.Table]:
    """Create (or replace) the layout tables in PostgreSQL from Arrow, with an index on ``uscc``."""
    out = {}
    for name, table in tables.items():
        tname = table_name(prefix, name)
        out[name] = con.create_table(tname, table, overwrite=True)
        con.raw_sql(f'CREATE INDEX IF NOT EXISTS "{tname}_uscc" ON "{tname}" (uscc)').close()
        con.raw_sql(f'ANALYZE "{tname}"').close()
    return out


def postgres_tables(con: Any, prefix: str = "register_") -> dict[str, ir.Table]:
    """The layout tables already in the database (see ``load_postgres`` and ``huiqi.matching.store``)."""
    return {name: con.table(table_name(prefix, name)) for name in TABLES}


# -- Spark --------------------------------------------------------------------------------------------
def spark_session(*, master: str = "local[2]", shuffle_partitions: int = 4, app: str = "huiqi") -> Any:
    """A Spark session for local runs and tests: UTC session time (dates must not shift), few shuffle
    partitions (the default 200 makes small jobs slow), no UI. On a cluster, build your own."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BackendError(
            "the Spark backend needs pyspark (pip install 'huiqi[spark]') and Java 17"
        ) from None
    # workers (if any Python runs on them) use this interpreter, which has pyarrow and huiqi's pins
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", os.environ.get("HUIQI_SPARK_DRIVER_MEMORY", "2g"))
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_connect(session: Any | None = None) -> Any:
    return ibis.pyspark.connect(session if session is not None else spark_session())


def spark_parquet_tables(con: Any, register: str | Path, prefix: str = "register_") -> dict[str, ir.Table]:
    """A register directory (or a cluster path holding ``<table>.parquet`` datasets) as Spark views."""
    root = str(register).rstrip("/")
    return {
        name: con.read_parquet(f"{root}/{name}.parquet", table_name=table_name(prefix, name))
        for name in TABLES
    }


# -- any backend --------------------------------------------------------------------------------------
def to_arrow(table: ir.Table) -> pa.Table:
    """Run a compiled table on whichever backend holds its inputs and return Arrow."""
    from huiqi.rules.batch import execute

    return execute(table)
