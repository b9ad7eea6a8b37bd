"""The firm register's use cases: import register files (updating by credit code, keeping field-level
history), export, a synthetic register (to a directory or straight into the database), a firm's history,
and the register as tables for matching and the sandbox.

A register is ``db`` (the one stored in the database) or the path of a register directory (Parquet files
and a manifest), as ``--register`` says on the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from huiqi.app.store import Store
from huiqi.db.types import utcnow
from huiqi.firms.importing import ImportBatch, record_digest, records_from_tables
from huiqi.matching import store as register_store
from huiqi.matching.bulk import insert_rows
from huiqi.matching.errors import EmptyRegister, RegisterNotEmpty
from huiqi.matching.models import RegisterFirm, RegisterImport
from huiqi.matching.results import results_dir
from huiqi.matching.snapshot import stored_register, write_snapshot

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
    from huiqi.firms.importing import write_rejected

    if not (batch.rejected and skip_invalid):
        return None
    target = rejected or source.with_name(source.stem + ".rejected.csv")
    write_rejected(batch, target)
    return target


def import_register(
    store: Store,
    *,
    source: Path,
    mapping: Path | None = None,
    register: str = DB,
    skip_invalid: bool = False,
    rejected: Path | None = None,
    actor: str,
) -> ImportView:
    """Bring a commission's register file into the register, by credit code, recording what changed; all
    or nothing unless ``skip_invalid`` (then the rejected rows go to ``rejected`` with their reasons)."""
    from huiqi.firms.importing import load_mapping, read_source

    rules = load_mapping(mapping)
    if register == DB:

        def work(s: Session) -> ImportView:
            batch = read_source(source, rules, known=register_store.known_codes(s))
            out = register_store.import_into_db(s, batch, actor=actor, skip_invalid=skip_invalid)
            where = _rejects(batch, source, rejected, skip_invalid)
            return ImportView(
                out.import_id, out.added, out.changed, out.unchanged, out.rejected, out.changes, where
            )

        done = store.write(work)
        copy = results_dir(store.url)
        store.read(lambda s: stored_register(s, copy))  # the columnar copy takes the changed firms now
        return done
    from huiqi.firms.register import MANIFEST, read_register

    root = Path(register)
    known = set(records_from_tables(read_register(root))) if (root / MANIFEST).exists() else set()
    batch = read_source(source, rules, known=known)
    out = register_store.import_into_directory(root, batch, skip_invalid=skip_invalid)
    written = _rejects(batch, source, rejected, skip_invalid)
    return ImportView(
        out.import_id, out.added, out.changed, out.unchanged, out.rejected, out.changes, written
    )


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
    """Hand the register back as files: CSV files, one xlsx workbook, or a Parquet register directory."""
    from huiqi.firms.exporting import write_tables
    from huiqi.firms.register import write_register

    tables = _tables(store, register=register)
    written = write_register(tables, out) if parquet else write_tables(tables, out)
    return ExportView(firms=tables["firms"].num_rows, written=written)


def register_history(store: Store, *, uscc: str, register: str = DB) -> tuple[ChangeView, ...]:
    """Show what changed for a firm, when, and from which file."""
    if register == DB:
        rows = store.read(lambda s: register_store.history(s, uscc))
        return tuple(ChangeView(c.at, c.source, c.field, c.old, c.new) for c in rows)
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
    """Write a synthetic register's firms into an empty stored register, in bulk (no history: it is new);
    the import's id."""
    records = records_from_tables(tables)
    now = utcnow()
    import_id = f"synth-{seed}-{int(time.time())}"[:32]

    def work(s: Session) -> None:
        if s.query(RegisterFirm.uscc).limit(1).first() is not None:
            raise RegisterNotEmpty()
        s.add(
            RegisterImport(
                id=import_id,
                source=f"synth:{seed}",
                at=now,
                actor=actor,
                firms_added=len(records),
            )
        )
        s.flush()
        insert_rows(
            s,
            RegisterFirm.__table__,  # type: ignore[arg-type]
            ("uscc", "record", "digest", "import_id", "updated_at"),
            (
                (
                    code,
                    json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
                    record_digest(rec),
                    import_id,
                    now,
                )
                for code, rec in records.items()
            ),
        )

    store.write(work)
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
    from huiqi.firms.register import write_register
    from huiqi.firms.synth import synth_register as make

    started = time.perf_counter()
    tables = make(firms, seed, years=range(first_year, last_year + 1), progress=progress)
    generated = time.perf_counter() - started
    if out is not None:
        write_register(tables, out)
    elif store is not None:
        import_id = _store_synthetic(store, tables, seed, actor)
        write_snapshot(results_dir(store.url), tables, [import_id])
    counts = pc.value_counts(tables["firms"]["sector"]).to_pylist()
    sectors = tuple(
        (str(r["values"]), int(r["counts"]))
        for r in sorted(counts, key=lambda r: (-int(r["counts"]), str(r["values"])))
    )
    children = tuple(
        (name, tables[name].num_rows)
        for name in ("offices", "designations", "incentives", "contracts", "credit_events")
    )
    return SynthView(
        where=str(out) if out is not None else DB,
        seed=seed,
        first_year=first_year,
        last_year=last_year,
        firms=tables["firms"].num_rows,
        sectors=sectors,
        children=children,
        generated_seconds=generated,
        written_seconds=time.perf_counter() - started - generated,
    )
