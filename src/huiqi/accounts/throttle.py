"""Login throttling: growing delays after failed logins, by account and source address, never a hard lock.

Failures are counted under three keys (rows of ``login_attempts``), each with its own number of free
failures before the first delay:

* ``pair:<name>@<address>``: this name from this address (``PAIR_FREE``);
* ``ip:<address>``: any name from this address (``ADDRESS_FREE``), against guessing across accounts;
* ``user:<name>``: this name from anywhere (``ACCOUNT_FREE``), against guessing one account from many
  addresses; it holds back only addresses the account never logged in from (an ``ok:<name>@<address>``
  row, kept ``KNOWN_FOR``), so an attacker elsewhere cannot keep the owner out of their usual address.

Past a key's free failures each further one doubles the delay (``FIRST_DELAY``, 2x, 4x, ... at most
``WINDOW``), counted from the latest failure; failures are remembered ``MEMORY``. While a delay runs, a login
under that key is refused (429, ``Retry-After``) before the password is hashed, even a right one: the owner
at another address, or at their known address while only the account-wide delay runs, is not held back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from huiqi.accounts.models import LoginAttempt
from huiqi.db.base import new_id

#: The longest delay (and so the longest Retry-After a login can be told).
WINDOW = dt.timedelta(minutes=15)
#: The first delay, doubled at each further failure.
FIRST_DELAY = dt.timedelta(seconds=30)
#: How long a failure counts.
MEMORY = dt.timedelta(hours=1)
#: How long an address stays known for an account after a successful login from it.
KNOWN_FOR = dt.timedelta(days=30)
#: Free failures before the first delay, per key kind.
PAIR_FREE = 5
ADDRESS_FREE = 30
ACCOUNT_FREE = 10


def _name(username: str) -> str:
    return username[:80]


def _address(address: str) -> str:
    return address[:64]


def pair_key(username: str, address: str) -> str:
    """The failures of one name from one address."""
    return f"pair:{_name(username)}@{_address(address)}"


def account_key(username: str) -> str:
    """The failures of one name from anywhere."""
    return f"user:{_name(username)}"


def address_key(address: str) -> str:
    """The failures of any name from one address."""
    return f"ip:{_address(address)}"


def known_key(username: str, address: str) -> str:
    """The mark of a successful login of a name from an address."""
    return f"ok:{_name(username)}@{_address(address)}"


def delay_after(failures: int, free: int) -> dt.timedelta:
    """The delay after ``failures`` failures under a key with ``free`` free ones: none, then doubling."""
    if failures < free:
        return dt.timedelta(0)
    grown: dt.timedelta = FIRST_DELAY * (2 ** min(failures - free, 20))
    return min(grown, WINDOW)


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class KeyState:
    """The failures remembered under one key and when its delay ends (None: no delay)."""

    key: str
    failures: int
    delayed_until: dt.datetime | None


def key_state(session: Session, key: str, free: int, now: dt.datetime) -> KeyState:
    """How many failures ``key`` has within MEMORY and until when a login under it must wait."""
    count, last = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.key == key, LoginAttempt.at > now - MEMORY
        )
    ).one()
    failures = int(count or 0)
    wait = delay_after(failures, free)
    if last is None or not wait:
        return KeyState(key, failures, None)
    until = _aware(last) + wait
    return KeyState(key, failures, until if until > now else None)


def is_known(session: Session, username: str, address: str, now: dt.datetime) -> bool:
    """Whether the account logged in from this address within KNOWN_FOR."""
    found = session.scalar(
        select(LoginAttempt.id).where(
            LoginAttempt.key == known_key(username, address), LoginAttempt.at > now - KNOWN_FOR
        )
    )
    return found is not None


def login_wait(session: Session, username: str, address: str, now: dt.datetime) -> dt.timedelta | None:
    """How long a login of ``username`` from ``address`` must wait now, or None when it may go ahead."""
    rules = [(pair_key(username, address), PAIR_FREE), (address_key(address), ADDRESS_FREE)]
    if not is_known(session, username, address, now):
        rules.append((account_key(username), ACCOUNT_FREE))
    ends = [s.delayed_until for k, free in rules if (s := key_state(session, k, free, now)).delayed_until]
    return max(ends) - now if ends else None


def record_failure(session: Session, username: str, address: str, now: dt.datetime) -> None:
    """Count a failed login under its three keys; forget failures older than MEMORY."""
    for key in (pair_key(username, address), account_key(username), address_key(address)):
        session.add(LoginAttempt(id=new_id(), key=key, at=now))
    session.execute(
        delete(LoginAttempt).where(
            or_(
                (LoginAttempt.at < now - MEMORY) & ~LoginAttempt.key.startswith("ok:"),
                LoginAttempt.at < now - KNOWN_FOR,
            )
        )
    )
    session.flush()


def record_success(session: Session, username: str, address: str, now: dt.datetime) -> None:
    """Mark the address known for the account and forgive this address's failures for it (the owner got
    in); the account-wide failures stay, they may come from someone elsewhere."""
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.key.in_([known_key(username, address), pair_key(username, address)])
        )
    )
    session.add(LoginAttempt(id=new_id(), key=known_key(username, address), at=now))
    session.flush()


def clear_account(session: Session, username: str) -> int:
    """Forget every failure counted for the account (by name, and by name from any address); how many."""
    prefix = f"pair:{_name(username)}@"
    result = session.execute(
        delete(LoginAttempt).where(
            or_(
                LoginAttempt.key == account_key(username),
                LoginAttempt.key.startswith(prefix, autoescape=True),
            )
        )
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class AccountThrottle:
    """What an administrator sees of an account's failed logins: how many within MEMORY (from anywhere),
    and until when some address must wait (the latest delay running for the name)."""

    failures: int
    delayed_until: dt.datetime | None


def account_throttles(
    session: Session, usernames: Iterable[str], now: dt.datetime
) -> dict[str, AccountThrottle]:
    """The throttle of each named account (failures and the latest running delay), in one query."""
    names = {_name(u): u for u in usernames}
    rows = session.execute(
        select(LoginAttempt.key, LoginAttempt.at).where(
            LoginAttempt.at > now - MEMORY,
            or_(LoginAttempt.key.startswith("user:"), LoginAttempt.key.startswith("pair:")),
        )
    ).all()
    per_key: dict[str, list[dt.datetime]] = {}
    for key, at in rows:
        per_key.setdefault(key, []).append(_aware(at))
    out: dict[str, AccountThrottle] = {}
    for short, username in names.items():
        account = per_key.get(account_key(short), [])
        ends: list[dt.datetime] = []
        for key, ats in per_key.items():
            if key == account_key(short):
                free = ACCOUNT_FREE
            elif key.startswith(f"pair:{short}@"):
                free = PAIR_FREE
            else:
                continue
            wait = delay_after(len(ats), free)
            if wait and max(ats) + wait > now:
                ends.append(max(ats) + wait)
        out[username] = AccountThrottle(len(account), max(ends) if ends else None)
    return out
