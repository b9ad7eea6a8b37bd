"""The register in the database (firms with their history) and matching (runs, their eligible pairs, the
"you qualify" outbox; each run's full results are a Parquet file beside the database).

The register is stored as its columnar tables beside the database (``huiqi.matching.snapshot``, written
by the bulk import, ``huiqi.firms.bulk``); the database keeps each import (``register_imports``) and the
history of changed fields (``register_changes``). ``register_firms`` holds the registers stored before
that design, one row a firm: ``record`` is the firm's canonical JSON (its row of the columnar layout and
its child rows, money as exact decimal strings), ``digest`` its SHA-256; they are read through the
columnar copy, and the next import stores them as tables.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base, new_id
from huiqi.db.types import Money, UTCDateTime, utcnow


class RegisterFirm(Base):
    """One firm of the register, as last imported."""

    __tablename__ = "register_firms"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    record: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegisterImport(Base):
    """One import of a register file: where from, when, and what it did."""

    __tablename__ = "register_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(1000))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    firms_added: Mapped[int] = mapped_column(Integer, default=0)
    firms_changed: Mapped[int] = mapped_column(Integer, default=0)
    firms_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)


class RegisterChange(Base):
    """One changed field of one firm in one import (``field`` is a layout column or a child table)."""

    __tablename__ = "register_changes"
    __table_args__ = (Index("ix_register_changes_uscc_at", "uscc", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(String(32), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(1000))
    field: Mapped[str] = mapped_column(String(100))
    old: Mapped[str | None] = mapped_column(Text, nullable=True)
    new: Mapped[str | None] = mapped_column(Text, nullable=True)


class MatchRun(Base):
    """One ``huiqi match``: what was asked, what had to be recomputed, and where its results are.

    The run's whole firm x programme table is a Parquet file (``results_file``, beside the database): the
    database keeps the run, its eligible pairs (``match_eligible``) and the outbox, so that a firm's page
    and the API read little. ``report`` is the summary by programme, sector and district and each pool's
    pressure (JSON), made once when the run is stored."""

    __tablename__ = "match_runs"
    __table_args__ = (Index("ix_match_runs_on_started_at", "on", "started_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    on: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    register: Mapped[str] = mapped_column(String(1000))
    backend: Mapped[str] = mapped_column(String(20))
    firms: Mapped[int] = mapped_column(Integer, default=0)
    programmes: Mapped[str] = mapped_column(Text)  # comma-separated ids
    recomputed_programmes: Mapped[str] = mapped_column(Text, default="")
    recomputed_firms: Mapped[int] = mapped_column(Integer, default=0)
    rows_computed: Mapped[int] = mapped_column(Integer, default=0)
    notifications: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    eligible: Mapped[int] = mapped_column(Integer, default=0)
    #: The run's firm x programme table (Parquet); empty once retention removed it.
    results_file: Mapped[str] = mapped_column(String(1000), default="")
    report: Mapped[str | None] = mapped_column(Text, nullable=True)


class MatchEligible(Base):
    """An eligible firm x programme pair of a run, with its amount: what a firm's page and the pools read."""

    __tablename__ = "match_eligible"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    programme: Mapped[str] = mapped_column(String(120), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money)


class Notification(Base):
    """A "you qualify" message for a firm. The unique key (firm, programme, programme digest) makes
    re-runs idempotent: a firm hears once per version of a programme's rules, however often we match.

    It stores what the message needs (firm, programme, version, the digests of the rules and of the firm's
    data it was found with); the text is rendered when the message is read (``huiqi.matching.outbox``).
    ``message_zh``/``message_en`` hold the text of messages written before that (kept as they were)."""

    __tablename__ = "match_notifications"
    __table_args__ = (UniqueConstraint("uscc", "programme", "programme_digest"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    programme: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(60))
    programme_digest: Mapped[str] = mapped_column(String(64))
    firm_digest: Mapped[str] = mapped_column(String(64), default="")
    on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    run_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    message_zh: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_en: Mapped[str | None] = mapped_column(Text, nullable=True)
