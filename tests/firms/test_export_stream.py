"""The streaming CSV export (``huiqi.firms.csv_batches``) writes the very bytes of the csv module's
cell-by-cell export (``exporting.write_cells``): on the synthetic register, on hostile text (formula
triggers, quotes, commas, newlines, tabs, CJK, full-width, apostrophes, nulls, huge amounts) and on any
text (hypothesis). ``huiqi register export`` streams a register directory's files to CSV and Parquet and
refuses a workbook sheet over Excel's rows from the files' footers."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbfixtures import Db, sqlite_db
from huiqi.app.register import export_register
from huiqi.app.store import Store
from huiqi.firms.csv_batches import BATCH_ROWS, supported, write_batches
from huiqi.firms.exporting import ExportError, write_cells
from huiqi.firms.register import read_register, write_register
from huiqi.firms.synth import synth_register

__all__ = ["sqlite_db"]  # the fixture

HOSTILE = [
    '=HYPERLINK("http://example.com/x","点击查看")',
    "+86 21 1234 5678",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "'apostrophe",
    "''",
    "'",
    "=",
    'say "hi", then go',
    '"',
    "a,b",
    "甲公司\n第二行",
    "line\r\nbreak",
    "tab\tinside",
    "上海（全角）有限公司，ＡＢＣ１２３",
    "＝全角等号",
    " leading space",
    "",
    "\x00nul",
    "emoji 🏭",
    "\\back\\slash",
]


def _reference(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> bytes:
    out = io.BytesIO()
    write_cells(schema, batches, out)
    return out.getvalue()


def _fast(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> bytes:
    assert supported(schema)
    out = io.BytesIO()
    write_batches(batches, schema, out)
    return out.getvalue()


def _same(table: pa.Table, rows: int = BATCH_ROWS) -> bytes:
    expected = _reference(table.schema, table.to_batches(rows))
    assert _fast(table.schema, table.to_batches(rows)) == expected
    return expected


@pytest.mark.parametrize(
    "name", ["firms", "offices", "designations", "incentives", "contracts", "credit_events"]
)
def test_synthetic_register_is_byte_identical(name: str) -> None:
    table = synth_register(400, 7)[name]
    written = _same(table, rows=97)  # several batches, the last a short one
    assert written.startswith(b"\xef\xbb\xbf") and written.count(b"\r\n") >= table.num_rows + 1


def test_hostile_text_and_extreme_values_are_byte_identical() -> None:
    n = len(HOSTILE) + 1
    big = Decimal("9999999999999999.99")
    table = pa.table(
        {
            'name, "quoted"': pa.array([*HOSTILE, None], pa.string()),
            "wide": pa.array([None, *HOSTILE], pa.large_string()),
            "amount": pa.array(
                [big, -big, Decimal("0.00"), Decimal("-0.05"), Decimal("1234.50"), None] * 4 + [None],
                pa.decimal128(18, 2),
            )[:n],
            "count": pa.array([2**63 - 1, -(2**63), 0, None] * 6 + [1], pa.int64())[:n],
            "small": pa.array(list(range(n)), pa.int8()),
            "flag": pa.array([True, False, None] * 8 + [True], pa.bool_())[:n],
            "day": pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None] * 8 + [dt.date(2024, 2, 29)])[:n],
        }
    )
    written = _same(table, rows=5)
    assert b"'=HYPERLINK" in written and b"-9999999999999999.99" in written
    assert b"\"''''\"" not in written  # an apostrophe escaped once, not quoted


def test_a_type_the_kernels_do_not_render_is_left_to_the_csv_module(tmp_path: Path) -> None:
    from huiqi.firms.exporting import write_table

    table = pa.table({"at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)]), "x": pa.array([1.5])})
    assert not supported(table.schema)
    write_table(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == _reference(table.schema, table.to_batches())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=30),
    st.lists(
        st.one_of(st.none(), st.text(alphabet="=+-@'\t\r\n\",ab 甲", max_size=6)), min_size=1, max_size=30
    ),
)
def test_any_text_is_byte_identical(first: list[str | None], second: list[str | None]) -> None:
    n = min(len(first), len(second))
    _same(pa.table({"a": pa.array(first[:n], pa.string()), "b": pa.array(second[:n], pa.string())}), rows=7)


def _store(db: Db) -> Store:
    return Store(engine=db.engine, factory=db.factory, url=db.url)


def _register(tmp_path: Path, firms: int = 300) -> Path:
    return write_register(synth_register(firms, 11), tmp_path / "reg")


def test_export_of_a_register_directory_streams_the_old_bytes(tmp_path: Path, sqlite_db: Db) -> None:
    root = _register(tmp_path)
    store = _store(sqlite_db)
    done = export_register(store, out=tmp_path / "csv", register=str(root))
    assert done.firms == 300
    for name, table in read_register(root).items():
        assert (tmp_path / "csv" / f"{name}.csv").read_bytes() == _reference(table.schema, table.to_batches())


def test_parquet_export_of_a_register_directory_is_the_same_register(tmp_path: Path, sqlite_db: Db) -> None:
    root = _register(tmp_path, firms=200)
    export_register(_store(sqlite_db), out=tmp_path / "copy", register=str(root), parquet=True)
    before, after = read_register(root), read_register(tmp_path / "copy")
    for name, table in before.items():
        assert after[name].equals(table), name
        assert all(
            pq.ParquetFile(tmp_path / "copy" / f"{name}.parquet").metadata.row_group(i).num_rows
            for i in range(pq.ParquetFile(tmp_path / "copy" / f"{name}.parquet").num_row_groups)
        ), f"{name}: an empty row group"


def test_a_workbook_sheet_over_excels_rows_is_refused(
    tmp_path: Path, sqlite_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huiqi.firms.exporting as exporting

    root = _register(tmp_path, firms=50)
    monkeypatch.setattr(exporting, "SHEET_ROWS", 40)
    with pytest.raises(ExportError) as refused:
        export_register(_store(sqlite_db), out=tmp_path / "r.xlsx", register=str(root))
    assert refused.value.why == "too_many_rows" and refused.value.figures["rows"] == 50
    assert not (tmp_path / "r.xlsx").exists()
