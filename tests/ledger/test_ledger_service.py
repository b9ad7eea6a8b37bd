from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dbfixtures import FIRM_A, FIRM_B, Db, make_pool
from huiqi.ledger import service
from huiqi.ledger.errors import (
    ContractAlreadyClaimed,
    FirmCapExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    MilestoneNotDue,
    ReservationNotPending,
    TrancheAlreadyPaid,
    TranchePlanInvalid,
)
from huiqi.ledger.models import LedgerTransaction, Pool, Posting
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import account_balances, verify_ledger
from huiqi.money import MoneyError

TWO = [
    TranchePlan(Decimal("60.00"), "office opened", dt.date(2025, 3, 31)),
    TranchePlan(Decimal("40.00"), "sales reached", dt.date(2025, 9, 30)),
]


def _verify(db: Db) -> None:
    with db.session() as s:
        report = verify_ledger(session=s)
    assert report.ok, report.problems


def _available(db: Db, pool_id: str = "pool") -> Decimal:
    with db.session() as s:
        return s.get_one(Pool, pool_id).available


def test_award_pay_complete(db: Db) -> None:
    make_pool(db)
    with db.session() as s:
        award = service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="100.00",
            actor="t",
            idempotency_key="a1",
            tranches=TWO,
            contracts=["C1"],
        )
        s.commit()
    assert _available(db) == Decimal("900.00")
    with db.session() as s:
        service.pay_tranche(session=s, award_id=award.id, seq=1, actor="t", idempotency_key="p1")
        s.commit()
    with db.session() as s, pytest.raises(TrancheAlreadyPaid):
        service.pay_tranche(session=s, award_id=award.id, seq=1, actor="t", idempotency_key="p1-again")
    with db.session() as s:
        service.pay_tranche(session=s, award_id=award.id, seq=2, actor="t", idempotency_key="p2")
        s.commit()
        assert service.get_award(session=s, award_id=award.id).status == "completed"
        balances = account_balances(session=s, pool_id="pool")
    assert balances[f"paid:pool:{FIRM_A}"] == Decimal("100.00")
    assert balances[f"payable:pool:{FIRM_A}"] == 0
    _verify(db)


def test_pool_never_overspent_and_refusal_writes_nothing(db: Db) -> None:
    make_pool(db, size="100.00")
    with db.session() as s:
        service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="70.00", actor="t", idempotency_key="a1"
        )
        s.commit()
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(LedgerTransaction))
    with db.session() as s, pytest.raises(InsufficientFunds, match=r"cannot cover 40.00 yuan"):
        service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_B, amount="40.00", actor="t", idempotency_key="a2"
        )
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerTransaction)) == before
    assert _available(db) == Decimal("30.00")
    _verify(db)


def test_idempotency_same_body_same_result_different_body_refused(db: Db) -> None:
    make_pool(db)
    with db.session() as s:
        first = service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="10.00", actor="t", idempotency_key="k"
        )
        s.commit()
    with db.session() as s:
        again = service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="10.00", actor="t", idempotency_key="k"
        )
        s.commit()
    assert again.id == first.id
    assert _available(db) == Decimal("990.00")
    with db.session() as s, pytest.raises(IdempotencyConflict, match="different grant_award"):
        service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="11.00", actor="t", idempotency_key="k"
        )
    with db.session() as s:
        n = s.scalar(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "award")
        )
    assert n == 1
    _verify(db)


def test_money_is_never_float(db: Db) -> None:
    make_pool(db)
    with db.session() as s, pytest.raises(InvalidAmount):
        service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount=10.5, actor="t", idempotency_key="f"
        )
    with db.session() as s, pytest.raises(InvalidAmount):
        service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="10.001", actor="t", idempotency_key="f"
        )
    with db.session() as s:
        s.add(Posting(id="x", transaction_id="nope", account_id="nope", amount=1.5))  # type: ignore[arg-type]
        with pytest.raises(Exception) as info:
            s.flush()
        assert isinstance(info.value.__cause__ or info.value, MoneyError) or "float" in str(info.value)


def test_per_firm_cap_and_one_claim_per_contract(db: Db) -> None:
    make_pool(db, cap="50.00")
    with db.session() as s:
        service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="30.00",
            actor="t",
            idempotency_key="a1",
            contracts=["C1"],
        )
        s.commit()
    with db.session() as s, pytest.raises(FirmCapExceeded, match=r"cap of 50.00 yuan"):
        service.grant_award(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="30.00", actor="t", idempotency_key="a2"
        )
    with db.session() as s, pytest.raises(ContractAlreadyClaimed):
        service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="10.00",
            actor="t",
            idempotency_key="a3",
            contracts=["C1"],
        )
    with db.session() as s:
        service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="20.00",
            actor="t",
            idempotency_key="a4",
            contracts=["C2"],
        )
        s.commit()
    _verify(db)


def test_tranche_plan_must_add_up(db: Db) -> None:
    make_pool(db)
    with db.session() as s, pytest.raises(TranchePlanInvalid, match=r"add up to 100.00"):
        service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="90.00",
            actor="t",
            idempotency_key="a",
            tranches=TWO,
        )


def test_reservations_pending_posted_voided(db: Db) -> None:
    make_pool(db, size="100.00")
    with db.session() as s:
        r1 = service.reserve(
            session=s, pool_id="pool", firm_uscc=FIRM_A, amount="60.00", actor="t", idempotency_key="r1"
        )
        r2 = service.reserve(
            session=s, pool_id="pool", firm_uscc=FIRM_B, amount="40.00", actor="t", idempotency_key="r2"
        )
        s.commit()
    _verify(db)
    assert _available(db) == 0
    with db.session() as s:
        award = service.post_reservation(session=s, reservation_id=r1.id, actor="t", idempotency_key="post1")
        service.void_reservation(
            session=s, reservation_id=r2.id, actor="t", reason="withdrawn", idempotency_key="void2"
        )
        s.commit()
    assert award.amount == Decimal("60.00")
    assert _available(db) == Decimal("40.00")
    with db.session() as s, pytest.raises(ReservationNotPending):
        service.void_reservation(session=s, reservation_id=r1.id, actor="t", reason="x", idempotency_key="v1")
    _verify(db)


def test_missed_milestone_releases_unpaid_and_recovers_paid(db: Db) -> None:
    make_pool(db)
    with db.session() as s:
        award = service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="100.00",
            actor="t",
            idempotency_key="a",
            tranches=TWO,
        )
        service.pay_tranche(session=s, award_id=award.id, seq=1, actor="t", idempotency_key="p1")
        s.commit()
    with db.session() as s, pytest.raises(MilestoneNotDue):
        service.miss_milestone(
            session=s,
            award_id=award.id,
            seq=2,
            as_of=dt.date(2025, 9, 30),
            actor="t",
            reason="x",
            idempotency_key="m",
        )
    with db.session() as s:
        result = service.miss_milestone(
            session=s,
            award_id=award.id,
            seq=2,
            as_of=dt.date(2025, 10, 1),
            actor="t",
            reason="sales not reached",
            idempotency_key="m",
            installments=3,
        )
        s.commit()
    assert result.released == Decimal("40.00")
    assert result.recoverable == Decimal("60.00")
    assert [i.amount for i in result.schedule] == [Decimal("20.00")] * 3
    assert _available(db) == Decimal("940.00")
    _verify(db)
    with db.session() as s:
        txn = service.record_recovery(
            session=s, award_id=award.id, amount="20.00", actor="t", idempotency_key="rec1"
        )
        s.commit()
    assert _available(db) == Decimal("960.00")
    with db.session() as s:
        service.reverse_recovery(
            session=s, transaction_id=txn.id, actor="t", reason="bounced", idempotency_key="rev1"
        )
        s.commit()
    assert _available(db) == Decimal("940.00")
    _verify(db)


def test_split_schedule_is_exact() -> None:
    parts = service.split_schedule(Decimal("100.00"), 3, dt.date(2025, 1, 31))
    assert sum(p for p, _ in parts) == Decimal("100.00")
    assert [d for _, d in parts] == [dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31)]
    assert parts[0][0] == Decimal("33.34")


def test_unknown_pool_is_named(db: Db) -> None:
    from huiqi.ledger.errors import PoolNotFound

    with db.session() as s, pytest.raises(PoolNotFound, match="no pool 'nope'"):
        service.grant_award(
            session=s, pool_id="nope", firm_uscc=FIRM_A, amount="1.00", actor="t", idempotency_key="x"
        )


def test_postgres_unreachable_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from dbfixtures import pg_unavailable

    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run the PostgreSQL tests"):
        pg_unavailable("connection refused")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        pg_unavailable("connection refused")


def test_returned_payment_is_reversed_not_edited(db: Db) -> None:
    from huiqi.ledger.errors import NotReversible

    make_pool(db)
    with db.session() as s:
        award = service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="100.00",
            actor="t",
            idempotency_key="a",
            tranches=TWO,
        )
        paid = service.pay_tranche(session=s, award_id=award.id, seq=1, actor="t", idempotency_key="p1")
        s.commit()
    with db.session() as s:
        service.reverse_payment(
            session=s, transaction_id=paid.id, actor="t", reason="bank returned it", idempotency_key="rev"
        )
        s.commit()
    with db.session() as s:
        assert [t.status for t in service.tranches_of(session=s, award_id=award.id)] == ["pending", "pending"]
        with pytest.raises(NotReversible, match="already been reversed"):
            service.reverse_payment(
                session=s, transaction_id=paid.id, actor="t", reason="x", idempotency_key="r2"
            )
    with db.session() as s:
        service.pay_tranche(session=s, award_id=award.id, seq=1, actor="t", idempotency_key="p1-again")
        s.commit()
        assert service.get_award(session=s, award_id=award.id).paid == Decimal("60.00")
        assert (
            s.scalar(select(func.count()).select_from(LedgerTransaction)) == 5
        )  # fund, award, pay, reversal, pay
        report = verify_ledger(session=s)
        assert report.ok, report.problems
        with pytest.raises(NotReversible, match="not a tranche payment"):
            service.reverse_payment(
                session=s, transaction_id=award_txn(s, award.id), actor="t", reason="x", idempotency_key="r3"
            )


def award_txn(session: object, award_id: str) -> str:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    txn = session.scalar(
        select(LedgerTransaction.id).where(
            LedgerTransaction.award_id == award_id, LedgerTransaction.kind == "award"
        )
    )
    assert txn is not None
    return txn


def test_settle_at_commit(db: Db) -> None:
    from huiqi.db import run_in_transaction

    make_pool(db, size="100.00")

    def grant(amount: str, key: str) -> object:
        return lambda s: service.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount=amount,
            actor="t",
            idempotency_key=key,
            settle_at_commit=True,
        )

    award = run_in_transaction(db.factory, grant("70.00", "a1"))  # type: ignore[arg-type]
    with pytest.raises(InsufficientFunds):
        run_in_transaction(db.factory, grant("40.00", "a2"))  # type: ignore[arg-type]
    with db.session() as s:  # a plain commit settles too (SQLite settles at once)
        with pytest.raises(InsufficientFunds):
            service.grant_award(
                session=s,
                pool_id="pool",
                firm_uscc=FIRM_B,
                amount="31.00",
                actor="t",
                idempotency_key="a3",
                settle_at_commit=True,
            )
            s.commit()
        s.rollback()
    with db.session() as s:
        assert s.get_one(Pool, "pool").available == Decimal("30.00")
        assert s.scalar(select(func.count()).select_from(LedgerTransaction)) == 2
        assert isinstance(award, service.Award) and s.get(service.Award, award.id) is not None
        report = verify_ledger(session=s)
        assert report.ok, report.problems
    from huiqi.audit import chain as audit

    with db.session() as s:
        assert audit.verify_chain(session=s).ok
