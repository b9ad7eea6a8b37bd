"""Re-imports proportional to the change (issue 16): a firm the source gives exactly as the stored raw
digests say it was given last time is taken as stored, not read again (huiqi.firms.textual). Whatever the
source's textual changes, the register, its digests, the history, the counts and the refusals are those
of the full reading (forced by removing the raw digests); another recipe reads every firm in full."""

from __future__ import annotations

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
from huiqi.firms import bulk
from huiqi.firms.digests import DIGESTS, firm_digests
from huiqi.firms.exporting import write_tables
from huiqi.firms.importing import ImportError_, ImportRefused
from huiqi.firms.register import TABLES
from huiqi.firms.synth import synth_register
from huiqi.firms.textual import RAW_DIGESTS, read_raw
from huiqi.firms.uscc import make_uscc

KINDS = ("form", "value", "move", "child_add", "child_remove", "child_reorder", "add_firm", "bad", "blank")


def _edit(source: Path, edits: list[tuple[str, int]]) -> None:
    """Textual changes to a CSV export, in place: each (kind, where) as KINDS say."""
    firms, offices = read_rows(source / "firms.csv"), read_rows(source / "offices.csv")
    head = firms[0]
    for kind, at in edits:
        i = 1 + at % (len(firms) - 1)
        j = 1 + at % max(len(offices) - 1, 1)
        if kind == "form":  # the same amount written otherwise (1234.50 as 1234.5, 12 as " 12 ")
            c = head.index("registered_capital")
            firms[i][c] = firms[i][c].rstrip("0") if "." in firms[i][c] else f" {firms[i][c]} "
        elif kind == "value":
            c = head.index("employees")
            firms[i][c] = str(int(firms[i][c] or 0) + 1)
        elif kind == "move":
            firms.append(firms.pop(i))
        elif kind == "child_add" and len(offices) > 1:
            row = list(offices[j])
            row[offices[0].index("hq")] = "False"
            offices.insert(j, row)
        elif kind == "child_remove" and len(offices) > 1:
            offices.pop(j)
        elif kind == "child_reorder" and j + 1 < len(offices):
            offices[j], offices[j + 1] = offices[j + 1], offices[j]
        elif kind == "add_firm":
            row = list(firms[i])
            row[head.index("uscc")] = make_uscc(f"91310000{at:09d}"[:17])
            firms.append(row)
        elif kind == "bad":
            firms[i][head.index("registration_date")] = "2020-02-30"
        elif kind == "blank":  # a firm's name removed: the profile refuses it
            firms[i][head.index("name_zh")] = ""
    write_rows(source / "firms.csv", firms)
    write_rows(source / "offices.csv", offices)


def _store(root: Path) -> Store:
    url = f"sqlite:///{root / 'huiqi.db'}"
    upgrade(url)
    return Store.open(url)


def _counting(mp: pytest.MonkeyPatch) -> list[int]:
    """The rows of firms.csv each import converts, as they are converted (the register's files beside
    each database)."""
    mp.delenv("HUIQI_MATCH_RESULTS_DIR", raising=False)
    converted: list[int] = []
    real = bulk._convert

    def counted(batch: Any, table: str, cells: Any, rules: Any, keep: bool, codes: Any = None) -> Any:
        if table == "firms":
            converted.append(len(cells.numbers))
        return real(batch, table, cells, rules, keep, codes)

    mp.setattr(bulk, "_convert", counted)
    return converted


def _outcome(store: Store, root: Path, source: Path, skip: bool) -> tuple[Any, ...]:
    """What an import did and left: counts or refusal, every stored table, digests, history, rejects."""
    from sqlalchemy import select

    from huiqi.matching.models import RegisterChange

    rejected = root / "rejected.csv"
    try:
        view = register.import_register(store, source=source, actor="t", skip_invalid=skip, rejected=rejected)
        said: Any = (view.added, view.changed, view.unchanged, view.rejected, view.changes)
    except (ImportError_, ImportRefused) as exc:
        said = str(exc)
    stored = (root / "huiqi.match-results" / "register").resolve()
    tables = {name: pq.read_table(stored / f"{name}.parquet").to_pylist() for name in TABLES}
    digests = pq.read_table(stored / DIGESTS).to_pylist()
    fresh = firm_digests({name: stored / f"{name}.parquet" for name in TABLES})
    assert digests == sorted(fresh.to_pylist(), key=lambda d: d["uscc"])  # kept: those of the tables
    history = store.read(
        lambda s: [
            (c.uscc, c.field, c.old, c.new)
            for c in s.scalars(select(RegisterChange).order_by(RegisterChange.uscc, RegisterChange.id))
        ]
    )
    text = rejected.read_text(encoding="utf-8-sig") if rejected.exists() else None
    return said, tables, digests, sorted(history), text


def _two_ways(
    tables: dict[str, pa.Table], edits: list[tuple[str, int]], skip: bool, keep_raw: bool = True
) -> tuple[tuple[Any, ...], tuple[Any, ...], list[int]]:
    """The edited export imported over the first one (and then once more) with the raw digests kept and
    without them; the rows of firms.csv the first re-import converted each way."""
    read: list[int] = []
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        converted = _counting(mp)
        work = Path(tmp)
        first = write_tables(tables, work / "one")
        second = work / "two"
        shutil.copytree(first, second)
        _edit(second, edits)
        out = []
        for name, kept in (("fast", keep_raw), ("full", False)):
            root = work / name
            root.mkdir()
            store = _store(root)
            register.import_register(store, source=first, actor="t")
            raw = (root / "huiqi.match-results" / "register").resolve() / RAW_DIGESTS
            assert read_raw(raw) is not None
            if not kept:
                raw.unlink()
            start = len(converted)
            out.append(_outcome(store, root, second, skip))
            read.extend(converted[start:])
            if not kept:  # the register the re-import made is in another directory
                (root / "huiqi.match-results" / "register" / RAW_DIGESTS).unlink(missing_ok=True)
            out[-1] += _outcome(store, root, second, skip)  # again: the raw digests the re-import kept
            store.engine.dispose()
    return out[0], out[1], read


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    edits=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000)), max_size=5),
    skip=st.booleans(),
)
def test_a_reimport_with_textual_changes_is_the_full_reading(
    seed: int, edits: list[tuple[str, int]], skip: bool
) -> None:
    tables = synth_register(12, seed)
    fast, full, _ = _two_ways(tables, edits, skip)
    assert fast == full


def test_the_same_source_again_reads_no_firm_and_a_changed_one_reads_that_firm() -> None:
    tables = synth_register(20, 1)
    fast, full, converted = _two_ways(tables, [], skip=False)
    assert fast == full and fast[0] == (0, 0, 20, 0, 0)
    assert converted == [0, 20]  # the fast re-import converts no firm's row; the full one all
    fast, full, converted = _two_ways(tables, [("value", 3)], skip=False)
    assert fast == full and fast[0] == (0, 1, 19, 0, 1)
    assert converted == [1, 20]


def test_another_recipe_reads_every_firm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another header order, or a mapping file, makes the stored raw digests of no use: every row is
    read, and the outcome is the full reading's."""
    converted = _counting(monkeypatch)
    tables = synth_register(15, 2)
    first = write_tables(tables, tmp_path / "one")
    store = _store(tmp_path)
    register.import_register(store, source=first, actor="t")
    register.import_register(store, source=first, actor="t")
    assert converted[-1] == 0
    # the columns of firms.csv in another order: the same register, every row read
    swapped = tmp_path / "swapped"
    shutil.copytree(first, swapped)
    rows = read_rows(swapped / "firms.csv")
    write_rows(swapped / "firms.csv", [[r[1], r[0], *r[2:]] for r in rows])
    view = register.import_register(store, source=swapped, actor="t")
    assert (view.added, view.changed, view.unchanged) == (0, 0, 15) and converted[-1] == 15
    register.import_register(store, source=swapped, actor="t")
    assert converted[-1] == 0
    # a mapping file (saying what the defaults say) is another recipe too
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("firms:\n  columns:\n    employees: employees\n", encoding="utf-8")
    view = register.import_register(store, source=swapped, mapping=mapping, actor="t")
    assert (view.added, view.changed, view.unchanged) == (0, 0, 15) and converted[-1] == 15
