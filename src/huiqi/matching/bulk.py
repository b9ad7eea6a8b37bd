"""Rows into the database in bulk, never through the ORM one by one: SQLite ``executemany`` of tuples,
PostgreSQL ``COPY`` (through a temporary table when conflicting rows are to be skipped).

Values are given as the driver stores them for the models' column types: money as integer fen, dates as
``datetime.date``, timestamps as aware UTC datetimes (made naive ISO text for SQLite, as SQLAlchemy's
``UTCDateTime`` stores them), booleans as bool. ``insert_table`` takes an Arrow table of strings and
integers instead: PostgreSQL gets it as CSV written by Arrow, never a Python object a value.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Table
from sqlalchemy.orm import Session


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _sqlite_rows(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """The rows with dates and timestamps as SQLite stores them; the columns to convert are those of
    the first row holding one or nothing (a column's values share a type), the others pass untouched."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return
    convert = [i for i, v in enumerate(first) if v is None or isinstance(v, dt.date)]
    if not convert:
        yield first
        yield from it
        return
    for row in itertools.chain([first], it):
        out = list(row)
        for i in convert:
            out[i] = _sqlite_value(out[i])
        yield out


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    skip_conflicts: bool = False,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in the session's transaction; the rows inserted (those
    skipped as conflicting with a unique key not counted when ``skip_conflicts``)."""
    conn = session.connection()
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        verb = "INSERT OR IGNORE" if skip_conflicts else "INSERT"
        cur = raw.cursor()  # type: ignore[union-attr]
        # names come from the models' tables, never from input
        cur.executemany(
            f'{verb} INTO "{table.name}" ({names}) VALUES ({marks})',  # nosec B608
            _sqlite_rows(rows),
        )
        return int(cur.rowcount)
    cur = raw.cursor()  # type: ignore[union-attr]
    target = table.name
    if skip_conflicts:
        target = f"tmp_{table.name}"
        cur.execute(f'CREATE TEMPORARY TABLE "{target}" (LIKE "{table.name}") ON COMMIT DROP')
    with cur.copy(f'COPY "{target}" ({names}) FROM STDIN') as copy:
        n = 0
        for row in rows:
            copy.write_row(row)
            n += 1
    if not skip_conflicts:
        return n
    cur.execute(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{target}" ON CONFLICT DO NOTHING'  # nosec B608
    )
    inserted = int(cur.rowcount)
    cur.execute(f'DROP TABLE "{target}"')
    return inserted


#: Rows a CSV block of ``insert_table`` (bounded memory whatever the table's size).
BLOCK = 65_536


def insert_table(session: Session, table: Table, data: pa.Table) -> int:
    """Insert an Arrow table's rows (columns named as the table's; strings and integers) in the session's
    transaction; the rows inserted. PostgreSQL takes them as CSV ``COPY`` blocks that Arrow writes (``COPY``
    row by row cost a second a 100 k rows in Python); SQLite as ``executemany`` of tuples."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return insert_rows(
            session, table, data.column_names, zip(*(c.to_pylist() for c in data.columns), strict=True)
        )
    names = ", ".join(f'"{c}"' for c in data.column_names)
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    options = pacsv.WriteOptions(include_header=False)
    with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT csv)') as copy:
        for batch in data.to_batches(max_chunksize=BLOCK):
            block = io.BytesIO()
            pacsv.write_csv(batch, block, write_options=options)
            copy.write(block.getvalue())
    return int(data.num_rows)
