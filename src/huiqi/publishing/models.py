"""A programme draft: a programme file's text (and its test cases) kept in the database with its author,
state, reviewer and times, until it is published into the served programmes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base
from huiqi.db.types import UTCDateTime, utcnow


class ProgrammeDraft(Base):
    """One version of a programme on its way to publication (``publishing.states``)."""

    __tablename__ = "programme_drafts"
    __table_args__ = (Index("ix_programme_drafts_programme", "programme_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    #: the draft's own test cases (a ``*.tests.yaml`` text; empty: none beyond the pack's)
    tests: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    author: Mapped[str] = mapped_column(String(120))
    reviewer: Mapped[str | None] = mapped_column(String(120), nullable=True)
    #: the last rejection's or the withdrawal's reason
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
