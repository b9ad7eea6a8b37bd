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
in a table's mapping lists headers to skip on purpose.

Money is exact: a value is read as a decimal string (never a float), multiplied by its unit (元 1,
万元 10,000, 亿元 100,000,000) and must then be whole fen. Excel stores numbers as binary floats; a cell is
read through its shortest decimal representation (1234.56 stays 1234.56), which is the number the person
typed. Every problem is reported with the table, file, row number (as a spreadsheet shows it: the header
is row 1), column header, value and what was expected.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from huiqi.firms.table import CHILD_TABLES, FIRM_COLUMNS, MONEY, YEAR_MAPS
from huiqi.firms.uscc import UsccError, validate_uscc

FORMATS = (".csv", ".xlsx", ".parquet")
UNITS = {"元": Decimal(1), "yuan": Decimal(1), "万元": Decimal(10_000), "亿元": Decimal(100_000_000)}
TRUE = {"true", "1", "yes", "y", "是", "有", "t"}
FALSE = {"false", "0", "no", "n", "否", "无", "f"}
MAX_MONEY = Decimal(10) ** 16  # decimal128(18, 2)
TABLE_NAMES = ("firms", *CHILD_TABLES)


class ImportError_(ValueError):
    """The source or the mapping cannot be read at all (as opposed to bad rows, see ``RowProblem``)."""


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
def load_mapping(path: str | Path | None) -> dict[str, TableMapping]:
    if path is None:
        return {}
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportError_(f"{p}: cannot read the mapping file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ImportError_(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ImportError_(f"{p}: expected a mapping of table names ({', '.join(TABLE_NAMES)})")
    out: dict[str, TableMapping] = {}
    for table, spec in data.items():
        where = f"{p}: {table}"
        if table not in TABLE_NAMES:
            raise ImportError_(f"{where}: unknown table; expected one of {', '.join(TABLE_NAMES)}")
        if not isinstance(spec, dict):
            raise ImportError_(f"{where}: expected columns:, and optionally file:, sheet:, ignore:")
        unknown = set(spec) - {"columns", "file", "sheet", "ignore"}
        if unknown:
            raise ImportError_(f"{where}: unknown key {sorted(unknown)[0]!r}")
        mapping = TableMapping(
            file=spec.get("file"), sheet=spec.get("sheet"), ignore={str(h) for h in spec.get("ignore", [])}
        )
        for header, rule in (spec.get("columns") or {}).items():
            mapping.columns[str(header)] = _rule(str(header), rule, table, f"{where}.columns.{header}")
        out[table] = mapping
    return out


def _rule(header: str, rule: Any, table: str, where: str) -> ColumnRule:
    if isinstance(rule, str):
        rule = {"to": rule}
    if not isinstance(rule, dict) or not isinstance(rule.get("to"), str):
        raise ImportError_(f"{where}: expected a layout column name or {{to: column, ...}}")
    unknown = set(rule) - {"to", "unit", "format", "values"}
    if unknown:
        raise ImportError_(f"{where}: unknown key {sorted(unknown)[0]!r} (to, unit, format, values)")
    to = rule["to"]
    typ = layout_type(table, to)
    if typ is None:
        raise ImportError_(f"{where}: {to!r} is not a column of the {table} table")
    out = ColumnRule(header, to)
    if "unit" in rule:
        if rule["unit"] not in UNITS:
            raise ImportError_(f"{where}: unit {rule['unit']!r}; expected one of {', '.join(UNITS)}")
        if typ != MONEY:
            raise ImportError_(f"{where}: a unit only applies to money columns, {to} is {typ}")
        out.unit = UNITS[rule["unit"]]
    if "format" in rule:
        formats = rule["format"]
        out.formats = tuple([formats] if isinstance(formats, str) else formats)
    if "values" in rule:
        if not isinstance(rule["values"], dict):
            raise ImportError_(f"{where}: values must map register values to layout values")
        out.values = {str(k): v for k, v in rule["values"].items()}
    return out


# -- reading sources ------------------------------------------------------------------------------------
def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            return
        yield 1, {"": header}
        for i, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            yield i, dict(zip(header, values, strict=False))


def _read_rows(path: Path, sheet: str | None = None) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Headers and (row number, {header: value}) pairs; row 1 is the header, as a spreadsheet shows it."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = list(_read_csv(path))
        if not rows:
            return [], []
        return list(rows[0][1][""]), rows[1:]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return table.column_names, [(i + 2, r) for i, r in enumerate(table.to_pylist())]
    if suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            ws = book[sheet] if sheet is not None else book.worksheets[0]
            it = ws.iter_rows(values_only=True)
            first = next(it, None)
            if first is None:
                return [], []
            header = [str(h).strip() if h is not None else "" for h in first]
            out = []
            for i, values in enumerate(it, start=2):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                out.append((i, dict(zip(header, values, strict=False))))
            return header, out
        finally:
            book.close()
    raise ImportError_(f"{path}: unsupported format {suffix!r}; expected one of {', '.join(FORMATS)}")


def _sources(source: Path, mapping: dict[str, TableMapping]) -> dict[str, tuple[Path, str | None]]:
    """table -> (file, sheet)."""
    out: dict[str, tuple[Path, str | None]] = {}
    if source.is_dir():
        for table in TABLE_NAMES:
            m = mapping.get(table)
            if m is not None and m.file:
                f = source / m.file
                if not f.exists():
                    raise ImportError_(f"{f}: not found (the mapping's file for {table})")
                out[table] = (f, m.sheet)
                continue
            found = [source / f"{table}{ext}" for ext in FORMATS if (source / f"{table}{ext}").exists()]
            if len(found) > 1:
                raise ImportError_(f"{source}: both {found[0].name} and {found[1].name}; keep one")
            if found:
                out[table] = (found[0], m.sheet if m else None)
        if "firms" not in out and not out:
            raise ImportError_(f"{source}: no table files (expected firms.csv, offices.csv, ... )")
        return out
    if not source.exists():
        raise ImportError_(f"{source}: not found")
    if source.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(source, read_only=True)
        try:
            sheets = list(book.sheetnames)
        finally:
            book.close()
        for table in TABLE_NAMES:
            m = mapping.get(table)
            name = m.sheet if m is not None and m.sheet else table
            if name in sheets:
                out[table] = (source, name)
        if not out:
            if len(sheets) == 1:
                return {"firms": (source, sheets[0])}
            raise ImportError_(
                f"{source}: no sheet named after a table ({', '.join(TABLE_NAMES)}) or in the mapping"
            )
        return out
    if source.suffix.lower() not in FORMATS:
        raise ImportError_(f"{source}: unsupported format; expected one of {', '.join(FORMATS)} or a folder")
    return {"firms": (source, None)}


# -- values ---------------------------------------------------------------------------------------------
class _Bad(ValueError):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value).strip()


def convert(value: Any, typ: pa.DataType, rule: ColumnRule | None) -> Any:
    """A register value as the layout's type; raises _Bad with what was expected."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if rule is not None and rule.values:
        key = _text(value)
        if key in rule.values:
            value = rule.values[key]
            if value is None:
                return None
        elif typ == pa.string():
            raise _Bad("one of " + ", ".join(repr(k) for k in rule.values))
    if typ == pa.string():
        return _text(value)
    if typ == pa.bool_():
        if isinstance(value, bool):
            return value
        t = _text(value).lower()
        if t in TRUE:
            return True
        if t in FALSE:
            return False
        raise _Bad("yes or no (true/false, 1/0, 是/否)")
    if typ == pa.date32():
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        t = _text(value)
        for fmt in rule.formats if rule else ("%Y-%m-%d",):
            try:
                return dt.datetime.strptime(t, fmt).date()
            except ValueError:
                continue
        return _raise_date(rule)
    if typ == pa.int64():
        try:
            d = Decimal(_text(value).replace(",", ""))
        except InvalidOperation:
            raise _Bad("a whole number") from None
        if not d.is_finite() or d != d.to_integral_value() or abs(d) >= 2**63:
            raise _Bad("a whole number")
        return int(d)
    if typ == MONEY:
        if isinstance(value, bool):
            raise _Bad("an amount in yuan")
        text = _text(value).replace(",", "").replace("，", "").removesuffix("元").strip()
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise _Bad("an amount" + (f" in {_unit_name(rule)}" if rule else " in yuan")) from None
        if not d.is_finite():
            raise _Bad("a finite amount")
        yuan = d * (rule.unit if rule else Decimal(1))
        if yuan != yuan.quantize(Decimal("0.01")):
            raise _Bad(f"whole fen (at most 2 decimals in yuan); {text} {_unit_name(rule)} = {yuan} yuan")
        if abs(yuan) >= MAX_MONEY:
            raise _Bad("an amount below 10^16 yuan")
        return yuan.quantize(Decimal("0.01"))
    raise _Bad(str(typ))  # pragma: no cover - the layout has no other types


def _unit_name(rule: ColumnRule | None) -> str:
    unit = rule.unit if rule else Decimal(1)
    return next((k for k, v in UNITS.items() if v == unit), "yuan")


def _raise_date(rule: ColumnRule | None) -> Any:
    fmts = rule.formats if rule else ("%Y-%m-%d",)
    examples = [dt.date(2024, 3, 9).strftime(f) for f in fmts]
    raise _Bad("a date like " + " or ".join(examples))


# -- parsing --------------------------------------------------------------------------------------------
def read_source(
    source: str | Path, mapping: dict[str, TableMapping] | None = None, *, known: set[str] | None = None
) -> ImportBatch:
    """Read and check every row of a source. ``known``: credit codes already in the register (child rows
    may refer to them without the firm being in this import)."""
    mapping = mapping or {}
    src = Path(source)
    batch = ImportBatch(str(src))
    files = _sources(src, mapping)
    for table in TABLE_NAMES:
        if table not in files:
            continue
        path, sheet = files[table]
        label = f"{path.name}" + (f"[{sheet}]" if sheet else "")
        header, rows = _read_rows(path, sheet)
        rules = _header_rules(table, header, mapping.get(table), label)
        if table == "firms":
            batch.firm_columns = {r.to for r in rules.values()}
        parsed_rows: list[ParsedRow] = []
        for number, raw in rows:
            values: dict[str, Any] = {}
            problems: list[RowProblem] = []
            for h, rule in rules.items():
                value = raw.get(h)
                typ = layout_type(table, rule.to)
                assert typ is not None  # nosec B101  # narrows the type for mypy
                try:
                    values[rule.to] = convert(value, typ, rule)
                except _Bad as bad:
                    problems.append(RowProblem(table, label, number, h, _shown(value), bad.expected))
            uscc_header = next(h for h, r in rules.items() if r.to == "uscc")
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
    _check_keys(batch, known or set())
    return batch


def _shown(value: Any) -> str:
    return "" if value is None else _text(value)


def _header_rules(
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
            raise ImportError_(
                f"{label}: column {h!r} is neither in the mapping nor a column of the {table} table "
                "(map it, or list it under ignore:)"
            )
    targets = [r.to for r in rules.values()]
    dupes = {t for t in targets if targets.count(t) > 1}
    if dupes:
        raise ImportError_(f"{label}: two columns map to {sorted(dupes)[0]!r}")
    if "uscc" not in targets:
        raise ImportError_(f"{label}: no column holds the credit code (uscc); map one to uscc")
    if mapping is not None:
        missing = [h for h in mapping.columns if h not in header]
        if missing:
            raise ImportError_(f"{label}: the mapping names column {missing[0]!r}, which the file lacks")
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
    """The rejected rows with their reasons, as CSV (table, file, row, problems, then the row's values)."""
    out = Path(path)
    headers: list[str] = []
    for row, _ in batch.rejected:
        headers += [str(h) for h in row.raw if str(h) not in headers]
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "file", "row", "problems", *headers])
        for row, problems in sorted(batch.rejected, key=lambda r: (r[0].source, r[0].row)):
            reasons = "; ".join(f"{p.column}: {p.value!r}, expected {p.expected}" for p in problems)
            w.writerow([row.table, row.source, row.row, reasons, *[_shown(row.raw.get(h)) for h in headers]])
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
            for col in sorted(set(old["firm"]) | set(new["firm"])):
                if old["firm"].get(col) != new["firm"].get(col):
                    out.changes.append(
                        Change(
                            code, col, _shown_json(old["firm"].get(col)), _shown_json(new["firm"].get(col))
                        )
                    )
            for table in CHILD_TABLES:
                if old.get(table, []) != new[table]:
                    out.changes.append(
                        Change(code, table, _shown_json(old.get(table)), _shown_json(new[table]))
                    )
        out.records[code] = new
    return out


def check_profiles(merged: Merge, batch: ImportBatch) -> list[RowProblem]:
    """Every firm as it will be stored must be a valid profile (required fields, value ranges, codes
    of the profile's vocabularies): the problems name the firm's row in the source."""
    from collections import defaultdict

    from pydantic import ValidationError

    from huiqi.firms.frames import firm_data, table_years
    from huiqi.firms.profile import Firm

    if not merged.records:
        return []
    records = list(merged.records.values())
    tables = tables_from_records(records)
    years = table_years(tables["firms"])
    children: dict[str, defaultdict[str, list[dict[str, Any]]]] = {}
    for name in CHILD_TABLES:
        by_firm: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in tables[name].to_pylist():
            by_firm[item.pop("uscc")].append({k: v for k, v in item.items() if v is not None})
        children[name] = by_firm
    where = {r.values["uscc"]: r for r in batch.rows.get("firms", [])}
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
                        src.source if src else batch.source,
                        src.row if src else 0,
                        loc,
                        _shown(err.get("input")) if not isinstance(err.get("input"), dict) else "",
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
