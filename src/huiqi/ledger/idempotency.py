"""Idempotency keys: the same key and body return the first result; a different body is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from huiqi.audit.chain import canonical_json
from huiqi.db.types import utcnow
from huiqi.ledger.errors import IdempotencyConflict
from huiqi.ledger.models import IdempotencyKey


def request_hash(operation: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"operation": operation, "body": dict(body)}).encode()).hexdigest()


def replay(*, session: Session, key: str, operation: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored result when this exact request was already done, None when the key is new."""
    stored = session.get(IdempotencyKey, key)
    if stored is None:
        return None
    return check_stored(
        key=key,
        operation=operation,
        body=body,
        stored_operation=stored.operation,
        stored_hash=stored.request_hash,
        stored_result=stored.result,
    )


def check_stored(
    *,
    key: str,
    operation: str,
    body: Mapping[str, Any],
    stored_operation: str,
    stored_hash: str,
    stored_result: str,
) -> dict[str, Any]:
    """The stored result if the stored request is this one; a different request under the key is refused."""
    if stored_operation != operation or stored_hash != request_hash(operation, body):
        raise IdempotencyConflict(key, operation)
    result: dict[str, Any] = json.loads(stored_result)
    return result


def key_row(
    key: str, operation: str, body: Mapping[str, Any], result: Mapping[str, Any] | None, at: dt.datetime
) -> dict[str, Any]:
    """A key's row: the request's hash and its answer (None: claimed, the answer still to come)."""
    return {
        "key": key,
        "operation": operation,
        "request_hash": request_hash(operation, body),
        "result": "" if result is None else canonical_json(dict(result)),
        "created_at": at,
    }


def remember(
    *, session: Session, key: str, operation: str, body: Mapping[str, Any], result: Mapping[str, Any]
) -> None:
    """Store the key in the same transaction as the work: both are written, or neither is.

    Two concurrent requests with one key both miss ``replay``; the primary key lets one of them commit
    and turns the other into a unique violation, which the retry loop re-runs into a replay.
    """
    session.execute(insert(IdempotencyKey), [key_row(key, operation, body, result, utcnow())])


def claim(*, session: Session, key: str, operation: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored result when this exact request was already done; otherwise the key is taken for this
    transaction, before any work, and None is returned (``settle`` stores the answer at the end).

    Taking the key first is what makes a duplicate sent while the first is in flight wait for it: its own
    INSERT of the key blocks on the first's row until that commits, then fails as a unique violation, which
    the retry loop turns into a replay of the first answer (on SQLite, BEGIN IMMEDIATE has already made it
    wait). If the first rolls back, the duplicate takes the key and does the work itself."""
    done = replay(session=session, key=key, operation=operation, body=body)
    if done is not None:
        return done
    session.execute(insert(IdempotencyKey), [key_row(key, operation, body, None, utcnow())])
    return None


def settle(*, session: Session, key: str, result: Mapping[str, Any]) -> None:
    """Store the answer under a key taken by ``claim``, in the same transaction as the work."""
    session.execute(
        update(IdempotencyKey).where(IdempotencyKey.key == key).values(result=canonical_json(dict(result))),
        execution_options={"synchronize_session": False},
    )
