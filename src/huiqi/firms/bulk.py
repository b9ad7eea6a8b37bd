"""Register import in bulk: a source read, checked and merged column by column (Arrow), never row by row.

``huiqi.firms.importing`` says what an import means (sources, the mapping, values, refusals) and does it
one row at a time; this module does the same to millions of rows:

- a CSV file in UTF-8 or GB18030/GBK is parsed by Arrow's reader into columns of text; a workbook by
  calamine (Rust), its numbers as Excel shows them (the shortest text of the stored double, at most 15
  digits).
  Any other file, or one Arrow's reader cannot take as a plain grid (other encodings, ragged rows,
  blank-looking rows, empty or repeated headers), is read by ``importing``'s readers, which refuse what
  cannot be read faithfully, in the words they always used;
- a column is converted vectorised where its cells have the plain forms exports write (``1234.50``,
  ``2024-03-09``, ``True``, ``12``, text without edge spaces); every other cell goes through
  ``importing.convert``, so a value is read, and a bad one refused, exactly as the row-by-row import does;
- credit codes are checked vectorised (alphabet and check character); a doubtful one by ``validate_uscc``;
- the merge with the stored register runs on whole columns; which firms changed is found by their digests
  (``huiqi.firms.digests``: the new tables' against those stored with the register), and only those
  firms are compared field by field for the history; the profile's rules run on the columns of the new
  and changed firms, and a firm they doubt is checked by the profile model itself, which names the
  problems (and has the last word).

The outcome is the register's new tables and the change history as a table, ready to be written in bulk.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huiqi.firms.digests import firm_digests, sql_ident
from huiqi.firms.importing import (
    TABLE_NAMES,
    BadValue,
    ColumnRule,
    ImportError_,
    ImportRefused,
    ParsedRow,
    RowProblem,
    TableMapping,
    convert,
    encode,
    grid,
    header_rules,
    layout_type,
    profile_problems,
    read_sheet,
    records_from_tables,
    shown,
    table_sources,
)
from huiqi.firms.sheets import SheetError, check_kind, excel_number, unescape_cell
from huiqi.firms.table import CHILD_TABLES, MONEY, YEAR_MAPS, child_schema, firm_schema
from huiqi.firms.textual import RawDigests
from huiqi.firms.uscc import ALPHABET, USCC_PATTERN, UsccError, fixed_codes, validate_uscc
from huiqi.money import MAX_MAGNITUDE

#: whitespace as Python's str.strip() knows it (a cell with it at an edge is converted by importing)
_WS = r"\s\x{0b}\x{1c}-\x{1f}\x{85}\p{Z}"
_BLANKISH = rf"^[{_WS}]*$"
_PLAIN_INT = r"^-?[0-9]{1,15}$"
_PLAIN_MONEY = r"^-?[0-9]{1,15}(\.[0-9]{1,2})?$"
_TRUE = ["True", "true", "TRUE", "1", "是"]
_FALSE = ["False", "false", "FALSE", "0", "否"]
_USCC = USCC_PATTERN
_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int16)
_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _ch in enumerate(ALPHABET):
    _VALUE[ord(_ch)] = _i
_VALUE8 = _VALUE.astype(np.int8)  # a byte's place in the alphabet (-1: none), a byte a cell
Progress = Callable[[str], None]
_ARROW = (pa.Array, pa.ChunkedArray)  # a column of cells held by Arrow (a CSV file's: as read, in blocks)


@dataclass
class Cells:
    """A table file's cells under its header: each column Arrow text (CSV; in the blocks Arrow read until
    converted) or Python values (others)."""

    label: str
    header: list[str]
    columns: dict[str, pa.Array | pa.ChunkedArray | list[Any]]
    numbers: np.ndarray  # the spreadsheet row number of each row
    csv: bool = False  # a CSV file's cells: an apostrophe before a formula character is an escape
    delimiter: str = ""  # of a CSV file
    workbook: bool = False  # calamine's cells: numbers are doubles, date cells dates

    def raw(self, i: int) -> dict[str, Any]:
        """Row ``i`` as the row-by-row import holds it (the rejected file shows it)."""
        out = {}
        for h, col in self.columns.items():
            if i < len(col):  # (a column let go once converted is empty: nothing to show)
                out[h] = self.cell(col[i].as_py() if isinstance(col, _ARROW) else col[i])
        return out

    def cell(self, v: Any) -> Any:
        """A cell's value as the row-by-row reader gives it."""
        if v is None:
            return "" if self.csv else None
        if self.csv and isinstance(v, str) and v[:1] == "'":
            return unescape_cell(v)
        if self.workbook and isinstance(v, float):  # a number, as Excel shows it
            return excel_number(repr(v))
        if self.workbook and isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            return dt.datetime.combine(v, dt.time())  # a date cell, as the cell-by-cell reader gives it
        return v


@dataclass
class Part:
    """One table of an import: its good rows as layout columns, and where each came from."""

    table: str
    cells: Cells
    data: pa.Table  # uscc and the columns the source provides, layout types
    index: np.ndarray  # the row of ``cells`` each row of ``data`` is


@dataclass
class BulkBatch:
    """What a source holds, checked, in columns: the good rows per table, the problems, rejected rows."""

    source: str
    parts: dict[str, Part] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    rejected: list[tuple[ParsedRow, list[RowProblem]]] = field(default_factory=list)
    firm_columns: set[str] = field(default_factory=set)
    #: the firms the source gives exactly as the stored register's raw digests say they were given: their
    #: rows are not read (converted, checked, compared); they are unchanged
    as_stored: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    #: this import's raw digests (uscc, raw) and their recipe (``huiqi.firms.textual``); None when not
    #: made (a source not of CSV files read as text)
    raw: pa.Table | None = None
    recipe: str = ""
    #: per table, the row numbers and firms of the rows read (those not taken as stored)
    rows_read: dict[str, tuple[np.ndarray, pa.Array]] = field(default_factory=dict)


@dataclass
class BulkMerge:
    """The register after an import: its tables, the change history rows, and the counts."""

    tables: dict[str, pa.Table]  # each sorted by credit code, as the register stores them
    changes: pa.Table  # uscc, field, old, new
    added: int
    changed: int
    unchanged: int
    digests: pa.Table  # uscc, digest: ``firm_digests`` of ``tables``, sorted by credit code
    checked: pa.Array  # the credit codes of the new and the changed firms (the others are as stored)
    #: spliced (``merge_bulk``'s ``splice``): ``tables`` holds the rows of the firms ``dropped`` only;
    #: the register is ``base`` (its files) without their rows, with ``tables``' (``firms.splice``)
    base: Stored | None = None
    dropped: pa.Array | None = None


# -- reading --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvPlan:
    """How Arrow's reader takes a CSV table file: its encoding, delimiter and plain header (the first
    record); the rows after it are read whole (``_fast_csv``) or a block at a time (``firms.partition``)."""

    path: Path
    encoding: str  # Arrow's name: utf8 or gb18030
    delimiter: str
    header: list[str]

    def options(self, newlines: bool, block_size: int = 1 << 24) -> dict[str, Any]:
        """Arrow's reading options: every column text, empty cells null, after the header record;
        ``newlines``: quoted line breaks in values (the careful parse)."""
        import pyarrow.csv as pcsv

        names = [f"c{i}" for i in range(len(self.header))]
        return {
            "read_options": pcsv.ReadOptions(
                skip_rows=1, column_names=names, block_size=block_size, encoding=self.encoding
            ),
            "parse_options": pcsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=newlines),
            "convert_options": pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=[""],  # only an empty cell: NA, N/A, NULL, NaN, #N/A are text as typed
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        }

    def cells(self, columns: list[pa.Array | pa.ChunkedArray], numbers: np.ndarray) -> Cells:
        """The file's cells (or a part of its rows) under its header."""
        cells = dict(zip(self.header, columns, strict=True))
        return Cells(self.path.name, self.header, cells, numbers, csv=True, delimiter=self.delimiter)


def csv_plan(path: Path, spec: TableMapping | None) -> CsvPlan | None:
    """How Arrow's reader takes a CSV file in UTF-8 or GB18030/GBK (as Excel saves it on a Chinese
    Windows) whose first record is a plain header; None when the row-by-row reader must read it (it
    refuses or reads what this one would not take)."""
    import csv
    import io

    from huiqi.firms.io import detect_encoding
    from huiqi.firms.sheets import SAMPLE

    if spec is not None and (spec.header_row is not None or spec.encoding not in (None, "utf-8", "utf8")):
        return None
    try:
        with path.open("rb") as f:
            head = f.read(SAMPLE)
    except OSError:
        return None
    check_kind(path, head)
    found = detect_encoding(head, complete=len(head) < SAMPLE)  # told from the start, as read_csv does
    if found not in ("utf-8", "utf-8-sig", "gb18030"):
        return None
    encoding = "gb18030" if found == "gb18030" else "utf8"
    text = head.decode(found, errors="replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = spec.delimiter if spec is not None and spec.delimiter else None
    if delimiter is None:
        delimiter = "\t" if "\t" in first and "," not in first else ","
    if first.count('"') % 2 or "'" in first or "\r" in first.rstrip("\r"):
        return None  # a header over two lines (a quoted line break), or escaped: the row-by-row reader's
    try:
        header = next(csv.reader(io.StringIO(first.rstrip("\r")), delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None
    if not header or any(h != h.strip(" \u3000\xa0\t\r\n") or not h for h in header):
        return None
    if len(set(header)) != len(header):
        return None
    return CsvPlan(path, encoding, delimiter, header)


def csv_rows(
    columns: list[pa.Array | pa.ChunkedArray], first: int
) -> tuple[list[pa.Array | pa.ChunkedArray], np.ndarray] | None:
    """Rows of a CSV file read by Arrow (``columns``, the first being record ``first`` of the file) as
    the import takes them, with their row numbers: a row whose cells are all empty is skipped; None when
    a row is of spaces only (the row-by-row reader judges it)."""
    n = len(columns[0]) if columns else 0
    maybe = _may_be_blank(columns[0])
    if maybe.any():  # the pattern asked of those cells only
        at = np.flatnonzero(maybe)
        found = pc.match_substring_regex(pc.fill_null(columns[0].take(pa.array(at)), ""), _BLANKISH)
        maybe[at] = _np(found)
    keep = np.ones(n, dtype=bool)
    if maybe.any():
        rows = pa.array(np.flatnonzero(maybe))
        empty = np.ones(len(rows), dtype=bool)
        blankish = np.ones(len(rows), dtype=bool)
        for col in columns:
            part = col.take(rows)
            empty &= pc.is_null(part).to_numpy(zero_copy_only=False)
            blankish &= _np(pc.match_substring_regex(part, _BLANKISH))
        if (blankish & ~empty).any():
            return None
        keep[np.flatnonzero(maybe)[empty]] = False
    numbers = np.arange(first, n + first, dtype=np.int64)
    if not keep.all():
        mask = pa.array(keep)
        columns = [c.filter(mask) for c in columns]
        numbers = numbers[keep]
    return columns, numbers


def _may_be_blank(col: pa.Array) -> np.ndarray:
    """Which cells of a text column may be empty or of spaces only (``_BLANKISH``): those null, empty,
    or whose first byte is a control character, a space or starts a non-ASCII character; found on
    Arrow's buffers (the pattern is asked of these only, not of every cell of a file)."""
    if isinstance(col, pa.ChunkedArray):
        return np.concatenate([_may_be_blank(c) for c in col.chunks] or [np.zeros(0, dtype=bool)])
    n = len(col)
    if col.type != pa.string() or not n:
        return np.ones(n, dtype=bool)
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32, count=n + 1, offset=col.offset * 4)
    data = col.buffers()[2]
    out: np.ndarray = offsets[1:] == offsets[:-1]
    if data is not None and not out.all():
        first = np.frombuffer(data, dtype=np.uint8)[offsets[:-1][~out]]
        out[~out] = (first <= 0x20) | (first >= 0x80)
    if col.null_count:
        out |= np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)
    return out


def _fast_csv(path: Path, spec: TableMapping | None) -> Cells | None:
    """A CSV file ``csv_plan`` takes, read whole as Arrow text columns; None when the row-by-row reader
    must read it."""
    import pyarrow.csv as pcsv

    plan = csv_plan(path, spec)
    if plan is None:
        return None
    table = None
    for newlines in (False, True):  # a quoted line break fails the quick parse: then the careful one
        try:
            table = pcsv.read_csv(path, **plan.options(newlines))
            break
        except UnicodeDecodeError:
            return None  # bytes not in the encoding further on: the row-by-row reader names the record
        except (pa.ArrowInvalid, OSError):
            continue
    if table is None:
        return None
    # the columns as Arrow read them (in blocks): made contiguous by _convert, after the rows of the
    # firms given as stored are let go (not a copy of all of a file's text)
    columns = table.columns
    del table
    rows = csv_rows(columns, 2)
    return None if rows is None else plan.cells(*rows)


_FORMULA_OR_ERROR = re.compile(rb"<(?:[A-Za-z]+:)?f[ >/]|\bt=\"e\"")


def _has_formula_or_error(path: Path, sheet_name: str) -> bool | None:
    """Whether a workbook's sheet holds a formula or an error cell (their reading is the cell-by-cell
    reader's: a formula without its value is refused, not read as empty); None when it cannot tell."""
    import zipfile

    from huiqi.firms.sheets import Workbook

    try:
        with Workbook(path) as book:
            part = book.sheets.get(sheet_name)
        if part is None:
            return None
        with zipfile.ZipFile(path) as zf, zf.open(part) as f:
            tail = b""
            while chunk := f.read(1 << 24):
                if _FORMULA_OR_ERROR.search(tail + chunk):
                    return True
                tail = chunk[-16:]
    except (OSError, KeyError, zipfile.BadZipFile, SheetError):
        return None
    return False


def _fast_xlsx(path: Path, sheet_name: str | None, spec: TableMapping | None) -> Cells | None:
    """A workbook's sheet read by calamine (Rust) into columns; None when the cell-by-cell reader must
    read it: merged cells, formulas or error cells, a header not on row 1, empty or repeated headers."""
    import python_calamine

    if spec is not None and spec.header_row is not None:
        return None
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        name = sheet_name if sheet_name is not None else book.sheet_names[0]
        sheet = book.get_sheet_by_name(name)
        if sheet.merged_cell_ranges or sheet.start not in (None, (0, 0)):
            return None
        if _has_formula_or_error(path, name) is not False:
            return None
        rows = sheet.iter_rows()
        first = next(rows, None)
        if first is None or not all(
            isinstance(h, str) and h and h == h.strip(" \u3000\xa0\t\r\n") for h in first
        ):
            return None
        header = [str(h) for h in first]
        if len(set(header)) != len(header):
            return None
        read = _workbook_columns(rows, len(header))
    except Exception:  # calamine's errors: the cell-by-cell reader names what is wrong
        return None
    if read is None:
        return None
    columns, n = read
    empty = np.ones(n, dtype=bool)
    for col in columns:
        if isinstance(col, list):
            empty &= np.array([v is None for v in col], dtype=bool)
            spaces = any(isinstance(v, str) and not v.strip() for v in col)
        else:
            empty &= np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)
            found = (
                pc.fill_null(pc.match_substring_regex(col, _BLANKISH), False)
                if col.type == pa.string()
                else None
            )
            spaces = found is not None and bool(pc.any(found).as_py())
        if spaces:
            return None  # cells of spaces only: the cell-by-cell reader judges their rows
    numbers = np.arange(2, n + 2, dtype=np.int64)
    if empty.any():
        keep = ~empty
        columns = [
            c.filter(pa.array(keep))
            if isinstance(c, pa.Array)
            else [v for v, k in zip(c, keep, strict=True) if k]
            for c in columns
        ]
        numbers = numbers[keep]
    label = f"{path.name}[{name}]"
    return Cells(label, header, dict(zip(header, columns, strict=True)), numbers, workbook=True)


def _workbook_columns(
    rows: Any, width: int, block: int = 1 << 16
) -> tuple[list[pa.Array | list[Any]], int] | None:
    """A sheet's rows (calamine's iterator) as columns, a block of rows at a time (never every cell as a
    Python object at once): Arrow arrays, or a Python list for a column of mixed kinds (numbers and text),
    converted cell by cell. None when a row is not as wide as the header."""
    from itertools import islice

    chunks: list[list[pa.Array]] = [[] for _ in range(width)]
    mixed: dict[int, list[Any]] = {}
    n = 0
    while batch := list(islice(rows, block)):
        if any(len(r) != width for r in batch):
            return None
        n += len(batch)
        for j, values in enumerate(zip(*batch, strict=True)):
            cells = [None if v == "" else v for v in values]
            if j in mixed:
                mixed[j] += cells
                continue
            try:
                chunks[j].append(pa.array(cells))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                mixed[j] = [v for c in chunks[j] for v in c.to_pylist()] + cells
    columns: list[pa.Array | list[Any]] = []
    for j in range(width):
        if j in mixed:
            columns.append(mixed[j])
            continue
        kinds = {c.type for c in chunks[j]} - {pa.null()}
        if len(kinds) > 1:
            columns.append([v for c in chunks[j] for v in c.to_pylist()])
            continue
        kind = kinds.pop() if kinds else pa.string()
        parts = [c.cast(kind) for c in chunks[j]]
        columns.append(pa.concat_arrays(parts) if parts else pa.array([], kind))
    return columns, n


def _slow_cells(path: Path, sheet_name: str | None, spec: TableMapping | None) -> Cells:
    sheet = read_sheet(path, sheet_name, spec)
    header, rows = grid(sheet, spec)
    columns: dict[str, pa.Array | list[Any]] = {h: [raw.get(h) for _, raw in rows] for h in header}
    return Cells(sheet.label, header, columns, np.array([n for n, _ in rows], dtype=np.int64))


def read_bulk(
    source: str | Path,
    mapping: dict[str, TableMapping] | None = None,
    *,
    known: pa.Array | None = None,
    progress: Progress | None = None,
    keep_cells: bool = True,
    stored_raw: RawDigests | None = None,
    given: Callable[[str], Cells] | None = None,
) -> BulkBatch:
    """Read and check every row of a source in columns, as ``importing.read_source`` does row by row.
    ``known``: the credit codes already in the register (child rows may name them). ``keep_cells``:
    keep the source's cells for rows ``prepare_bulk`` may reject (with ``skip_invalid``); without it
    they are let go once read (a register of millions of firms is then held once, not twice).
    ``stored_raw``: the raw digests kept with the register; a firm the source gives as they say is not
    read again (``BulkBatch.as_stored``). ``given``: a table's cells, read already (a part of the
    source's rows: ``firms.partition``), instead of its file's."""
    try:
        batch = _read(Path(source), mapping or {}, known, progress, keep_cells, stored_raw, given)
    except SheetError as exc:
        raise ImportError_(str(exc)) from None
    if not keep_cells:
        for part in batch.parts.values():
            part.cells.columns = {}
    return batch


def _read(
    src: Path,
    mapping: dict[str, TableMapping],
    known: pa.Array | None,
    progress: Progress | None,
    keep: bool,
    stored_raw: RawDigests | None,
    given: Callable[[str], Cells] | None = None,
) -> BulkBatch:
    from huiqi.firms.textual import import_digests, may_fit, recipe, same_as_stored

    batch = BulkBatch(str(src))
    files = table_sources(src, mapping)
    waiting: dict[str, tuple[Cells, dict[str, ColumnRule], pa.Array | None]] = {}
    raw: dict[str, tuple[np.ndarray, pa.Array]] | None = {}  # None: a file not read as text (no digests)
    shapes: dict[str, tuple[list[str], str, Any]] = {}
    for table in TABLE_NAMES:
        if table not in files:
            continue
        path, sheet_name = files[table]
        spec = mapping.get(table)
        if progress is not None:
            progress(f"read {path.name}" + (f"[{sheet_name}]" if sheet_name else ""))
        cells = None if given is None else given(table)
        if cells is None and path.suffix.lower() == ".csv":
            cells = _fast_csv(path, spec)
        elif cells is None and path.suffix.lower() == ".xlsx":
            cells = _fast_xlsx(path, sheet_name, spec)
        if cells is None:
            cells = _slow_cells(path, sheet_name, spec)
        rules = header_rules(table, cells.header, spec, cells.label)
        if table == "firms":
            batch.firm_columns = {r.to for r in rules.values()}
        found = _table_raw(cells, rules, table) if raw is not None else None
        codes = None
        if raw is None or found is None:
            raw = None
        else:
            codes = found[1]
            raw[table] = found
            shapes[table] = cells.header, cells.delimiter, spec
            if keep:  # rows may be rejected (``skip_invalid``): their firms' raw digests are not kept
                batch.rows_read[table] = cells.numbers, codes
        if stored_raw is not None and (codes is None or not may_fit(stored_raw, table, *shapes[table])):
            stored_raw = None  # another recipe: every firm is read, and no file's text waits
            for name, (held, held_rules, held_codes) in waiting.items():
                batch.parts[name] = _convert(batch, name, held, held_rules, keep, held_codes)
            waiting.clear()
        if stored_raw is None:  # no firm can be taken as stored: converted as read, its text let go
            batch.parts[table] = _convert(batch, table, cells, rules, keep, codes)
        else:
            waiting[table] = cells, rules, codes
    same = np.zeros(0, dtype=bool)
    of_rows: dict[str, np.ndarray] = {}
    if raw is not None and shapes:
        batch.recipe = recipe(shapes)
        batch.raw, of_rows = import_digests(raw)
        same = same_as_stored(batch.raw, stored_raw, batch.recipe)
        batch.as_stored = batch.raw["uscc"].filter(pa.array(same)).combine_chunks()
    del raw
    for table, (cells, rules, codes) in waiting.items():
        if same.any() and codes is not None:  # the rows of the firms not given as stored, or of none
            firms = of_rows[table]
            codes = _let_go(batch, table, cells, codes, (firms < 0) | ~same[np.maximum(firms, 0)], keep)
        batch.parts[table] = _convert(batch, table, cells, rules, keep, codes)
    _check_keys(batch, known)
    return batch


def firm_of_rows(cells: Cells, rules: dict[str, ColumnRule], table: str) -> pa.Array:
    """Each row's firm: its credit code as the import reads it; null when the cell is not a good code."""
    header, rule = next((h, r) for h, r in rules.items() if r.to == "uscc")
    col = cells.columns[header]
    col = _contiguous(col)  # (the codes alone made contiguous)
    bad: list[tuple[int, str, str]] = []
    plain = isinstance(col, pa.Array) and col.type == pa.string() and not rule.values
    if plain:
        ok = _goodfixed_codes(col)  # (every cell a good code of 18 bytes: no pattern, nothing converted)
        if ok is not None and ok.all():
            return col
    if plain and pc.all(pc.fill_null(pc.match_substring_regex(col, _USCC), False)).as_py():
        values = col  # plain codes: the conversion gives such text as it is
    else:
        values, bad = _column(cells, col, layout_type(table, "uscc"), rule)
    codes, bad_codes = _codes(values)
    wrong = [i for i, _, _ in bad] + [i for i, _, _ in bad_codes]
    if not wrong:
        return codes
    mask = np.zeros(len(codes), dtype=bool)
    mask[wrong] = True
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), codes)


def _table_raw(cells: Cells, rules: dict[str, ColumnRule], table: str) -> tuple[np.ndarray, pa.Array] | None:
    """The hash of each row's text (``textual.row_hashes``) and each row's firm; None when the file was
    not read as text (a workbook, or read cell by cell): then the import keeps no raw digests."""
    from huiqi.firms.textual import row_hashes

    texts = [c for c in cells.columns.values() if isinstance(c, _ARROW)]
    if not cells.csv or len(texts) != len(cells.columns):
        return None
    return row_hashes(texts), firm_of_rows(cells, rules, table)


def _let_go(
    batch: BulkBatch, table: str, cells: Cells, codes: pa.Array, read: np.ndarray, keep: bool
) -> pa.Array:
    """The rows of the firms given as stored let go (a column at a time: the text is not held twice):
    the rows kept are those ``read`` (of the firms not given as stored, or of no firm); their firms
    (``codes`` kept)."""
    rows = pa.array(read)
    for h, c in cells.columns.items():
        cells.columns[h] = _contiguous(c.filter(rows)) if isinstance(c, _ARROW) else c
    cells.numbers = cells.numbers[read]
    codes = codes.filter(rows)
    if keep:
        batch.rows_read[table] = cells.numbers, codes
    return codes


def rejected_firms(batch: BulkBatch) -> pa.Array:
    """The firms with a rejected row (their raw digests are not kept: the stored rows are not theirs)."""
    found: set[str] = set()
    for row, _ in batch.rejected:
        numbers, codes = batch.rows_read.get(row.table, (np.array([], dtype=np.int64), pa.array([])))
        at = int(np.searchsorted(numbers, row.row))
        if at < len(numbers) and numbers[at] == row.row and codes[at].is_valid:
            found.add(str(codes[at].as_py()))
    return pa.array(sorted(found), pa.string())


def _convert(
    batch: BulkBatch,
    table: str,
    cells: Cells,
    rules: dict[str, ColumnRule],
    keep_text: bool,
    codes: pa.Array | None = None,
) -> Part:
    """Every column as its layout type; the rows with a problem are rejected, in the row-by-row order.
    ``codes``: each row's firm as ``firm_of_rows`` read it; without a null, the credit-code column is
    that (it is not converted and checked again)."""
    n = len(cells.numbers)
    found: list[tuple[int, int, RowProblem]] = []
    out: dict[str, pa.Array] = {}
    for h, c in cells.columns.items():  # a CSV file's columns as read, made contiguous one at a time
        cells.columns[h] = _contiguous(c)
    uscc_header = next(h for h, r in rules.items() if r.to == "uscc")
    read = codes if codes is not None and not codes.null_count else None  # every row's code good

    def one(header: str, rule: ColumnRule) -> tuple[pa.Array, list[tuple[int, str, str]]]:
        out = (
            (read, [])
            if read is not None and header == uscc_header
            else _column(cells, cells.columns[header], layout_type(table, rule.to), rule)
        )
        if not keep_text:  # the text of a column is let go once it is converted
            cells.columns[header] = []
        return out

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # Arrow's kernels free the GIL
        done = list(pool.map(lambda hr: one(*hr), rules.items()))
    for k, ((h, rule), (values, bad)) in enumerate(zip(rules.items(), done, strict=True)):
        for i, expected, value in bad:
            found.append((i, k, RowProblem(table, cells.label, int(cells.numbers[i]), h, value, expected)))
        out[rule.to] = values
    bad_codes: list[tuple[int, str, str]] = []
    if read is None:
        out["uscc"], bad_codes = _codes(out["uscc"])
    already = {i for i, k, p in found if p.column == uscc_header}
    for i, expected, value in bad_codes:
        if i not in already:
            found.append(
                (
                    i,
                    len(rules),
                    RowProblem(table, cells.label, int(cells.numbers[i]), uscc_header, value, expected),
                )
            )
    data = pa.table(out) if out else pa.table({"uscc": pa.array([], pa.string())})
    index = np.arange(n, dtype=np.int64)
    if found:
        found.sort(key=lambda f: (f[0], f[1]))
        by_row: dict[int, list[RowProblem]] = {}
        for i, _, p in found:
            by_row.setdefault(i, []).append(p)
            batch.problems.append(p)
        for i, problems in by_row.items():
            batch.rejected.append((_parsed(table, cells, i), problems))
        keep = np.ones(n, dtype=bool)
        keep[list(by_row)] = False
        data = data.filter(pa.array(keep))
        index = index[keep]
    return Part(table, cells, data, index)


def _contiguous(col: Any) -> Any:
    """A column in one piece: a chunked array's chunks combined; anything else as it is."""
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _parsed(table: str, cells: Cells, i: int) -> ParsedRow:
    return ParsedRow(table, cells.label, int(cells.numbers[i]), {}, cells.raw(i))


def _column(
    cells: Cells, col: pa.Array | list[Any], typ: pa.DataType | None, rule: ColumnRule
) -> tuple[pa.Array, list[tuple[int, str, str]]]:
    """A column as ``typ``: plain cells vectorised, the others one by one through ``convert``; the bad
    cells as (row, expected, value shown). An empty cell is null in ``col``."""
    assert typ is not None  # nosec B101  # header_rules only keeps layout columns
    if isinstance(col, list):
        values = [cells.cell(v) for v in col]
        return _each(values, list(range(len(col))), typ, rule, pa.nulls(len(col), typ), None)
    if pa.types.is_floating(col.type):
        ok, fast = _plain_number(col, typ, rule)
    elif col.type != pa.string():  # dates and yes/no of a workbook: typed already
        if not rule.values and (col.type == typ or (typ == pa.date32() and pa.types.is_date(col.type))):
            return pc.cast(col, typ), []
        values = [cells.cell(v) for v in col.to_pylist()]
        return _each(values, list(range(len(col))), typ, rule, pa.nulls(len(col), typ), None)
    else:
        ok, fast = _plain(col, typ, rule)
    empty = pc.is_null(col)
    fast = pc.if_else(ok, fast, pa.scalar(None, typ))
    need = pc.invert(pc.or_(pc.fill_null(ok, False), empty))
    rows = np.flatnonzero(need.to_numpy(zero_copy_only=False))
    if not len(rows):
        return fast, []
    raw = [cells.cell(v) for v in col.take(pa.array(rows)).to_pylist()]
    return _each(raw, rows.tolist(), typ, rule, fast, need)


def _plain_number(col: pa.Array, typ: pa.DataType, rule: ColumnRule) -> tuple[pa.Array, pa.Array]:
    """A workbook's number cells: as Excel shows them (the shortest text of the double, when it has at
    most 15 digits, is the number typed), vectorised for amounts in yuan and counts; others by convert."""
    if rule.values or typ not in (MONEY, pa.int64()) or (typ == MONEY and rule.unit != 1):
        return pa.array(np.zeros(len(col), dtype=bool)), pa.nulls(len(col), typ)
    text = pc.cast(col, pa.string())
    digits = pc.utf8_length(pc.replace_substring_regex(text, "[^0-9]", ""))
    pattern = _PLAIN_INT if typ == pa.int64() else _PLAIN_MONEY
    ok = pc.and_(pc.match_substring_regex(text, pattern), pc.less_equal(digits, 15))
    values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), typ)
    top = MAX_MAGNITUDE if typ == pa.int64() else pa.scalar(Decimal(MAX_MAGNITUDE), MONEY)
    return pc.and_(ok, pc.less_equal(pc.abs(values), top)), values


def _plain(col: pa.Array, typ: pa.DataType, rule: ColumnRule) -> tuple[pa.Array, pa.Array]:
    """Which cells have a plain form (read vectorised) and their values; the rest go through convert."""
    none = pa.array(np.zeros(len(col), dtype=bool))
    if rule.values:
        return none, pa.nulls(len(col), typ)
    if typ == pa.string():
        first = pc.utf8_slice_codeunits(col, 0, 1)
        last = pc.utf8_slice_codeunits(col, -1, 1 << 30)
        edge = pc.or_(
            pc.match_substring_regex(first, f"^[{_WS}']$"), pc.match_substring_regex(last, f"^[{_WS}]$")
        )
        nul = pc.match_substring(col, "\x00")  # convert refuses it (a database cannot store one)
        return pc.invert(pc.or_(edge, nul)), col
    if typ == pa.bool_():
        return pc.is_in(col, value_set=pa.array(_TRUE + _FALSE)), pc.is_in(col, value_set=pa.array(_TRUE))
    if typ == pa.date32():
        if rule.formats != ("%Y-%m-%d",):
            return none, pa.nulls(len(col), typ)
        stamps = pc.strptime(col, format="%Y-%m-%d", unit="s", error_is_null=True)
        days = pc.cast(stamps, pa.date32())
        return pc.equal(pc.cast(days, pa.string()), col), days
    if typ == MONEY and rule.unit != 1:
        return none, pa.nulls(len(col), typ)
    if typ in (MONEY, pa.int64()):
        # the exact text the value prints as (12 for int, 1234.50 for money) is plain; anything else is
        # convert's (1e3, +5, 007, 1,200, 1.5, 万)
        try:
            values = pc.cast(col, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pattern = _PLAIN_INT if typ == pa.int64() else _PLAIN_MONEY
            shaped = pc.match_substring_regex(col, pattern)
            values = pc.cast(pc.if_else(shaped, col, pa.scalar(None, pa.string())), typ)
        top = MAX_MAGNITUDE if typ == pa.int64() else pa.scalar(Decimal(MAX_MAGNITUDE), MONEY)
        within = pc.less_equal(pc.abs(values), top)  # the one bound on numbers (huiqi.money)
        return pc.and_(pc.equal(pc.cast(values, pa.string()), col), within), values
    return none, pa.nulls(len(col), typ)  # pragma: no cover - the layout has no other types


def _each(
    values: list[Any],
    rows: list[int],
    typ: pa.DataType,
    rule: ColumnRule,
    base: pa.Array,
    mask: pa.Array | None,
) -> tuple[pa.Array, list[tuple[int, str, str]]]:
    converted: list[Any] = []
    bad: list[tuple[int, str, str]] = []
    for i, v in zip(rows, values, strict=True):
        try:
            converted.append(convert(v, typ, rule))
        except BadValue as exc:
            converted.append(None)
            bad.append((i, exc.expected, shown(v)))
    if mask is None:
        return pa.array(converted, typ), bad
    return pc.replace_with_mask(base, mask, pa.array(converted, typ)), bad


def _good_codes(raw: np.ndarray) -> np.ndarray:
    """Which rows of 18 bytes (a credit code's text each) are plain codes: eight digits, ten characters
    of the alphabet, the last the check character of the others (one byte a cell, no 64-bit copy)."""
    values = _VALUE8[raw]
    ok: np.ndarray = (values.min(axis=1) >= 0) & (values[:, :8].max(axis=1) < 10)
    total = values[:, :17] @ _WEIGHTS  # (at most 30 x 305: 16 bits hold it)
    ok &= (31 - total % 31) % 31 == values[:, 17]
    return ok


def _goodfixed_codes(col: pa.Array) -> np.ndarray | None:
    """``_good_codes`` of a column of 18-byte codes without a null, on Arrow's buffer as it is; None
    for any other column."""
    fixed = fixed_codes(col)
    return None if fixed is None else _good_codes(fixed.view(np.uint8).reshape(-1, 18))


def _codes(col: pa.Array) -> tuple[pa.Array, list[tuple[int, str, str]]]:
    """Credit codes checked (alphabet, check character) vectorised; the others by ``validate_uscc``,
    which also gives a code written with spaces or lower case in its compact form. A column of 18-byte
    codes without a null is checked on Arrow's buffer as it is (no pattern, no filtered copy)."""
    found = _goodfixed_codes(col)
    if found is not None:
        ok = found
    else:
        plain = pc.fill_null(pc.match_substring_regex(col, _USCC), False).to_numpy(zero_copy_only=False)
        ok = np.zeros(len(col), dtype=bool)
        if plain.any():
            chosen = fixed_codes(col.filter(pa.array(plain)))
            assert chosen is not None  # nosec B101  # 18 ASCII characters each, as the pattern says
            ok[np.flatnonzero(plain)] = _good_codes(chosen.view(np.uint8).reshape(-1, 18))
    missing = pc.is_null(col).to_numpy(zero_copy_only=False)
    doubt = np.flatnonzero(~ok)
    bad: list[tuple[int, str, str]] = []
    if not len(doubt):
        return col, bad
    compact: list[str | None] = []
    for i in doubt.tolist():
        code = col[i].as_py()
        if missing[i]:
            compact.append(None)
            bad.append((i, "a credit code (required)", ""))
            continue
        try:
            compact.append(validate_uscc(code))
        except UsccError as exc:
            compact.append(code)
            bad.append((i, str(exc), code))
    mask = np.zeros(len(col), dtype=bool)
    mask[doubt] = True
    return pc.replace_with_mask(col, pa.array(mask), pa.array(compact, pa.string())), bad


def _reject(batch: BulkBatch, part: Part, keep: np.ndarray, problems: list[list[RowProblem]]) -> Part:
    """``part`` without the rows where ``keep`` is False (each rejected with its problems)."""
    gone = np.flatnonzero(~keep)
    for j, probs in zip(gone.tolist(), problems, strict=True):
        batch.rejected.append((_parsed(part.table, part.cells, int(part.index[j])), probs))
    return Part(part.table, part.cells, part.data.filter(pa.array(keep)), part.index[keep])


def _check_keys(batch: BulkBatch, known: pa.Array | None) -> None:
    """A firm once per import; child rows must belong to a firm of this import or of the register."""
    firms = batch.parts.get("firms")
    codes = pa.array([], pa.string())
    if firms is not None:
        col = firms.data["uscc"].combine_chunks()
        distinct = pc.unique(col)
        if len(distinct) < len(col):  # (one hashing of the codes when each is once, as they mostly are)
            batch.parts["firms"] = firms = _once(batch, firms, col, distinct)
        codes = firms.data["uscc"].combine_chunks()
    register = known.cast(pa.string()) if known is not None and len(known) else None
    children = [(table, batch.parts[table]) for table in CHILD_TABLES if table in batch.parts]
    if not children:
        return
    cols = [part.data["uscc"].combine_chunks() for _, part in children]
    every = pa.chunked_array(cols, type=pa.string())  # every child table checked against one set
    found = np.asarray(pc.is_in(every, value_set=codes).to_numpy(), dtype=bool)
    others = np.flatnonzero(~found)
    if register is not None and len(others):  # rows of the register's firms: those firms looked up
        theirs = every.take(pa.array(others))
        named = register.filter(pc.is_in(register, value_set=pc.unique(theirs)))
        found[others] = np.asarray(pc.is_in(theirs, value_set=named).to_numpy(), dtype=bool)
    at = 0
    for (table, part), col in zip(children, cols, strict=True):
        keep, at = found[at : at + len(col)], at + len(col)
        if keep.all():
            continue
        problems = []
        for j in np.flatnonzero(~keep).tolist():
            p = RowProblem(
                table,
                part.cells.label,
                int(part.cells.numbers[part.index[j]]),
                "uscc",
                col[j].as_py(),
                "a firm of this import or the register",
            )
            batch.problems.append(p)
            problems.append([p])
        batch.parts[table] = _reject(batch, part, keep, problems)


def _once(batch: BulkBatch, firms: Part, col: pa.Array, distinct: pa.Array) -> Part:
    """The firms table without the rows whose credit code an earlier row has (each rejected, naming it)."""
    first = pc.index_in(col, value_set=distinct).to_numpy()
    _, where = np.unique(first, return_index=True)
    keep = np.zeros(len(col), dtype=bool)
    keep[where] = True
    problems = []
    for j in np.flatnonzero(~keep).tolist():
        code = col[j].as_py()
        seen = int(firms.cells.numbers[firms.index[where[first[j]]]])
        p = RowProblem(
            "firms",
            firms.cells.label,
            int(firms.cells.numbers[firms.index[j]]),
            "uscc",
            code,
            f"a credit code once (also row {seen})",
        )
        batch.problems.append(p)
        problems.append([p])
    return _reject(batch, firms, keep, problems)


# -- merging --------------------------------------------------------------------------------------------
def empty_register(years: list[int] | None = None) -> dict[str, pa.Table]:
    """A register without firms, in the layout."""
    out = {"firms": firm_schema(years or []).empty_table()}
    for name in CHILD_TABLES:
        out[name] = child_schema(name).empty_table()
    return out


def _years(columns: list[str]) -> set[int]:
    out = set()
    for c in columns:
        prefix, _, year = c.rpartition("_")
        if prefix in YEAR_MAPS and year.isdigit() and len(year) == 4:
            out.add(int(year))
    return out


def _conform(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """``t`` with ``schema``'s columns, in order; those it lacks are null."""
    cols = [
        t[f.name].cast(f.type) if f.name in t.column_names else pa.nulls(t.num_rows, f.type) for f in schema
    ]
    return pa.table(cols, schema=schema)


def by_credit_code(t: pa.Table) -> pa.Table:
    """``t`` in credit-code order (a firm's rows keep theirs); ``t`` itself when it is in order already
    (a register exported and imported again), not a copy."""
    if _in_order(t):
        return t
    return t.take(pc.sort_indices(t, sort_keys=[("uscc", "ascending")]))


def _in_order(t: pa.Table) -> bool:
    codes = t["uscc"]
    return (
        t.num_rows < 2
        or pc.all(pc.less_equal(codes.slice(0, t.num_rows - 1), codes.slice(1))).as_py() is not False
    )


def _sort_in_place(tables: dict[str, pa.Table]) -> None:
    """Each table of ``tables`` put in credit-code order a column at a time, each old column let go as
    its sorted copy is made (a register of millions of firms is not held twice)."""
    for name in list(tables):
        t = tables.pop(name)
        if _in_order(t):
            tables[name] = t
            continue
        order = pc.sort_indices(t["uscc"])
        schema, columns = t.schema, []
        while t.num_columns:  # one column at a time: two in flight (threads) cost 0.15-0.24 GiB at 3 M
            columns.append(t.column(0).take(order))
            t = t.remove_column(0)
        tables[name] = pa.table(columns, schema=schema)


#: A register as an import merges into it: each table held in memory, or its Parquet file (read only as
#: far as the import needs: the credit codes, and the rows of the firms it changes or keeps)
Stored = Mapping[str, pa.Table | Path]


def _load(
    t: pa.Table | Path,
    columns: list[str] | None = None,
    codes: pa.Array | None = None,
    *,
    others: bool = False,
) -> pa.Table:
    """A stored table (or some of its columns) as Arrow: whole, or the rows of the firms ``codes`` (with
    ``others``, the rows of every other firm). A file is scanned by DuckDB (on every core, only these
    columns, rows filtered as read), but some of its columns whole are read by Arrow (half DuckDB's time
    for the register's 3 M credit codes)."""
    if not isinstance(t, Path):
        out = t
        if codes is not None:
            mine = pc.is_in(t["uscc"], value_set=codes)
            out = t.filter(pc.invert(mine) if others else mine)
        return out if columns is None else out.select(columns)
    import duckdb
    import pyarrow.parquet as pq

    schema = pq.read_schema(t).remove_metadata()
    names = columns or schema.names
    wanted = pa.schema([schema.field(n) for n in names])
    if codes is None and columns is not None:  # (a whole table: DuckDB's scan, which holds less at once)
        return pq.read_table(t, columns=names).cast(wanted)
    con = duckdb.connect()
    try:
        where = ""
        if codes is not None:
            con.register("codes", pa.table({"uscc": codes}))
            where = (
                " WHERE uscc NOT IN (SELECT uscc FROM codes)"
                if others
                else " WHERE uscc IN (SELECT uscc FROM codes)"
            )
        listed = ", ".join(sql_ident(n) for n in names)
        sql = f"SELECT {listed} FROM read_parquet(?)" + where  # nosec B608  # the layout's names
        out = con.execute(sql, [str(t)]).to_arrow_table()
    finally:
        con.close()
    return out.cast(wanted)


def _rows(t: pa.Table | Path, codes: pa.Array, columns: list[str] | None = None) -> pa.Table:
    """The rows of the firms ``codes`` of a stored table."""
    return _load(t, columns, codes)


def stored_codes(existing: Stored) -> pa.Array:
    """The credit codes of a stored register's firms (of a file, only that column is read)."""
    return _load(existing["firms"], ["uscc"])["uscc"].combine_chunks()


def _schema(t: pa.Table | Path) -> pa.Schema:
    import pyarrow.parquet as pq

    return pq.read_schema(t).remove_metadata() if isinstance(t, Path) else t.schema


def _merge(
    batch: BulkBatch, existing: Stored, splice: bool, known: pa.Array | None
) -> tuple[dict[str, pa.Table], pa.Array, pa.Array, bool]:
    """The register with the import applied (see ``importing.merge``), the touched codes, the codes of
    those that are new, and whether the tables are the touched firms' rows only (``splice``, when the
    stored register is files of the same layout: the others are as stored). Of a stored table file only
    what the import keeps or needs is read; ``known``: its credit codes when read already."""
    old_firms = existing["firms"]
    touched = pc.unique(
        pa.concat_arrays(
            [p.data["uscc"].combine_chunks() for p in batch.parts.values()] or [pa.array([], pa.string())]
        )
    )
    old_codes = known if known is not None else stored_codes(existing)
    is_old, in_touch = _membership(touched, old_codes)
    added = touched.filter(pc.invert(is_old))
    old_schema = _schema(old_firms)  # (of a file: its footer, read once)
    years = sorted(_years(old_schema.names) | _years(list(batch.firm_columns)))
    schema = firm_schema(years)
    every = pc.all(in_touch).as_py() is not False  # a whole register again: nothing of it is kept as is
    splice = splice and all(isinstance(t, Path) for t in existing.values()) and old_schema.equals(schema)
    nothing = every or splice  # (spliced: the untouched firms' rows stay in the stored files)
    untouched = schema.empty_table() if nothing else _load(old_firms, codes=touched, others=True)
    firms_part = batch.parts.get("firms")
    pieces = [_conform(untouched, schema)]
    touched_old = old_codes.filter(in_touch)
    if firms_part is not None:
        given = firms_part.data
        given_codes = given["uscc"].combine_chunks()
        provided = [c for c in given.column_names if c != "uscc"]
        kept = [f.name for f in schema if f.name not in given.column_names]
        if len(touched_old) and kept:
            olds = _conform(_rows(old_firms, touched_old), schema).select(["uscc", *kept])
            joined = given.join(olds, keys="uscc", join_type="left outer")
            pieces.append(_conform(joined, schema))
        else:
            pieces.append(_conform(given.select(["uscc", *provided]), schema))
        others = touched_old.filter(pc.invert(pc.is_in(touched_old, value_set=given_codes)))
        if len(others):  # touched by their child rows only
            pieces.append(_conform(_rows(old_firms, others), schema))
    elif len(touched_old):
        pieces.append(_conform(_rows(old_firms, touched_old), schema))
    tables = {"firms": pa.concat_tables(pieces)}
    for name in CHILD_TABLES:
        old = existing[name]
        part = batch.parts.get(name)
        if part is None:
            tables[name] = _rows(old, touched) if splice else _load(old)
            continue
        keep = child_schema(name).empty_table() if nothing else _load(old, codes=touched, others=True)
        tables[name] = pa.concat_tables(
            [_conform(keep, child_schema(name)), _conform(part.data, child_schema(name))]
        )
    return tables, touched, added, splice


def _old_digests(existing: Stored, schema: pa.Schema, stored: pa.Table | None) -> pa.Table:
    """The stored register's digests as the new tables would have them: those stored with it, or (none
    stored, or a year column added since) computed over its tables in the new layout."""
    if stored is not None and _schema(existing["firms"]).equals(schema):
        return stored
    return firm_digests({**existing, "firms": _conform(_load(existing["firms"]), schema)})


def _new_digests(
    existing: Stored, tables: dict[str, pa.Table], touched: pa.Array, stored: pa.Table | None
) -> pa.Table:
    """The new register's digests, sorted by credit code: those stored with ``existing`` but of the firms
    the import ``touched``, computed afresh (all of them when none are stored or the layout changed)."""
    if stored is None or not _schema(existing["firms"]).equals(tables["firms"].schema):
        return by_credit_code(firm_digests(tables))
    fresh = by_credit_code(firm_digests({name: _of(t, touched) for name, t in tables.items()}))
    kept = stored.filter(pc.invert(_membership(touched, stored["uscc"])[1]))
    both = pa.concat_tables([kept, fresh.cast(kept.schema)])
    old, new = fixed_codes(kept["uscc"]), fixed_codes(fresh["uscc"])
    if old is None or new is None or not _in_order(kept):
        return by_credit_code(both)
    # both in order: the new firms' digests put in their places (no sort of the register's codes)
    at = np.searchsorted(old, new)
    order = np.insert(np.arange(len(old)), at, len(old) + np.arange(len(new)))
    return both.take(pa.array(order))


def _membership(codes: pa.Array, register: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Which of ``codes`` ``register`` holds, and which of ``register``'s codes are among
    ``codes``: a few codes found in a register's millions (each once, 18 bytes, in order: as stored) by
    binary search, without a hash table of the register's codes built or probed; else by ``is_in``."""
    where, among = fixed_codes(register), fixed_codes(codes)
    if where is None or among is None or not len(where) or not bool((where[1:] > where[:-1]).all()):
        register = _contiguous(register)
        return pc.is_in(codes, value_set=register), pc.is_in(register, value_set=codes)
    at = np.minimum(np.searchsorted(where, among), len(where) - 1)
    found = where[at] == among
    held = np.zeros(len(where), dtype=bool)
    held[at[found]] = True
    return pa.array(found), pa.array(held)


def _differing(old: pa.Table, new: pa.Table, among: pa.Array) -> pa.Array:
    """The firms of ``among`` whose digest in ``new`` differs from the one in ``old``, in order."""
    if old.num_rows == new.num_rows and old["uscc"].equals(new["uscc"]):  # the same firms, in order
        differ = pc.not_equal(old["digest"], new["digest"])
        codes = new["uscc"].filter(differ).combine_chunks()
        return codes.filter(pc.is_in(codes, value_set=among))
    both = new.select(["uscc", "digest"]).join(
        old.select(["uscc", "digest"]), keys="uscc", join_type="inner", right_suffix="_old"
    )
    codes = both.filter(pc.not_equal(both["digest"], both["digest_old"]))["uscc"].combine_chunks()
    mine = codes.filter(pc.is_in(codes, value_set=among))
    return mine.take(pc.sort_indices(mine))


def _subset(tables: Stored, codes: pa.Array) -> dict[str, pa.Table]:
    return {name: _rows(t, codes) for name, t in tables.items()}


def _shown(value: Any) -> str | None:
    """A value as the history shows it (``importing.diff_records``' words: text as is, others as JSON)."""
    import json

    v = encode(value)
    return (
        None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
    )


def firms_whose_rows_differ(old: pa.Table, new: pa.Table) -> pa.Array | None:
    """The firms whose rows of a child table may differ between ``old`` and ``new`` (the same firms'
    rows before and after), found on the columns: those with another number of rows, and those with a
    row unlike the one at its place among the firm's rows; None when the tables' columns differ (then
    every firm's rows are compared as values)."""
    if not old.schema.equals(new.schema):
        return None
    old, new = by_credit_code(old), by_credit_code(new)  # (a firm's rows keep their order)
    uneven = pa.array([], pa.string())
    if old.num_rows != new.num_rows or not old["uscc"].equals(new["uscc"]):
        counts = [t.group_by("uscc").aggregate([([], "count_all")]) for t in (old, new)]
        both = counts[0].join(counts[1], keys="uscc", join_type="full outer", right_suffix="_new")
        even = pc.fill_null(pc.equal(both["count_all"], both["count_all_new"]), False)
        uneven = both["uscc"].filter(pc.invert(even)).combine_chunks().cast(pa.string())
        if len(uneven):
            old, new = (t.filter(pc.invert(pc.is_in(t["uscc"], value_set=uneven))) for t in (old, new))
    differ = np.zeros(old.num_rows, dtype=bool)  # (the same firms now, each with as many rows)
    for name in old.column_names:
        a, b = old[name], new[name]
        differ |= np.asarray(
            pc.fill_null(pc.not_equal(a, b), False).to_numpy(zero_copy_only=False), dtype=bool
        )
        differ |= np.asarray(pc.is_null(a).to_numpy(zero_copy_only=False)) != np.asarray(
            pc.is_null(b).to_numpy(zero_copy_only=False)
        )
    unlike = old["uscc"].filter(pa.array(differ)).combine_chunks().cast(pa.string())
    return pc.unique(pa.concat_arrays([uneven, unlike]))


def _changed_fields(
    existing: Stored, tables: dict[str, pa.Table], codes: pa.Array
) -> list[tuple[str, str, str | None, str | None]]:
    """The history rows (uscc, field, old, new) of the firms ``codes``, as ``importing.diff_records``
    gives them: per firm its changed columns by name, then the child tables whose rows differ. The
    columns are compared vectorised; only the differing cells become Python values."""
    new = by_credit_code(_of(tables["firms"], codes))
    old = by_credit_code(_conform(_rows(existing["firms"], codes), new.schema))
    found: list[tuple[str, tuple[int, str], str, str | None, str | None]] = []
    firm_codes = new["uscc"].to_pylist()
    for name in sorted(c for c in new.column_names if c != "uscc"):
        a, b = old[name], new[name]
        differ = pc.or_(pc.fill_null(pc.not_equal(a, b), False), pc.not_equal(pc.is_null(a), pc.is_null(b)))
        rows = np.flatnonzero(differ.to_numpy(zero_copy_only=False))
        if len(rows):
            at = pa.array(rows)
            olds, news = a.take(at).to_pylist(), b.take(at).to_pylist()
            for i, o, n in zip(rows.tolist(), olds, news, strict=True):
                found.append((firm_codes[i], (0, name), name, _shown(o), _shown(n)))
    for k, table in enumerate(CHILD_TABLES):
        rows_of: list[dict[str, list[dict[str, Any]]]] = [{}, {}]
        was_new = _rows(existing[table], codes), _of(tables[table], codes)
        maybe = firms_whose_rows_differ(*was_new)  # the others' rows are the same: not made Python
        for side, t in enumerate(was_new):
            for row in (t if maybe is None else _of(t, maybe)).to_pylist():
                code = row.pop("uscc")
                rows_of[side].setdefault(code, []).append(
                    {c: encode(v) for c, v in row.items() if v is not None}
                )
        for code in set(rows_of[0]) | set(rows_of[1]):
            was, now = rows_of[0].get(code, []), rows_of[1].get(code, [])
            if was != now:
                found.append((code, (1, str(k)), table, _shown(was), _shown(now)))
    found.sort(key=lambda f: (f[0], f[1]))
    return [(u, f, o, n) for u, _, f, o, n in found]


def merge_bulk(
    batch: BulkBatch,
    existing: Stored,
    progress: Progress | None = None,
    *,
    digests: pa.Table | None = None,
    keep_batch: bool = True,
    splice: bool = False,
    known: pa.Array | None = None,
) -> BulkMerge:
    """Apply an import to the register's tables: the new tables, the history of changed fields (only the
    changed firms' fields; a new firm is one row), and the counts. ``digests``: the firms' digests stored
    with ``existing`` (computed from it when None); the firms whose digest is the same are unchanged and
    not compared field by field. Without ``keep_batch`` the batch keeps only its credit codes once merged
    (it cannot be merged again). With ``splice`` (and ``existing`` files of the layout, their digests
    given) the new tables are the touched firms' rows only (see ``BulkMerge.base``): the register is not
    held whole. ``known``: the credit codes of ``existing`` (``stored_codes``) when read already."""
    tables, touched, added, spliced = _merge(batch, existing, splice and digests is not None, known)
    if not keep_batch:  # its rows are in ``tables`` now: only the codes are asked for again
        for part in batch.parts.values():
            part.data = part.data.select(["uscc"])
    _sort_in_place(tables)
    if progress is not None:
        progress("compare with the register")
    new_digests = _new_digests(existing, tables, touched, digests)
    touched_old = touched.filter(pc.invert(pc.is_in(touched, value_set=added)))
    changed = pa.array([], pa.string())
    changes = []
    if len(touched_old):
        old_digests = _old_digests(existing, tables["firms"].schema, digests)
        changed = _differing(old_digests, new_digests, touched_old)
        if len(changed):
            changes = _changed_fields(existing, tables, changed)
    news = pa.table(
        {
            "uscc": added,
            "field": pa.array(["*"] * len(added), pa.string()),
            "old": pa.nulls(len(added), pa.string()),
            "new": pa.array(["new firm"] * len(added), pa.string()),
        }
    )
    detail = pa.table(
        {
            "uscc": pa.array([c[0] for c in changes], pa.string()),
            "field": pa.array([c[1] for c in changes], pa.string()),
            "old": pa.array([c[2] for c in changes], pa.string()),
            "new": pa.array([c[3] for c in changes], pa.string()),
        }
    )
    history = by_credit_code(pa.concat_tables([news, detail]))
    checked = pa.concat_arrays([added.cast(pa.string()), changed])
    unchanged = len(touched_old) - len(changed) + len(batch.as_stored)
    merged = BulkMerge(tables, history, len(added), len(changed), unchanged, new_digests, checked)
    if spliced:
        merged.base, merged.dropped = existing, touched
    return merged


# -- the profile's rules, on columns --------------------------------------------------------------------
def _ids(t: pa.Table, mask: Any) -> set[str]:
    m = pa.array(np.asarray(mask, dtype=bool))
    return set(t["uscc"].filter(m).to_pylist()) if len(m) else set()


def _np(a: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(a, True).to_numpy(zero_copy_only=False), dtype=bool)


def _of(t: pa.Table, codes: pa.Array | None) -> pa.Table:
    """The rows of ``t`` of the firms ``codes``: ``t`` itself (not a copy) when that is all of them
    (``None``: every firm, known without hashing 3 M codes for each table)."""
    if codes is None:
        return t
    mine = pc.is_in(t["uscc"], value_set=codes)
    return t if pc.all(mine).as_py() is not False else t.filter(mine)


def doubtful(tables: dict[str, pa.Table], codes: pa.Array, today: dt.date) -> set[str]:
    """The firms of ``codes`` that may break a rule of the profile model (``Firm``): required fields,
    vocabularies, ranges, plausible dates, rd_staff <= employees, one hq office, contract ids once. A
    firm not among them is valid; one among them is checked by the model itself."""
    from huiqi.firms.profile import DATE_CEILING, DATE_FLOOR, MAX_AHEAD, Sector

    every = len(codes) == tables["firms"].num_rows  # codes are distinct firms of ``tables``: all of them
    firms = _of(tables["firms"], None if every else codes)
    out: set[str] = set()
    if firms.num_rows:
        bad = np.zeros(firms.num_rows, dtype=bool)

        def null(c: str) -> np.ndarray:
            return np.asarray(pc.is_null(firms[c]).to_numpy(zero_copy_only=False), dtype=bool)

        def outside(c: str, low: Any, high: Any) -> np.ndarray:
            col = firms[c]
            out: np.ndarray = _np(pc.or_(pc.less(col, low), pc.greater(col, high))) & ~null(c)
            return out

        for c in (
            "name_zh",
            "sector",
            "registration_city",
            "registration_date",
            "registered_capital",
            "paid_in_capital",
            "total_assets",
        ):
            bad |= null(c)
        bad |= ~_np(pc.is_in(firms["sector"], value_set=pa.array([s.value for s in Sector]))) & ~null(
            "sector"
        )
        bad |= ~_np(
            pc.is_in(firms["service_subsector"], value_set=pa.array(["software", "ic_design", "biotech_cro"]))
        ) & ~null("service_subsector")
        bad |= ~_np(
            pc.is_in(firms["enterprise_type"], value_set=pa.array(["industrial", "service"]))
        ) & ~null("enterprise_type")
        bad |= pc.equal(pc.utf8_length(pc.fill_null(firms["name_zh"], "x")), 0).to_numpy(zero_copy_only=False)
        latest = min(DATE_CEILING, today + MAX_AHEAD)
        bad |= outside("registration_date", DATE_FLOOR, latest)
        bad |= outside("hq_move_in_date", DATE_FLOOR, DATE_CEILING)
        zero = pa.scalar(Decimal(0), MONEY)
        top = pa.scalar(Decimal(MAX_MAGNITUDE), MONEY)
        for c in ("registered_capital", "paid_in_capital", "total_assets", "market_value"):
            bad |= outside(c, zero, top)
        for c in (
            "employees",
            "rd_staff",
            "ip_invention_patents",
            "ip_ic_layout_designs",
            "ip_software_copyrights",
            "branches_outside_city",
        ):
            bad |= outside(c, 0, MAX_MAGNITUDE)
        staff = pc.fill_null(firms["rd_staff"], 0)
        bad |= pc.greater(staff, pc.fill_null(firms["employees"], 0)).to_numpy(zero_copy_only=False)
        for c in firms.column_names:
            prefix, _, year = c.rpartition("_")
            if prefix in YEAR_MAPS and year.isdigit():
                if not 1900 <= int(year) <= 2200:
                    bad |= ~null(c)
                bad |= outside(c, pa.scalar(Decimal(-MAX_MAGNITUDE), MONEY), top)
        out |= _ids(firms, bad)
    out |= _doubtful_children(tables, None if every else codes, DATE_FLOOR, DATE_CEILING)
    return out


def _doubtful_children(
    tables: dict[str, pa.Table], codes: pa.Array | None, floor: dt.date, ceiling: dt.date
) -> set[str]:

    out: set[str] = set()
    required = {
        "offices": ("area_m2", "rent_per_m2_day", "tenure"),
        "designations": ("code",),
        "incentives": ("programme", "amount", "date"),
        "contracts": ("id", "kind", "counterparty", "value", "signed"),
        "credit_events": ("date", "kind"),
    }
    vocab = {
        "tenure": ["rented", "owned"],
        "kind": ["compute_rental", "compute_purchase", "compute_selfbuild", "model_use", "corpus_purchase"],
    }
    for name, need in required.items():
        t = _of(tables[name], codes)
        if not t.num_rows:
            continue
        bad = np.zeros(t.num_rows, dtype=bool)
        for c in need:
            bad |= pc.is_null(t[c]).to_numpy(zero_copy_only=False)
        for c, typ in CHILD_TABLES[name].items():
            col = t[c]
            present = pc.is_valid(col).to_numpy(zero_copy_only=False)
            if typ == pa.string():
                bad |= pc.equal(pc.utf8_length(pc.fill_null(col, "x")), 0).to_numpy(zero_copy_only=False)
                if c in vocab and not (name == "credit_events" and c == "kind"):
                    bad |= ~_np(pc.is_in(col, value_set=pa.array(vocab[c]))) & present
            elif typ == MONEY:
                bad |= (
                    _np(
                        pc.or_(
                            pc.less(col, pa.scalar(Decimal(0), MONEY)),
                            pc.greater(col, pa.scalar(Decimal(MAX_MAGNITUDE), MONEY)),
                        )
                    )
                    & present
                )
            elif typ == pa.date32():
                bad |= _np(pc.or_(pc.less(col, floor), pc.greater(col, ceiling))) & present
            elif typ == pa.int64():
                bad |= _np(pc.or_(pc.less(col, 0), pc.greater(col, MAX_MAGNITUDE))) & present
        out |= _ids(t, bad)
        if name == "offices":
            hq = t.filter(pc.fill_null(t["hq"], False))
            counts = pc.value_counts(hq["uscc"])
            out |= {
                str(v["values"]) for v in counts.filter(pc.greater(counts.field("counts"), 1)).to_pylist()
            }
        if name == "contracts":
            pairs = t.group_by(["uscc", "id"]).aggregate([([], "count_all")])
            out |= set(pairs.filter(pc.greater(pairs["count_all"], 1))["uscc"].to_pylist())
    return out


def prepare_bulk(
    batch: BulkBatch,
    existing: Stored,
    *,
    skip_invalid: bool = False,
    today: dt.date | None = None,
    progress: Progress | None = None,
    digests: pa.Table | None = None,
    splice: bool = False,
    known: pa.Array | None = None,
) -> BulkMerge:
    """Check and merge, as ``importing.prepare``: all or nothing unless ``skip_invalid``, when firms with
    problems (and their child rows) are left out and their rows added to ``batch.rejected``. The new and
    the changed firms are checked; a firm the import gives back as stored was checked when it was stored.
    ``digests``, ``splice``, ``known``: see ``merge_bulk``."""
    from huiqi.firms.profile import CHINA

    if batch.problems and not skip_invalid:
        raise ImportRefused(batch.problems)
    merged = merge_bulk(
        batch, existing, progress, digests=digests, keep_batch=skip_invalid, splice=splice, known=known
    )
    if progress is not None:
        progress("check the firms")
    doubt = doubtful(merged.tables, merged.checked, today or dt.datetime.now(CHINA).date())
    problems: list[RowProblem] = []
    if doubt:
        codes = pa.array(sorted(doubt), pa.string())
        records = records_from_tables(_subset(merged.tables, codes))
        where = {}
        firms = batch.parts.get("firms")
        if firms is not None:
            mine = pc.is_in(firms.data["uscc"], value_set=codes).to_numpy(zero_copy_only=False)
            for j in np.flatnonzero(mine).tolist():
                where[firms.data["uscc"][j].as_py()] = (
                    firms.cells.label,
                    int(firms.cells.numbers[firms.index[j]]),
                )
        problems = profile_problems([records[c] for c in sorted(records)], where, batch.source)
    if not problems:
        return merged
    if not skip_invalid:
        raise ImportRefused(batch.problems + problems)
    bad = {p.expected.rsplit("(firm ", 1)[-1].rstrip(")") for p in problems}
    for table, part in list(batch.parts.items()):
        col = part.data["uscc"].combine_chunks()
        keep = ~pc.is_in(col, value_set=pa.array(sorted(bad), pa.string())).to_numpy(zero_copy_only=False)
        if keep.all():
            continue
        gone = [
            [p for p in problems if p.expected.endswith(f"(firm {col[j].as_py()})")]
            if table == "firms"
            else []
            for j in np.flatnonzero(~keep).tolist()
        ]
        batch.parts[table] = _reject(batch, part, keep, gone)
    batch.problems += problems
    return merge_bulk(batch, existing, progress, digests=digests, splice=splice, known=known)
