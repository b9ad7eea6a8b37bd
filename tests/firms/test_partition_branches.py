"""The ranged import's less travelled branches (huiqi.firms.partition), each against the whole import: a
register stored before the tables (records in the database, handed over as tables in memory without
digests), a source the split gives up on (a row of spaces, a record of too many cells, bytes not in the
encoding past the part the encoding is told from: the whole import then reads and judges it), and the
quoted line break that makes the quick parse fail and the careful one take over, blocks already staged."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from csv_rows import read_rows, write_rows
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.db.migrate import upgrade
from huiqi.firms import partition
from huiqi.firms.bulk import CsvPlan, csv_plan
from huiqi.firms.digests import DIGESTS
from huiqi.firms.exporting import write_tables
from huiqi.firms.importing import ImportError_, ImportRefused, load_mapping, read_source
from huiqi.firms.synth import synth_register
from huiqi.firms.uscc import ALPHABET
from huiqi.matching import store as records
from huiqi.matching.models import RegisterChange

#: firms a range in the ranged runs
SMALL = 6

Source = Callable[[Path], Path]


def _import(root: Path, sources: list[Path], before: Path | None) -> list[Any]:
    """Each source imported in turn into a new database (``before``: first stored as records, the way
    huiqi stored a register before its tables): the counts or the refusal, then what is stored."""
    url = f"sqlite:///{root / 'huiqi.db'}"
    upgrade(url)
    store = Store.open(url)
    if before is not None:
        store.write(lambda s: records.import_into_db(s, read_source(before), actor="t"))
    seen: list[Any] = []
    steps: list[str] = []
    for source in sources:
        try:
            view = register.import_register(
                store, source=source, actor="t", progress=lambda what, done, total: steps.append(what)
            )
            seen.append((view.added, view.changed, view.unchanged, view.changes))
        except (ImportError_, ImportRefused) as exc:
            seen.append(str(exc))
        kept = root / "huiqi.match-results"
        assert not [p.name for p in kept.glob(".import-parts-*")]  # the staged ranges are gone
    tables = register.nonempty_register(store)
    seen.append({name: t.to_pylist() for name, t in tables.items()})
    seen.append(pq.read_table(root / "huiqi.match-results" / "register" / DIGESTS).to_pylist())
    seen.append(
        store.read(
            lambda s: sorted((c.uscc, c.field, c.old, c.new) for c in s.scalars(select(RegisterChange)))
        )
    )
    store.engine.dispose()
    seen.append(any(w.startswith("partition 2/") for w in steps))
    return seen


def _whole_and_ranged(
    sources: list[Path], before: Path | None = None, size: int = SMALL
) -> tuple[list[Any], list[Any]]:
    """The imports whole, then in ranges of ``size`` firms (the settings forced), each in a new database."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.delenv("HUIQI_MATCH_RESULTS_DIR", raising=False)
        mp.setenv(partition.WHOLE_FIRMS_ENV, "0")
        for limit in (0, size):
            mp.setenv(partition.PARTITION_FIRMS_ENV, str(limit))
            root = Path(tmp) / f"db{limit}"
            root.mkdir()
            out.append(_import(root, sources, before))
    return out[0], out[1]


def _export(firms: int, seed: int, out: Path) -> Path:
    return write_tables(synth_register(firms, seed), out)


def _edit(src: Path, table: str, edit: Callable[[list[list[str]]], None]) -> Path:
    rows = read_rows(src / f"{table}.csv")
    edit(rows)
    write_rows(src / f"{table}.csv", rows)
    return src


def test_a_register_stored_as_records_is_taken_over_a_range_at_a_time(tmp_path: Path) -> None:
    old = _export(24, 11, tmp_path / "old")
    new = _export(30, 12, tmp_path / "new")  # other firms: all added, the old ones kept

    def more_staff(rows: list[list[str]]) -> None:
        at = rows[0].index("employees")
        rows[5][at] = str(int(rows[5][at] or 0) + 5)

    again = _edit(_export(24, 11, tmp_path / "again"), "firms", more_staff)
    whole, ranged = _whole_and_ranged([new, again], before=old)
    assert whole[-1] is False and ranged[-1] is True  # the ranged run went a range at a time
    assert whole[0][0] == 30 and whole[1][:3] == (0, 1, 23)  # the stored ones are known
    assert ranged[:-1] == whole[:-1]


def _spaces(rows: list[list[str]]) -> None:
    rows.insert(len(rows) // 2, [" "] * len(rows[0]))


def _a_cell_too_many(rows: list[list[str]]) -> None:
    rows[len(rows) - 3].append("x")


@pytest.mark.parametrize(("table", "edit"), [("firms", _spaces), ("offices", _a_cell_too_many)])
def test_a_source_the_split_gives_up_is_imported_whole(
    tmp_path: Path, table: str, edit: Callable[[list[list[str]]], None]
) -> None:
    good = _export(30, 13, tmp_path / "good")
    bad = _edit(_export(30, 14, tmp_path / "bad"), table, edit)
    split = partition.split_source(bad, load_mapping(None), tmp_path / "parts", limit=(SMALL, 0))
    assert split is None
    assert partition.split_source(good, load_mapping(None), tmp_path / "ok", limit=(SMALL, 0))
    whole, ranged = _whole_and_ranged([good, bad])
    assert ranged[-1] is True  # the good source went a range at a time
    assert ranged[:-1] == whole[:-1]


def test_bytes_not_in_the_encoding_past_its_sample_are_the_whole_imports_to_name(tmp_path: Path) -> None:
    from huiqi.firms.sheets import SAMPLE

    src = _export(3000, 15, tmp_path / "gbk")
    firms = src / "firms.csv"
    text = firms.read_text(encoding="utf-8-sig").encode("gbk")
    assert len(text) > SAMPLE + 4096  # the bad bytes are past what the encoding is told from
    end = text.rindex(b"\n", 0, len(text) - 1)
    firms.write_bytes(text[: end - 2] + b"\xff\xff" + text[end:])
    parts = tmp_path / "parts"
    assert partition.split_source(src, load_mapping(None), parts, limit=(1000, 0)) is None
    whole, ranged = _whole_and_ranged([_export(20, 17, tmp_path / "good"), src], size=10)
    assert "gb18030" in whole[1] and ranged[-1] is True
    assert ranged[:-1] == whole[:-1]


def _quick_parse_fails(plan: CsvPlan, block: int) -> bool:
    """Whether Arrow's quick parse (no quoted line breaks) of a file gives up at this block size."""
    try:
        with pcsv.open_csv(plan.path, **plan.options(False, block)) as quick:
            for _ in quick:
                pass
    except pa.ArrowInvalid:
        return True
    return False


def test_quoted_line_breaks_across_blocks_retry_the_careful_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rows: list[list[str]]) -> None:
        at = rows[0].index("name_zh")
        for row in rows[1:]:
            row[at] = row[at][:2] + "\n" + row[at][2:]

    src = _edit(_export(40, 16, tmp_path / "src"), "firms", broken)
    plan = csv_plan(src / "firms.csv", None)
    assert plan is not None
    # blocks of a size where one is cut inside a quoted line break: the quick parse fails (at 16 MiB a
    # block, a file this small is one block and read by it)
    block = next(b for b in range(1024, 8192, 64) if _quick_parse_fails(plan, b))
    monkeypatch.setattr(partition, "BLOCK", block)
    parts = partition.split_source(src, load_mapping(None), tmp_path / "parts", limit=(SMALL, 0))
    assert parts is not None and len(parts) > 3
    staged = [parts.cells(i, "firms").columns["name_zh"] for i in range(len(parts))]
    names = [n for column in staged for n in pa.chunked_array(column, pa.string()).to_pylist()]
    assert len(names) == 40 and all("\n" in n for n in names)
    whole, ranged = _whole_and_ranged([src])
    assert ranged[-1] is True
    assert ranged[:-1] == whole[:-1]
    assert all("\n" in f["name_zh"] for f in whole[1]["firms"])


_CODE = st.text(ALPHABET, min_size=18, max_size=18)


@settings(max_examples=60, deadline=None)
@given(
    bounds=st.lists(_CODE, min_size=1, max_size=6, unique=True).map(sorted),
    odd=st.lists(st.text(max_size=20), max_size=3),
    at=st.integers(0, 3),
    data=st.data(),
)
def test_a_rows_range_is_the_bounds_at_or_below_its_code(
    bounds: list[str], odd: list[str], at: int, data: st.DataObject
) -> None:
    """The sorted search over Arrow's buffer (18-byte codes, a slice of a larger array) and over Python
    strings (text of other lengths) both give each row the bounds at or below its code (a code equal to a
    bound is in the bound's range), a null range 0."""
    codes = data.draw(st.lists(st.one_of(st.none(), _CODE, st.sampled_from(bounds)), max_size=40))
    for rows in (codes, [*codes, *odd]):
        column = pa.array(["X" * 18] * at + rows, pa.string())[at:]
        expected = [0 if c is None else sum(c >= b for b in bounds) for c in rows]
        assert partition.code_ranges(column, bounds).tolist() == expected
    assert partition.code_ranges(pa.array(codes, pa.string()), []).tolist() == [0] * len(codes)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=60))
def test_a_blocks_rows_go_to_their_ranges_in_file_order(where: list[int]) -> None:
    block = pa.table({"row": list(range(len(where))), "text": [f"r{i}" for i in range(len(where))]})
    ranges = np.array(where, dtype=np.intp)
    found = {i: rows.to_pylist() for i, rows in partition.by_range(block, ranges)}
    assert found == {i: block.filter(pa.array(ranges == i)).to_pylist() for i in set(where)}
