"""What every money/application command shares: one engine, one retried transaction, and errors that
become exit code 2 with the message and nothing written."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from sqlalchemy.orm import Session

from huiqi.applications.errors import ApplicationsError
from huiqi.db import make_engine, make_session_factory, run_in_transaction
from huiqi.db.errors import DatabaseError
from huiqi.firms.errors import ProfileError
from huiqi.ledger.errors import LedgerError
from huiqi.money import MoneyError, format_yuan, yuan
from huiqi.workflows.errors import WorkflowError

T = TypeVar("T")

#: Refusals a user can act on: printed, exit code 2, the transaction rolled back.
USER_ERRORS = (LedgerError, ApplicationsError, WorkflowError, MoneyError, ProfileError, DatabaseError)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # pragma: no cover - no user name in some containers
        return "cli"


def transact(work: Callable[[Session], T]) -> T:
    engine = make_engine(pool_size=2)
    try:
        return run_in_transaction(make_session_factory(engine), work)
    except USER_ERRORS as exc:
        fail(str(exc))
    finally:
        engine.dispose()


def read_only(work: Callable[[Session], T]) -> T:
    engine = make_engine(pool_size=2)
    try:
        with make_session_factory(engine)() as session:
            return work(session)
    except USER_ERRORS as exc:
        fail(str(exc))
    finally:
        engine.dispose()


def money(text: str, what: str) -> Decimal:
    try:
        amount = yuan(text, what=what)
    except MoneyError as exc:
        fail(str(exc))
    if amount <= 0:
        fail(f"{what} must be positive, got {text}")
    return amount


def date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{what}: expected a date like 2025-09-30, got {text!r}")


def moment(text: str, what: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{what}: expected a time like 2025-09-01T00:00:00+08:00, got {text!r}")
    if value.tzinfo is None:
        fail(f"{what}: {text!r} has no timezone; add one (+08:00 for Shanghai, Z for UTC)")
    return value


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_float=str)
    except OSError as exc:
        fail(f"{what}: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"{what}: {path} line {exc.lineno} column {exc.colno}: {exc.msg}")


def fmt(amount: Decimal) -> str:
    return format_yuan(amount)
