"""The compiler and the scalar evaluator agree at the money bound too: firms whose amounts reach
``huiqi.money.MAX_MAGNITUDE`` (caps, rates, sums over many contracts and offices, rounding to the fen).
The compiled SQL keeps the register's own decimal columns (DECIMAL(18, 2)) as read and lets the engine
widen them where arithmetic needs it; this shows nothing overflows or rounds differently there."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.rules.strategies import firms
from tests.rules.test_agreement import DATES, PACK, build, compare

from huiqi.money import MAX_MAGNITUDE

TOP = Decimal(MAX_MAGNITUDE)


def scaled(value: Any, factor: Decimal) -> Any:
    """Every amount of a profile multiplied by ``factor``, kept within the bound and to the fen."""
    if isinstance(value, Decimal):
        return min(value * factor, TOP).quantize(Decimal("0.01"))
    if isinstance(value, dict):
        return {k: scaled(v, factor) for k, v in value.items()}
    if isinstance(value, list):
        return [scaled(v, factor) for v in value]
    return value


# an example costs the pack's SQL compiled twice whatever its firms (tests/rules/test_agreement.py):
# 8 examples of up to 24 firms, as many firms as 15 of up to 12
@settings(max_examples=8, deadline=None)
@given(
    profiles=st.lists(firms(PACK), min_size=1, max_size=24),
    # 10^12 puts every amount of 1,000 yuan or more at the bound itself
    factor=st.sampled_from([Decimal(10) ** k for k in (4, 6, 8, 12)] + [Decimal("333333.33")]),
    on=DATES,
)
def test_evaluators_agree_at_the_money_bound(
    profiles: list[dict[str, Any]], factor: Decimal, on: dt.date
) -> None:
    compare(build([scaled(p, factor) for p in profiles]), on)
