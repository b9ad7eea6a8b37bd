"""The expression language: parsing, positioned errors, static checks and the evaluator's semantics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from huiqi.firms import firm_from_data
from huiqi.rules.checker import Scope, check
from huiqi.rules.errors import ExprError
from huiqi.rules.evaluator import Engine, ProgrammeRun, add_months, mul
from huiqi.rules.parser import parse
from huiqi.rules.types import BOOL, DATE, NUM, STR, Kind, Type

SCOPE = Scope(params={"cap": NUM, "rate": NUM, "start": DATE, "names": Type(Kind.LIST, item=STR)})

FIRM = firm_from_data(
    {
        "uscc": "91310115MA1K3BTP2B",
        "name_zh": "测试",
        "sector": "artificial_intelligence",
        "registration_city": "Shanghai",
        "registration_date": "2024-02-29",
        "registered_capital": "1",
        "paid_in_capital": "80000000",
        "total_assets": "1",
        "sales": {2024: "100.00"},
        "contracts": [
            {"id": "a", "kind": "model_use", "counterparty": "x", "value": "10.05", "signed": "2025-08-01"},
            {
                "id": "b",
                "kind": "model_use",
                "counterparty": "y",
                "value": "20.00",
                "signed": "2025-08-01",
                "affiliated": True,
            },
            {"id": "c", "kind": "corpus_purchase", "counterparty": "z", "value": "7", "signed": "2025-08-01"},
        ],
    }
)


class _FakeProgramme:
    """Just enough of a programme for evaluating a bare expression with fixed parameters."""

    def __init__(self, params: dict[str, Any]) -> None:
        from huiqi.rules.programme import Param

        self.params = {k: Param(k, NUM, (dt.date(2000, 1, 1),), (v,), (None,)) for k, v in params.items()}
        self.values: dict[str, Any] = {}
        self.id = "test.expr"
        self.memo: dict[Any, Any] = {}


def ev(text: str, **params: Any) -> Any:
    node = parse(text)
    check(node, Scope(params={k: NUM for k in params}))
    run = ProgrammeRun(Engine({}, FIRM, dt.date(2026, 1, 15)), _FakeProgramme(params))  # type: ignore[arg-type]
    return run.ev(node)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("firm.paid_in_capital >", "ends too early", 0),
        ("a $ b", "unexpected character '$'", 3),
        ("a / b", "there is no division", 3),
        ("a < b < c", "unexpected '<'", 7),
        ("2023-02-30 < as_of", "not a calendar date", 1),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, message: str, column: int) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert message in info.value.message
    if column:
        assert info.value.column == column


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("firm.paid_in > 3", "firm has no field 'paid_in'", 1),
        ("firm.sector == 3", "cannot compare a text with a number", 1),
        ("firm.paid_in_capital > start", "cannot compare a number with a date", 1),
        ("nope + 1", "unknown name 'nope'", 1),
        ("firm.sales[firm.employees] > 0", "the year must not depend on the firm", 12),
        ("sum(c.value for c in firm.contracts if firm.employees > 3) > 0", "read the item's fields", 40),
        ("sum(c.kind for c in firm.contracts) > 0", "sum() adds numbers", 5),
        ("if firm.employees then 1 else 2", "must be a boolean", 4),
        ("firm.sector in [1, 2]", "needs a value and a list of the same type", 1),
        ("frobnicate(1)", "unknown function 'frobnicate'", 1),
        ("as_of + years(firm.employees)", "needs a constant", 15),
    ],
)
def test_type_errors_say_where_and_what(text: str, message: str, column: int) -> None:
    with pytest.raises(ExprError) as info:
        check(parse(text), SCOPE)
    assert message in info.value.message
    assert info.value.column == column


def test_percent_and_underscores_are_exact() -> None:
    assert ev("30%") == Decimal("0.30")
    assert ev("100_000_000.01") == Decimal("100000000.01")
    assert ev("12.5% * 8") == Decimal("1.000")


def test_products_keep_eight_places_half_up() -> None:
    assert mul(Decimal("0.123456789"), Decimal("1")) == Decimal("0.12345679")
    assert mul(Decimal("-0.000000005"), Decimal("1")) == Decimal("-0.00000001")
    assert ev("0.00000001 * 0.5") == Decimal("0.00000001")  # 0.000000005 rounds half-up


def test_three_valued_logic_matches_sql() -> None:
    assert ev("firm.market_value > 1") is None
    assert ev("firm.market_value > 1 or firm.paid_in_capital > 1") is True
    assert ev("firm.market_value > 1 and firm.paid_in_capital > 1") is None
    assert ev("firm.market_value > 1 and firm.paid_in_capital < 1") is False
    assert ev("not (firm.market_value > 1)") is None
    assert ev("if firm.market_value > 1 then 1 else 2") == 2  # unknown takes else, as CASE WHEN does
    assert ev("min(firm.market_value, 5)") is None
    assert ev("default(firm.market_value, 5)") == 5
    assert ev("is_known(firm.sales[2024]) and not is_known(firm.sales[2023])") is True


def test_aggregates_filter_and_default() -> None:
    assert ev(
        'sum(c.value for c in firm.contracts if c.kind == "model_use" and not c.affiliated)'
    ) == Decimal("10.05")
    assert ev('count(c for c in firm.contracts if c.kind == "model_use")') == 2
    assert ev('sum(c.value for c in firm.contracts if c.kind == "compute_rental")') == 0
    assert ev('any(c.affiliated for c in firm.contracts if c.kind == "corpus_purchase")') is False
    assert ev("all(o.hq for o in firm.offices)") is True
    assert ev("max(c.value for c in firm.contracts)") == Decimal("20.00")
    assert ev("min(o.area_m2 for o in firm.offices)") is None


def test_calendar_arithmetic_clamps_like_sql() -> None:
    assert ev("firm.registration_date + years(1)") == dt.date(2025, 2, 28)
    assert ev("firm.registration_date + months(12)") == dt.date(2025, 2, 28)
    assert ev("firm.registration_date - days(1)") == dt.date(2024, 2, 28)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert ev("year(as_of) - 1") == 2025


def test_parameters_are_looked_up() -> None:
    assert ev("min(firm.paid_in_capital * rate, cap)", rate=Decimal("0.5"), cap=Decimal("5000000")) == 5000000


def test_expression_checker_types() -> None:
    assert check(parse("firm.paid_in_capital > cap"), SCOPE)[0] == BOOL
    assert check(parse("firm.registration_date + years(3)"), SCOPE)[0] == DATE
