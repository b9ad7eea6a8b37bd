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
from collections.abc import Mapping
from pathlib import Path

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


def _in_order(codes: pa.ChunkedArray | pa.Array, after: str | None) -> bool:
    n = len(codes)
    if not n:
        return True
    if after is not None and codes[0].as_py() < after:
        return False
    return n < 2 or pc.all(pc.less_equal(codes.slice(0, n - 1), codes.slice(1))).as_py() is not False


def _merged(file: Path, dropped: pa.Array, new: pa.Table, target: Path, schema: pa.Schema) -> int:
    """``file`` (sorted by credit code) without the rows of ``dropped``, merged with ``new`` (sorted) as
    it is read, written to ``target`` in row groups of ``ROW_GROUP`` rows; the rows written."""
    import numpy as np

    fresh = new.select(schema.names).cast(schema)
    codes = np.asarray(fresh["uscc"].to_numpy(zero_copy_only=False), dtype=object)
    at, written, last = 0, 0, None
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
        for batch in pq.ParquetFile(file).iter_batches(batch_size=1 << 16, columns=schema.names):
            rows = pa.Table.from_batches([batch]).cast(schema)
            if not _in_order(rows["uscc"], last):
                raise _Unsorted(str(file))
            if not rows.num_rows:
                continue
            last = rows["uscc"][-1].as_py()
            kept = rows.filter(pc.invert(pc.is_in(rows["uscc"], value_set=dropped)))
            upto = int(np.searchsorted(codes, last, side="right"))
            if upto > at:  # the new rows up to this batch's last firm, in their places (a stable sort)
                kept = pa.concat_tables([kept, fresh.slice(at, upto - at)])
                kept = kept.take(pc.sort_indices(kept["uscc"]))
                at = upto
            pending.append(kept)
            if sum(t.num_rows for t in pending) >= ROW_GROUP:
                flush(final=False)
        pending.append(fresh.slice(at))
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
