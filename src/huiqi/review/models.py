"""Reviewers, their assignments (with the conflict declaration) and their score sheets."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base, new_id
from huiqi.db.types import UTCDateTime, utcnow


class AssignmentStatus(StrEnum):
    ASSIGNED = "assigned"  # waiting for the reviewer's declaration
    CLEARED = "cleared"  # declared no conflict: may see and score
    CONFLICTED = "conflicted"  # declared (or found) a conflict: replaced by another reviewer
    SCORED = "scored"
    REASSIGNED = "reassigned"  # an officer gave the application to another reviewer (recorded with a reason)


class Reviewer(Base):
    """An expert. ``affiliations``: USCCs of firms they own, work for or are affiliated with;
    ``former_employers``: ``[{"uscc": ..., "until": "YYYY-MM-DD"}]``; ``fields``: sectors they review."""

    __tablename__ = "reviewers"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[str]] = mapped_column(JSON)
    affiliations: Mapped[list[str]] = mapped_column(JSON)
    former_employers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NamedCompetitor(Base):
    """A competitor the applicant names: reviewers tied to it are conflicted for this application."""

    __tablename__ = "review_competitors"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    firm_uscc: Mapped[str] = mapped_column(String(18), primary_key=True)


class Assignment(Base):
    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("reviewers.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    conflict_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    declared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The assignment this one replaced (after a declared conflict).
    replaces_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Score(Base):
    """One criterion's score on one assignment, as exact decimal text, with the reviewer's comment."""

    __tablename__ = "review_scores"

    assignment_id: Mapped[str] = mapped_column(ForeignKey("review_assignments.id"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
