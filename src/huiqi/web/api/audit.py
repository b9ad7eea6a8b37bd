"""The hash-chained audit log: pages of links, and verification of the whole chain."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.audit.models import AuditEntry
from huiqi.web.api.common import Limit, Offset, Page, page
from huiqi.web.security import state_of

router = APIRouter(prefix="/api/v1", tags=["audit"])


def audit_page(s: Session, limit: int, offset: int, entity: str | None) -> Page[dict[str, Any]]:
    q = select(AuditEntry)
    if entity:
        q = q.where(AuditEntry.entity == entity)
    total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = s.scalars(q.order_by(AuditEntry.seq.desc()).offset(offset).limit(limit))
    items = [
        {
            "seq": e.seq,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "entity": e.entity,
            "action": e.action,
            "payload": json.loads(e.payload),
            "hash": e.hash,
            "prev_hash": e.prev_hash,
        }
        for e in rows
    ]
    return page(items, total, limit, offset)


@router.get("/audit", response_model=Page[dict[str, Any]])
def audit_log(
    request: Request, limit: Limit = 50, offset: Offset = 0, entity: str | None = None
) -> Page[dict[str, Any]]:
    """Links newest first; ``entity`` (e.g. ``award:<id>``) narrows to one thing's history."""
    return state_of(request).read(lambda s: audit_page(s, limit, offset, entity))


@router.get("/audit/verify")
def audit_verify(request: Request) -> dict[str, Any]:
    """Walk the chain; the first broken link (edited, deleted or reordered) is reported."""
    report = state_of(request).read(lambda s: audit.verify_chain(session=s))
    problem = report.problem
    return {
        "ok": problem is None,
        "checked": report.checked,
        "problem": None if problem is None else {"seq": problem.seq, "message": problem.message},
    }
