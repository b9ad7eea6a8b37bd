"""Random sequences of awards, reservations, payments, clawbacks and recoveries: the ledger stays balanced,
the pool never goes below zero, and it holds exactly what a simple model says it should."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from dbfixtures import Db
from huiqi.db import run_in_transaction
from huiqi.ledger import service
from huiqi.ledger.errors import InsufficientFunds, LedgerError
from huiqi.ledger.models import Pool
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import verify_ledger

POOL_FEN = 100_000
_pool_ids = itertools.count()

amounts = st.integers(min_value=1, max_value=40_000)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(0, 3), amounts, st.integers(1, 3)),
        st.tuples(st.just("reserve"), st.integers(0, 3), amounts),
        st.tuples(st.just("post"), st.integers(0, 9)),
        st.tuples(st.just("void"), st.integers(0, 9)),
        st.tuples(st.just("pay"), st.integers(0, 9), st.integers(1, 3)),
        st.tuples(st.just("claw"), st.integers(0, 9)),
        st.tuples(st.just("recover"), st.integers(0, 9), amounts),
    ),
    max_size=14,
)


def _fen(n: int) -> Decimal:
    return Decimal(n) / 100


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_random_operations_keep_the_ledger_whole(db: Db, ops: list[tuple[object, ...]]) -> None:

    pool_id = f"p{next(_pool_ids)}"
    keys = itertools.count()
    with db.session() as s:
        service.create_pool(
            session=s,
            pool_id=pool_id,
            name=pool_id,
            size=_fen(POOL_FEN),
            period_start=dt.date(2025, 1, 1),
            period_end=dt.date(2025, 12, 31),
            actor="h",
            idempotency_key=f"{pool_id}:create",
        )
        s.commit()
    available = POOL_FEN
    awards: list[str] = []
    reservations: list[tuple[str, int]] = []

    def attempt(work: Callable[[Session], object]) -> object | None:
        try:
            return run_in_transaction(db.factory, work)
        except LedgerError as exc:
            return exc

    for op in ops:
        key = f"{pool_id}:{next(keys)}"
        kind = op[0]
        if kind == "grant":
            _, firm, fen, n = op
            assert isinstance(fen, int) and isinstance(n, int)
            parts = [fen // n + (1 if i < fen % n else 0) for i in range(n)]
            plan = [TranchePlan(_fen(p), f"m{i}", dt.date(2025, 6, 1)) for i, p in enumerate(parts) if p]

            def grant(
                s: Session,
                firm: object = firm,
                fen: int = fen,
                plan: list[TranchePlan] = plan,
                key: str = key,
            ) -> str:
                return service.grant_award(
                    session=s,
                    pool_id=pool_id,
                    firm_uscc=f"F{firm}",
                    amount=_fen(fen),
                    actor="h",
                    idempotency_key=key,
                    tranches=plan,
                ).id

            result = attempt(grant)
            if fen <= available:
                assert isinstance(result, str)
                awards.append(result)
                available -= fen
            else:
                assert isinstance(result, InsufficientFunds)
        elif kind == "reserve":
            _, firm, fen = op
            assert isinstance(fen, int)
            result = attempt(
                lambda s, firm=firm, fen=fen, key=key: (
                    service.reserve(
                        session=s,
                        pool_id=pool_id,
                        firm_uscc=f"F{firm}",
                        amount=_fen(fen),
                        actor="h",
                        idempotency_key=key,
                    ).id
                )
            )
            if fen <= available:
                assert isinstance(result, str)
                reservations.append((result, fen))
                available -= fen
            else:
                assert isinstance(result, InsufficientFunds)
        elif kind in ("post", "void") and reservations:
            idx = op[1]
            assert isinstance(idx, int)
            rid, fen = reservations[idx % len(reservations)]
            if kind == "post":
                result = attempt(
                    lambda s, rid=rid, key=key: (
                        service.post_reservation(
                            session=s, reservation_id=rid, actor="h", idempotency_key=key
                        ).id
                    )
                )
                if isinstance(result, str):
                    awards.append(result)
            else:
                result = attempt(
                    lambda s, rid=rid, key=key: service.void_reservation(
                        session=s, reservation_id=rid, actor="h", reason="r", idempotency_key=key
                    )
                )
                if not isinstance(result, LedgerError):
                    available += fen
        elif kind == "pay" and awards:
            _, idx, seq = op
            assert isinstance(idx, int) and isinstance(seq, int)
            attempt(
                lambda s, aid=awards[idx % len(awards)], seq=seq, key=key: service.pay_tranche(
                    session=s, award_id=aid, seq=seq, actor="h", idempotency_key=key
                )
            )
        elif kind == "claw" and awards:
            idx = op[1]
            assert isinstance(idx, int)
            result = attempt(
                lambda s, aid=awards[idx % len(awards)], key=key: service.clawback(
                    session=s,
                    award_id=aid,
                    actor="h",
                    reason="r",
                    idempotency_key=key,
                    first_due=dt.date(2026, 1, 1),
                )
            )
            if isinstance(result, service.ClawbackResult):
                available += int(result.released * 100)
        elif kind == "recover" and awards:
            _, idx, fen = op
            assert isinstance(idx, int) and isinstance(fen, int)
            result = attempt(
                lambda s, aid=awards[idx % len(awards)], fen=fen, key=key: service.record_recovery(
                    session=s, award_id=aid, amount=_fen(fen), actor="h", idempotency_key=key
                )
            )
            if not isinstance(result, LedgerError):
                available += fen
        with db.session() as s:
            assert s.get_one(Pool, pool_id).available == _fen(available)
            assert available >= 0
    with db.session() as s:
        report = verify_ledger(session=s)
        assert report.ok, report.problems
