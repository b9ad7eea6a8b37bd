"""Money moves run once per idempotency key: the sequence replay -> work -> remember, written once.

Every use case that moves money (grant, pay, decide, claw back, recover, close a pool) runs its work
through ``run_once`` with the key the client sent, in the same transaction as the key's record, so the
same key always gets the same answer and a retry can never move money twice, even when the duplicate
arrives while the first is still in flight: the key is taken at the start of the transaction, so the
duplicate waits for the first to commit and then replays its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from huiqi.app.store import Store
from huiqi.ledger import idempotency


def run_once(
    store: Store,
    *,
    key: str,
    operation: str,
    body: Mapping[str, Any],
    work: Callable[[Session, str], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``work`` once per key, in one transaction with the key's record; a replay returns the stored
    answer with ``replayed: true``, the same key with a different request is refused
    (``IdempotencyConflict``). ``work`` gets a key derived from the client's for the ledger operations.

    The key is claimed before the work: a duplicate sent at the same time blocks on it until the first
    commits and then replays its answer, instead of meeting the state the first left behind (a 409 such as
    ``ReservationNotPending``); if the first fails, the duplicate does the work itself."""

    def tx(s: Session) -> dict[str, Any]:
        done = idempotency.claim(session=s, key=key, operation=operation, body=body)
        if done is not None:
            return {**done, "replayed": True}
        result = work(s, f"{key}:{operation}")
        idempotency.settle(session=s, key=key, result=result)
        return result

    return store.write(tx)
