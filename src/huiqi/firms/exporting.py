"""Export of the register and of match results to CSV, xlsx and Parquet (by the target's extension).

A register (several tables) goes to a folder of ``<table>.csv`` / ``.parquet`` files, or to one workbook
with a sheet per table: the same shapes ``huiqi.firms.importing`` reads back. A single table (results)
goes to one file. Money stays exact: CSV writes the decimal text, xlsx writes the Decimal (the cell holds
the typed digits; an amount of more than the 15 significant digits Excel keeps is written as text, so
that Excel shows it whole), Parquet keeps decimal128(18,2).

Text is never a live formula (OWASP CSV injection): in a workbook every text cell is a text cell, those
that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return marked as such (Excel's quote
prefix); in a CSV file such a cell, and one beginning with an apostrophe, gets a leading apostrophe, which
``huiqi.firms.sheets`` removes on import. CSV files start with a byte-order mark, so that Excel on a Chinese
system reads them as UTF-8. Every export re-imports unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from huiqi.firms.csv_batches import BATCH_ROWS, supported, write_batches
from huiqi.firms.sheets import EXCEL_DIGITS, FORMULA_TRIGGERS

FORMATS = (".csv", ".xlsx", ".parquet")
#: the most characters an Excel cell holds; longer text would be cut when the workbook is opened
CELL_TEXT_LIMIT = 32_767
#: the most data rows a worksheet holds (1,048,576 rows, one of them the header)
SHEET_ROWS = 1_048_575
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile(r"(?=_x[0-9A-Fa-f]{4}_)")


class ExportError(ValueError):
    """An export refused; ``why`` and ``figures`` let a page word it in its own language."""

    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(message)
        self.message, self.why, self.figures = message, why, figures


def escape_csv_cell(text: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: a leading apostrophe before ``=``, ``+``, ``-``,
    ``@``, a tab, a carriage return or an apostrophe (``huiqi.firms.sheets.unescape_cell`` undoes it)."""
    return "'" + text if text.startswith((*FORMULA_TRIGGERS, "'")) else text


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else format(value, "f")
    if isinstance(value, str):
        return escape_csv_cell(value)
    return value


def _xlsx_text(value: str, where: str, out: Path) -> str:
    """Text as a workbook part holds it: a carriage return and what looks like Excel's own _xHHHH_ escape
    escaped (an XML reader would turn a bare CR into a line feed); refused when a cell cannot hold it."""
    bad = _XML_ILLEGAL.search(value)
    if bad:
        raise ExportError(
            f"{out}: {where} holds the control character U+{ord(bad.group()):04X}, which a workbook cannot "
            "hold; export to CSV or Parquet",
            why="control_character",
            file=str(out),
            where=where,
            character=f"U+{ord(bad.group()):04X}",
        )
    if len(value) > CELL_TEXT_LIMIT:
        raise ExportError(
            f"{out}: {where} has {len(value):,} characters; an Excel cell holds {CELL_TEXT_LIMIT:,}",
            why="cell_too_long",
            file=str(out),
            where=where,
            chars=len(value),
            limit=CELL_TEXT_LIMIT,
        )
    return _ESCAPE_LIKE.sub("_x005F", value).replace("\r", "_x000D_")


def write_table(table: pa.Table, path: str | Path, *, sheet: str = "results") -> Path:
    """One table to ``path`` (.csv, .xlsx or .parquet)."""
    out = Path(path)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        pq.write_table(table, out, compression="zstd")
    elif suffix == ".csv":
        write_csv(table.schema, table.to_batches(BATCH_ROWS), out)
    elif suffix == ".xlsx":
        _write_workbook({sheet: table}, out)
    else:
        raise ExportError(
            f"{out}: unsupported format; expected one of {', '.join(FORMATS)}",
            why="unsupported_format",
            file=str(out),
            formats=", ".join(FORMATS),
        )
    return out


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: Path) -> int:
    """One table's CSV file from its record batches as they come (never the whole table in memory):
    Arrow's kernels where every column's type allows (``csv_batches``), else the csv module; the rows."""
    with out.open("wb") as f:
        if supported(schema):
            return write_batches(batches, schema, f)
        return write_cells(schema, batches, f)


def write_cells(schema: pa.Schema, batches: Iterable[pa.RecordBatch], f: IO[bytes]) -> int:
    """The csv module's CSV, cell by cell: the reference ``csv_batches`` is tested against."""
    text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
    w = csv.writer(text)
    w.writerow(schema.names)
    rows = 0
    for batch in batches:
        for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
            w.writerow(["" if v is None else _cell(v) for v in row])
        rows += batch.num_rows
    text.flush()
    text.detach()
    return rows


def _csv_folder(out: Path) -> None:
    """Make the folder of a register's CSV files; a target with a suffix is refused (not a folder)."""
    if out.suffix:
        raise ExportError(
            f"{out}: a register exports to a .xlsx workbook or to a folder",
            why="register_target",
            file=str(out),
        )
    out.mkdir(parents=True, exist_ok=True)


def write_csv_files(files: Mapping[str, Path], out: Path) -> Path:
    """A register's Parquet table files to a folder of CSV files, a table at a time and a record batch at
    a time: the memory of one batch, whatever the register's size."""
    _csv_folder(out)
    for name, file in files.items():
        source = pq.ParquetFile(file, pre_buffer=False)  # pre-buffered row groups stay until the end
        schema = source.schema_arrow.remove_metadata()
        batches = (b.replace_schema_metadata(None) for b in source.iter_batches(batch_size=BATCH_ROWS))
        write_csv(schema, batches, out / f"{name}.csv")
    return out


def sheet_rows(name: str, rows: int, out: Path) -> None:
    """Refuse a table of more rows than a worksheet holds (Excel's 1,048,576 with the header)."""
    if rows > SHEET_ROWS:
        raise ExportError(
            f"{out}: table {name} has {rows:,} rows; a sheet holds {SHEET_ROWS:,}",
            why="too_many_rows",
            file=str(out),
            table=name,
            rows=rows,
            limit=SHEET_ROWS,
        )


def _write_workbook(tables: dict[str, pa.Table], out: Path) -> None:
    import openpyxl

    for name, t in tables.items():
        sheet_rows(name, t.num_rows, out)
    book = openpyxl.Workbook(write_only=True)
    try:
        _fill_workbook(book, tables, out)
    except BaseException:
        for ws in book.worksheets:
            ws.close()  # ends the sheet's temporary file
        raise
    book.save(out)


def _fill_workbook(book: Any, tables: dict[str, pa.Table], out: Path) -> None:
    for name, table in tables.items():
        ws = book.create_sheet(name)
        ws.append([_workbook_cell(ws, h, f"{name} header {h!r}", out) for h in table.column_names])
        number = 1
        for batch in table.to_batches(65_536):
            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                number += 1
                ws.append(
                    [
                        _workbook_cell(ws, v, f"{name} row {number} column {h!r}", out)
                        for h, v in zip(table.column_names, row, strict=True)
                    ]
                )


def _workbook_cell(ws: Any, value: Any, where: str, out: Path) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, Decimal) and len(value.as_tuple().digits) > EXCEL_DIGITS:
        value = _cell(value)  # text: Excel would show a number of more digits rounded
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(ws, value=_xlsx_text(value, where, out))
    cell.data_type = "s"  # text, even when it begins with "=": never a formula
    if value.startswith(FORMULA_TRIGGERS):
        cell.quotePrefix = True
    return cell


def write_tables(tables: dict[str, pa.Table], path: str | Path) -> Path:
    """A register: ``path.xlsx`` (a sheet per table), or a folder of CSV files (``path`` without a suffix
    or ending in /csv), or a register directory of Parquet files (``--format parquet``: see the CLI)."""
    out = Path(path)
    if out.suffix.lower() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_workbook(tables, out)
        return out
    _csv_folder(out)
    for name, table in tables.items():
        write_csv(table.schema, table.to_batches(BATCH_ROWS), out / f"{name}.csv")
    return out
