"""One keyed operation: replay -> work -> remember -> the pool's change -> the audit link, written once.

Every money operation of ``ledger.service`` (create a pool, reserve, post or void a reservation, grant, pay
a tranche, miss a milestone, claw back, record or reverse a recovery, reverse a payment) is the work of one
``keyed`` call. The primitive owns what they all share, in its one safe order: a key seen before answers as
it did (``replay``; the same key with a different request is ``IdempotencyConflict`` and nothing is
written); otherwise the operation's work runs (checks, the plan, the writer) and says what it did
(``Done``); the key's answer is stored in the same transaction; the pool's conditional UPDATE comes last
but one, so its row lock is held for the fewest statements before COMMIT; the audit link is queued last
and chained at COMMIT (``huiqi.audit.chain``). It flushes and never commits: the caller owns the
transaction (``huiqi.app.idempotency.run_once`` above it claims the client's key for the whole use case).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.ledger import idempotency
from huiqi.ledger.write import move_pool

T = TypeVar("T")


@dataclass(frozen=True)
class Done(Generic[T]):
    """What an operation's work did, so the primitive can finish it the same way for every operation.

    ``answer`` is stored under the key (a replay is rebuilt from it); ``entity``, ``action`` and
    ``payload`` are the audit link's; ``pool_id`` and ``pool_change`` (``plan.pool_change``) the pool's
    conditional UPDATE, if the operation moves the pool's available balance; ``key_written``: the writer
    already inserted the key's row with its own rows (an award's, ``write.award_rows``)."""

    value: T
    answer: Mapping[str, Any]
    entity: str
    action: str
    payload: Mapping[str, Any]
    pool_id: str | None = None
    pool_change: Decimal = Decimal(0)
    key_written: bool = False


def keyed(
    session: Session,
    *,
    key: str,
    operation: str,
    body: Mapping[str, Any],
    actor: str,
    replay: Callable[[Mapping[str, Any]], T],
    work: Callable[[], Done[T]],
) -> T:
    """Run one money operation under its idempotency key, so that every operation replays, remembers,
    moves the pool and audits in the same order: the value ``replay`` rebuilds from the stored answer
    when this exact request was done before, else the value of ``work``, finished here."""
    stored = idempotency.replay(session=session, key=key, operation=operation, body=body)
    if stored is not None:
        return replay(stored)
    done = work()
    if not done.key_written:
        idempotency.remember(session=session, key=key, operation=operation, body=body, result=done.answer)
    if done.pool_id is not None:
        move_pool(session, done.pool_id, done.pool_change)  # after the inserts: the pool's lock last
    else:
        session.flush()  # the work's ORM changes before the audit link, as with the pool's statement
    audit.append(session=session, actor=actor, entity=done.entity, action=done.action, payload=done.payload)
    return done.value
