"""A register on disk: a directory of Parquet files, one per table, and a small ``register.json`` manifest.

Parquet keeps the exact types of the columnar layout (decimal128(18,2) money, date32 dates), is read by
DuckDB, PostgreSQL loaders and Spark alike, and loads lazily table by table. The manifest says which years
the year-map columns cover and how many rows each file holds, so that a truncated or foreign file is caught
on reading, with the file and column named, rather than deep inside a match run.

Writers of one directory are serialised by an advisory lock (``locked``: ``flock`` on ``.huiqi.lock``
inside it): an import holds it exclusively from reading the register to writing its history, so two
imports at once run one after the other and neither's firms are lost; readers hold it shared, so they
never see one table of the old register beside another of the new. Each file is written beside its
place and renamed over it, the manifest last.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from huiqi.firms.frames import table_years
from huiqi.firms.table import CHILD_TABLES, child_schema, firm_schema

FORMAT = "huiqi-register"
FORMAT_VERSION = 1
MANIFEST = "register.json"
LOCK = ".huiqi.lock"
TABLES = ("firms", *CHILD_TABLES)
#: rows of a Parquet row group: a firm's rows (the tables sorted by credit code) are found by the row
#: groups' statistics, reading one group of each table (``firms.lookup``); 8,192 rows decode in about 2 ms
#: a table where 65,536 took 15-20 (3 M firms), and 4,096 make the footer the larger cost
ROW_GROUP = 1 << 13
#: how long an import waits for another one writing the same directory before it gives up
LOCK_WAIT = 600.0


class RegisterError(ValueError):
    """A register directory that cannot be read as the register layout; the message names file and column.
    ``why`` and ``figures`` let a page word it in its own language."""

    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(message)
        self.message, self.why, self.figures = message, why, figures


_held = threading.local()


def _lock_owner(handle: IO[str]) -> str:
    handle.seek(0)
    text = handle.read().strip()
    return f" ({text})" if text else ""


@contextmanager
def locked(
    path: str | Path,
    *,
    shared: bool = False,
    wait: float = LOCK_WAIT,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold a register directory's lock: exclusive for a writer (the directory is created), shared for a
    reader. Waits up to ``wait`` seconds for another holder (``on_wait`` is told once, with who holds
    it), then raises RegisterError. Re-entrant within a thread: an import holding it may read and write.
    A directory a writer created and left empty (its import was refused) is removed again."""
    root = Path(path).resolve()
    held: dict[Path, bool] = getattr(_held, "locks", None) or {}
    _held.locks = held
    if root in held:
        if not shared and held[root]:
            raise RegisterError(
                f"{root}: an exclusive lock is wanted while only a shared one is held",
                why="lock_not_exclusive",
                root=str(root),
            )
        yield
        return
    if shared and not root.is_dir():
        yield  # nothing to read, and nothing to lock
        return
    existed = root.is_dir()
    handle = _acquire(root, shared=shared, deadline=time.monotonic() + wait, wait=wait, on_wait=on_wait)
    if handle is None:
        yield  # a read-only register: nobody writes it
        return
    with handle:
        held[root] = shared
        try:
            if not shared:
                handle.seek(0)
                handle.truncate()
                handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
                handle.flush()
            yield
        finally:
            del held[root]
            if not shared and not existed:
                _remove_if_empty(root)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _acquire(
    root: Path, *, shared: bool, deadline: float, wait: float, on_wait: Callable[[str], None] | None
) -> IO[str] | None:
    """The lock file, locked; retried when the file was removed while this process waited for it."""
    told = False
    while True:
        if not shared:
            root.mkdir(parents=True, exist_ok=True)
        try:
            handle = (root / LOCK).open("a+", encoding="utf-8")
        except OSError:
            if not shared:
                raise RegisterError(
                    f"{root}: cannot create the lock file {LOCK}; is the directory writable?",
                    why="lock_file",
                    root=str(root),
                    lock=LOCK,
                ) from None
            return None
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            while True:
                try:
                    fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RegisterError(
                            f"{root}: another process is writing this register{_lock_owner(handle)}; "
                            f"gave up after {wait:.0f} s, try again when it has finished",
                            why="register_busy",
                            root=str(root),
                            seconds=round(wait),
                            owner=_lock_owner(handle).strip(" ()"),
                        ) from None
                    if on_wait is not None and not told:
                        on_wait(f"waiting for another process writing {root}{_lock_owner(handle)} ...")
                        told = True
                    time.sleep(0.05)
            if _same_file(handle, root / LOCK):
                return handle
        except BaseException:
            handle.close()
            raise
        handle.close()  # the holder removed the directory it had created: start again


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _remove_if_empty(root: Path) -> None:
    """Remove a directory holding nothing but the lock file (while the lock is still held)."""
    try:
        if {p.name for p in root.iterdir()} == {LOCK}:
            (root / LOCK).unlink()
            root.rmdir()
    except OSError:
        pass  # someone else's file appeared: leave it


def _temporary(target: Path) -> Path:
    """Where ``target`` is written before it is renamed over the old one."""
    return target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def expected_schema(name: str, years: list[int]) -> pa.Schema:
    return firm_schema(years) if name == "firms" else child_schema(name)


def check_schema(actual: pa.Schema, expected: pa.Schema, *, source: str) -> None:
    """Raise RegisterError naming the first column that is missing, extra, mistyped or out of order."""
    for field in expected:
        if field.name not in actual.names:
            raise RegisterError(
                f"{source}: column {field.name!r} is missing (expected {field.type})",
                why="column_missing",
                source=source,
                column=field.name,
                type=str(field.type),
            )
        got = actual.field(field.name).type
        if got != field.type:
            raise RegisterError(
                f"{source}: column {field.name!r} has type {got}, expected {field.type}",
                why="column_type",
                source=source,
                column=field.name,
                got=str(got),
                type=str(field.type),
            )
    extra = [n for n in actual.names if n not in expected.names]
    if extra:
        raise RegisterError(
            f"{source}: unexpected column {extra[0]!r} (not in the register layout)",
            why="unexpected_column",
            source=source,
            column=extra[0],
        )
    if actual.names != expected.names:
        raise RegisterError(
            f"{source}: columns are out of order; expected {', '.join(expected.names)}",
            why="columns_order",
            source=source,
            columns=", ".join(expected.names),
        )


#: text columns that are (nearly) unique a row: a dictionary would only cost time and space
_UNIQUE_TEXT = frozenset({"uscc", "name_zh", "name_en", "id", "counterparty"})


def _repeated(schema: pa.Schema) -> list[str]:
    """The columns worth a Parquet dictionary: text from a small vocabulary (sector, district, kind)."""
    return [f.name for f in schema if pa.types.is_string(f.type) and f.name not in _UNIQUE_TEXT]


def table_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """A register table's Parquet writer: every writer of the layout writes the same files."""
    return pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        use_dictionary=_repeated(schema),
        store_decimal_as_integer=True,  # money as 64-bit integers: quicker both ways
    )


def manifest_text(years: list[int], rows: dict[str, int]) -> str:
    """The manifest of a register of ``years`` whose tables hold ``rows``: one text for every writer."""
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "years": years,
        "tables": {name: {"file": f"{name}.parquet", "rows": rows[name]} for name in TABLES},
    }
    return json.dumps(manifest, indent=2) + "\n"


def write_register(tables: dict[str, pa.Table], path: str | Path) -> Path:
    """Write every table to ``path/<name>.parquet`` and the manifest; the directory is created if needed."""
    return write_register_chunks([tables], path)


def write_register_chunks(chunks: Iterable[dict[str, pa.Table]], path: str | Path) -> Path:
    """Write a register given as consecutive parts of its tables (each a dict of every table) to
    ``path`` as they come, so that a register larger than memory is never held whole; the files replace
    the old ones only when every part is written."""
    out = Path(path)
    parts = iter(chunks)
    first = next(parts, None)
    if first is None:
        raise RegisterError("cannot write a register of no tables", why="no_tables")
    missing = [name for name in TABLES if name not in first]
    if missing:
        raise RegisterError(
            f"cannot write a register without the table(s) {', '.join(missing)}",
            why="tables_missing",
            tables=", ".join(missing),
        )
    years = table_years(first["firms"])
    schemas = {name: expected_schema(name, years) for name in TABLES}
    rows = dict.fromkeys(TABLES, 0)
    with locked(out):
        written = [(_temporary(out / f"{name}.parquet"), out / f"{name}.parquet") for name in TABLES]
        writers: list[pq.ParquetWriter] = []
        try:
            waiting = [first]  # (each part let go once written, before the next is made: one held)
            del first
            while (chunk := waiting.pop() if waiting else next(parts, None)) is not None:
                for name in TABLES:
                    check_schema(chunk[name].schema, schemas[name], source=f"table {name!r}")
                if not writers:
                    writers = [
                        table_writer(tmp, schemas[name])
                        for (tmp, _), name in zip(written, TABLES, strict=True)
                    ]
                for writer, name in zip(writers, TABLES, strict=True):
                    if chunk[name].num_rows:  # an empty part would be an empty row group
                        writer.write_table(chunk[name], row_group_size=ROW_GROUP)
                    rows[name] += chunk[name].num_rows
                del chunk
            for writer in writers:
                writer.close()
            written.append((_temporary(out / MANIFEST), out / MANIFEST))
            written[-1][0].write_text(manifest_text(years, rows), encoding="utf-8")
        except BaseException:
            for writer in writers:
                writer.close()
            for tmp, _ in written:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, target in written:
            os.replace(tmp, target)
    return out


def read_manifest(path: str | Path) -> dict[str, Any]:
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegisterError(
            f"{file}: not found; is {path} a register directory?",
            why="manifest_missing",
            file=str(file),
            path=str(path),
        ) from None
    except json.JSONDecodeError as exc:
        raise RegisterError(f"{file}: invalid JSON: {exc}", why="manifest_json", file=str(file)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RegisterError(
            f'{file}: not a huiqi register manifest (expected "format": "{FORMAT}")',
            why="not_a_manifest",
            file=str(file),
            format=FORMAT,
        )
    if manifest.get("version") != FORMAT_VERSION:
        raise RegisterError(
            f"{file}: register format version {manifest.get('version')!r}; "
            f"this huiqi reads version {FORMAT_VERSION}",
            why="format_version",
            file=str(file),
            version=repr(manifest.get("version")),
            supported=FORMAT_VERSION,
        )
    years = manifest.get("years")
    if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
        raise RegisterError(f'{file}: "years" must be a list of years', why="bad_years", file=str(file))
    return manifest


def read_register(path: str | Path) -> dict[str, pa.Table]:
    """Read a register directory, checking every file's columns and row count against the manifest."""
    with locked(path, shared=True):
        return _read_register(Path(path))


def register_files(path: str | Path) -> dict[str, Path]:
    """A register directory's table files, each checked against the manifest (columns, types, row
    count, from the files' footers) but not read: for a reader that scans them as it goes."""
    root = Path(path)
    manifest = read_manifest(root)
    entries = manifest.get("tables", {})
    out: dict[str, Path] = {}
    for name in TABLES:
        entry = entries.get(name) if isinstance(entries, dict) else None
        file = root / (entry.get("file", f"{name}.parquet") if isinstance(entry, dict) else f"{name}.parquet")
        if not file.exists():
            raise RegisterError(
                f"{file}: missing (the register's {name!r} table)",
                why="table_file_missing",
                file=str(file),
                table=name,
            )
        try:
            meta = pq.read_metadata(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RegisterError(
                f"{file}: not a readable Parquet file: {exc}", why="unreadable_parquet", file=str(file)
            ) from None
        check_schema(
            meta.schema.to_arrow_schema(), expected_schema(name, manifest["years"]), source=str(file)
        )
        rows = entry.get("rows") if isinstance(entry, dict) else None
        if rows is not None and rows != meta.num_rows:
            raise RegisterError(
                f"{file}: {meta.num_rows} rows, but the manifest says {rows}",
                why="row_count",
                file=str(file),
                rows=meta.num_rows,
                manifest=rows,
            )
        out[name] = file
    return out


def _read_register(root: Path) -> dict[str, pa.Table]:
    return {
        name: pq.read_table(file).replace_schema_metadata(None) for name, file in register_files(root).items()
    }
