"""Users, logins (rate-limited), sessions and firm profiles. Services flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from huiqi.accounts import passwords, throttle
from huiqi.accounts.errors import (
    AccountDisabled,
    FirmProfileNotFound,
    InvalidCredentials,
    InvalidUser,
    LastAdmin,
    TooManyAttempts,
    UserExists,
    UserNotFound,
)
from huiqi.accounts.models import FirmProfileRecord, RateEvent, Role, User, WebSession
from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms import Firm, firm_from_data, validate_uscc
from huiqi.firms.uscc import UsccError

#: A session lasts this long after login; logging in again makes a new one (the old token stops working).
SESSION_LIFETIME = dt.timedelta(hours=8)
#: The longest login delay (``throttle.WINDOW``); failures of one name from one address before the first.
WINDOW = throttle.WINDOW
MAX_FAILURES_PER_USER = throttle.PAIR_FREE
MAX_FAILURES_PER_ADDRESS = throttle.ADDRESS_FREE

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _role_and_firm(role: Role | str, firm_uscc: str | None) -> tuple[Role, str | None]:
    """The role, and the firm a firm member acts for (staff act for none): refused when they do not fit."""
    try:
        role_ = Role(role)
    except ValueError:
        raise InvalidUser(
            f"role {role!r} is not one of {', '.join(r.value for r in Role)}",
            why="bad_role",
            role=role,
            roles=[r.value for r in Role],
        ) from None
    if role_ is Role.FIRM_MEMBER:
        if not firm_uscc:
            raise InvalidUser(
                "a firm member needs the firm's unified social credit code (firm_uscc)", why="firm_needs_uscc"
            )
        try:
            validate_uscc(firm_uscc)
        except UsccError as exc:
            raise InvalidUser(f"firm_uscc: {exc}", why="bad_uscc", uscc=firm_uscc) from None
    elif firm_uscc:
        raise InvalidUser(
            f"a {role_.value} acts for the commission, not a firm; leave firm_uscc empty",
            why="commission_role",
            role=role_.value,
        )
    return role_, firm_uscc or None


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
            "letter or digit",
            why="bad_username",
            username=username,
        )
    role_, firm_uscc = _role_and_firm(role, firm_uscc)
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
    _record(session, actor, username, "created", role=role_.value, firm_uscc=firm_uscc)
    return user


def list_users(*, session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(*, session: Session, username: str) -> User:
    """The user of that name, or UserNotFound."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(username)
    return user


def _record(session: Session, actor: str, username: str, action: str, **payload: Any) -> None:
    """One link of the audit chain about a user."""
    audit.append(session=session, actor=actor, entity=f"user:{username}", action=action, payload=payload)


def _end_sessions(session: Session, user: User) -> int:
    result = session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return int(getattr(result, "rowcount", 0) or 0)


def set_password(*, session: Session, username: str, password: str, actor: str) -> User:
    """A new password; every session of the user ends and its failed logins are forgotten."""
    passwords.check_strength(password)
    user = get_user(session=session, username=username)
    user.password_hash = passwords.hash_password(password)
    _end_sessions(session, user)
    throttle.clear_account(session, username)
    session.flush()
    _record(session, actor, username, "password_set")
    return user


def _refuse_last_admin(session: Session, user: User, change: str) -> None:
    if user.role != Role.ADMIN.value or not user.active:
        return
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise LastAdmin(user.username, change)


def unlock(*, session: Session, username: str, actor: str) -> User:
    """Forget the account's failed logins, so no delay holds it back from any address."""
    user = get_user(session=session, username=username)
    cleared = throttle.clear_account(session, username)
    _record(session, actor, username, "unlocked", failures_forgotten=cleared)
    return user


def disable(*, session: Session, username: str, actor: str) -> User:
    """The user can no longer log in; every session of theirs ends now."""
    user = get_user(session=session, username=username)
    _refuse_last_admin(session, user, "disabling them")
    user.active = False
    ended = _end_sessions(session, user)
    session.flush()
    _record(session, actor, username, "disabled", sessions_ended=ended)
    return user


def enable(*, session: Session, username: str, actor: str) -> User:
    """A disabled user can log in again (with the password they had)."""
    user = get_user(session=session, username=username)
    user.active = True
    session.flush()
    _record(session, actor, username, "enabled")
    return user


def set_role(
    *, session: Session, username: str, role: Role | str, firm_uscc: str | None = None, actor: str
) -> User:
    """Another role (and the firm a firm member acts for); it holds from the user's next request on."""
    user = get_user(session=session, username=username)
    role_, firm_uscc = _role_and_firm(role, firm_uscc)
    if role_.value != user.role:
        _refuse_last_admin(session, user, f"making them {role_.value}")
    before = {"role": user.role, "firm_uscc": user.firm_uscc}
    user.role = role_.value
    user.firm_uscc = firm_uscc
    session.flush()
    _record(
        session,
        actor,
        username,
        "role_changed",
        to={"role": role_.value, "firm_uscc": firm_uscc},
        **{"from": before},
    )
    return user


@dataclass(frozen=True)
class Refused:
    """A login refused after the password was checked: the failure is counted in the same transaction,
    which the caller commits before raising ``error``."""

    error: InvalidCredentials


def attempt_login(
    *,
    session: Session,
    username: str,
    password: str,
    address: str,
    previous_token: str | None = None,
    now: dt.datetime | None = None,
) -> Login | Refused:
    """A new session if the password is right and no delay runs; refused (TooManyAttempts) before hashing
    while one does; a wrong password (or a disabled account) counted and returned as ``Refused``.

    Logins of one name are serialised (PostgreSQL: an advisory lock on the name; SQLite: every transaction
    holds the write lock), so parallel guesses each see the failures before them."""
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"login:{username}", 0))))
    wait = throttle.login_wait(session, username, address, now)
    if wait is not None:
        raise TooManyAttempts(wait)
    user = session.scalar(select(User).where(User.username == username))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        throttle.record_failure(session, username, address, now)
        return Refused(InvalidCredentials())
    if not user.active:
        return Refused(AccountDisabled(username))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    throttle.record_success(session, username, address, now)
    return start_session(session=session, user=user, previous_token=previous_token, now=now)


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
