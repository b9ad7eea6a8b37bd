"""Batches of awards decide each request in order and on its own, and match one-by-one granting exactly."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dbfixtures import Db, make_pool
from huiqi.audit import chain as audit
from huiqi.ledger import service
from huiqi.ledger.errors import (
    ContractAlreadyClaimed,
    FirmCapExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
)
from huiqi.ledger.models import Award, Pool
from huiqi.ledger.service import AwardRequest, TranchePlan
from huiqi.ledger.verify import verify_ledger


def req(firm: str, amount: str, key: str, contracts: tuple[str, ...] = (), tranches: int = 1) -> AwardRequest:
    value = Decimal(amount)
    plan: tuple[TranchePlan, ...] = ()
    if tranches > 1:
        part = (value / tranches).quantize(Decimal("0.01"))
        parts = [part] * (tranches - 1) + [value - part * (tranches - 1)]
        plan = tuple(TranchePlan(p, f"m{i}", dt.date(2025, 6, 1)) for i, p in enumerate(parts, 1))
    return AwardRequest(firm, value, key, plan, contracts)


def test_batch_decides_each_request_in_order(db: Db) -> None:
    make_pool(db, size="100.00", cap="60.00")
    batch = [
        req("F1", "50.00", "k1", ("C1",), tranches=2),
        req("F2", "70.00", "k2"),  # over the firm cap
        req("F2", "30.00", "k3", ("C1",)),  # another firm's contract C1: fine
        req("F1", "20.00", "k4"),  # F1 would reach 70 > cap 60
        req("F3", "30.00", "k5"),  # only 20 left
        req("F3", "20.00", "k6", ("X",)),
        req("F3", "20.00", "k6", ("X",)),  # same key, same body: the same award
        req("F3", "1.00", "k6"),  # same key, another body: refused
        req("F1", "0.001", "k7"),
        req("F3", "0.00", "k8", ("X",)),
    ]
    with db.session() as s:
        out = service.grant_awards(session=s, pool_id="pool", requests=batch, actor="bulk")
        s.commit()
    assert isinstance(out[0], Award) and out[0].amount == Decimal("50.00")
    assert isinstance(out[1], FirmCapExceeded)
    assert isinstance(out[2], Award)
    assert isinstance(out[3], FirmCapExceeded)
    assert isinstance(out[4], InsufficientFunds)
    assert isinstance(out[5], Award) and isinstance(out[6], Award) and out[6].id == out[5].id
    assert isinstance(out[7], IdempotencyConflict)
    assert isinstance(out[8], InvalidAmount) and isinstance(out[9], InvalidAmount)
    with db.session() as s:
        assert s.get_one(Pool, "pool").available == 0
        assert s.scalar(select(func.count()).select_from(Award)) == 3
        assert verify_ledger(session=s).ok
        assert audit.verify_chain(session=s).ok
    # the whole batch again: every award replays, nothing is written
    with db.session() as s:
        again = service.grant_awards(session=s, pool_id="pool", requests=batch[:1] + batch[2:3], actor="bulk")
        s.commit()
        assert [a.id for a in again if isinstance(a, Award)] == [out[0].id, out[2].id]
        assert s.scalar(select(func.count()).select_from(Award)) == 3
    with db.session() as s:
        [claimed] = service.grant_awards(
            session=s, pool_id="pool", requests=[req("F1", "1.00", "k9", ("C1",))], actor="bulk"
        )
        assert isinstance(claimed, ContractAlreadyClaimed)


_pools = itertools.count()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(
        st.tuples(st.integers(0, 4), st.integers(1, 5_000), st.integers(1, 3)), min_size=1, max_size=12
    ),
    split=st.integers(1, 6),
)
def test_batches_match_one_by_one(db: Db, amounts: list[tuple[int, int, int]], split: int) -> None:
    """The same requests granted one by one and in batches give the same decisions and the same pool."""
    n = next(_pools)
    one, many = f"one{n}", f"many{n}"
    make_pool(db, one, size="100.00", cap="80.00")
    make_pool(db, many, size="100.00", cap="80.00")
    requests = [
        req(f"F{f}", str(Decimal(a) / 100), f"k{i}", tranches=t) for i, (f, a, t) in enumerate(amounts)
    ]
    singles: list[bool] = []
    for r in requests:
        with db.session() as s:
            try:
                service.grant_award(
                    session=s,
                    pool_id=one,
                    firm_uscc=r.firm_uscc,
                    amount=r.amount,
                    actor="t",
                    idempotency_key=f"{one}:{r.idempotency_key}",
                    tranches=r.tranches or None,
                )
                s.commit()
                singles.append(True)
            except LedgerError:
                singles.append(False)
    batched: list[bool] = []
    for start in range(0, len(requests), split):
        chunk = [
            AwardRequest(r.firm_uscc, r.amount, f"{many}:{r.idempotency_key}", r.tranches)
            for r in requests[start : start + split]
        ]
        with db.session() as s:
            batched += [
                isinstance(x, Award)
                for x in service.grant_awards(session=s, pool_id=many, requests=chunk, actor="t")
            ]
            s.commit()
    assert batched == singles
    with db.session() as s:
        assert s.get_one(Pool, one).available == s.get_one(Pool, many).available
        assert verify_ledger(session=s).ok
        assert audit.verify_chain(session=s).ok
