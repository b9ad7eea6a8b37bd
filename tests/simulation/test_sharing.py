"""A reform copy that reuses its baseline's test results (the compiler's ``plan_sharing``) gives exactly
what separate runs of the baseline and of the reformed programmes give, firm by firm, over random firms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.rules.strategies import firms, uscc

from huiqi.firms import Firm, firm_from_data
from huiqi.firms.table import firms_to_tables
from huiqi.rules.batch import duckdb_tables, evaluate_register, execute
from huiqi.rules.compiler import compile_pack
from huiqi.rules.evaluator import Engine
from huiqi.rules.loader import bundled_pack_dir, load_pack
from huiqi.rules.testing import load_fixtures
from huiqi.simulation.reform import apply_reform, parse_reform, parse_sets
from huiqi.simulation.run import joint_programmes

PACK = load_pack()
FIXTURES = [firm_from_data(f) for f in load_fixtures(bundled_pack_dir("shanghai")).values()]
HEAD = "id: t\ntitle: {en: t, zh: 测}\nprogrammes:\n"

#: each changes one test of a programme with several (the designation has nine), so the copy shares the rest
REFORMS: list[tuple[str, list[str] | str]] = [
    ("shanghai.hq.designation", ["shanghai.hq.designation.rd_staff_count=0"]),
    ("shanghai.hq.designation", ["shanghai.hq.designation.rd_staff_count=20"]),
    ("shanghai.hq.designation", ["shanghai.hq.designation.rd_staff_count=1000"]),
    ("shanghai.hq.designation", ["shanghai.hq.designation.min_core_ip=0"]),
    ("shanghai.hq.designation", ["shanghai.hq.designation.min_total_assets=0"]),
    ("shanghai.hq.designation", ["shanghai.hq.designation.sales_threshold=1_000_000_000"]),
    ("shanghai.hq.designation", HEAD + "  shanghai.hq.designation:\n    conditions: {size: 'true'}\n"),
    (
        "shanghai.hq.designation",
        HEAD
        + "  shanghai.hq.designation:\n"
        + "    conditions: {sector: 'firm.sector == \"artificial_intelligence\"'}\n",
    ),
    (
        "shanghai.hq.startup-grant",
        HEAD + "  shanghai.hq.startup-grant:\n    exclusions: {already-granted: 'false'}\n",
    ),
    (
        "shanghai.hq.startup-grant",
        HEAD + "  shanghai.hq.startup-grant:\n    conditions: {paid-in-capital: firm.paid_in_capital > 0}\n",
    ),
    ("shanghai.ai.model-voucher", ["shanghai.ai.model-voucher.max_voucher=0"]),
    ("shanghai.ai.model-voucher", ["shanghai.ai.model-voucher.max_voucher=1_000_000"]),
]
DAYS = st.one_of(
    st.sampled_from([dt.date(2024, 6, 30), dt.date(2025, 7, 28), dt.date(2025, 10, 1), dt.date(2026, 3, 1)]),
    st.dates(dt.date(2023, 1, 1), dt.date(2027, 12, 31)),
)


def per_firm(wide: Any, columns: dict[str, tuple[str, str, str]], names: dict[str, str]) -> dict[Any, Any]:
    rows = wide.to_pylist()
    return {
        (r["uscc"], pid): (r[columns[name][0]], r[columns[name][1]])
        for r in rows
        for pid, name in names.items()
    }


def check(profiles: list[Firm], touched: str, change: list[str] | str, on: dt.date) -> None:
    reform = parse_sets(change) if isinstance(change, list) else parse_reform(change, source="r.yaml")
    applied = apply_reform(PACK, reform)
    joint, rename, mates = joint_programmes(applied)
    affected = sorted(applied.affected)
    ids = affected + [rename[p] for p in affected] + mates
    tables = firms_to_tables(profiles)
    compiled = compile_pack(joint, duckdb_tables(tables), on, ids, with_unmet=False)
    joint_rows = execute(compiled.table)
    p = applied.programmes[touched]
    if p.spec.effective.start <= on and (p.spec.effective.end is None or on <= p.spec.effective.end):
        assert compiled.derived.get(rename[touched]) == touched  # the sharing path is the one tested
    got_before = per_firm(joint_rows, compiled.columns, {p: p for p in affected})
    got_after = per_firm(joint_rows, compiled.columns, {p: rename[p] for p in affected})
    # the oracle: the scalar evaluator, firm by firm, on the baseline and on the reformed programmes
    for programmes, got in ((PACK, got_before), (applied.programmes, got_after)):
        want = {}
        for firm in profiles:
            engine = Engine(programmes, firm, on)
            for pid in affected:
                result = engine.evaluate(pid)
                want[(firm.uscc, pid)] = (result.eligible, result.amount)
        assert got == want


@settings(max_examples=15)
@given(
    profiles=st.lists(firms(PACK, on_years=range(2020, 2028)), min_size=1, max_size=30),
    reform=st.sampled_from(REFORMS),
    on=DAYS,
)
def test_a_copy_reusing_its_baseline_tests_equals_separate_runs(
    profiles: list[dict[str, Any]], reform: tuple[str, list[str] | str], on: dt.date
) -> None:
    built = [firm_from_data({**d, "uscc": uscc(i)}) for i, d in enumerate(profiles)]
    # the pack's fixture firms pass most tests, so the chains are walked to their ends too
    check(built + FIXTURES, reform[0], reform[1], on)


def test_a_shared_test_reading_another_parameter_value_is_not_shared() -> None:
    """The same expression object means something else where a parameter it reads differs: not reused."""
    base = PACK["shanghai.hq.designation"]
    applied = apply_reform(PACK, parse_sets(["shanghai.hq.designation.rd_staff_count=0"]))
    joint, rename, _ = joint_programmes(applied)
    copy = joint[rename[base.id]]
    copy.conditions["rd-staff"] = base.conditions["rd-staff"]  # the baseline's object, read with a count of 0
    on = dt.date(2025, 10, 1)
    # the fixture firms with 5 R&D staff among 1000 employees: only a staff count of 0 lets them through
    few = [
        firm_from_data({**f.model_dump(mode="json"), "uscc": uscc(100 + i), "rd_staff": 5, "employees": 1000})
        for i, f in enumerate(FIXTURES)
    ]
    tables = firms_to_tables(FIXTURES + few)
    compiled = compile_pack(joint, duckdb_tables(tables), on, [base.id, copy.id], with_unmet=False)
    assert compiled.derived == {copy.id: base.id}
    wide = execute(compiled.table).to_pylist()
    before = {r["uscc"]: r[compiled.columns[base.id][0]] for r in wide}
    after = {r["uscc"]: r[compiled.columns[copy.id][0]] for r in wide}
    separate = evaluate_register(applied.programmes, tables, on, [base.id])
    assert after == {r["uscc"]: r["eligible"] for r in separate.to_pylist()}
    assert any(after[f.uscc] and not before[f.uscc] for f in few)
