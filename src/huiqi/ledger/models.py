"""Pools, double-entry accounts and transactions, reservations, awards, tranches, recoveries, idempotency
keys and the audit chain. Amounts are integer fen in the database (``Money``), Decimal yuan in Python."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.audit.models import AuditEntry, AuditHead  # noqa: F401 - re-exported
from huiqi.db.base import Base, new_id
from huiqi.db.types import Money, UTCDateTime, utcnow
from huiqi.ledger.plan import AccountKind as AccountKind  # re-exported: the kinds and statuses rows hold
from huiqi.ledger.plan import AwardStatus as AwardStatus
from huiqi.ledger.plan import ReservationStatus as ReservationStatus
from huiqi.ledger.plan import TrancheStatus as TrancheStatus
from huiqi.ledger.plan import TxnKind as TxnKind


class Pool(Base):
    """A fixed budget. ``available`` is a cache of the available account, and the row every award locks."""

    __tablename__ = "pools"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("available <= size", name="available_within_size"),
        CheckConstraint("size > 0", name="size_positive"),
    )

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[Decimal] = mapped_column(Money)
    available: Mapped[Decimal] = mapped_column(Money)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    per_firm_cap: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("pool_id", "kind", "firm_uscc"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    firm_uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)


class LedgerTransaction(Base):
    """One balanced movement of money. Never updated or deleted; a mistake is undone by a reversal."""

    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: Deliberately no FOREIGN KEY: every award would take a KEY SHARE lock on the one hot pool row, and
    #: on PostgreSQL many concurrent share-lockers of a row become MultiXacts that serialize on their SLRU
    #: (measured: most of the benchmark's waits). Written only from a pool row read in the same transaction;
    #: ``ledger verify`` checks that every reference resolves.
    pool_id: Mapped[str] = mapped_column(String(120), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    memo: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    award_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    tranche_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    reverses_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=True, unique=True
    )


class Posting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    #: No FOREIGN KEY for the same reason: every award posts to the pool's one ``available`` account.
    account_id: Mapped[str] = mapped_column(String(200), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)


class Reservation(Base):
    """Money held for a decision: pending until posted (it becomes an award) or voided (back to the pool)."""

    __tablename__ = "reservations"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), index=True)
    firm_uscc: Mapped[str] = mapped_column(String(18))
    application_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(10), default=ReservationStatus.PENDING.value)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Award(Base):
    """What a firm was granted from a pool, with running figures the verifier reconciles with postings."""

    __tablename__ = "awards"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("paid + released <= amount", name="paid_released_within_amount"),
        CheckConstraint("recovered <= clawed", name="recovered_within_clawed"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: No FOREIGN KEY to pools on purpose (see LedgerTransaction.pool_id); ``ledger verify`` checks it.
    pool_id: Mapped[str] = mapped_column(String(120), index=True)
    firm_uscc: Mapped[str] = mapped_column(String(18), index=True)
    application_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    reservation_id: Mapped[str | None] = mapped_column(
        ForeignKey("reservations.id"), nullable=True, unique=True
    )
    amount: Mapped[Decimal] = mapped_column(Money)
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    released: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    clawed: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    recovered: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    status: Mapped[str] = mapped_column(String(12), default=AwardStatus.ACTIVE.value)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(120))


class Tranche(Base):
    __tablename__ = "tranches"
    __table_args__ = (
        UniqueConstraint("award_id", "seq"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    award_id: Mapped[str] = mapped_column(ForeignKey("awards.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    milestone: Mapped[str] = mapped_column(Text)
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=TrancheStatus.PENDING.value)
    #: Set once, by the one transaction that paid it: a unique column is the database's "never twice".
    payment_txn_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=True, unique=True
    )
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecoveryInstallment(Base):
    __tablename__ = "recovery_installments"
    __table_args__ = (UniqueConstraint("award_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    award_id: Mapped[str] = mapped_column(ForeignKey("awards.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    due_date: Mapped[dt.date] = mapped_column(Date)


class FirmPoolTotal(Base):
    """A firm's running total from one pool: the row that makes the per-firm cap safe under concurrency."""

    __tablename__ = "firm_pool_totals"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    firm_uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    committed: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class ContractClaim(Base):
    """One claim per contract, across every pool: the primary key refuses a second."""

    __tablename__ = "contract_claims"

    firm_uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    award_id: Mapped[str] = mapped_column(ForeignKey("awards.id"), index=True)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(40))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_ledger_transactions_kind_tranche", LedgerTransaction.kind, LedgerTransaction.tranche_id)
