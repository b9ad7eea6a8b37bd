"""Hypothesis strategies: firm profiles whose figures sit on, just under and just over every threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from huiqi.firms import make_uscc
from huiqi.rules import ast
from huiqi.rules.programme import Programme
from huiqi.rules.types import DATE, NUM

CENT = Decimal("0.01")


def edge_values(programmes: Mapping[str, Programme]) -> tuple[list[Decimal], list[dt.date]]:
    """Every number and date the programmes mention, with the values a fen or a day either side."""
    numbers: set[Decimal] = {Decimal(0)}
    dates: set[dt.date] = set()
    for p in programmes.values():
        for param in p.params.values():
            for v in param.values:
                if param.type == NUM:
                    numbers.add(v)
                elif param.type == DATE:
                    dates.add(v)
            dates.update(param.starts)
        dates.add(p.spec.effective.start)
        if p.spec.effective.end:
            dates.add(p.spec.effective.end)
        for e in p.expressions():
            for node in ast.walk(e.node):
                if isinstance(node, ast.Number):
                    numbers.add(node.value)
                elif isinstance(node, ast.DateLit):
                    dates.add(node.value)
    amounts = sorted(
        {(n + d).quantize(CENT) for n in numbers for d in (-CENT, Decimal(0), CENT) if n + d >= 0}
    )
    days = sorted({d + dt.timedelta(days=k) for d in dates for k in (-1, 0, 1)})
    return amounts, days


def money(edges: list[Decimal]) -> st.SearchStrategy[Decimal]:
    random = st.integers(min_value=0, max_value=3_000_000_000_00).map(lambda f: Decimal(f) / 100)
    return st.one_of(
        st.sampled_from(edges), random, st.integers(0, 100_000_00).map(lambda f: Decimal(f) / 100)
    )


def firms(
    programmes: Mapping[str, Programme], on_years: range = range(2019, 2027)
) -> st.SearchStrategy[dict[str, Any]]:
    """Firm profiles as JSON-like dicts (USCC filled in later, so lists of them stay unique)."""
    amounts, days = edge_values(programmes)
    m = money(amounts)
    day = st.one_of(st.sampled_from(days), st.dates(dt.date(2015, 1, 1), dt.date(2027, 12, 31)))
    count = st.one_of(st.integers(0, 30), st.sampled_from([9, 10, 11, 14, 15, 16, 99, 100, 101, 200, 1000]))
    years = st.dictionaries(st.sampled_from(list(on_years)), m, max_size=5)
    contract = st.fixed_dictionaries(
        {
            "kind": st.sampled_from(
                ["compute_rental", "compute_purchase", "compute_selfbuild", "model_use", "corpus_purchase"]
            ),
            "counterparty": st.just("Supplier Co."),
            "affiliated": st.booleans(),
            "value": m,
            "signed": day,
            "term_months": st.sampled_from([1, 6, 11, 12, 13, 24]),
            "claimed": st.booleans(),
        }
    )
    office = st.fixed_dictionaries(
        {
            "area_m2": st.one_of(
                st.sampled_from([Decimal("999.99"), Decimal(1000), Decimal("1000.01")]),
                m.map(lambda v: (v % 5000).quantize(CENT)),
            ),
            "rent_per_m2_day": st.one_of(
                st.sampled_from([Decimal("7.99"), Decimal(8), Decimal("8.01")]),
                st.integers(0, 2000).map(lambda f: Decimal(f) / 100),
            ),
            "tenure": st.sampled_from(["rented", "owned"]),
            "hq": st.booleans(),
        }
    )

    def fix(d: dict[str, Any]) -> dict[str, Any]:
        d["rd_staff"] = min(d["rd_staff"], d["employees"])
        hq_seen = False
        offices = []
        for o in d["offices"]:
            o = dict(o, hq=o["hq"] and not hq_seen)
            hq_seen = hq_seen or o["hq"]
            offices.append(o)
        d["offices"] = offices
        d["contracts"] = [dict(c, id=f"C{i}") for i, c in enumerate(d["contracts"])]
        for k in ("sales", "rd_spending", "rd_spending_in_china", "district_contribution"):
            d[k] = {y: str(v) for y, v in d[k].items()}
        return d

    return st.fixed_dictionaries(
        {
            "name_zh": st.just("测试企业"),
            "sector": st.sampled_from(
                [
                    "integrated_circuits",
                    "biomedicine",
                    "artificial_intelligence",
                    "digital_economy",
                    "other_strategic",
                    "manufacturing",
                    "trade",
                ]
            ),
            "service_subsector": st.one_of(
                st.none(), st.sampled_from(["software", "ic_design", "biotech_cro"])
            ),
            "registration_city": st.sampled_from(["Shanghai", "Shanghai", "Hangzhou"]),
            "registration_date": day,
            "hq_move_in_date": st.one_of(st.none(), day),
            "registered_capital": m.map(str),
            "paid_in_capital": m.map(str),
            "total_assets": m.map(str),
            "market_value": st.one_of(st.none(), m.map(str)),
            "sales": years,
            "rd_spending": years,
            "rd_spending_in_china": years,
            "district_contribution": years,
            "employees": count,
            "rd_staff": count,
            "ip": st.fixed_dictionaries(
                {"invention_patents": count, "ic_layout_designs": count, "software_copyrights": count}
            ),
            "innovative_drug_or_device": st.booleans(),
            "branches_outside_city": st.integers(0, 4),
            "hq_functions": st.fixed_dictionaries(
                {"rd": st.booleans(), "sales": st.booleans(), "settlement": st.booleans()}
            ),
            "offices": st.lists(office, max_size=2),
            "designations": st.lists(
                st.fixed_dictionaries({"code": st.sampled_from(["high-tech", "shanghai.hq.designation"])}),
                max_size=2,
            ),
            "incentives": st.lists(
                st.fixed_dictionaries(
                    {
                        "programme": st.sampled_from(
                            [
                                "shanghai.hq.startup-grant",
                                "shanghai.hq.operating-award",
                                "shanghai.mnc-regional-hq.startup-grant",
                            ]
                        ),
                        "item": st.sampled_from([None, "tier1", "tier2", "tier3"]),
                        "amount": st.just("1.00"),
                        "date": day,
                    }
                ),
                max_size=2,
            ),
            "contracts": st.lists(contract, max_size=3),
        }
    ).map(fix)


def uscc(i: int) -> str:
    return make_uscc(f"91310115MA{i:07d}")
