"""Each match run's whole firm x programme table, as a Parquet file beside the database.

``<dir>/<run id>.parquet`` holds one row a firm x programme (uscc, programme, version, date, eligible,
amount, unmet, programme_digest, firm_digest), sorted by programme then firm; ``<run id>.firms.parquet``
the firms' digests the run saw (what the next run compares with). The directory is
``HUIQI_MATCH_RESULTS_DIR``, by default next to the embedded database (``var/huiqi.db`` ->
``var/huiqi.match-results/``) or ``var/match-results`` for any other database.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from huiqi.config import get_settings

COLUMNS = ("uscc", "programme", "version", "date", "eligible", "amount", "unmet")


def results_dir(url: str) -> Path:
    """Where a database's runs keep their files (the setting, else beside an embedded database)."""
    configured = get_settings().match_results_dir
    if configured is not None:
        return configured
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        return db.with_name(db.stem + ".match-results")
    return Path("var/match-results")


def keep_runs() -> int:
    """How many runs keep their files and pairs (besides the latest of every date)."""
    return get_settings().match_keep_runs


def run_file(where: Path, run_id: str) -> Path:
    return where / f"{run_id}.parquet"


def digests_file(results_file: Path) -> Path:
    return results_file.with_name(results_file.stem + ".firms.parquet")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_digests(raw: Any, where: Path, run_id: str) -> None:
    """The firms' digests of this run (the ``digests`` relation), next to its results."""
    path = digests_file(run_file(where, run_id))
    raw.execute(f"COPY (SELECT uscc, digest FROM digests) TO {_q(str(path))} (FORMAT parquet)")


def write_results(raw: Any, body: str, target: Path, on: dt.date) -> int:
    """Write the rows of ``body`` as the run's results file; how many rows."""
    row = raw.execute(
        f"COPY (SELECT uscc, programme, version, DATE {_q(on.isoformat())} AS date, eligible, amount, unmet, "
        f"programme_digest, firm_digest FROM ({body}) ORDER BY programme, uscc) "
        f"TO {_q(str(target))} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    return int(row[0]) if row else 0


def row_count(path: Path) -> int:
    """How many rows a results file holds (from its footer)."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows) if path.exists() else -1


def same_as(prev: Path, target: Path) -> int:
    """The run's results are the last run's: a hard link to its file (a copy where links cannot be made)."""
    import os
    import shutil

    try:
        os.link(prev, target)
    except OSError:
        shutil.copyfile(prev, target)
    return row_count(target)


_EMPTY = (
    "(SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS programme, NULL::VARCHAR AS version, "
    "NULL::VARCHAR AS programme_digest, NULL::BOOLEAN AS eligible, NULL::DECIMAL(18,2) AS amount, "
    "NULL::VARCHAR AS unmet, NULL::VARCHAR AS firm_digest WHERE false)"
)


def prev_view(raw: Any, prev_file: str, ids: list[str]) -> str:
    """The last run's rows of the programmes ``ids`` as a relation to select from."""
    if not prev_file or not Path(prev_file).exists():
        return _EMPTY
    wanted = ", ".join(_q(p) for p in ids) or "NULL"
    raw.execute(
        "CREATE OR REPLACE TEMP VIEW prev AS SELECT uscc, programme, version, programme_digest, eligible, "
        f"amount, unmet, firm_digest FROM read_parquet({_q(prev_file)}) WHERE programme IN ({wanted})"
    )
    return "prev"


def prev_digests_view(raw: Any, prev_file: str) -> str:
    """The firms' digests the last run saw, as a relation (uscc, digest)."""
    path = digests_file(Path(prev_file)) if prev_file else None
    if path is None or not path.exists():
        return "(SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS digest WHERE false)"
    return f"read_parquet({_q(str(path))})"


def read_results(path: Path | None, ids: list[str], on: dt.date | None = None) -> pa.Table:
    """A run's rows of the programmes ``ids`` (uscc, programme, version, date, eligible, amount, unmet)."""
    if path is None or not path.exists():
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
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=list(COLUMNS))
    return table.filter(pc.is_in(table["programme"], pa.array(ids, pa.string())))


def page(
    path: Path,
    *,
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
        src = f"read_parquet({_q(str(path))})"
        total = con.execute(f"SELECT count(*) FROM {src} WHERE {where}", params).fetchone()  # nosec B608
        rel = con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {src} WHERE {where} "  # nosec B608
            "ORDER BY programme, uscc LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        names = [d[0] for d in rel.description]
        rows = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()
    return (int(total[0]) if total else 0), rows


def export(path: Path, out: Path, ids: list[str]) -> int:
    """Copy a run's rows of ``ids`` to ``out``: .parquet or .csv by DuckDB (streamed), .xlsx through Arrow."""
    suffix = out.suffix.lower()
    wanted = ", ".join(_q(p) for p in ids) or "NULL"
    query = (
        f"SELECT {', '.join(COLUMNS)} FROM read_parquet({_q(str(path))}) "  # nosec B608
        f"WHERE programme IN ({wanted}) ORDER BY programme, uscc"
    )
    if suffix in (".parquet", ".csv"):
        out.parent.mkdir(parents=True, exist_ok=True)
        fmt = "(FORMAT parquet, COMPRESSION zstd)" if suffix == ".parquet" else "(FORMAT csv, HEADER)"
        con = duckdb.connect()
        try:
            row = con.execute(f"COPY ({query}) TO {_q(str(out))} {fmt}").fetchone()
        finally:
            con.close()
        return int(row[0]) if row else 0
    from huiqi.firms.exporting import write_table

    table = read_results(path, ids)
    write_table(table, out)
    return int(table.num_rows)


def remove_file(path: Path) -> None:
    """Remove a run's results file and its digests (retention); a file already gone is fine."""
    for p in (path, digests_file(path)):
        p.unlink(missing_ok=True)


def remove_run(where: Path, run_id: str) -> None:
    """Remove what a run that did not store wrote."""
    remove_file(run_file(where, run_id))
