"""Workbooks made to exhaust a reader are refused in a few seconds, naming the part or the cells: a stray
cell far from the table (calamine lays the span out as a grid: one cell at XFD1048576 aborted the process
asking for 512 GiB), a part that unpacks hundreds of times its packed size (a zip bomb; the shared strings
were parsed as one tree, gigabytes), and a merged range filled beyond the table (a million rows made)."""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from tests.hostile.register_files import firms_workbook, run_import

from huiqi.firms.importing import ImportError_, load_mapping, read_source
from huiqi.firms.sheets import SheetError, Workbook


def _rewrite(path: Path, part: str, edit: bytes | Callable[[str], str]) -> None:
    """The workbook with one part's XML changed by ``edit`` (text -> text), or replaced (bytes)."""
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    parts[part] = edit if isinstance(edit, bytes) else edit(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def _sheet_part(path: Path, sheet: str) -> str:
    with Workbook(path) as book:
        return book.sheets[sheet]


def test_a_stray_cell_at_the_last_cell_of_the_sheet_is_refused_by_the_command(tmp_path: Path) -> None:
    book = firms_workbook(tmp_path)
    wb = openpyxl.load_workbook(book)
    wb["firms"]["XFD1048576"] = "x"
    wb.save(book)
    started = time.monotonic()
    done = run_import(book, tmp_path / "reg")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "span A1:XFD1048576" in done.stderr and "the lowest is XFD1048576" in done.stderr
    assert "Traceback" not in done.stderr and "memory allocation" not in done.stderr
    assert time.monotonic() - started < 60
    assert not (tmp_path / "reg").exists()


def _with_rows_below(tmp_path: Path, column: str, text: str, last: int) -> Path:
    """The exported workbook with a cell in ``column`` on every row from 7 to ``last``."""
    book = firms_workbook(tmp_path)
    cell = '<row r="{i}"><c r="{column}{i}" t="inlineStr"><is><t>{text}</t></is></c></row>'
    rows = "".join(cell.format(i=i, column=column, text=text) for i in range(7, last + 1))
    _rewrite(book, _sheet_part(book, "firms"), lambda xml: xml.replace("</sheetData>", rows + "</sheetData>"))
    return book


def test_many_rows_with_a_cell_in_the_last_column_are_refused(tmp_path: Path) -> None:
    book = _with_rows_below(tmp_path, "XFD", "x", 4999)
    with pytest.raises(ImportError_, match=r"span A1:XFD4999 .*the rightmost XFD7\b"):
        read_source(book)


def test_a_full_table_and_blank_rows_below_it_are_read(tmp_path: Path) -> None:
    batch = read_source(_with_rows_below(tmp_path, "A", "", 20_000))
    assert not batch.problems and len(batch.rows["firms"]) == 5


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_a_zip_bomb_part_is_refused_before_it_is_unpacked(tmp_path: Path, part: str) -> None:
    book = firms_workbook(tmp_path)
    bomb = b'<?xml version="1.0"?><sst xmlns="x">' + b"<si><t>x</t></si>" * 1_200_000 + b"</sst>"
    _rewrite(book, part, bomb)
    started = time.monotonic()
    with pytest.raises(
        SheetError, match=rf"part {part} unpacks to 20,400,0\d\d bytes from [\d,]+ \(\d[\d,]* times"
    ):
        Workbook(book)
    with pytest.raises(ImportError_, match="not a workbook Excel saved"):
        read_source(book)
    assert time.monotonic() - started < 10


def test_shared_strings_read_as_a_stream_are_the_cells(tmp_path: Path) -> None:
    book = tmp_path / "strings.xlsx"
    openpyxl.Workbook().save(book)
    texts = [f"甲{i}" if i % 3 else f"<r><t>run {i}</t></r><r><t>&amp;{i}</t></r>" for i in range(3000)]
    sst = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    sst += "".join(f"<si>{t if t.startswith('<r>') else f'<t>{t}</t>'}</si>" for t in texts) + "</sst>"
    rows = "".join(f'<row r="{i + 1}"><c r="A{i + 1}" t="s"><v>{i}</v></c></row>' for i in range(3000))
    _rewrite(book, "xl/sharedStrings.xml", sst.encode())
    _rewrite(
        book,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(r"<sheetData\s*(/>|></sheetData>)", f"<sheetData>{rows}</sheetData>", xml),
    )
    with Workbook(book) as ours:
        read = [cells[0] for _, cells in ours.read().rows]
    assert read == [t if i % 3 else f"run {i}&{i}" for i, t in enumerate(texts)]


@pytest.mark.parametrize("ref", ["G2:G1048576", "G2:XFD3", "B3:B9"])
def test_a_merged_range_filled_beyond_the_table_is_refused(tmp_path: Path, ref: str) -> None:
    book = firms_workbook(tmp_path)
    merge = f'<mergeCells count="1"><mergeCell ref="{ref}"/></mergeCells>'
    _rewrite(
        book, _sheet_part(book, "firms"), lambda xml: xml.replace("</sheetData>", "</sheetData>" + merge)
    )
    mapping = tmp_path / "m.yaml"
    mapping.write_text("firms:\n  merged: fill\n", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ImportError_) as refused:
        read_source(book, load_mapping(mapping))
    assert f"cells {ref} are merged beyond the table (its last row is 6, its last column " in str(
        refused.value
    )
    assert refused.value.why == "merged_beyond"
    assert time.monotonic() - started < 10


def test_a_merged_range_within_the_table_is_filled(tmp_path: Path) -> None:
    book = firms_workbook(tmp_path)
    wb = openpyxl.load_workbook(book)
    sheet = wb["firms"]
    column = next(c.column_letter for c in sheet[1] if c.value == "district")
    sheet[f"{column}3"] = sheet[f"{column}2"].value
    sheet.merge_cells(f"{column}2:{column}6")
    wb.save(book)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("firms:\n  merged: fill\n", encoding="utf-8")
    batch = read_source(book, load_mapping(mapping))
    districts = {r.values["district"] for r in batch.rows["firms"]}
    assert len(districts) == 1 and not batch.problems
