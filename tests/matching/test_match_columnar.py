"""Matching with each run's results in Parquet (issue 16): incremental runs equal full runs and the previous
design's results for every firm x programme (eligible, amount, unmet) under random changes; messages are
stored without text and rendered when read; retention keeps the latest run of every date; a firm's current
results come from the run's eligible pairs; the stored register's columnar copy follows imports."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.matching.test_match_delta import like

from dbfixtures import Db
from huiqi.app import matching, register
from huiqi.app.store import Store
from huiqi.firms.digests import firm_digests
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.matching import results as files
from huiqi.matching.models import MatchEligible, MatchRun, Notification
from huiqi.matching.run import current_results, run_match
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack

PACK = load_pack("shanghai")
ON = dt.date(2025, 7, 28)
Row = tuple[str, str, bool, Decimal, str]
COLS = ("uscc", "programme", "eligible", "amount", "unmet")


def full(tables: dict[str, pa.Table], pack: dict = PACK) -> list[Row]:  # type: ignore[type-arg]
    """What the previous design stored: the whole register through the engine, unmet as text."""
    long = evaluate_register(pack, tables, ON)
    return sorted(
        (u, p, e, a, n or "") for u, p, e, a, n in zip(*(long[c].to_pylist() for c in COLS), strict=True)
    )


def stored(s: object, pack: dict = PACK) -> list[Row]:  # type: ignore[type-arg]
    r = current_results(s, pack, ON, sorted(pack))  # type: ignore[arg-type]
    return sorted(zip(*(r[c].to_pylist() for c in COLS), strict=True))


def with_sales(tables: dict[str, pa.Table], i: int, delta: Decimal) -> dict[str, pa.Table]:
    firms = tables["firms"]
    sales = firms["sales_2024"].to_pylist()
    sales[i] = (sales[i] or Decimal(0)) + delta
    out = dict(tables)
    out["firms"] = firms.set_column(
        firms.schema.get_field_index("sales_2024"), "sales_2024", pa.array(sales, firms["sales_2024"].type)
    )
    return out


def without(tables: dict[str, pa.Table], i: int) -> dict[str, pa.Table]:
    gone = tables["firms"]["uscc"][i]
    return {n: t.filter(pc.not_equal(t["uscc"], gone)) for n, t in tables.items()}


Step = tuple[str, int]
steps = st.lists(
    st.tuples(st.sampled_from(["sales", "remove", "programme", "same"]), st.integers(0, 39)),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(changes=steps, seed=st.integers(0, 50))
def test_incremental_runs_equal_full_runs_and_the_previous_design(changes: list[Step], seed: int) -> None:
    tables = synth_register(40, seed)
    pack = dict(PACK)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/inc.db")
        try:
            store.write(lambda s: run_match(s, pack, tables, ON))
            for kind, i in changes:
                if kind == "sales":
                    tables = with_sales(tables, i % tables["firms"].num_rows, Decimal("98765432.10"))
                elif kind == "remove" and tables["firms"].num_rows > 1:
                    tables = without(tables, i % tables["firms"].num_rows)
                elif kind == "programme":
                    pid = sorted(pack)[i % len(pack)]
                    pack[pid] = dataclasses.replace(pack[pid], digest=f"{i:064d}")
                out = store.write(lambda s: run_match(s, pack, tables, ON))  # noqa: B023
                assert out.run.rows == tables["firms"].num_rows * len(pack)
                assert store.read(lambda s: stored(s, pack)) == full(tables, pack)
                keys = store.read(
                    lambda s: s.execute(
                        select(Notification.uscc, Notification.programme, Notification.programme_digest)
                    ).all()
                )
                assert len(keys) == len(set(keys)), "nobody is told twice"
            # a full run of the final register in a new database gives the same rows (the incremental
            # run's file may be a delta over an earlier run's: its rows are read with that base)
            fresh = Store.open(f"sqlite:///{tmp}/full.db")
            try:
                once = fresh.write(lambda s: run_match(s, pack, tables, ON))
            finally:
                fresh.close()
            assert once.results.to_pylist() == out.results.to_pylist()
        finally:
            store.close()


def test_an_unchanged_run_links_the_last_file_and_stores_its_pairs(sqlite_db: Db) -> None:
    tables = synth_register(60, 3)
    with sqlite_db.session() as s:
        first = run_match(s, PACK, tables, ON)
        s.commit()
    with sqlite_db.session() as s:
        again = run_match(s, PACK, tables, ON)
        s.commit()
        pairs = s.scalar(
            select(func.count()).select_from(MatchEligible).where(MatchEligible.run_id == again.run.id)
        )
    assert again.rows_computed == 0 and again.reused == first.run.rows
    assert again.results_file != first.results_file
    assert again.results_file.stat().st_ino == first.results_file.stat().st_ino
    assert pairs == first.eligible.num_rows == sum(first.results["eligible"].to_pylist())


def _with_programme_dir(tmp_path: Path, n: int, seed: int) -> str:
    return str(write_register(synth_register(n, seed), tmp_path / "register"))


def test_messages_are_stored_without_text_and_rendered_when_read(db: Db, tmp_path: Path) -> None:
    store = Store.open(db.url)
    try:
        reg = _with_programme_dir(tmp_path, 120, 8)
        report = matching.match(store, programmes=PACK, register=reg, on=ON)
        assert report.run.new_notifications > 0
        assert report.run.new_notifications == sum(t.firms for t in report.by_programme)
        with db.session() as s:
            raw = s.scalars(select(Notification)).all()
        assert raw and all(n.message_zh is None and n.message_en is None and n.firm_digest for n in raw)
        box = matching.outbox(store, programmes=PACK, limit=500)
        assert box.total == len(raw) == len(box.items)
        for m in box.items:
            name = PACK[m.programme].spec.name
            assert f"「{name.get('zh')}」" in m.message_zh and "免申即享" in m.message_zh
            assert f"you qualify for {name.get('en')}" in m.message_en
            assert len(m.message_en.splitlines()) > 1, "the explanation follows the first line"
        one = box.items[0].uscc
        inbox = matching.firm_inbox(store, uscc=one, programmes=PACK)
        assert {m.id for m in inbox.items} == {m.id for m in box.items if m.uscc == one}
        mine = matching.firm_results(store, uscc=one)
        assert {r.programme for r in mine.results} >= {m.programme for m in inbox.items}
        page = matching.results(store, on=ON, uscc=one, eligible=True)
        assert [(r.programme, r.amount) for r in page.items] == [
            (r.programme, r.amount) for r in mine.results
        ]
        # the whole result set pages as the stored file holds it
        everything = matching.results(store, on=ON, limit=1000, offset=0)
        assert everything.total == 120 * len(PACK)
    finally:
        store.close()


def test_retention_keeps_the_latest_run_of_every_date(sqlite_db: Db) -> None:
    tables = synth_register(30, 4)
    other = ON + dt.timedelta(days=1)
    outs = []
    with sqlite_db.session() as s:
        for day, t in ((ON, tables), (other, tables), (ON, with_sales(tables, 2, Decimal("5e7")))):
            outs.append(run_match(s, PACK, t, day, keep_runs=1))
            s.commit()
        runs = {r.id: r for r in s.scalars(select(MatchRun))}
        counts = dict(
            s.execute(select(MatchEligible.run_id, func.count()).group_by(MatchEligible.run_id)).all()
        )
    first, second, third = outs
    assert runs[first.run.id].results_file == "" and first.run.id not in counts
    # the third run changed one firm: its file is a delta over the first run's, which stays while it is read
    assert files.base_of(third.results_file) == first.results_file and first.results_file.exists()
    assert not files.digests_file(first.results_file).exists()
    for kept in (second, third):  # the latest of its date stays, with its file and its pairs
        assert runs[kept.run.id].results_file and kept.results_file.exists()
        assert counts.get(kept.run.id, 0) == kept.eligible.num_rows


def test_a_failed_store_leaves_no_file(sqlite_db: Db, tmp_path: Path) -> None:
    tables = synth_register(20, 5)

    class Boom(Exception):
        pass

    def explode(label: str, done: int) -> None:
        if (label, done) == ("outbox", 1):
            raise Boom

    where = tmp_path / "results"
    with sqlite_db.session() as s, pytest.raises(Boom):
        run_match(s, PACK, tables, ON, progress=explode, results_dir=where)
    assert list(where.glob("*.parquet")) == []


def test_the_stored_registers_copy_follows_imports(sqlite_db: Db, tmp_path: Path) -> None:
    from huiqi.matching.store import load_register

    store = Store.open(sqlite_db.url)
    try:
        register.synth_register(store, firms=50, seed=6)
        first = register.nonempty_register(store)
        assert first["firms"].num_rows == 50
        exported = register.export_register(store, out=tmp_path / "csv")
        firms_csv = exported.written / "firms.csv"
        lines = firms_csv.read_text(encoding="utf-8").splitlines()
        header = lines[0].split(",")
        col = header.index("employees")
        cells = lines[1].split(",")
        cells[col] = str(int(cells[col] or 0) + 7)
        (tmp_path / "one").mkdir()
        (tmp_path / "one" / "firms.csv").write_text(
            "\n".join([lines[0], ",".join(cells)]) + "\n", encoding="utf-8"
        )
        done = register.import_register(store, source=tmp_path / "one", actor="test")
        assert done.changed == 1
        patched = register.nonempty_register(store)
        whole = store.read(load_register)
        key = [("uscc", "ascending")]
        for name, t in whole.items():
            got = patched[name].sort_by(key) if name == "firms" else patched[name]
            want = t.sort_by(key) if name == "firms" else t
            if name == "firms":
                assert got.equals(want.cast(got.schema)), name
            else:
                assert sorted(map(str, got.to_pylist())) == sorted(map(str, want.to_pylist())), name
        report = matching.match(store, programmes=PACK, register="db", on=ON)
        assert report.run.firms == 50
        again = matching.match(store, programmes=PACK, register="db", on=ON)
        assert again.run.rows_computed == 0
    finally:
        store.close()


def test_a_changed_firm_newly_eligible_is_told_with_its_digest_now(sqlite_db: Db) -> None:
    """A firm whose rows become those of an eligible firm is told, with the digest of its rows now (the
    incremental run takes it from its join of the firms' digests, not from every firm's)."""
    pack = load_pack()
    tables = synth_register(200, 3)
    with sqlite_db.session() as s:
        first = run_match(s, pack, tables, ON)
        s.commit()
    told_first = set(first.eligible["uscc"].to_pylist())
    codes = tables["firms"]["uscc"].to_pylist()
    model = next(u for u in codes if u in told_first)  # eligible for something
    quiet = next(u for u in codes if u not in told_first)  # eligible for nothing
    changed = like(tables, quiet, model)
    with sqlite_db.session() as s:
        again = run_match(s, pack, changed, ON)
        s.commit()
        notes = s.execute(
            select(Notification.uscc, Notification.firm_digest).where(Notification.run_id == again.run.id)
        ).all()
    assert again.recomputed_firms == 1
    now = firm_digests(changed)
    digest = dict(zip(now["uscc"].to_pylist(), now["digest"].to_pylist(), strict=True))[quiet]
    assert notes and {u for u, _d in notes} == {quiet}
    assert all(d == str(digest) for _u, d in notes)
