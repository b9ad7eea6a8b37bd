"""A register on disk: a directory of Parquet files, one per table, and a small ``register.json`` manifest.

Parquet keeps the exact types of the columnar layout (decimal128(18,2) money, date32 dates), is read by
DuckDB, PostgreSQL loaders and Spark alike, and loads lazily table by table. The manifest says which years
the year-map columns cover and how many rows each file holds, so that a truncated or foreign file is caught
on reading, with the file and column named, rather than deep inside a match run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from huiqi.firms.frames import table_years
from huiqi.firms.table import CHILD_TABLES, child_schema, firm_schema

FORMAT = "huiqi-register"
FORMAT_VERSION = 1
MANIFEST = "register.json"
TABLES = ("firms", *CHILD_TABLES)


class RegisterError(ValueError):
    """A register directory that cannot be read as the register layout; the message names file and column."""


def expected_schema(name: str, years: list[int]) -> pa.Schema:
    return firm_schema(years) if name == "firms" else child_schema(name)


def check_schema(actual: pa.Schema, expected: pa.Schema, *, source: str) -> None:
    """Raise RegisterError naming the first column that is missing, extra, mistyped or out of order."""
    for field in expected:
        if field.name not in actual.names:
            raise RegisterError(f"{source}: column {field.name!r} is missing (expected {field.type})")
        got = actual.field(field.name).type
        if got != field.type:
            raise RegisterError(f"{source}: column {field.name!r} has type {got}, expected {field.type}")
    extra = [n for n in actual.names if n not in expected.names]
    if extra:
        raise RegisterError(f"{source}: unexpected column {extra[0]!r} (not in the register layout)")
    if actual.names != expected.names:
        raise RegisterError(f"{source}: columns are out of order; expected {', '.join(expected.names)}")


def write_register(tables: dict[str, pa.Table], path: str | Path) -> Path:
    """Write every table to ``path/<name>.parquet`` and the manifest; the directory is created if needed."""
    out = Path(path)
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise RegisterError(f"cannot write a register without the table(s) {', '.join(missing)}")
    years = table_years(tables["firms"])
    for name in TABLES:
        check_schema(tables[name].schema, expected_schema(name, years), source=f"table {name!r}")
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        pq.write_table(tables[name], out / f"{name}.parquet", compression="zstd")
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "years": years,
        "tables": {name: {"file": f"{name}.parquet", "rows": tables[name].num_rows} for name in TABLES},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


def read_manifest(path: str | Path) -> dict[str, Any]:
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegisterError(f"{file}: not found; is {path} a register directory?") from None
    except json.JSONDecodeError as exc:
        raise RegisterError(f"{file}: invalid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RegisterError(f'{file}: not a huiqi register manifest (expected "format": "{FORMAT}")')
    if manifest.get("version") != FORMAT_VERSION:
        raise RegisterError(
            f"{file}: register format version {manifest.get('version')!r}; "
            f"this huiqi reads version {FORMAT_VERSION}"
        )
    years = manifest.get("years")
    if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
        raise RegisterError(f'{file}: "years" must be a list of years')
    return manifest


def read_register(path: str | Path) -> dict[str, pa.Table]:
    """Read a register directory, checking every file's columns and row count against the manifest."""
    root = Path(path)
    manifest = read_manifest(root)
    years: list[int] = manifest["years"]
    entries = manifest.get("tables", {})
    tables: dict[str, pa.Table] = {}
    for name in TABLES:
        entry = entries.get(name) if isinstance(entries, dict) else None
        file = root / (entry.get("file", f"{name}.parquet") if isinstance(entry, dict) else f"{name}.parquet")
        if not file.exists():
            raise RegisterError(f"{file}: missing (the register's {name!r} table)")
        try:
            schema = pq.read_schema(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RegisterError(f"{file}: not a readable Parquet file: {exc}") from None
        check_schema(schema, expected_schema(name, years), source=str(file))
        table = pq.read_table(file)
        rows = entry.get("rows") if isinstance(entry, dict) else None
        if rows is not None and rows != table.num_rows:
            raise RegisterError(f"{file}: {table.num_rows} rows, but the manifest says {rows}")
        tables[name] = table.replace_schema_metadata(None)
    return tables
