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
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.firms.importing import tables_from_records
from huiqi.matching.models import RegisterFirm, RegisterImport

META = "snapshot.json"
#: The firms' digests of a register directory's files, kept next to them (see ``keep_digests``).
DIGESTS = "digests.parquet"


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


@contextmanager
def pinned(root: Path, scratch: Path) -> Iterator[dict[str, Path]]:
    """A register directory's tables as Parquet files DuckDB scans as it goes (never read whole into
    memory), hard links made under ``scratch``: a copy replaced or an import written meanwhile cannot
    change or remove what this reader sees. Every file's columns are checked against the manifest."""
    from huiqi.firms.register import (
        TABLES,
        RegisterError,
        check_schema,
        expected_schema,
        locked,
        read_manifest,
    )

    scratch.mkdir(parents=True, exist_ok=True)
    here = Path(tempfile.mkdtemp(prefix="pinned-", dir=scratch))
    try:
        with locked(root, shared=True):
            manifest = read_manifest(root)
            entries = manifest.get("tables", {})
            out: dict[str, Path] = {}
            for name in TABLES:
                entry = entries.get(name) if isinstance(entries, dict) else None
                file = root / (
                    entry.get("file", f"{name}.parquet") if isinstance(entry, dict) else f"{name}.parquet"
                )
                if not file.exists():
                    raise RegisterError(f"{file}: missing (the register's {name!r} table)")
                link = here / f"{name}.parquet"
                try:
                    os.link(file, link)
                except OSError:
                    shutil.copyfile(file, link)
                try:
                    schema = pq.read_schema(link)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise RegisterError(f"{file}: not a readable Parquet file: {exc}") from None
                check_schema(schema, expected_schema(name, manifest["years"]), source=str(file))
                out[name] = link
            digests = root / DIGESTS
            if digests.exists():  # the firms' digests of exactly these files (written with them)
                try:
                    os.link(digests, here / DIGESTS)
                    out[DIGESTS] = here / DIGESTS
                except OSError:
                    pass
        yield out
    finally:
        shutil.rmtree(here, ignore_errors=True)


def current_copy(session: Session, where: Path) -> Path | None:
    """Bring the stored register's copy up to date (see ``stored_register``); its directory, or None
    when the stored register is empty."""
    current = where / "register"
    try:
        meta = json.loads((current / META).read_text())
    except (OSError, ValueError):
        meta = None
    total = session.scalar(select(func.count()).select_from(RegisterFirm)) or 0
    if meta is not None and meta.get("imports") == _imports(session) and meta.get("firms") == total:
        return current if total else None  # up to date: nothing is read
    tables = stored_register(session, where)
    return current if tables["firms"].num_rows else None


def keep_digests(root: Path, pinned_firms: Path, digests: pa.Table) -> None:
    """Keep the firms' digests next to the register copy they were computed from, so that the next run
    need not compute them; not when the copy was replaced meanwhile (its firms file is another file)."""
    try:
        if os.stat(root / "firms.parquet").st_ino != os.stat(pinned_firms).st_ino:
            return
        fresh = root / f".{DIGESTS}.{uuid.uuid4().hex}"
        pq.write_table(digests, fresh)
        os.replace(fresh, root / DIGESTS)
    except OSError:
        return
