"""Register import from CSV, xlsx and Parquet, with a column-mapping file, validating every row.

Sources (the format is decided by the file name's extension):

- one file, ``firms.csv`` / ``.xlsx`` / ``.parquet``: the firms table. An xlsx workbook may hold one sheet
  per table instead: sheets named like the layout tables (``firms``, ``offices``, ``contracts``...) or
  as the mapping file says (``sheet: 办公场所``).
- a folder: one file per table, ``firms.csv``, ``offices.csv``... (any of the three formats), or the
  files the mapping names (``file: 企业名录.xlsx``).

The mapping file (YAML) maps each table's headers to layout columns and says how to read values::

    firms:
      sheet: 企业名录                  # or file: for a folder source
      columns:
        统一社会信用代码: uscc
        企业名称: name_zh
        注册资本（万元）: {to: registered_capital, unit: 万元}
        2024年营业收入（万元）: {to: sales_2024, unit: 万元}
        成立日期: {to: registration_date, format: "%Y年%m月%d日"}
        是否创新药械: {to: innovative_drug_or_device, values: {是: true, 否: false}}
        行业: {to: sector, values: {人工智能: artificial_intelligence, 集成电路: integrated_circuits}}
    offices:
      columns: {统一社会信用代码: uscc, 所在区: district, 面积（平方米）: area_m2}

Without a mapping, headers must be layout column names. Headers that are neither mapped nor layout
columns are refused (a misspelt header would otherwise drop a column silently); ``ignore: [header...]``
in a table's mapping lists headers to skip on purpose. A table's mapping may also say ``header_row: N``
(title rows above it), ``encoding:`` and ``delimiter:`` of a CSV file, and ``merged: fill``. Nothing is
lost silently: a header twice, data under an empty header cell or beyond the header, merged header
cells and merged data cells (unless ``merged: fill``) are refused naming the cells (``huiqi.firms.sheets``
reads the files and refuses what they cannot faithfully give).

Money is exact: a value is read as a decimal (never a float; an xlsx number cell as Excel shows it, to
15 significant digits), multiplied by its unit (元 1, 万/万元 10,000, 亿/亿元 100,000,000) and must then be
whole fen and within huiqi.money's bound; the forms registers write (￥, full-width digits, thousands
separators) are read by ``huiqi.firms.numbers``, anything ambiguous refused. Every problem is reported
with the table, file, row number (as a spreadsheet shows it: the header is row 1), column header, value
and what was expected.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from huiqi.firms.io import BoundedLoader
from huiqi.firms.numbers import UNITS, NumberError, normalise, parse_amount, parse_count, unit_name
from huiqi.firms.register import MANIFEST
from huiqi.firms.sheets import (
    Sheet,
    SheetError,
    Unreadable,
    Verbatim,
    blank,
    check_span,
    column_letter,
    read_csv,
    read_parquet,
    read_text,
    read_xlsx,
    sheet_names,
)
from huiqi.firms.table import CHILD_TABLES, FIRM_COLUMNS, MONEY, YEAR_MAPS
from huiqi.firms.uscc import UsccError, validate_uscc
from huiqi.money import BOUND_TEXT, MAX_MAGNITUDE

FORMATS = (".csv", ".xlsx", ".parquet")
TRUE = {"true", "1", "yes", "y", "是", "有", "t"}
FALSE = {"false", "0", "no", "n", "否", "无", "f"}
#: the one bound on numbers from outside (huiqi.money): amounts in yuan and counts alike
MAX_MONEY = Decimal(MAX_MAGNITUDE)
MAX_COUNT = MAX_MAGNITUDE
TABLE_NAMES = ("firms", *CHILD_TABLES)
_STRING, _BOOL, _DATE, _INT = pa.string(), pa.bool_(), pa.date32(), pa.int64()


class ImportError_(ValueError):
    """The source or the mapping cannot be read at all (as opposed to bad rows, see ``RowProblem``);
    ``why`` and ``figures`` (file, sheet, cell, column, value, what was expected) let a page word it."""

    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(message)
        self.message, self.why, self.figures = message, why, figures


@dataclass(frozen=True)
class RowProblem:
    """One bad value: where it is and what was expected."""

    table: str
    source: str
    row: int
    column: str
    value: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.source} row {self.row}, column {self.column!r}"
        return f"{where}: {self.value!r} -- expected {self.expected}"


@dataclass
class ColumnRule:
    header: str
    to: str
    unit: Decimal = Decimal(1)
    formats: tuple[str, ...] = ("%Y-%m-%d",)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableMapping:
    columns: dict[str, ColumnRule] = field(default_factory=dict)
    file: str | None = None
    sheet: str | None = None
    ignore: set[str] = field(default_factory=set)
    #: the row holding the headers (title rows above it are skipped); None: the first non-empty row
    header_row: int | None = None
    encoding: str | None = None  # of a CSV file; None: detected
    delimiter: str | None = None  # of a CSV file; None: a comma, or a tab when the header has only tabs
    fill_merged: bool = False  # merged data cells: give each cell the range's value (else refused)


@dataclass
class ParsedRow:
    table: str
    source: str
    row: int
    values: dict[str, Any]
    raw: dict[str, Any]


@dataclass
class ImportBatch:
    """What a source holds, checked: good rows per table, problems, and the rows they reject."""

    source: str
    rows: dict[str, list[ParsedRow]] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    rejected: list[tuple[ParsedRow, list[RowProblem]]] = field(default_factory=list)
    #: layout columns of ``firms`` the source provides (others keep their stored values on re-import)
    firm_columns: set[str] = field(default_factory=set)

    @property
    def tables(self) -> list[str]:
        return [t for t in TABLE_NAMES if t in self.rows]


def layout_type(table: str, column: str) -> pa.DataType | None:
    if table == "firms":
        if column in FIRM_COLUMNS:
            return FIRM_COLUMNS[column]
        prefix, _, year = column.rpartition("_")
        if prefix in YEAR_MAPS and year.isdigit() and len(year) == 4:
            return MONEY
        return None
    if column == "uscc":
        return pa.string()
    return CHILD_TABLES[table].get(column)


# -- the mapping file -----------------------------------------------------------------------------------
TABLE_KEYS = ("columns", "file", "sheet", "ignore", "header_row", "encoding", "delimiter", "merged")


def load_mapping(path: str | Path | None) -> dict[str, TableMapping]:
    """A mapping file (YAML, in any encoding ``sheets.read_text`` can tell) as each table's rules."""
    if path is None:
        return {}
    p = Path(path)
    try:
        data = yaml.load(read_text(p), Loader=BoundedLoader)  # nosec B506  # a SafeLoader, bounded
    except SheetError as exc:
        raise ImportError_(f"{exc} (the mapping file)") from None
    except yaml.YAMLError as exc:
        raise ImportError_(f"{p}: not valid YAML: {exc}", why="not_yaml", file=str(p)) from None
    if not isinstance(data, dict):
        raise ImportError_(
            f"{p}: expected a mapping of table names ({', '.join(TABLE_NAMES)})",
            why="mapping_not_tables",
            file=str(p),
            tables=", ".join(TABLE_NAMES),
        )
    out: dict[str, TableMapping] = {}
    for table, spec in data.items():
        where = f"{p}: {table}"
        if table not in TABLE_NAMES:
            raise ImportError_(
                f"{where}: unknown table; expected one of {', '.join(TABLE_NAMES)}",
                why="unknown_table",
                where=where,
                tables=", ".join(TABLE_NAMES),
            )
        if not isinstance(spec, dict):
            raise ImportError_(
                f"{where}: expected {', '.join(TABLE_KEYS)}",
                why="table_not_keys",
                where=where,
                keys=", ".join(TABLE_KEYS),
            )
        unknown = set(spec) - set(TABLE_KEYS)
        if unknown:
            raise ImportError_(
                f"{where}: unknown key {sorted(unknown)[0]!r} ({', '.join(TABLE_KEYS)})",
                why="unknown_key",
                where=where,
                key=sorted(unknown)[0],
                keys=", ".join(TABLE_KEYS),
            )
        mapping = TableMapping(
            file=_optional_text(spec, "file", where),
            sheet=_optional_text(spec, "sheet", where),
            ignore={str(h).strip() for h in spec.get("ignore") or []},
            encoding=_optional_text(spec, "encoding", where),
            delimiter=_optional_text(spec, "delimiter", where),
        )
        header_row = spec.get("header_row")
        if header_row is not None:
            if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
                raise ImportError_(
                    f"{where}.header_row: expected a row number (1 is the first row)",
                    why="bad_header_row",
                    where=where,
                )
            mapping.header_row = header_row
        merged = spec.get("merged", "refuse")
        if merged not in ("refuse", "fill"):
            raise ImportError_(
                f"{where}.merged: expected refuse or fill (each cell of a merged range)",
                why="bad_merged",
                where=where,
            )
        mapping.fill_merged = merged == "fill"
        if mapping.delimiter is not None and len(mapping.delimiter) != 1:
            raise ImportError_(
                f"{where}.delimiter: expected one character, e.g. ';' or a tab",
                why="bad_delimiter",
                where=where,
            )
        if mapping.encoding is not None:
            try:
                codecs.lookup(mapping.encoding)
            except LookupError:
                raise ImportError_(
                    f"{where}.encoding: unknown encoding {mapping.encoding!r}",
                    why="unknown_encoding",
                    where=where,
                    encoding=mapping.encoding,
                ) from None
        for header, rule in (spec.get("columns") or {}).items():
            name = str(header).strip()
            mapping.columns[name] = _rule(name, rule, table, f"{where}.columns.{header}")
        out[table] = mapping
    return out


def _optional_text(spec: dict[str, Any], key: str, where: str) -> str | None:
    value = spec.get(key)
    if value is not None and not isinstance(value, str):
        raise ImportError_(f"{where}.{key}: expected text", why="not_text", where=where, key=key)
    return value


def _rule(header: str, rule: Any, table: str, where: str) -> ColumnRule:
    if isinstance(rule, str):
        rule = {"to": rule}
    if not isinstance(rule, dict) or not isinstance(rule.get("to"), str):
        raise ImportError_(
            f"{where}: expected a layout column name or {{to: column, ...}}", why="bad_rule", where=where
        )
    unknown = set(rule) - {"to", "unit", "format", "values"}
    if unknown:
        raise ImportError_(
            f"{where}: unknown key {sorted(unknown)[0]!r} (to, unit, format, values)",
            why="unknown_rule_key",
            where=where,
            key=sorted(unknown)[0],
        )
    to = rule["to"]
    typ = layout_type(table, to)
    if typ is None:
        raise ImportError_(
            f"{where}: {to!r} is not a column of the {table} table",
            why="not_a_column",
            where=where,
            column=to,
            table=table,
        )
    out = ColumnRule(header, to)
    if "unit" in rule:
        if rule["unit"] not in UNITS:
            raise ImportError_(
                f"{where}: unit {rule['unit']!r}; expected one of {', '.join(UNITS)}",
                why="unknown_unit",
                where=where,
                unit=str(rule["unit"]),
                units=", ".join(UNITS),
            )
        if typ != MONEY:
            raise ImportError_(
                f"{where}: a unit only applies to money columns, {to} is {typ}",
                why="unit_not_money",
                where=where,
                column=to,
            )
        out.unit = UNITS[rule["unit"]]
    if "format" in rule:
        formats = rule["format"]
        out.formats = tuple([formats] if isinstance(formats, str) else formats)
        if not out.formats or not all(isinstance(f, str) for f in out.formats):
            raise ImportError_(
                f"{where}: format must be a date format or a list of them", why="bad_format", where=where
            )
    if "values" in rule:
        if not isinstance(rule["values"], dict):
            raise ImportError_(
                f"{where}: values must map register values to layout values", why="bad_values", where=where
            )
        out.values = {str(k): v for k, v in rule["values"].items()}
    return out


# -- reading sources ------------------------------------------------------------------------------------
def read_sheet(path: Path, sheet: str | None, spec: TableMapping | None) -> Sheet:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(
            path, encoding=spec.encoding if spec else None, delimiter=spec.delimiter if spec else None
        )
    if suffix == ".parquet":
        return read_parquet(path)
    if suffix == ".xlsx":
        return read_xlsx(path, sheet)
    raise ImportError_(
        f"{path}: unsupported format {suffix!r}; expected one of {', '.join(FORMATS)}",
        why="unreadable_format",
        file=str(path),
        suffix=suffix,
        formats=", ".join(FORMATS),
    )


def _header_text(value: Any) -> str:
    return "" if blank(value) else _text(value).strip(" \u3000\xa0\t\r\n")


def grid(sheet: Sheet, spec: TableMapping | None) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header and the rows under it as {header: value}; refuses what would silently lose data:
    a header twice, data under an empty header cell or beyond the header, merged header cells, merged
    data cells (unless ``merged: fill``)."""
    label = sheet.label
    if not sheet.rows:
        return [], []
    wanted = spec.header_row if spec is not None else None
    if wanted is None:
        at = 0
    else:
        at = next((i for i, (n, _) in enumerate(sheet.rows) if n == wanted), -1)
        if at < 0:
            raise ImportError_(
                f"{label}: header_row {wanted} is empty or beyond the last row",
                why="header_row_missing",
                sheet=label,
                row=wanted,
            )
    number, cells = sheet.rows[at]
    header = [_header_text(v) for v in cells]
    rows = sheet.rows[at + 1 :]
    _check_merged(sheet, number, rows, fill=spec is not None and spec.fill_merged, width=len(header))
    seen: dict[str, int] = {}
    ignored = spec.ignore if spec is not None else set()
    headless = [col for col, h in enumerate(header) if not h]
    for col, h in enumerate(header):
        if h and h in seen and h not in ignored:
            first = seen[h]
            raise ImportError_(
                f"{label}: columns {column_letter(first)} ({column_letter(first)}{number}) and "
                f"{column_letter(col)} ({column_letter(col)}{number}) both have the header {h!r}; "
                "rename one (a header must name one column)",
                why="header_twice",
                sheet=label,
                first=f"{column_letter(first)}{number}",
                second=f"{column_letter(col)}{number}",
                header=h,
            )
        seen.setdefault(h, col)
    for row, values in rows:
        if not headless and len(values) <= len(header):
            continue
        for col, value in enumerate(values):
            if blank(value) or (col < len(header) and header[col]):
                continue
            where = f"{column_letter(col)}{row}"
            last = len(header) - 1
            why = (
                f"its header cell {column_letter(col)}{number} is empty"
                if col < len(header)
                else f"it is beyond the header (row {number} ends at {column_letter(last)}{number}, "
                f"{header[last]!r})"
            )
            hint = "" if wanted else "; if the headers are below a title, say header_row: N in the mapping"
            raise ImportError_(
                f"{label}: cell {where} holds {shown(value)!r} but {why}; give the column a header "
                f"(and list it under ignore: to skip it){hint}",
                why="under_empty_header" if col < len(header) else "beyond_header",
                sheet=label,
                cell=where,
                value=shown(value),
                header_cell=f"{column_letter(col)}{number}",
                last_cell=f"{column_letter(last)}{number}",
                last_header=header[last],
            )
    out = [(row, {h: v for h, v in zip(header, values, strict=False) if h}) for row, values in rows]
    return [h for h in header if h], out


def _check_merged(
    sheet: Sheet, header_row: int, rows: list[tuple[int, list[Any]]], *, fill: bool, width: int
) -> None:
    by_number = {n: cells for n, cells in rows}
    last_row = max(by_number, default=header_row)
    for r1, c1, r2, c2 in sheet.merged:
        if r2 < header_row or (r1 == r2 and c1 == c2):
            continue  # title rows above the header
        ref = f"{column_letter(c1 - 1)}{r1}:{column_letter(c2 - 1)}{r2}"
        if r1 <= header_row:
            raise ImportError_(
                f"{sheet.label}: header cells {ref} are merged; unmerge them so that every column has "
                "its own header on one row (header_row: says which row that is)",
                why="merged_header",
                sheet=sheet.label,
                cells=ref,
            )
        if not fill:
            raise ImportError_(
                f"{sheet.label}: cells {ref} are merged, so only {column_letter(c1 - 1)}{r1} holds a value; "
                "unmerge and fill them, or say merged: fill in the mapping to give each cell that value",
                why="merged_cells",
                sheet=sheet.label,
                cells=ref,
                cell=f"{column_letter(c1 - 1)}{r1}",
            )
        if r2 > last_row or c2 > width:  # filled, it would make rows and columns of nothing else
            raise ImportError_(
                f"{sheet.label}: cells {ref} are merged beyond the table (its last row is {last_row}, its "
                f"last column {column_letter(width - 1)}); unmerge the cells below or right of it",
                why="merged_beyond",
                sheet=sheet.label,
                cells=ref,
                row=last_row,
                column=column_letter(width - 1),
            )
        top = by_number.get(r1, [])
        value = top[c1 - 1] if c1 - 1 < len(top) else None
        for r in range(r1, r2 + 1):
            cells = by_number.get(r)
            if cells is None:
                cells = []
                rows.append((r, cells))
                by_number[r] = cells
            cells += [None] * (c2 - len(cells))
            for c in range(c1 - 1, c2):
                cells[c] = value
    rows.sort(key=lambda item: item[0])


def table_sources(source: Path, mapping: dict[str, TableMapping]) -> dict[str, tuple[Path, str | None]]:
    """table -> (file, sheet); a workbook's sheet whose cells span far more than they fill is refused
    here, before any reader lays that span out."""
    found = _table_sources(source, mapping)
    for path, sheet in found.values():
        if not path.is_file():  # a device or a pipe (a link to /dev/zero) is read without end
            raise ImportError_(f"{path}: not a file", why="not_a_file", file=str(path))
        if path.suffix.lower() == ".xlsx":
            check_span(path, sheet)
    return found


def _check_unclaimed(source: Path, found: dict[str, tuple[Path, str | None]]) -> None:
    """Refuse a folder holding a register file no table reads (``offices (1).csv`` beside firms.csv, a
    workbook the mapping does not name): it was passed over without a word. A register directory huiqi
    wrote (its manifest) holds its digests and history beside its tables."""
    if (source / MANIFEST).exists():
        return
    claimed = {path.resolve() for path, _ in found.values()}
    for f in sorted(source.iterdir()):
        if f.suffix.lower() in FORMATS and not f.name.startswith(".") and f.resolve() not in claimed:
            raise ImportError_(
                f"{source}: {f.name} is not a table of the register (firms.csv, offices.csv, ...) nor a file "
                "the mapping names (file:); rename it, name it in the mapping, or move it out of the folder",
                why="unclaimed_file",
                source=str(source),
                file=f.name,
            )


def _table_sources(source: Path, mapping: dict[str, TableMapping]) -> dict[str, tuple[Path, str | None]]:
    out: dict[str, tuple[Path, str | None]] = {}
    if source.is_dir():
        for table in TABLE_NAMES:
            m = mapping.get(table)
            if m is not None and m.file:
                f = source / m.file
                if not f.exists():
                    raise ImportError_(
                        f"{f}: not found (the mapping's file for {table})",
                        why="mapping_file_missing",
                        file=str(f),
                        table=table,
                    )
                out[table] = (f, m.sheet)
                continue
            found = [source / f"{table}{ext}" for ext in FORMATS if (source / f"{table}{ext}").exists()]
            if len(found) > 1:
                raise ImportError_(
                    f"{source}: both {found[0].name} and {found[1].name}; keep one",
                    why="two_files",
                    source=str(source),
                    first=found[0].name,
                    second=found[1].name,
                )
            if found:
                out[table] = (found[0], m.sheet if m else None)
        if "firms" not in out and not out:
            raise ImportError_(
                f"{source}: no table files (expected firms.csv, offices.csv, ... )",
                why="no_table_files",
                source=str(source),
            )
        _check_unclaimed(source, out)
        return out
    if not source.exists():
        raise ImportError_(f"{source}: not found", why="source_missing", source=str(source))
    if source.suffix.lower() == ".xlsx":
        sheets = sheet_names(source)
        for table in TABLE_NAMES:
            m = mapping.get(table)
            name = m.sheet if m is not None and m.sheet else table
            if name in sheets:
                out[table] = (source, name)
            elif m is not None and m.sheet:
                raise ImportError_(
                    f"{source}: no sheet named {m.sheet!r} (sheets: {', '.join(sheets)})",
                    why="no_sheet",
                    source=str(source),
                    sheet=m.sheet,
                    sheets=", ".join(sheets),
                )
        if not out:
            if len(sheets) == 1:
                return {"firms": (source, sheets[0])}
            raise ImportError_(
                f"{source}: no sheet named after a table ({', '.join(TABLE_NAMES)}) or in the mapping",
                why="no_table_sheet",
                source=str(source),
                tables=", ".join(TABLE_NAMES),
            )
        return out
    if source.suffix.lower() not in FORMATS:
        raise ImportError_(
            f"{source}: unsupported format; expected one of {', '.join(FORMATS)} or a folder",
            why="unsupported_source",
            source=str(source),
            formats=", ".join(FORMATS),
        )
    return {"firms": (source, None)}


# -- values ---------------------------------------------------------------------------------------------
class BadValue(ValueError):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    return str(value).strip()


def _string(value: Any) -> str:
    """Text kept as written but for edge spaces; an escaped CSV cell exactly."""
    if isinstance(value, Verbatim):
        return str(value)
    if isinstance(value, str):
        return value.strip(" \u3000\xa0")
    return _text(value)


def _count(value: Any) -> int:
    try:
        d = value if isinstance(value, Decimal) else parse_count(_text(value))
    except NumberError as exc:
        raise BadValue(str(exc)) from None
    if not d.is_finite() or d.adjusted() > 18 or d != d.to_integral_value() or abs(d) > MAX_COUNT:
        raise BadValue(f"a whole number of at most {BOUND_TEXT}")
    return int(d)


def _amount(value: Any, rule: ColumnRule | None) -> Decimal:
    unit = rule.unit if rule else Decimal(1)
    if isinstance(value, bool):
        raise BadValue(f"an amount in {unit_name(unit)}")
    try:
        yuan = value * unit if isinstance(value, Decimal) else parse_amount(_text(value), unit)
    except NumberError as exc:
        raise BadValue(str(exc)) from None
    if not yuan.is_finite():
        raise BadValue("a finite amount")
    if yuan and (yuan.adjusted() > 30 or abs(yuan) > MAX_MONEY):
        raise BadValue(f"an amount of at most {BOUND_TEXT} yuan")
    if yuan != yuan.quantize(Decimal("0.01")):
        shown = _text(value)
        raise BadValue(f"whole fen (at most 2 decimals in yuan); {shown} {unit_name(unit)} = {yuan} yuan")
    return yuan.quantize(Decimal("0.01"))


def convert(value: Any, typ: pa.DataType | None, rule: ColumnRule | None) -> Any:
    """A register value as the layout's type; raises BadValue with what was expected."""
    if isinstance(value, Unreadable):
        raise BadValue(value.reason)
    if blank(value):
        return None
    if rule is not None and rule.values:
        key = _string(value)
        if key in rule.values:
            value = rule.values[key]
            if value is None:
                return None
        elif typ == _STRING:
            raise BadValue("one of " + ", ".join(repr(k) for k in rule.values))
    if typ == _STRING:
        text = _string(value)
        if "\x00" in text:
            raise BadValue("text without a NUL character (U+0000: no database stores one)")
        return text
    if typ == _BOOL:
        if isinstance(value, bool):
            return value
        t = normalise(_text(value)).lower()
        if t in TRUE:
            return True
        if t in FALSE:
            return False
        raise BadValue("yes or no (true/false, 1/0, 是/否)")
    if typ == _DATE:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        t = normalise(_text(value))  # ２０２３年５月１日 as typed with a Chinese input method
        for fmt in rule.formats if rule else ("%Y-%m-%d",):
            try:
                return dt.datetime.strptime(t, fmt).date()
            except ValueError:
                continue
        return _raise_date(rule)
    if typ == _INT:
        return _count(value)
    if typ == MONEY:
        return _amount(value, rule)
    raise BadValue(str(typ))  # pragma: no cover - the layout has no other types


def _raise_date(rule: ColumnRule | None) -> Any:
    fmts = rule.formats if rule else ("%Y-%m-%d",)
    examples = [dt.date(2024, 3, 9).strftime(f) for f in fmts]
    raise BadValue("a date like " + " or ".join(examples))


# -- parsing --------------------------------------------------------------------------------------------
def read_source(
    source: str | Path, mapping: dict[str, TableMapping] | None = None, *, known: set[str] | None = None
) -> ImportBatch:
    """Read and check every row of a source. ``known``: credit codes already in the register (child rows
    may refer to them without the firm being in this import)."""
    try:
        return _read_source(Path(source), mapping or {}, known or set())
    except SheetError as exc:
        raise ImportError_(str(exc)) from None


def _read_source(src: Path, mapping: dict[str, TableMapping], known: set[str]) -> ImportBatch:
    batch = ImportBatch(str(src))
    files = table_sources(src, mapping)
    for table in TABLE_NAMES:
        if table not in files:
            continue
        path, sheet_name = files[table]
        sheet = read_sheet(path, sheet_name, mapping.get(table))
        label = sheet.label
        header, rows = grid(sheet, mapping.get(table))
        rules = header_rules(table, header, mapping.get(table), label)
        if table == "firms":
            batch.firm_columns = {r.to for r in rules.values()}
        parsed_rows: list[ParsedRow] = []
        columns = [(h, rule, layout_type(table, rule.to)) for h, rule in rules.items()]
        uscc_header = next(h for h, r in rules.items() if r.to == "uscc")
        for number, raw in rows:
            values: dict[str, Any] = {}
            problems: list[RowProblem] = []
            for h, rule, typ in columns:
                value = raw.get(h)
                try:
                    values[rule.to] = convert(value, typ, rule)
                except BadValue as bad:
                    problems.append(RowProblem(table, label, number, h, shown(value), bad.expected))
            code = values.get("uscc")
            if code is None and not any(p.column == uscc_header for p in problems):
                problems.append(RowProblem(table, label, number, uscc_header, "", "a credit code (required)"))
            elif code is not None:
                try:
                    values["uscc"] = validate_uscc(code)
                except UsccError as exc:
                    problems.append(RowProblem(table, label, number, uscc_header, code, str(exc)))
            row = ParsedRow(table, label, number, values, raw)
            if problems:
                batch.problems += problems
                batch.rejected.append((row, problems))
            else:
                parsed_rows.append(row)
        batch.rows[table] = parsed_rows
    _check_keys(batch, known)
    return batch


def shown(value: Any) -> str:
    if isinstance(value, Unreadable):
        return value.shown
    return "" if value is None else _text(value)


def header_rules(
    table: str, header: list[str], mapping: TableMapping | None, label: str
) -> dict[str, ColumnRule]:
    rules: dict[str, ColumnRule] = {}
    for h in header:
        if not h or (mapping is not None and h in mapping.ignore):
            continue
        if mapping is not None and h in mapping.columns:
            rules[h] = mapping.columns[h]
        elif layout_type(table, h) is not None:
            rules[h] = ColumnRule(h, h)
        else:
            hint = (
                ""
                if mapping is not None and mapping.header_row
                else "; if the headers are below a title, say header_row: N"
            )
            if len(header) == 1 and (";" in h or "|" in h):
                sep = ";" if ";" in h else "|"
                hint = f"; the file looks separated by {sep!r}: say delimiter: in the mapping"
            raise ImportError_(
                f"{label}: column {h!r} is neither in the mapping nor a column of the {table} table "
                f"(map it, or list it under ignore:){hint}",
                why="unknown_column_separated"
                if len(header) == 1 and (";" in h or "|" in h)
                else "unknown_column",
                sheet=label,
                column=h,
                table=table,
                separator=";" if ";" in h else "|",
            )
    targets = [r.to for r in rules.values()]
    dupes = {t for t in targets if targets.count(t) > 1}
    if dupes:
        raise ImportError_(
            f"{label}: two columns map to {sorted(dupes)[0]!r}",
            why="two_to_one",
            sheet=label,
            column=sorted(dupes)[0],
        )
    if "uscc" not in targets:
        raise ImportError_(
            f"{label}: no column holds the credit code (uscc); map one to uscc", why="no_uscc", sheet=label
        )
    if mapping is not None:
        missing = [h for h in mapping.columns if h not in header]
        if missing:
            raise ImportError_(
                f"{label}: the mapping names column {missing[0]!r}, which the file lacks",
                why="mapping_column_missing",
                sheet=label,
                column=missing[0],
            )
    return rules


def _check_keys(batch: ImportBatch, known: set[str]) -> None:
    """A firm once per import; child rows must belong to a firm of this import or of the register."""
    seen: dict[str, int] = {}
    good: list[ParsedRow] = []
    for row in batch.rows.get("firms", []):
        code = row.values["uscc"]
        if code in seen:
            p = RowProblem(
                "firms", row.source, row.row, "uscc", code, f"a credit code once (also row {seen[code]})"
            )
            batch.problems.append(p)
            batch.rejected.append((row, [p]))
        else:
            seen[code] = row.row
            good.append(row)
    if "firms" in batch.rows:
        batch.rows["firms"] = good
    firms = set(seen) | known
    for table in CHILD_TABLES:
        kept = []
        for row in batch.rows.get(table, []):
            if row.values["uscc"] not in firms:
                p = RowProblem(
                    table,
                    row.source,
                    row.row,
                    "uscc",
                    row.values["uscc"],
                    "a firm of this import or the register",
                )
                batch.problems.append(p)
                batch.rejected.append((row, [p]))
            else:
                kept.append(row)
        if table in batch.rows:
            batch.rows[table] = kept


def write_rejected(batch: ImportBatch, path: str | Path) -> Path:
    """The rejected rows with their reasons, as CSV (table, file, row, problems, then the row's values);
    a value that a spreadsheet would run as a formula is escaped, as in an export."""
    from huiqi.firms.exporting import escape_csv_cell as cell

    out = Path(path)
    headers: list[str] = []
    for row, _ in batch.rejected:
        headers += [str(h) for h in row.raw if str(h) not in headers]
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "file", "row", "problems", *[cell(h) for h in headers]])
        for row, problems in sorted(batch.rejected, key=lambda r: (r[0].source, r[0].row)):
            reasons = "; ".join(f"{p.column}: {p.value!r}, expected {p.expected}" for p in problems)
            values = [cell(shown(row.raw.get(h))) for h in headers]
            w.writerow([row.table, cell(row.source), row.row, cell(reasons), *values])
    return out


# -- canonical records: one JSON document a firm (what the store keeps and what history compares) -------
Record = dict[str, Any]


def encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def decode(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    if typ == MONEY:
        return Decimal(value)
    if typ == pa.date32():
        return dt.date.fromisoformat(value)
    return value


def records_from_tables(tables: dict[str, pa.Table]) -> dict[str, Record]:
    """Every firm of a register's tables as ``{"firm": {column: value}, "offices": [...], ...}``; nulls are
    left out of ``firm`` so that a register's year columns do not make every record differ."""
    out: dict[str, Record] = {}
    for row in tables["firms"].to_pylist():
        firm = {k: encode(v) for k, v in row.items() if v is not None}
        out[row["uscc"]] = {"firm": firm, **{t: [] for t in CHILD_TABLES}}
    for table in CHILD_TABLES:
        if table not in tables:
            continue
        for row in tables[table].to_pylist():
            code = row.pop("uscc")
            if code in out:
                out[code][table].append({k: encode(v) for k, v in row.items() if v is not None})
    return out


def record_years(records: Iterator[Record] | list[Record]) -> list[int]:
    years: set[int] = set()
    for r in records:
        for k in r["firm"]:
            prefix, _, year = k.rpartition("_")
            if prefix in YEAR_MAPS and year.isdigit():
                years.add(int(year))
    return sorted(years)


def tables_from_records(records: list[Record], years: list[int] | None = None) -> dict[str, pa.Table]:
    """The columnar layout of canonical records (the inverse of ``records_from_tables``)."""
    from huiqi.firms.table import child_schema, firm_schema

    schema = firm_schema(years if years is not None else record_years(records))
    types = {f.name: f.type for f in schema}
    firm_rows = [{n: decode(r["firm"].get(n), types[n]) for n in schema.names} for r in records]
    out = {"firms": pa.Table.from_pylist(firm_rows, schema=schema)}
    for table in CHILD_TABLES:
        cschema = child_schema(table)
        ctypes = {f.name: f.type for f in cschema}
        rows = [
            {"uscc": r["firm"]["uscc"], **{n: decode(item.get(n), ctypes[n]) for n in CHILD_TABLES[table]}}
            for r in records
            for item in r.get(table, [])
        ]
        out[table] = pa.Table.from_pylist(rows, schema=cschema)
    return out


def record_digest(record: Record) -> str:
    import hashlib
    import json

    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    """One changed field of one firm: a layout column, or a child table (old and new rows as JSON)."""

    uscc: str
    field: str
    old: str | None
    new: str | None


@dataclass
class Merge:
    records: dict[str, Record]  # the firms this import touches, as they are now
    changes: list[Change]
    added: int = 0
    changed: int = 0
    unchanged: int = 0


def _shown_json(value: Any) -> str | None:
    import json

    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def merge(batch: ImportBatch, existing: dict[str, Record]) -> Merge:
    """Apply an import to the stored records of the firms it names. Columns the source provides replace
    the stored ones (an empty cell means "unknown" and clears the value); columns it lacks are kept. A
    child table the source provides replaces that firm's rows of the table; other child tables are kept."""
    touched = {r.values["uscc"] for rows in batch.rows.values() for r in rows}
    children: dict[str, dict[str, list[dict[str, Any]]]] = {t: {} for t in batch.tables if t != "firms"}
    for table in children:
        for row in batch.rows[table]:
            item = {k: encode(v) for k, v in row.values.items() if k != "uscc" and v is not None}
            children[table].setdefault(row.values["uscc"], []).append(item)
    firm_rows = {r.values["uscc"]: r.values for r in batch.rows.get("firms", [])}
    out = Merge({}, [])
    for code in sorted(touched):
        old = existing.get(code)
        new: Record = (
            {"firm": dict(old["firm"]), **{t: list(old.get(t, [])) for t in CHILD_TABLES}}
            if old is not None
            else {"firm": {"uscc": code}, **{t: [] for t in CHILD_TABLES}}
        )
        if code in firm_rows:
            for col in batch.firm_columns:
                value = encode(firm_rows[code].get(col))
                if value is None:
                    new["firm"].pop(col, None)
                else:
                    new["firm"][col] = value
        for table, by_firm in children.items():
            new[table] = by_firm.get(code, [])
        if old is None:
            out.added += 1
            out.changes.append(Change(code, "*", None, "new firm"))
        elif old == new:
            out.unchanged += 1
            continue
        else:
            out.changed += 1
            out.changes += diff_records(code, old, new)
        out.records[code] = new
    return out


def diff_records(code: str, old: Record, new: Record) -> list[Change]:
    """The changed fields of one firm, as its history records them: layout columns by name, then the
    child tables whose rows differ (old and new rows as JSON)."""
    out = []
    for col in sorted(set(old["firm"]) | set(new["firm"])):
        if old["firm"].get(col) != new["firm"].get(col):
            was, now = old["firm"].get(col), new["firm"].get(col)
            out.append(Change(code, col, _shown_json(was), _shown_json(now)))
    for table in CHILD_TABLES:
        if old.get(table, []) != new.get(table, []):
            out.append(Change(code, table, _shown_json(old.get(table)), _shown_json(new.get(table))))
    return out


def check_profiles(merged: Merge, batch: ImportBatch) -> list[RowProblem]:
    """Every firm as it will be stored must be a valid profile (required fields, value ranges, codes
    of the profile's vocabularies): the problems name the firm's row in the source."""
    where = {r.values["uscc"]: (r.source, r.row) for r in batch.rows.get("firms", [])}
    return profile_problems(list(merged.records.values()), where, batch.source)


def profile_problems(
    records: list[Record], where: dict[str, tuple[str, int]], source: str
) -> list[RowProblem]:
    """The profile model's problems with these records (each firm as it will be stored), naming the
    firm's row in the source (``where``: credit code -> file and row); the bulk import asks this only of
    the firms its vectorised checks doubt, so that both name a problem in the same words."""
    from collections import defaultdict

    from pydantic import ValidationError

    from huiqi.firms.frames import firm_data, table_years
    from huiqi.firms.profile import Firm

    if not records:
        return []
    tables = tables_from_records(records)
    years = table_years(tables["firms"])
    children: dict[str, defaultdict[str, list[dict[str, Any]]]] = {}
    for name in CHILD_TABLES:
        by_firm: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in tables[name].to_pylist():
            by_firm[item.pop("uscc")].append({k: v for k, v in item.items() if v is not None})
        children[name] = by_firm
    problems = []
    for row in tables["firms"].to_pylist():
        data = firm_data(row, years)
        for name in CHILD_TABLES:
            data[name] = children[name].get(row["uscc"], [])
        try:
            Firm.model_validate(data)
        except ValidationError as exc:
            src = where.get(row["uscc"])
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"])
                problems.append(
                    RowProblem(
                        "firms",
                        src[0] if src else source,
                        src[1] if src else 0,
                        loc,
                        shown(err.get("input")) if not isinstance(err.get("input"), dict) else "",
                        f"{err['msg']} (firm {row['uscc']})",
                    )
                )
    return problems


class ImportRefused(ValueError):
    """Bad rows and an all-or-nothing import: nothing was written. ``problems`` has every one of them."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{len(problems)} problem(s); nothing imported (--skip-invalid imports the good rows):\n"
            f"{shown}{more}"
        )


def prepare(batch: ImportBatch, existing: dict[str, Record], *, skip_invalid: bool = False) -> Merge:
    """Check and merge: all-or-nothing unless ``skip_invalid``, when firms with problems (and their child
    rows) are left out and their rows added to ``batch.rejected``."""
    if batch.problems and not skip_invalid:
        raise ImportRefused(batch.problems)
    merged = merge(batch, existing)
    problems = check_profiles(merged, batch)
    if problems:
        if not skip_invalid:
            raise ImportRefused(batch.problems + problems)
        bad = {p.expected.rsplit("(firm ", 1)[-1].rstrip(")") for p in problems}
        for table in batch.tables:
            keep = []
            for row in batch.rows[table]:
                if row.values["uscc"] in bad:
                    mine = [p for p in problems if p.expected.endswith(f"(firm {row.values['uscc']})")]
                    batch.rejected.append((row, mine if table == "firms" else []))
                else:
                    keep.append(row)
            batch.rows[table] = keep
        batch.problems += problems
        merged = merge(batch, existing)
    return merged
