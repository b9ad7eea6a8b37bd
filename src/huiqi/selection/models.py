"""A call's selection run, one decision per application (with its reason), and the designations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base, new_id
from huiqi.db.types import Money, UTCDateTime, utcnow


class Outcome(StrEnum):
    DESIGNATED = "designated"
    RESERVE = "reserve"
    NOT_SELECTED = "not_selected"
    INELIGIBLE = "ineligible"


class SelectionRun(Base):
    """One optimiser run for a call (a call is selected once; changes after it are promotions)."""

    __tablename__ = "selection_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    #: sha256 of the call file's canonical content, so the run can be tied to the rules it applied.
    config_digest: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    budget: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    spent: Mapped[Decimal] = mapped_column(Money)
    total_score: Mapped[str] = mapped_column(String(40))
    seconds: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SelectionDecision(Base):
    """What the run decided for one application, and why (``reason``: code, en, zh, figures)."""

    __tablename__ = "selection_decisions"

    run_id: Mapped[str] = mapped_column(ForeignKey("selection_runs.id"), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    firm_uscc: Mapped[str] = mapped_column(String(18))
    sector: Mapped[str] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(40), nullable=True)
    outcome: Mapped[str] = mapped_column(String(14))
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sector_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[str | None] = mapped_column(String(40), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    reserve_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[dict[str, Any]] = mapped_column(JSON)


class Designation(Base):
    """A designated firm of a call: active until it withdraws or loses a condition."""

    __tablename__ = "designations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), unique=True)
    firm_uscc: Mapped[str] = mapped_column(String(18), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sector: Mapped[str] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(40), nullable=True)
    rank: Mapped[int] = mapped_column(Integer)
    sector_rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(10))  # active | ended
    source: Mapped[str] = mapped_column(String(10))  # selection | promotion
    replaces_application_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
