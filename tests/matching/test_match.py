"""Batch matching: stored runs, incremental recomputation (programmes, firms), identical to a full run,
pool pressure, and an outbox that never notifies twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from dbfixtures import Db
from huiqi.firms.synth import synth_register
from huiqi.matching.models import Notification
from huiqi.matching.run import current_results, pool_pressure, run_match
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack

PACK = load_pack("shanghai")
ON = dt.date(2025, 7, 28)
N = 400


def full(tables: dict[str, pa.Table]) -> list[tuple[str, str, bool, Decimal, str]]:
    long = evaluate_register(PACK, tables, ON)
    return sorted(
        zip(
            long["uscc"].to_pylist(),
            long["programme"].to_pylist(),
            long["eligible"].to_pylist(),
            long["amount"].to_pylist(),
            [u or "" for u in long["unmet"].to_pylist()],
            strict=True,
        )
    )


def stored(db: Db) -> list[tuple[str, str, bool, Decimal, str]]:
    with db.session() as s:
        r = current_results(s, PACK, ON, sorted(PACK))
    return sorted(
        zip(
            r["uscc"].to_pylist(),
            r["programme"].to_pylist(),
            r["eligible"].to_pylist(),
            r["amount"].to_pylist(),
            r["unmet"].to_pylist(),
            strict=True,
        )
    )


def test_incremental_runs_recompute_only_what_changed(db: Db) -> None:
    tables = synth_register(N, 9)
    with db.session() as s:
        first = run_match(s, PACK, tables, ON)
        s.commit()
    assert first.rows_computed == N * len(PACK) and first.recomputed_programmes == sorted(PACK)
    eligible = sum(first.results["eligible"].to_pylist())
    assert eligible > 0 and first.notifications == eligible
    assert stored(db) == full(tables)

    with db.session() as s:
        again = run_match(s, PACK, tables, ON)
        s.commit()
    assert (again.rows_computed, again.recomputed_programmes, again.notifications) == (0, [], 0)

    # one firm changes: all programmes for that firm only
    firms = tables["firms"]
    i = 7
    sales = firms["sales_2024"].to_pylist()
    sales[i] = (sales[i] or Decimal(0)) + Decimal("123456789.00")
    changed = dict(tables)
    changed["firms"] = firms.set_column(
        firms.schema.get_field_index("sales_2024"), "sales_2024", pa.array(sales, firms["sales_2024"].type)
    )
    with db.session() as s:
        third = run_match(s, PACK, changed, ON)
        s.commit()
    assert (third.recomputed_firms, third.rows_computed, third.recomputed_programmes) == (1, len(PACK), [])
    assert stored(db) == full(changed)

    # one programme's file changes: that programme (and those referring to it) over all firms
    pid = "shanghai.hq.designation"
    edited = dict(PACK)
    edited[pid] = dataclasses.replace(PACK[pid], digest="0" * 64)
    dependents = sorted(p for p in PACK if pid in PACK[p].depends_on or p == pid)
    with db.session() as s:
        fourth = run_match(s, edited, changed, ON)
        s.commit()
    assert fourth.recomputed_programmes == dependents
    assert fourth.rows_computed == N * len(dependents)
    # newly eligible under the new digest are notified again (a new version of the rules), once
    with db.session() as s:
        fifth = run_match(s, edited, changed, ON)
        s.commit()
        assert fifth.rows_computed == 0 and not fifth.notifications
        keys = s.query(Notification.uscc, Notification.programme, Notification.programme_digest).all()
    assert len(keys) == len(set(keys))


def test_a_removed_firm_loses_its_results(sqlite_db: Db) -> None:
    tables = synth_register(50, 2)
    with sqlite_db.session() as s:
        run_match(s, PACK, tables, ON, notify=False)
        keep = tables["firms"]["uscc"].slice(1)
        fewer = {n: t.filter(pc.is_in(t["uscc"], keep)) for n, t in tables.items()}
        out = run_match(s, PACK, fewer, ON, notify=False)
        assert out.rows_computed == 0 and out.results.num_rows == 49 * len(PACK)


def test_pool_pressure_flags_oversubscribed_pools() -> None:
    pid = next(p for p in sorted(PACK) if PACK[p].spec.pool is not None)
    pool = PACK[pid].spec.pool
    assert pool is not None
    size = Decimal(str(pool.size))
    results = pa.table(
        {
            "programme": [pid, pid, pid],
            "eligible": [True, True, False],
            "amount": pa.array([size, Decimal("0.01"), size], pa.decimal128(18, 2)),
        }
    )
    (entry,) = [e for e in pool_pressure(results, PACK) if e["pool"] == pool.id]
    assert entry["demand"] == size + Decimal("0.01") and entry["firms"] == 2 and entry["oversubscribed"]
    ok = results.filter(pc.equal(results["amount"], Decimal("0.01")))
    (entry,) = [e for e in pool_pressure(ok, PACK) if e["pool"] == pool.id]
    assert not entry["oversubscribed"]


def test_cli_match_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from huiqi.cli.main import app
    from huiqi.config import get_settings
    from huiqi.db.migrate import upgrade
    from huiqi.firms.register import write_register

    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    monkeypatch.setenv("HUIQI_DATABASE_URL", url)
    get_settings.cache_clear()  # another test of this worker may have read (and cached) other settings
    request.addfinalizer(get_settings.cache_clear)
    write_register(synth_register(200, 4), tmp_path / "reg")
    runner = CliRunner()
    args = ["match", "--register", str(tmp_path / "reg"), "--on", "2025-07-28", "--pack", "shanghai"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "r.csv")])
    assert first.exit_code == 0, first.output
    assert "recomputed programmes over all firms" in first.output and "pool pressure" in first.output
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "r.xlsx")])
    assert second.exit_code == 0, second.output
    assert "nothing changed since the last run" in second.output
    assert "notifications: 0 new" in second.output
    # the breakdown is cut to --rows rows with a line saying how many more there are; --rows 0 prints all
    short = runner.invoke(app, ["match", "latest", "--pack", "shanghai", "--rows", "1"])
    assert short.exit_code == 0 and "more row(s): --rows 0 prints them all" in short.output, short.output
    every = runner.invoke(app, ["match", "latest", "--pack", "shanghai", "--rows", "0"])
    assert every.exit_code == 0 and "more row(s)" not in every.output
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "uscc,programme,version,date,eligible,amount,unmet" and len(lines) == 1 + 200 * len(
        PACK
    )
    bad = runner.invoke(
        app, ["match", "--register", str(tmp_path / "nope"), "--on", "2025-07-28", "--out", "x.csv"]
    )
    assert bad.exit_code == 2 and "register.json" in bad.output
