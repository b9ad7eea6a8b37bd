"""Hypothesis strategies that write well-typed expressions of the language, over the firm and parameters."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from huiqi.rules.programme import Problems, Programme, build_programme
from huiqi.rules.spec import ProgrammeSpec

NUM_FIELDS = [
    "firm.paid_in_capital",
    "firm.total_assets",
    "firm.market_value",
    "firm.employees",
    "firm.rd_staff",
    "firm.ip.invention_patents",
    "firm.branches_outside_city",
    "firm.sales[2024]",
    "firm.sales[year(as_of) - 1]",
    "firm.rd_spending[2024]",
]
BOOL_FIELDS = ["firm.innovative_drug_or_device", "firm.hq_functions.rd"]
DATE_FIELDS = ["firm.registration_date", "firm.hq_move_in_date", "as_of"]
STR_FIELDS = ["firm.sector", "firm.registration_city", "firm.service_subsector"]
PARAMS_NUM = ["cap", "rate"]
AGG_NUM = [
    'sum(c.value for c in firm.contracts if c.kind == "model_use")',
    "sum(c.value * rate for c in firm.contracts if not c.affiliated)",
    "count(o for o in firm.offices if o.hq)",
    "max(o.area_m2 for o in firm.offices)",
]
AGG_BOOL = ["any(o.hq for o in firm.offices)", 'all(c.kind != "corpus_purchase" for c in firm.contracts)']

numbers = st.one_of(
    st.sampled_from(["0", "1", "0.5", "30%", "12.5%", "100_000_000", "0.00000001", "1.728", "365", "8"]),
    st.integers(0, 10**9).map(str),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False).map(str),
)


def num_expr(depth: int = 3) -> st.SearchStrategy[str]:
    leaf = st.one_of(numbers, st.sampled_from(NUM_FIELDS + PARAMS_NUM + AGG_NUM))
    if depth <= 0:
        return leaf
    sub = num_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["min", "max"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(sub, sub, sub).map(lambda t: f"clamp({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(sub, sub).map(lambda t: f"default({t[0]}, {t[1]})"),
        st.tuples(bool_expr(depth - 1), sub, sub).map(lambda t: f"(if {t[0]} then {t[1]} else {t[2]})"),
        sub.map(lambda s: f"-({s})"),
    )


def date_expr() -> st.SearchStrategy[str]:
    base = st.sampled_from([*DATE_FIELDS, "2022-01-01", "2024-02-29"])
    shift = st.tuples(
        st.sampled_from(["years", "months", "days"]), st.integers(-30, 30), st.sampled_from(["+", "-"])
    )
    return st.one_of(base, st.tuples(base, shift).map(lambda t: f"({t[0]} {t[1][2]} {t[1][0]}({t[1][1]}))"))


def bool_expr(depth: int = 3) -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.sampled_from(BOOL_FIELDS + AGG_BOOL + ["true", "false"]),
        st.tuples(
            st.sampled_from(STR_FIELDS), st.sampled_from(['"Shanghai"', '"artificial_intelligence"', '"x"'])
        ).map(lambda t: f"{t[0]} == {t[1]}"),
        st.sampled_from(STR_FIELDS).map(lambda f: f'{f} in ["software", "Shanghai", "biomedicine"]'),
        st.sampled_from(NUM_FIELDS + DATE_FIELDS[:2]).map(lambda f: f"is_known({f})"),
    )
    if depth <= 0:
        return leaf
    n = num_expr(depth - 1)
    d = date_expr()
    sub = bool_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(n, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), n).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(d, st.sampled_from(["<", ">="]), d).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda s: f"not ({s})"),
    )


def programme_data(
    cond: str, amount: str, more: tuple[str, ...] = (), excl: str | None = None
) -> dict[str, Any]:
    """A programme file's data with these tests, the parameters ``cap`` and ``rate`` and this amount."""
    tests = [cond, *more]
    return {
        "id": "fuzz.generated",
        "version": "1",
        "benefit": "grant",
        "name": {"en": "generated", "zh": "生成"},
        "authority": {"en": "a", "zh": "甲"},
        "legal_basis": [{"id": "doc", "title": {"en": "t", "zh": "题"}, "number": "1", "date": "2020-01-01"}],
        "effective": {"from": "2020-01-01"},
        "parameters": {
            "cap": {
                "label": {"en": "cap", "zh": "上限"},
                "unit": "yuan",
                "clause": "1",
                "values": [{"from": "2020-01-01", "value": Decimal("5000000")}],
            },
            "rate": {
                "label": {"en": "rate", "zh": "比例"},
                "unit": "rate",
                "clause": "1",
                "values": [{"from": "2020-01-01", "value": Decimal("0.3")}],
            },
        },
        "conditions": [
            {"id": f"generated-{i}", "label": {"en": "c", "zh": "条"}, "clause": "1", "test": t}
            for i, t in enumerate(tests)
        ],
        "exclusions": []
        if excl is None
        else [{"id": "excluded", "label": {"en": "x", "zh": "除"}, "clause": "1", "when": excl}],
        "amount": {"label": {"en": "a", "zh": "额"}, "clause": "1", "expr": amount},
    }


def build_generated(data: dict[str, Any]) -> Programme:
    """The programme of ``programme_data``, built as the loader builds one (it must check)."""
    problems = Problems()
    programme = build_programme(
        ProgrammeSpec.model_validate(data),
        source="<fuzz>",
        digest="0",
        knows_programme=lambda _: False,
        problems=problems,
    )
    assert programme is not None, problems
    return programme
