"""The stored register's columnar copy, beside the database: what a match of ``--register db`` reads.

The database keeps each firm as its canonical JSON record (``register_firms``), which is what imports
merge and history compares; turning millions of records back into the columnar layout takes minutes.
So the layout is kept as a register directory (Parquet) next to the runs' results, with the imports it
includes (``snapshot.json``). Reading the register brings the copy up to date: the firms written by the
imports since (every added or changed firm carries its import's id) replace theirs; any other difference
(firms removed, a new year column) rebuilds it from all records. The copy is written to a new directory
and renamed into place, so concurrent readers see either the old or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.firms.importing import tables_from_records
from huiqi.matching.models import RegisterFirm, RegisterImport

META = "snapshot.json"


def _imports(session: Session) -> list[str]:
    return list(session.scalars(select(RegisterImport.id).order_by(RegisterImport.at, RegisterImport.id)))


def _years(tables: dict[str, pa.Table]) -> list[int]:
    from huiqi.firms.frames import table_years

    return sorted(table_years(tables["firms"]))


def _all_records(session: Session) -> dict[str, pa.Table]:
    records = [
        json.loads(t) for t in session.scalars(select(RegisterFirm.record).order_by(RegisterFirm.uscc))
    ]
    return tables_from_records(records)


def write_snapshot(where: Path, tables: dict[str, pa.Table], imports: list[str]) -> None:
    """Put ``tables`` in place as the stored register's copy, holding the imports ``imports``."""
    from huiqi.firms.register import write_register

    where.mkdir(parents=True, exist_ok=True)
    fresh = where / f"register-{uuid.uuid4().hex}"
    write_register(tables, fresh)
    (fresh / META).write_text(json.dumps({"imports": imports, "firms": tables["firms"].num_rows}))
    current = where / "register"
    old = where / f"old-{uuid.uuid4().hex}"
    try:
        if current.exists():
            os.replace(current, old)
        os.replace(fresh, current)
    except OSError:  # another run put its copy in place meanwhile: theirs is as good
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _patched(
    session: Session, tables: dict[str, pa.Table], new_imports: list[str]
) -> dict[str, pa.Table] | None:
    """The copy with the firms of ``new_imports`` replaced; None when their columns do not fit it."""
    records = [
        json.loads(t)
        for t in session.scalars(
            select(RegisterFirm.record)
            .where(RegisterFirm.import_id.in_(new_imports))
            .order_by(RegisterFirm.uscc)
        )
    ]
    if not records:
        return tables
    years = _years(tables)
    patch = tables_from_records(records, years)
    from huiqi.firms.importing import record_years

    if set(record_years(records)) - set(years):
        return None
    codes = patch["firms"]["uscc"].combine_chunks()
    out = {}
    for name, t in tables.items():
        kept = t.filter(pc.invert(pc.is_in(t["uscc"], value_set=codes)))
        out[name] = pa.concat_tables([kept, patch[name].cast(t.schema)])
    return out


def stored_register(session: Session, where: Path) -> dict[str, pa.Table]:
    """The stored register as the columnar layout, from its copy in ``where`` brought up to date."""
    from huiqi.firms.register import read_register

    imports = _imports(session)
    total = session.scalar(select(func.count()).select_from(RegisterFirm)) or 0
    current = where / "register"
    meta_file = current / META
    if meta_file.exists():
        try:
            meta = json.loads(meta_file.read_text())
            tables = read_register(current)
        except (OSError, ValueError):
            meta, tables = None, None
        if meta is not None and tables is not None and set(meta["imports"]) <= set(imports):
            new_imports = [i for i in imports if i not in set(meta["imports"])]
            patched = _patched(session, tables, new_imports) if new_imports else tables
            if patched is not None and patched["firms"].num_rows == total:
                if new_imports:
                    write_snapshot(where, patched, imports)
                return patched
    tables = _all_records(session)
    if tables["firms"].num_rows:
        write_snapshot(where, tables, imports)
    return tables
