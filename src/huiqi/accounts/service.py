"""Users, logins (rate-limited), sessions and firm profiles. Services flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from huiqi.accounts import passwords
from huiqi.accounts.errors import (
    FirmProfileNotFound,
    InvalidCredentials,
    InvalidUser,
    TooManyAttempts,
    UserExists,
    UserNotFound,
)
from huiqi.accounts.models import FirmProfileRecord, LoginAttempt, RateEvent, Role, User, WebSession
from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms import Firm, firm_from_data, validate_uscc
from huiqi.firms.uscc import UsccError

#: A session lasts this long after login; logging in again makes a new one (the old token stops working).
SESSION_LIFETIME = dt.timedelta(hours=8)
#: Failed logins within WINDOW: more than this many for one user name, or for one address, are refused.
WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 30

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    firm_uscc: str | None = None,
    actor: str,
) -> User:
    """A new user; a firm member must name a valid firm (USCC), staff must not."""
    if not _USERNAME.match(username):
        raise InvalidUser(
            f"user name {username!r}: use 2-80 lower-case letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    try:
        role_ = Role(role)
    except ValueError:
        raise InvalidUser(f"role {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    if role_ is Role.FIRM_MEMBER:
        if not firm_uscc:
            raise InvalidUser("a firm member needs the firm's unified social credit code (firm_uscc)")
        try:
            validate_uscc(firm_uscc)
        except UsccError as exc:
            raise InvalidUser(f"firm_uscc: {exc}") from None
    elif firm_uscc:
        raise InvalidUser(f"a {role_.value} acts for the commission, not a firm; leave firm_uscc empty")
    passwords.check_strength(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(username)
    user = User(
        id=new_id(),
        username=username,
        display_name=display_name or username,
        password_hash=passwords.hash_password(password),
        role=role_.value,
        firm_uscc=firm_uscc,
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"user:{username}",
        action="created",
        payload={"role": role_.value, "firm_uscc": firm_uscc},
    )
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(*, session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(username)
    return user


def set_password(*, session: Session, username: str, password: str, actor: str) -> User:
    """A new password; every session of the user ends."""
    passwords.check_strength(password)
    user = get_user(session=session, username=username)
    user.password_hash = passwords.hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == f"user:{username}"))
    session.flush()
    audit.append(session=session, actor=actor, entity=f"user:{username}", action="password_set", payload={})
    return user


def _check_rate(session: Session, keys: Mapping[str, int], now: dt.datetime) -> None:
    since = now - WINDOW
    for key, limit in keys.items():
        count, oldest = session.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                LoginAttempt.key == key, LoginAttempt.at > since
            )
        ).one()
        if int(count) >= limit:
            oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
            raise TooManyAttempts(oldest_at + WINDOW - now)


def record_failure(*, session: Session, username: str, address: str, now: dt.datetime | None = None) -> None:
    """Count a failed login. Kept in its own transaction by the caller, so that the refusal does not roll
    it back."""
    now = now or utcnow()
    for key in (f"user:{username}", f"ip:{address}"):
        session.add(LoginAttempt(id=new_id(), key=key, at=now))
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - 4 * WINDOW))
    session.flush()


def money_key(user_id: str) -> str:
    """The rate-limit key of one user's money-moving writes."""
    return f"money:{user_id}"


def take_rate_slot(
    *, session: Session, key: str, limit: int, window: dt.timedelta, now: dt.datetime | None = None
) -> dt.timedelta | None:
    """Count one request under ``key`` if the window has room for it and return None; otherwise count
    nothing and return how long until a slot frees up.

    The check and the count are one transaction serialised per key (SQLite: the write lock taken at BEGIN
    IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock on the key), so concurrent workers let exactly
    ``limit`` requests through a window: never more, and never all refused because each saw the others'
    events first."""
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    session.execute(delete(RateEvent).where(RateEvent.key == key, RateEvent.at <= now - window))
    in_window = (RateEvent.key == key, RateEvent.at > now - window)
    count = int(session.scalar(select(func.count()).select_from(RateEvent).where(*in_window)) or 0)
    if count < limit:
        session.add(RateEvent(id=new_id(), key=key, at=now))
        session.flush()
        return None
    # One more fits once the (count - limit + 1) oldest have left the window.
    oldest = session.scalar(
        select(RateEvent.at)
        .where(*in_window)
        .order_by(RateEvent.at, RateEvent.id)
        .offset(count - limit)
        .limit(1)
    )
    if oldest is None:  # pragma: no cover - limit <= 0 is handled by the caller
        return dt.timedelta(seconds=1)
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
    return max(oldest + window - now, dt.timedelta(seconds=1))


@dataclass(frozen=True)
class Login:
    user: User
    token: str
    csrf_token: str
    expires_at: dt.datetime


def authenticate(
    *, session: Session, username: str, password: str, address: str, now: dt.datetime | None = None
) -> User:
    """The user if the password is right; refuses early (without hashing) when rate-limited."""
    now = now or utcnow()
    _check_rate(
        session, {f"user:{username}": MAX_FAILURES_PER_USER, f"ip:{address}": MAX_FAILURES_PER_ADDRESS}, now
    )
    user = session.scalar(select(User).where(User.username == username))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def start_session(
    *, session: Session, user: User, previous_token: str | None = None, now: dt.datetime | None = None
) -> Login:
    """A fresh session (new token, new CSRF token); the session the browser had before is ended, so a token
    planted before login is worthless after it."""
    now = now or utcnow()
    if previous_token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash_token(previous_token)))
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    session.add(
        WebSession(
            token_hash=_hash_token(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return Login(user, token, csrf, expires)


def resolve_session(
    *, session: Session, token: str, now: dt.datetime | None = None
) -> tuple[User, WebSession] | None:
    """The user and session behind a token, or None when unknown, expired or the user is disabled."""
    now = now or utcnow()
    row = session.execute(
        select(User, WebSession)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.token_hash == _hash_token(token))
    ).first()
    if row is None:
        return None
    user, web_session = row
    if web_session.expires_at <= now or not user.active:
        return None
    return user, web_session


def end_session(*, session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _hash_token(token)))
    session.flush()


def save_firm_profile(*, session: Session, data: Any, actor: str, source: str = "profile") -> Firm:
    """Validate (every problem named by its path) and store the firm's profile, replacing the previous one."""
    firm = firm_from_data(data, source=source)
    record = session.get(FirmProfileRecord, firm.uscc)
    payload = firm.model_dump(mode="json")
    if record is None:
        session.add(FirmProfileRecord(uscc=firm.uscc, profile=payload, updated_at=utcnow(), updated_by=actor))
    else:
        record.profile = payload
        record.updated_at = utcnow()
        record.updated_by = actor
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"firm:{firm.uscc}",
        action="profile_saved",
        payload={"sha256": hashlib.sha256(audit.canonical_json(payload).encode()).hexdigest()},
    )
    return firm


def get_firm_profile(*, session: Session, uscc: str) -> Firm:
    record = session.get(FirmProfileRecord, uscc)
    if record is None:
        raise FirmProfileNotFound(uscc)
    return firm_from_data(record.profile, source=f"stored profile of {uscc}")


def list_firm_profiles(
    *, session: Session, offset: int = 0, limit: int = 50
) -> tuple[int, list[FirmProfileRecord]]:
    total = int(session.scalar(select(func.count()).select_from(FirmProfileRecord)) or 0)
    rows = list(
        session.scalars(
            select(FirmProfileRecord).order_by(FirmProfileRecord.uscc).offset(offset).limit(limit)
        )
    )
    return total, rows
