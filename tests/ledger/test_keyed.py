"""The keyed primitive every money operation runs through (ledger/keyed.py): replay, work, remember, the
pool's change, the audit link, in that order, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

from dbfixtures import Db, make_pool
from huiqi.audit.models import AuditEntry
from huiqi.ledger.errors import IdempotencyConflict, InsufficientFunds
from huiqi.ledger.keyed import Done, keyed
from huiqi.ledger.models import IdempotencyKey, Pool


@contextmanager
def statements(db: Db) -> Iterator[list[str]]:
    """The SQL sent while the block runs, first word and table, in order."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()).lower())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


class Counted:
    """An operation's work that takes ``amount`` from the pool, counting its runs."""

    def __init__(self, amount: Decimal) -> None:
        self.amount = amount
        self.runs = 0

    def __call__(self) -> Done[str]:
        self.runs += 1
        return Done(
            f"value {self.runs}",
            {"n": self.runs},
            entity="pool:pool",
            action="tested",
            payload={"amount": self.amount},
            pool_id="pool",
            pool_change=-self.amount,
        )


def run(db: Db, work: Counted, *, key: str = "k", body: Mapping[str, Any] | None = None) -> str:
    with db.session() as s:
        value = keyed(
            s,
            key=key,
            operation="test_op",
            body=body or {"amount": work.amount},
            actor="tester",
            replay=lambda done: f"replayed {done['n']}",
            work=work,
        )
        s.commit()
        return value


def _count(db: Db, model: Any, **where: Any) -> int:
    with db.session() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(s.scalar(query) or 0)


def test_work_once_then_replay_then_conflict(db: Db) -> None:
    make_pool(db)
    work = Counted(Decimal("10.00"))
    with statements(db) as sent:
        assert run(db, work) == "value 1"
    # the key's answer is stored before the pool's row is locked, and the pool's UPDATE is the work's last
    # statement: the audit link is chained at COMMIT, after it
    key_at = next(i for i, s in enumerate(sent) if s.startswith("insert into idempotency_keys"))
    pool_at = max(i for i, s in enumerate(sent) if s.startswith("update pools"))
    audit_at = min(i for i, s in enumerate(sent) if "audit" in s)
    assert key_at < pool_at < audit_at, sent
    with db.session() as s:
        assert s.get_one(Pool, "pool").available == Decimal("990.00")
        stored = s.get_one(IdempotencyKey, "k")
        assert json.loads(stored.result) == {"n": 1}
        link = s.scalars(select(AuditEntry).where(AuditEntry.action == "tested")).one()
        assert (link.actor, link.entity, json.loads(link.payload)) == (
            "tester",
            "pool:pool",
            {"amount": "10.00"},
        )

    assert run(db, work) == "replayed 1"  # the same request: the first answer, the work not run again
    assert work.runs == 1
    with pytest.raises(IdempotencyConflict):
        run(db, work, body={"amount": "11.00"})
    assert work.runs == 1
    assert _count(db, AuditEntry, action="tested") == 1
    assert _count(db, IdempotencyKey, operation="test_op") == 1


def test_a_refused_pool_change_stores_no_key_and_no_link(db: Db) -> None:
    make_pool(db)
    work = Counted(Decimal("5000.00"))
    with pytest.raises(InsufficientFunds):
        run(db, work)
    assert _count(db, IdempotencyKey, operation="test_op") == 0
    assert _count(db, AuditEntry, action="tested") == 0
    # nothing was kept, so the key is free: a request that fits is done under it
    assert run(db, Counted(Decimal("1.00"))) == "value 1"


def test_a_key_written_by_the_work_is_not_written_again(db: Db) -> None:
    make_pool(db)
    with db.session() as s:

        def work() -> Done[str]:
            from huiqi.ledger import idempotency

            body = {"x": 1}
            idempotency.remember(session=s, key="w", operation="test_op", body=body, result={"n": 7})
            return Done("done", {"n": 7}, entity="pool:pool", action="tested", payload={}, key_written=True)

        value = keyed(
            s, key="w", operation="test_op", body={"x": 1}, actor="t", replay=lambda d: "again", work=work
        )
        s.commit()
    assert value == "done"
    assert _count(db, IdempotencyKey, key="w") == 1
