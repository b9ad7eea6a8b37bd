"""The hash-chained audit log: every state change appends one link; any edit, deletion or reordering of a
stored link breaks the chain at that point, and ``verify_chain`` names the first such link."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from huiqi.audit.models import AuditEntry, AuditHead
from huiqi.db.types import UTCDateTime, utcnow

GENESIS = "0" * 64
_HEAD_ID = 1


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"audit payload: {type(value).__name__} is not JSON; convert it first")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: one text for one value, on every backend and Python."""
    return json.dumps(value, default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_prefix(*, at: dt.datetime, actor: str, entity: str, action: str, payload: str) -> str:
    """The canonical row up to its seq: keys sort, and "seq" sorts last, so row = prefix + seq + "}"."""
    text = canonical_json(
        {
            "seq": 0,
            "at": _timestamp(at),
            "actor": actor,
            "entity": entity,
            "action": action,
            "payload": payload,
        }
    )
    assert text.endswith(',"seq":0}')
    return text[: -len("0}")]


def chain_hash(prev_hash: str, prefix: str, seq: int) -> str:
    return hashlib.sha256((prev_hash + prefix + f"{seq}}}").encode("utf-8")).hexdigest()


def link_hash(
    *, prev_hash: str, seq: int, at: dt.datetime, actor: str, entity: str, action: str, payload: str
) -> str:
    prefix = row_prefix(at=at, actor=actor, entity=entity, action=action, payload=payload)
    return chain_hash(prev_hash, prefix, seq)


# PostgreSQL: the whole append is one statement. SET expressions read the head row's newest version (after
# waiting for its lock), so seq and hash always extend the committed chain.
_PG_APPEND = text(
    """
    WITH head AS (
        UPDATE audit_head
        SET seq = seq + 1,
            prev_hash = hash,
            hash = encode(sha256(convert_to(hash || :prefix || (seq + 1)::text || '}', 'UTF8')), 'hex')
        WHERE id = 1
        RETURNING seq, prev_hash, hash
    )
    INSERT INTO audit_log (seq, at, actor, entity, action, payload, prev_hash, hash)
    SELECT seq, :at, :actor, :entity, :action, :payload, prev_hash, hash FROM head
    RETURNING seq
    """
).bindparams(bindparam("at", type_=UTCDateTime()))


def ensure_head(session: Session) -> None:
    if session.get(AuditHead, _HEAD_ID) is None:
        session.add(AuditHead(id=_HEAD_ID, seq=0, prev_hash=GENESIS, hash=GENESIS))
        session.flush()


def append(*, session: Session, actor: str, entity: str, action: str, payload: Mapping[str, Any]) -> int:
    """Append one link and return its seq. Locks the chain's head row until commit, so call it last."""
    at = utcnow()
    body = canonical_json(dict(payload))
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        prefix = row_prefix(at=at, actor=actor, entity=entity, action=action, payload=body)
        seq = session.execute(
            _PG_APPEND,
            {"prefix": prefix, "at": at, "actor": actor, "entity": entity, "action": action, "payload": body},
        ).scalar_one_or_none()
        if seq is None:
            raise RuntimeError("the audit chain has no head row; run `huiqi db upgrade`")
        return int(seq)
    # SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    head = session.get(AuditHead, _HEAD_ID, populate_existing=True)
    if head is None:
        ensure_head(session)
        return append(session=session, actor=actor, entity=entity, action=action, payload=payload)
    seq = head.seq + 1
    digest = link_hash(
        prev_hash=head.hash, seq=seq, at=at, actor=actor, entity=entity, action=action, payload=body
    )
    session.add(
        AuditEntry(
            seq=seq,
            at=at,
            actor=actor,
            entity=entity,
            action=action,
            payload=body,
            prev_hash=head.hash,
            hash=digest,
        )
    )
    head.prev_hash, head.hash, head.seq = head.hash, digest, seq
    session.flush()
    return seq


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    message: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_links(entries: Iterable[AuditEntry], *, head: tuple[int, str] | None) -> ChainReport:
    """Walk the chain in stored order and stop at the first link that does not follow from the last."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(
                checked,
                ChainProblem(
                    entry.seq,
                    f"link {expected_seq} is missing or out of order (found seq {entry.seq} instead)",
                ),
            )
        if entry.prev_hash != prev_hash:
            return ChainReport(
                checked,
                ChainProblem(
                    entry.seq,
                    f"link {entry.seq} does not point at link {entry.seq - 1}: prev_hash "
                    f"{entry.prev_hash[:12]}... but link {entry.seq - 1} hashes to {prev_hash[:12]}...",
                ),
            )
        digest = link_hash(
            prev_hash=entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            entity=entry.entity,
            action=entry.action,
            payload=entry.payload,
        )
        if digest != entry.hash:
            return ChainReport(
                checked,
                ChainProblem(
                    entry.seq,
                    f"link {entry.seq} was altered: its content hashes to {digest[:12]}... "
                    f"but it records {entry.hash[:12]}...",
                ),
            )
        prev_hash = entry.hash
        expected_seq += 1
        checked += 1
    if head is not None and (head[0] != checked or head[1] != prev_hash):
        return ChainReport(
            checked,
            ChainProblem(
                checked + 1,
                f"the chain ends at link {checked} but its head records link {head[0]}: "
                "links at the end were deleted",
            ),
        )
    return ChainReport(checked, None)


def verify_chain(*, session: Session, batch: int = 5000) -> ChainReport:
    """Check every link against the one before it and the head; read in seq order, in batches."""
    head_row = session.get(AuditHead, _HEAD_ID)
    head = (head_row.seq, head_row.hash) if head_row is not None else (0, GENESIS)

    def stream() -> Iterable[AuditEntry]:
        last = 0
        while True:
            rows = session.scalars(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    return check_links(stream(), head=head)


def recent(*, session: Session, limit: int = 50, entity: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    return list(reversed(session.scalars(query).all()))
