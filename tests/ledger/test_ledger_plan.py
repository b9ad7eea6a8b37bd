"""The pure plan (``huiqi.ledger.plan``): the table of postings is docs/ledger.md's, every operation's
postings balance, and the pool's change is read off the same table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiqi.ledger.errors import InvalidAmount, TranchePlanInvalid
from huiqi.ledger.plan import (
    POSTINGS,
    AccountKind,
    Move,
    TranchePlan,
    describe,
    legs,
    pool_change,
    positive_amount,
    tranche_plan,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"
amounts = st.integers(0, 10**9).map(lambda fen: Decimal(fen) / 100)


def doc_table() -> dict[str, str]:
    """docs/ledger.md's rows ``| operation | postings |`` under the postings heading."""
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| operation | postings") :].split("\n\n")[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()[2:]]
    return {operation: postings for operation, postings in rows}


def test_the_table_of_postings_is_the_documented_one() -> None:
    documented = doc_table()
    coded = {move.value: describe(move) for move in Move}
    assert {k: documented.get(k) for k in coded} == coded
    assert set(documented) - set(coded) == {"reversal (of a recovery)"}  # the only one not in the table


def test_the_documented_table_would_catch_a_changed_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = POSTINGS[Move.PAY]
    monkeypatch.setitem(
        POSTINGS,
        Move.PAY,
        type(rule)(rule.kind, (type(rule.flows[0])(AccountKind.PAYABLE, AccountKind.AVAILABLE),)),
    )
    assert doc_table()[Move.PAY.value] != describe(Move.PAY)


@given(move=st.sampled_from(list(Move)), a=amounts, b=amounts)
def test_every_operation_balances_and_moves_the_pool_as_its_available_postings(
    move: Move, a: Decimal, b: Decimal
) -> None:
    parts = dict(zip(sorted({f.part for f in POSTINGS[move].flows}), (a, b), strict=False))
    postings = legs(move, "p", "F", **parts)
    assert sum(amount for _, amount in postings) == 0
    assert all(amount != 0 for _, amount in postings)
    assert pool_change(move, **parts) == sum(x for acct, x in postings if acct == "available:p")
    firm_kinds = {"payable", "paid", "recoverable"}
    for acct, _ in postings:
        kind, *rest = acct.split(":")
        assert rest == (["p", "F"] if kind in firm_kinds else ["p"]), acct


def test_a_clawback_of_an_award_paid_in_full_posts_only_the_paid_part() -> None:
    assert legs(Move.CLAWBACK, "p", "F", unpaid=Decimal(0), paid=Decimal("5.00")) == [
        ("paid:p:F", Decimal("-5.00")),
        ("recoverable:p:F", Decimal("5.00")),
    ]
    with pytest.raises(TypeError):
        legs(Move.CLAWBACK, "p", "F", unpaid=Decimal(1))


def test_tranche_plans_add_up_to_the_award_and_amounts_are_positive_and_exact() -> None:
    due = dt.date(2025, 12, 31)
    assert tranche_plan(Decimal("10.00"), None, due) == [TranchePlan(Decimal("10.00"), "award granted", due)]
    with pytest.raises(TranchePlanInvalid):
        tranche_plan(Decimal("10.00"), [TranchePlan(Decimal("9.99"), "m", due)], due)
    for bad in ("0", "-1", "1.001", 1.5):
        with pytest.raises(InvalidAmount):
            positive_amount(bad, "x")
