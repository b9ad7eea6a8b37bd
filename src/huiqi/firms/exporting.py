"""Export of the register and of match results to CSV, xlsx and Parquet (by the target's extension).

A register (several tables) goes to a folder of ``<table>.csv`` / ``.parquet`` files, or to one workbook
with a sheet per table: the same shapes ``huiqi.firms.importing`` reads back. A single table (results)
goes to one file. Money stays exact: CSV writes the decimal text, xlsx writes the Decimal (the cell holds
the typed digits), Parquet keeps decimal128(18,2).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = (".csv", ".xlsx", ".parquet")


class ExportError(ValueError):
    pass


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    return value


def write_table(table: pa.Table, path: str | Path, *, sheet: str = "results") -> Path:
    """One table to ``path`` (.csv, .xlsx or .parquet)."""
    out = Path(path)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        pq.write_table(table, out, compression="zstd")
    elif suffix == ".csv":
        with out.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(table.column_names)
            for batch in table.to_batches(65_536):
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    w.writerow(["" if v is None else _cell(v) for v in row])
    elif suffix == ".xlsx":
        _write_workbook({sheet: table}, out)
    else:
        raise ExportError(f"{out}: unsupported format; expected one of {', '.join(FORMATS)}")
    return out


def _write_workbook(tables: dict[str, pa.Table], out: Path) -> None:
    import openpyxl

    limit = 1_048_575
    for name, t in tables.items():
        if t.num_rows > limit:
            raise ExportError(f"{out}: table {name} has {t.num_rows:,} rows; a sheet holds {limit:,}")
    book = openpyxl.Workbook(write_only=True)
    for name, table in tables.items():
        ws = book.create_sheet(name)
        ws.append(table.column_names)
        for batch in table.to_batches(65_536):
            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                ws.append(list(row))
    book.save(out)


def write_tables(tables: dict[str, pa.Table], path: str | Path) -> Path:
    """A register: ``path.xlsx`` (a sheet per table), or a folder of CSV files (``path`` without a suffix
    or ending in /csv), or a register directory of Parquet files (``--format parquet``: see the CLI)."""
    out = Path(path)
    if out.suffix.lower() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_workbook(tables, out)
        return out
    if out.suffix:
        raise ExportError(f"{out}: a register exports to a .xlsx workbook or to a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_table(table, out / f"{name}.csv")
    return out
