"""Money-moving operations. Each one is a single balanced transaction, carries an idempotency key, flushes
and never commits (the caller owns the transaction, and retries it with ``run_in_transaction``).

Each operation is one ``ledger.keyed.keyed`` call: replay (a key seen before answers as it did) -> its
work: checks, the plan (``ledger.plan``: amounts, tranches, and the postings of its kind of transaction
from the one table ``plan.POSTINGS``), the writer (``ledger.write`` on any database, ``ledger.pg_write``
for first-come awards on PostgreSQL, both SQLAlchemy Core over the models' tables) -> remember the key's
answer -> the pool's conditional UPDATE last -> the audit link, queued and chained at COMMIT
(``huiqi.audit.chain``). The operations differ only in their work and in what it reports (``keyed.Done``).

Concurrency: the only hot row is the pool. Every operation that takes money out of a pool does so with one
conditional UPDATE (``available = available - x WHERE available >= x``) issued *after* its inserts, so the
row lock is held only for the last few statements before COMMIT. Under READ COMMITTED PostgreSQL re-checks
the condition on the newest row version after waiting for the lock; SQLite transactions start with
BEGIN IMMEDIATE, so writers are serialized outright.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.ledger import pg_write
from huiqi.ledger.errors import (
    AwardNotActive,
    ContractAlreadyClaimed,
    LedgerError,
    MilestoneNotDue,
    NotReversible,
    PoolExists,
    RecoveryTooLarge,
    ReservationNotFound,
    ReservationNotPending,
    TrancheAlreadyPaid,
    TrancheNotFound,
    TrancheNotPending,
    TranchePlanInvalid,
    TransactionNotFound,
)
from huiqi.ledger.keyed import Done, keyed
from huiqi.ledger.models import (
    Award,
    ContractClaim,
    LedgerTransaction,
    Pool,
    Posting,
    RecoveryInstallment,
    Reservation,
    Tranche,
)
from huiqi.ledger.plan import (
    POOL_ACCOUNTS,
    AwardRequest,
    AwardStatus,
    Move,
    ReservationStatus,
    TranchePlan,
    TrancheStatus,
    TxnKind,
    account_id,
    award_body,
    distinct_contracts,
    legs,
    pool_change,
    positive_amount,
    split_schedule,
    tranche_body,
    tranche_plan,
    validate_request,
)
from huiqi.ledger.write import (
    ACCOUNTS,
    TRANCHES,
    add_to_firm_total,
    award_rows,
    insert_rows,
    inserted,
    inserted_all,
    post,
    resolve,
    sub_from_firm_total,
    transaction_rows,
    write_award,
    write_transaction,
)
from huiqi.ledger.write import (
    get_award as _award,
)
from huiqi.ledger.write import (
    get_pool as _pool,
)

__all__ = [
    "AwardRequest",
    "ClawbackResult",
    "TranchePlan",
    "account_id",
    "clawback",
    "create_pool",
    "get_award",
    "get_pool",
    "grant_award",
    "grant_awards",
    "list_pools",
    "miss_milestone",
    "pay_tranche",
    "post_reservation",
    "record_recovery",
    "reserve",
    "reverse_payment",
    "reverse_recovery",
    "split_schedule",
    "tranches_of",
    "validate_request",
    "void_reservation",
]


# --- pools ---------------------------------------------------------------------------------------------


def create_pool(
    *,
    session: Session,
    pool_id: str,
    name: str,
    size: object,
    period_start: dt.date,
    period_end: dt.date,
    per_firm_cap: object | None = None,
    actor: str,
    idempotency_key: str,
) -> Pool:
    """A pool and its accounts, funded by one transaction from the appropriation."""
    amount = positive_amount(size, "pool size")
    cap = None if per_firm_cap is None else positive_amount(per_firm_cap, "per-firm cap")
    if period_end < period_start:
        raise TranchePlanInvalid(f"pool period ends ({period_end}) before it starts ({period_start})")
    body = {
        "pool_id": pool_id,
        "name": name,
        "size": amount,
        "period_start": period_start,
        "period_end": period_end,
        "per_firm_cap": cap,
    }

    def work() -> Done[Pool]:
        if session.get(Pool, pool_id) is not None:
            raise PoolExists(pool_id)
        pool = inserted(
            session,
            Pool,
            {
                "id": pool_id,
                "name": name,
                "size": amount,
                "available": amount,
                "period_start": period_start,
                "period_end": period_end,
                "per_firm_cap": cap,
                "created_at": utcnow(),
            },
        )
        insert_rows(
            session,
            ACCOUNTS,
            [
                {"id": account_id(pool_id, k), "pool_id": pool_id, "kind": k.value, "firm_uscc": None}
                for k in POOL_ACCOUNTS
            ],
        )
        post(
            session,
            Move.FUND,
            pool_id=pool_id,
            firm_uscc=None,
            actor=actor,
            memo=f"fund pool {name}",
            idempotency_key=idempotency_key,
            size=amount,
        )
        return Done(pool, {"pool_id": pool_id}, entity=f"pool:{pool_id}", action="created", payload=body)

    return keyed(
        session,
        key=idempotency_key,
        operation="create_pool",
        body=body,
        actor=actor,
        replay=lambda _: _pool(session, pool_id),
        work=work,
    )


def get_pool(*, session: Session, pool_id: str) -> Pool:
    """The pool, or ``PoolNotFound``."""
    return _pool(session, pool_id)


def list_pools(*, session: Session) -> list[Pool]:
    """Every pool, by id."""
    return list(session.scalars(select(Pool).order_by(Pool.id)))


# --- reservations and awards ----------------------------------------------------------------------------


def _check_contracts(session: Session, firm_uscc: str, contracts: Sequence[str]) -> None:
    distinct_contracts(contracts)
    if contracts:
        taken = session.scalar(
            select(ContractClaim.contract_id)
            .where(ContractClaim.firm_uscc == firm_uscc, ContractClaim.contract_id.in_(list(contracts)))
            .limit(1)
        )
        if taken is not None:
            raise ContractAlreadyClaimed(firm_uscc, taken)


def grant_award(
    *,
    session: Session,
    pool_id: str,
    firm_uscc: str,
    amount: object,
    actor: str,
    idempotency_key: str,
    tranches: Sequence[TranchePlan] | None = None,
    contracts: Sequence[str] = (),
    application_id: str | None = None,
    settle_at_commit: bool = False,
) -> Award:
    """First come, first served: commit money straight from the pool to the firm in one transaction.

    ``settle_at_commit``: for a caller that commits right after (a request handler, the FCFS front door),
    the pool is charged by the transaction's last statement, sent together with COMMIT on PostgreSQL; a pool
    that cannot cover the award then raises InsufficientFunds from the commit (``run_in_transaction`` or
    ``session.commit()``) instead of from this call. Same rows, same guarantees; SQLite settles at once.
    """
    value = positive_amount(amount, "award amount")
    if session.get_bind().dialect.name == "postgresql":
        return pg_write.grant_award(
            session,
            pool_id=pool_id,
            firm_uscc=firm_uscc,
            value=value,
            tranches=tranches,
            contracts=contracts,
            application_id=application_id,
            actor=actor,
            idempotency_key=idempotency_key,
            settle_at_commit=settle_at_commit,
        )
    body = award_body(pool_id, firm_uscc, value, tranches, contracts, application_id)

    def work() -> Done[Award]:
        pool = _pool(session, pool_id)
        plan = tranche_plan(value, tranches, pool.period_end)
        _check_contracts(session, firm_uscc, contracts)
        add_to_firm_total(session, pool, firm_uscc, value)
        award = write_award(
            session,
            award_rows(
                pool_id=pool_id,
                firm_uscc=firm_uscc,
                amount=value,
                plan=plan,
                contracts=contracts,
                application_id=application_id,
                reservation_id=None,
                actor=actor,
                at=utcnow(),
                legs=legs(Move.GRANT, pool_id, firm_uscc, amount=value),
                idempotency_key=idempotency_key,
                key=("grant_award", body),
            ),
        )
        return Done(
            award,
            {"award_id": award.id},
            entity=f"award:{award.id}",
            action="granted",
            payload={**body, "award_id": award.id},
            pool_id=pool_id,
            pool_change=pool_change(Move.GRANT, amount=value),
            key_written=True,
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="grant_award",
        body=body,
        actor=actor,
        replay=lambda done: _award(session, str(done["award_id"])),
        work=work,
    )


def grant_awards(
    *, session: Session, pool_id: str, requests: Sequence[AwardRequest], actor: str
) -> list[Award | LedgerError]:
    """Many awards from one pool in one transaction, decided in order, each on its own.

    The result has one entry per request: the Award (new, or the first one for a replayed idempotency key)
    or the LedgerError that refused it. A refusal writes nothing for that request; the others stand.
    Batches are how bulk decisions (a ranked call, benefits paid without application) move money: the
    pool's lock is taken once per batch instead of once per award.
    """
    if session.get_bind().dialect.name == "postgresql":
        return pg_write.grant_awards(session, pool_id=pool_id, requests=requests, actor=actor)
    _pool(session, pool_id)
    results: list[Award | LedgerError] = []
    for request in requests:
        try:
            with session.begin_nested():
                results.append(
                    grant_award(
                        session=session,
                        pool_id=pool_id,
                        firm_uscc=request.firm_uscc,
                        amount=request.amount,
                        actor=actor,
                        idempotency_key=request.idempotency_key,
                        tranches=request.tranches or None,
                        contracts=request.contracts,
                        application_id=request.application_id,
                    )
                )
        except LedgerError as exc:
            results.append(exc)
    return results


def reserve(
    *,
    session: Session,
    pool_id: str,
    firm_uscc: str,
    amount: object,
    actor: str,
    idempotency_key: str,
    application_id: str | None = None,
) -> Reservation:
    """Hold money for a decision (pending). Raises InsufficientFunds when the pool cannot cover it."""
    value = positive_amount(amount, "reservation amount")
    body = {"pool_id": pool_id, "firm_uscc": firm_uscc, "amount": value, "application_id": application_id}

    def work() -> Done[Reservation]:
        pool = _pool(session, pool_id)
        add_to_firm_total(session, pool, firm_uscc, value)
        reservation = inserted(
            session,
            Reservation,
            {
                "id": new_id(),
                "pool_id": pool_id,
                "firm_uscc": firm_uscc,
                "application_id": application_id,
                "amount": value,
                "status": ReservationStatus.PENDING.value,
                "created_at": utcnow(),
            },
        )
        post(
            session,
            Move.RESERVE,
            pool_id=pool_id,
            firm_uscc=firm_uscc,
            actor=actor,
            idempotency_key=idempotency_key,
            memo=f"reservation {reservation.id}",
            amount=value,
        )
        return Done(
            reservation,
            {"reservation_id": reservation.id},
            entity=f"reservation:{reservation.id}",
            action="reserved",
            payload={**body, "reservation_id": reservation.id},
            pool_id=pool_id,
            pool_change=pool_change(Move.RESERVE, amount=value),
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="reserve",
        body=body,
        actor=actor,
        replay=lambda done: _get_reservation(session, str(done["reservation_id"])),
        work=work,
    )


def _get_reservation(session: Session, reservation_id: str) -> Reservation:
    reservation = session.get(Reservation, reservation_id)
    if reservation is None:
        raise ReservationNotFound(reservation_id)
    return reservation


def _resolve_reservation(session: Session, reservation: Reservation, status: ReservationStatus) -> None:
    """pending -> posted | voided, exactly once even if two callers race for it."""
    changed = resolve(
        session,
        Reservation,
        reservation.id,
        ReservationStatus.PENDING.value,
        {"status": status.value, "resolved_at": utcnow()},
    )
    session.refresh(reservation)
    if not changed:
        raise ReservationNotPending(reservation.id, reservation.status)


def post_reservation(
    *,
    session: Session,
    reservation_id: str,
    actor: str,
    idempotency_key: str,
    tranches: Sequence[TranchePlan] | None = None,
    contracts: Sequence[str] = (),
) -> Award:
    """Turn a pending reservation into an award: reserved -> payable to the firm."""
    reservation = _get_reservation(session, reservation_id)
    body = {
        "reservation_id": reservation_id,
        "contracts": sorted(contracts),
        "tranches": tranche_body(tranches),
    }

    def work() -> Done[Award]:
        if reservation.status != ReservationStatus.PENDING.value:
            raise ReservationNotPending(reservation.id, reservation.status)
        pool = _pool(session, reservation.pool_id)
        plan = tranche_plan(reservation.amount, tranches, pool.period_end)
        _check_contracts(session, reservation.firm_uscc, contracts)
        _resolve_reservation(session, reservation, ReservationStatus.POSTED)
        award = write_award(
            session,
            award_rows(
                pool_id=pool.id,
                firm_uscc=reservation.firm_uscc,
                amount=reservation.amount,
                plan=plan,
                contracts=contracts,
                application_id=reservation.application_id,
                reservation_id=reservation.id,
                actor=actor,
                at=utcnow(),
                legs=legs(Move.POST, pool.id, reservation.firm_uscc, amount=reservation.amount),
                idempotency_key=idempotency_key,
                key=("post_reservation", body),
            ),
        )
        return Done(
            award,
            {"award_id": award.id},
            entity=f"award:{award.id}",
            action="granted",
            payload={**body, "award_id": award.id, "amount": reservation.amount},
            key_written=True,
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="post_reservation",
        body=body,
        actor=actor,
        replay=lambda done: _award(session, str(done["award_id"])),
        work=work,
    )


def void_reservation(
    *, session: Session, reservation_id: str, actor: str, reason: str, idempotency_key: str
) -> Reservation:
    """Give a pending reservation's money back to the pool."""
    reservation = _get_reservation(session, reservation_id)
    body = {"reservation_id": reservation_id, "reason": reason}

    def work() -> Done[Reservation]:
        pool = _pool(session, reservation.pool_id)
        _resolve_reservation(session, reservation, ReservationStatus.VOIDED)
        post(
            session,
            Move.VOID,
            pool_id=pool.id,
            firm_uscc=reservation.firm_uscc,
            actor=actor,
            idempotency_key=idempotency_key,
            memo=reason,
            amount=reservation.amount,
        )
        sub_from_firm_total(session, pool, reservation.firm_uscc, reservation.amount)
        return Done(
            reservation,
            {"reservation_id": reservation.id},
            entity=f"reservation:{reservation.id}",
            action="voided",
            payload={**body, "amount": reservation.amount},
            pool_id=pool.id,
            pool_change=pool_change(Move.VOID, amount=reservation.amount),
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="void_reservation",
        body=body,
        actor=actor,
        replay=lambda _: reservation,
        work=work,
    )


# --- tranches, clawbacks, recoveries --------------------------------------------------------------------


def get_award(*, session: Session, award_id: str) -> Award:
    """The award, or ``AwardNotFound``."""
    return _award(session, award_id)


def tranches_of(*, session: Session, award_id: str) -> list[Tranche]:
    """An award's tranches in order."""
    return list(session.scalars(select(Tranche).where(Tranche.award_id == award_id).order_by(Tranche.seq)))


def _tranche(session: Session, award_id: str, seq: int) -> Tranche:
    tranche = session.scalar(select(Tranche).where(Tranche.award_id == award_id, Tranche.seq == seq))
    if tranche is None:
        raise TrancheNotFound(award_id, seq)
    return tranche


def pay_tranche(
    *, session: Session, award_id: str, seq: int, actor: str, idempotency_key: str, reference: str = ""
) -> LedgerTransaction:
    """Pay one tranche (its milestone met): payable -> paid. A tranche is paid at most once."""
    body = {"award_id": award_id, "seq": seq, "reference": reference}

    def work() -> Done[LedgerTransaction]:
        award = _award(session, award_id)
        tranche = _tranche(session, award_id, seq)
        if tranche.status == TrancheStatus.PAID.value:
            raise TrancheAlreadyPaid(award_id, seq)
        if award.status != AwardStatus.ACTIVE.value:
            raise AwardNotActive(award_id, award.status)
        if tranche.status != TrancheStatus.PENDING.value:
            raise TrancheNotPending(award_id, seq, tranche.status)
        txn = post(
            session,
            Move.PAY,
            pool_id=award.pool_id,
            firm_uscc=award.firm_uscc,
            actor=actor,
            idempotency_key=idempotency_key,
            award_id=award.id,
            tranche_id=tranche.id,
            memo=reference,
            amount=tranche.amount,
        )
        # Conditional on still pending: of two racing payments only one changes the row.
        paid = {"status": TrancheStatus.PAID.value, "payment_txn_id": txn.id, "resolved_at": utcnow()}
        if not resolve(session, Tranche, tranche.id, TrancheStatus.PENDING.value, paid):
            raise TrancheAlreadyPaid(award_id, seq)
        session.refresh(tranche)
        award.paid = award.paid + tranche.amount
        remaining = session.scalar(
            select(func.count())
            .select_from(Tranche)
            .where(Tranche.award_id == award.id, Tranche.status == TrancheStatus.PENDING.value)
        )
        if remaining == 0:
            award.status = AwardStatus.COMPLETED.value
        return Done(
            txn,
            {"transaction_id": txn.id},
            entity=f"award:{award.id}",
            action="tranche_paid",
            payload={**body, "amount": tranche.amount, "transaction_id": txn.id},
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="pay_tranche",
        body=body,
        actor=actor,
        replay=lambda done: _get_txn(session, str(done["transaction_id"])),
        work=work,
    )


@dataclass(frozen=True)
class ClawbackResult:
    """A clawback's (or missed milestone's) transaction, what went back to the pool, what the firm owes and
    when it is due."""

    award: Award
    transaction: LedgerTransaction
    released: Decimal
    recoverable: Decimal
    schedule: list[RecoveryInstallment]


def _claw(
    session: Session,
    *,
    award: Award,
    actor: str,
    reason: str,
    action: str,
    installments: int,
    first_due: dt.date,
    idempotency_key: str,
    body: Mapping[str, Any],
) -> Done[ClawbackResult]:
    """The work of a clawback or a missed milestone: unpaid tranches released, paid ones recoverable."""
    pending = list(
        session.scalars(
            select(Tranche).where(Tranche.award_id == award.id, Tranche.status == TrancheStatus.PENDING.value)
        )
    )
    released = sum((t.amount for t in pending), Decimal(0))
    recoverable = award.paid - award.clawed
    pool = _pool(session, award.pool_id)
    if not released and not recoverable:
        raise AwardNotActive(award.id, "fully settled")
    txn = post(
        session,
        Move.CLAWBACK,
        pool_id=pool.id,
        firm_uscc=award.firm_uscc,
        actor=actor,
        memo=reason,
        idempotency_key=idempotency_key,
        award_id=award.id,
        unpaid=released,
        paid=recoverable,
    )
    now = utcnow()
    for t in pending:
        t.status = TrancheStatus.RELEASED.value
        t.resolved_at = now
    award.released = award.released + released
    award.clawed = award.clawed + recoverable
    award.status = AwardStatus.CLAWED_BACK.value
    schedule = inserted_all(
        session,
        RecoveryInstallment,
        [
            {"id": new_id(), "award_id": award.id, "seq": i, "amount": amount, "due_date": due}
            for i, (amount, due) in enumerate(split_schedule(recoverable, installments, first_due), 1)
        ]
        if recoverable
        else [],
    )
    sub_from_firm_total(session, pool, award.firm_uscc, released)
    return Done(
        ClawbackResult(award, txn, released, recoverable, schedule),
        {"transaction_id": txn.id},
        entity=f"award:{award.id}",
        action=action,
        payload={
            **body,
            "released": released,
            "recoverable": recoverable,
            "transaction_id": txn.id,
            "schedule": [[i.amount, i.due_date] for i in schedule],
        },
        pool_id=pool.id,
        pool_change=pool_change(Move.CLAWBACK, unpaid=released, paid=recoverable),
    )


def _claw_replay(session: Session, done: Mapping[str, Any], award_id: str) -> ClawbackResult:
    txn = _get_txn(session, str(done["transaction_id"]))
    award = _award(session, award_id)
    postings = session.scalars(select(Posting).where(Posting.transaction_id == txn.id)).all()
    released = sum((p.amount for p in postings if p.account_id.startswith("available:")), Decimal(0))
    recoverable = sum((p.amount for p in postings if p.account_id.startswith("recoverable:")), Decimal(0))
    schedule = list(
        session.scalars(
            select(RecoveryInstallment)
            .where(RecoveryInstallment.award_id == award_id)
            .order_by(RecoveryInstallment.seq)
        )
    )
    return ClawbackResult(award, txn, released, recoverable, schedule)


def miss_milestone(
    *,
    session: Session,
    award_id: str,
    seq: int,
    as_of: dt.date,
    actor: str,
    reason: str,
    idempotency_key: str,
    installments: int = 1,
    first_due: dt.date | None = None,
) -> ClawbackResult:
    """A milestone missed by its date: unpaid tranches go back to the pool, paid ones become recoverable."""
    body = {
        "award_id": award_id,
        "seq": seq,
        "as_of": as_of,
        "reason": reason,
        "installments": installments,
        "first_due": first_due,
    }

    def work() -> Done[ClawbackResult]:
        award = _award(session, award_id)
        if award.status != AwardStatus.ACTIVE.value:
            raise AwardNotActive(award_id, award.status)
        tranche = _tranche(session, award_id, seq)
        if tranche.status != TrancheStatus.PENDING.value:
            raise TrancheNotPending(award_id, seq, tranche.status)
        if as_of <= tranche.due_date:
            raise MilestoneNotDue(award_id, seq, tranche.due_date, as_of)
        return _claw(
            session,
            award=award,
            actor=actor,
            reason=reason,
            action="milestone_missed",
            installments=installments,
            first_due=first_due or as_of + dt.timedelta(days=30),
            idempotency_key=idempotency_key,
            body=body,
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="miss_milestone",
        body=body,
        actor=actor,
        replay=lambda done: _claw_replay(session, done, award_id),
        work=work,
    )


def clawback(
    *,
    session: Session,
    award_id: str,
    actor: str,
    reason: str,
    idempotency_key: str,
    installments: int = 1,
    first_due: dt.date,
) -> ClawbackResult:
    """A commitment broken (e.g. investors did not follow through): the same effect as a missed milestone."""
    body = {"award_id": award_id, "reason": reason, "installments": installments, "first_due": first_due}

    def work() -> Done[ClawbackResult]:
        award = _award(session, award_id)
        if award.status not in (AwardStatus.ACTIVE.value, AwardStatus.COMPLETED.value):
            raise AwardNotActive(award_id, award.status)
        return _claw(
            session,
            award=award,
            actor=actor,
            reason=reason,
            action="clawed_back",
            installments=installments,
            first_due=first_due,
            idempotency_key=idempotency_key,
            body=body,
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="clawback",
        body=body,
        actor=actor,
        replay=lambda done: _claw_replay(session, done, award_id),
        work=work,
    )


def record_recovery(
    *, session: Session, award_id: str, amount: object, actor: str, idempotency_key: str, reference: str = ""
) -> LedgerTransaction:
    """Money recovered from a firm: recoverable -> back to the pool's available balance."""
    value = positive_amount(amount, "recovery amount")
    body = {"award_id": award_id, "amount": value, "reference": reference}

    def work() -> Done[LedgerTransaction]:
        award = _award(session, award_id)
        owed = award.clawed - award.recovered
        if value > owed:
            raise RecoveryTooLarge(award_id, owed, value)
        pool = _pool(session, award.pool_id)
        txn = post(
            session,
            Move.RECOVER,
            pool_id=pool.id,
            firm_uscc=award.firm_uscc,
            actor=actor,
            memo=reference,
            idempotency_key=idempotency_key,
            award_id=award.id,
            amount=value,
        )
        award.recovered = award.recovered + value
        sub_from_firm_total(session, pool, award.firm_uscc, value)
        return Done(
            txn,
            {"transaction_id": txn.id},
            entity=f"award:{award.id}",
            action="recovered",
            payload={**body, "transaction_id": txn.id},
            pool_id=pool.id,
            pool_change=pool_change(Move.RECOVER, amount=value),
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="record_recovery",
        body=body,
        actor=actor,
        replay=lambda done: _get_txn(session, str(done["transaction_id"])),
        work=work,
    )


def _get_txn(session: Session, txn_id: str) -> LedgerTransaction:
    txn = session.get(LedgerTransaction, txn_id)
    if txn is None:
        raise TransactionNotFound(txn_id)
    return txn


def _not_reversed(session: Session, transaction_id: str) -> None:
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction_id)):
        raise NotReversible(transaction_id, "it has already been reversed")


def _reverse(
    session: Session, original: LedgerTransaction, *, actor: str, reason: str, idempotency_key: str
) -> tuple[LedgerTransaction, Decimal]:
    """A reversing entry: the original's postings negated, pointing at it (reversed once: unique); with
    the amount it moves back."""
    postings = session.scalars(select(Posting).where(Posting.transaction_id == original.id)).all()
    amount = sum((p.amount for p in postings if p.amount > 0), Decimal(0))
    txn = write_transaction(
        session,
        transaction_rows(
            pool_id=original.pool_id,
            kind=TxnKind.REVERSAL,
            legs=[(p.account_id, -p.amount) for p in postings],
            actor=actor,
            at=utcnow(),
            memo=reason,
            idempotency_key=idempotency_key,
            award_id=original.award_id,
            tranche_id=original.tranche_id,
            reverses_id=original.id,
        ),
    )
    return txn, amount


def reverse_recovery(
    *, session: Session, transaction_id: str, actor: str, reason: str, idempotency_key: str
) -> LedgerTransaction:
    """Correct a recovery recorded in error (a bounced transfer) with a reversing entry, never an edit."""
    body = {"transaction_id": transaction_id, "reason": reason}

    def work() -> Done[LedgerTransaction]:
        original = _get_txn(session, transaction_id)
        if original.kind != TxnKind.RECOVER.value:
            raise NotReversible(
                transaction_id,
                f"it is a {original.kind}; only recoveries are reversed this way",
                "not_a_recovery",
                kind=original.kind,
            )
        _not_reversed(session, transaction_id)
        if original.award_id is None:
            raise NotReversible(transaction_id, "the recovery names no award")
        award = _award(session, original.award_id)
        txn, amount = _reverse(session, original, actor=actor, reason=reason, idempotency_key=idempotency_key)
        award.recovered = award.recovered - amount
        pool = _pool(session, original.pool_id)
        add_to_firm_total(session, pool, award.firm_uscc, amount)
        return Done(
            txn,
            {"transaction_id": txn.id},
            entity=f"transaction:{original.id}",
            action="reversed",
            payload={**body, "amount": amount, "reversal_id": txn.id},
            pool_id=pool.id,
            pool_change=-pool_change(Move.RECOVER, amount=amount),  # the recovery, negated
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="reverse_recovery",
        body=body,
        actor=actor,
        replay=lambda done: _get_txn(session, str(done["transaction_id"])),
        work=work,
    )


def reverse_payment(
    *, session: Session, transaction_id: str, actor: str, reason: str, idempotency_key: str
) -> LedgerTransaction:
    """A tranche payment returned (bounced transfer, paid in error): a reversing entry, and the tranche is
    payable again. Only while the award is active: a completed or clawed-back award is settled history."""
    body = {"transaction_id": transaction_id, "reason": reason}

    def work() -> Done[LedgerTransaction]:
        original = _get_txn(session, transaction_id)
        if original.kind != TxnKind.PAY.value or original.tranche_id is None or original.award_id is None:
            raise NotReversible(
                transaction_id,
                f"it is a {original.kind}, not a tranche payment",
                "not_a_payment",
                kind=original.kind,
            )
        _not_reversed(session, transaction_id)
        award = _award(session, original.award_id)
        if award.status != AwardStatus.ACTIVE.value:
            raise NotReversible(
                transaction_id,
                f"award {award.id} is {award.status}",
                "award_state",
                award=award.id,
                status=award.status,
            )
        txn, amount = _reverse(session, original, actor=actor, reason=reason, idempotency_key=idempotency_key)
        result = session.execute(
            update(TRANCHES)
            .where(
                TRANCHES.c.id == original.tranche_id,
                TRANCHES.c.status == TrancheStatus.PAID.value,
                TRANCHES.c.payment_txn_id == original.id,
            )
            .values(status=TrancheStatus.PENDING.value, payment_txn_id=None, resolved_at=None)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotReversible(transaction_id, "its tranche is no longer paid by it")
        award.paid = award.paid - amount
        return Done(
            txn,
            {"transaction_id": txn.id},
            entity=f"transaction:{original.id}",
            action="reversed",
            payload={**body, "amount": amount, "reversal_id": txn.id},
        )

    return keyed(
        session,
        key=idempotency_key,
        operation="reverse_payment",
        body=body,
        actor=actor,
        replay=lambda done: _get_txn(session, str(done["transaction_id"])),
        work=work,
    )
