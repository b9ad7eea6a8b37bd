"""A stored register's tables with some firms' rows replaced (issue 16).

A re-import that changes a few firms need not hold the whole register in Arrow, sort it and write it:
each new table is the stored file without the rows of the firms the import touched, with their new rows,
in credit-code order (a firm's rows keep theirs), in row groups of ``ROW_GROUP`` rows. The stored files
are sorted already, so each is merged with the new rows as it is read, a batch at a time (the tables in
threads: Arrow's readers and writers free the GIL); a file that is not sorted is sorted by DuckDB within a
memory limit. The files and the manifest are those ``huiqi.firms.register.write_register`` writes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from huiqi.firms.digests import sql_ident, sql_text
from huiqi.firms.register import (
    MANIFEST,
    ROW_GROUP,
    TABLES,
    check_schema,
    expected_schema,
    manifest_text,
    table_writer,
)
from huiqi.firms.uscc import fixed_codes

T = TypeVar("T")

#: DuckDB's memory while it writes the tables (beyond it, it spills to a directory beside them)
MEMORY_LIMIT = "1GB"


class _Unsorted(Exception):
    """A stored table file not in credit-code order: it cannot be merged as it is read."""


def write_spliced(
    base: Mapping[str, Path], dropped: pa.Array, new: Mapping[str, pa.Table], out: Path, years: list[int]
) -> int:
    """Write the register ``base`` (its table files) without the rows of the firms ``dropped``, with the
    rows ``new`` (each in the layout, sorted by credit code), to the new directory ``out``; the number of
    firms written. The base's firms table must have the layout of ``years``. A stored file in credit-code
    order (as imports write them) is merged with the new rows as it is read, a batch of rows at a time,
    the tables on every core; another is sorted by DuckDB."""
    from concurrent.futures import ThreadPoolExecutor

    out.mkdir(parents=True, exist_ok=True)
    schemas = {name: expected_schema(name, years) for name in TABLES}
    gone = dropped.cast(pa.string())
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            counts = list(
                pool.map(
                    lambda name: _merged(base[name], gone, new[name], out / f"{name}.parquet", schemas[name]),
                    TABLES,
                )
            )
        rows = dict(zip(TABLES, counts, strict=True))
    except _Unsorted:
        rows = _sorted_by_duckdb(base, gone, new, out, schemas)
    (out / MANIFEST).write_text(manifest_text(years, rows), encoding="utf-8")
    return rows["firms"]


#: rows of the stored file read at a time (a multiple of ``ROW_GROUP``: the new file's row groups follow)
BATCH_ROWS = 1 << 16
#: batches decoded ahead of the one being merged and written
AHEAD = 2


def searchable(codes: pa.Array) -> np.ndarray:
    """Credit codes as a NumPy array to search in: 18-byte strings viewed in Arrow's buffer
    (``uscc.fixed_codes``), else Python strings (in the same order: UTF-8's bytes sort as its characters)."""
    fixed: np.ndarray | None = fixed_codes(codes)
    if fixed is not None:
        return fixed
    return np.asarray(codes.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def _as_text(codes: np.ndarray) -> np.ndarray:
    return codes if codes.dtype == object else np.char.decode(codes, "ascii").astype(object)


def _ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, made by a thread a few ahead of the caller: Arrow frees the GIL as it decodes and
    encodes, so the reading (and merging) and the writing of a table share the cores."""
    import queue
    import threading

    ahead: queue.Queue[tuple[T] | BaseException | None] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def put(item: tuple[T] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not put((item,)):
                    return
            put(None)
        except BaseException as exc:  # raised in the caller's thread
            put(exc)

    thread = threading.Thread(target=make, name="splice reader", daemon=True)
    thread.start()
    try:
        while (got := ahead.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            yield got[0]
    finally:
        stop.set()
        thread.join()


def _kept_and_new(file: Path, dropped: pa.Array, fresh: pa.Table, schema: pa.Schema) -> Iterator[pa.Table]:
    """The rows of ``file`` (sorted by credit code) but those of ``dropped``, with the rows ``fresh``
    (sorted) in their places, a batch at a time. A batch is put together by one ``take`` of its kept
    rows and of the new rows that fall among them, found by a binary search of the codes (nothing is
    sorted); a batch that loses and gains nothing is as read."""
    theirs = searchable(fresh["uscc"].combine_chunks())
    at, last = 0, ""
    for batch in pq.ParquetFile(file).iter_batches(batch_size=BATCH_ROWS, columns=schema.names):
        rows = pa.Table.from_batches([batch])
        if not rows.num_rows:
            continue
        rows = rows if rows.schema.equals(schema) else rows.cast(schema)
        mine = searchable(rows["uscc"].combine_chunks())
        if len(theirs) and mine.dtype != theirs.dtype:  # (codes not all of 18 bytes: compared as text)
            mine, theirs = _as_text(mine), _as_text(theirs)
        first = mine[0] if mine.dtype == object else mine[0].decode("ascii")
        if first < last or bool(np.any(mine[1:] < mine[:-1])):
            raise _Unsorted(str(file))
        last = mine[-1] if mine.dtype == object else mine[-1].decode("ascii")
        gone = pc.is_in(rows["uscc"], value_set=dropped).to_numpy(zero_copy_only=False)
        upto = int(np.searchsorted(theirs, mine[-1], side="right")) if len(theirs) else 0
        if upto > at or gone.any():
            # the new rows up to this batch's last firm, each after the kept rows of codes not above its
            keep = np.flatnonzero(~gone)
            places = np.searchsorted(mine[keep], theirs[at:upto], side="right")
            order = np.insert(keep, places, rows.num_rows + np.arange(upto - at))
            both = pa.concat_tables([rows, fresh.slice(at, upto - at)])
            rows = both.take(pa.array(order, pa.int64()))
            at = upto
        yield rows
    yield fresh.slice(at)


def _merged(file: Path, dropped: pa.Array, new: pa.Table, target: Path, schema: pa.Schema) -> int:
    """``file`` (sorted by credit code) without the rows of ``dropped``, merged with ``new`` (sorted) as
    it is read (by a thread a few batches ahead), written to ``target`` in row groups of ``ROW_GROUP``
    rows; the rows written."""
    written = 0
    pending: list[pa.Table] = []
    writer = table_writer(target, schema)

    def flush(final: bool) -> None:
        nonlocal pending, written
        held = pa.concat_tables(pending)
        n = held.num_rows if final else held.num_rows // ROW_GROUP * ROW_GROUP
        if n or (final and not written):
            writer.write_table(held.slice(0, n), row_group_size=ROW_GROUP)
        written += n
        pending = [held.slice(n)]

    try:
        for rows in _ahead(_kept_and_new(file, dropped, new.select(schema.names).cast(schema), schema)):
            pending.append(rows)
            if sum(t.num_rows for t in pending) >= ROW_GROUP:
                flush(final=False)
        flush(final=True)
    finally:
        writer.close()
    return written


def _sorted_by_duckdb(
    base: Mapping[str, Path],
    dropped: pa.Array,
    new: Mapping[str, pa.Table],
    out: Path,
    schemas: dict[str, pa.Schema],
) -> dict[str, int]:
    """The tables written by DuckDB, sorted as written (for stored files not in credit-code order)."""
    import duckdb

    spill = out.parent / f".spill-{uuid.uuid4().hex}"
    rows: dict[str, int] = {}
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(spill)})
    try:
        con.register("dropped", pa.table({"uscc": dropped}))
        for name in TABLES:
            schema = schemas[name]
            cols = ", ".join(sql_ident(f.name) for f in schema)
            fresh = new[name].select(schema.names).cast(schema)
            con.register("fresh", fresh.append_column("__i", pa.array(range(fresh.num_rows), pa.int64())))
            target = out / f"{name}.parquet"
            # names are the layout's (quoted); the paths are ours (quoted)
            sql = (
                f"COPY (SELECT {cols} FROM ("  # nosec B608
                f"SELECT {cols}, 0 AS __s, file_row_number AS __i "
                f"FROM read_parquet({sql_text(str(base[name]))}, file_row_number = true) "
                "WHERE uscc NOT IN (SELECT uscc FROM dropped) "
                f"UNION ALL SELECT {cols}, 1 AS __s, __i FROM fresh) ORDER BY uscc, __s, __i) "
                f"TO {sql_text(str(target))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})"
            )
            found = con.execute(sql).fetchone()
            rows[name] = int(found[0]) if found else 0
            con.unregister("fresh")
            check_schema(pq.read_schema(target).remove_metadata(), schema, source=str(target))
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    return rows
