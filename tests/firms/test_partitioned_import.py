"""The import a credit-code range at a time (huiqi.firms.partition, issue 16: 30 M firms within 4 GiB)
against the whole import: with the range size forced tiny (``HUIQI_IMPORT_PARTITION_FIRMS``), every stored
table, the digests, the raw digests, the firms added, the counts, the history and the refusals are the
whole import's, for a new database and a re-import with changes, UTF-8 and GBK files, child rows out of
firm order, duplicates and child rows of unknown firms."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csv_rows import read_rows, write_rows
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.db.migrate import upgrade
from huiqi.firms.digests import DIGESTS
from huiqi.firms.exporting import write_tables
from huiqi.firms.importing import ImportError_, ImportRefused
from huiqi.firms.partition import PARTITION_FIRMS_ENV, WHOLE_FIRMS_ENV
from huiqi.firms.register import TABLES
from huiqi.firms.synth import synth_register
from huiqi.firms.textual import RAW_DIGESTS
from huiqi.firms.uscc import make_uscc
from huiqi.matching.snapshot import ADDED

#: firms per range in the partitioned runs (a register of 40 firms is 5-8 ranges)
TINY = 7


def _store(root: Path) -> Store:
    url = f"sqlite:///{root / 'huiqi.db'}"
    upgrade(url)
    return Store.open(url)


def _outcome(store: Store, root: Path, source: Path, skip: bool, said_steps: list[str]) -> tuple[Any, ...]:
    """What an import did and left: counts or refusal, every stored file, history, rejected rows."""
    from sqlalchemy import select

    from huiqi.matching.models import RegisterChange

    rejected = root / "rejected.csv"
    rejected.unlink(missing_ok=True)
    try:
        view = register.import_register(
            store,
            source=source,
            actor="t",
            skip_invalid=skip,
            rejected=rejected,
            progress=lambda what, done, total: said_steps.append(what),
        )
        said: Any = (view.added, view.changed, view.unchanged, view.rejected, view.changes)
    except (ImportError_, ImportRefused) as exc:
        said = sorted(str(exc).splitlines())
    where = root / "huiqi.match-results" / "register"
    left = {p.name for p in where.parent.glob("*")} - {"register", ".huiqi.lock", where.resolve().name}
    assert not left  # nothing staged is left behind (ranges, a new register refused)
    stored: dict[str, Any] = {}
    if where.exists():
        here = where.resolve()
        stored = {name: pq.read_table(here / f"{name}.parquet").to_pylist() for name in TABLES}
        stored["digests"] = pq.read_table(here / DIGESTS).to_pylist()
        raw = here / RAW_DIGESTS
        stored["raw"] = sorted(map(str, pq.read_table(raw).to_pylist())) if raw.exists() else None
        stored["added"] = pq.read_table(here / ADDED)["uscc"].to_pylist()
    history = store.read(
        lambda s: sorted(
            (c.uscc, c.field, c.old, c.new)
            for c in s.scalars(select(RegisterChange).order_by(RegisterChange.uscc, RegisterChange.id))
        )
    )
    text = sorted(rejected.read_text(encoding="utf-8-sig").splitlines()) if rejected.exists() else None
    return said, stored, history, text


def _both(sources: list[Path], skip: bool = False) -> tuple[list[Any], list[Any]]:
    """Each source imported in turn into a new database, whole and a tiny range at a time."""
    out: list[list[Any]] = []
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.delenv("HUIQI_MATCH_RESULTS_DIR", raising=False)
        for limit in (0, TINY):
            mp.setenv(PARTITION_FIRMS_ENV, str(limit))
            mp.setenv(WHOLE_FIRMS_ENV, "0")
            root = Path(tmp) / f"db{limit}"
            root.mkdir()
            store = _store(root)
            steps: list[str] = []
            out.append([_outcome(store, root, s, skip, steps) for s in sources])
            store.engine.dispose()
            assert any(w.startswith("partition 2/") for w in steps) == (limit > 0)
    return out[0], out[1]


def _export(tables: dict[str, pa.Table], out: Path) -> Path:
    """The register's CSV export, its child rows shuffled (out of firm order)."""
    src = write_tables(tables, out)
    for name in ("offices", "contracts"):
        rows = read_rows(src / f"{name}.csv")
        body = rows[1:]
        random.Random(len(body)).shuffle(body)
        write_rows(src / f"{name}.csv", [rows[0], *body])
    return src


def _encoded(src: Path, encoding: str) -> Path:
    """The export's files in ``encoding`` (in place)."""
    for f in src.glob("*.csv"):
        f.write_bytes(f.read_text(encoding="utf-8-sig").encode(encoding))
    return src


def _edited(src: Path, out: Path, edit: Any) -> Path:
    """A copy of the export ``src`` with its firms' and offices' rows changed by ``edit``."""
    shutil.copytree(src, out)
    firms, offices = read_rows(out / "firms.csv"), read_rows(out / "offices.csv")
    edit(firms, offices)
    write_rows(out / "firms.csv", firms)
    write_rows(out / "offices.csv", offices)
    return out


def _changes(firms: list[list[str]], offices: list[list[str]]) -> None:
    head = firms[0]
    firms[3][head.index("employees")] = str(int(firms[3][head.index("employees")] or 0) + 5)
    new = list(firms[5])
    new[head.index("uscc")] = make_uscc("91310000MA1234567")
    firms.append(new)
    firms.insert(1, firms.pop())  # the new firm first
    del offices[2]
    firms.append(firms.pop(7))


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_a_partitioned_import_is_the_whole_import(tmp_path: Path, encoding: str) -> None:
    first = _export(synth_register(40, 5), tmp_path / "one")
    second = _encoded(_edited(first, tmp_path / "two", _changes), encoding)
    _encoded(first, encoding)
    whole, parts = _both([first, second, second])
    assert whole[1][0][:2] == (1, 2)  # one firm added, two changed (a value, an office)
    assert whole[2][0][2] == 41  # taken as stored the next time
    assert parts == whole


def test_a_refusal_on_the_last_row_of_the_last_range_changes_nothing(tmp_path: Path) -> None:
    first = _export(synth_register(40, 6), tmp_path / "one")

    def bad_last(firms: list[list[str]], offices: list[list[str]]) -> None:
        last = max(range(1, len(firms)), key=lambda i: firms[i][0])
        firms.append(firms.pop(last))
        firms[-1][firms[0].index("registration_date")] = "2020-02-30"

    second = _edited(first, tmp_path / "two", bad_last)
    whole, parts = _both([first, second])
    assert len(whole[1][0]) == 2 and "row 41, column 'registration_date'" in whole[1][0][0]
    assert whole[1][1:] == whole[0][1:]  # nothing changed
    assert parts == whole


def test_duplicates_and_child_rows_of_unknown_firms_as_the_whole_import(tmp_path: Path) -> None:
    first = _export(synth_register(30, 7), tmp_path / "one")

    def doubled(firms: list[list[str]], offices: list[list[str]]) -> None:
        firms.append(list(firms[4]))
        orphan = list(offices[1])
        orphan[offices[0].index("uscc")] = make_uscc("91440300MA0000001")
        offices.insert(3, orphan)

    second = _edited(first, tmp_path / "two", doubled)
    for skip in (False, True):
        whole, parts = _both([second], skip)
        said = whole[0][0]
        assert (len(said) == 3) if not skip else said[3] == 2
        assert parts == whole


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    firms=st.integers(10, 30),
    seed=st.integers(0, 50),
    edits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1000)), max_size=4),
    skip=st.booleans(),
)
def test_partitioned_equals_whole_on_random_registers(
    firms: int, seed: int, edits: list[tuple[int, int]], skip: bool
) -> None:
    def edit(rows: list[list[str]], offices: list[list[str]]) -> None:
        head = rows[0]
        for kind, at in edits:
            i = 1 + at % (len(rows) - 1)
            if kind == 0:
                rows[i][head.index("employees")] = str(at)
            elif kind == 1:
                rows.append(list(rows[i]))
            elif kind == 2:
                rows[i][head.index("name_zh")] = ""
            elif len(offices) > 1:
                offices.pop(1 + at % (len(offices) - 1))

    with tempfile.TemporaryDirectory() as tmp:
        first = _export(synth_register(firms, seed), Path(tmp) / "one")
        second = _edited(first, Path(tmp) / "two", edit)
        whole, parts = _both([first, second], skip)
    assert parts == whole
