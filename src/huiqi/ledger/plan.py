"""What a money operation writes, worked out before any database is touched: amounts, tranche plans, the
accounts, and the postings of every kind of transaction as one table (``POSTINGS``, the table of
docs/ledger.md). Pure: no session, no SQL; the writers (``ledger.write`` portable, ``ledger.pg_write``
for PostgreSQL) turn these plans into rows of the models' tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from huiqi.ledger.errors import InvalidAmount, TranchePlanInvalid, Unbalanced
from huiqi.money import MoneyError, yuan


class AccountKind(StrEnum):
    """Where a pool's money is. Balances are signed: money sitting in a bucket is positive."""

    FUNDING = "funding"  # the appropriation: -size once the pool is funded
    AVAILABLE = "available"  # not committed to anyone
    RESERVED = "reserved"  # held for a decision (pending reservations)
    PAYABLE = "payable"  # awarded to a firm, not yet paid
    PAID = "paid"  # paid out to a firm
    RECOVERABLE = "recoverable"  # paid, then clawed back: owed by the firm


#: The accounts a pool has of its own; the others are one per firm (``account_id`` with the firm).
POOL_ACCOUNTS = (AccountKind.FUNDING, AccountKind.AVAILABLE, AccountKind.RESERVED)
FIRM_ACCOUNTS = (AccountKind.PAYABLE, AccountKind.PAID, AccountKind.RECOVERABLE)


class TxnKind(StrEnum):
    FUND = "fund"
    RESERVE = "reserve"
    VOID = "void"
    AWARD = "award"
    PAY = "pay"
    RELEASE = "release"
    CLAWBACK = "clawback"
    RECOVER = "recover"
    REVERSAL = "reversal"


class ReservationStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class AwardStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CLAWED_BACK = "clawed_back"


class TrancheStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    RELEASED = "released"


# --- the postings of each operation ----------------------------------------------------------------------


class Move(StrEnum):
    """A money operation, named as in docs/ledger.md's table of postings."""

    FUND = "fund pool"
    RESERVE = "reserve"
    VOID = "void reservation"
    POST = "post reservation (award)"
    GRANT = "grant award (fcfs)"
    PAY = "pay tranche"
    CLAWBACK = "missed milestone / clawback"
    RECOVER = "recovery"


@dataclass(frozen=True)
class Flow:
    """``part`` of the operation's money leaves ``source`` (posted negative) and enters ``target``."""

    source: AccountKind
    target: AccountKind
    part: str = "amount"


@dataclass(frozen=True)
class Rule:
    """The transaction an operation writes: its kind and its flows, one balanced pair of postings each."""

    kind: TxnKind
    flows: tuple[Flow, ...]


K = AccountKind
#: The one table of postings. A reversal is not in it: it posts the original's postings negated.
POSTINGS: dict[Move, Rule] = {
    Move.FUND: Rule(TxnKind.FUND, (Flow(K.FUNDING, K.AVAILABLE, "size"),)),
    Move.RESERVE: Rule(TxnKind.RESERVE, (Flow(K.AVAILABLE, K.RESERVED),)),
    Move.VOID: Rule(TxnKind.VOID, (Flow(K.RESERVED, K.AVAILABLE),)),
    Move.POST: Rule(TxnKind.AWARD, (Flow(K.RESERVED, K.PAYABLE),)),
    Move.GRANT: Rule(TxnKind.AWARD, (Flow(K.AVAILABLE, K.PAYABLE),)),
    Move.PAY: Rule(TxnKind.PAY, (Flow(K.PAYABLE, K.PAID),)),
    Move.CLAWBACK: Rule(
        TxnKind.CLAWBACK, (Flow(K.PAYABLE, K.AVAILABLE, "unpaid"), Flow(K.PAID, K.RECOVERABLE, "paid"))
    ),
    Move.RECOVER: Rule(TxnKind.RECOVER, (Flow(K.RECOVERABLE, K.AVAILABLE),)),
}


def describe(move: Move) -> str:
    """The postings of ``move`` as docs/ledger.md writes them (``available −amount, payable +amount``)."""
    return "; ".join(
        f"{f.source.value} \u2212{f.part}, {f.target.value} +{f.part}" for f in POSTINGS[move].flows
    )


def account_id(pool_id: str, kind: AccountKind, firm_uscc: str | None = None) -> str:
    """An account's id: ``kind:pool`` for the pool's own, ``kind:pool:firm`` for a firm's."""
    return f"{kind.value}:{pool_id}" if firm_uscc is None else f"{kind.value}:{pool_id}:{firm_uscc}"


def _account(pool_id: str, kind: AccountKind, firm_uscc: str | None) -> str:
    return account_id(pool_id, kind, firm_uscc if kind in FIRM_ACCOUNTS else None)


def legs(
    move: Move, pool_id: str, firm_uscc: str | None = None, **parts: Decimal
) -> list[tuple[str, Decimal]]:
    """The postings (account, signed amount) of one ``move``; a part of zero posts nothing. Balanced by
    construction, and checked."""
    rule = POSTINGS[move]
    missing = {f.part for f in rule.flows} - set(parts)
    if missing:
        raise TypeError(f"{move.value}: no amount for {sorted(missing)}")
    result: list[tuple[str, Decimal]] = []
    for flow in rule.flows:
        amount = parts[flow.part]
        if amount:
            result += [
                (_account(pool_id, flow.source, firm_uscc), -amount),
                (_account(pool_id, flow.target, firm_uscc), amount),
            ]
    total = sum((amount for _, amount in result), Decimal(0))
    if total != 0:
        raise Unbalanced(total)
    return result


def pool_change(move: Move, **parts: Decimal) -> Decimal:
    """How much ``move`` adds to (or, negative, takes from) the pool's available balance."""
    change = Decimal(0)
    for flow in POSTINGS[move].flows:
        change += parts[flow.part] * ((flow.target is K.AVAILABLE) - (flow.source is K.AVAILABLE))
    return change


# --- amounts and tranche plans ---------------------------------------------------------------------------


def positive_amount(value: object, what: str) -> Decimal:
    """Exact yuan, more than zero; anything else is ``InvalidAmount`` naming ``what``."""
    try:
        amount = yuan(value, what=what)
    except MoneyError as exc:
        raise InvalidAmount(what, value) from exc
    if amount <= 0:
        raise InvalidAmount(what, value)
    return amount


@dataclass(frozen=True)
class TranchePlan:
    """One tranche of an award: paid when ``milestone`` is met, missed if not met by ``due``."""

    amount: Decimal
    milestone: str
    due: dt.date


@dataclass(frozen=True)
class AwardRequest:
    """One first-come-first-served award asked for in a batch (``grant_awards``)."""

    firm_uscc: str
    amount: Decimal
    idempotency_key: str
    tranches: tuple[TranchePlan, ...] = ()
    contracts: tuple[str, ...] = ()
    application_id: str | None = None


def tranche_plan(
    amount: Decimal, tranches: Sequence[TranchePlan] | None, default_due: dt.date
) -> list[TranchePlan]:
    """The award's tranches: as asked (each positive, adding up to the award exactly), or one tranche of
    the whole amount due at the end of the pool's period."""
    if not tranches:
        return [TranchePlan(amount=amount, milestone="award granted", due=default_due)]
    plan = [
        TranchePlan(positive_amount(t.amount, f"tranche {i}"), t.milestone, t.due)
        for i, t in enumerate(tranches, 1)
    ]
    total = sum((t.amount for t in plan), Decimal(0))
    if total != amount:
        raise TranchePlanInvalid(f"tranches add up to {total} yuan but the award is {amount} yuan")
    return plan


def distinct_contracts(contracts: Sequence[str]) -> None:
    """One award claims a contract once."""
    if len(set(contracts)) != len(contracts):
        raise TranchePlanInvalid("a contract is listed twice in one award")


def validate_request(request: AwardRequest) -> Decimal:
    """A batch request's amount, once its own contracts are distinct."""
    value = positive_amount(request.amount, "award amount")
    distinct_contracts(request.contracts)
    return value


def award_body(
    pool_id: str,
    firm_uscc: str,
    amount: Decimal,
    tranches: Sequence[TranchePlan] | None,
    contracts: Sequence[str],
    application_id: str | None,
) -> dict[str, Any]:
    """What a first-come grant's idempotency key stands for (and its audit link says)."""
    return {
        "pool_id": pool_id,
        "firm_uscc": firm_uscc,
        "amount": amount,
        "application_id": application_id,
        "contracts": sorted(contracts),
        "tranches": tranche_body(tranches),
    }


def tranche_body(tranches: Sequence[TranchePlan] | None) -> list[list[Any]]:
    """Tranches as an idempotency body holds them."""
    return [[t.amount, t.milestone, t.due] for t in tranches] if tranches else []


# --- recovery schedules ----------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def split_schedule(total: Decimal, installments: int, first_due: dt.date) -> list[tuple[Decimal, dt.date]]:
    """Equal monthly installments exact to the fen; the odd fen go to the first installments."""
    if installments < 1:
        raise TranchePlanInvalid("a recovery schedule needs at least one installment")
    fen = int(total * 100)
    base, extra = divmod(fen, installments)
    return [
        (Decimal(base + (1 if i < extra else 0)) / 100, add_months(first_due, i))
        for i in range(installments)
        if base + (1 if i < extra else 0) > 0
    ]
