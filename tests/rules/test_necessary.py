"""Necessary tests (rules.necessary): what each programme's conditions say every eligible firm has, and the
candidate filter made of them (rules.compiler.candidates). Soundness over random programmes and firms is
tested in tests/fuzz; here the shapes found in the bundled programmes and in the cases that must tell
nothing, and the filter against the scalar evaluator over the whole bundled set."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fuzz.grammar import build_generated, programme_data
from tests.rules.strategies import firms, uscc

from huiqi.firms import firm_from_data
from huiqi.firms.table import firms_to_tables
from huiqi.rules import ast
from huiqi.rules.batch import duckdb_tables, execute
from huiqi.rules.compiler import candidates
from huiqi.rules.evaluator import Engine
from huiqi.rules.loader import load_pack
from huiqi.rules.necessary import NEVER, AllOf, AnyOf, Exists, FirmTest, Formula, Necessary, split
from huiqi.rules.programme import Programme

PACK = load_pack()
ON = dt.date(2025, 10, 1)


def generated(*conds: str, excl: str | None = None, effective_to: str | None = None) -> Programme:
    data: dict[str, Any] = programme_data(conds[0], "1", conds[1:], excl)
    if effective_to:
        data["effective"]["to"] = effective_to
    return build_generated(data)


def needs(programme: Programme) -> Formula | None:
    return Necessary({programme.id: programme}, ON).of(programme.id)


def shape(f: Formula | None) -> Any:
    """The formula with each firm test as the text it tests and each semi-join as its table."""
    match f:
        case None:
            return None
        case FirmTest(programme=p, node=node, negate=negate):
            text = next(e.text for e in p.expressions() if any(n is node for n in ast.walk(e.node)))
            part = text[node.span.start : node.span.end] if node.span.end else text
            return ("not " if negate else "") + part
        case Exists(table=table):
            return f"exists {table}"
        case AllOf(parts=parts):
            return ("all", [shape(x) for x in parts])
        case AnyOf(parts=parts):
            return ("any", [shape(x) for x in parts])


def test_a_voucher_needs_its_city_and_a_contract_of_its_kind() -> None:
    found = Necessary(PACK, ON).of("shanghai.ai.model-voucher")
    assert shape(found) == ("all", ["firm.registration_city == city", "exists contracts"])
    assert isinstance(found, AllOf) and isinstance(found.parts[1], Exists)
    # the semi-join counts only the items the aggregate counts: its `if` and, for any(), its element
    ((_, agg),) = found.parts[1].aggregates
    assert agg.func == "any" and agg.cond is not None


def test_a_dependant_needs_the_designation_or_a_designation_held() -> None:
    needs_all = Necessary(PACK, ON)
    grant = needs_all.of("shanghai.hq.startup-grant")
    assert isinstance(grant, AllOf)
    designated = grant.parts[0]
    assert isinstance(designated, AnyOf)
    assert designated.parts[0] is needs_all.of("shanghai.hq.designation")
    assert shape(designated.parts[1]) == "exists designations"


def test_tests_true_of_a_firm_without_items_tell_nothing() -> None:
    # an empty all() is true, a sum of nothing is 0 >= 0, not any() of nothing is true
    for cond in (
        'all(c.kind != "corpus_purchase" for c in firm.contracts)',
        'sum(c.value for c in firm.contracts if c.kind == "model_use") >= 0',
        "not any(o.hq for o in firm.offices)",
        "count(o for o in firm.offices) < 3",
    ):
        assert needs(generated(cond)) is None, cond


def test_a_test_mixing_the_firm_and_its_lists_tells_nothing() -> None:
    assert needs(generated("sum(c.value for c in firm.contracts) >= firm.paid_in_capital")) is None


def test_or_needs_what_either_side_needs() -> None:
    found = needs(generated('firm.sector == "x" or any(o.hq for o in firm.offices)'))
    assert shape(found) == ("any", ['firm.sector == "x"', "exists offices"])
    found = needs(generated('firm.sector == "x" or firm.employees > firm.rd_staff'))
    assert shape(found) == 'firm.sector == "x" or firm.employees > firm.rd_staff'  # the firm's own: one test
    found = needs(generated('firm.sector == "x" or not any(o.hq for o in firm.offices)'))
    assert found is None  # one side tells nothing
    found = needs(
        generated(
            'firm.sector == "x"', "any(o.hq for o in firm.offices) or count(o for o in firm.offices) > 2"
        )
    )
    assert shape(found) == ("all", ['firm.sector == "x"', "exists offices"])


def test_a_firm_exclusion_is_needed_false_and_a_programme_out_of_force_is_never() -> None:
    found = needs(generated("firm.employees > 3", excl='firm.sector == "x"'))
    assert shape(found) == ("all", ["firm.employees > 3", 'not firm.sector == "x"'])
    assert needs(generated("firm.employees > 3", effective_to="2024-12-31")) == NEVER


def test_split_keeps_each_kind_and_merges_semi_joins_on_one_table() -> None:
    p = generated("true")
    node = p.conditions["generated-0"].node
    a, b = FirmTest(p, node), FirmTest(p, node, negate=True)
    x, y = Exists("contracts", ()), Exists("contracts", ())
    own, lists = split(AnyOf((AllOf((a, x)), AllOf((b, y)))))
    assert own == AnyOf((a, b))
    assert isinstance(lists, Exists) and lists.table == "contracts"
    # a disjunct without a semi-join: the lists part tells nothing
    assert split(AnyOf((AllOf((a, x)), b)))[1] is None


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    profiles=st.lists(firms(PACK), min_size=1, max_size=8),
    on=st.sampled_from(
        [dt.date(2024, 6, 30), dt.date(2025, 7, 28), dt.date(2025, 10, 1), dt.date(2026, 3, 1)]
    ),
)
def test_the_candidates_hold_every_firm_eligible_for_a_bundled_programme(
    profiles: list[dict[str, Any]], on: dt.date
) -> None:
    built = [firm_from_data({**p, "uscc": uscc(i)}) for i, p in enumerate(profiles)]
    tables = duckdb_tables(firms_to_tables(built))
    for pid in sorted(PACK):
        eligible = {f.uscc for f in built if Engine(PACK, f, on).evaluate(pid).eligible}
        kept = candidates(PACK, tables, on, [pid])
        assert kept is not None, pid  # every bundled programme has necessary tests
        assert eligible <= set(execute(kept.select("uscc"))["uscc"].to_pylist()), pid
