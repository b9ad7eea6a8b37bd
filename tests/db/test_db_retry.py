"""The retry loop: conflicts with concurrent writers are retried with a bound; mistakes are not retried."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from dbfixtures import Db
from huiqi.db import run_in_transaction
from huiqi.db.engine import is_retryable
from huiqi.db.errors import TooManyRetries


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def test_what_is_retryable() -> None:
    assert is_retryable(OperationalError("x", {}, sqlite3.OperationalError("database is locked")))
    assert is_retryable(OperationalError("x", {}, _PgError("40001")))  # serialization failure
    assert is_retryable(OperationalError("x", {}, _PgError("40P01")))  # deadlock
    assert is_retryable(IntegrityError("x", {}, _PgError("23505")))  # a racing idempotency key
    assert not is_retryable(IntegrityError("x", {}, _PgError("23514")))  # a CHECK: a real refusal
    assert not is_retryable(ValueError("no"))


def test_bounded_retries_then_success_or_give_up(sqlite_db: Db) -> None:
    calls = 0

    def flaky(session: Session) -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OperationalError("UPDATE pools", {}, sqlite3.OperationalError("database is locked"))
        return "done"

    assert run_in_transaction(sqlite_db.factory, flaky, base_delay=0.0001) == "done"
    assert calls == 3

    def always_locked(session: Session) -> str:
        raise OperationalError("UPDATE pools", {}, sqlite3.OperationalError("database is locked"))

    with pytest.raises(TooManyRetries, match="gave up after 4 attempts"):
        run_in_transaction(sqlite_db.factory, always_locked, attempts=4, base_delay=0.0001)

    def mistake(session: Session) -> str:
        nonlocal calls
        calls += 1
        raise IntegrityError("INSERT", {}, _PgError("23502"))

    calls = 0
    with pytest.raises(IntegrityError):
        run_in_transaction(sqlite_db.factory, mistake, base_delay=0.0001)
    assert calls == 1
