"""Each match run's whole firm x programme table, as a Parquet file beside the database.

``<dir>/<run id>.parquet`` holds one row a firm x programme (uscc, programme, version, date, eligible,
amount, unmet: what a reader and ``huiqi match --out`` get, so that exporting the whole run is a copy of the
file), programme by programme as computed (not sorted: a sort of tens of millions of rows would cost more
than the match; readers sort what they show); files written before the version and date were stored get
them added when read;
``<run id>.firms.parquet`` the firms' digests the run saw (what the next run compares with).

A run that recomputed a few firms (no programme changed) writes a delta instead of the whole table again:
``<run id>.parquet`` then holds only the rows of the firms changed since a base run (every programme),
``<run id>.replaced.parquet`` those firms' credit codes (changed, added or gone) and ``<run id>.delta.json``
the base run's file and the run's number of rows. Its rows are the base's rows of the other firms and the
delta's (``source``); a run whose delta would hold more than a quarter of the rows writes the whole table
(compaction). Retention keeps a base file while a kept run reads it. The directory is
``HUIQI_MATCH_RESULTS_DIR``, by default next to the embedded database (``var/huiqi.db`` ->
``var/huiqi.match-results/``) or ``var/match-results/<key of the database's URL>`` for any other.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from huiqi.config import Settings

#: What a reader gets a row, and what a results file holds (older files lack the version and the date).
COLUMNS = ("uscc", "programme", "version", "date", "eligible", "amount", "unmet")
#: The columns a run computes or reuses; the version and the date are the run's.
STORED = ("uscc", "programme", "eligible", "amount", "unmet")


def results_dir(url: str) -> Path:
    """Where a database's runs keep their files (the setting, else beside an embedded database)."""
    configured = _configured_dir(_settings_key())  # as the environment says now: the process may change it
    if configured is not None:
        return configured
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        return db.with_name(db.stem + ".match-results")
    import hashlib

    # one directory per database, so that two databases' runs and register copies never meet
    key = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path("var/match-results") / key


def _settings_key() -> tuple[tuple[str, str], ...]:
    """The settings' environment now (a firm's page asks for the directory on every read: building the
    settings took 45 ms)."""
    import os

    return tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("HUIQI_")))


@functools.lru_cache(maxsize=8)
def _configured_dir(_key: tuple[tuple[str, str], ...]) -> Path | None:
    return Settings().match_results_dir


def keep_runs() -> int:
    """How many runs keep their files and pairs (besides the latest of every date)."""
    return Settings().match_keep_runs


def run_file(where: Path, run_id: str) -> Path:
    return where / f"{run_id}.parquet"


def digests_file(results_file: Path) -> Path:
    return results_file.with_name(results_file.stem + ".firms.parquet")


def replaced_file(results_file: Path) -> Path:
    """The credit codes of a delta's firms (whose base rows it replaces)."""
    return results_file.with_name(results_file.stem + ".replaced.parquet")


def delta_file(results_file: Path) -> Path:
    """A delta's description: its base run's file and its number of rows (JSON)."""
    return results_file.with_name(results_file.stem + ".delta.json")


def delta_of(results_file: Path) -> dict[str, Any] | None:
    """A delta run's ``{"base": path, "rows": n}``; None for a run that wrote its whole table."""
    import json

    try:
        found = json.loads(delta_file(results_file).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def base_of(results_file: Path) -> Path | None:
    """The whole table a delta run's rows are read with (None: the run's file is whole)."""
    found = delta_of(results_file)
    return None if found is None else Path(str(found["base"]))


def source(path: Path, columns: str = ", ".join(COLUMNS)) -> str:
    """A run's rows as a relation to select ``columns`` from: its file, or a delta over its base."""
    base = base_of(path)
    own = f"read_parquet({_q(str(path))})"
    if base is None:
        return own
    return (
        f"(SELECT {columns} FROM read_parquet({_q(str(base))}) base_rows "  # nosec B608  # quoted paths
        f"ANTI JOIN read_parquet({_q(str(replaced_file(path)))}) replaced_firms USING (uscc) "
        f"UNION ALL SELECT {columns} FROM {own})"
    )


def write_delta(
    raw: Any, body: str, replaced: str, target: Path, base: Path, on: dt.date, versions: Mapping[str, str]
) -> int:
    """Write a delta run: the rows of ``body`` (``STORED`` columns) and the firms of ``replaced`` (a
    relation of ``uscc``) over ``base``; how many rows the run holds (the base's others and these)."""
    import json

    write_results(raw, body, target, on, versions)
    out = _q(str(replaced_file(target)))
    raw.execute(f"COPY (SELECT DISTINCT uscc FROM {replaced}) TO {out} (FORMAT parquet)")  # nosec B608
    delta_file(target).write_text(json.dumps({"base": str(base), "rows": 0}))
    row = raw.sql(f"SELECT count(*) FROM {source(target)}").fetchone()  # nosec B608
    rows = int(row[0]) if row else 0
    delta_file(target).write_text(json.dumps({"base": str(base), "rows": rows}))
    return rows


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_digests(raw: Any, where: Path, run_id: str) -> None:
    """The firms' digests of this run (the ``digests`` relation), next to its results."""
    path = digests_file(run_file(where, run_id))
    raw.execute(f"COPY (SELECT uscc, digest FROM digests) TO {_q(str(path))} (FORMAT parquet)")  # nosec B608


def write_results(raw: Any, body: str, target: Path, on: dt.date, versions: Mapping[str, str]) -> int:
    """Write the rows of ``body`` (``STORED`` columns) with the run's date and each programme's version as
    the run's results file; how many rows."""
    row = raw.execute(
        f"COPY (SELECT {_added(on, versions)} FROM ({body})) "  # nosec B608  # our names, quoted literals
        f"TO {_q(str(target))} (FORMAT parquet, COMPRESSION snappy)"
    ).fetchone()
    return int(row[0]) if row else 0


def row_count(path: Path) -> int:
    """How many rows a results file holds (from its footer, or a delta's description)."""
    import pyarrow.parquet as pq

    delta = delta_of(path)
    if delta is not None:
        return int(delta["rows"])
    return int(pq.ParquetFile(path).metadata.num_rows) if path.exists() else -1


def same_as(prev: Path, target: Path) -> int:
    """The run's results are the last run's: a hard link to its file (a copy where links cannot be made),
    and to a delta's description and firms."""
    import os
    import shutil

    pairs = [(prev, target)]
    if delta_of(prev) is not None:
        pairs += [(f(prev), f(target)) for f in (replaced_file, delta_file)]
    for old, new in pairs:
        try:
            os.link(old, new)
        except OSError:
            shutil.copyfile(old, new)
    return row_count(target)


_EMPTY = (
    "(SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS programme, NULL::BOOLEAN AS eligible, "
    "NULL::DECIMAL(18,2) AS amount, NULL::VARCHAR AS unmet WHERE false)"
)


def prev_view(raw: Any, prev_file: str, ids: list[str]) -> str:
    """The last run's rows of the programmes ``ids`` as a relation to select from."""
    if not prev_file or not Path(prev_file).exists():
        return _EMPTY
    wanted = ", ".join(_q(p) for p in ids) or "NULL"
    raw.execute(
        f"CREATE OR REPLACE TEMP VIEW prev AS SELECT {', '.join(STORED)} "  # nosec B608
        f"FROM {source(Path(prev_file), ', '.join(STORED))} WHERE programme IN ({wanted})"
    )
    return "prev"


def prev_digests_view(raw: Any, prev_file: str) -> str:
    """The firms' digests the last run saw, as a relation (uscc, digest)."""
    path = digests_file(Path(prev_file)) if prev_file else None
    if path is None or not path.exists():
        return "(SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS digest WHERE false)"
    return f"read_parquet({_q(str(path))})"


def _added(on: dt.date, versions: Mapping[str, str]) -> str:
    """The reader's columns over ``STORED`` columns: the run's date and each programme's version added."""
    cases = " ".join(f"WHEN {_q(p)} THEN {_q(v)}" for p, v in versions.items())
    version = f"CASE programme {cases} END" if cases else "NULL::VARCHAR"
    return (
        f"uscc, programme, {version} AS version, DATE {_q(on.isoformat())} AS date, eligible, amount, unmet"
    )


def complete(path: Path) -> bool:
    """Whether a results file holds every reader's column (files of earlier releases lack two)."""
    import pyarrow.parquet as pq

    return set(COLUMNS) <= set(pq.read_schema(path).names)


def _columns(path: Path, on: dt.date, versions: Mapping[str, str]) -> str:
    """The reader's columns over a results file."""
    return ", ".join(COLUMNS) if complete(path) else _added(on, versions)


def read_results(
    path: Path | None, ids: list[str], on: dt.date | None = None, versions: Mapping[str, str] | None = None
) -> pa.Table:
    """A run's rows of the programmes ``ids`` (uscc, programme, version, date, eligible, amount, unmet),
    sorted by programme then firm."""
    if path is None or not path.exists() or on is None:
        return pa.table(
            {
                "uscc": pa.array([], pa.string()),
                "programme": pa.array([], pa.string()),
                "version": pa.array([], pa.string()),
                "date": pa.array([], pa.date32()),
                "eligible": pa.array([], pa.bool_()),
                "amount": pa.array([], pa.decimal128(18, 2)),
                "unmet": pa.array([], pa.string()),
            }
        )
    wanted = ", ".join(_q(p) for p in ids) or "NULL"
    con = duckdb.connect()
    try:
        table: pa.Table = con.sql(
            f"SELECT {_columns(path, on, versions or {})} FROM {source(path)} "  # nosec B608
            f"WHERE programme IN ({wanted}) ORDER BY programme, uscc"
        ).to_arrow_table()
    finally:
        con.close()
    return table


def page(
    path: Path,
    *,
    on: dt.date,
    versions: Mapping[str, str],
    programme: str | None = None,
    eligible: bool | None = None,
    uscc: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """A filtered page of a run's rows, sorted by programme then firm, and how many rows match."""
    cond: list[str] = ["true"]
    params: list[Any] = []
    if programme:
        cond.append("programme = ?")
        params.append(programme)
    if eligible is not None:
        cond.append("eligible = ?")
        params.append(eligible)
    if uscc:
        cond.append("uscc = ?")
        params.append(uscc)
    where = " AND ".join(cond)
    con = duckdb.connect()
    try:
        src = source(path)
        total = con.execute(f"SELECT count(*) FROM {src} WHERE {where}", params).fetchone()  # nosec B608
        rel = con.execute(
            f"SELECT {_columns(path, on, versions)} FROM {src} WHERE {where} "  # nosec B608
            "ORDER BY programme, uscc LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        names = [d[0] for d in rel.description]
        rows = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()
    return (int(total[0]) if total else 0), rows


def export(path: Path, out: Path, ids: list[str], on: dt.date, versions: Mapping[str, str]) -> int:
    """Copy a run's rows of ``ids`` to ``out``: .parquet (the run's file copied when it is all of it, else
    streamed in the run's order) or .csv (sorted by programme then firm) by DuckDB, .xlsx through Arrow
    (sorted)."""
    suffix = out.suffix.lower()
    if suffix == ".parquet" and set(ids) >= set(versions) and complete(path) and base_of(path) is None:
        import shutil

        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        return row_count(out)
    wanted = ", ".join(_q(p) for p in ids) or "NULL"
    query = (
        f"SELECT {_columns(path, on, versions)} FROM {source(path)} "  # nosec B608
        f"WHERE programme IN ({wanted})" + (" ORDER BY programme, uscc" if suffix == ".csv" else "")
    )
    if suffix in (".parquet", ".csv"):
        out.parent.mkdir(parents=True, exist_ok=True)
        fmt = "(FORMAT parquet, COMPRESSION snappy)" if suffix == ".parquet" else "(FORMAT csv, HEADER)"
        con = duckdb.connect()
        try:
            row = con.execute(f"COPY ({query}) TO {_q(str(out))} {fmt}").fetchone()
        finally:
            con.close()
        return int(row[0]) if row else 0
    from huiqi.firms.exporting import write_table

    table = read_results(path, ids, on, versions)
    write_table(table, out)
    return int(table.num_rows)


def remove_file(path: Path) -> None:
    """Remove a run's results file and its digests (retention), and a delta's files (not its base); a file
    already gone is fine."""
    for p in (path, digests_file(path), replaced_file(path), delta_file(path)):
        p.unlink(missing_ok=True)


def remove_run(where: Path, run_id: str) -> None:
    """Remove what a run that did not store wrote."""
    remove_file(run_file(where, run_id))
