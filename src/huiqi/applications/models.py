"""Calls, applications with their state history, evidence files, and the rules engine's verdict."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base, new_id
from huiqi.db.types import Money, UTCDateTime, utcnow


class AllocationMode(StrEnum):
    FCFS = "fcfs"
    RANKED = "ranked"
    PRO_RATA = "pro_rata"


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHECKED = "checked"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WAITLISTED = "waitlisted"
    AWARDED = "awarded"
    PAYING = "paying"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    APPEALED = "appealed"
    CLAWED_BACK = "clawed_back"


_WITHDRAWABLE = (
    State.DRAFT,
    State.SUBMITTED,
    State.CHECKED,
    State.UNDER_REVIEW,
    State.WAITLISTED,
    State.APPROVED,
)

#: Every legal move. Anything else is refused; withdrawn and clawed_back are final.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.SUBMITTED}),
    State.SUBMITTED: frozenset({State.CHECKED}),
    State.CHECKED: frozenset({State.UNDER_REVIEW, State.REJECTED}),
    State.UNDER_REVIEW: frozenset({State.APPROVED, State.REJECTED, State.WAITLISTED}),
    State.WAITLISTED: frozenset({State.APPROVED, State.REJECTED}),
    State.APPROVED: frozenset({State.AWARDED, State.WAITLISTED}),
    State.REJECTED: frozenset({State.APPEALED}),
    State.APPEALED: frozenset({State.UNDER_REVIEW, State.REJECTED}),
    State.AWARDED: frozenset({State.PAYING, State.COMPLETED, State.CLAWED_BACK}),
    State.PAYING: frozenset({State.COMPLETED, State.CLAWED_BACK}),
    State.COMPLETED: frozenset({State.CLAWED_BACK}),
    State.WITHDRAWN: frozenset(),
    State.CLAWED_BACK: frozenset(),
}
for _s in _WITHDRAWABLE:
    TRANSITIONS[_s] = TRANSITIONS[_s] | {State.WITHDRAWN}


@dataclass(frozen=True)
class EligibilityVerdict:
    """What the rules engine said at the ``checked`` step, kept with the programme version it applied."""

    programme_id: str
    programme_version: str
    eligible: bool
    amount: Decimal
    explanation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "programme_id": self.programme_id,
            "programme_version": self.programme_version,
            "eligible": self.eligible,
            "amount": str(self.amount),
            "explanation": self.explanation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EligibilityVerdict:
        return cls(
            programme_id=str(data["programme_id"]),
            programme_version=str(data["programme_version"]),
            eligible=bool(data["eligible"]),
            amount=Decimal(str(data["amount"])),
            explanation=dict(data.get("explanation") or {}),
        )


class Call(Base):
    """A programme open for applications within a window, drawing on one pool."""

    __tablename__ = "calls"
    __table_args__ = (CheckConstraint("closes_at > opens_at", name="window_not_empty"),)

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(200))
    programme_version: Mapped[str] = mapped_column(String(60))
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), index=True)
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    allocation_mode: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (CheckConstraint("requested > 0", name="requested_positive"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    firm_uscc: Mapped[str] = mapped_column(String(18), index=True)
    #: ``Firm.model_dump(mode="json")`` at submission: the profile the decision was made on.
    firm_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``[{"contract_id": ..., "amount": "123.45"}]``: what is claimed, item by item.
    claims: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    requested: Mapped[Decimal] = mapped_column(Money)
    state: Mapped[str] = mapped_column(String(16), index=True)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Selection score for ranked calls, an exact decimal as text.
    score: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: Queue position on the waitlist (set when waitlisted; lower goes first).
    waitlist_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplicationEvent(Base):
    """One transition: who moved the application from which state to which, when, and why."""

    __tablename__ = "application_events"
    __table_args__ = (UniqueConstraint("application_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: The system's English words (what the audit chain hashes); a person's words as typed.
    reason: Mapped[str] = mapped_column(Text)
    #: The reason as a code and its data (``applications.reasons``), rendered in the reader's language;
    #: NULL on rows stored before codes existed (shown from ``reason``).
    reason_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason_args: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class EvidenceFile(Base):
    """A stored file, named by the sha256 of its content (the bytes live under ``settings.evidence_dir``)."""

    __tablename__ = "evidence_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplicationEvidence(Base):
    __tablename__ = "application_evidence"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_files.sha256"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
