"""Money: pools (create, list, show, history), decisions, awards and their tranches, payments, missed
milestones, clawbacks, recoveries, reversals; the pool statement, the ledger's verification, and what the
dashboard's charts draw.

Every use case that moves money runs through ``run_once`` under the caller's idempotency key: the same key
gets the same answer (``replayed`` true), a retry never moves money twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.app import selection
from huiqi.app.holding import HeldPage as HeldPage
from huiqi.app.holding import HeldView as HeldView
from huiqi.app.holding import MoveSummary as MoveSummary
from huiqi.app.holding import held_in, held_view, limit_of
from huiqi.app.idempotency import run_once
from huiqi.app.jsonable import as_json, from_json
from huiqi.app.programmes import today as today_in_shanghai
from huiqi.app.store import Store
from huiqi.applications.errors import ApplicationNotFound, CallNotFound
from huiqi.applications.models import Application, Call
from huiqi.ledger import pool_programmes
from huiqi.ledger import service as ledger
from huiqi.ledger.errors import LedgerError, TransactionNotFound
from huiqi.ledger.models import (
    AccountKind,
    Award,
    LedgerTransaction,
    Pool,
    Posting,
    Reservation,
    Tranche,
)
from huiqi.ledger.verify import fen_sum, pool_statement, to_yuan, verify_ledger
from huiqi.rules.programme import Programme
from huiqi.workflows import approvals, payable
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
    #: The programme the pool was created for (when the programme's file declares no pool of its own).
    programme_id: str | None = None

    @classmethod
    def of(cls, p: Pool) -> PoolView:
        """The view of a stored pool."""
        return cls(p.id, p.name, p.size, p.available, p.period_start, p.period_end, p.per_firm_cap)

    @classmethod
    def linked(cls, s: Session, p: Pool) -> PoolView:
        """The view of a stored pool with the programme it was created for, read in the session ``s``."""
        return cls(
            **{**vars_of(cls.of(p)), "programme_id": pool_programmes.programme_of(session=s, pool_id=p.id)}
        )


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
    programme_id: str | None = None,
) -> FundedPool:
    """Create a pool and fund it from the appropriation, once per key (``programme_id``: the programme it
    funds, for a programme whose file declares no pool; calls of other programmes may not draw on it)."""
    body: dict[str, Any] = {
        "id": pool_id,
        "name": name,
        "size": str(size),
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "per_firm_cap": None if per_firm_cap is None else str(per_firm_cap),
    }
    if programme_id:
        body["programme_id"] = programme_id

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
        if programme_id:
            pool_programmes.link(session=s, pool_id=pool_id, programme_id=programme_id, actor=actor)
        return FundedPool(**vars_of(PoolView.linked(s, pool)))

    out = run_once(store, key=key, operation="api.pool", body=body, work=lambda s, k: as_json(work(s, k)))
    return from_json(FundedPool, out)


def list_pools(store: Store) -> list[PoolView]:
    """Every pool with its size and what is still available."""
    return store.read(lambda s: [PoolView.linked(s, p) for p in ledger.list_pools(session=s)])


def get_pool(store: Store, *, pool_id: str) -> PoolView:
    """One pool: size, available money, period and cap."""
    return store.read(lambda s: PoolView.linked(s, ledger.get_pool(session=s, pool_id=pool_id)))


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


# --- money moves: what each does, its scope, its preview, and the second approval ---------------------------


@dataclass(frozen=True)
class MoveScope:
    """What a money move acts on, read before it runs: the application, the pool and the amount it moves
    (for a decision, the amount asked: what it can reserve at most)."""

    application_id: str | None
    pool_id: str
    amount: Decimal
    tranche: TrancheView | None = None


@dataclass(frozen=True)
class Move:
    """One money move as data: its operation, the request body its idempotency key is bound to, and how to
    do it and what it acts on. Built by ``decide_move``, ``grant_move``, ...; run by the use cases, shown
    first by ``preview``, held for a second officer and done on approval from the same data."""

    operation: str
    body: dict[str, Any]


#: The operations a summary names, as the pages and the CLI print them.
OPERATIONS = {
    "api.decide": "approve and reserve",
    "api.decide_call": "decide a call",
    "api.grant": "grant",
    "api.pay": "pay a tranche",
    "api.miss": "milestone missed",
    "api.clawback": "claw back",
    "api.recover": "record money recovered",
    "api.reverse": "reverse a payment",
    selection.SELECT: "select and award",
    selection.END: "end a designation and promote",
}


def _tranche_view(s: Session, application_id: str, seq: int) -> TrancheView:
    return TrancheView.of(payable.tranche_of(session=s, application_id=application_id, seq=seq)[1])


def _award_scope(s: Session, application_id: str) -> MoveScope:
    award = flows.award_of(session=s, application_id=application_id)
    return MoveScope(application_id, award.pool_id, award.amount - award.released - award.clawed)


def _scope(s: Session, move: Move) -> MoveScope:
    b = move.body
    op = move.operation
    if op == "api.decide_call":
        call = s.get(Call, b["call"])
        if call is None:
            raise CallNotFound(str(b["call"]))
        asked = s.scalar(
            select(func.coalesce(func.sum(Application.requested), 0)).where(
                Application.call_id == call.id, Application.state == "under_review"
            )
        )
        return MoveScope(None, call.pool_id, Decimal(asked or 0))
    if op == "api.reverse":
        txn = s.get(LedgerTransaction, b["txn"])
        tranche = None if txn is None or txn.tranche_id is None else s.get(Tranche, txn.tranche_id)
        award = None if txn is None or txn.award_id is None else s.get(Award, txn.award_id)
        if txn is None:
            raise TransactionNotFound(str(b["txn"]))
        if tranche is None or award is None:  # not a payment: the ledger names why it cannot be reversed
            return MoveScope(None, txn.pool_id, Decimal(0))
        return MoveScope(award.application_id, txn.pool_id, tranche.amount, TrancheView.of(tranche))
    application_id = str(b["application"])
    if op == "api.decide":
        app = s.get(Application, application_id)
        if app is None:
            raise ApplicationNotFound(application_id)
        call = s.get(Call, app.call_id)
        return MoveScope(application_id, call.pool_id if call else "", app.requested)
    if op == "api.grant":
        app = s.get(Application, application_id)
        if app is None:
            raise ApplicationNotFound(application_id)
        held = s.scalar(
            select(Reservation).where(
                Reservation.application_id == application_id, Reservation.status == "pending"
            )
        )
        call = s.get(Call, app.call_id)
        pool_id = held.pool_id if held else (call.pool_id if call else "")
        return MoveScope(application_id, pool_id, held.amount if held else Decimal(0))
    if op == "api.pay":
        award, tranche = payable.tranche_of(session=s, application_id=application_id, seq=int(b["seq"]))
        return MoveScope(application_id, award.pool_id, tranche.amount, TrancheView.of(tranche))
    if op == "api.recover":
        award = flows.award_of(session=s, application_id=application_id)
        return MoveScope(application_id, award.pool_id, Decimal(str(b["amount"])))
    scope = _award_scope(s, application_id)  # api.miss, api.clawback: what the award still holds
    if op == "api.miss":
        return MoveScope(
            scope.application_id, scope.pool_id, scope.amount, _tranche_view(s, application_id, int(b["seq"]))
        )
    return scope


def _do(s: Session, move: Move, lk: str, actor: str) -> Any:
    """Do the move in session ``s`` (committed by the caller, or rolled back for a preview)."""
    b = move.body
    op = move.operation
    if op == "api.decide":
        d = flows.decide(session=s, application_id=b["application"], actor=actor)
        return Decided(d.application_id, d.state, d.amount)
    if op == "api.decide_call":
        decisions = flows.decide_call(session=s, call_id=b["call"], actor=actor)
        return CallDecisions(b["call"], tuple(_decision(d) for d in decisions))
    if op == "api.grant":
        plan = [
            ledger.TranchePlan(Decimal(t["amount"]), t["milestone"], dt.date.fromisoformat(t["due"]))
            for t in b["tranches"]
        ]
        award = flows.grant(session=s, application_id=b["application"], actor=actor, tranches=plan or None)
        return GrantedAward(**vars_of(AwardView.full(s, award)))
    if op == "api.pay":
        payable.check_payable(
            session=s,
            application_id=b["application"],
            seq=int(b["seq"]),
            evidence=b.get("evidence"),
            on=today_in_shanghai(),
        )
        memo = b["reference"] + (f" (evidence {b['evidence']})" if b.get("evidence") else "")
        award, txn = flows.pay(
            session=s,
            application_id=b["application"],
            seq=int(b["seq"]),
            actor=actor,
            idempotency_key=lk,
            reference=memo,
        )
        return Payment(award.id, award.status, txn.id, int(b["seq"]))
    if op == "api.miss":
        return _clawback(
            *flows.miss_milestone(
                session=s,
                application_id=b["application"],
                seq=int(b["seq"]),
                as_of=dt.date.fromisoformat(b["as_of"]) if b["as_of"] else today_in_shanghai(),
                actor=actor,
                reason=b["reason"],
                idempotency_key=lk,
                installments=int(b["installments"]),
            )
        )
    if op == "api.clawback":
        return _clawback(
            *flows.clawback(
                session=s,
                application_id=b["application"],
                actor=actor,
                reason=b["reason"],
                idempotency_key=lk,
                first_due=dt.date.fromisoformat(b["first_due"]),
                installments=int(b["installments"]),
            )
        )
    if op == "api.recover":
        award = flows.award_of(session=s, application_id=b["application"])
        amount = Decimal(b["amount"])
        txn = ledger.record_recovery(
            session=s,
            award_id=award.id,
            amount=amount,
            actor=actor,
            idempotency_key=lk,
            reference=b["reference"],
        )
        return Recovery(txn.id, amount)
    txn = ledger.reverse_payment(
        session=s, transaction_id=b["txn"], actor=actor, reason=b["reason"], idempotency_key=lk
    )
    return Reversal(txn.id, b["txn"])


#: The read model each operation answers.
_ANSWERS: dict[str, type[Any]] = {
    "api.decide": Decided,
    "api.decide_call": CallDecisions,
    "api.grant": GrantedAward,
    "api.pay": Payment,
    "api.miss": Clawback,
    "api.clawback": Clawback,
    "api.recover": Recovery,
    "api.reverse": Reversal,
}


def _available(s: Session, pool_id: str) -> Decimal:
    value = s.scalar(select(Pool.available).where(Pool.id == pool_id))
    return Decimal(0) if value is None else Decimal(value)


def _outcome(answer: Any) -> str:
    if isinstance(answer, DecisionView):
        return answer.state
    if isinstance(answer, CallDecisions):
        approved = sum(1 for d in answer.decisions if d.state == "approved")
        return f"{approved} approved, {len(answer.decisions) - approved} waitlisted"
    if isinstance(answer, GrantedAward):
        return "awarded"
    if isinstance(answer, Payment):
        return "paid"
    if isinstance(answer, Clawback):
        return "clawed_back"
    if isinstance(answer, Recovery):
        return "recovered"
    return "reversed"


def summarised(s: Session, move: Move, actor: str, above: Decimal) -> MoveSummary:
    """The move done in session ``s`` and summed up (the caller rolls it back: a preview)."""
    scope = _scope(s, move)
    pool = ledger.get_pool(session=s, pool_id=scope.pool_id)
    before = _available(s, pool.id)
    app = None if scope.application_id is None else s.get(Application, scope.application_id)
    answer = _do(s, move, f"preview:{move.operation}", actor)
    s.flush()
    amount = scope.amount
    if isinstance(answer, Decided):
        amount = answer.amount or Decimal(0)
    elif isinstance(answer, CallDecisions):
        amount = sum((d.amount or Decimal(0) for d in answer.decisions), Decimal(0))
    t = scope.tranche
    return MoveSummary(
        move.operation,
        scope.application_id,
        None if app is None else app.firm_uscc,
        None if app is None else (app.firm_snapshot or {}).get("name_zh"),
        pool.id,
        pool.name,
        amount,
        before,
        _available(s, pool.id),
        None if t is None else t.seq,
        None if t is None else t.due_date,
        None if t is None else t.milestone,
        _outcome(answer),
        scope.amount > above,
        above,
    )


def preview(store: Store, *, move: Move, actor: str, above: Decimal | None = None) -> MoveSummary:
    """What a money move would do (firm, amount, pool, what remains, tranche), worked out and rolled back,
    so the officer confirms it before any money moves; refused as the move itself would be."""
    limit = limit_of(above)
    return store.read(lambda s: summarised(s, move, actor, limit))


class _Hold(Exception):
    """Internal: the move is above the limit and must be held (its transaction rolls back)."""


def _answer(move: Move, out: dict[str, Any], store: Store) -> Any:
    held = held_view(store, out)
    return from_json(_ANSWERS[move.operation], out) if held is None else held


def _run_move(store: Store, *, move: Move, key: str, actor: str, above: Decimal | None = None) -> Any:
    """Do a money move once per key; above the limit it is held for a second officer instead (the answer is
    then a ``HeldView``, and the same key replays it)."""
    limit = limit_of(above)

    def direct(s: Session, lk: str) -> dict[str, Any]:
        if _scope(s, move).amount > limit:
            raise _Hold()
        return dict(as_json(_do(s, move, lk, actor)))

    try:
        out = run_once(store, key=key, operation=move.operation, body=move.body, work=direct)
    except _Hold:
        summary = preview(store, move=move, actor=actor, above=limit)

        def hold(s: Session, lk: str) -> dict[str, Any]:
            scope = _scope(s, move)
            if scope.amount <= limit:  # it changed meanwhile: no longer above the limit
                return dict(as_json(_do(s, move, lk, actor)))
            return held_in(s, params=move.body, key=key, amount=scope.amount, summary=summary, actor=actor)

        out = run_once(store, key=key, operation=move.operation, body=move.body, work=hold)
    return _answer(move, out, store)


# --- the moves ----------------------------------------------------------------------------------------------


def decide_move(*, application_id: str) -> Move:
    """First come, first served: approve and reserve the money, or waitlist when the pool is short."""
    return Move("api.decide", {"application": application_id})


def decide_call_move(*, call_id: str) -> Move:
    """Allocate a whole call (ranked or pro rata; first-come calls one by one in arrival order)."""
    return Move("api.decide_call", {"call": call_id})


def grant_move(*, application_id: str, tranches: Sequence[tuple[Decimal, dt.date, str]] | None) -> Move:
    """approved -> awarded, paid in tranches (amount, due, milestone; default one tranche, the whole)."""
    return Move(
        "api.grant",
        {
            "application": application_id,
            "tranches": [
                {"amount": str(amount), "due": due.isoformat(), "milestone": milestone}
                for amount, due, milestone in tranches or ()
            ],
        },
    )


def pay_move(*, application_id: str, seq: int, reference: str, evidence: str | None = None) -> Move:
    """Pay one tranche whose milestone is met (shown by ``evidence``, a file of the application, unless it
    is the grant's own)."""
    body: dict[str, Any] = {"application": application_id, "seq": seq, "reference": reference}
    if evidence:
        body["evidence"] = evidence
    return Move("api.pay", body)


def miss_move(
    *, application_id: str, seq: int, reason: str, as_of: dt.date | None = None, installments: int = 1
) -> Move:
    """A milestone was missed: the unpaid part back to the pool, the paid part recoverable."""
    return Move(
        "api.miss",
        {
            "application": application_id,
            "seq": seq,
            "reason": reason,
            "as_of": None if as_of is None else as_of.isoformat(),
            "installments": installments,
        },
    )


def clawback_move(*, application_id: str, reason: str, first_due: dt.date, installments: int = 1) -> Move:
    """Claw an award back for a broken commitment."""
    return Move(
        "api.clawback",
        {
            "application": application_id,
            "reason": reason,
            "first_due": first_due.isoformat(),
            "installments": installments,
        },
    )


def recover_move(*, application_id: str, amount: Decimal, reference: str) -> Move:
    """Money received back from the firm."""
    return Move("api.recover", {"application": application_id, "amount": str(amount), "reference": reference})


def reverse_move(*, transaction_id: str, reason: str) -> Move:
    """A payment that came back from the bank."""
    return Move("api.reverse", {"txn": transaction_id, "reason": reason})


# --- decisions and awards -----------------------------------------------------------------------------------


def decide(
    store: Store, *, application_id: str, key: str, actor: str, above: Decimal | None = None
) -> Decided | HeldView:
    """First come, first served: approve and reserve the money, or waitlist when the pool is short."""
    move = decide_move(application_id=application_id)
    result: Decided | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
    return result


def decide_call(
    store: Store, *, call_id: str, key: str, actor: str, above: Decimal | None = None
) -> CallDecisions | HeldView:
    """Allocate a whole call (ranked or pro rata; first-come calls one by one in arrival order)."""
    move = decide_call_move(call_id=call_id)
    result: CallDecisions | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
    return result


def grant(
    store: Store,
    *,
    application_id: str,
    tranches: Sequence[tuple[Decimal, dt.date, str]] | None,
    key: str,
    actor: str,
    above: Decimal | None = None,
) -> GrantedAward | HeldView:
    """approved -> awarded: the reservation becomes an award, paid in tranches (amount, due, milestone;
    default: one tranche, the whole amount)."""
    move = grant_move(application_id=application_id, tranches=tranches)
    result: GrantedAward | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
    return result


def pay_tranche(
    store: Store,
    *,
    application_id: str,
    seq: int,
    reference: str,
    key: str,
    actor: str,
    evidence: str | None = None,
    above: Decimal | None = None,
) -> Payment | HeldView:
    """Pay one tranche whose milestone is met (and shown by evidence, unless it is the grant's own); the
    application becomes paying, then completed."""
    move = pay_move(application_id=application_id, seq=seq, reference=reference, evidence=evidence)
    result: Payment | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
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
    above: Decimal | None = None,
) -> Clawback | HeldView:
    """A milestone was missed: the unpaid part goes back to the pool (and on to the waitlist), the paid
    part becomes recoverable in monthly installments."""
    move = miss_move(
        application_id=application_id, seq=seq, reason=reason, as_of=as_of, installments=installments
    )
    result: Clawback | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
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
    above: Decimal | None = None,
) -> Clawback | HeldView:
    """Claw an award back for a broken commitment: unpaid money to the pool, paid money recoverable."""
    move = clawback_move(
        application_id=application_id, reason=reason, first_due=first_due, installments=installments
    )
    result: Clawback | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
    return result


def recover(
    store: Store,
    *,
    application_id: str,
    amount: Decimal,
    reference: str,
    key: str,
    actor: str,
    above: Decimal | None = None,
) -> Recovery | HeldView:
    """Record money received back from the firm; it returns to the pool."""
    move = recover_move(application_id=application_id, amount=amount, reference=reference)
    result: Recovery | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
    return result


def reverse_payment(
    store: Store, *, transaction_id: str, reason: str, key: str, actor: str, above: Decimal | None = None
) -> Reversal | HeldView:
    """A payment came back from the bank: a reversing entry, and the tranche is payable again."""
    move = reverse_move(transaction_id=transaction_id, reason=reason)
    result: Reversal | HeldView = _run_move(store, move=move, key=key, actor=actor, above=above)
    return result


# --- the second officer -------------------------------------------------------------------------------------


def list_approvals(
    store: Store,
    *,
    status: str | None = "awaiting",
    limit: int = 50,
    offset: int = 0,
    application_id: str | None = None,
) -> HeldPage:
    """Money moves held for a second officer (待复核), oldest first; with ``application_id``, those that act
    on that application (its own moves, and the selection of its call), for its page."""

    def work(s: Session) -> HeldPage:
        app = None if application_id is None else s.get(Application, application_id)
        call_id = None if app is None else app.call_id  # an unknown application has no moves
        total, rows = approvals.listed(
            session=s,
            status=status,
            limit=limit,
            offset=offset,
            application_id=application_id,
            call_id=call_id,
        )
        return HeldPage(total, tuple(HeldView.of(h) for h in rows))

    return store.read(work)


def get_approval(store: Store, *, approval_id: str) -> HeldView:
    """One held money move with the summary its maker confirmed."""
    return store.read(lambda s: HeldView.of(approvals.get(session=s, approval_id=approval_id)))


def approve_move(
    store: Store,
    *,
    approval_id: str,
    key: str,
    actor: str,
    programmes: Mapping[str, Programme] | None = None,
) -> HeldView:
    """A second officer (never the maker) approves a held money move: it is done now, once, under the
    maker's request (a second approval, even at the same moment, is refused); a selection's move is done
    with ``programmes``, the ones the site serves."""

    def work(s: Session, _lk: str) -> dict[str, Any]:
        held = approvals.decide(session=s, approval_id=approval_id, approve=True, reason="", actor=actor)
        if held.operation in selection.HELD_OPERATIONS:
            answer = selection.done_on_approval(
                s, held.operation, dict(held.params), actor=held.requested_by, programmes=programmes
            )
        else:
            move = Move(held.operation, dict(held.params))
            answer = dict(as_json(_do(s, move, f"{held.request_key}:{held.operation}", held.requested_by)))
        approvals.settle(session=s, held=held, result=answer)
        return dict(as_json(HeldView.of(held)))

    out = run_once(store, key=key, operation="approval.approve", body={"approval": approval_id}, work=work)
    return from_json(HeldView, out)


def reject_move(store: Store, *, approval_id: str, reason: str, actor: str) -> HeldView:
    """A second officer (never the maker) rejects a held money move with a reason; nothing moves."""
    return store.write(
        lambda s: HeldView.of(
            approvals.decide(session=s, approval_id=approval_id, approve=False, reason=reason, actor=actor)
        )
    )


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
