"""One firm's rows of a register table sorted by credit code, in milliseconds (issue 16: a firm's page).

A stored register's tables are written sorted by ``uscc`` in small row groups (``firms.register.ROW_GROUP``).
Reading one firm with Parquet's own filter parses the file's footer and checks every row group's
statistics on each call; a web worker answering firms' pages does that for six tables a page. Here each
file's footer and its row groups' smallest and largest credit code are read once and kept (keyed by the
file's identity, so a re-import that renames new files into place is seen), and a lookup bisects them and
decodes only the one or two row groups that can hold the firm. A file whose row groups are not in credit
code order (a register directory as given, or one written before the sorted layout) is scanned by DuckDB,
which reads the credit codes first and the other columns only where the code matches (pyarrow's filtered
read decodes every column of every row: 25 s for one firm of a 10 M-firm register).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: How many files' indexes a process keeps (a register is six tables; a few registers at once).
KEEP = 64


@dataclass(frozen=True)
class _Index:
    """A file's footer and, per row group holding rows (``groups``), its smallest and largest credit code
    (``lows`` None: not in credit-code order, or a group without statistics). The
    footer is kept, not the open file: no handle outlives a lookup (a replaced file's space is freed), and
    each lookup opens its own reader (threads of a web worker do not share one)."""

    meta: pq.FileMetaData
    schema: pa.Schema
    groups: list[int]
    lows: list[str] | None
    highs: list[str]


_cache: OrderedDict[tuple[str, int, int, int], _Index] = OrderedDict()
_lock = threading.Lock()


def file_identity(path: Path) -> tuple[str, int, int, int]:
    """What tells one version of a file from the next (path, inode, size, modification time): a re-import
    writes new files and renames them into place, so a cache keyed by this never serves the old file."""
    st = os.stat(path)
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _build(path: Path) -> _Index:
    with pq.ParquetFile(path) as file:
        meta, schema = file.metadata, file.schema_arrow
    column = schema.get_field_index("uscc")
    groups: list[int] = []
    lows: list[str] = []
    highs: list[str] = []
    for g in range(meta.num_row_groups):
        if meta.row_group(g).num_rows == 0:  # an empty table's group holds nothing and has no statistics
            continue
        stats = meta.row_group(g).column(column).statistics if column >= 0 else None
        if stats is None or not stats.has_min_max:
            return _Index(meta, schema, [], None, [])
        groups.append(g)
        lows.append(str(stats.min))
        highs.append(str(stats.max))
    ordered = all(highs[i] <= lows[i + 1] for i in range(len(lows) - 1))
    return _Index(meta, schema, groups, lows if ordered else None, highs)


def _index(path: Path) -> _Index:
    key = file_identity(path)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    built = _build(path)
    with _lock:
        _cache[key] = built
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
    return built


def _scan(path: Path, uscc: str, schema: pa.Schema) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    try:
        rows: pa.Table = con.execute(
            "SELECT * FROM read_parquet(?) WHERE uscc = ?", [str(path), uscc]
        ).to_arrow_table()
    finally:
        con.close()
    return rows.cast(schema)


def column_names(path: Path) -> list[str]:
    """The columns of the Parquet table ``path``, from the kept footer (a caller choosing which to read)."""
    names: list[str] = _index(path).schema.names
    return names


def firm_rows(path: Path, uscc: str, columns: list[str] | None = None) -> pa.Table:
    """The rows of ``uscc`` in the Parquet table ``path``: the row groups that can hold it, from a kept
    index, so a firm's page does not re-read footers or scan statistics on every request; only ``columns``
    (with ``uscc``) decoded when given."""
    index = _index(path)
    if columns is not None and "uscc" not in columns:
        columns = ["uscc", *columns]
    if index.lows is None:
        rows = _scan(path, uscc, index.schema)
        return rows if columns is None else rows.select(columns)
    first = bisect.bisect_left(index.highs, uscc)
    groups = []
    for i in range(first, len(index.lows)):
        if index.lows[i] > uscc:
            break
        groups.append(index.groups[i])
    if not groups:
        empty = index.schema.empty_table()
        return empty if columns is None else empty.select(columns)
    with pq.ParquetFile(path, metadata=index.meta) as file:
        found = file.read_row_groups(groups, columns=columns)
    return found.filter(pc.equal(found["uscc"], uscc))
