"""``huiqi ledger verify``: every invariant of the money, checked from the postings up, each problem named."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, func, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from huiqi.ledger.models import (
    Account,
    AccountKind,
    Award,
    LedgerTransaction,
    Pool,
    Posting,
    Reservation,
    ReservationStatus,
    Tranche,
    TrancheStatus,
    TxnKind,
)
from huiqi.money import fen_to_yuan


def fen_sum(expr: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[int]:
    """SUM in raw fen, whatever type the expression carries (PostgreSQL returns numeric for it)."""
    return type_coerce(func.coalesce(func.sum(type_coerce(expr, BigInteger)), 0), BigInteger)


def to_yuan(raw: object) -> Decimal:
    return fen_to_yuan(int(Decimal(str(raw))))


@dataclass
class LedgerReport:
    transactions: int = 0
    pools: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def account_balances(*, session: Session, pool_id: str | None = None) -> dict[str, Decimal]:
    """Each account's balance as the sum of its postings (there is no other copy to drift)."""
    query = select(Posting.account_id, fen_sum(Posting.amount)).group_by(Posting.account_id)
    if pool_id is not None:
        query = query.join(Account, Account.id == Posting.account_id).where(Account.pool_id == pool_id)
    return {str(a): to_yuan(b) for a, b in session.execute(query)}


def verify_ledger(*, session: Session) -> LedgerReport:
    report = LedgerReport()
    problems = report.problems

    # 1. every transaction balances and has at least two postings
    report.transactions = int(session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)
    for txn_id, total, legs in session.execute(
        select(LedgerTransaction.id, fen_sum(Posting.amount), func.count(Posting.id))
        .outerjoin(Posting, Posting.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id)
        .having((fen_sum(Posting.amount) != 0) | (func.count(Posting.id) < 2))
    ):
        problems.append(f"transaction {txn_id} does not balance: {legs} postings summing to {total} fen")

    accounts = {a.id: a for a in session.scalars(select(Account))}
    balances = account_balances(session=session)
    by_pool: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for acct_id, balance in balances.items():
        acct = accounts.get(acct_id)
        if acct is None:
            problems.append(f"postings refer to unknown account {acct_id}")
            continue
        by_pool[acct.pool_id][acct.kind] += balance
        if acct.kind != AccountKind.FUNDING.value and balance < 0:
            problems.append(f"account {acct_id} is negative: {balance} yuan")

    pools = list(session.scalars(select(Pool)))
    report.pools = len(pools)
    # references kept without foreign keys (they would lock the hot pool row): all must resolve
    known = {p.id for p in pools}
    for table, column in ((LedgerTransaction, LedgerTransaction.pool_id), (Award, Award.pool_id)):
        for (pool_id,) in session.execute(select(column).distinct()):
            if pool_id not in known:
                problems.append(f"{table.__tablename__} refer to unknown pool {pool_id}")
    for pool in pools:
        kinds = by_pool[pool.id]
        available = kinds[AccountKind.AVAILABLE.value]
        committed = sum(
            (
                kinds[k.value]
                for k in (
                    AccountKind.RESERVED,
                    AccountKind.PAYABLE,
                    AccountKind.PAID,
                    AccountKind.RECOVERABLE,
                )
            ),
            Decimal(0),
        )
        # 2. no pool below zero, and its cached available equals the postings
        if available < 0 or pool.available < 0:
            problems.append(f"pool {pool.id} is below zero: {available} yuan")
        if pool.available != available:
            problems.append(f"pool {pool.id}: cached available {pool.available} != postings {available}")
        # 3. awards plus available equals the pool's size
        if -kinds[AccountKind.FUNDING.value] != pool.size:
            problems.append(f"pool {pool.id}: funded {-kinds[AccountKind.FUNDING.value]} != size {pool.size}")
        if available + committed != pool.size:
            problems.append(
                f"pool {pool.id}: available {available} + committed {committed} != size {pool.size}"
            )
        awards = session.execute(
            select(fen_sum(Award.amount) - fen_sum(Award.released) - fen_sum(Award.recovered)).where(
                Award.pool_id == pool.id
            )
        ).scalar_one()
        pending = session.execute(
            select(fen_sum(Reservation.amount)).where(
                Reservation.pool_id == pool.id, Reservation.status == ReservationStatus.PENDING.value
            )
        ).scalar_one()
        awards_y, pending_y = to_yuan(awards), to_yuan(pending)
        if awards_y + pending_y + available != pool.size:
            problems.append(
                f"pool {pool.id}: awards {awards_y} + pending reservations {pending_y}"
                f" + available {available} != size {pool.size}"
            )
        if kinds[AccountKind.RESERVED.value] != pending_y:
            problems.append(
                f"pool {pool.id}: reserved account {kinds[AccountKind.RESERVED.value]} != pending "
                f"reservations {pending_y}"
            )

    # 4. nothing paid twice: at most one payment per tranche, and paid tranches match award.paid
    reversal = aliased(LedgerTransaction)
    for tranche_id, n in session.execute(
        select(LedgerTransaction.tranche_id, func.count())
        .where(
            LedgerTransaction.kind == TxnKind.PAY.value,
            ~select(reversal.id).where(reversal.reverses_id == LedgerTransaction.id).exists(),
        )
        .group_by(LedgerTransaction.tranche_id)
        .having(func.count() > 1)
    ):
        problems.append(f"tranche {tranche_id} was paid {n} times")
    paid_by_award: dict[str, Decimal] = defaultdict(Decimal)
    for t in session.scalars(select(Tranche).where(Tranche.status == TrancheStatus.PAID.value)):
        paid_by_award[t.award_id] += t.amount
        if t.payment_txn_id is None:
            problems.append(f"tranche {t.id} is marked paid with no payment transaction")
    for award in session.scalars(select(Award)):
        if award.paid != paid_by_award.get(award.id, Decimal(0)):
            problems.append(
                f"award {award.id}: paid {award.paid} != its paid tranches "
                f"{paid_by_award.get(award.id, Decimal(0))}"
            )
        if award.paid + award.released > award.amount:
            problems.append(
                f"award {award.id}: paid {award.paid} + released {award.released} exceed "
                f"the award {award.amount}"
            )
    return report


@dataclass(frozen=True)
class Statement:
    pool: Pool
    balances: dict[str, Decimal]
    transactions: list[tuple[LedgerTransaction, Decimal]]


def pool_statement(*, session: Session, pool_id: str, limit: int = 50) -> Statement:
    """Balances by account kind, and the latest transactions with their effect on ``available``."""
    from huiqi.ledger.errors import PoolNotFound

    pool = session.get(Pool, pool_id)
    if pool is None:
        raise PoolNotFound(pool_id)
    kinds: dict[str, Decimal] = defaultdict(Decimal)
    accounts = {a.id: a.kind for a in session.scalars(select(Account).where(Account.pool_id == pool_id))}
    for acct_id, balance in account_balances(session=session, pool_id=pool_id).items():
        kinds[accounts[acct_id]] += balance
    available_id = f"{AccountKind.AVAILABLE.value}:{pool_id}"
    rows = session.execute(
        select(LedgerTransaction, fen_sum(Posting.amount))
        .outerjoin(
            Posting, (Posting.transaction_id == LedgerTransaction.id) & (Posting.account_id == available_id)
        )
        .where(LedgerTransaction.pool_id == pool_id)
        .group_by(LedgerTransaction.id)
        .order_by(LedgerTransaction.at.desc())
        .limit(limit)
    ).all()
    return Statement(pool, dict(kinds), [(t, to_yuan(d)) for t, d in reversed(rows)])
