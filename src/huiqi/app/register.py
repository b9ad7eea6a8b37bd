"""The firm register's use cases: import register files (updating by credit code, keeping field-level
history), export, a synthetic register (to a directory or straight into the database), a firm's history,
and the register as tables for matching and the sandbox.

A register is ``db`` (the one stored in the database) or the path of a register directory (Parquet files
and a manifest), as ``--register`` says on the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete
from sqlalchemy.orm import Session

from huiqi.app.store import Store
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms.importing import (
    ImportBatch,
    ParsedRow,
    RowProblem,
    TableMapping,
    records_from_tables,
    write_rejected,
)
from huiqi.firms.register import RegisterError
from huiqi.firms.textual import RawDigests
from huiqi.matching import snapshot
from huiqi.matching import store as register_store
from huiqi.matching.bulk import insert_rows
from huiqi.matching.errors import EmptyRegister, RegisterNotEmpty
from huiqi.matching.models import RegisterChange, RegisterFirm, RegisterImport
from huiqi.matching.results import results_dir
from huiqi.matching.snapshot import stored_register

if TYPE_CHECKING:
    from huiqi.firms.partition import Partitioned, RangeImport, StoredFiles

DB = "db"


@dataclass(frozen=True)
class ImportView:
    """What an import did."""

    import_id: str
    added: int
    changed: int
    unchanged: int
    rejected: int
    changes: int
    rejected_file: Path | None


@dataclass(frozen=True)
class ExportView:
    """What an export wrote."""

    firms: int
    written: Path


@dataclass(frozen=True)
class SynthView:
    """A synthetic register made: where, how many firms (and by sector), its child tables' sizes, timings."""

    where: str
    seed: int
    first_year: int
    last_year: int
    firms: int
    sectors: tuple[tuple[str, int], ...]
    children: tuple[tuple[str, int], ...]
    generated_seconds: float
    written_seconds: float


@dataclass(frozen=True)
class ChangeView:
    """One changed field of a firm: when, from which file, old and new value."""

    at: dt.datetime
    source: str
    field: str
    old: str | None
    new: str | None


def _rejects(batch: ImportBatch, source: Path, rejected: Path | None, skip_invalid: bool) -> Path | None:
    if not (batch.rejected and skip_invalid):
        return None
    target = rejected or source.with_name(source.stem + ".rejected.csv")
    write_rejected(batch, target)
    return target


#: what ``import_register`` tells as it goes: the step, and how many steps are done of how many
Steps = Callable[[str, int, int], None]


def import_register(
    store: Store,
    *,
    source: Path,
    mapping: Path | None = None,
    register: str = DB,
    skip_invalid: bool = False,
    rejected: Path | None = None,
    actor: str,
    progress: Steps | None = None,
) -> ImportView:
    """Bring a commission's register file into the register, by credit code, recording what changed; all
    or nothing unless ``skip_invalid`` (then the rejected rows go to ``rejected`` with their reasons)."""
    from huiqi.firms.importing import load_mapping, read_source

    rules = load_mapping(mapping)
    if register == DB:
        return _import_in_bulk(store, source, rules, skip_invalid, rejected, actor, progress)
    from huiqi.firms.register import MANIFEST, read_register

    root = Path(register)
    known = set(records_from_tables(read_register(root))) if (root / MANIFEST).exists() else set()
    batch = read_source(source, rules, known=known)
    out = register_store.import_into_directory(root, batch, skip_invalid=skip_invalid)
    written = _rejects(batch, source, rejected, skip_invalid)
    return ImportView(
        out.import_id, out.added, out.changed, out.unchanged, out.rejected, out.changes, written
    )


def _commit(store: Store, work: Callable[[Session], None], where: Path, staged: Path) -> None:
    """Commit an import's rows, then put its register's tables in place; rolled back, they are removed."""
    try:
        store.write(work)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    snapshot.put_in_place(where, staged)


def _import_in_bulk(
    store: Store,
    source: Path,
    rules: dict[str, TableMapping],
    skip_invalid: bool,
    rejected: Path | None,
    actor: str,
    progress: Steps | None,
) -> ImportView:
    """The import into the stored register: read, checked and merged in columns (``huiqi.firms.bulk``);
    the new register's tables written beside the database, its import and history rows in one
    transaction, then the tables put in place. Imports of one database wait for each other. A large CSV
    source is imported a credit-code range at a time (``firms.partition``): never held whole."""
    from huiqi.firms.bulk import empty_register, prepare_bulk, read_bulk, rejected_firms, stored_codes
    from huiqi.firms.partition import split_source
    from huiqi.firms.register import locked
    from huiqi.firms.textual import RawDigests, kept

    where = results_dir(store.url)
    files = len(list(source.iterdir())) if source.is_dir() else 1
    steps = _Steps(progress, files + 5)

    with locked(where):
        steps("read the register")
        imports = store.read(snapshot.imports)
        folder = where / f".import-parts-{new_id()}"
        try:
            parts = split_source(source, rules, folder, progress=steps.note)
            ranged = None
            if parts is not None:
                ranged = _stage_ranges(store, imports, parts, steps, (source, rules, skip_invalid))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if ranged is not None:
            staged, import_id, outcome = ranged
            counts = _Counts(outcome.added, outcome.changed, outcome.unchanged, outcome.changes)
            history = pa.concat_tables(outcome.history) if outcome.history else None
            rows = outcome.rejected  # (the tables were written range by range, each a step)
        else:
            existing, digests, raw = _stored(store, where) if imports else (empty_register(), None, None)
            known = stored_codes(existing)
            batch = read_bulk(
                source, rules, known=known, progress=steps, keep_cells=skip_invalid, stored_raw=raw
            )
            merged = prepare_bulk(
                batch,
                existing,
                skip_invalid=skip_invalid,
                progress=steps,
                digests=digests,
                splice=True,
                known=known,
            )
            del existing, digests, known
            new_raw = None
            if batch.raw is not None:
                new_raw = RawDigests(batch.recipe, kept(batch.raw, raw, batch.recipe, rejected_firms(batch)))
            del raw
            steps("write the register's tables")
            import_id = new_id()
            new_firms = pc.equal(merged.changes["field"], "*")
            added = merged.changes["uscc"].filter(new_firms)
            history = merged.changes.filter(pc.invert(new_firms))  # a new firm is its row in ADDED
            staged = _stage(
                where,
                merged.tables,
                [*imports, import_id],
                added=added,
                digests=merged.digests,
                raw=new_raw,
                base=merged.base,
                dropped=merged.dropped,
            )
            counts = _Counts(merged.added, merged.changed, merged.unchanged, merged.changes.num_rows)
            rows = batch.rejected
        steps("store the history")
        work = _recorded(where, imports, import_id, source, actor, counts, len(rows), history)
        _commit(store, work, where, staged)
        steps("done")
    written = _rejected_file(rows, source, rejected, skip_invalid)
    return ImportView(
        import_id, counts.added, counts.changed, counts.unchanged, len(rows), counts.changes, written
    )


class _Steps:
    """An import's progress: each step advances the count; a note tells what it is doing meanwhile."""

    def __init__(self, progress: Steps | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, what: str) -> None:
        if self.progress is not None:
            self.progress(what, self.done, self.total)
        self.done = min(self.done + 1, self.total)

    def note(self, what: str) -> None:
        """Say what is under way without counting a step."""
        if self.progress is not None:
            self.progress(what, self.done, self.total)


@dataclass
class _Counts:
    """An import's firms added, changed, unchanged, and its change rows (a new firm's one included)."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    changes: int = 0


def _recorded(
    where: Path,
    imports: list[str],
    import_id: str,
    source: Path,
    actor: str,
    counts: _Counts,
    rejected: int,
    history: pa.Table | None,
) -> Callable[[Session], None]:
    """The transaction of an import: its row and its history rows (uscc, field, old, new)."""
    now = utcnow()

    def work(s: Session) -> None:
        if snapshot.imports(s) != imports:  # pragma: no cover - another writer ignored the lock
            raise RegisterError(
                f"{where}: the register changed during the import; import again",
                why="changed_during_import",
                where=str(where),
            )
        # a register stored as JSON records (before the tables) is in the new tables now: one truth
        s.execute(delete(RegisterFirm))
        s.add(
            RegisterImport(
                id=import_id,
                source=str(source),
                at=now,
                actor=actor,
                firms_added=counts.added,
                firms_changed=counts.changed,
                firms_unchanged=counts.unchanged,
                rows_rejected=rejected,
            )
        )
        s.flush()
        if history is None:
            return
        insert_rows(
            s,
            RegisterChange.__table__,  # type: ignore[arg-type]
            ("import_id", "uscc", "at", "source", "field", "old", "new"),
            (
                (import_id, u, now, str(source), f, o, n)
                for u, f, o, n in zip(
                    history["uscc"].to_pylist(),
                    history["field"].to_pylist(),
                    history["old"].to_pylist(),
                    history["new"].to_pylist(),
                    strict=True,
                )
            ),
        )

    return work


def _rejected_file(
    rows: list[tuple[ParsedRow, list[RowProblem]]], source: Path, rejected: Path | None, skip_invalid: bool
) -> Path | None:
    """Where the rejected rows were written (with ``skip_invalid``), None when there are none."""
    if not (rows and skip_invalid):
        return None
    target = rejected or source.with_name(source.stem + ".rejected.csv")
    write_rejected(ImportBatch(str(source), rejected=rows), target)
    return target


def _stage_ranges(
    store: Store,
    imports: list[str],
    parts: Partitioned,
    steps: _Steps,
    asked: tuple[Path, dict[str, TableMapping], bool],
) -> tuple[Path, str, RangeImport]:
    """The import of ``asked`` (source, mapping, skip_invalid) a credit-code range at a time
    (``firms.partition.RangeImport``), staged: the ranges' tables appended to the new register's files in
    order (so sorted by credit code); the staged directory, the import's id, what it found. All or
    nothing: a refusal leaves nothing."""
    from huiqi.firms.partition import RangeImport
    from huiqi.firms.register import write_register_chunks

    where = results_dir(store.url)
    steps.total = steps.done + len(parts) + 2
    stored = _stored_files(store, where) if imports else None
    import_id = new_id()
    fresh = where / f"register-{import_id}"
    source, rules, skip_invalid = asked
    outcome = RangeImport(parts, source, rules, stored, skip_invalid)
    try:
        fresh.mkdir(parents=True)
        with snapshot.AddedFirms(where, fresh, import_id, keep=bool(imports)) as news:
            write_register_chunks(outcome.tables(fresh, news.add, steps, steps.note), fresh)
        meta = {"imports": [*imports, import_id], "firms": outcome.firms, "columnar": True}
        (fresh / snapshot.META).write_text(json.dumps(meta))
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return fresh, import_id, outcome


def _stored_files(store: Store, where: Path) -> StoredFiles:
    """The stored register as a range import reads it: its table files and the digests files kept
    with them; a register stored before the tables, as its tables (it is small)."""
    from huiqi.firms.digests import DIGESTS
    from huiqi.firms.partition import StoredFiles
    from huiqi.firms.register import register_files
    from huiqi.firms.textual import RAW_DIGESTS

    root = store.read(lambda s: snapshot.columnar_register(s, where))
    if root is None:
        return StoredFiles(store.read(lambda s: stored_register(s, where)), None, None)
    digests, raw = root / DIGESTS, root / RAW_DIGESTS
    return StoredFiles(
        register_files(root), digests if digests.exists() else None, raw if raw.exists() else None
    )


def _stored(
    store: Store, where: Path
) -> tuple[Mapping[str, pa.Table | Path], pa.Table | None, RawDigests | None]:
    """The stored register as an import merges into it: its table files (scanned as needed, never held
    whole beside the new register), the firms' digests and raw digests kept with them (None: none kept);
    a register stored before the tables, as its tables."""
    import pyarrow.parquet as pq

    from huiqi.firms.digests import DIGESTS
    from huiqi.firms.register import register_files
    from huiqi.firms.textual import RAW_DIGESTS, read_raw

    root = store.read(lambda s: snapshot.columnar_register(s, where))
    if root is None:
        return store.read(lambda s: stored_register(s, where)), None, None
    file = root / DIGESTS
    digests = pq.read_table(file) if file.exists() else None
    return register_files(root), digests, read_raw(root / RAW_DIGESTS) if digests is not None else None


def _stage(
    where: Path,
    tables: dict[str, pa.Table],
    imports: list[str],
    *,
    added: pa.Array | None = None,
    digests: pa.Table | None = None,
    raw: RawDigests | None = None,
    base: Mapping[str, pa.Table | Path] | None = None,
    dropped: pa.Array | None = None,
) -> Path:
    """``snapshot.stage`` with the firms' digests beside the tables (``digests.parquet``, sorted by credit
    code), so that the next import and the next match need not compute them again; and the raw digests
    (``raw``). With ``base``, ``tables`` are the rows of the firms ``dropped`` to splice into it."""
    import pyarrow.parquet as pq

    from huiqi.firms.bulk import by_credit_code
    from huiqi.firms.digests import DIGESTS, firm_digests
    from huiqi.firms.textual import RAW_DIGESTS, write_raw

    tables = {name: by_credit_code(t) for name, t in tables.items()}  # found by a firm's code quickly

    def beside(staged: Path) -> None:
        nonlocal digests
        if digests is None:
            found = firm_digests(tables)
            digests = found.take(pc.sort_indices(found["uscc"]))
        pq.write_table(digests, staged / DIGESTS, compression="zstd")
        if raw is not None:
            write_raw(staged / RAW_DIGESTS, raw)

    if base is not None and dropped is not None:  # (its digests are given: those of the whole register)
        return _stage_spliced(where, base, dropped, tables, imports, added, beside)
    staged = snapshot.stage(where, tables, imports, added=added)
    beside(staged)
    return staged


def _stage_spliced(
    where: Path,
    base: Mapping[str, pa.Table | Path],
    dropped: pa.Array,
    tables: dict[str, pa.Table],
    imports: list[str],
    added: pa.Array | None,
    beside: Callable[[Path], None],
) -> Path:
    """``snapshot.stage`` of the stored register's files with the rows of the firms ``dropped`` replaced
    by ``tables`` (``firms.splice``: never the whole register in memory); ``beside`` writes the files kept
    with the tables (the digests) while the tables are written."""
    from concurrent.futures import ThreadPoolExecutor

    from huiqi.firms.frames import table_years
    from huiqi.firms.splice import write_spliced

    files = {name: t for name, t in base.items() if isinstance(t, Path)}
    fresh = where / f"register-{imports[-1]}"
    try:
        fresh.mkdir(parents=True)
        with ThreadPoolExecutor(1) as pool:  # the tables written (on every core) as the rest is
            spliced = pool.submit(write_spliced, files, dropped, tables, fresh, table_years(tables["firms"]))
            with snapshot.AddedFirms(where, fresh, imports[-1]) as news:
                news.add(added)
            beside(fresh)
            firms = spliced.result()
        (fresh / snapshot.META).write_text(json.dumps({"imports": imports, "firms": firms, "columnar": True}))
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return fresh


def _tables(store: Store, *, register: str = DB) -> dict[str, pa.Table]:
    """The register as the columnar layout (a directory's files, or the database's records)."""
    if register == DB:
        where = results_dir(store.url)
        return store.read(lambda s: stored_register(s, where))
    from huiqi.firms.register import read_register

    return read_register(register)


def nonempty_register(store: Store, *, register: str = DB) -> dict[str, pa.Table]:
    """The register's tables for matching or simulating; an empty register is refused (``EmptyRegister``)."""
    tables = _tables(store, register=register)
    if tables["firms"].num_rows == 0:
        raise EmptyRegister()
    return tables


def export_register(store: Store, *, out: Path, register: str = DB, parquet: bool = False) -> ExportView:
    """Hand the register back as files: CSV files, one xlsx workbook, or a Parquet register directory.
    Its table files are streamed, a table and a record batch at a time: a register of 30 M firms is never
    held in memory."""
    import pyarrow.parquet as pq

    from huiqi.firms.exporting import write_csv_files, write_tables
    from huiqi.firms.register import write_register

    where = results_dir(store.url)
    root = store.read(lambda s: snapshot.current_copy(s, where)) if register == DB else Path(register)
    if root is None:  # nothing stored: the empty tables' headers
        tables = _tables(store, register=register)
        written = write_register(tables, out) if parquet else write_tables(tables, out)
        return ExportView(firms=tables["firms"].num_rows, written=written)
    with snapshot.pinned(root, where / "tmp") as files:
        files.pop(snapshot.DIGESTS, None)
        firms = pq.ParquetFile(files["firms"]).metadata.num_rows
        if parquet:
            written = _export_parquet(files, out)
        elif out.suffix.lower() == ".xlsx":
            written = _export_workbook(files, out)
        else:
            written = write_csv_files(files, out)
    return ExportView(firms=firms, written=written)


def _export_workbook(files: Mapping[str, Path], out: Path) -> Path:
    """A workbook holds at most a sheet's rows per table: refused from the files' footers before any is
    read, else the tables are read whole (a million rows at most each)."""
    import pyarrow.parquet as pq

    from huiqi.firms.exporting import sheet_rows, write_tables

    for name, file in files.items():
        sheet_rows(name, pq.ParquetFile(file).metadata.num_rows, out)
    return write_tables({n: pq.read_table(f).replace_schema_metadata(None) for n, f in files.items()}, out)


def _export_parquet(files: Mapping[str, Path], out: Path) -> Path:
    """A register directory written a record batch at a time: each part holds one table's batch."""
    from collections.abc import Iterator

    import pyarrow.parquet as pq

    from huiqi.firms.csv_batches import BATCH_ROWS
    from huiqi.firms.register import write_register_chunks

    # not pre-buffered: pre-buffered row groups would stay in memory until the whole file is read
    sources = {name: pq.ParquetFile(file, pre_buffer=False) for name, file in files.items()}
    empty = {name: f.schema_arrow.remove_metadata().empty_table() for name, f in sources.items()}

    def parts() -> Iterator[dict[str, pa.Table]]:
        yield empty  # the years and the schemas, should every table be empty
        for name, source in sources.items():
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                yield {**empty, name: pa.Table.from_batches([batch]).replace_schema_metadata(None)}

    return write_register_chunks(parts(), out)


def register_history(store: Store, *, uscc: str, register: str = DB) -> tuple[ChangeView, ...]:
    """Show what changed for a firm, when, and from which file."""
    if register == DB:

        def read(s: Session) -> tuple[ChangeView, ...]:
            rows = [
                ChangeView(c.at, c.source, c.field, c.old, c.new) for c in register_store.history(s, uscc)
            ]
            first = snapshot.added_by(s, uscc)  # the bulk import keeps who added a firm with its tables
            if first is not None:
                rows.insert(0, ChangeView(first.at, first.source, "*", None, "new firm"))
            return tuple(rows)

        return store.read(read)
    found = register_store.directory_history(register, uscc)
    return tuple(
        ChangeView(
            at=r["at"],  # type: ignore[arg-type]
            source=str(r["source"]),
            field=str(r["field"]),
            old=None if r["old"] is None else str(r["old"]),
            new=None if r["new"] is None else str(r["new"]),
        )
        for r in found
    )


def _store_synthetic(store: Store, tables: dict[str, pa.Table], seed: int, actor: str) -> str:
    """A synthetic register as the (empty) stored register's tables, with its import (no history: it is
    new); the import's id."""
    from huiqi.firms.register import locked

    where = results_dir(store.url)
    now = utcnow()
    import_id = f"synth-{seed}-{int(time.time())}"[:32]
    with locked(where):
        imports = store.read(snapshot.imports)
        staged = _stage(where, tables, [*imports, import_id])

        def work(s: Session) -> None:
            if s.query(RegisterFirm.uscc).limit(1).first() is not None or (
                imports and snapshot.register_codes(s, where).__len__()
            ):
                raise RegisterNotEmpty()
            s.add(
                RegisterImport(
                    id=import_id,
                    source=f"synth:{seed}",
                    at=now,
                    actor=actor,
                    firms_added=tables["firms"].num_rows,
                )
            )

        _commit(store, work, where, staged)
    return import_id


def synth_register(
    store: Store | None,
    *,
    firms: int,
    seed: int = 0,
    out: Path | None = None,
    first_year: int = 2019,
    last_year: int = 2025,
    actor: str = "synth",
    progress: Callable[[int], None] | None = None,
) -> SynthView:
    """Make a deterministic synthetic register (the same seed, the same register) for trials and
    benchmarks: written as a register directory at ``out``, or into the (empty) stored register of
    ``store``."""
    from huiqi.firms.register import write_register_chunks
    from huiqi.firms.synth import synth_chunks
    from huiqi.firms.synth import synth_register as make

    started = time.perf_counter()
    years = range(first_year, last_year + 1)
    sectors_seen: dict[str, int] = {}
    rows: dict[str, int] = {}

    def counted(chunk: dict[str, pa.Table]) -> dict[str, pa.Table]:
        for r in pc.value_counts(chunk["firms"]["sector"]).to_pylist():
            sectors_seen[str(r["values"])] = sectors_seen.get(str(r["values"]), 0) + int(r["counts"])
        for name, table in chunk.items():
            rows[name] = rows.get(name, 0) + table.num_rows
        return chunk

    if out is not None:  # written as it is made: a register larger than memory (30 M firms) fits
        write_register_chunks(
            (counted(c) for c in synth_chunks(firms, seed, years=years, progress=progress)), out
        )
        generated = time.perf_counter() - started
    else:
        tables = counted(make(firms, seed, years=years, progress=progress))
        generated = time.perf_counter() - started
        if store is not None:
            _store_synthetic(store, tables, seed, actor)
    sectors = tuple(sorted(sectors_seen.items(), key=lambda kv: (-kv[1], kv[0])))
    children = tuple(
        (name, rows[name]) for name in ("offices", "designations", "incentives", "contracts", "credit_events")
    )
    return SynthView(
        where=str(out) if out is not None else DB,
        seed=seed,
        first_year=first_year,
        last_year=last_year,
        firms=rows["firms"],
        sectors=sectors,
        children=children,
        generated_seconds=generated,
        written_seconds=time.perf_counter() - started - generated,
    )
