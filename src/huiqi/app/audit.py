"""The hash-chained audit log: pages of links (one thing's history by its entity), and the chain's
verification, for auditors and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.app.store import Store
from huiqi.audit import chain
from huiqi.audit.models import AuditEntry


@dataclass(frozen=True)
class AuditLink:
    """One link of the chain: who did what to which thing, when, and the hashes that tie it to the last."""

    seq: int
    at: dt.datetime
    actor: str
    entity: str
    action: str
    payload: Any
    hash: str
    prev_hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditLink:
        """The view of a stored link."""
        return cls(e.seq, e.at, e.actor, e.entity, e.action, json.loads(e.payload), e.hash, e.prev_hash)


@dataclass(frozen=True)
class AuditPage:
    """A page of links, newest first, and how many there are in all."""

    total: int
    items: tuple[AuditLink, ...]


@dataclass(frozen=True)
class BrokenLink:
    """Where the chain breaks, and how."""

    seq: int
    message: str


@dataclass(frozen=True)
class ChainCheck:
    """The chain walked from its first link: how many links hold, and the first that does not."""

    ok: bool
    checked: int
    problem: BrokenLink | None


def audit_log(store: Store, *, limit: int = 50, offset: int = 0, entity: str | None = None) -> AuditPage:
    """The latest links, newest first; ``entity`` (e.g. ``award:<id>``) narrows to one thing's history."""

    def work(s: Session) -> AuditPage:
        q = select(AuditEntry)
        if entity:
            q = q.where(AuditEntry.entity == entity)
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = s.scalars(q.order_by(AuditEntry.seq.desc()).offset(offset).limit(limit))
        return AuditPage(total, tuple(AuditLink.of(e) for e in rows))

    return store.read(work)


def verify_chain(store: Store) -> ChainCheck:
    """Walk the chain; the first broken link (edited, deleted or reordered) is reported."""
    report = store.read(lambda s: chain.verify_chain(session=s))
    problem = report.problem
    return ChainCheck(
        problem is None, report.checked, None if problem is None else BrokenLink(problem.seq, problem.message)
    )
