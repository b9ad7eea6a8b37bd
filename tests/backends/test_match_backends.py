"""``run_match`` gives the same stored results whichever engine runs the rules (PostgreSQL: the layout
tables in the database; Spark: Parquet), including the incremental path over a subset of firms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.dbfixtures import Db

from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.matching.run import run_match
from huiqi.rules import backends
from huiqi.rules.loader import load_pack

PACK = load_pack("shanghai")
ON = dt.date(2025, 7, 28)


def _rows(t: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(t[c].to_pylist() for c in t.column_names), strict=True))


def _twice(db: Db, maker: Any) -> tuple[pa.Table, int]:
    tables = synth_register(300, 21)
    with db.session() as s:
        run_match(s, PACK, tables, ON, make_tables=maker, notify=False)
        firms = tables["firms"]
        names = firms["name_zh"].to_pylist()
        names[3] = names[3] + "（更名）"
        changed = dict(tables)
        changed["firms"] = firms.set_column(
            firms.schema.get_field_index("name_zh"), "name_zh", pa.array(names)
        )
        out = run_match(s, PACK, changed, ON, make_tables=maker, notify=False)
        s.rollback()
    return out.results, out.recomputed_firms


@pytest.fixture
def reference(sqlite_db: Db) -> tuple[pa.Table, int]:
    return _twice(sqlite_db, None)


@pytest.mark.postgres
def test_match_on_postgres(reference: tuple[pa.Table, int], sqlite_db: Db, pg_register_url: str) -> None:
    con = backends.postgres_connect(pg_register_url)
    counter = iter(range(100))
    try:
        got = _twice(sqlite_db, lambda t: backends.load_postgres(con, t, prefix=f"m{next(counter)}_"))
    finally:
        con.disconnect()
    assert got[1] == reference[1] == 1
    assert _rows(got[0]) == _rows(reference[0])


def test_match_on_spark(reference: tuple[pa.Table, int], sqlite_db: Db, spark: Any, tmp_path: Path) -> None:
    con = backends.spark_connect(spark)
    counter = iter(range(100))

    def maker(tables: dict[str, pa.Table]) -> Any:
        path = write_register(tables, tmp_path / f"in{next(counter)}")
        return backends.spark_parquet_tables(con, path, prefix=f"m{path.name}_")

    got = _twice(sqlite_db, maker)
    assert got[1] == reference[1] == 1
    assert _rows(got[0]) == _rows(reference[0])
