"""What the API routers share: pagination, read models as JSON, JSON bodies without floats, the keys of
idempotent money writes."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Header, HTTPException, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, Strict

from huiqi.app.jsonable import as_json
from huiqi.web.security import Principal

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


def page(items: list[T], total: int, limit: int, offset: int) -> Page[T]:
    nxt = offset + limit if offset + limit < total else None
    return Page[T](items=items, total=total, limit=limit, offset=offset, next_offset=nxt)


Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
#: bounded so that the database can take it (SQLite's INTEGER is 64-bit; a larger one was a 500)
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="items to skip")]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")


def _day_text(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    raise ValueError("expected a date like 2025-12-01")


def _moment_text(value: Any) -> Any:
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _ISO_MOMENT.fullmatch(value)):
        return value
    raise ValueError("expected a date and time with its zone, like 2025-09-01T00:00:00+08:00")


def _whole(value: Any) -> Any:
    # a number: 3 or 3.0 (JSON Schema's integer), never "3" or true
    if isinstance(value, (bool, str)):
        raise ValueError("expected a whole number")
    return value


#: Dates, times, numbers and flags as the API documents them, nothing else: pydantic's lax mode would also
#: take 0 or "0" for 1970-01-01, "1" for 1 and 0 for false, and act on what the client never meant.
Day = Annotated[dt.date, BeforeValidator(_day_text)]
Moment = Annotated[dt.datetime, BeforeValidator(_moment_text)]
Whole = Annotated[int, BeforeValidator(_whole)]
Flag = Annotated[bool, Strict()]
#: A reason recorded with a move (the history and the audit chain need words, not blanks), without a NUL
#: character (PostgreSQL text cannot hold one; the schema says so, so no valid request is refused by the DB).
Reason = Annotated[
    str, Field(min_length=1, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$", description="why, in words")
]

_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,120}$")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=_KEY.pattern,
        description="required: a unique id for this operation (e.g. a UUID); repeating the request with "
        "the same key returns the first answer instead of moving money twice",
    ),
]


def json_object_body(description: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself (``json_body``: decimals kept as text),
    so that the document still says a JSON object is expected."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": list(required), "description": description}
                }
            },
        }
    }


class WebError(Exception):
    """A refusal made by the web layer itself (status chosen here, message kept)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def require_key(key: str | None) -> str:
    if key is None:
        raise HTTPException(
            428,
            detail="this request moves money: send an Idempotency-Key header (a new UUID per intended "
            "operation) so that a retry cannot do it twice",
        )
    if not _KEY.match(key):
        raise HTTPException(
            422, detail="Idempotency-Key: use 8-120 characters from letters, digits, '.', '_', ':' and '-'"
        )
    return key


def api_key(key: str) -> str:
    """The client's Idempotency-Key as the use cases keep it (``api:`` keeps it apart from the CLI's)."""
    return f"api:{key}"


def answer(view: Any) -> Any:
    """A read model as the API answers it (amounts as decimal strings, times in ISO 8601)."""
    return as_json(view)


async def json_body(request: Request) -> Any:
    """The JSON body with decimals kept as text (money must never pass through a float)."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null", parse_float=str)
    except json.JSONDecodeError as exc:
        raise HTTPException(
            422, detail=f"body: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:  # was a 500
        raise HTTPException(422, detail=f"body: not UTF-8 text (byte {exc.start}): send JSON") from None


def actor(p: Principal) -> str:
    return f"web:{p.username}"
