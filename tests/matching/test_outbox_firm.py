"""A message's firm is read from a register directory through each table's row-group statistics: sorted
by credit code in small row groups, one row group a table is read (two when its rows cross a boundary),
never a scan; either way the firm is the one the register holds."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dbfixtures import Db
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.matching.outbox import firm_of


def sorted_copy(root: Path, rows: int) -> None:
    """Rewrite every table of ``root`` sorted by credit code in row groups of ``rows`` rows."""
    for file in root.glob("*.parquet"):
        t = pq.read_table(file)
        if "uscc" in t.column_names:
            pq.write_table(t.sort_by("uscc"), file, row_group_size=rows)


def test_a_firm_is_read_from_one_row_group_a_table(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = synth_register(60, 21)
    plain = write_register(tables, tmp_path / "plain")
    small = write_register(tables, tmp_path / "small")
    sorted_copy(small, 4)
    read: list[list[int]] = []
    original = pq.ParquetFile.read_row_groups

    def counting(self: pq.ParquetFile, groups: list[int], *args: object, **kw: object) -> pa.Table:
        read.append(list(groups))
        return original(self, groups, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", counting)
    import duckdb

    scans: list[object] = []
    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: scans.append(a) or connect(*a, **k))
    codes = tables["firms"]["uscc"].to_pylist()
    with sqlite_db.session() as s:
        for uscc in [*codes[::7], "91310000000000000X"]:
            read.clear()
            fast = firm_of(s, str(small), uscc)
            # each table: the row group holding the code (two when a firm's child rows cross a boundary)
            assert all(1 <= len(g) <= 2 for g in read) and (len(read) >= 2 or uscc not in codes), read
            assert not scans, "a sorted table is not scanned"
            assert fast == firm_of(s, str(plain), uscc)
            assert (fast is None) == (uscc not in codes)
