"""The paths that make a city-scale match cheap (issue 16), each checked against the full computation:
an unchanged register directory is recognised from one SHA-256 a file (no firm digest, no rule, the last
run's pairs copied and its report kept); a rewritten file with the same firms, or a changed programme,
still finds exactly what changed; exporting a whole run to Parquet is a copy of its file and equals the
filtered export; results files written before the version and date were stored still read the same."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from dbfixtures import Db
from huiqi.app import matching
from huiqi.app.store import Store
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.matching import results as files
from huiqi.matching import run as match_run
from huiqi.matching.models import MatchEligible, MatchRun
from huiqi.matching.run import register_files, run_match
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack

PACK = load_pack("shanghai")
ON = dt.date(2025, 7, 28)
COLS = ("uscc", "programme", "eligible", "amount", "unmet")


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(table[c].to_pylist() for c in COLS), strict=True), key=str)


def _full(tables: dict[str, pa.Table]) -> list[tuple[object, ...]]:
    long = evaluate_register(PACK, tables, ON)
    return sorted(
        ((u, p, e, a, n or "") for u, p, e, a, n in zip(*(long[c].to_pylist() for c in COLS), strict=True)),
        key=str,
    )


def _files(root: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(root.glob("*.parquet"))}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often a run computed firm digests or ran the rules."""
    calls = [0, 0]
    digests, compute = match_run.digests_sql, match_run._compute

    def counting_digests(*args: object) -> str:
        calls[0] += 1
        return digests(*args)  # type: ignore[arg-type]

    def counting_compute(*args: object) -> tuple[str, int]:
        calls[1] += 1
        return compute(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(match_run, "digests_sql", counting_digests)
    monkeypatch.setattr(match_run, "_compute", counting_compute)
    return calls


def test_an_unchanged_register_directory_is_seen_from_its_files(
    db: Db, tmp_path: Path, counted: list[int]
) -> None:
    tables = synth_register(80, 11)
    root = write_register(tables, tmp_path / "register")
    where = tmp_path / "results"
    with db.session() as s:
        first = run_match(s, PACK, _files(root), ON, results_dir=where)
        s.commit()
    assert counted == [1, 1]
    with db.session() as s:
        again = run_match(s, PACK, _files(root), ON, results_dir=where)
        s.commit()
        pairs = s.execute(
            select(MatchEligible.uscc, MatchEligible.programme, MatchEligible.amount).where(
                MatchEligible.run_id == again.run.id
            )
        ).all()
        before = s.execute(
            select(MatchEligible.uscc, MatchEligible.programme, MatchEligible.amount).where(
                MatchEligible.run_id == first.run.id
            )
        ).all()
        stored = {r.id: r for r in s.scalars(select(MatchRun))}
    assert counted == [1, 1], "nothing changed: no firm digest, no rule"
    assert again.rows_computed == 0 and again.reused == first.run.rows == 80 * len(PACK)
    assert again.results_file.stat().st_ino == first.results_file.stat().st_ino
    assert files.digests_file(again.results_file).exists()
    assert sorted(pairs) == sorted(before) and len(pairs) == again.run.eligible == first.run.eligible
    old, new = (json.loads(stored[r.run.id].report or "{}") for r in (first, again))
    assert old == new and new["register_files"] == register_files(_files(root))
    assert again.run.firms == 80
    assert _rows(again.results) == _full(tables)


def test_a_changed_file_or_programme_is_recomputed_as_a_full_run_would(
    sqlite_db: Db, tmp_path: Path, counted: list[int]
) -> None:
    tables = synth_register(60, 12)
    root = write_register(tables, tmp_path / "register")
    with sqlite_db.session() as s:
        run_match(s, PACK, _files(root), ON)
        s.commit()
        # the same firms written again in another order (another file): digests, but no rule runs
        firms = tables["firms"]
        write_register({**tables, "firms": firms.take(pa.array(range(firms.num_rows - 1, -1, -1)))}, root)
        same = run_match(s, PACK, _files(root), ON)
        s.commit()
    assert counted == [2, 1] and same.rows_computed == 0
    firms = tables["firms"]
    sales = firms["sales_2024"].to_pylist()
    sales[5] = (sales[5] or Decimal(0)) + Decimal("87654321.00")
    changed = dict(tables)
    changed["firms"] = firms.set_column(
        firms.schema.get_field_index("sales_2024"), "sales_2024", pa.array(sales, firms["sales_2024"].type)
    )
    write_register(changed, root)
    with sqlite_db.session() as s:
        one = run_match(s, PACK, _files(root), ON)
        s.commit()
    assert one.recomputed_firms == 1 and one.rows_computed == len(PACK)
    assert _rows(one.results) == _full(changed)
    # a programme changed, the register not: the last run's digests are these files', none computed
    pack = dict(PACK)
    pid = sorted(pack)[0]
    pack[pid] = dataclasses.replace(pack[pid], digest="f" * 64)
    digests = counted[0]
    with sqlite_db.session() as s:
        out = run_match(s, pack, _files(root), ON)
        s.commit()
    assert counted[0] == digests
    assert out.recomputed_programmes == [pid] and out.recomputed_firms == 0
    assert _rows(out.results) == _full(changed)


def test_exporting_a_whole_run_copies_its_file(db: Db, tmp_path: Path) -> None:
    store = Store.open(db.url)
    try:
        root = write_register(synth_register(50, 13), tmp_path / "register")
        out = tmp_path / "all.parquet"
        report = matching.match(store, programmes=PACK, register=str(root), on=ON, out=out)
        run_file = Path(report.run.results_file)
        assert (tmp_path / "all.parquet").read_bytes() == run_file.read_bytes()
        versions = {p: PACK[p].version for p in PACK}
        streamed = files.export(run_file, tmp_path / "csv.csv", sorted(PACK), ON, versions)
        read = pq.read_table(tmp_path / "all.parquet")
        assert streamed == read.num_rows == 50 * len(PACK)
        assert read.column_names == list(files.COLUMNS)
        assert set(read["version"].to_pylist()) <= set(versions.values())
        assert set(read["date"].to_pylist()) == {ON}
    finally:
        store.close()


def test_a_results_file_without_version_and_date_reads_the_same(sqlite_db: Db, tmp_path: Path) -> None:
    tables = synth_register(30, 14)
    with sqlite_db.session() as s:
        out = run_match(s, PACK, tables, ON)
        s.commit()
    versions = match_run.versions_of(out.run)
    new = files.read_results(out.results_file, sorted(PACK), ON, versions)
    old_file = tmp_path / "old.parquet"
    pq.write_table(pq.read_table(out.results_file, columns=list(files.STORED)), old_file)
    assert not files.complete(old_file)
    assert files.read_results(old_file, sorted(PACK), ON, versions).equals(new)
    total, rows = files.page(old_file, on=ON, versions=versions, limit=5)
    assert total == 30 * len(PACK)
    assert [r["version"] for r in rows] == [versions[r["programme"]] for r in rows]
    n = files.export(old_file, tmp_path / "again.parquet", sorted(PACK), ON, versions)
    assert n == total and sorted(pq.read_table(tmp_path / "again.parquet").to_pylist(), key=str) == sorted(
        new.to_pylist(), key=str
    )


def test_register_files_are_known_only_on_disk(tmp_path: Path) -> None:
    tables = synth_register(10, 15)
    assert register_files(tables) is None
    root = write_register(tables, tmp_path / "r")
    first = register_files(_files(root))
    assert first is not None and set(first) == set(_files(root))
    write_register({**tables, "firms": tables["firms"].slice(1)}, root)
    second = register_files(_files(root))
    assert second is not None and second["firms"] != first["firms"]


def test_messages_of_the_stored_register_explain_with_the_firms_rows(db: Db, tmp_path: Path) -> None:
    from huiqi.app import register

    store = Store.open(db.url)
    try:
        register.synth_register(store, firms=60, seed=16)
        report = matching.match(store, programmes=PACK, register="db", on=ON)
        assert report.run.new_notifications > 0
        box = matching.outbox(store, programmes=PACK, limit=5)
        assert box.items
        for m in box.items:
            # the explanation (from the firm's register rows, read by DuckDB) follows the first line
            assert len(m.message_en.splitlines()) > 1 and len(m.message_zh.splitlines()) > 1
            inbox = matching.firm_inbox(store, uscc=m.uscc, programmes=PACK)
            assert m.id in {n.id for n in inbox.items}
    finally:
        store.close()
