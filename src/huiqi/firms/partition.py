"""A large CSV register split by credit-code range, so that the bulk import runs one range at a time.

The bulk import (``huiqi.firms.bulk``) holds a source's rows in memory, about 1.4 GiB a million firms:
a register of 30 M firms would need 50-60 GiB. Split here, the import reads, checks and merges each
range of credit codes in turn with the same pipeline, and the ranges' outputs concatenated are the
register's tables, sorted by credit code as they are stored.

- Only a source of CSV table files that Arrow's reader takes (``bulk.csv_plan``: UTF-8 or GB18030/GBK
  with a plain header) whose firms file is large (``huiqi.config.import_ranges``: more than 4 M firms by
  default, in ranges of 2 M) is split; any other goes whole.
- The boundaries are quantiles of a sample of the firms file's credit codes (the records at a few
  hundred places of the file, not a pass over it).
- Each table file is streamed a block at a time with the options the whole read uses (the quoted line
  break retry, the blank-row rules); a row's firm is its credit code as the import reads it
  (``bulk.firm_of_rows``), so that a firm and its child rows land in the same range, and duplicates and
  child rows of unknown firms are found within it. A row without a good code goes to the first range,
  where it is refused with its file and row. A block's rows find their ranges by one sorted search
  (``code_ranges``) and go to them by one sort (``by_range``).
- A range's rows are staged in a Parquet file per table (its text cells and row numbers) in a folder the
  caller removes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from huiqi.config import PARTITION_FIRMS_ENV as PARTITION_FIRMS_ENV
from huiqi.config import WHOLE_FIRMS_ENV as WHOLE_FIRMS_ENV
from huiqi.config import import_ranges
from huiqi.firms.bulk import (
    Cells,
    CsvPlan,
    by_credit_code,
    csv_plan,
    csv_rows,
    empty_register,
    firm_of_rows,
    prepare_bulk,
    read_bulk,
    rejected_firms,
)
from huiqi.firms.digests import DIGESTS
from huiqi.firms.importing import (
    TABLE_NAMES,
    ColumnRule,
    ImportError_,
    ImportRefused,
    ParsedRow,
    RowProblem,
    TableMapping,
    header_rules,
    table_sources,
)
from huiqi.firms.textual import RAW_DIGESTS
from huiqi.firms.uscc import USCC_PATTERN, fixed_codes

#: the places of the firms file whose records' credit codes the boundaries are chosen from, and the bytes
#: read at each (about 80 records: some 15,000 codes, each range's size then within a few %)
SAMPLES = 200
SAMPLE_BYTES = 1 << 15
#: bytes of a file read at a time (Arrow's block)
BLOCK = 1 << 24
#: the staged column of a row's number in its file (the cells are c0, c1, ... by position)
NUMBER = "row"

Progress = Callable[[str], None]


@dataclass
class Partitioned:
    """A source's rows split into credit-code ranges, staged in ``folder``: range ``i`` holds the firms
    from ``bounds[i - 1]`` (included) to ``bounds[i]`` (excluded); the first also the rows of no firm."""

    folder: Path
    bounds: list[str]
    plans: dict[str, CsvPlan]

    def __len__(self) -> int:
        return len(self.bounds) + 1

    def range(self, i: int) -> tuple[str | None, str | None]:
        """Range ``i``'s lowest code and the code above it (None: no bound)."""
        lo = self.bounds[i - 1] if i > 0 else None
        hi = self.bounds[i] if i < len(self.bounds) else None
        return lo, hi

    def file(self, i: int, table: str) -> Path:
        """Where range ``i``'s rows of ``table`` are staged."""
        return self.folder / f"{table}-{i}.parquet"

    def cells(self, i: int, table: str) -> Cells:
        """Range ``i``'s rows of ``table``, as the whole file's read would hold them (in file order)."""
        plan = self.plans[table]
        names = [f"c{j}" for j in range(len(plan.header))]
        file = self.file(i, table)
        if not file.exists():
            empty = [pa.array([], pa.string()) for _ in names]
            return plan.cells(empty, np.array([], dtype=np.int64))
        t = pq.read_table(file)
        columns = [t.column(n).combine_chunks() for n in names]
        numbers = np.asarray(t.column(NUMBER).to_numpy(), dtype=np.int64)
        return plan.cells(columns, numbers)


def split_source(
    source: Path,
    mapping: dict[str, TableMapping],
    folder: Path,
    *,
    limit: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> Partitioned | None:
    """The source's rows split into ranges of about ``limit[0]`` firms when its firms file is estimated at
    more than ``limit[1]`` (``huiqi.config.import_ranges``: the settings), staged in
    ``folder`` (made here; the caller removes it); None when the source is read whole: small, not CSV
    files Arrow's reader takes, or rows its blocks cannot take (the whole read names what is wrong)."""
    size, whole = import_ranges() if limit is None else limit
    if size <= 0 or not source.is_dir():
        return None
    try:
        files = table_sources(source, mapping)
    except ImportError_:
        return None
    if "firms" not in files or any(p.suffix.lower() != ".csv" for p, _ in files.values()):
        return None
    plans: dict[str, CsvPlan] = {}
    rules: dict[str, dict[str, ColumnRule]] = {}
    for table, (path, _) in files.items():
        plan = csv_plan(path, mapping.get(table))
        if plan is None:
            return None
        try:
            rules[table] = header_rules(table, plan.header, mapping.get(table), path.name)
        except ImportError_:
            return None
        plans[table] = plan
    estimate = _estimate(plans["firms"].path)
    if estimate <= max(size, whole):
        return None
    if progress is not None:
        progress(f"split {plans['firms'].path.name} (about {estimate:,} firms)")
    bounds = _bounds(plans["firms"], rules["firms"], math.ceil(estimate / size))
    folder.mkdir(parents=True, exist_ok=True)
    parts = Partitioned(folder, bounds, plans)
    for table in TABLE_NAMES:
        if table not in plans:
            continue
        if progress is not None:
            progress(f"split {plans[table].path.name}")
        if not _split(parts, table, rules[table]):
            return None
    return parts


def _estimate(path: Path) -> int:
    """A CSV file's records, estimated from its size and the bytes a record of its start takes."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1 << 20)
    lines = head.count(b"\n")
    if len(head) == size or lines < 2:
        return max(lines - 1, 0) if len(head) == size else 0
    body = head[head.index(b"\n") + 1 : head.rindex(b"\n") + 1]
    return int(size / (len(body) / (lines - 1)))


def _blocks(plan: CsvPlan, newlines: bool) -> Iterator[list[pa.Array]]:
    """A CSV file's rows after its header, a block at a time, as text columns."""
    import pyarrow.csv as pcsv

    with pcsv.open_csv(plan.path, **plan.options(newlines, BLOCK)) as reader:
        for batch in reader:
            yield [c if c.type == pa.string() else c.cast(pa.string()) for c in batch.columns]


def _bounds(plan: CsvPlan, rules: dict[str, ColumnRule], n: int) -> list[str]:
    """``n - 1`` credit codes that cut the firms file's into ranges of about as many firms: quantiles of
    a sample of its codes, the records at ``SAMPLES`` places spread over the file (read where they are,
    not the whole file). A bound only balances the ranges: a record misread here (a quoted line break
    before it) cannot put a row in a wrong range, as each row's range is its code as the import reads it."""
    import csv
    import io
    import re

    at = plan.header.index(next(h for h, r in rules.items() if r.to == "uscc"))
    good = re.compile(USCC_PATTERN)
    size = plan.path.stat().st_size
    found: set[str] = set()
    with plan.path.open("rb") as f:
        for k in range(SAMPLES):
            f.seek(size * k // SAMPLES)
            chunk = f.read(SAMPLE_BYTES)
            text = chunk.decode("gb18030" if plan.encoding == "gb18030" else "utf-8", errors="replace")
            lines = text.split("\n")[1:-1]  # whole records only (the first may be the header or a part)
            for record in csv.reader(io.StringIO("\n".join(lines)), delimiter=plan.delimiter):
                if len(record) > at and good.fullmatch(record[at]):
                    found.add(record[at])
    ordered = sorted(found)
    if not ordered:
        return []
    cuts = sorted({ordered[len(ordered) * k // n] for k in range(1, n)})
    return [c for c in cuts if c > ordered[0]]  # (an empty first range would be only the codeless)


def _split(parts: Partitioned, table: str, rules: dict[str, ColumnRule]) -> bool:
    """Stage ``table``'s rows by range; False when a block is not the import's to take so (a row of
    spaces, bytes not in the encoding, a row the careful parse refuses: the whole read judges them)."""
    plan = parts.plans[table]
    names = [f"c{j}" for j in range(len(plan.header))]
    schema = pa.schema([*(pa.field(n, pa.string()) for n in names), pa.field(NUMBER, pa.int64())])
    for newlines in (False, True):
        for i in range(len(parts)):  # (a quick parse given up: its files go)
            parts.file(i, table).unlink(missing_ok=True)
        writers: dict[int, pq.ParquetWriter] = {}
        first = 2  # the header is row 1
        try:
            for columns in _blocks(plan, newlines):
                n = len(columns[0])
                rows = csv_rows(columns, first)
                first += n
                if rows is None:
                    return False
                kept, numbers = rows
                where = code_ranges(firm_of_rows(plan.cells(kept, numbers), rules, table), parts.bounds)
                block = pa.table([*kept, pa.array(numbers)], schema=schema)
                for i, rows in by_range(block, where):
                    if i not in writers:
                        writers[i] = pq.ParquetWriter(
                            parts.file(i, table), schema, compression="lz4", use_dictionary=False
                        )
                    writers[i].write_table(rows)
        except UnicodeDecodeError:
            return False
        except pa.ArrowInvalid:
            continue
        finally:
            for w in writers.values():
                w.close()
        return True
    return False


def code_ranges(codes: pa.Array, bounds: list[str]) -> np.ndarray:
    """Each row's range (``Partitioned``): how many ``bounds`` (ascending) are at or below its credit code,
    found for every bound at once by a sorted search (the split asks it of every row of every block); a
    row of no firm (a null code) is range 0. The import's codes, 18 bytes each, are searched as Arrow
    holds them (a fixed-width view of its buffer); any other text as Python strings."""
    where = np.zeros(len(codes), dtype=np.intp)
    if not bounds or codes.null_count == len(codes):
        return where
    firms = pc.is_valid(codes).to_numpy(zero_copy_only=False)
    known = codes.filter(pa.array(firms)) if codes.null_count else codes
    fixed = fixed_codes(known)
    if fixed is not None and all(len(b.encode()) == len(b) == fixed.itemsize for b in bounds):
        where[firms] = np.searchsorted(np.array(bounds, dtype=fixed.dtype), fixed, side="right")
    else:
        text = np.asarray(known.to_numpy(zero_copy_only=False), dtype=object)
        where[firms] = np.searchsorted(np.array(bounds, dtype=object), text, side="right")
    return where


def by_range(block: pa.Table, where: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """A block's rows of each range ``where`` gives them, in file order within a range: the block put in
    range order once (a stable sort, one take) and sliced, not filtered once a range."""
    order = np.argsort(where, kind="stable")
    ordered = block.take(pa.array(order))
    counts = np.bincount(where)
    starts = np.cumsum(counts) - counts
    for i in np.flatnonzero(counts).tolist():
        yield i, ordered.slice(int(starts[i]), int(counts[i]))


@dataclass
class StoredFiles:
    """The stored register an import merges into, read a credit-code range at a time: its tables (files,
    or tables in memory), the firms' digests and raw digests kept with them (None: none kept)."""

    tables: Mapping[str, pa.Table | Path]
    digests: Path | None
    raw: Path | None


def _between(lo: str | None, hi: str | None) -> Any:
    """The filter of the credit codes from ``lo`` (included) to ``hi`` (excluded); None: every one."""
    import pyarrow.dataset as ds

    found = None
    if lo is not None:
        found = ds.field("uscc") >= lo
    if hi is not None:
        below = ds.field("uscc") < hi
        found = below if found is None else found & below
    return found


def in_range(t: pa.Table | Path, lo: str | None, hi: str | None) -> pa.Table:
    """The rows of a stored table from credit code ``lo`` to ``hi`` (a file sorted by code is read only
    in its row groups that may hold them)."""
    where = _between(lo, hi)
    if isinstance(t, Path):
        return pq.read_table(t, filters=where).replace_schema_metadata(None)
    return t if where is None else t.filter(where)


@dataclass
class RangeImport:
    """An import a credit-code range at a time (``tables``), and what it found: the counts, the history
    rows, the rejected rows, and the problems (all or nothing: any refuses the import). ``stored``: the
    register it merges into (None: empty)."""

    parts: Partitioned
    source: Path
    mapping: dict[str, TableMapping]
    stored: StoredFiles | None
    skip_invalid: bool = False
    problems: list[RowProblem] = field(default_factory=list)  # of reading: the refusal when any
    later: list[RowProblem] = field(default_factory=list)  # of the checks of the merged firms
    rejected: list[tuple[ParsedRow, list[RowProblem]]] = field(default_factory=list)
    history: list[pa.Table] = field(default_factory=list)  # uscc, field, old, new (no new firm's row)
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    changes: int = 0  # history rows, a new firm's one included
    firms: int = 0

    def tables(
        self,
        out: Path,
        added: Callable[[pa.Array], None],
        progress: Progress | None = None,
        note: Progress | None = None,
    ) -> Iterator[dict[str, pa.Table]]:
        """Each range's tables of the new register in turn (sorted by credit code), its digests and raw
        digests appended to ``out``'s files and its new firms given to ``added``; once a range has a
        problem, the others are only checked; at the end, any problem refuses the import
        (``ImportRefused``, the problems in file and row order)."""
        writers = _Writers(out)
        try:
            for i in range(len(self.parts)):
                where = f"partition {i + 1}/{len(self.parts)}"
                if progress is not None:
                    progress(where)
                told = None if note is None else _prefixed(note, where)
                found = self._range(i, writers, added, told)
                if found is not None:
                    yield found
                del found
        finally:
            writers.close()
        if self.problems or self.later:
            raise ImportRefused(sorted(self.problems or self.later, key=_order))
        if not writers.raw_ok:
            (out / RAW_DIGESTS).unlink(missing_ok=True)

    def _range(
        self, i: int, writers: _Writers, added: Callable[[pa.Array], None], note: Progress | None
    ) -> dict[str, pa.Table] | None:
        """Range ``i`` imported: its tables; None when it (or one before) had a problem."""
        from huiqi.firms.textual import kept, read_raw

        parts, stored = self.parts, self.stored
        lo, hi = parts.range(i)
        existing: dict[str, pa.Table] = empty_register()
        digests = raw = None
        if stored is not None:
            existing = {name: in_range(t, lo, hi) for name, t in stored.tables.items()}
            if stored.digests is not None:
                digests = in_range(stored.digests, lo, hi)
                raw = read_raw(stored.raw, _between(lo, hi)) if stored.raw is not None else None
        known = existing["firms"]["uscc"].combine_chunks()
        batch = read_bulk(
            self.source,
            self.mapping,
            known=known,
            progress=note,
            keep_cells=self.skip_invalid,
            stored_raw=raw,
            given=lambda table: parts.cells(i, table),
        )
        if batch.problems and not self.skip_invalid:
            self.problems += batch.problems
            return None
        if self.problems:  # read problems elsewhere: they are the refusal
            return None
        try:
            merged = prepare_bulk(
                batch,
                existing,
                skip_invalid=self.skip_invalid,
                progress=note,
                digests=digests,
                known=known,
            )
        except ImportRefused as exc:
            self.later += exc.problems
            return None
        if self.later:
            return None
        del existing, known, digests
        new_firms = pc.equal(merged.changes["field"], "*")
        added(merged.changes["uscc"].filter(new_firms))
        history = merged.changes.filter(pc.invert(new_firms))
        if history.num_rows:
            self.history.append(history)
        self.added += merged.added
        self.changed += merged.changed
        self.unchanged += merged.unchanged
        self.changes += merged.changes.num_rows
        self.rejected += batch.rejected
        writers.digests(merged.digests)
        if batch.raw is None:
            writers.raw_ok = False
        elif writers.raw_ok:
            writers.raw(batch.recipe, kept(batch.raw, raw, batch.recipe, rejected_firms(batch)))
        tables = {name: by_credit_code(t) for name, t in merged.tables.items()}
        self.firms += tables["firms"].num_rows
        return tables


def _prefixed(note: Progress, where: str) -> Progress:
    """``note`` with each line said of ``where`` (the range under way)."""
    return lambda what: note(f"{where}: {what}")


def _order(p: RowProblem) -> tuple[int, int, str]:
    """A problem's place in a refusal: its table's file, its row, its column."""
    return TABLE_NAMES.index(p.table) if p.table in TABLE_NAMES else len(TABLE_NAMES), p.row, p.column


class _Writers:
    """The new register's digests and raw digests files, appended a range at a time."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.raw_ok = True
        self._digests: pq.ParquetWriter | None = None
        self._raw: pq.ParquetWriter | None = None

    def digests(self, t: pa.Table) -> None:
        """Append a range's digests (sorted by credit code)."""
        if self._digests is None:
            self._digests = pq.ParquetWriter(self.out / DIGESTS, t.schema, compression="zstd")
        self._digests.write_table(t.cast(self._digests.schema))

    def raw(self, recipe: str, t: pa.Table) -> None:
        """Append a range's raw digests (made under ``recipe``)."""
        from huiqi.firms.textual import raw_writer

        if self._raw is None:
            self._raw = raw_writer(self.out / RAW_DIGESTS, recipe)
        self._raw.write_table(t.select(["uscc", "raw"]).cast(self._raw.schema))

    def close(self) -> None:
        """Close the files written."""
        for w in (self._digests, self._raw):
            if w is not None:
                w.close()
