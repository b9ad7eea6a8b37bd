"""Reading register files as grids of cells: CSV in any common encoding, xlsx cell by cell, Parquet.

A ``Sheet`` is what a file holds, before any header is interpreted: every non-empty row with its number
as a spreadsheet shows it (row 1 is the first line), its cells by column, and the merged ranges of a
workbook. What cannot be read faithfully is never guessed at:

- a file whose bytes are not what its extension says (a CSV renamed ``.xlsx``, an old ``.xls``, a Parquet
  file named ``.csv``) is refused by name;
- text is decoded from a byte-order mark, UTF-8, UTF-16, or GB18030 (which holds GBK and GB2312, what
  Excel saves on a mainland Chinese system) when charset-normalizer finds it plausible; any other
  encoding must be declared (the mapping's ``encoding:``);
- an xlsx number cell is read as Excel shows it: at most 15 significant digits (the binary float
  1200.5000000000002 is the 1200.5 the officer typed and sees), never through a float;
- a formula cell without a calculated value, or an error value (``#DIV/0!``), becomes an ``Unreadable``
  cell that the import reports by row and column.

The xlsx reader reads the workbook's XML itself (openpyxl's streaming reader drops formulas without
values silently and does not expose merged cells).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET  # nosec B405  # expat >= 2.4 limits entity expansion; no DTD fetch

from huiqi.firms.io import ENCODING_SAMPLE, detect_encoding

#: Significant digits Excel keeps and shows of a number.
EXCEL_DIGITS = 15
#: CSV cells beginning with one of these are written with a leading apostrophe (OWASP CSV injection);
#: reading a CSV removes that apostrophe again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class SheetError(ValueError):
    """A file that cannot be read as a table at all; the message names the file and what it holds."""


@dataclass(frozen=True)
class Unreadable:
    """A cell whose value cannot be taken from the file: why, as the import reports it."""

    reason: str
    shown: str = ""

    def __str__(self) -> str:
        return self.shown


class Verbatim(str):
    """Text that must be kept exactly, edge whitespace included (an escaped CSV cell)."""

    __slots__ = ()


@dataclass
class Sheet:
    """A file's cells: ``rows`` are (row number, cells by column index), empty rows left out."""

    label: str
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    #: merged ranges of a workbook: (first row, first column, last row, last column), 1-based
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)


def column_letter(index: int) -> str:
    """Spreadsheet letters of a 0-based column index (0 -> A, 26 -> AA)."""
    out = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def blank(value: Any) -> bool:
    """An empty cell: nothing, or only spaces (an escaped CSV cell is never blank)."""
    return value is None or (isinstance(value, str) and not isinstance(value, Verbatim) and not value.strip())


# -- what a file is -------------------------------------------------------------------------------------
_MAGIC = {
    b"PK\x03\x04": "a zip archive (an xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook or a password-protected workbook",
    b"PAR1": "a Parquet file",
    b"%PDF": "a PDF document",
}


def _kind(head: bytes) -> str | None:
    return next((what for magic, what in _MAGIC.items() if head.startswith(magic)), None)


def check_kind(path: Path, head: bytes) -> None:
    """Refuse a file whose first bytes say it is something other than its extension."""
    suffix = path.suffix.lower()
    kind = _kind(head)
    if suffix == ".xlsx" and not head.startswith(b"PK\x03\x04"):
        if kind is not None:
            raise SheetError(f"{path}: not an xlsx workbook: it is {kind}; save it as .xlsx in Excel")
        raise SheetError(
            f"{path}: not an xlsx workbook (not a zip archive; a CSV or text file renamed .xlsx?): "
            "rename it to .csv if it is one"
        )
    if suffix == ".parquet" and not head.startswith(b"PAR1"):
        raise SheetError(f"{path}: not a Parquet file" + (f": it is {kind}" if kind else ""))
    if suffix == ".csv" and kind is not None:
        raise SheetError(f"{path}: not a CSV text file: it is {kind}; give it its own extension")


# -- text -----------------------------------------------------------------------------------------------
#: how much of a file the encoding is told from (the rest is decoded strictly as it is read)
SAMPLE = ENCODING_SAMPLE


def _encoding(data: bytes, *, source: str, declared: str | None, complete: bool) -> str:
    if declared is not None:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise SheetError(
                f"{source}: unknown encoding {declared!r} (e.g. utf-8, gb18030, utf-16)"
            ) from None
        if declared.replace("-", "").replace("_", "").lower() == "utf8" and data.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        return declared
    found = detect_encoding(data, complete=complete)
    if found is None:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:SAMPLE]).best()
        guess = f" (it may be {best.encoding})" if best is not None else ""
        raise SheetError(
            f"{source}: cannot tell the text encoding: it is not UTF-8, UTF-16 or GB18030/GBK{guess}; "
            "save it as 'CSV UTF-8' or declare the encoding in the mapping (encoding: big5)"
        )
    return found


def decode_text(data: bytes, *, source: str, declared: str | None = None) -> str:
    """Text of a file's bytes: the declared encoding, or a detected one; refused when neither works."""
    encoding = _encoding(data, source=source, declared=declared, complete=True)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SheetError(
            f"{source}: line {line}: bytes {data[exc.start : exc.start + 4]!r} are not valid {encoding}"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise SheetError(f"{source}: line {line}: a NUL character; this is not a text file in {encoding}")
    return text.removeprefix("\ufeff")


def read_text(path: Path, *, declared: str | None = None) -> str:
    """A text file (a mapping) in its encoding; errors name the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"{path}: cannot read: {exc.strerror}") from None
    return decode_text(data, source=str(path), declared=declared)


# -- CSV ------------------------------------------------------------------------------------------------
def unescape_cell(text: str) -> str:
    """A CSV cell as written before its OWASP escape: ``'=x`` -> ``=x``, ``''a`` -> ``'a``."""
    if text.startswith("'") and text[1:].startswith((*FORMULA_TRIGGERS, "'")):
        return Verbatim(text[1:])
    return text


def read_csv(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> Sheet:
    """Every record of a CSV file; a record's number counts records (row 1 the first), as Excel shows.
    The file is read as a stream: its encoding told from its start, the rest decoded strictly."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise SheetError(f"{path}: cannot read: {exc.strerror}") from None
    with raw:
        head = raw.read(SAMPLE)
        check_kind(path, head)
        found = _encoding(head, source=str(path), declared=encoding, complete=len(head) < SAMPLE)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=found, errors="strict", newline="")
        sheet = Sheet(path.name)
        number = 0
        try:
            if delimiter is None:
                first = text.readline()
                delimiter = "\t" if "\t" in first and "," not in first else ","
                text.seek(0)
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            for number, values in enumerate(reader, start=1):
                joined = "".join(values)
                if "\x00" in joined:
                    col = next(i for i, v in enumerate(values) if "\x00" in v)
                    raise SheetError(
                        f"{path}: record {number}, column {column_letter(col)}: a NUL character (no text "
                        f"holds one; a database refuses it); is this a text file in {found}?"
                    )
                cells: list[Any] = [unescape_cell(v) if v[:1] == "'" else v for v in values]
                if number == 1 and cells and cells[0].startswith("\ufeff"):
                    cells[0] = cells[0][1:]
                if joined.strip() or not all(blank(v) for v in cells):
                    sheet.rows.append((number, cells))
        except UnicodeDecodeError as exc:
            raise SheetError(
                f"{path}: record {number + 1}: bytes {exc.object[exc.start : exc.start + 4]!r} are not valid "
                f"{found}; save it as 'CSV UTF-8' or declare the encoding in the mapping"
            ) from None
        except csv.Error as exc:
            hint = " (a quote never closed?)" if "end of data" in str(exc) or "expected" in str(exc) else ""
            raise SheetError(f"{path}: record {number + 1}: {exc}{hint}") from None
    return sheet


# -- xlsx -----------------------------------------------------------------------------------------------
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_REL_STRICT = "{http://purl.oclc.org/ooxml/officeDocument/relationships}id"
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_CELL = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_unescape(text: str) -> str:
    return _ESCAPED.sub(_escaped_char, text)


def _escaped_char(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return m.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)  # a lone surrogate is no character


def _parse(zf: zipfile.ZipFile, name: str, label: str) -> ET.Element:
    try:
        with zf.open(name) as f:
            return ET.parse(f).getroot()  # nosec B314  # see the import
    except KeyError:
        raise SheetError(f"{label}: the workbook lacks its part {name}; is it an xlsx workbook?") from None
    except ET.ParseError as exc:
        raise SheetError(f"{label}: the workbook's part {name} is not valid XML: {exc}") from None


class Workbook:
    """An open xlsx file: its sheet names, shared strings and styles, read lazily sheet by sheet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as f:
                check_kind(path, f.read(8))
            self.zip = zipfile.ZipFile(path)
        except OSError as exc:
            raise SheetError(f"{path}: cannot read: {exc.strerror}") from None
        except zipfile.BadZipFile as exc:
            raise SheetError(f"{path}: not a readable xlsx workbook (a damaged zip archive: {exc})") from None
        try:
            check_unpacked(self.zip, str(path))
            self._load()
        except BaseException:
            self.zip.close()
            raise

    def _load(self) -> None:
        label = str(self.path)
        book = _parse(self.zip, "xl/workbook.xml", label)
        rels = _parse(self.zip, "xl/_rels/workbook.xml.rels", label)
        targets = {r.get("Id"): r.get("Target", "") for r in rels if _local(r.tag) == "Relationship"}
        self.date1904 = False
        self.sheets: dict[str, str] = {}
        for el in book.iter():
            tag = _local(el.tag)
            if tag == "workbookPr":
                self.date1904 = el.get("date1904", "0").lower() in ("1", "true")
            elif tag == "sheet":
                target = targets.get(el.get(_REL) or el.get(_REL_STRICT) or "", "")
                part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                self.sheets[el.get("name", "")] = part
        self._styled: tuple[list[str], set[int]] | None = None

    @property
    def strings(self) -> list[str]:
        """The shared strings, read when a sheet is (listing the sheets reads none of them)."""
        return self._parts()[0]

    @property
    def date_styles(self) -> set[int]:
        return self._parts()[1]

    def _parts(self) -> tuple[list[str], set[int]]:
        if self._styled is None:
            self._styled = (self._shared_strings(), self._date_styles())
        return self._styled

    @property
    def sheet_names(self) -> list[str]:
        return list(self.sheets)

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _shared_strings(self) -> list[str]:
        """Streamed, each item let go once read (a whole tree of millions of items is gigabytes)."""
        name = "xl/sharedStrings.xml"
        if name not in self.zip.namelist():
            return []
        strings: list[str] = []
        try:
            with self.zip.open(name) as f:
                for _, el in ET.iterparse(f):  # nosec B314  # see the import
                    if _local(el.tag) == "si":
                        strings.append(_rich_text(el))
                        el.clear()
        except ET.ParseError as exc:
            raise SheetError(f"{self.path}: the workbook's part {name} is not valid XML: {exc}") from None
        return strings

    def _date_styles(self) -> set[int]:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

        if "xl/styles.xml" not in self.zip.namelist():
            return set()
        root = _parse(self.zip, "xl/styles.xml", str(self.path))
        custom: dict[int, str] = {}
        dates: set[int] = set()
        for el in root:
            if _local(el.tag) == "numFmts":
                for fmt in el:
                    custom[_number(fmt.get("numFmtId"))] = fmt.get("formatCode", "")
        for el in root:
            if _local(el.tag) == "cellXfs":
                for index, xf in enumerate(x for x in el if _local(x.tag) == "xf"):
                    fid = _number(xf.get("numFmtId"))
                    code = custom.get(fid, BUILTIN_FORMATS.get(fid, ""))
                    if is_date_format(code) or 14 <= fid <= 22 or 45 <= fid <= 47 or 27 <= fid <= 36:
                        dates.add(index)
        return dates

    def read(self, name: str | None = None) -> Sheet:
        """One sheet's cells (the first sheet when ``name`` is None)."""
        if not self.sheets:
            raise SheetError(f"{self.path}: the workbook has no sheets")
        name = name if name is not None else next(iter(self.sheets))
        if name not in self.sheets:
            raise SheetError(f"{self.path}: no sheet named {name!r} (sheets: {', '.join(self.sheets)})")
        label = f"{self.path.name}[{name}]"
        sheet = Sheet(label)
        try:
            with self.zip.open(self.sheets[name]) as f:
                self._rows(f, sheet)
        except KeyError:
            raise SheetError(f"{label}: the workbook lacks the sheet's part {self.sheets[name]}") from None
        except ET.ParseError as exc:
            raise SheetError(f"{label}: the sheet is not valid XML: {exc}") from None
        return sheet

    def _rows(self, f: IO[bytes], sheet: Sheet) -> None:
        number = 0
        for _, el in ET.iterparse(f):  # nosec B314  # see the import
            tag = _local(el.tag)
            if tag == "row":
                given = el.get("r")
                if given is not None and not (_digits(given) and 0 < int(given) <= 1_048_576):
                    raise SheetError(f"{sheet.label}: a row numbered {given!r}; rows are 1 to 1,048,576")
                number = int(given) if given is not None else number + 1
                if number > 1_048_576:
                    raise SheetError(f"{sheet.label}: more rows than a sheet holds (1,048,576)")
                cells: list[Any] = []
                for c in el:
                    if _local(c.tag) != "c":
                        continue
                    ref = c.get("r")
                    m = _CELL.fullmatch(ref) if ref else None
                    col = _column_index(m.group(1)) if m else len(cells)
                    if col >= 16_384:
                        raise SheetError(f"{sheet.label}: cell {ref} is beyond the last column XFD")
                    value = self._value(c, f"{column_letter(col)}{number}", sheet.label)
                    if value is not None:
                        cells += [None] * (col - len(cells) + 1)
                        cells[col] = value
                if not all(blank(v) for v in cells):
                    sheet.rows.append((number, cells))
                el.clear()
            elif tag == "mergeCell":
                first, _, last = (el.get("ref") or "").partition(":")
                a, b = _CELL.fullmatch(first), _CELL.fullmatch(last or first)
                if a and b:
                    sheet.merged.append(
                        (
                            int(a.group(2)),
                            _column_index(a.group(1)) + 1,
                            int(b.group(2)),
                            _column_index(b.group(1)) + 1,
                        )
                    )

    def _value(self, c: ET.Element, ref: str, label: str) -> Any:
        kind = c.get("t", "n")
        v = f = inline = None
        for child in c:
            tag = _local(child.tag)
            if tag == "v":
                v = child.text
            elif tag == "f":
                f = child.text or ""
            elif tag == "is":
                inline = _rich_text(child)
        if kind == "inlineStr":
            return inline
        if v is None:
            if f is not None:
                return Unreadable(
                    f"a value, not a formula without a calculated value (={f}); open the file in Excel "
                    "and save it, or paste the values",
                    f"={f}",
                )
            return None
        if kind == "s":
            try:
                if not _digits(v):
                    raise ValueError(v)
                return self.strings[int(v)]
            except (ValueError, IndexError):
                raise SheetError(f"{label}: cell {ref} refers to a missing shared string {v!r}") from None
        if kind == "str":
            return _xml_unescape(v)
        if kind == "b":
            return v.strip() in ("1", "true")
        if kind == "e":
            return Unreadable(f"a value, not the Excel error {v}", v)
        if kind == "d":
            try:
                return dt.datetime.fromisoformat(v.strip())
            except ValueError:
                return Unreadable("a date", v)
        try:
            number = excel_number(v)
        except InvalidOperation:
            raise SheetError(f"{label}: cell {ref} holds {v!r}, which is not a number") from None
        style = c.get("s") or "0"
        if not _digits(style):
            raise SheetError(f"{label}: cell {ref} has the style {style!r}, which is not a style number")
        if int(style) in self.date_styles:
            return self._date(number, ref)
        return number

    def _date(self, serial: Decimal, ref: str) -> Any:
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

        if not serial.is_finite() or not 0 <= serial < 2_958_466:  # 9999-12-31
            return Unreadable("a date (a date cell's serial number out of range)", str(serial))
        value = from_excel(float(serial), CALENDAR_MAC_1904 if self.date1904 else CALENDAR_WINDOWS_1900)
        return value


#: A workbook part may unpack to more than this only at a ratio a zip bomb has, never a sheet of data
#: (sheets of registers unpack 5-30 times; a part of one repeated character, hundreds of times).
MAX_PART_RATIO = 200
UNPACKED_FREE = 16 << 20
#: A sheet's cells may span at most this many times the cells it holds, plus 64 Mi cells (a full
#: sheet of a register: a million rows of 52 columns), since other readers lay the span out as a grid
#: of 32-byte cells: one stray cell at XFD1048576 is 17 billion cells, an abort of the whole process.
SPAN_FACTOR = 50
SPAN_FREE = 1 << 26
_CELL_REF = re.compile(rb"<(?:[A-Za-z]+:)?c\b[^>]*?\sr=\"([A-Za-z]{1,3})([0-9]{1,7})\"")


def check_unpacked(zf: zipfile.ZipFile, label: str) -> None:
    """Refuse a workbook a part of which unpacks far beyond its packed size (a zip bomb)."""
    for info in zf.infolist():
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > UNPACKED_FREE and ratio > MAX_PART_RATIO:
            raise SheetError(
                f"{label}: the workbook's part {info.filename} unpacks to {info.file_size:,} bytes from "
                f"{info.compress_size:,} ({ratio:,.0f} times; a sheet of data is at most "
                f"{MAX_PART_RATIO}): not a workbook Excel saved; save it again in Excel"
            )


def check_span(path: Path, sheet: str | None) -> None:
    """Refuse a sheet whose cells span far more cells than it holds (a stray cell far below or right),
    before any reader lays the span out; the message says where the last cell is."""
    with Workbook(path) as book:
        name = sheet if sheet is not None else next(iter(book.sheets), None)
        part = book.sheets.get(name or "")
        if part is None or part not in book.zip.namelist():
            return  # the reader names what is missing
        rows = cols = count = 0
        lowest = rightmost = ""
        with book.zip.open(part) as f:
            tail = b""
            while chunk := f.read(1 << 22):
                data = tail + chunk
                end = 0
                for m in _CELL_REF.finditer(data):
                    count += 1
                    row, col = int(m.group(2)), _column_index(m.group(1).decode()) + 1
                    if row > rows:
                        rows, lowest = row, f"{column_letter(col - 1)}{row}"
                    if col > cols:
                        cols, rightmost = col, f"{column_letter(col - 1)}{row}"
                    end = m.end()
                tail = data[max(end, len(data) - 256) :]
    if rows * cols > SPAN_FACTOR * count + SPAN_FREE:
        raise SheetError(
            f"{path.name}[{name}]: its {count:,} cells span A1:{column_letter(cols - 1)}{rows} "
            f"({rows * cols:,} cells; the lowest is {lowest}, the rightmost {rightmost}); delete the stray "
            "cells below and right of the table (Ctrl+End in Excel goes to the last one) and save again"
        )


def _number(text: str | None) -> int:
    """A style part's number attribute; what is not one counts as 0 (General)."""
    return int(text) if text is not None and _digits(text) and len(text) < 10 else 0


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _rich_text(si: ET.Element) -> str:
    """A string item's text: its ``t``, or its runs' ``t`` (phonetic ``rPh`` runs left out)."""
    parts: list[str] = []
    for child in si:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts += [t.text or "" for t in child if _local(t.tag) == "t"]
    return _xml_unescape("".join(parts))


def excel_number(text: str) -> Decimal:
    """A number cell's stored text as Excel shows it: at most 15 significant digits, exact."""
    d = Decimal(text.strip())
    if not d.is_finite():
        raise InvalidOperation(text)
    if d and len(d.as_tuple().digits) > EXCEL_DIGITS and -400 < d.adjusted() < 400:
        d = d.quantize(Decimal(1).scaleb(d.adjusted() - EXCEL_DIGITS + 1), rounding=ROUND_HALF_UP)
    return d


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook, in order."""
    with Workbook(path) as book:
        return book.sheet_names


def read_xlsx(path: Path, sheet: str | None = None) -> Sheet:
    """One sheet of a workbook (the first when ``sheet`` is None)."""
    with Workbook(path) as book:
        return book.read(sheet)


# -- Parquet --------------------------------------------------------------------------------------------
def read_parquet(path: Path) -> Sheet:
    """A Parquet file as a grid: its column names as row 1, its rows from row 2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with path.open("rb") as f:
        check_kind(path, f.read(8))
    try:
        rows = pq.read_metadata(path).num_rows
        size = path.stat().st_size
        if rows > size:  # a row of a register holds an 18-character credit code, nearly unique
            raise SheetError(
                f"{path}: {rows:,} rows in {size:,} bytes, more rows than bytes: not a register's table "
                "(a column of one value repeated, a Parquet bomb)"
            )
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise SheetError(f"{path}: not a readable Parquet file: {exc}") from None
    sheet = Sheet(path.name, [(1, list(table.column_names))])
    columns = [c.to_pylist() for c in table.columns]
    for i, values in enumerate(zip(*columns, strict=True)):
        if not all(blank(v) for v in values):
            sheet.rows.append((i + 2, list(values)))
    return sheet
