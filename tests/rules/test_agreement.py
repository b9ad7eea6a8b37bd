"""The scalar evaluator and the vectorised compiler agree to the fen on every bundled programme."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.rules.strategies import edge_values, firms, uscc

from huiqi.firms import Firm, firm_from_data
from huiqi.firms.table import firms_to_tables
from huiqi.rules.batch import duckdb_tables, evaluate_register, run_wide
from huiqi.rules.evaluator import evaluate
from huiqi.rules.loader import load_pack

PACK = load_pack()
_, EDGE_DAYS = edge_values(PACK)
DATES = st.one_of(st.sampled_from(EDGE_DAYS), st.dates(dt.date(2022, 1, 1), dt.date(2027, 12, 31)))


def compare(profiles: list[Firm], on: dt.date) -> None:
    tables = firms_to_tables(profiles)
    long = evaluate_register(PACK, tables, on).to_pylist()
    vectorised = {(r["uscc"], r["programme"]): r for r in long}
    assert len(vectorised) == len(profiles) * len(PACK)
    # eligibility only: conditions compiled as a lazy CASE chain instead of one column each
    wide, compiled = run_wide(PACK, duckdb_tables(tables), on, with_unmet=False)
    lazy = {
        (row["uscc"], pid): (row[compiled.columns[pid][0]], row[compiled.columns[pid][1]])
        for row in wide.to_pylist()
        for pid in compiled.programmes
    }
    for firm in profiles:
        for result in evaluate(PACK, firm, on):
            row = vectorised[(firm.uscc, result.programme.id)]
            where = f"{result.programme.id} for {firm.uscc} on {on}"
            assert row["eligible"] == result.eligible, where
            assert row["amount"] == result.amount, where
            assert (row["unmet"].split(",") if row["unmet"] else []) == result.unmet, where
            assert lazy[(firm.uscc, result.programme.id)] == (result.eligible, result.amount), where


def build(dicts: list[dict[str, Any]]) -> list[Firm]:
    return [firm_from_data({**d, "uscc": uscc(i)}) for i, d in enumerate(dicts)]


# An example's cost is compiling the pack's SQL twice (about 1.3 CPU-s), whatever its firms: 16 examples
# of up to 60 firms check as many firms as 40 of up to 25 did, on 16 dates instead of 40.
@settings(max_examples=16)
@given(profiles=st.lists(firms(PACK), min_size=1, max_size=60), on=DATES)
def test_evaluators_agree_on_random_firms(profiles: list[dict[str, Any]], on: dt.date) -> None:
    compare(build(profiles), on)


@pytest.mark.parametrize("on", [dt.date(2024, 6, 30), dt.date(2025, 7, 28), dt.date(2026, 3, 1)])
def test_evaluators_agree_on_the_pack_fixtures(on: dt.date) -> None:
    from huiqi.rules.loader import bundled_pack_dir
    from huiqi.rules.testing import load_fixtures

    fixtures = load_fixtures(bundled_pack_dir("shanghai"))
    assert fixtures, "the Shanghai pack has fixture firms"
    compare([firm_from_data(f) for f in fixtures.values()], on)
