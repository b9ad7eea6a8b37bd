"""CSV text of Arrow record batches, made column by column with ``pyarrow.compute``: the bytes Python's csv
module writes for the export's cells (``huiqi.firms.exporting``), at the speed of Arrow's kernels.

The rules, as ``exporting`` applies them cell by cell: text beginning with a formula trigger or an
apostrophe gets a leading apostrophe (``escape_csv_cell``); money is its exact decimal text (``1234.50``);
a date is ``YYYY-MM-DD``; a boolean ``True`` / ``False``; an integer its digits; a null an empty cell. A
cell holding a comma, a double quote, a carriage return or a line feed is quoted, its quotes doubled
(the csv module's minimal quoting); rows end with CRLF (its line terminator). A type not listed here is
left to the csv module (``supported`` says which).
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huiqi.firms.sheets import FORMULA_TRIGGERS

#: the rows of a batch converted at once: about 45 MB of firms' CSV text
BATCH_ROWS = 65_536
#: batches converted at once, in order (the machine's two cores)
WORKERS = 2
_ESCAPED = "^[" + "".join("\\" + c if c in "-\\]^" else c for c in (*FORMULA_TRIGGERS, "'")) + "]"
_NEEDS_QUOTES = '[,"\r\n]'


def supported(schema: pa.Schema) -> bool:
    """Whether every column is of a type this writer renders exactly as the csv module does."""
    # one column: the csv module writes a row of one empty cell as "" (this writer: an empty line)
    return len(schema) > 1 and all(_renders(f.type) for f in schema)


def _renders(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_date32(t)
        or (isinstance(t, pa.Decimal128Type) and t.scale >= 0)
    )


def header_line(names: Iterable[str]) -> bytes:
    """The header row as the csv module writes it (quoted where needed, CRLF), UTF-8."""
    text = io.StringIO()
    csv.writer(text).writerow(list(names))
    return text.getvalue().encode("utf-8")


def _text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A column as the text of its cells (nulls kept): escaped text, decimal digits, dates, True/False."""
    t = column.type
    if pa.types.is_boolean(t):
        return pc.if_else(column, "True", "False")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        escape = pc.match_substring_regex(column, _ESCAPED)
        if pc.any(escape).as_py():
            column = pc.if_else(escape, pc.binary_join_element_wise(_at("'", t), column, _at("", t)), column)
        return _quoted(column)
    return pc.cast(column, pa.string())  # digits, dates and decimals hold no character to quote


def _quoted(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    need = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if not pc.any(need).as_py():
        return text
    doubled = pc.replace_substring(text, '"', '""')
    quote = _at('"', text.type)
    return pc.if_else(need, pc.binary_join_element_wise(quote, doubled, quote, _at("", text.type)), text)


def _at(text: str, t: pa.DataType) -> pa.Scalar:
    """``text`` as a scalar of the string type ``t``: Arrow's joins take one type."""
    return pa.scalar(text, t)


def batch_bytes(batch: pa.RecordBatch) -> memoryview:
    """The CSV rows of ``batch`` (no header), CRLF-terminated UTF-8, as one buffer."""
    cells = [_text(c).cast(pa.large_string()).fill_null("") for c in batch.columns]
    large = pa.large_string()
    cells[-1] = pc.binary_join_element_wise(cells[-1], _at("\r\n", large), _at("", large))
    rows = pc.binary_join_element_wise(*cells, _at(",", large))
    _, offsets, data = rows.buffers()
    if offsets is None or data is None:  # a large_string array has both; this says so to the type checker
        raise TypeError(f"not a string array: {rows.type}")
    ends = np.frombuffer(offsets, dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return memoryview(data)[int(ends[0]) : int(ends[-1])]


def write_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema, f: IO[bytes]) -> int:
    """Write a table's CSV (byte-order mark, header, rows) to the binary file ``f``; the rows written.
    ``schema`` must be ``supported``."""
    f.write(b"\xef\xbb\xbf" + header_line(schema.names))
    rows = 0
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # Arrow's kernels run without the GIL
        pending: deque[Future[memoryview]] = deque()
        for batch in batches:
            if batch.num_rows:
                pending.append(pool.submit(batch_bytes, batch))
                rows += batch.num_rows
            if len(pending) > WORKERS:  # at most WORKERS + 1 batches' text in memory
                f.write(pending.popleft().result())
        while pending:
            f.write(pending.popleft().result())
    return rows
