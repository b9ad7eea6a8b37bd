"""Users, sessions, login attempts, and the profile each firm keeps with the commission."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huiqi.db.base import Base, new_id
from huiqi.db.types import UTCDateTime, utcnow


class Role(StrEnum):
    FIRM_MEMBER = "firm_member"
    REVIEWER = "reviewer"
    OFFICER = "officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: argon2id encoded hash (parameters inside), never the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    #: The firm a firm member acts for; None for staff.
    firm_uscc: Mapped[str | None] = mapped_column(String(18), nullable=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A login. Only the sha256 of the token is stored, so a copy of the table cannot be replayed."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class LoginAttempt(Base):
    """Failed logins, counted per user name and per client address to slow down guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: ``user:<name>`` or ``ip:<address>``
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RateEvent(Base):
    """One request counted under a rate limit other than login (``money:<user id>`` for money-moving
    writes); a sliding window counts the rows of a key, so the limit holds across workers."""

    __tablename__ = "rate_events"
    __table_args__ = (Index("ix_rate_events_key_at", "key", "at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FirmProfileRecord(Base):
    """The profile a firm keeps with the commission: what the calculator and matching read for it, and what
    an application snapshots. Validated by ``huiqi.firms`` before it is stored."""

    __tablename__ = "firm_profiles"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))


class CallFileText(Base):
    """A designation call's YAML file (rubric, quotas, budget) as the officer uploaded it through the web.

    The CLI takes ``--call-file PATH`` on every review and selection command; a browser has no path, so the
    web keeps the validated text per call (replaced by a new upload until the call is selected)."""

    __tablename__ = "web_call_files"

    call_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(120))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
