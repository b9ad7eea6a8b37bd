"""The register in the database (or in a Parquet register directory), with its change history.

Both targets take the same checked, merged import (``huiqi.firms.importing.prepare``):

- database: ``register_firms`` holds each firm's canonical record and digest; ``register_changes`` one row
  per changed field (layout column or child table) with old and new value, the import and its file;
  ``register_imports`` one row per import. Everything in one transaction: all or nothing.
- directory (``--register PATH``): the Parquet register files are rewritten and the changes appended to
  ``history.parquet`` next to them (same columns as ``register_changes``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms.importing import ImportBatch, Merge, Record, prepare, record_digest, records_from_tables
from huiqi.firms.importing import tables_from_records as _tables_from_records
from huiqi.matching.models import RegisterChange, RegisterFirm, RegisterImport

HISTORY = "history.parquet"
CHUNK = 500


@dataclass
class ImportOutcome:
    import_id: str
    added: int
    changed: int
    unchanged: int
    rejected: int
    changes: int


def _chunks(items: list[str], n: int = CHUNK) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def known_codes(session: Session) -> set[str]:
    return set(session.scalars(select(RegisterFirm.uscc)))


def import_into_db(
    session: Session, batch: ImportBatch, *, actor: str, skip_invalid: bool = False
) -> ImportOutcome:
    """Merge an import into the stored register; the caller commits (or rolls back) the transaction."""
    codes = sorted({r.values["uscc"] for rows in batch.rows.values() for r in rows})
    existing: dict[str, Record] = {}
    for part in _chunks(codes):
        for firm in session.scalars(select(RegisterFirm).where(RegisterFirm.uscc.in_(part))):
            existing[firm.uscc] = json.loads(firm.record)
    merged = prepare(batch, existing, skip_invalid=skip_invalid)
    now = utcnow()
    imp = RegisterImport(
        id=new_id(),
        source=batch.source,
        at=now,
        actor=actor,
        firms_added=merged.added,
        firms_changed=merged.changed,
        firms_unchanged=merged.unchanged,
        rows_rejected=len(batch.rejected),
    )
    session.add(imp)
    for code, record in merged.records.items():
        text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        row = RegisterFirm(
            uscc=code, record=text, digest=record_digest(record), import_id=imp.id, updated_at=now
        )
        session.merge(row)
    session.add_all(
        RegisterChange(
            import_id=imp.id, uscc=c.uscc, at=now, source=batch.source, field=c.field, old=c.old, new=c.new
        )
        for c in merged.changes
    )
    session.flush()
    return ImportOutcome(
        imp.id, merged.added, merged.changed, merged.unchanged, len(batch.rejected), len(merged.changes)
    )


def load_register(session: Session, years: list[int] | None = None) -> dict[str, pa.Table]:
    """The stored register as the columnar layout (every firm, in credit-code order)."""
    from huiqi.matching.snapshot import columnar_register, session_dir

    root = columnar_register(session, session_dir(session))
    if root is not None:  # the bulk import's tables are the register (huiqi.matching.snapshot)
        from huiqi.firms.importing import records_from_tables
        from huiqi.firms.register import read_register

        stored = records_from_tables(read_register(root))
        return _tables_from_records([stored[c] for c in sorted(stored)], years)
    records = [
        json.loads(t) for t in session.scalars(select(RegisterFirm.record).order_by(RegisterFirm.uscc))
    ]
    return _tables_from_records(records, years)


def history(session: Session, uscc: str) -> list[RegisterChange]:
    return list(
        session.scalars(select(RegisterChange).where(RegisterChange.uscc == uscc).order_by(RegisterChange.id))
    )


def clear_register(session: Session) -> None:  # pragma: no cover - used by tests and demos
    session.execute(delete(RegisterFirm))


# -- a Parquet register directory ------------------------------------------------------------------------
def import_into_directory(
    path: str | Path, batch: ImportBatch, *, skip_invalid: bool = False
) -> ImportOutcome:
    """Merge an import into a register directory (created if missing); history goes to history.parquet.
    The directory's lock is held from reading it to writing the history: concurrent imports serialise."""
    from huiqi.firms.register import locked

    with locked(path):
        return _import_into_directory(Path(path), batch, skip_invalid=skip_invalid)


def _import_into_directory(root: Path, batch: ImportBatch, *, skip_invalid: bool) -> ImportOutcome:
    from huiqi.firms.register import MANIFEST, read_register, write_register

    existing: dict[str, Record] = {}
    if (root / MANIFEST).exists():
        existing = records_from_tables(read_register(root))
    merged: Merge = prepare(batch, existing, skip_invalid=skip_invalid)
    records = {**existing, **merged.records}
    tables = _tables_from_records([records[c] for c in sorted(records)])
    write_register(tables, root)
    now = utcnow()
    import_id = new_id()
    new = pa.table(
        {
            "import_id": pa.array([import_id] * len(merged.changes), pa.string()),
            "uscc": pa.array([c.uscc for c in merged.changes], pa.string()),
            "at": pa.array([now] * len(merged.changes), pa.timestamp("us", tz="UTC")),
            "source": pa.array([batch.source] * len(merged.changes), pa.string()),
            "field": pa.array([c.field for c in merged.changes], pa.string()),
            "old": pa.array([c.old for c in merged.changes], pa.string()),
            "new": pa.array([c.new for c in merged.changes], pa.string()),
        }
    )
    hist = root / HISTORY
    if hist.exists():
        new = pa.concat_tables([pq.read_table(hist), new])
    pq.write_table(new, hist, compression="zstd")
    return ImportOutcome(
        import_id, merged.added, merged.changed, merged.unchanged, len(batch.rejected), len(merged.changes)
    )


def directory_history(path: str | Path, uscc: str | None = None) -> list[dict[str, object]]:
    hist = Path(path) / HISTORY
    if not hist.exists():
        return []
    rows: list[dict[str, object]] = pq.read_table(hist).to_pylist()
    return [r for r in rows if uscc is None or r["uscc"] == uscc]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
