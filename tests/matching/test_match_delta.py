"""A run that recomputed a few firms writes a delta (issue 16): the rows of the firms changed since a base
run, read with the base's other rows; its rows equal a full run's for every firm x programme; a run whose
changes pass the share compacts to a whole file; retention keeps a base while a kept delta reads it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dbfixtures import Db
from huiqi.app.store import Store
from huiqi.firms.synth import synth_register
from huiqi.matching import results as files
from huiqi.matching import run as matching_run
from huiqi.matching.run import Outcome, run_match
from huiqi.rules.loader import load_pack

PACK = load_pack("shanghai")
ON = dt.date(2025, 7, 28)


def with_sales(tables: dict[str, pa.Table], rows: list[int]) -> dict[str, pa.Table]:
    firms = tables["firms"]
    sales = firms["sales_2024"].to_pylist()
    for i in rows:
        sales[i] = (sales[i] or Decimal(0)) + Decimal("98765432.10")
    out = dict(tables)
    out["firms"] = firms.set_column(
        firms.schema.get_field_index("sales_2024"), "sales_2024", pa.array(sales, firms["sales_2024"].type)
    )
    return out


def like(tables: dict[str, pa.Table], code: str, model: str) -> dict[str, pa.Table]:
    """The register with firm ``code``'s rows in every table replaced by a copy of firm ``model``'s."""
    out = {}
    for name, t in tables.items():
        rows = t.filter(pc.equal(t["uscc"], model))
        rows = rows.set_column(rows.schema.get_field_index("uscc"), "uscc", pa.array([code] * rows.num_rows))
        out[name] = pa.concat_tables([t.filter(pc.not_equal(t["uscc"], code)), rows.cast(t.schema)])
    return out


def whole(tables: dict[str, pa.Table], tmp: Path) -> list[dict[str, object]]:
    """The rows of a full run of ``tables`` in a database of its own."""
    store = Store.open(f"sqlite:///{tmp}/full-{len(list(tmp.iterdir()))}.db")
    try:
        rows: list[dict[str, object]] = store.write(
            lambda s: run_match(s, PACK, tables, ON, results_dir=tmp / "full-results").results.to_pylist()
        )
        return rows
    finally:
        store.close()


def own_codes(out: Outcome) -> set[str]:
    """The firms whose rows the run's own file holds."""
    return set(pq.read_table(out.results_file, columns=["uscc"])["uscc"].to_pylist())


def pairs(out: Outcome) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The eligible pairs the run worked out (and stored), and the eligible rows of its whole table."""
    told = sorted(zip(*(out.eligible[c].to_pylist() for c in ("uscc", "programme", "amount")), strict=True))
    rows = out.results.filter(out.results["eligible"])
    return told, sorted(zip(*(rows[c].to_pylist() for c in ("uscc", "programme", "amount")), strict=True))


def test_deltas_over_deltas_equal_full_runs(sqlite_db: Db, tmp_path: Path) -> None:
    tables = synth_register(40, 11)
    codes = tables["firms"]["uscc"].to_pylist()
    with sqlite_db.session() as s:
        first = run_match(s, PACK, tables, ON)
        s.commit()
        assert files.base_of(first.results_file) is None
        changed: set[str] = set()
        model = next(u for u in first.eligible["uscc"].to_pylist() if u != codes[20])
        for rows in ([3], [7, 3], [20]):
            # the last change gives a firm an eligible firm's rows: the delta holds eligible pairs too
            tables = with_sales(tables, rows) if rows != [20] else like(tables, codes[20], model)
            changed |= {codes[i] for i in rows}
            out = run_match(s, PACK, tables, ON)
            s.commit()
            # the delta holds the firms changed since the base, every programme, and nothing else
            assert files.base_of(out.results_file) == first.results_file
            assert own_codes(out) == changed
            assert pq.read_table(out.results_file).num_rows == len(changed) * len(PACK)
            assert out.run.rows == files.row_count(out.results_file) == 40 * len(PACK)
            assert out.results.to_pylist() == whole(tables, tmp_path)
            worked_out, in_table = pairs(out)
            assert worked_out == in_table and worked_out
        gone = codes[5]
        tables = {n: t.filter(pc.not_equal(t["uscc"], gone)) for n, t in tables.items()}
        out = run_match(s, PACK, tables, ON)
        s.commit()
        assert gone not in set(out.results["uscc"].to_pylist())
        assert out.run.rows == 39 * len(PACK)
        assert out.results.to_pylist() == whole(tables, tmp_path)
        assert pairs(out)[0] == pairs(out)[1]
        # nothing changed: the delta is linked, and read the same
        again = run_match(s, PACK, tables, ON)
        s.commit()
        assert again.rows_computed == 0 and files.base_of(again.results_file) == first.results_file
        assert again.results.to_pylist() == out.results.to_pylist()


def test_a_delta_past_the_share_writes_the_whole_table(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching_run, "DELTA_SHARE", 0.1)
    tables = synth_register(40, 12)
    with sqlite_db.session() as s:
        run_match(s, PACK, tables, ON)
        s.commit()
        small = run_match(s, PACK, with_sales(tables, [1, 2]), ON)  # 2 of 40: a delta
        s.commit()
        tables = with_sales(tables, [1, 2, 3, 4, 5])  # 5 of 40 since the base: past a tenth
        big = run_match(s, PACK, tables, ON)
        s.commit()
    assert files.base_of(small.results_file) is not None
    assert files.base_of(big.results_file) is None
    assert pq.read_table(big.results_file).num_rows == big.run.rows == 40 * len(PACK)
    assert big.results.to_pylist() == whole(tables, tmp_path)


def test_retention_keeps_a_base_while_a_kept_delta_reads_it(sqlite_db: Db) -> None:
    tables = synth_register(30, 13)
    other = ON + dt.timedelta(days=1)
    with sqlite_db.session() as s:
        base = run_match(s, PACK, tables, ON, keep_runs=1)
        s.commit()
        delta = run_match(s, PACK, with_sales(tables, [2]), ON, keep_runs=1)
        s.commit()
        assert base.results_file.exists() and files.base_of(delta.results_file) == base.results_file
        # a programme changed on the date: the next run is whole; the delta and its base go
        pack = dict(PACK)
        pid = sorted(pack)[0]
        pack[pid] = dataclasses.replace(pack[pid], digest="0" * 64)
        whole_run = run_match(s, pack, with_sales(tables, [2]), ON, keep_runs=1)
        s.commit()
        run_match(s, pack, tables, other, keep_runs=1)
        s.commit()
    assert whole_run.results_file.exists() and files.base_of(whole_run.results_file) is None
    for gone in (
        delta.results_file,
        files.replaced_file(delta.results_file),
        files.delta_file(delta.results_file),
    ):
        assert not gone.exists()
    assert not base.results_file.exists(), "a base no kept run reads is removed"


def test_the_registers_digests_file_is_linked_not_rewritten(sqlite_db: Db, tmp_path: Path) -> None:
    """A run given the stored register's digests file (its import's) keeps it as the run's digests: the
    same file, linked; the next run compares with it and finds the one firm changed."""
    from huiqi.firms.digests import firm_digests
    from huiqi.firms.register import write_register

    tables = synth_register(30, 14)
    root = write_register(tables, tmp_path / "reg")
    digests = tmp_path / "digests.parquet"
    pq.write_table(firm_digests(tables), digests)
    files_of = {p.stem: p for p in sorted(root.glob("*.parquet"))}
    with sqlite_db.session() as s:
        first = run_match(s, PACK, files_of, ON, digests=digests)
        s.commit()
        assert files.digests_file(first.results_file).stat().st_ino == digests.stat().st_ino
        changed = with_sales(tables, [4])
        again = run_match(s, PACK, changed, ON)
        s.commit()
    assert again.recomputed_firms == 1
    assert again.results.to_pylist() == whole(changed, tmp_path)
