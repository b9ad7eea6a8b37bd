"""Invariants over random firms (hypothesis): a higher cap never lowers a firm's amount; a reform that sets a
parameter to its own value changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.rules.strategies import firms, uscc

from huiqi.firms.io import firm_from_data
from huiqi.rules.evaluator import Engine
from huiqi.rules.loader import load_pack
from huiqi.rules.programme import Programme
from huiqi.simulation.reform import apply_reform, parse_sets

PACK = load_pack()

#: every per-firm cap of the bundled packs
CAPS = [
    ("shanghai.hq.startup-grant", "max_grant"),
    ("shanghai.ai.model-voucher", "max_voucher"),
    ("shanghai.ai.corpus-voucher", "max_voucher"),
    ("beijing.ai.compute-voucher", "max_per_year"),
    ("shenzhen.ai.compute-voucher", "max_voucher"),
    ("shenzhen.ai.model-voucher", "max_voucher"),
    ("shenzhen.ai.corpus-voucher", "max_voucher"),
    ("hangzhou.ai.compute-voucher", "max_per_year"),
    ("chengdu.ai.compute-voucher", "max_per_year"),
    ("chengdu.ai.model-voucher", "max_voucher"),
]
CITIES = ["Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu"]
CAP_VALUES = st.one_of(
    st.integers(0, 12_000_000_00).map(lambda f: Decimal(f) / 100),
    st.sampled_from(
        [Decimal(v) for v in (0, 500_000, 1_000_000, 2_000_000, 5_000_000, 8_000_000, 10_000_000)]
    ),
)


@lru_cache(maxsize=512)
def with_cap(pid: str, name: str, cap: Decimal) -> dict[str, Programme]:
    return apply_reform(PACK, parse_sets([f"{pid}.{name}={cap}"])).programmes


def _firm(data: dict[str, Any], city: str, pid: str, received: list[tuple[Decimal, dt.date]]) -> Any:
    incentives = data.get("incentives", []) + [
        {"programme": pid, "amount": str(a), "date": d} for a, d in received
    ]
    return firm_from_data({**data, "uscc": uscc(1), "registration_city": city, "incentives": incentives})


MONEY = st.one_of(
    st.integers(0, 60_000_000_00).map(lambda f: Decimal(f) / 100),
    st.sampled_from([Decimal(v) for v in (500_000, 1_000_000, 2_000_000, 10_000_000, 40_000_000)]),
)
DAY = st.dates(dt.date(2023, 6, 1), dt.date(2026, 6, 30))


def contract(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "kind": st.just(kind),
            "counterparty": st.just("Supplier Co."),
            "affiliated": st.sampled_from([False, False, True]),
            "value": MONEY.map(str),
            "signed": DAY,
            "term_months": st.sampled_from([6, 12, 13, 24]),
            "claimed": st.sampled_from([False, False, False, True]),
        }
    )


KINDS = ["compute_rental", "compute_purchase", "model_use", "corpus_purchase"]
#: one contract of each kind: every voucher programme has something to pay for
CONTRACTS = st.tuples(*(contract(k) for k in KINDS)).map(
    lambda cs: [dict(c, id=f"C{i}") for i, c in enumerate(cs)]
)

#: firms that buy compute, models and corpora: most of them are eligible somewhere, so caps bind
BUYERS = st.fixed_dictionaries(
    {
        "uscc": st.just(uscc(2)),
        "name_zh": st.just("测试企业"),
        "sector": st.sampled_from(["artificial_intelligence", "software_services", "manufacturing", "trade"]),
        "registration_date": st.dates(dt.date(2015, 1, 1), dt.date(2025, 6, 30)),
        "registered_capital": st.just("10000000"),
        "paid_in_capital": st.sampled_from(["10000000", "150000000"]),
        "total_assets": st.just("50000000"),
        "employees": st.sampled_from([10, 100, 101, 299, 300, 1000]),
        "designations": st.sampled_from([[], [{"code": "shanghai.hq.designation"}]]),
        "contracts": CONTRACTS,
    }
)


@given(
    data=BUYERS,
    city=st.sampled_from(CITIES),
    cap=st.sampled_from(CAPS),
    low=CAP_VALUES,
    extra=CAP_VALUES,
    received=st.lists(st.tuples(CAP_VALUES, DAY), max_size=2),
    on=st.dates(dt.date(2025, 7, 28), dt.date(2026, 12, 17)),
)
def test_a_higher_cap_never_lowers_an_amount(
    data: dict[str, Any],
    city: str,
    cap: tuple[str, str],
    low: Decimal,
    extra: Decimal,
    received: list[tuple[Decimal, dt.date]],
    on: dt.date,
) -> None:
    pid, name = cap
    # registered in the programme's city, or now and then elsewhere
    firm = _firm(data, pid.split(".")[0].capitalize() if city != "Beijing" else city, pid, received)
    before = Engine(with_cap(pid, name, low), firm, on).evaluate(pid)
    after = Engine(with_cap(pid, name, low + extra), firm, on).evaluate(pid)
    assert after.amount >= before.amount, (pid, low, low + extra, before.amount, after.amount)
    assert after.eligible or not before.eligible


@given(
    data=st.one_of(BUYERS, firms(PACK, on_years=range(2023, 2027))),
    city=st.sampled_from(CITIES),
    on=st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)),
    cap=st.sampled_from(CAPS),
)
def test_setting_a_parameter_to_its_value_changes_nothing(
    data: dict[str, Any], city: str, on: dt.date, cap: tuple[str, str]
) -> None:
    pid, name = cap
    value = PACK[pid].params[name].at(on)[0]
    firm = _firm(data, city, pid, [])
    same = with_cap(pid, name, value)
    for q in sorted(p for p in PACK if p.split(".")[0] == pid.split(".")[0]):
        a = Engine(PACK, firm, on).evaluate(q)
        b = Engine(same, firm, on).evaluate(q)
        assert (a.eligible, a.amount, a.unmet) == (b.eligible, b.amount, b.unmet), q
