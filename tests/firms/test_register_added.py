"""Which import added each firm (``firms_added.parquet`` beside the stored register's tables): a
re-import that adds no firm keeps the file as it was (linked, not written again); one that adds firms
appends them with its id; the firm's history starts at the import that added it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dbfixtures import Db, sqlite_db
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.firms.exporting import write_tables
from huiqi.firms.synth import synth_register
from huiqi.matching import snapshot

__all__ = ["sqlite_db"]  # fixtures


def _added(tmp_path: Path) -> dict[str, str]:
    table = pq.read_table((tmp_path / "files" / "register").resolve() / snapshot.ADDED)
    return dict(zip(table["uscc"].to_pylist(), table["import_id"].to_pylist(), strict=True))


def test_the_import_that_added_each_firm_is_kept_across_re_imports(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    store = Store.open(sqlite_db.url)
    tables = synth_register(30, 11)
    first = register.import_register(store, source=write_tables(tables, tmp_path / "one"), actor="t")
    codes = tables["firms"]["uscc"].to_pylist()
    assert _added(tmp_path) == dict.fromkeys(codes, first.import_id)

    firms = tables["firms"]
    employees = pc.if_else(pc.equal(pa.array(range(firms.num_rows)), 3), 999_999, firms["employees"])
    changed = dict(
        tables, firms=firms.set_column(firms.schema.get_field_index("employees"), "employees", employees)
    )
    second = register.import_register(store, source=write_tables(changed, tmp_path / "two"), actor="t")
    assert (second.added, second.changed) == (0, 1)
    assert _added(tmp_path) == dict.fromkeys(codes, first.import_id)  # nothing added: as it was

    more = synth_register(3, 99)
    both = {name: pa.concat_tables([changed[name], more[name].cast(changed[name].schema)]) for name in tables}
    third = register.import_register(store, source=write_tables(both, tmp_path / "three"), actor="t")
    assert third.added == 3
    new = more["firms"]["uscc"].to_pylist()
    assert _added(tmp_path) == {
        **dict.fromkeys(codes, first.import_id),
        **dict.fromkeys(new, third.import_id),
    }
    found = store.read(lambda s: snapshot.added_by(s, new[0]))
    assert found is not None and found.id == third.import_id
    kept = store.read(lambda s: snapshot.added_by(s, codes[3]))
    assert kept is not None and kept.id == first.import_id
