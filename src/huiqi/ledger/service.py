"""Money-moving operations. Each one is a single balanced transaction, carries an idempotency key, flushes
and never commits (the caller owns the transaction, and retries it with ``run_in_transaction``).

Concurrency: the only hot row is the pool. Every operation that takes money out of a pool does so with one
conditional UPDATE (``available = available - x WHERE available >= x``) issued *after* its inserts, so the
row lock is held only for the last few statements before COMMIT. Under READ COMMITTED PostgreSQL re-checks
the condition on the newest row version after waiting for the lock; SQLite transactions start with
BEGIN IMMEDIATE, so writers are serialized outright. Audit links are queued and chained at COMMIT, so the
audit head is the last lock a write takes (``huiqi.audit.chain``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.ledger import idempotency
from huiqi.ledger.errors import (
    AwardNotActive,
    AwardNotFound,
    ContractAlreadyClaimed,
    FirmCapExceeded,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    MilestoneNotDue,
    NotReversible,
    PoolExists,
    PoolNotFound,
    RecoveryTooLarge,
    ReservationNotFound,
    ReservationNotPending,
    TrancheAlreadyPaid,
    TrancheNotFound,
    TrancheNotPending,
    TranchePlanInvalid,
    TransactionNotFound,
    Unbalanced,
)
from huiqi.ledger.models import (
    Account,
    AccountKind,
    Award,
    AwardStatus,
    ContractClaim,
    FirmPoolTotal,
    LedgerTransaction,
    Pool,
    Posting,
    RecoveryInstallment,
    Reservation,
    ReservationStatus,
    Tranche,
    TrancheStatus,
    TxnKind,
)
from huiqi.money import MoneyError, yuan

_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class TranchePlan:
    """One tranche of an award: paid when ``milestone`` is met, missed if not met by ``due``."""

    amount: Decimal
    milestone: str
    due: dt.date


def _amount(value: object, what: str) -> Decimal:
    try:
        amount = yuan(value, what=what)
    except MoneyError as exc:
        raise InvalidAmount(what, value) from exc
    if amount <= 0:
        raise InvalidAmount(what, value)
    return amount


def account_id(pool_id: str, kind: AccountKind, firm_uscc: str | None = None) -> str:
    return f"{kind.value}:{pool_id}" if firm_uscc is None else f"{kind.value}:{pool_id}:{firm_uscc}"


def _insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on both backends: creating a row that may already exist is not
    a conflict worth a retry."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        session.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


def _ensure_firm_accounts(session: Session, pool_id: str, firm_uscc: str) -> None:
    kinds = (AccountKind.PAYABLE, AccountKind.PAID, AccountKind.RECOVERABLE)
    _insert_ignore(
        session,
        Account.__table__,
        [
            {
                "id": account_id(pool_id, k, firm_uscc),
                "pool_id": pool_id,
                "kind": k.value,
                "firm_uscc": firm_uscc,
            }
            for k in kinds
        ],
    )


def _post(
    session: Session,
    *,
    pool_id: str,
    kind: TxnKind,
    legs: Sequence[tuple[str, Decimal]],
    actor: str,
    memo: str = "",
    idempotency_key: str | None = None,
    award_id: str | None = None,
    tranche_id: str | None = None,
    reverses_id: str | None = None,
) -> LedgerTransaction:
    total = sum((amount for _, amount in legs), Decimal(0))
    if total != 0:
        raise Unbalanced(total)
    txn = LedgerTransaction(
        id=new_id(),
        pool_id=pool_id,
        kind=kind.value,
        at=utcnow(),
        actor=actor,
        memo=memo,
        idempotency_key=idempotency_key,
        award_id=award_id,
        tranche_id=tranche_id,
        reverses_id=reverses_id,
    )
    session.add(txn)
    session.flush()  # no relationship() to order the inserts: the transaction row goes before its postings
    session.add_all(
        Posting(id=new_id(), transaction_id=txn.id, account_id=acct, amount=amount)
        for acct, amount in legs
        if amount != 0
    )
    return txn


def _take_from_pool(session: Session, pool_id: str, amount: Decimal) -> None:
    """The guard: one conditional UPDATE; no row changed means the pool could not cover the amount."""
    result = session.execute(
        update(Pool)
        .where(Pool.id == pool_id, Pool.available >= amount)
        .values(available=Pool.available - amount),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        available = session.scalar(select(Pool.available).where(Pool.id == pool_id))
        raise InsufficientFunds(pool_id, amount, available)


def _return_to_pool(session: Session, pool_id: str, amount: Decimal) -> None:
    if amount > 0:
        session.execute(
            update(Pool).where(Pool.id == pool_id).values(available=Pool.available + amount),
            execution_options=_NO_SYNC,
        )


def _get_pool(session: Session, pool_id: str) -> Pool:
    pool = session.get(Pool, pool_id)
    if pool is None:
        raise PoolNotFound(pool_id)
    return pool


def _add_to_firm_total(session: Session, pool: Pool, firm_uscc: str, amount: Decimal) -> None:
    """Per-firm cap, made safe the same way as the pool: a conditional UPDATE on the firm's own row."""
    if pool.per_firm_cap is None:
        return
    _insert_ignore(
        session, FirmPoolTotal.__table__, [{"pool_id": pool.id, "firm_uscc": firm_uscc, "committed": 0}]
    )
    result = session.execute(
        update(FirmPoolTotal)
        .where(
            FirmPoolTotal.pool_id == pool.id,
            FirmPoolTotal.firm_uscc == firm_uscc,
            FirmPoolTotal.committed <= pool.per_firm_cap - amount,
        )
        .values(committed=FirmPoolTotal.committed + amount),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise FirmCapExceeded(pool.id, firm_uscc, pool.per_firm_cap, amount)


def _sub_from_firm_total(session: Session, pool: Pool, firm_uscc: str, amount: Decimal) -> None:
    if pool.per_firm_cap is None or amount <= 0:
        return
    session.execute(
        update(FirmPoolTotal)
        .where(FirmPoolTotal.pool_id == pool.id, FirmPoolTotal.firm_uscc == firm_uscc)
        .values(committed=FirmPoolTotal.committed - amount),
        execution_options=_NO_SYNC,
    )


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
    amount = _amount(size, "pool size")
    cap = None if per_firm_cap is None else _amount(per_firm_cap, "per-firm cap")
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
    if idempotency.replay(session=session, key=idempotency_key, operation="create_pool", body=body):
        return _get_pool(session, pool_id)
    if session.get(Pool, pool_id) is not None:
        raise PoolExists(pool_id)
    pool = Pool(
        id=pool_id,
        name=name,
        size=amount,
        available=amount,
        period_start=period_start,
        period_end=period_end,
        per_firm_cap=cap,
    )
    session.add(pool)
    session.flush()
    session.add_all(
        Account(id=account_id(pool_id, k), pool_id=pool_id, kind=k.value, firm_uscc=None)
        for k in (AccountKind.FUNDING, AccountKind.AVAILABLE, AccountKind.RESERVED)
    )
    session.flush()
    _post(
        session,
        pool_id=pool_id,
        kind=TxnKind.FUND,
        actor=actor,
        memo=f"fund pool {name}",
        idempotency_key=idempotency_key,
        legs=[
            (account_id(pool_id, AccountKind.FUNDING), -amount),
            (account_id(pool_id, AccountKind.AVAILABLE), amount),
        ],
    )
    idempotency.remember(
        session=session, key=idempotency_key, operation="create_pool", body=body, result={"pool_id": pool_id}
    )
    session.flush()
    audit.append(session=session, actor=actor, entity=f"pool:{pool_id}", action="created", payload=body)
    return pool


def get_pool(*, session: Session, pool_id: str) -> Pool:
    return _get_pool(session, pool_id)


def list_pools(*, session: Session) -> list[Pool]:
    return list(session.scalars(select(Pool).order_by(Pool.id)))


# --- reservations and awards ----------------------------------------------------------------------------


def _plan(amount: Decimal, tranches: Sequence[TranchePlan] | None, default_due: dt.date) -> list[TranchePlan]:
    if not tranches:
        return [TranchePlan(amount=amount, milestone="award granted", due=default_due)]
    plan = [
        TranchePlan(_amount(t.amount, f"tranche {i}"), t.milestone, t.due) for i, t in enumerate(tranches, 1)
    ]
    total = sum((t.amount for t in plan), Decimal(0))
    if total != amount:
        raise TranchePlanInvalid(f"tranches add up to {total} yuan but the award is {amount} yuan")
    return plan


def _check_contracts(session: Session, firm_uscc: str, contracts: Sequence[str]) -> None:
    if len(set(contracts)) != len(contracts):
        raise TranchePlanInvalid("a contract is listed twice in one award")
    if contracts:
        taken = session.scalar(
            select(ContractClaim.contract_id)
            .where(ContractClaim.firm_uscc == firm_uscc, ContractClaim.contract_id.in_(list(contracts)))
            .limit(1)
        )
        if taken is not None:
            raise ContractAlreadyClaimed(firm_uscc, taken)


def _create_award(
    session: Session,
    *,
    pool: Pool,
    firm_uscc: str,
    amount: Decimal,
    plan: Sequence[TranchePlan],
    contracts: Sequence[str],
    application_id: str | None,
    reservation_id: str | None,
    actor: str,
) -> Award:
    award = Award(
        id=new_id(),
        pool_id=pool.id,
        firm_uscc=firm_uscc,
        application_id=application_id,
        reservation_id=reservation_id,
        amount=amount,
        paid=Decimal(0),
        released=Decimal(0),
        clawed=Decimal(0),
        recovered=Decimal(0),
        status=AwardStatus.ACTIVE.value,
        granted_at=utcnow(),
        granted_by=actor,
    )
    session.add(award)
    session.flush()
    session.add_all(
        Tranche(
            id=new_id(),
            award_id=award.id,
            seq=i,
            amount=t.amount,
            milestone=t.milestone,
            due_date=t.due,
            status=TrancheStatus.PENDING.value,
        )
        for i, t in enumerate(plan, 1)
    )
    session.add_all(ContractClaim(firm_uscc=firm_uscc, contract_id=c, award_id=award.id) for c in contracts)
    return award


def _award_body(
    pool_id: str,
    firm_uscc: str,
    amount: Decimal,
    plan: Sequence[TranchePlan] | None,
    contracts: Sequence[str],
    application_id: str | None,
) -> dict[str, Any]:
    return {
        "pool_id": pool_id,
        "firm_uscc": firm_uscc,
        "amount": amount,
        "application_id": application_id,
        "contracts": sorted(contracts),
        "tranches": [[t.amount, t.milestone, t.due] for t in plan] if plan else [],
    }


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
    value = _amount(amount, "award amount")
    body = _award_body(pool_id, firm_uscc, value, tranches, contracts, application_id)
    if session.get_bind().dialect.name == "postgresql":
        from huiqi.ledger.pg_grant import grant_award_pg

        return grant_award_pg(
            session,
            pool_id=pool_id,
            firm_uscc=firm_uscc,
            value=value,
            body=body,
            tranches=tranches,
            contracts=contracts,
            application_id=application_id,
            actor=actor,
            idempotency_key=idempotency_key,
            settle_at_commit=settle_at_commit,
        )
    done = idempotency.replay(session=session, key=idempotency_key, operation="grant_award", body=body)
    if done is not None:
        return _get_award(session, str(done["award_id"]))
    pool = _get_pool(session, pool_id)
    plan = _plan(value, tranches, pool.period_end)
    _check_contracts(session, firm_uscc, contracts)
    _ensure_firm_accounts(session, pool_id, firm_uscc)
    _add_to_firm_total(session, pool, firm_uscc, value)
    award = _create_award(
        session,
        pool=pool,
        firm_uscc=firm_uscc,
        amount=value,
        plan=plan,
        contracts=contracts,
        application_id=application_id,
        reservation_id=None,
        actor=actor,
    )
    _post(
        session,
        pool_id=pool_id,
        kind=TxnKind.AWARD,
        actor=actor,
        idempotency_key=idempotency_key,
        award_id=award.id,
        legs=[
            (account_id(pool_id, AccountKind.AVAILABLE), -value),
            (account_id(pool_id, AccountKind.PAYABLE, firm_uscc), value),
        ],
    )
    idempotency.remember(
        session=session,
        key=idempotency_key,
        operation="grant_award",
        body=body,
        result={"award_id": award.id},
    )
    _take_from_pool(session, pool_id, value)  # autoflushes the inserts first: the lock comes last
    audit.append(
        session=session,
        actor=actor,
        entity=f"award:{award.id}",
        action="granted",
        payload={**body, "award_id": award.id},
    )
    return award


@dataclass(frozen=True)
class AwardRequest:
    """One first-come-first-served award asked for in a batch (``grant_awards``)."""

    firm_uscc: str
    amount: Decimal
    idempotency_key: str
    tranches: tuple[TranchePlan, ...] = ()
    contracts: tuple[str, ...] = ()
    application_id: str | None = None


def validate_request(request: AwardRequest) -> Decimal:
    value = _amount(request.amount, "award amount")
    if len(set(request.contracts)) != len(request.contracts):
        raise TranchePlanInvalid("a contract is listed twice in one award")
    return value


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
        from huiqi.ledger.pg_bulk import grant_awards_pg

        return grant_awards_pg(session, pool_id=pool_id, requests=requests, actor=actor)
    _get_pool(session, pool_id)
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
    value = _amount(amount, "reservation amount")
    body = {"pool_id": pool_id, "firm_uscc": firm_uscc, "amount": value, "application_id": application_id}
    done = idempotency.replay(session=session, key=idempotency_key, operation="reserve", body=body)
    if done is not None:
        return _get_reservation(session, str(done["reservation_id"]))
    pool = _get_pool(session, pool_id)
    _add_to_firm_total(session, pool, firm_uscc, value)
    reservation = Reservation(
        id=new_id(),
        pool_id=pool_id,
        firm_uscc=firm_uscc,
        application_id=application_id,
        amount=value,
        status=ReservationStatus.PENDING.value,
        created_at=utcnow(),
    )
    session.add(reservation)
    session.flush()
    _post(
        session,
        pool_id=pool_id,
        kind=TxnKind.RESERVE,
        actor=actor,
        idempotency_key=idempotency_key,
        memo=f"reservation {reservation.id}",
        legs=[
            (account_id(pool_id, AccountKind.AVAILABLE), -value),
            (account_id(pool_id, AccountKind.RESERVED), value),
        ],
    )
    idempotency.remember(
        session=session,
        key=idempotency_key,
        operation="reserve",
        body=body,
        result={"reservation_id": reservation.id},
    )
    _take_from_pool(session, pool_id, value)
    audit.append(
        session=session,
        actor=actor,
        entity=f"reservation:{reservation.id}",
        action="reserved",
        payload={**body, "reservation_id": reservation.id},
    )
    return reservation


def _get_reservation(session: Session, reservation_id: str) -> Reservation:
    reservation = session.get(Reservation, reservation_id)
    if reservation is None:
        raise ReservationNotFound(reservation_id)
    return reservation


def _resolve_reservation(session: Session, reservation: Reservation, status: ReservationStatus) -> None:
    """pending -> posted | voided, exactly once even if two callers race for it."""
    result = session.execute(
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == ReservationStatus.PENDING.value)
        .values(status=status.value, resolved_at=utcnow()),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(reservation)
        raise ReservationNotPending(reservation.id, reservation.status)
    session.refresh(reservation)


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
        "tranches": [[t.amount, t.milestone, t.due] for t in tranches] if tranches else [],
    }
    done = idempotency.replay(session=session, key=idempotency_key, operation="post_reservation", body=body)
    if done is not None:
        return _get_award(session, str(done["award_id"]))
    if reservation.status != ReservationStatus.PENDING.value:
        raise ReservationNotPending(reservation.id, reservation.status)
    pool = _get_pool(session, reservation.pool_id)
    plan = _plan(reservation.amount, tranches, pool.period_end)
    _check_contracts(session, reservation.firm_uscc, contracts)
    _ensure_firm_accounts(session, pool.id, reservation.firm_uscc)
    _resolve_reservation(session, reservation, ReservationStatus.POSTED)
    award = _create_award(
        session,
        pool=pool,
        firm_uscc=reservation.firm_uscc,
        amount=reservation.amount,
        plan=plan,
        contracts=contracts,
        application_id=reservation.application_id,
        reservation_id=reservation.id,
        actor=actor,
    )
    _post(
        session,
        pool_id=pool.id,
        kind=TxnKind.AWARD,
        actor=actor,
        idempotency_key=idempotency_key,
        award_id=award.id,
        legs=[
            (account_id(pool.id, AccountKind.RESERVED), -reservation.amount),
            (account_id(pool.id, AccountKind.PAYABLE, reservation.firm_uscc), reservation.amount),
        ],
    )
    idempotency.remember(
        session=session,
        key=idempotency_key,
        operation="post_reservation",
        body=body,
        result={"award_id": award.id},
    )
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"award:{award.id}",
        action="granted",
        payload={**body, "award_id": award.id, "amount": reservation.amount},
    )
    return award


def void_reservation(
    *, session: Session, reservation_id: str, actor: str, reason: str, idempotency_key: str
) -> Reservation:
    """Give a pending reservation's money back to the pool."""
    reservation = _get_reservation(session, reservation_id)
    body = {"reservation_id": reservation_id, "reason": reason}
    if idempotency.replay(session=session, key=idempotency_key, operation="void_reservation", body=body):
        return reservation
    pool = _get_pool(session, reservation.pool_id)
    _resolve_reservation(session, reservation, ReservationStatus.VOIDED)
    _post(
        session,
        pool_id=pool.id,
        kind=TxnKind.VOID,
        actor=actor,
        idempotency_key=idempotency_key,
        memo=reason,
        legs=[
            (account_id(pool.id, AccountKind.RESERVED), -reservation.amount),
            (account_id(pool.id, AccountKind.AVAILABLE), reservation.amount),
        ],
    )
    _sub_from_firm_total(session, pool, reservation.firm_uscc, reservation.amount)
    _close_release(
        session,
        idempotency_key=idempotency_key,
        operation="void_reservation",
        body=body,
        result={"reservation_id": reservation.id},
        pool_id=pool.id,
        released=reservation.amount,
        actor=actor,
        entity=f"reservation:{reservation.id}",
        action="voided",
        payload={**body, "amount": reservation.amount},
    )
    return reservation


def _close_release(
    session: Session,
    *,
    idempotency_key: str,
    operation: str,
    body: Mapping[str, Any],
    result: Mapping[str, Any],
    pool_id: str,
    released: Decimal,
    actor: str,
    entity: str,
    action: str,
    payload: Mapping[str, Any],
) -> None:
    """The end of every write that gives money back to a pool, in its one safe order: remember the answer
    for the idempotency key, flush the postings, return the money to the pool, then queue the audit link
    (chained at COMMIT, after every other lock: ``huiqi.audit.chain``)."""
    idempotency.remember(session=session, key=idempotency_key, operation=operation, body=body, result=result)
    session.flush()
    _return_to_pool(session, pool_id, released)
    audit.append(session=session, actor=actor, entity=entity, action=action, payload=payload)


# --- tranches, clawbacks, recoveries --------------------------------------------------------------------


def _get_award(session: Session, award_id: str) -> Award:
    award = session.get(Award, award_id)
    if award is None:
        raise AwardNotFound(award_id)
    return award


def get_award(*, session: Session, award_id: str) -> Award:
    return _get_award(session, award_id)


def tranches_of(*, session: Session, award_id: str) -> list[Tranche]:
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
    done = idempotency.replay(session=session, key=idempotency_key, operation="pay_tranche", body=body)
    if done is not None:
        return _get_txn(session, str(done["transaction_id"]))
    award = _get_award(session, award_id)
    tranche = _tranche(session, award_id, seq)
    if tranche.status == TrancheStatus.PAID.value:
        raise TrancheAlreadyPaid(award_id, seq)
    if award.status != AwardStatus.ACTIVE.value:
        raise AwardNotActive(award_id, award.status)
    if tranche.status != TrancheStatus.PENDING.value:
        raise TrancheNotPending(award_id, seq, tranche.status)
    txn = _post(
        session,
        pool_id=award.pool_id,
        kind=TxnKind.PAY,
        actor=actor,
        idempotency_key=idempotency_key,
        award_id=award.id,
        tranche_id=tranche.id,
        memo=reference,
        legs=[
            (account_id(award.pool_id, AccountKind.PAYABLE, award.firm_uscc), -tranche.amount),
            (account_id(award.pool_id, AccountKind.PAID, award.firm_uscc), tranche.amount),
        ],
    )
    session.flush()
    # Conditional on still pending: of two racing payments only one changes the row.
    result = session.execute(
        update(Tranche)
        .where(Tranche.id == tranche.id, Tranche.status == TrancheStatus.PENDING.value)
        .values(status=TrancheStatus.PAID.value, payment_txn_id=txn.id, resolved_at=utcnow()),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
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
    idempotency.remember(
        session=session,
        key=idempotency_key,
        operation="pay_tranche",
        body=body,
        result={"transaction_id": txn.id},
    )
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"award:{award.id}",
        action="tranche_paid",
        payload={**body, "amount": tranche.amount, "transaction_id": txn.id},
    )
    return txn


@dataclass(frozen=True)
class ClawbackResult:
    award: Award
    transaction: LedgerTransaction
    released: Decimal
    recoverable: Decimal
    schedule: list[RecoveryInstallment]


def _add_months(day: dt.date, months: int) -> dt.date:
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
        (Decimal(base + (1 if i < extra else 0)) / 100, _add_months(first_due, i))
        for i in range(installments)
        if base + (1 if i < extra else 0) > 0
    ]


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
    operation: str,
) -> ClawbackResult:
    pending = list(
        session.scalars(
            select(Tranche).where(Tranche.award_id == award.id, Tranche.status == TrancheStatus.PENDING.value)
        )
    )
    released = sum((t.amount for t in pending), Decimal(0))
    recoverable = award.paid - award.clawed
    pool = _get_pool(session, award.pool_id)
    legs: list[tuple[str, Decimal]] = []
    if released:
        legs += [
            (account_id(pool.id, AccountKind.PAYABLE, award.firm_uscc), -released),
            (account_id(pool.id, AccountKind.AVAILABLE), released),
        ]
    if recoverable:
        legs += [
            (account_id(pool.id, AccountKind.PAID, award.firm_uscc), -recoverable),
            (account_id(pool.id, AccountKind.RECOVERABLE, award.firm_uscc), recoverable),
        ]
    if not legs:
        raise AwardNotActive(award.id, "fully settled")
    txn = _post(
        session,
        pool_id=pool.id,
        kind=TxnKind.CLAWBACK,
        actor=actor,
        memo=reason,
        idempotency_key=idempotency_key,
        award_id=award.id,
        legs=legs,
    )
    now = utcnow()
    for t in pending:
        t.status = TrancheStatus.RELEASED.value
        t.resolved_at = now
    award.released = award.released + released
    award.clawed = award.clawed + recoverable
    award.status = AwardStatus.CLAWED_BACK.value
    schedule = (
        [
            RecoveryInstallment(id=new_id(), award_id=award.id, seq=i, amount=amount, due_date=due)
            for i, (amount, due) in enumerate(split_schedule(recoverable, installments, first_due), 1)
        ]
        if recoverable
        else []
    )
    session.add_all(schedule)
    _sub_from_firm_total(session, pool, award.firm_uscc, released)
    _close_release(
        session,
        idempotency_key=idempotency_key,
        operation=operation,
        body=body,
        result={"transaction_id": txn.id},
        pool_id=pool.id,
        released=released,
        actor=actor,
        entity=f"award:{award.id}",
        action=action,
        payload={
            **body,
            "released": released,
            "recoverable": recoverable,
            "transaction_id": txn.id,
            "schedule": [[i.amount, i.due_date] for i in schedule],
        },
    )
    return ClawbackResult(award, txn, released, recoverable, schedule)


def _claw_replay(session: Session, done: Mapping[str, Any], award_id: str) -> ClawbackResult:
    txn = _get_txn(session, str(done["transaction_id"]))
    award = _get_award(session, award_id)
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
    done = idempotency.replay(session=session, key=idempotency_key, operation="miss_milestone", body=body)
    if done is not None:
        return _claw_replay(session, done, award_id)
    award = _get_award(session, award_id)
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
        operation="miss_milestone",
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
    done = idempotency.replay(session=session, key=idempotency_key, operation="clawback", body=body)
    if done is not None:
        return _claw_replay(session, done, award_id)
    award = _get_award(session, award_id)
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
        operation="clawback",
    )


def record_recovery(
    *, session: Session, award_id: str, amount: object, actor: str, idempotency_key: str, reference: str = ""
) -> LedgerTransaction:
    """Money recovered from a firm: recoverable -> back to the pool's available balance."""
    value = _amount(amount, "recovery amount")
    body = {"award_id": award_id, "amount": value, "reference": reference}
    done = idempotency.replay(session=session, key=idempotency_key, operation="record_recovery", body=body)
    if done is not None:
        return _get_txn(session, str(done["transaction_id"]))
    award = _get_award(session, award_id)
    owed = award.clawed - award.recovered
    if value > owed:
        raise RecoveryTooLarge(award_id, owed, value)
    pool = _get_pool(session, award.pool_id)
    txn = _post(
        session,
        pool_id=pool.id,
        kind=TxnKind.RECOVER,
        actor=actor,
        memo=reference,
        idempotency_key=idempotency_key,
        award_id=award.id,
        legs=[
            (account_id(pool.id, AccountKind.RECOVERABLE, award.firm_uscc), -value),
            (account_id(pool.id, AccountKind.AVAILABLE), value),
        ],
    )
    award.recovered = award.recovered + value
    _sub_from_firm_total(session, pool, award.firm_uscc, value)
    _close_release(
        session,
        idempotency_key=idempotency_key,
        operation="record_recovery",
        body=body,
        result={"transaction_id": txn.id},
        pool_id=pool.id,
        released=value,
        actor=actor,
        entity=f"award:{award.id}",
        action="recovered",
        payload={**body, "transaction_id": txn.id},
    )
    return txn


def _get_txn(session: Session, txn_id: str) -> LedgerTransaction:
    txn = session.get(LedgerTransaction, txn_id)
    if txn is None:
        raise TransactionNotFound(txn_id)
    return txn


def reverse_recovery(
    *, session: Session, transaction_id: str, actor: str, reason: str, idempotency_key: str
) -> LedgerTransaction:
    """Correct a recovery recorded in error (a bounced transfer) with a reversing entry, never an edit."""
    body = {"transaction_id": transaction_id, "reason": reason}
    done = idempotency.replay(session=session, key=idempotency_key, operation="reverse_recovery", body=body)
    if done is not None:
        return _get_txn(session, str(done["transaction_id"]))
    original = _get_txn(session, transaction_id)
    if original.kind != TxnKind.RECOVER.value:
        raise NotReversible(transaction_id, f"it is a {original.kind}; only recoveries are reversed this way")
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction_id)):
        raise NotReversible(transaction_id, "it has already been reversed")
    if original.award_id is None:
        raise NotReversible(transaction_id, "the recovery names no award")
    award = _get_award(session, original.award_id)
    postings = session.scalars(select(Posting).where(Posting.transaction_id == transaction_id)).all()
    amount = sum((p.amount for p in postings if p.amount > 0), Decimal(0))
    txn = _post(
        session,
        pool_id=original.pool_id,
        kind=TxnKind.REVERSAL,
        actor=actor,
        memo=reason,
        idempotency_key=idempotency_key,
        award_id=award.id,
        reverses_id=original.id,
        legs=[(p.account_id, -p.amount) for p in postings],
    )
    award.recovered = award.recovered - amount
    pool = _get_pool(session, original.pool_id)
    if pool.per_firm_cap is not None:
        _add_to_firm_total(session, pool, award.firm_uscc, amount)
    idempotency.remember(
        session=session,
        key=idempotency_key,
        operation="reverse_recovery",
        body=body,
        result={"transaction_id": txn.id},
    )
    session.flush()
    _take_from_pool(session, pool.id, amount)
    audit.append(
        session=session,
        actor=actor,
        entity=f"transaction:{original.id}",
        action="reversed",
        payload={**body, "amount": amount, "reversal_id": txn.id},
    )
    return txn


def reverse_payment(
    *, session: Session, transaction_id: str, actor: str, reason: str, idempotency_key: str
) -> LedgerTransaction:
    """A tranche payment returned (bounced transfer, paid in error): a reversing entry, and the tranche is
    payable again. Only while the award is active: a completed or clawed-back award is settled history."""
    body = {"transaction_id": transaction_id, "reason": reason}
    done = idempotency.replay(session=session, key=idempotency_key, operation="reverse_payment", body=body)
    if done is not None:
        return _get_txn(session, str(done["transaction_id"]))
    original = _get_txn(session, transaction_id)
    if original.kind != TxnKind.PAY.value or original.tranche_id is None or original.award_id is None:
        raise NotReversible(transaction_id, f"it is a {original.kind}, not a tranche payment")
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction_id)):
        raise NotReversible(transaction_id, "it has already been reversed")
    award = _get_award(session, original.award_id)
    if award.status != AwardStatus.ACTIVE.value:
        raise NotReversible(transaction_id, f"award {award.id} is {award.status}")
    postings = session.scalars(select(Posting).where(Posting.transaction_id == transaction_id)).all()
    amount = sum((p.amount for p in postings if p.amount > 0), Decimal(0))
    txn = _post(
        session,
        pool_id=original.pool_id,
        kind=TxnKind.REVERSAL,
        actor=actor,
        memo=reason,
        idempotency_key=idempotency_key,
        award_id=award.id,
        tranche_id=original.tranche_id,
        reverses_id=original.id,
        legs=[(p.account_id, -p.amount) for p in postings],
    )
    session.flush()
    result = session.execute(
        update(Tranche)
        .where(
            Tranche.id == original.tranche_id,
            Tranche.status == TrancheStatus.PAID.value,
            Tranche.payment_txn_id == original.id,
        )
        .values(status=TrancheStatus.PENDING.value, payment_txn_id=None, resolved_at=None),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotReversible(transaction_id, "its tranche is no longer paid by it")
    award.paid = award.paid - amount
    idempotency.remember(
        session=session,
        key=idempotency_key,
        operation="reverse_payment",
        body=body,
        result={"transaction_id": txn.id},
    )
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"transaction:{original.id}",
        action="reversed",
        payload={**body, "amount": amount, "reversal_id": txn.id},
    )
    return txn
