"""The hash-chained audit log: every state change appends one link; any edit, deletion or reordering of a
stored link breaks the chain at that point, and ``verify_chain`` names the first such link."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from huiqi.audit.models import AuditEntry, AuditHead
from huiqi.db.types import utcnow

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
    if not text.endswith(',"seq":0}'):  # the hash would silently change meaning; checked even under -O
        raise RuntimeError(f"canonical audit row does not end with its seq: {text[-40:]!r}")
    return text[: -len("0}")]


def chain_hash(prev_hash: str, prefix: str, seq: int) -> str:
    return hashlib.sha256((prev_hash + prefix + f"{seq}}}").encode("utf-8")).hexdigest()


def link_hash(
    *, prev_hash: str, seq: int, at: dt.datetime, actor: str, entity: str, action: str, payload: str
) -> str:
    prefix = row_prefix(at=at, actor=actor, entity=entity, action=action, payload=payload)
    return chain_hash(prev_hash, prefix, seq)


# --- appending: links are queued during the transaction and chained at COMMIT --------------------------
#
# The head row serialises every writer, so whoever updates it holds that lock until COMMIT. A link is
# therefore not written when ``append`` is called: it is queued on the session, and the whole queue is
# chained (seq, prev_hash, hash, head update) by one statement in the session's ``before_commit``, after
# every other statement of the unit of work. The head is locked for that statement and the COMMIT only, and
# the statement locks nothing else, so a transaction holding the head never waits for another lock: lock
# order is "everything else, then the audit head", and no deadlock can pass through the head. Links of a
# rolled-back savepoint are dropped with it; links of a rolled-back transaction are never written.

_QUEUE = "huiqi.audit.queue"
_SAVEPOINTS = "huiqi.audit.savepoints"
_SEALED = "huiqi.audit.sealed"


@dataclass(frozen=True)
class QueuedLink:
    """A link waiting for COMMIT: everything but its seq and hashes, which only the head can give."""

    at: dt.datetime
    actor: str
    entity: str
    action: str
    payload: str  # canonical JSON text
    prefix: str  # the canonical row up to its seq (``row_prefix``)


# PostgreSQL: the whole queue in one statement. ``tip`` locks the head (READ COMMITTED returns its newest
# version after waiting for the lock), the recursive ``link`` chains the queued rows from it with the same
# hash the Python verifier computes, and the head moves to the last link. ``{prelude}``/``{gate}`` let
# ``ledger.pg_write`` put its pool charge in front (the pool first, then the head: the one lock order).
_PG_CHAIN = """
WITH RECURSIVE {prelude}
    item AS (
        SELECT * FROM unnest(
            CAST(%(l_prefixes)s AS text[]), CAST(%(l_ats)s AS timestamptz[]), CAST(%(l_actors)s AS text[]),
            CAST(%(l_entities)s AS text[]), CAST(%(l_actions)s AS text[]), CAST(%(l_payloads)s AS text[])
        ) WITH ORDINALITY AS i(prefix, at, actor, entity, action, payload, n)
    ),
    tip AS (
        SELECT seq, hash FROM audit_head WHERE id = 1 {gate} FOR NO KEY UPDATE
    ),
    link (n, seq, prev_hash, hash) AS (
        SELECT i.n, t.seq + 1, CAST(t.hash AS text),
               encode(sha256(convert_to(t.hash || i.prefix || (t.seq + 1)::text || '}}', 'UTF8')), 'hex')
        FROM tip t JOIN item i ON i.n = 1
        UNION ALL
        SELECT i.n, l.seq + 1, CAST(l.hash AS text),
               encode(sha256(convert_to(l.hash || i.prefix || (l.seq + 1)::text || '}}', 'UTF8')), 'hex')
        FROM link l JOIN item i ON i.n = l.n + 1
    ),
    written AS (
        INSERT INTO audit_log (seq, at, actor, entity, action, payload, prev_hash, hash)
        SELECT l.seq, i.at, i.actor, i.entity, i.action, i.payload, l.prev_hash, l.hash
        FROM link l JOIN item i ON i.n = l.n
        RETURNING seq, prev_hash, hash
    )
UPDATE audit_head h SET seq = w.seq, prev_hash = w.prev_hash, hash = w.hash
FROM (SELECT seq, prev_hash, hash FROM written ORDER BY seq DESC LIMIT 1) AS w
WHERE h.id = 1
"""


def pg_chain_sql(*, prelude: str = "", gate: str = "") -> str:
    """The chaining statement (driver-level SQL, pyformat), optionally after ``prelude`` CTEs
    (each ending with a comma) and with ``gate`` (``AND ...``) deciding whether any link is written."""
    return _PG_CHAIN.format(prelude=prelude, gate=gate)


def pg_chain_params(links: Sequence[QueuedLink]) -> dict[str, Any]:
    return {
        "l_prefixes": [link.prefix for link in links],
        "l_ats": [link.at for link in links],
        "l_actors": [link.actor for link in links],
        "l_entities": [link.entity for link in links],
        "l_actions": [link.action for link in links],
        "l_payloads": [link.payload for link in links],
    }


def ensure_head(session: Session) -> AuditHead:
    head = session.get(AuditHead, _HEAD_ID, populate_existing=True)
    if head is None:
        head = AuditHead(id=_HEAD_ID, seq=0, prev_hash=GENESIS, hash=GENESIS)
        session.add(head)
        session.flush()
    return head


def append(*, session: Session, actor: str, entity: str, action: str, payload: Mapping[str, Any]) -> None:
    """Queue one link; it is chained when the session commits (and vanishes if it rolls back)."""
    queue(
        session,
        at=utcnow(),
        actor=actor,
        entity=entity,
        action=action,
        payload=canonical_json(dict(payload)),
    )


def queue(session: Session, *, at: dt.datetime, actor: str, entity: str, action: str, payload: str) -> None:
    """``append`` for a caller that already has the timestamp and the canonical payload text."""
    if session.info.get(_SEALED):
        raise RuntimeError(
            "audit link queued after the transaction's links were sealed into its commit "
            "(grant_award(settle_at_commit=True) must be the transaction's last write)"
        )
    if not session.in_transaction():
        session.begin()  # the link belongs to a transaction, so that its rollback or commit decides its fate
    prefix = row_prefix(at=at, actor=actor, entity=entity, action=action, payload=payload)
    session.info.setdefault(_QUEUE, []).append(QueuedLink(at, actor, entity, action, payload, prefix))


def queued(session: Session) -> list[QueuedLink]:
    """The links this session's transaction will chain at COMMIT, in order."""
    return list(session.info.get(_QUEUE, ()))


def seal(session: Session) -> list[QueuedLink]:
    """Hand every queued link to a statement that runs with COMMIT (``ledger.pg_write``'s settle-at-commit);
    from now until the transaction ends, queueing another link is an error, since it could not be chained
    into the same commit."""
    links: list[QueuedLink] = session.info.pop(_QUEUE, [])
    session.info[_SEALED] = True
    return links


def write_queued(session: Session) -> None:
    """Chain the queued links now. Called by the session's ``before_commit``; it takes the head's lock."""
    links: list[QueuedLink] = session.info.pop(_QUEUE, [])
    if not links:
        return
    session.flush()  # every other row first: nothing may be written after the head is locked
    if session.get_bind().dialect.name == "postgresql":
        result = session.connection().exec_driver_sql(pg_chain_sql(), pg_chain_params(links))
        if result.rowcount != 1:
            raise RuntimeError("the audit chain has no head row; run `huiqi db upgrade`")
        return
    # SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    head = ensure_head(session)
    seq, prev = head.seq, head.hash
    for link in links:
        seq += 1
        digest = chain_hash(prev, link.prefix, seq)
        session.add(
            AuditEntry(
                seq=seq,
                at=link.at,
                actor=link.actor,
                entity=link.entity,
                action=link.action,
                payload=link.payload,
                prev_hash=prev,
                hash=digest,
            )
        )
        head.prev_hash, head.hash, head.seq = prev, digest, seq
        prev = digest
    session.flush()


@event.listens_for(Session, "before_commit")
def _chain_at_commit(session: Session) -> None:
    # also fired when a savepoint is released: only the outermost commit chains the links
    if not session.in_nested_transaction():
        write_queued(session)
        session.info[_SEALED] = True  # a link queued by a later hook of this commit would be lost: refuse it


@event.listens_for(Session, "after_commit")
def _check_chained(session: Session) -> None:
    # Only reachable by committing the outer transaction object while a savepoint is still open (its
    # before_commit then looks like a savepoint's): fail loudly rather than lose links silently.
    if not session.in_nested_transaction() and session.info.get(_QUEUE):
        raise RuntimeError("audit links were queued but not chained: commit with session.commit()")


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        if session.info.get(_SEALED):
            # huiqi.db's at-commit statements run at a savepoint's release and are dropped by its rollback:
            # the sealed links (and the pool charge with them) could be lost
            raise RuntimeError("no savepoint after grant_award(settle_at_commit=True): it must come last")
        session.info.setdefault(_SAVEPOINTS, {})[transaction] = len(session.info.get(_QUEUE, ()))


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    # fired after the transaction's after_transaction_end, so the savepoint's mark is still here
    if previous.nested:
        mark = session.info.get(_SAVEPOINTS, {}).pop(previous, None)
        links = session.info.get(_QUEUE)
        if mark is not None and links is not None:
            del links[mark:]
    elif previous.parent is None:
        _forget(session)


@event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: SessionTransaction) -> None:
    # a released savepoint's mark stays until the outer transaction ends: harmless, and a rolled-back one
    # still needs its mark in after_soft_rollback, which comes after this
    if transaction.parent is None and not transaction.nested:
        _forget(session)


def _forget(session: Session) -> None:
    for key in (_QUEUE, _SAVEPOINTS, _SEALED):
        session.info.pop(key, None)


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
