"""What every command shares: the database as a ``huiqi.app`` store, opened once a process, and refusals
that become exit code 2 with the message and nothing written."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import typer

from huiqi.firms.io import TextFileError, load_json_text, read_text_any_encoding
from huiqi.money import MoneyError, format_yuan, yuan

if TYPE_CHECKING:
    from huiqi.app.store import Store

T = TypeVar("T")
P = ParamSpec("P")

#: One store per database URL a process has used (tests invoke commands in-process with another URL).
_STORES: dict[str, Store] = {}


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # pragma: no cover - no user name in some containers
        return "cli"


def store() -> Store:
    """The database of HUIQI_DATABASE_URL, opened once a process (the embedded file migrated if behind).
    The application layer's store and refusals are imported here, when a command opens the database, so
    that a command that needs none starts without them."""
    from huiqi.app.errors import USER_ERRORS
    from huiqi.app.store import Store
    from huiqi.config import get_settings

    url = get_settings().database_url
    if url not in _STORES:
        try:
            _STORES[url] = Store.open(url, pool_size=2)
        except USER_ERRORS as exc:
            fail(str(exc))
    return _STORES[url]


def call(use_case: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a ``huiqi.app`` use case; a refusal is printed with exit code 2 (its transaction rolled back)."""
    try:
        return use_case(*args, **kwargs)
    except Exception as exc:
        from huiqi.app.errors import USER_ERRORS  # when a use case refuses, not at every start

        if isinstance(exc, USER_ERRORS):
            fail(str(exc))
        raise


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
    """A JSON file a person gave (any encoding they save in, within the bounds of huiqi.firms.io); a file
    that cannot be read or is not such JSON is refused in one line."""
    try:
        return load_json_text(read_text_any_encoding(path))
    except TextFileError as exc:
        fail(f"{what}: {exc}")
    except ValueError as exc:
        fail(f"{what}: {path} {exc}")


#: The web shows times on Shanghai's clock; so does the CLI.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(value: dt.datetime | None, *, seconds: bool = False) -> str:
    """A moment on Shanghai's clock with its offset (as the web shows it, not UTC); '-' for none."""
    if value is None:
        return "-"
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(SHANGHAI).isoformat(sep=" ", timespec="seconds" if seconds else "minutes")


def fmt(amount: Decimal) -> str:
    return format_yuan(amount)
