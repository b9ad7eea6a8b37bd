"""Same key, same answer, even when the requests arrive at once (issue 13).

N threads send one money move with one idempotency key through ``huiqi.app.idempotency.run_once`` (what
the API's ``idempotent`` calls) at the same moment, released by a barrier. The work is slowed down inside
its transaction, so that every duplicate arrives while the first is in flight. Every answer must be the
first one (the duplicates' marked ``replayed``), and the money must have moved once. Before the key was
claimed at the start of the transaction, the duplicates met the state the first left behind on PostgreSQL
and were refused (IllegalTransition, ReservationNotPending, TrancheAlreadyPaid, AwardNotActive): the
``refused`` check below catches exactly that.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dbfixtures import FIRM_A, Db, make_firm, make_pool, open_call, submit_checked
from huiqi.app.idempotency import run_once
from huiqi.app.store import Store
from huiqi.applications.models import Application
from huiqi.ledger.errors import IdempotencyConflict
from huiqi.ledger.models import Award, IdempotencyKey, LedgerTransaction, Reservation
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import verify_ledger
from huiqi.workflows import service as flows

N = 8
SLOW = 0.15  # seconds the work holds its transaction open after doing its part
Work = Callable[[Session, str], dict[str, Any]]


def at_once(store: Store, key: str, operation: str, body: dict[str, Any], work: Work) -> list[Any]:
    """``run_once`` with one key from N threads released together; each thread's answer or error."""
    barrier = threading.Barrier(N)

    def slow(s: Session, k: str) -> dict[str, Any]:
        result = work(s, k)
        time.sleep(SLOW)
        return result

    def one(_: int) -> Any:
        barrier.wait()
        try:
            return run_once(store, key=key, operation=operation, body=body, work=slow)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(one, range(N)))


def same_answer(answers: list[Any]) -> dict[str, Any]:
    """Every thread got the first answer: one did the work, the others replayed it."""
    refused = [a for a in answers if not isinstance(a, dict)]
    assert refused == [], f"a duplicate got a different verdict: {refused}"
    firsts = [a for a in answers if not a.get("replayed")]
    assert len(firsts) == 1, f"{len(firsts)} requests did the work"
    first = firsts[0]
    assert all({k: v for k, v in a.items() if k != "replayed"} == first for a in answers)
    return first


def count(db: Db, what: Any, *where: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(what).where(*where)) or 0)


@pytest.fixture
def store(db: Db) -> Store:
    make_pool(db, size="1000.00")
    open_call(db)
    return Store(engine=db.engine, factory=db.factory, url=db.url)


def decide(application_id: str) -> Work:
    def work(s: Session, _k: str) -> dict[str, Any]:
        d = flows.decide(session=s, application_id=application_id, actor="panel")
        return {"application_id": d.application_id, "state": d.state, "amount": str(d.amount)}

    return work


def grant(application_id: str) -> Work:
    plan = [
        TranchePlan(amount=Decimal("60.00"), milestone="start", due=dt.date(2025, 6, 30)),
        TranchePlan(amount=Decimal("40.00"), milestone="end", due=dt.date(2025, 12, 31)),
    ]

    def work(s: Session, _k: str) -> dict[str, Any]:
        award = flows.grant(session=s, application_id=application_id, actor="director", tranches=plan)
        return {"award_id": award.id, "amount": str(award.amount), "status": award.status}

    return work


def pay(application_id: str, seq: int) -> Work:
    def work(s: Session, k: str) -> dict[str, Any]:
        award, txn = flows.pay(
            session=s, application_id=application_id, seq=seq, actor="treasury", idempotency_key=k
        )
        return {"award_id": award.id, "award_status": award.status, "transaction_id": txn.id, "seq": seq}

    return work


def clawback(application_id: str) -> Work:
    def work(s: Session, k: str) -> dict[str, Any]:
        result, promoted = flows.clawback(
            session=s,
            application_id=application_id,
            actor="officer",
            reason="investors withdrew",
            idempotency_key=k,
            first_due=dt.date(2026, 2, 1),
        )
        return {
            "transaction_id": result.transaction.id,
            "released": str(result.released),
            "recoverable": str(result.recoverable),
            "promoted": [p.application_id for p in promoted],
        }

    return work


def test_the_same_key_at_once_decides_grants_pays_and_claws_back_once(db: Db, store: Store) -> None:
    app = submit_checked(db, make_firm(FIRM_A), "100.00")

    decided = same_answer(at_once(store, "decide-1", "api.decide", {"application": app}, decide(app)))
    assert decided["state"] == "approved"
    assert count(db, Reservation, Reservation.application_id == app) == 1

    granted = same_answer(at_once(store, "grant-1", "api.grant", {"application": app}, grant(app)))
    assert count(db, Award, Award.application_id == app) == 1
    award_id = granted["award_id"]

    paid = same_answer(at_once(store, "pay-1", "api.pay", {"application": app, "seq": 1}, pay(app, 1)))
    assert paid["seq"] == 1
    pays = (LedgerTransaction.award_id == award_id, LedgerTransaction.kind == "pay")
    assert count(db, LedgerTransaction, *pays) == 1

    clawed = same_answer(at_once(store, "claw-1", "api.clawback", {"application": app}, clawback(app)))
    assert (clawed["released"], clawed["recoverable"]) == ("40.00", "60.00")
    claws = (LedgerTransaction.award_id == award_id, LedgerTransaction.kind == "clawback")
    assert count(db, LedgerTransaction, *claws) == 1

    with db.session() as s:
        assert s.get_one(Application, app).state == "clawed_back"
        assert verify_ledger(session=s).ok
        stored = set(s.scalars(select(IdempotencyKey.key).where(IdempotencyKey.result == "")))
        assert stored == set(), "a key was left claimed without its answer"


def test_a_different_request_under_a_key_in_flight_is_refused_not_run(db: Db, store: Store) -> None:
    """Half the threads send the decide, half another request under the same key: whichever commits first
    owns the key, and every request of the other kind is refused as a conflict, never run."""
    app = submit_checked(db, make_firm(FIRM_A), "100.00")
    other = submit_checked(db, make_firm(FIRM_A), "50.00", contract="C2")
    barrier = threading.Barrier(N)

    def one(i: int) -> Any:
        target = app if i % 2 else other
        barrier.wait()
        try:
            return run_once(
                store,
                key="shared-1",
                operation="api.decide",
                body={"application": target},
                work=decide(target),
            )
        except IdempotencyConflict:
            return "conflict"

    with ThreadPoolExecutor(N) as pool:
        answers = list(pool.map(one, range(N)))
    done = [a for a in answers if isinstance(a, dict)]
    assert len(done) == N // 2 and answers.count("conflict") == N // 2
    assert len({a["application_id"] for a in done}) == 1
    assert count(db, Reservation) == 1
