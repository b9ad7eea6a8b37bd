"""Accounts: logging in and out, sessions and their CSRF tokens, users and their administration (roles,
unlock, password reset, disable and re-enable, each in the audit chain), the money-write rate limit, and the
firm profiles the commission keeps.

Logins are throttled by account and source address with growing delays (``huiqi.accounts.throttle``), never
locked: a delay caused from elsewhere does not keep the owner out of the address they log in from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.accounts import throttle
from huiqi.accounts.errors import TooManyMoneyWrites
from huiqi.accounts.models import FirmProfileRecord, Role, User
from huiqi.app.store import Store
from huiqi.db.types import utcnow
from huiqi.firms import Firm

__all__ = [
    "LOGIN_FIRST_DELAY",
    "LOGIN_MAX_DELAY",
    "ROLES",
    "SESSION_LIFETIME",
    "FirmProfilePage",
    "FirmProfileSummary",
    "LoginView",
    "Role",
    "SessionUser",
    "UserView",
    "change_role",
    "count_money_write",
    "create_user",
    "disable_user",
    "enable_user",
    "firm_profile",
    "firm_profiles",
    "firm_profiles_page",
    "list_users",
    "log_in",
    "log_out",
    "reset_password",
    "save_firm_profile",
    "session_user",
    "unlock_user",
]

#: A session lasts this long after login.
SESSION_LIFETIME = accounts.SESSION_LIFETIME
#: The first and the longest delay after failed logins (docs/security.md).
LOGIN_FIRST_DELAY = throttle.FIRST_DELAY
LOGIN_MAX_DELAY = throttle.WINDOW
#: Every role, for forms and the CLI's choices.
ROLES = tuple(r.value for r in Role)


# --- read models --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserView:
    """A user as administrators see them: who, which role (and firm), whether they may log in, and how many
    failed logins are held against the name with the latest delay running (unlock clears them)."""

    username: str
    display_name: str
    role: str
    firm_uscc: str | None
    active: bool = True
    failures: int = 0
    delayed_until: dt.datetime | None = None

    @classmethod
    def of(cls, u: User, state: throttle.AccountThrottle | None = None) -> UserView:
        """The view of a stored user (with its throttle when known)."""
        return cls(
            username=u.username,
            display_name=u.display_name,
            role=u.role,
            firm_uscc=u.firm_uscc,
            active=bool(u.active),
            failures=state.failures if state else 0,
            delayed_until=state.delayed_until if state else None,
        )


@dataclass(frozen=True)
class LoginView:
    """A new session: the token (cookie or bearer), the CSRF token for cookie writes, when it ends."""

    token: str
    csrf_token: str
    expires_at: dt.datetime
    user: UserView


@dataclass(frozen=True)
class SessionUser:
    """Who is behind a session token, and the session's CSRF token (what the web's authorize needs)."""

    user_id: str
    username: str
    display_name: str
    role: Role
    firm_uscc: str | None
    csrf_token: str


@dataclass(frozen=True)
class FirmProfileSummary:
    """One stored firm profile in a list (the keys of ``GET /api/v1/firms``)."""

    uscc: str
    name_zh: str | None
    name_en: str | None
    sector: str | None
    district: str | None
    updated_at: dt.datetime

    @classmethod
    def of(cls, r: FirmProfileRecord) -> FirmProfileSummary:
        """The summary of a stored profile."""
        p = r.profile
        return cls(
            r.uscc, p.get("name_zh"), p.get("name_en"), p.get("sector"), p.get("district"), r.updated_at
        )


@dataclass(frozen=True)
class FirmProfilePage:
    """A page of stored firm profiles and how many there are in all."""

    items: tuple[FirmProfileSummary, ...]
    total: int


# --- logging in and out -------------------------------------------------------------------------------------


def log_in(
    store: Store, *, username: str, password: str, address: str, previous_token: str | None = None
) -> LoginView:
    """Open a session for the right password, unless a login delay runs for this name and address."""

    def work(s: Session) -> LoginView | accounts.Refused:
        outcome = accounts.attempt_login(
            session=s, username=username, password=password, address=address, previous_token=previous_token
        )
        if isinstance(outcome, accounts.Refused):
            return outcome  # committed: the failure counts
        return LoginView(outcome.token, outcome.csrf_token, outcome.expires_at, UserView.of(outcome.user))

    result = store.write(work)
    if isinstance(result, accounts.Refused):
        raise result.error
    return result


def log_out(store: Store, *, token: str) -> None:
    """End the session of this token (logging out)."""
    store.write(lambda s: accounts.end_session(session=s, token=token))


def session_user(store: Store, *, token: str) -> SessionUser | None:
    """Who a request's session token belongs to, or None (unknown, expired, or the user disabled)."""

    def work(s: Session) -> SessionUser | None:
        found = accounts.resolve_session(session=s, token=token)
        if found is None:
            return None
        u, web_session = found
        return SessionUser(
            u.id, u.username, u.display_name, Role(u.role), u.firm_uscc, web_session.csrf_token
        )

    return store.read(work)


def count_money_write(store: Store, *, user_id: str, limit: int, window: dt.timedelta) -> None:
    """Count one money-moving write of the user, or refuse it uncounted (TooManyMoneyWrites) at the limit."""
    now = utcnow()
    wait = store.write(
        lambda s: accounts.take_rate_slot(
            session=s, key=accounts.money_key(user_id), limit=limit, window=window, now=now
        )
    )
    if wait is not None:
        raise TooManyMoneyWrites(limit, window, wait)


# --- users --------------------------------------------------------------------------------------------------


def create_user(
    store: Store,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    firm_uscc: str | None = None,
    actor: str,
) -> UserView:
    """Give a person an account with a role (a firm member for one firm), recorded in the audit chain."""
    return store.write(
        lambda s: UserView.of(
            accounts.create_user(
                session=s,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                firm_uscc=firm_uscc,
                actor=actor,
            )
        )
    )


def list_users(store: Store) -> tuple[UserView, ...]:
    """Every user with their role, whether enabled, and the failed logins held against them."""

    def work(s: Session) -> tuple[UserView, ...]:
        users = accounts.list_users(session=s)
        states = throttle.account_throttles(s, [u.username for u in users], utcnow())
        return tuple(UserView.of(u, states.get(u.username)) for u in users)

    return store.read(work)


def reset_password(store: Store, *, username: str, password: str, actor: str) -> UserView:
    """Give a user a new password: their sessions end and their failed logins are forgotten."""
    return store.write(
        lambda s: UserView.of(
            accounts.set_password(session=s, username=username, password=password, actor=actor)
        )
    )


def unlock_user(store: Store, *, username: str, actor: str) -> UserView:
    """Forget a user's failed logins, so no login delay holds them back from any address."""
    return store.write(lambda s: UserView.of(accounts.unlock(session=s, username=username, actor=actor)))


def disable_user(store: Store, *, username: str, actor: str) -> UserView:
    """Stop a user logging in, ending their sessions now (the last active administrator is refused)."""
    return store.write(lambda s: UserView.of(accounts.disable(session=s, username=username, actor=actor)))


def enable_user(store: Store, *, username: str, actor: str) -> UserView:
    """Let a disabled user log in again."""
    return store.write(lambda s: UserView.of(accounts.enable(session=s, username=username, actor=actor)))


def change_role(
    store: Store, *, username: str, role: str, firm_uscc: str | None = None, actor: str
) -> UserView:
    """Give a user another role (a firm member: the firm they act for), from their next request on."""
    return store.write(
        lambda s: UserView.of(
            accounts.set_role(session=s, username=username, role=role, firm_uscc=firm_uscc, actor=actor)
        )
    )


# --- firm profiles ------------------------------------------------------------------------------------------


def save_firm_profile(store: Store, *, data: Any, actor: str, source: str = "profile") -> Firm:
    """Keep a firm's profile with the commission (validated, every problem named by its path)."""
    return store.write(lambda s: accounts.save_firm_profile(session=s, data=data, actor=actor, source=source))


def firm_profile(store: Store, *, uscc: str) -> Firm:
    """The profile a firm keeps with the commission (FirmProfileNotFound when it has none)."""
    return store.read(lambda s: accounts.get_firm_profile(session=s, uscc=uscc))


def firm_profiles_page(store: Store, *, offset: int = 0, limit: int = 50) -> FirmProfilePage:
    """A page of the stored firm profiles, by credit code."""

    def work(s: Session) -> FirmProfilePage:
        total, rows = accounts.list_firm_profiles(session=s, offset=offset, limit=limit)
        return FirmProfilePage(tuple(FirmProfileSummary.of(r) for r in rows), total)

    return store.read(work)


def firm_profiles(store: Store, *, limit: int = 10_000) -> tuple[Firm, ...]:
    """Every stored firm profile (up to ``limit``), for views over all firms that keep one."""

    def work(s: Session) -> tuple[Firm, ...]:
        _, rows = accounts.list_firm_profiles(session=s, limit=limit)
        return tuple(accounts.get_firm_profile(session=s, uscc=r.uscc) for r in rows)

    return store.read(work)
