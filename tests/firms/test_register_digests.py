"""The stored register's digests and layout (issue 16): an import keeps the firms' digests beside the
tables it writes, exactly ``firm_digests`` of them; the next import compares with them instead of
computing the old register's again; the tables are sorted by credit code in row groups of 64 k rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dbfixtures import Db, db, pg_db, pg_url, sqlite_db
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.firms import bulk
from huiqi.firms.digests import DIGESTS, firm_digests
from huiqi.firms.exporting import write_tables
from huiqi.firms.register import ROW_GROUP, TABLES
from huiqi.firms.synth import synth_register

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]  # fixtures


def _stored(tmp_path: Path) -> Path:
    return (tmp_path / "files" / "register").resolve()


def _check_stored(root: Path) -> None:
    """The digests file is firm_digests of the stored tables, every table sorted by credit code."""
    files = {name: root / f"{name}.parquet" for name in TABLES}
    kept = pq.read_table(root / DIGESTS)
    codes = kept["uscc"].to_pylist()
    assert codes == sorted(codes) and len(codes) == pq.read_metadata(files["firms"]).num_rows
    fresh = firm_digests(files)
    assert dict(zip(codes, kept["digest"].to_pylist(), strict=True)) == dict(
        zip(fresh["uscc"].to_pylist(), fresh["digest"].to_pylist(), strict=True)
    )
    for file in files.values():
        stored = pq.read_table(file, columns=["uscc"])["uscc"].to_pylist()
        assert stored == sorted(stored), file.name


def test_an_import_keeps_the_digests_of_its_tables_and_the_next_one_uses_them(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    store = Store.open(db.url)
    tables = synth_register(50, 8)
    shuffled = {
        name: t.take(pa.array(range(t.num_rows - 1, -1, -1), pa.int64())) for name, t in tables.items()
    }
    register.import_register(store, source=write_tables(shuffled, tmp_path / "one"), actor="t")
    _check_stored(_stored(tmp_path))
    # the same register with one firm's employees changed: only the new tables' digests are computed
    firms = tables["firms"].to_pylist()
    firms[7]["employees"] = (firms[7]["employees"] or 0) + 3
    changed = dict(tables, firms=pa.Table.from_pylist(firms, schema=tables["firms"].schema))
    made: list[int] = []

    def counted(t: object, con: object = None) -> pa.Table:
        made.append(1)
        return firm_digests(t, con)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "firm_digests", counted)
    again = register.import_register(store, source=write_tables(changed, tmp_path / "two"), actor="t")
    assert (again.added, again.changed, again.unchanged, again.changes) == (0, 1, 49, 1)
    assert made == [1]
    _check_stored(_stored(tmp_path))
    history = register.register_history(store, uscc=firms[7]["uscc"])
    assert [(h.field, h.new) for h in history][-1] == ("employees", str(firms[7]["employees"]))


def test_a_large_table_is_written_in_row_groups_of_row_group_rows(tmp_path: Path) -> None:
    from huiqi.firms.register import write_register

    tables = synth_register(40, 2)
    many = pa.concat_tables([tables["firms"]] * (ROW_GROUP // 40 + 2))
    write_register(dict(tables, firms=many), tmp_path / "r")
    meta = pq.read_metadata(tmp_path / "r" / "firms.parquet")
    assert meta.num_row_groups == 2 and meta.row_group(0).num_rows == ROW_GROUP


def test_a_partial_import_merges_into_the_stored_files_as_into_tables(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import reads the stored register's files only as far as it needs (codes, kept columns, the
    firms it keeps): the outcome is the merge into the same register held as tables."""
    from huiqi.firms.bulk import prepare_bulk, read_bulk
    from huiqi.firms.importing import records_from_tables

    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    store = Store.open(sqlite_db.url)
    tables = synth_register(30, 9)
    register.import_register(store, source=write_tables(tables, tmp_path / "one"), actor="t")
    codes = tables["firms"]["uscc"].to_pylist()
    part = tables["firms"].select(["uscc", "employees"]).slice(2, 3)  # three firms, one column given
    part = part.set_column(1, "employees", pa.array([1000, 2000, 3000], pa.int64()))
    offices = tables["offices"].filter(pa.compute.equal(tables["offices"]["uscc"], codes[20]))
    district = pa.array(["Minhang"] * len(offices))
    moved = offices.set_column(offices.column_names.index("district"), "district", district)
    source = write_tables({"firms": part, "offices": moved}, tmp_path / "two")
    expected = prepare_bulk(read_bulk(source, {}, known=tables["firms"]["uscc"].combine_chunks()), tables)
    done = register.import_register(store, source=source, actor="t")
    assert (done.added, done.changed) == (expected.added, expected.changed) == (0, 4)
    assert records_from_tables(register.nonempty_register(store)) == records_from_tables(expected.tables)


def test_a_year_added_by_an_import_changes_only_the_firms_that_have_it(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored digests are of the old years' columns: with a year added, the old register's digests
    are made again in the new layout, so a firm without a value for the new year is unchanged."""
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    store = Store.open(sqlite_db.url)
    tables = synth_register(20, 6, years=range(2022, 2025))
    register.import_register(store, source=write_tables(tables, tmp_path / "one"), actor="t")
    firms = tables["firms"]
    sales = pa.array([1234 if i == 4 else None for i in range(firms.num_rows)], pa.decimal128(18, 2))
    wider = dict(tables, firms=firms.append_column("sales_2025", sales))
    again = register.import_register(store, source=write_tables(wider, tmp_path / "two"), actor="t")
    assert (again.changed, again.unchanged, again.changes) == (1, 19, 1)
    history = register.register_history(store, uscc=firms["uscc"][4].as_py())
    assert [(h.field, h.old, h.new) for h in history][-1] == ("sales_2025", None, "1234.00")
    _check_stored(_stored(tmp_path))
