"""Concurrency, proven: 32 workers ask for twice the pool at once. The real service never overspends; the
naive read-then-write version below (test-only, never used by production code) does, and the same checks
catch it, so these checks can fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dbfixtures import Db, make_pool
from huiqi.db import run_in_transaction
from huiqi.db.base import new_id
from huiqi.ledger import service
from huiqi.ledger.errors import InsufficientFunds, TrancheAlreadyPaid
from huiqi.ledger.models import Award, LedgerTransaction, Pool, Tranche
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import verify_ledger

WORKERS = 32
REQUESTS_PER_WORKER = 4
AMOUNT = Decimal("20.00")
POOL = Decimal("1000.00")  # 32 * 4 * 20 = 2,560 requested: more than twice the pool

Grant = Callable[[Db, str, str], bool]


def firm(i: int) -> str:
    # Any 18-character string is fine for the ledger; the firm profile validates USCCs elsewhere.
    return f"FIRM{i:014d}"


def real_grant(db: Db, firm_uscc: str, key: str) -> bool:
    def work(session: Session) -> bool:
        service.grant_award(
            session=session,
            pool_id="hot",
            firm_uscc=firm_uscc,
            amount=AMOUNT,
            actor="load",
            idempotency_key=key,
        )
        return True

    try:
        return run_in_transaction(db.factory, work)
    except InsufficientFunds:
        return False


def real_grant_at_commit(db: Db, firm_uscc: str, key: str) -> bool:
    def work(session: Session) -> bool:
        service.grant_award(
            session=session,
            pool_id="hot",
            firm_uscc=firm_uscc,
            amount=AMOUNT,
            actor="load",
            idempotency_key=key,
            settle_at_commit=True,
        )
        return True

    try:
        return run_in_transaction(db.factory, work)
    except InsufficientFunds:
        return False


def naive_grant(db: Db, firm_uscc: str, key: str) -> bool:
    """The bug this test exists for: read the balance, decide, write the balance back (lost update)."""
    with db.session() as s:
        available = s.scalars(select(Pool.available).where(Pool.id == "hot")).one()
        s.commit()
    time.sleep(0.02)  # widen the window between read and write so the race is reliable
    if available < AMOUNT:
        return False
    with db.session() as s:
        s.execute(update(Pool).where(Pool.id == "hot").values(available=available - AMOUNT))
        s.add(
            Award(
                id=new_id(),
                pool_id="hot",
                firm_uscc=firm_uscc,
                amount=AMOUNT,
                paid=Decimal(0),
                released=Decimal(0),
                clawed=Decimal(0),
                recovered=Decimal(0),
                status="active",
                granted_by="naive",
            )
        )
        s.commit()
    return True


def hammer(db: Db, grant: Grant) -> list[bool]:
    barrier = threading.Barrier(WORKERS)

    def worker(w: int) -> list[bool]:
        barrier.wait()
        return [grant(db, firm(w), f"w{w}-r{r}") for r in range(REQUESTS_PER_WORKER)]

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(worker, range(WORKERS)))
    return [ok for rs in results for ok in rs]


def check_invariants(db: Db, accepted: int) -> None:
    with db.session() as s:
        pool = s.get_one(Pool, "hot")
        awarded = s.scalars(select(Award.amount).where(Award.pool_id == "hot")).all()
        total = sum(awarded, Decimal(0))
        assert total <= pool.size, f"pool overspent: {total} awarded from a pool of {pool.size}"
        assert len(awarded) == accepted, "an accepted award is missing, or one was written twice"
        assert all(a == AMOUNT for a in awarded)
        assert pool.available == pool.size - total, "available does not match the awards"
        report = verify_ledger(session=s)
        assert report.ok, report.problems


@pytest.mark.slow
@pytest.mark.parametrize("grant", [real_grant, real_grant_at_commit], ids=["settle-now", "settle-at-commit"])
def test_concurrent_awards_never_overspend(db: Db, grant: Grant) -> None:
    make_pool(db, "hot", size=str(POOL))
    results = hammer(db, grant)
    assert WORKERS * REQUESTS_PER_WORKER * AMOUNT >= 2 * POOL
    assert sum(results) == POOL / AMOUNT  # every fitting request is accepted, none beyond
    check_invariants(db, sum(results))
    # resending every request (same keys, same bodies) changes nothing
    again = hammer(db, grant)
    assert sum(again) == sum(results)
    check_invariants(db, sum(results))


@pytest.mark.slow
def test_naive_read_then_write_is_caught(db: Db) -> None:
    make_pool(db, "hot", size=str(POOL))
    results = hammer(db, naive_grant)
    assert sum(results) * AMOUNT > POOL, "the naive version should have overspent the pool"
    with pytest.raises(AssertionError, match="pool overspent"):
        check_invariants(db, sum(results))


@pytest.mark.slow
def test_concurrent_payments_pay_each_tranche_once(db: Db) -> None:
    make_pool(db, "hot", size=str(POOL))
    import datetime as dt

    plan = [TranchePlan(Decimal("10.00"), f"m{i}", dt.date(2025, 6, 1)) for i in range(1, 5)]
    with db.session() as s:
        award = service.grant_award(
            session=s,
            pool_id="hot",
            firm_uscc=firm(1),
            amount="40.00",
            actor="t",
            idempotency_key="a",
            tranches=plan,
        )
        s.commit()
    barrier = threading.Barrier(WORKERS)

    def worker(w: int) -> int:
        barrier.wait()
        paid = 0
        for seq in range(1, 5):
            try:
                run_in_transaction(
                    db.factory,
                    lambda s, seq=seq: service.pay_tranche(  # type: ignore[misc]
                        session=s, award_id=award.id, seq=seq, actor="t", idempotency_key=f"pay-{w}-{seq}"
                    ),
                )
                paid += 1
            except TrancheAlreadyPaid:
                pass
        return paid

    with ThreadPoolExecutor(WORKERS) as pool:
        assert sum(pool.map(worker, range(WORKERS))) == 4
    with db.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "pay")
            )
            == 4
        )
        assert all(t.status == "paid" for t in s.scalars(select(Tranche)))
        assert verify_ledger(session=s).ok


@pytest.mark.slow
def test_concurrent_batches_never_overspend(db: Db) -> None:
    make_pool(db, "hot", size=str(POOL))
    barrier = threading.Barrier(WORKERS)

    def worker(w: int) -> int:
        barrier.wait()
        requests = [service.AwardRequest(firm(w), AMOUNT, f"b{w}-{r}") for r in range(REQUESTS_PER_WORKER)]

        def work(s: Session) -> int:
            results = service.grant_awards(session=s, pool_id="hot", requests=requests, actor="load")
            return sum(isinstance(r, Award) for r in results)

        return run_in_transaction(db.factory, work)

    with ThreadPoolExecutor(WORKERS) as pool:
        accepted = sum(pool.map(worker, range(WORKERS)))
    assert accepted == POOL / AMOUNT
    check_invariants(db, accepted)
