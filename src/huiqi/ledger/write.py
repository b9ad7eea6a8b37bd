"""The portable writer: the ledger's rows, written with SQLAlchemy Core from the models' tables.

What a money operation writes is shaped here once (``award_rows``, ``transaction_rows``), as rows of the
models' tables keyed by their columns; this module writes them on any database (SQLite, and PostgreSQL for
the operations that have no path of their own), and ``ledger.pg_write`` writes the same rows on
PostgreSQL in a few statements. A new column is one edit of the model and one of the row it belongs to.

Concurrency: the only hot row is the pool. Money leaves it through one conditional UPDATE
(``available = available - x WHERE available >= x``) issued *after* the inserts, so its lock is held only
for the last statements before COMMIT; a firm's cap is guarded the same way on its own row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from huiqi.db.base import Base, new_id
from huiqi.db.types import Money, utcnow
from huiqi.ledger.errors import AwardNotFound, FirmCapExceeded, InsufficientFunds, PoolNotFound
from huiqi.ledger.idempotency import key_row
from huiqi.ledger.models import (
    Account,
    Award,
    ContractClaim,
    FirmPoolTotal,
    IdempotencyKey,
    LedgerTransaction,
    Pool,
    Posting,
    Tranche,
)
from huiqi.ledger.plan import (
    FIRM_ACCOUNTS,
    POSTINGS,
    AccountKind,
    AwardStatus,
    Move,
    TranchePlan,
    TrancheStatus,
    TxnKind,
    account_id,
    legs,
)

M = TypeVar("M", bound=Base)
_NO_SYNC = {"synchronize_session": False}


def table(model: type[Base]) -> Table:
    """A model's table, typed as the Core ``Table`` it is."""
    result = model.__table__
    if not isinstance(result, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return result


AWARDS = table(Award)
TRANCHES = table(Tranche)
CLAIMS = table(ContractClaim)
TRANSACTIONS = table(LedgerTransaction)
LEGS = table(Posting)
ACCOUNTS = table(Account)
TOTALS = table(FirmPoolTotal)
KEYS = table(IdempotencyKey)
POOLS = table(Pool)

Row = dict[str, Any]


# --- the rows --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionRows:
    """One balanced ledger transaction: its row and its postings' rows."""

    transaction: Row
    postings: list[Row]

    @property
    def id(self) -> str:
        return str(self.transaction["id"])


def transaction_rows(
    *,
    pool_id: str,
    kind: TxnKind,
    legs: Sequence[tuple[str, Decimal]],
    actor: str,
    at: dt.datetime,
    memo: str = "",
    idempotency_key: str | None = None,
    award_id: str | None = None,
    tranche_id: str | None = None,
    reverses_id: str | None = None,
) -> TransactionRows:
    """The rows of a transaction with the postings ``legs`` (account, signed amount; zero legs dropped)."""
    txn_id = new_id()
    return TransactionRows(
        transaction={
            "id": txn_id,
            "pool_id": pool_id,
            "kind": kind.value,
            "at": at,
            "actor": actor,
            "memo": memo,
            "idempotency_key": idempotency_key,
            "award_id": award_id,
            "tranche_id": tranche_id,
            "reverses_id": reverses_id,
        },
        postings=[
            {"id": new_id(), "transaction_id": txn_id, "account_id": acct, "amount": amount}
            for acct, amount in legs
            if amount != 0
        ],
    )


def account_rows(pool_id: str, kinds: Sequence[AccountKind], firm_uscc: str | None = None) -> list[Row]:
    """Accounts of a pool: its own (``firm_uscc`` None), or a firm's in it."""
    return [
        {"id": account_id(pool_id, k, firm_uscc), "pool_id": pool_id, "kind": k.value, "firm_uscc": firm_uscc}
        for k in kinds
    ]


def firm_account_rows(pool_id: str, firm_uscc: str) -> list[Row]:
    """The accounts a firm has in a pool (payable, paid, recoverable)."""
    return account_rows(pool_id, FIRM_ACCOUNTS, firm_uscc)


@dataclass(frozen=True)
class AwardRows:
    """Everything one award writes, as rows of the models' tables (the firm's accounts where missing)."""

    award: Row
    tranches: list[Row]
    claims: list[Row]
    accounts: list[Row]
    txn: TransactionRows
    key: Row | None

    @property
    def id(self) -> str:
        return str(self.award["id"])


def award_rows(
    *,
    pool_id: str,
    firm_uscc: str,
    amount: Decimal,
    plan: Sequence[TranchePlan],
    contracts: Sequence[str],
    application_id: str | None,
    reservation_id: str | None,
    actor: str,
    at: dt.datetime,
    legs: Sequence[tuple[str, Decimal]],
    idempotency_key: str,
    key: tuple[str, dict[str, Any]] | None = None,
) -> AwardRows:
    """The rows of an award: the award, its tranches, its contract claims, its transaction (``legs``) and,
    given ``key`` (operation, body), the idempotency key's row answering ``{"award_id": ...}``."""
    award_id = new_id()
    return AwardRows(
        award={
            "id": award_id,
            "pool_id": pool_id,
            "firm_uscc": firm_uscc,
            "application_id": application_id,
            "reservation_id": reservation_id,
            "amount": amount,
            "paid": Decimal(0),
            "released": Decimal(0),
            "clawed": Decimal(0),
            "recovered": Decimal(0),
            "status": AwardStatus.ACTIVE.value,
            "granted_at": at,
            "granted_by": actor,
        },
        tranches=[
            {
                "id": new_id(),
                "award_id": award_id,
                "seq": seq,
                "amount": t.amount,
                "milestone": t.milestone,
                "due_date": t.due,
                "status": TrancheStatus.PENDING.value,
            }
            for seq, t in enumerate(plan, 1)
        ],
        claims=[{"firm_uscc": firm_uscc, "contract_id": c, "award_id": award_id} for c in contracts],
        accounts=firm_account_rows(pool_id, firm_uscc),
        txn=transaction_rows(
            pool_id=pool_id,
            kind=TxnKind.AWARD,
            legs=legs,
            actor=actor,
            at=at,
            idempotency_key=idempotency_key,
            award_id=award_id,
        ),
        key=None if key is None else key_row(idempotency_key, key[0], key[1], {"award_id": award_id}, at),
    )


# --- writing them, portably ------------------------------------------------------------------------------


def insert_rows(session: Session, target: Table, rows: Sequence[Row]) -> None:
    """Plain INSERTs of ``rows`` (none: nothing)."""
    if rows:
        session.execute(insert(target), list(rows))


def insert_ignore(session: Session, target: Table, rows: Sequence[Row]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on both backends: creating a row that may already exist is not a
    conflict worth a retry."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(target).on_conflict_do_nothing(), list(rows))
    else:
        session.execute(sqlite_insert(target).on_conflict_do_nothing(), list(rows))


def inserted(session: Session, model: type[M], row: Row) -> M:
    """INSERT one row and have it back as the model's object, in one statement (RETURNING)."""
    return session.scalars(insert(model).returning(model), [row]).one()


def inserted_all(session: Session, model: type[M], rows: Sequence[Row]) -> list[M]:
    """INSERT the rows and have them back as the model's objects (RETURNING)."""
    if not rows:
        return []
    return list(session.scalars(insert(model).returning(model), list(rows)))


def post(
    session: Session,
    move: Move,
    *,
    pool_id: str,
    firm_uscc: str | None,
    actor: str,
    idempotency_key: str,
    memo: str = "",
    award_id: str | None = None,
    tranche_id: str | None = None,
    **parts: Decimal,
) -> LedgerTransaction:
    """The transaction of one ``move`` (its kind and postings from ``plan.POSTINGS``), written."""
    rows = transaction_rows(
        pool_id=pool_id,
        kind=POSTINGS[move].kind,
        legs=legs(move, pool_id, firm_uscc, **parts),
        actor=actor,
        at=utcnow(),
        memo=memo,
        idempotency_key=idempotency_key,
        award_id=award_id,
        tranche_id=tranche_id,
    )
    return write_transaction(session, rows)


def write_transaction(session: Session, rows: TransactionRows) -> LedgerTransaction:
    """The transaction's row, then its postings'."""
    txn = inserted(session, LedgerTransaction, rows.transaction)
    insert_rows(session, LEGS, rows.postings)
    return txn


def write_award(session: Session, rows: AwardRows) -> Award:
    """Every row of an award, the firm's accounts created where missing; the money is not taken here."""
    insert_ignore(session, ACCOUNTS, rows.accounts)
    award = inserted(session, Award, rows.award)
    insert_rows(session, TRANCHES, rows.tranches)
    insert_rows(session, CLAIMS, rows.claims)
    write_transaction(session, rows.txn)
    if rows.key is not None:
        insert_rows(session, KEYS, [rows.key])
    return award


#: The guard (money leaves a pool only here): built once, bound per call.
_TAKE = (
    update(POOLS)
    .where(POOLS.c.id == bindparam("pool_id"), POOLS.c.available >= bindparam("amount", type_=Money()))
    .values(available=POOLS.c.available - bindparam("amount", type_=Money()))
)


def take_from_pool(session: Session, pool_id: str, amount: Decimal) -> None:
    """The guard: one conditional UPDATE; no row changed means the pool could not cover the amount. Every
    pending row is flushed first: the pool's lock comes last."""
    session.flush()
    result = session.execute(_TAKE, {"pool_id": pool_id, "amount": amount})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        available = session.scalar(select(POOLS.c.available).where(POOLS.c.id == pool_id))
        raise InsufficientFunds(pool_id, amount, available)


def return_to_pool(session: Session, pool_id: str, amount: Decimal) -> None:
    """Money back into the pool's available balance (no guard needed: it only grows)."""
    if amount > 0:
        session.flush()
        session.execute(
            update(POOLS).where(POOLS.c.id == pool_id).values(available=POOLS.c.available + amount)
        )


def move_pool(session: Session, pool_id: str, change: Decimal) -> None:
    """Apply ``change`` (``plan.pool_change`` of an operation) to the pool's available balance: taken
    with the guard when negative, returned when positive."""
    if change < 0:
        take_from_pool(session, pool_id, -change)
    else:
        return_to_pool(session, pool_id, change)


def add_to_firm_total(session: Session, pool: Pool, firm_uscc: str, amount: Decimal) -> None:
    """Per-firm cap, made safe the same way as the pool: a conditional UPDATE on the firm's own row."""
    if pool.per_firm_cap is None:
        return
    insert_ignore(session, TOTALS, [{"pool_id": pool.id, "firm_uscc": firm_uscc, "committed": Decimal(0)}])
    result = session.execute(
        update(TOTALS)
        .where(
            TOTALS.c.pool_id == pool.id,
            TOTALS.c.firm_uscc == firm_uscc,
            TOTALS.c.committed <= pool.per_firm_cap - amount,
        )
        .values(committed=TOTALS.c.committed + amount)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise FirmCapExceeded(pool.id, firm_uscc, pool.per_firm_cap, amount)


def sub_from_firm_total(session: Session, pool: Pool, firm_uscc: str, amount: Decimal) -> None:
    """Money a firm no longer holds from a capped pool (released, recovered)."""
    if pool.per_firm_cap is None or amount <= 0:
        return
    session.execute(
        update(TOTALS)
        .where(TOTALS.c.pool_id == pool.id, TOTALS.c.firm_uscc == firm_uscc)
        .values(committed=TOTALS.c.committed - amount)
    )


def resolve(session: Session, model: type[Base], row_id: str, frm: str, values: Row) -> bool:
    """A state change ``frm`` -> ``values`` by conditional UPDATE: of two racing callers only one changes
    the row (True); the other changes nothing (False)."""
    target = table(model)
    result = session.execute(
        update(target).where(target.c.id == row_id, target.c.status == frm).values(**values),
        execution_options=_NO_SYNC,
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def get_award(session: Session, award_id: str) -> Award:
    """The award, or ``AwardNotFound``."""
    award = session.get(Award, award_id)
    if award is None:
        raise AwardNotFound(award_id)
    return award


def get_pool(session: Session, pool_id: str) -> Pool:
    """The pool, or ``PoolNotFound``."""
    pool = session.get(Pool, pool_id)
    if pool is None:
        raise PoolNotFound(pool_id)
    return pool


def awards_by_id(session: Session, ids: Iterable[str]) -> dict[str, Award]:
    """Stored awards by id (for replays)."""
    wanted = list(ids)
    if not wanted:
        return {}
    return {a.id: a for a in session.scalars(select(Award).where(Award.id.in_(wanted)))}
