"""What the API routers share: pagination, JSON bodies without floats, idempotent money writes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Header, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from huiqi.ledger import idempotency
from huiqi.web.security import Principal
from huiqi.web.state import AppState

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
Offset = Annotated[int, Query(ge=0, description="items to skip")]

_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,120}$")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="required: a unique id for this operation (e.g. a UUID); repeating the request with "
        "the same key returns the first answer instead of moving money twice",
    ),
]


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


def idempotent(
    st: AppState,
    key: str,
    operation: str,
    body: dict[str, Any],
    work: Callable[[Session, str], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``work`` once per key, in the same transaction as the key's record in the ledger's idempotency
    table; a replay returns the stored answer, the same key with a different request is refused (409).
    ``work`` gets a key derived from the client's for the ledger operations it calls."""
    stored_key = f"api:{key}"

    def tx(s: Session) -> dict[str, Any]:
        done = idempotency.replay(session=s, key=stored_key, operation=operation, body=body)
        if done is not None:
            return {**done, "replayed": True}
        result = work(s, f"{stored_key}:{operation}")
        idempotency.remember(session=s, key=stored_key, operation=operation, body=body, result=result)
        return result

    return st.write(tx)


async def json_body(request: Request) -> Any:
    """The JSON body with decimals kept as text (money must never pass through a float)."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null", parse_float=str)
    except json.JSONDecodeError as exc:
        raise HTTPException(
            422, detail=f"body: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def actor(p: Principal) -> str:
    return f"web:{p.username}"


def text_amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
