"""Money: pools (create, list, show, history), decisions, awards and their tranches, payments, missed
milestones, clawbacks, recoveries, reversals; the pool statement, the ledger's verification, and what the
dashboard's charts draw.

Every use case that moves money runs through ``run_once`` under the caller's idempotency key: the same key
gets the same answer (``replayed`` true), a retry never moves money twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.app.idempotency import run_once
from huiqi.app.jsonable import as_json, from_json
from huiqi.app.store import Store
from huiqi.applications.models import Application
from huiqi.ledger import service as ledger
from huiqi.ledger.errors import LedgerError
from huiqi.ledger.models import AccountKind, Award, LedgerTransaction, Pool, Posting, Tranche
from huiqi.ledger.verify import fen_sum, pool_statement, to_yuan, verify_ledger
from huiqi.workflows import service as flows

#: The account kinds of a pool, in the order a statement lists them.
BALANCE_KINDS = ("available", "reserved", "payable", "paid", "recoverable")


# --- read models --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolView:
    """A pool: its size, what is still available, its period and the cap per firm."""

    id: str
    name: str
    size: Decimal
    available: Decimal
    period_start: dt.date
    period_end: dt.date
    per_firm_cap: Decimal | None

    @classmethod
    def of(cls, p: Pool) -> PoolView:
        """The view of a stored pool."""
        return cls(p.id, p.name, p.size, p.available, p.period_start, p.period_end, p.per_firm_cap)


@dataclass(frozen=True)
class FundedPool(PoolView):
    """A pool just created and funded (``replayed``: the answer to an earlier request with this key)."""

    replayed: bool = False


@dataclass(frozen=True)
class TrancheView:
    """One tranche of an award: paid when its milestone is met, by its due date."""

    seq: int
    amount: Decimal
    milestone: str
    due_date: dt.date
    status: str
    payment_txn_id: str | None

    @classmethod
    def of(cls, t: Tranche) -> TrancheView:
        """The view of a stored tranche."""
        return cls(t.seq, t.amount, t.milestone, t.due_date, t.status, t.payment_txn_id)


@dataclass(frozen=True)
class AwardSummary:
    """An award as lists show it: granted, paid, released, clawed back and recovered amounts."""

    id: str
    pool_id: str
    firm_uscc: str
    application_id: str | None
    amount: Decimal
    paid: Decimal
    released: Decimal
    clawed: Decimal
    recovered: Decimal
    status: str
    granted_at: dt.datetime

    @classmethod
    def of(cls, a: Award) -> AwardSummary:
        """The summary of a stored award."""
        return cls(
            a.id,
            a.pool_id,
            a.firm_uscc,
            a.application_id,
            a.amount,
            a.paid,
            a.released,
            a.clawed,
            a.recovered,
            a.status,
            a.granted_at,
        )


@dataclass(frozen=True)
class AwardView(AwardSummary):
    """An award with its tranches."""

    tranches: tuple[TrancheView, ...] = ()

    @classmethod
    def full(cls, s: Session, a: Award) -> AwardView:
        """The full view of a stored award, read in the session ``s``."""
        return cls(
            **vars_of(AwardSummary.of(a)),
            tranches=tuple(TrancheView.of(t) for t in ledger.tranches_of(session=s, award_id=a.id)),
        )


@dataclass(frozen=True)
class GrantedAward(AwardView):
    """An award just granted (``replayed``: the answer to an earlier request with this key)."""

    replayed: bool = False


@dataclass(frozen=True)
class AwardPage:
    """A page of awards and how many there are in all."""

    total: int
    items: tuple[AwardSummary, ...]


@dataclass(frozen=True)
class DecisionView:
    """What a decision did to one application: approved with the amount reserved, or waitlisted."""

    application_id: str
    state: str
    amount: Decimal | None


@dataclass(frozen=True)
class Decided(DecisionView):
    """One application decided (``replayed``: the answer to an earlier request with this key)."""

    replayed: bool = False


@dataclass(frozen=True)
class CallDecisions:
    """A whole call decided: each application's outcome."""

    call_id: str
    decisions: tuple[DecisionView, ...]
    replayed: bool = False


@dataclass(frozen=True)
class Payment:
    """A tranche paid: by which transaction, and the award's status after it."""

    award_id: str
    award_status: str
    transaction_id: str
    seq: int
    replayed: bool = False


@dataclass(frozen=True)
class InstallmentView:
    """One installment of money to recover from a firm."""

    seq: int
    amount: Decimal
    due_date: dt.date


@dataclass(frozen=True)
class Clawback:
    """An award (or its missed tranche) clawed back: what went back to the pool, what the firm owes and
    when, and the waitlisted applications approved with the released money."""

    released: Decimal
    recoverable: Decimal
    schedule: tuple[InstallmentView, ...]
    promoted: tuple[DecisionView, ...]
    replayed: bool = False


@dataclass(frozen=True)
class Recovery:
    """Money received back from a firm."""

    transaction_id: str
    amount: Decimal
    replayed: bool = False


@dataclass(frozen=True)
class Reversal:
    """A returned payment reversed; its tranche is payable again."""

    transaction_id: str
    reverses: str
    replayed: bool = False


@dataclass(frozen=True)
class StatementLine:
    """One transaction of a pool with its effect on what is available."""

    id: str
    at: dt.datetime
    kind: str
    effect_on_available: Decimal
    actor: str
    memo: str


@dataclass(frozen=True)
class PoolStatement:
    """A pool's balances by account kind and its latest transactions."""

    pool: PoolView
    balances: dict[str, Decimal]
    transactions: tuple[StatementLine, ...]


@dataclass(frozen=True)
class HistoryLine(StatementLine):
    """A transaction of a pool with what was available after it."""

    available: Decimal = Decimal(0)


@dataclass(frozen=True)
class PoolHistory:
    """Every transaction of a pool from its funding on, oldest first, with the running available balance
    (the burn-down)."""

    pool: PoolView
    total: int
    items: tuple[HistoryLine, ...]


@dataclass(frozen=True)
class LedgerCheck:
    """The ledger's invariants checked: balanced, no pool below zero, awards + available = size, nothing
    paid twice, balances equal postings."""

    ok: bool
    transactions: int
    pools: int
    problems: tuple[str, ...]


def vars_of(view: Any) -> dict[str, Any]:
    """A read model's fields by name (to build a larger view from a smaller one)."""
    return {name: getattr(view, name) for name in view.__dataclass_fields__}


def _decision(d: flows.Decision) -> DecisionView:
    return DecisionView(d.application_id, d.state, d.amount)


def _once(store: Store, cls: type[Any], key: str, operation: str, body: dict[str, Any], work: Any) -> Any:
    """``work(session, ledger_key)`` returns a read model; run it once per key, answer as ``cls``."""
    return from_json(
        cls, run_once(store, key=key, operation=operation, body=body, work=lambda s, k: as_json(work(s, k)))
    )


# --- pools --------------------------------------------------------------------------------------------------


def create_pool(
    store: Store,
    *,
    pool_id: str,
    name: str,
    size: Decimal,
    period_start: dt.date,
    period_end: dt.date,
    per_firm_cap: Decimal | None,
    key: str,
    actor: str,
) -> FundedPool:
    """Create a pool and fund it from the appropriation, once per key."""
    body = {
        "id": pool_id,
        "name": name,
        "size": str(size),
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "per_firm_cap": None if per_firm_cap is None else str(per_firm_cap),
    }

    def work(s: Session, lk: str) -> FundedPool:
        pool = ledger.create_pool(
            session=s,
            pool_id=pool_id,
            name=name,
            size=size,
            period_start=period_start,
            period_end=period_end,
            per_firm_cap=per_firm_cap,
            actor=actor,
            idempotency_key=lk,
        )
        return FundedPool(**vars_of(PoolView.of(pool)))

    result: FundedPool = _once(store, FundedPool, key, "api.pool", body, work)
    return result


def list_pools(store: Store) -> list[PoolView]:
    """Every pool with its size and what is still available."""
    return store.read(lambda s: [PoolView.of(p) for p in ledger.list_pools(session=s)])


def get_pool(store: Store, *, pool_id: str) -> PoolView:
    """One pool: size, available money, period and cap."""
    return store.read(lambda s: PoolView.of(ledger.get_pool(session=s, pool_id=pool_id)))


def _history(s: Session, pool: Pool, limit: int | None, offset: int) -> PoolHistory:
    available = ledger.account_id(pool.id, AccountKind.AVAILABLE)
    rows = s.execute(
        select(LedgerTransaction, fen_sum(Posting.amount))
        .outerjoin(
            Posting, (Posting.transaction_id == LedgerTransaction.id) & (Posting.account_id == available)
        )
        .where(LedgerTransaction.pool_id == pool.id)
        .group_by(LedgerTransaction.id)
        .order_by(LedgerTransaction.at, LedgerTransaction.id)
    ).all()
    lines: list[HistoryLine] = []
    running = Decimal(0)
    for txn, delta in rows:
        change = to_yuan(delta)
        running += change
        lines.append(HistoryLine(txn.id, txn.at, txn.kind, change, txn.actor, txn.memo, running))
    chosen = lines[offset:] if limit is None else lines[offset : offset + limit]
    return PoolHistory(PoolView.of(pool), len(lines), tuple(chosen))


def pool_history(store: Store, *, pool_id: str, limit: int | None = None, offset: int = 0) -> PoolHistory:
    """A pool's transactions from its funding on, with the running available balance, for auditors."""
    return store.read(lambda s: _history(s, ledger.get_pool(session=s, pool_id=pool_id), limit, offset))


def statement(store: Store, *, pool_id: str, limit: int = 50) -> PoolStatement:
    """A pool's balances by account kind and its latest transactions with their effect on what is
    available."""

    def work(s: Session) -> PoolStatement:
        st = pool_statement(session=s, pool_id=pool_id, limit=limit)
        return PoolStatement(
            PoolView.of(st.pool),
            dict(st.balances),
            tuple(StatementLine(t.id, t.at, t.kind, d, t.actor, t.memo) for t, d in st.transactions),
        )

    return store.read(work)


def check_ledger(store: Store) -> LedgerCheck:
    """Check every invariant of the ledger (auditors, and the CLI's exit code)."""
    report = store.read(lambda s: verify_ledger(session=s))
    return LedgerCheck(report.ok, report.transactions, report.pools, tuple(str(p) for p in report.problems))


# --- decisions and awards -----------------------------------------------------------------------------------


def decide(store: Store, *, application_id: str, key: str, actor: str) -> Decided:
    """First come, first served: approve and reserve the money, or waitlist when the pool is short."""

    def work(s: Session, _k: str) -> Decided:
        d = flows.decide(session=s, application_id=application_id, actor=actor)
        return Decided(d.application_id, d.state, d.amount)

    result: Decided = _once(store, Decided, key, "api.decide", {"application": application_id}, work)
    return result


def decide_call(store: Store, *, call_id: str, key: str, actor: str) -> CallDecisions:
    """Allocate a whole call (ranked or pro rata; first-come calls one by one in arrival order)."""

    def work(s: Session, _k: str) -> CallDecisions:
        decisions = flows.decide_call(session=s, call_id=call_id, actor=actor)
        return CallDecisions(call_id, tuple(_decision(d) for d in decisions))

    result: CallDecisions = _once(store, CallDecisions, key, "api.decide_call", {"call": call_id}, work)
    return result


def grant(
    store: Store,
    *,
    application_id: str,
    tranches: Sequence[tuple[Decimal, dt.date, str]] | None,
    key: str,
    actor: str,
) -> GrantedAward:
    """approved -> awarded: the reservation becomes an award, paid in tranches (amount, due, milestone;
    default: one tranche, the whole amount)."""
    plan = [ledger.TranchePlan(amount, milestone, due) for amount, due, milestone in tranches or ()]
    body = {
        "application": application_id,
        "tranches": [
            {"amount": str(amount), "due": due.isoformat(), "milestone": milestone}
            for amount, due, milestone in tranches or ()
        ],
    }

    def work(s: Session, _k: str) -> GrantedAward:
        award = flows.grant(session=s, application_id=application_id, actor=actor, tranches=plan or None)
        return GrantedAward(**vars_of(AwardView.full(s, award)))

    result: GrantedAward = _once(store, GrantedAward, key, "api.grant", body, work)
    return result


def pay_tranche(
    store: Store, *, application_id: str, seq: int, reference: str, key: str, actor: str
) -> Payment:
    """Pay one tranche whose milestone is met; the application becomes paying, then completed."""

    def work(s: Session, lk: str) -> Payment:
        award, txn = flows.pay(
            session=s,
            application_id=application_id,
            seq=seq,
            actor=actor,
            idempotency_key=lk,
            reference=reference,
        )
        return Payment(award.id, award.status, txn.id, seq)

    body = {"application": application_id, "seq": seq, "reference": reference}
    result: Payment = _once(store, Payment, key, "api.pay", body, work)
    return result


def _clawback(result: ledger.ClawbackResult, promoted: list[flows.Decision]) -> Clawback:
    return Clawback(
        result.released,
        result.recoverable,
        tuple(InstallmentView(i.seq, i.amount, i.due_date) for i in result.schedule),
        tuple(_decision(d) for d in promoted),
    )


def miss_milestone(
    store: Store,
    *,
    application_id: str,
    seq: int,
    reason: str,
    key: str,
    actor: str,
    as_of: dt.date | None = None,
    installments: int = 1,
) -> Clawback:
    """A milestone was missed: the unpaid part goes back to the pool (and on to the waitlist), the paid
    part becomes recoverable in monthly installments."""
    day = as_of or dt.date.today()

    def work(s: Session, lk: str) -> Clawback:
        return _clawback(
            *flows.miss_milestone(
                session=s,
                application_id=application_id,
                seq=seq,
                as_of=day,
                actor=actor,
                reason=reason,
                idempotency_key=lk,
                installments=installments,
            )
        )

    body = {
        "application": application_id,
        "seq": seq,
        "reason": reason,
        "as_of": None if as_of is None else as_of.isoformat(),
        "installments": installments,
    }
    result: Clawback = _once(store, Clawback, key, "api.miss", body, work)
    return result


def clawback(
    store: Store,
    *,
    application_id: str,
    reason: str,
    first_due: dt.date,
    key: str,
    actor: str,
    installments: int = 1,
) -> Clawback:
    """Claw an award back for a broken commitment: unpaid money to the pool, paid money recoverable."""

    def work(s: Session, lk: str) -> Clawback:
        return _clawback(
            *flows.clawback(
                session=s,
                application_id=application_id,
                actor=actor,
                reason=reason,
                idempotency_key=lk,
                first_due=first_due,
                installments=installments,
            )
        )

    body = {
        "application": application_id,
        "reason": reason,
        "first_due": first_due.isoformat(),
        "installments": installments,
    }
    result: Clawback = _once(store, Clawback, key, "api.clawback", body, work)
    return result


def recover(
    store: Store, *, application_id: str, amount: Decimal, reference: str, key: str, actor: str
) -> Recovery:
    """Record money received back from the firm; it returns to the pool."""

    def work(s: Session, lk: str) -> Recovery:
        award = flows.award_of(session=s, application_id=application_id)
        txn = ledger.record_recovery(
            session=s, award_id=award.id, amount=amount, actor=actor, idempotency_key=lk, reference=reference
        )
        return Recovery(txn.id, amount)

    body = {"application": application_id, "amount": str(amount), "reference": reference}
    result: Recovery = _once(store, Recovery, key, "api.recover", body, work)
    return result


def reverse_payment(store: Store, *, transaction_id: str, reason: str, key: str, actor: str) -> Reversal:
    """A payment came back from the bank: a reversing entry, and the tranche is payable again."""

    def work(s: Session, lk: str) -> Reversal:
        txn = ledger.reverse_payment(
            session=s, transaction_id=transaction_id, actor=actor, reason=reason, idempotency_key=lk
        )
        return Reversal(txn.id, transaction_id)

    body = {"txn": transaction_id, "reason": reason}
    result: Reversal = _once(store, Reversal, key, "api.reverse", body, work)
    return result


def list_awards(
    store: Store,
    *,
    pool_id: str | None = None,
    firm_uscc: str | None = None,
    application_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AwardPage:
    """Awards, newest first, of one pool, one firm or one application."""

    def work(s: Session) -> AwardPage:
        q = select(Award)
        if application_id is not None:
            q = q.where(Award.application_id == application_id)
        if firm_uscc is not None:
            q = q.where(Award.firm_uscc == firm_uscc)
        if pool_id:
            q = q.where(Award.pool_id == pool_id)
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = s.scalars(q.order_by(Award.granted_at.desc(), Award.id).offset(offset).limit(limit))
        return AwardPage(total, tuple(AwardSummary.of(a) for a in rows))

    return store.read(work)


def get_award(store: Store, *, award_id: str) -> AwardView:
    """One award with its tranches."""
    return store.read(lambda s: AwardView.full(s, ledger.get_award(session=s, award_id=award_id)))


#: The fields of a firm's snapshot that awards can be summed by.
AWARD_FIELDS = ("sector", "district")


def awards_by(store: Store, *, field: str) -> list[tuple[str, Decimal]]:
    """Awarded amounts (net of what was released or clawed back) by a field of the firm's snapshot
    (``sector``, ``district``), largest first."""
    if field not in AWARD_FIELDS:
        raise LedgerError(f"field: awards are summed by {' or '.join(AWARD_FIELDS)}, not {field!r}")

    def work(s: Session) -> list[tuple[str, Decimal]]:
        sums: dict[str, Decimal] = defaultdict(Decimal)
        rows = s.execute(
            select(Award, Application.firm_snapshot).join(Application, Application.id == Award.application_id)
        )
        for award, snapshot in rows:
            sums[str((snapshot or {}).get(field) or "—")] += award.amount - award.released - award.clawed
        return sorted(sums.items(), key=lambda kv: -kv[1])

    return store.read(work)
