"""The stored register's columnar tables, beside the database: what imports write and matches read.

Since the bulk import (issue 16) the register's Parquet tables beside the database ARE the stored
register: an import writes the whole new register to ``register-<import id>/`` next to the current one,
commits its ``register_imports`` row and its change history in the database, and then renames the new
directory into place as ``register/`` (``snapshot.json`` in it lists the imports it holds and says
``columnar``). A reader takes the directory whose list of imports is the database's: ``register/``, or the
committed import's new directory when the process stopped before renaming it (it is renamed then). An
import refused or rolled back leaves nothing (its directory is removed). Imports of one database are
serialised by the lock of the results directory (``huiqi.firms.register.locked``).

Registers stored before that hold each firm as its canonical JSON record (``register_firms``), and the
directory is then only their copy: reading the register brings it up to date: the firms written by the
imports since (every added or changed firm carries its import's id) replace theirs; any other difference
(firms removed, a new year column) rebuilds it from all records. Either way, the copy is written to a new
directory and renamed into place, so concurrent readers see either the old or the new one.
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
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from huiqi.firms.importing import tables_from_records
from huiqi.matching.models import RegisterFirm, RegisterImport

META = "snapshot.json"
#: The firms' digests of a register directory's files, kept next to them (see ``keep_digests``).
DIGESTS = "digests.parquet"


def imports(session: Session) -> list[str]:
    """The stored register's imports, in order (what its tables' ``snapshot.json`` lists)."""
    return _imports(session)


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


#: Which import added each firm of the stored register (uscc, import_id): a firm's history begins there.
ADDED = "firms_added.parquet"


class AddedFirms:
    """The new register's file of which import added each firm (``ADDED``): the current register's rows
    (with ``keep``), then those of the firms this import adds, appended as they come. An import that adds
    none links the current file instead of writing it again (3 M rows on every re-import)."""

    SCHEMA = pa.schema([("uscc", pa.string()), ("import_id", pa.string())])

    def __init__(self, where: Path, fresh: Path, import_id: str, *, keep: bool = True) -> None:
        self.before = where / "register" / ADDED
        self.target, self.import_id = fresh / ADDED, import_id
        self.keep = keep and self.before.exists()
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> AddedFirms:
        return self

    def add(self, codes: pa.Array | None) -> None:
        """The firms this import adds (some of them: called once a part; None: none)."""
        if codes is None or not len(codes):
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.target, self.SCHEMA, compression="zstd")
            if self.keep:
                for batch in pq.ParquetFile(self.before).iter_batches(batch_size=1 << 20):
                    self.writer.write_batch(batch.cast(self.SCHEMA))
        ids = pa.array([self.import_id] * len(codes), pa.string())
        self.writer.write_table(pa.table([codes.cast(pa.string()), ids], schema=self.SCHEMA))

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
        elif kind is not None:  # refused: the new register is removed, nothing to write in it
            return
        elif self.keep:  # nothing added: the same rows as now
            try:
                os.link(self.before, self.target)
            except OSError:  # (a file system without hard links)
                shutil.copyfile(self.before, self.target)
        else:
            pq.write_table(self.SCHEMA.empty_table(), self.target, compression="zstd")


def stage(
    where: Path,
    tables: dict[str, pa.Table],
    imports: list[str],
    *,
    columnar: bool = True,
    added: pa.Array | None = None,
) -> Path:
    """Write ``tables`` as the register holding ``imports`` (the last one not yet committed), beside the
    current one, with the firms the last import ``added``; ``put_in_place`` makes it current once the
    import is committed."""
    from huiqi.firms.register import write_register

    where.mkdir(parents=True, exist_ok=True)
    fresh = where / f"register-{imports[-1] if columnar and imports else uuid.uuid4().hex}"
    write_register(tables, fresh)
    if columnar and imports:
        with AddedFirms(where, fresh, imports[-1], keep=len(imports) > 1) as news:
            news.add(added)
    meta = {"imports": imports, "firms": tables["firms"].num_rows, "columnar": columnar}
    (fresh / META).write_text(json.dumps(meta))
    return fresh


def write_snapshot(where: Path, tables: dict[str, pa.Table], imports: list[str]) -> None:
    """Put ``tables`` in place as the stored register's copy, holding the imports ``imports``."""
    put_in_place(where, stage(where, tables, imports, columnar=False))


def put_in_place(where: Path, fresh: Path) -> None:
    """Make the register directory ``fresh`` the current one: ``register`` is a link to it, replaced in
    one step, so that readers see the old register or the new one, never none."""
    current = where / "register"
    previous = current.resolve() if current.is_symlink() else None
    if current.exists() and not current.is_symlink():  # a copy written before the link
        old = where / f"old-{uuid.uuid4().hex}"
        os.replace(current, old)
        shutil.rmtree(old, ignore_errors=True)
    link = where / f".link-{uuid.uuid4().hex}"
    os.symlink(fresh.name, link)
    os.replace(link, current)
    if previous is not None and previous != fresh.resolve():
        shutil.rmtree(previous, ignore_errors=True)


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


def _meta(root: Path) -> dict[str, object] | None:
    try:
        meta = json.loads((root / META).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def columnar_register(session: Session, where: Path) -> Path | None:
    """The directory of the register the bulk import stored, when it holds every import of the
    database (a committed import's directory not yet renamed into place is renamed now); None otherwise."""
    imports = _imports(session)
    if not imports:
        return None
    current = where / "register"
    staged = where / f"register-{imports[-1]}"
    for root in (current, staged):
        meta = _meta(root)
        if meta is not None and meta.get("columnar") and meta.get("imports") == imports:
            if root == staged and current.resolve() != staged.resolve():
                put_in_place(where, staged)
            return current
    return None


def session_dir(session: Session) -> Path:
    """Where the database of ``session`` keeps its files (``results_dir`` of its URL)."""
    from huiqi.matching.results import results_dir

    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return results_dir(engine.url.render_as_string(hide_password=False))


def added_by(session: Session, uscc: str) -> RegisterImport | None:
    """The import that added a firm to the stored register's tables (None: not there, or a register
    stored before them, whose history rows say it)."""
    root = columnar_register(session, session_dir(session))
    if root is None or not (root / ADDED).exists():
        return None
    from huiqi.firms.lookup import firm_rows

    found = firm_rows(root / ADDED, uscc)["import_id"].to_pylist()
    return session.get(RegisterImport, found[0]) if found else None


def register_codes(session: Session, where: Path) -> pa.Array:
    """The credit codes of the stored register (its firms table's one column)."""
    root = columnar_register(session, where)
    if root is None:
        return stored_register(session, where)["firms"]["uscc"].combine_chunks()
    return pq.read_table(root / "firms.parquet", columns=["uscc"])["uscc"].combine_chunks()


def stored_register(session: Session, where: Path) -> dict[str, pa.Table]:
    """The stored register as the columnar layout: the bulk import's tables, or (a register stored
    before it) the copy of its records in ``where`` brought up to date."""
    from huiqi.firms.register import RegisterError, read_register

    columnar = columnar_register(session, where)
    if columnar is not None:
        return read_register(columnar)
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
            whole = meta.get("columnar") or (patched is not None and patched["firms"].num_rows == total)
            if patched is not None and whole:
                if new_imports:
                    write_snapshot(where, patched, imports)
                return patched
    if not total and _added(session):
        raise RegisterError(
            f"{where / 'register'}: the stored register's tables are missing (they are kept beside the "
            "database and must be backed up and restored with it)",
            why="stored_tables_missing",
            where=str(where / "register"),
        )
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
                    raise RegisterError(
                        f"{file}: missing (the register's {name!r} table)",
                        why="table_file_missing",
                        file=str(file),
                        table=name,
                    )
                link = here / f"{name}.parquet"
                try:
                    os.link(file, link)
                except OSError:
                    shutil.copyfile(file, link)
                try:
                    schema = pq.read_schema(link)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise RegisterError(
                        f"{file}: not a readable Parquet file: {exc}",
                        why="unreadable_parquet",
                        file=str(file),
                    ) from None
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


def _added(session: Session) -> int:
    return int(session.scalar(select(func.sum(RegisterImport.firms_added))) or 0)


def current_copy(session: Session, where: Path) -> Path | None:
    """Bring the stored register's copy up to date (see ``stored_register``); its directory, or None
    when the stored register is empty."""
    columnar = columnar_register(session, where)
    if columnar is not None:
        meta = _meta(columnar)
        return columnar if meta is not None and meta.get("firms") else None
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
