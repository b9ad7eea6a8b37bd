"""Cells of a CSV register read in bulk (UTF-8, as Excel saves it): the texts NA, N/A, NULL, NaN and #N/A are
text as typed (Arrow's reader took them for empty cells: an English name 'NA' was stored as none, silently),
and a NUL character in a text cell is refused naming row, column and value on both databases (PostgreSQL
cannot store one: the import failed as huiqi's fault)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dbfixtures import Db, db, pg_db, pg_url, sqlite_db
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.firms.exporting import write_tables
from huiqi.firms.importing import ImportRefused
from huiqi.firms.synth import synth_register

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]  # fixtures


def _edited(tmp_path: Path, row: int, column: str, value: str) -> tuple[Path, str]:
    """A register of 6 firms exported as CSV with one firms cell set to ``value``; the folder, the firm."""
    folder = write_tables(synth_register(6, 2), tmp_path / "csv")
    path = folder / "firms.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, cells = rows[0], rows[row - 1]  # row: as the import counts them (the header is row 1)
    cells[header.index(column)] = value
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    return folder, cells[header.index("uscc")]


@pytest.mark.parametrize("text", ["NA", "N/A", "NULL", "null", "NaN", "#N/A", "-NaN", "1.#QNAN"])
def test_na_like_text_is_kept_as_typed(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    folder, code = _edited(tmp_path, 2, "name_en", text)
    register.import_register(Store.open(sqlite_db.url), source=folder, actor="t")
    firms = pq.read_table((tmp_path / "files" / "register").resolve() / "firms.parquet")
    names = dict(zip(firms["uscc"].to_pylist(), firms["name_en"].to_pylist(), strict=True))
    assert names[code] == text


def test_a_nul_in_a_text_cell_is_refused_and_nothing_is_stored(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    folder, _ = _edited(tmp_path, 4, "name_zh", "甲\x00乙")
    store = Store.open(db.url)
    with pytest.raises(ImportRefused) as refused:
        register.import_register(store, source=folder, actor="t")
    text = str(refused.value)
    assert "firms.csv row 4, column 'name_zh'" in text and "NUL" in text
    assert not (tmp_path / "files" / "register").exists()
    assert store.read(lambda s: __import__("huiqi.matching.snapshot", fromlist=["imports"]).imports(s)) == []
