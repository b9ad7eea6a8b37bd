"""Baseline against reform over a synthetic register: zero for a null reform, the same figures as separate
runs, no losers when caps rise; pool months exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huiqi.firms.synth import synth_register
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack
from huiqi.simulation import run as run_module
from huiqi.simulation.reform import apply_reform, parse_sets
from huiqi.simulation.run import Simulation, runs_out, simulate

PACK = load_pack()
ON = dt.date(2025, 10, 1)


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return synth_register(30_000, 11)


def run(tables: dict[str, pa.Table], *sets: str, on: dt.date = ON) -> Simulation:
    return simulate(apply_reform(PACK, parse_sets(list(sets))), tables, on)


def separate_total(programmes: object, tables: dict[str, pa.Table], ids: list[str], on: dt.date) -> Decimal:
    long = evaluate_register(programmes, tables, on, ids)  # type: ignore[arg-type]
    total = pc.sum(long["amount"]).as_py()
    return Decimal(total or 0).quantize(Decimal("0.01"))


def test_a_reform_that_changes_nothing_gives_zero(tables: dict[str, pa.Table]) -> None:
    sim = run(
        tables,
        "shanghai.hq.designation.rd_staff_count=100",  # the value in force: nothing changes
        "shanghai.ai.compute-voucher.rental_rate=30%",
        "shenzhen.ai.compute-voucher.max_voucher=10_000_000",
        "hangzhou.ai.compute-voucher.base_rate=20%",
    )
    assert "shanghai.hq.startup-grant" in sim.affected  # dependants are recomputed too
    assert sim.cost_before > 0
    assert sim.change == 0 and sim.cost_after == sim.cost_before
    assert (sim.gainers, sim.losers, sim.gained, sim.lost) == (0, 0, 0, 0)
    for p in sim.programmes:
        assert (p.eligible_before, p.cost_before) == (p.eligible_after, p.cost_after), p.programme
        assert p.newly_eligible == p.no_longer_eligible == 0
    for rows in (sim.by_sector, sim.by_district, sim.by_size):
        assert all(r.change == 0 and r.firms_changed == 0 for r in rows)
    for pool in sim.pools:
        assert pool.runs_out_before == pool.runs_out_after


def test_the_joint_query_equals_separate_runs(tables: dict[str, pa.Table]) -> None:
    sets = [
        "shanghai.hq.designation.rd_staff_count=20",
        "shanghai.ai.model-voucher.max_voucher=1_000_000",
        "shanghai.ai.compute-voucher.rental_rate=40%",
    ]
    applied = apply_reform(PACK, parse_sets(sets))
    sim = simulate(applied, tables, ON)
    ids = sorted(applied.affected)
    assert sim.cost_before == separate_total(PACK, tables, ids, ON)
    assert sim.cost_after == separate_total(applied.programmes, tables, ids, ON)
    by_programme = {p.programme: p for p in sim.programmes}
    for pid in ids:
        assert by_programme[pid].cost_after == separate_total(applied.programmes, tables, [pid], ON), pid
    # a lower staff threshold designates more firms, and the benefits that need the designation follow
    assert by_programme["shanghai.hq.designation"].newly_eligible > 0
    assert sim.change == sim.gained - sim.lost
    assert sum((r.change for r in sim.by_sector), Decimal(0)) == sim.change
    assert sum((r.change for r in sim.by_size), Decimal(0)) == sim.change
    assert sum((r.change for r in sim.by_district), Decimal(0)) == sim.change


def test_raising_caps_loses_nobody_anything(tables: dict[str, pa.Table]) -> None:
    sim = run(
        tables,
        "shanghai.ai.model-voucher.max_voucher=6_000_000",
        "shanghai.hq.startup-grant.max_grant=8_000_000",
        "hangzhou.ai.compute-voucher.max_per_year=9_000_000",
        "shenzhen.ai.model-voucher.max_voucher=2_000_000",
        "chengdu.ai.compute-voucher.max_per_year=6_000_000",
    )
    lowered = run(tables, "shanghai.ai.model-voucher.max_voucher=500_000")
    assert lowered.losers > 0 and lowered.change < 0  # lowering the model cap to 500k does cost firms
    assert sim.losers == 0 and sim.lost == 0
    assert sim.gainers > 0 and sim.change > 0
    for p in sim.programmes:
        assert p.no_longer_eligible == 0 and p.change >= 0, p.programme


def test_pools_report_the_month_they_run_out(tables: dict[str, pa.Table]) -> None:
    sim = run(tables, "shanghai.ai.compute-voucher.rental_rate=40%")
    pool = next(p for p in sim.pools if p.pool == "shanghai.ai.compute")
    assert pool.programmes == ["shanghai.ai.compute-voucher"]
    assert pool.demand_after > pool.demand_before
    assert pool.runs_out_after == runs_out(pool.size_after, pool.demand_after, ON)
    # untouched programmes sharing no pool are not computed
    assert {p.programme for p in sim.programmes} == {"shanghai.ai.compute-voucher"}


def test_runs_out_month_arithmetic() -> None:
    start = dt.date(2025, 10, 15)
    assert runs_out(Decimal(100), Decimal(100), start) is None  # exactly enough
    assert runs_out(Decimal(100), Decimal("100.01"), start) == "2026-09"  # the twelfth month
    assert runs_out(Decimal(100), Decimal(1200), start) == "2025-11"  # one month's demand = the pool
    assert runs_out(Decimal(100), Decimal("1200.01"), start) == "2025-10"
    assert runs_out(Decimal(0), Decimal(1), start) == "2025-10"
    assert runs_out(Decimal(600), Decimal(2400), start) == "2026-01"  # 3 months fill it, the 4th runs out


def test_the_result_is_json_ready(tables: dict[str, pa.Table]) -> None:
    import json

    sim = run(tables, "shenzhen.ai.compute-voucher.rate=60%")
    data = json.loads(json.dumps(sim.to_json()))
    assert data["touched"] == ["shenzhen.ai.compute-voucher"]
    assert Decimal(data["change"]) == sim.change
    assert data["pools"][0]["demand_arrives"].startswith("evenly over 12 months")


def test_the_copies_share_what_the_reform_leaves_alone() -> None:
    from huiqi.simulation.run import joint_programmes

    applied = apply_reform(PACK, parse_sets(["shanghai.ai.model-voucher.max_voucher=8_000_000"]))
    joint, rename, mates = joint_programmes(applied)
    base = PACK["shanghai.ai.model-voucher"]
    copy = joint[rename["shanghai.ai.model-voucher"]]
    assert copy.values["eligible_value"] is base.values["eligible_value"]  # the contract aggregate, once
    assert copy.values["already_received"] is base.values["already_received"]
    assert copy.values["remaining_cap"] is not base.values["remaining_cap"]  # reads the changed cap
    assert copy.conditions["has-claimable-contract"] is base.conditions["has-claimable-contract"]
    assert copy.exclusions["cap-reached"] is not base.exclusions["cap-reached"]
    assert copy.amount is not base.amount  # reads remaining_cap
    assert mates == []  # the model pool has no other programme
    # a dependant's references follow the copies; its tests that read no affected programme are shared
    applied = apply_reform(PACK, parse_sets(["shanghai.hq.designation.rd_staff_count=20"]))
    joint, rename, _ = joint_programmes(applied)
    grant = joint[rename["shanghai.hq.startup-grant"]]
    assert grant.depends_on == {rename["shanghai.hq.designation"]}
    assert (
        grant.conditions["paid-in-capital"] is PACK["shanghai.hq.startup-grant"].conditions["paid-in-capital"]
    )
    assert grant.conditions["designated"] is not PACK["shanghai.hq.startup-grant"].conditions["designated"]


def test_a_rate_change_reads_the_baseline_eligibility() -> None:
    from huiqi.simulation.run import joint_programmes

    applied = apply_reform(PACK, parse_sets(["shanghai.ai.compute-voucher.rental_rate=40%"]))
    joint, rename, _ = joint_programmes(applied)
    copy = joint[rename["shanghai.ai.compute-voucher"]]
    assert list(copy.conditions) == ["baseline-eligible"] and copy.exclusions == {}
    assert copy.depends_on == {"shanghai.ai.compute-voucher"}
    # a cap that an exclusion reads changes eligibility: the tests are kept
    applied = apply_reform(PACK, parse_sets(["shanghai.ai.model-voucher.max_voucher=1_000_000"]))
    joint, rename, _ = joint_programmes(applied)
    assert "cap-reached" in joint[rename["shanghai.ai.model-voucher"]].exclusions


CUT_REFORMS = [
    ["shanghai.hq.designation.rd_staff_count=0"],  # the copy's necessary tests are looser than the baseline's
    ["shanghai.hq.designation.min_total_assets=0", "shanghai.hq.startup-grant.max_grant=8_000_000"],
    ["shanghai.ai.model-voucher.max_voucher=1_000_000", "shanghai.ai.corpus-voucher.rate=60%"],
    ["shanghai.ai.compute-voucher.rental_rate=40%", "chengdu.ai.compute-voucher.max_per_year=8_000_000"],
]


@pytest.mark.parametrize("sets", CUT_REFORMS, ids=lambda s: s[0])
def test_the_candidate_cut_changes_nothing_in_the_report(
    tables: dict[str, pa.Table], sets: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The joint query runs over the firms that pass an affected programme's necessary tests only; the
    report must be the one computed over every firm of the register, to the fen and the firm."""
    applied = apply_reform(PACK, parse_sets(sets))
    cut = simulate(applied, tables, ON).to_json()
    monkeypatch.setattr(run_module, "candidates", lambda *args: None)
    whole = simulate(applied, tables, ON).to_json()
    assert whole["top_gainers"] or whole["top_losers"]  # the reform changes something to compare
    assert {**cut, "seconds": 0} == {**whole, "seconds": 0}


def test_the_cut_keeps_few_of_the_register(tables: dict[str, pa.Table]) -> None:
    """What makes a reform cheaper than a match: most firms fail a voucher's city or contract test."""
    applied = apply_reform(PACK, parse_sets(["shanghai.ai.model-voucher.max_voucher=1_000_000"]))
    joint, rename, _ = run_module.joint_programmes(applied)
    ids = ["shanghai.ai.model-voucher", rename["shanghai.ai.model-voucher"]]
    cut, is_cut = run_module._candidate_tables(joint, tables, ON, ids)
    kept = cut["firms"].count().execute()
    assert is_cut and 0 < kept < tables["firms"].num_rows // 10
