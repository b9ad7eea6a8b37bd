"""Per-firm digests of a register's tables: which firms changed between two versions of a register.

A firm's digest is DuckDB's 64-bit ``hash`` of its ``firms`` row with, per child table, the sum of the
hashes of its rows and their count (so child rows count in any order). The bulk import writes them beside
the stored register's tables (``digests.parquet``: uscc, digest, sorted by uscc) and compares them with
the previous import's to find the changed firms; matching compares them with its last run's to find the
firms to recompute. Both must compute them the same way, hence one function here.

A digest is bookkeeping (which firms to look at), not a proof: a collision would need two versions of one
firm with equal 64-bit hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from huiqi.firms.table import CHILD_TABLES

#: The file of a register directory holding its firms' digests (uscc, digest; sorted by uscc).
DIGESTS = "digests.parquet"

Tables = Mapping[str, pa.Table | Path]


def firm_digests(tables: Tables, con: Any = None) -> pa.Table:
    """``uscc``, ``digest``: a change to a firm's row or to any of its child rows changes its digest, so
    an import or a match run looks at the changed firms only. ``tables``: Arrow tables or Parquet files;
    ``con``: a DuckDB connection to run in (a new one when None)."""
    import duckdb

    raw = con if con is not None else duckdb.connect()
    try:
        result: pa.Table = raw.sql(digests_sql(raw, tables)).to_arrow_table()
    finally:
        if con is None:
            raw.close()
    return result


def sql_ident(name: str) -> str:
    """A column's name quoted for DuckDB's SQL (the firms domain's one quoting of names)."""
    return '"' + name.replace('"', '""') + '"'


def sql_text(text: str) -> str:
    """A text (a file's path) as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def register_views(raw: Any, tables: Tables, prefix: str) -> None:
    """Each table as a DuckDB relation ``prefix + name`` (an Arrow table registered, a Parquet file as a
    view), so that one query reads tables held in memory and files alike."""
    for name, t in tables.items():
        if isinstance(t, Path):
            # a view cannot take a bound parameter: the path is quoted, the name is ours
            view = f"CREATE OR REPLACE VIEW {prefix}{name} AS SELECT * "  # nosec B608
            raw.execute(view + f"FROM read_parquet({sql_text(str(t))})")
        else:
            raw.register(f"{prefix}{name}", t)


def digests_sql(raw: Any, tables: Tables) -> str:
    """The query of the firms' digests (see ``firm_digests``) over ``tables``, registered in ``raw`` as
    ``d_<name>``: for a caller that keeps the result inside DuckDB."""
    register_views(raw, tables, "d_")

    def columns(name: str, alias: str) -> list[str]:
        found = raw.sql(f"SELECT * FROM d_{name} LIMIT 0").columns  # nosec B608  # our names
        return [f"{alias}.{sql_ident(c)}" for c in found if name == "firms" or c != "uscc"]

    children = [n for n in CHILD_TABLES if n in tables]
    # table names come from CHILD_TABLES, column names from the register's checked layout (quoted)
    joins = " ".join(
        f"LEFT JOIN (SELECT uscc, sum(hash({', '.join(columns(n, 'c')) or '0'})::HUGEINT) AS h, "
        f"count(*) AS n FROM d_{n} c GROUP BY uscc) {n}_d ON {n}_d.uscc = f.uscc"  # nosec B608
        for n in children
    )
    args = ", ".join([*columns("firms", "f"), *(f"{n}_d.h, {n}_d.n" for n in children)])
    return f"SELECT f.uscc AS uscc, CAST(hash({args}) AS VARCHAR) AS digest FROM d_firms f {joins}"  # nosec B608
