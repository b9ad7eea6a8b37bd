"""A CSV file's columns stay in the blocks Arrow read them in until converted (the rows of the firms given
as stored let go first: no contiguous copy of all of a file's text): a source read in many small blocks
gives the batch one block gives, with and without raw digests stored, blank rows and bad cells included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from csv_rows import read_rows, write_rows
from huiqi.firms import bulk
from huiqi.firms.exporting import write_tables
from huiqi.firms.synth import synth_register
from huiqi.firms.textual import RawDigests


def _batch(source: Path, stored: RawDigests | None, block: int | None, mp: pytest.MonkeyPatch) -> Any:
    real = bulk.CsvPlan.options
    if block is not None:
        mp.setattr(bulk.CsvPlan, "options", lambda self, newlines, block_size=0: real(self, newlines, block))
    try:
        batch = bulk.read_bulk(source, stored_raw=stored)
    finally:
        mp.setattr(bulk.CsvPlan, "options", real)
    parts = {t: (p.data, p.index.tolist(), p.cells.numbers.tolist()) for t, p in batch.parts.items()}
    return parts, batch.problems, [r for r, _ in batch.rejected], batch.raw, batch.as_stored


def test_a_file_read_in_small_blocks_gives_what_one_block_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_tables(synth_register(40, 3), tmp_path / "one")
    second = write_tables(synth_register(40, 3), tmp_path / "two")
    rows = read_rows(second / "firms.csv")
    head = rows[0]
    rows[5][head.index("employees")] = str(int(rows[5][head.index("employees")] or 0) + 1)
    rows[9][head.index("registration_date")] = "2020-02-30"  # a bad cell: its row rejected
    rows.insert(12, [""] * len(head))  # an empty row: skipped
    write_rows(second / "firms.csv", rows)
    one = bulk.read_bulk(first)
    assert one.raw is not None
    stored = RawDigests(one.recipe, one.raw)
    for source, raw in ((first, None), (second, None), (second, stored)):
        whole = _batch(source, raw, None, monkeypatch)
        blocks = _batch(source, raw, 4096, monkeypatch)
        assert blocks[0].keys() == whole[0].keys()
        for t in whole[0]:
            assert blocks[0][t][0].equals(whole[0][t][0]) and blocks[0][t][1:] == whole[0][t][1:]
        assert blocks[1:3] == whole[1:3]
        assert blocks[3].equals(whole[3]) and blocks[4].equals(whole[4])
    assert len(stored.digests) == 40 and len(whole[4]) == 38  # (the changed and the rejected firm read)


def test_small_blocks_make_chunks(tmp_path: Path) -> None:
    source = write_tables(synth_register(40, 3), tmp_path / "one")
    plan = bulk.csv_plan(source / "firms.csv", None)
    assert plan is not None
    table = pcsv.read_csv(plan.path, **plan.options(False, 4096))
    assert table.column(0).num_chunks > 1 and isinstance(table.column(0), pa.ChunkedArray)
