"""The hash-chained audit log: pages of links, and verification of the whole chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from huiqi.app import audit
from huiqi.web.api.common import Limit, Offset, Page, answer, page
from huiqi.web.security import state_of

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=Page[dict[str, Any]])
def audit_log(
    request: Request, limit: Limit = 50, offset: Offset = 0, entity: str | None = None
) -> Page[dict[str, Any]]:
    """Links newest first; ``entity`` (e.g. ``award:<id>``) narrows to one thing's history."""
    listing = audit.audit_log(state_of(request).store, limit=limit, offset=offset, entity=entity)
    return page([answer(e) for e in listing.items], listing.total, limit, offset)


@router.get("/audit/verify")
def audit_verify(request: Request) -> dict[str, Any]:
    """Walk the chain; the first broken link (edited, deleted or reordered) is reported."""
    return dict(answer(audit.verify_chain(state_of(request).store)))
