"""Money moves confirmed and checked (issue 14): every move has a summary that writes nothing; above the
second-approval amount a move made by one officer is held until a different officer approves it (once, even
when two approve at the same moment) or rejects it with a reason; a tranche whose milestone is not shown met
is not paid; a call draws on its programme's pool inside the pool's period. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from dbfixtures import FIRM_A, Db, make_firm, make_pool, open_call, submit_checked
from huiqi.app import calls, money
from huiqi.app.store import Store
from huiqi.applications.errors import InvalidCall
from huiqi.applications.models import Application, ApplicationEvidence, EvidenceFile
from huiqi.audit.models import AuditEntry
from huiqi.ledger.errors import NotReversible, TransactionNotFound
from huiqi.ledger.models import LedgerTransaction
from huiqi.ledger.verify import verify_ledger
from huiqi.rules.loader import load_pack
from huiqi.workflows.approvals import ApprovalNotAwaiting, ReasonRequired, SameOfficer
from huiqi.workflows.payable import TrancheNotPayable

LOW = Decimal("50.00")  # the second-approval amount these tests use: the applications ask for 100
HIGH = Decimal("1000000.00")


@pytest.fixture
def store(db: Db) -> Store:
    make_pool(db, size="1000.00")
    open_call(db)
    return Store(engine=db.engine, factory=db.factory, url=db.url)


def count(db: Db, what: Any, *where: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(what).where(*where)) or 0)


def approved(store: Store, db: Db, firm: str = FIRM_A) -> str:
    app_id = submit_checked(db, make_firm(firm), "100.00")
    done = money.decide(store, application_id=app_id, key=f"decide:{app_id}", actor="web:alice", above=HIGH)
    assert isinstance(done, money.Decided) and done.state == "approved"
    return app_id


def test_a_summary_names_firm_amount_pool_and_what_remains_and_writes_nothing(store: Store, db: Db) -> None:
    app_id = submit_checked(db, make_firm(), "100.00")
    before = count(db, LedgerTransaction), count(db, AuditEntry)
    sm = money.preview(store, move=money.decide_move(application_id=app_id), actor="web:alice", above=LOW)
    assert (sm.firm_name, sm.firm_uscc, sm.pool_id, sm.amount) == (
        "测试公司",
        FIRM_A,
        "pool",
        Decimal("100.00"),
    )
    assert (sm.available_before, sm.available_after) == (Decimal("1000.00"), Decimal("900.00"))
    assert sm.outcome == "approved" and sm.second_approval and sm.second_approval_above == LOW
    assert (count(db, LedgerTransaction), count(db, AuditEntry)) == before
    with db.session() as s:
        assert s.get(Application, app_id).state == "under_review"


def test_above_the_amount_a_move_waits_for_a_different_officer(store: Store, db: Db) -> None:
    app_id = approved(store, db)
    held = money.grant(store, application_id=app_id, tranches=None, key="g1", actor="web:alice", above=LOW)
    assert isinstance(held, money.HeldView) and held.status == "awaiting" and held.amount == Decimal("100.00")
    assert held.summary.firm_name == "测试公司" and held.summary.operation == "api.grant"
    assert money.list_awards(store).total == 0  # nothing moved yet
    again = money.grant(store, application_id=app_id, tranches=None, key="g1", actor="web:alice", above=LOW)
    assert isinstance(again, money.HeldView) and again.id == held.id and again.replayed
    assert [h.id for h in money.list_approvals(store).items] == [held.id]
    with pytest.raises(SameOfficer):
        money.approve_move(store, approval_id=held.id, key="a0", actor="web:alice")
    with pytest.raises(ReasonRequired):
        money.reject_move(store, approval_id=held.id, reason=" ", actor="web:bob")
    done = money.approve_move(store, approval_id=held.id, key="a1", actor="web:bob")
    assert done.status == "approved" and done.decided_by == "web:bob" and done.result is not None
    awards = money.list_awards(store)
    assert awards.total == 1 and awards.items[0].id == done.result["id"]
    assert money.approve_move(store, approval_id=held.id, key="a1", actor="web:bob").replayed
    with pytest.raises(ApprovalNotAwaiting):
        money.approve_move(store, approval_id=held.id, key="a2", actor="web:carol")
    # the maker's key still answers with the same held move, now approved
    after = money.grant(store, application_id=app_id, tranches=None, key="g1", actor="web:alice", above=LOW)
    assert isinstance(after, money.HeldView) and after.id == held.id and after.status == "approved"
    assert money.list_awards(store).total == 1
    with db.session() as s:
        steps = s.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity == f"approval:{held.id}")
            .order_by(AuditEntry.seq)
        ).all()
        assert steps == ["held_for_second_approval", "second_approval_given"]
        assert verify_ledger(session=s).ok


def test_a_rejected_move_moves_nothing(store: Store, db: Db) -> None:
    app_id = submit_checked(db, make_firm(), "100.00")
    held = money.decide(store, application_id=app_id, key="d1", actor="web:alice", above=LOW)
    assert isinstance(held, money.HeldView)
    done = money.reject_move(store, approval_id=held.id, reason="the budget line is frozen", actor="web:bob")
    assert done.status == "rejected" and done.reason == "the budget line is frozen"
    assert money.get_pool(store, pool_id="pool").available == Decimal("1000.00")
    with db.session() as s:
        assert s.get(Application, app_id).state == "under_review"
    with pytest.raises(ApprovalNotAwaiting):
        money.approve_move(store, approval_id=held.id, key="a1", actor="web:carol")
    assert money.list_approvals(store).total == 0
    assert money.list_approvals(store, status="rejected").items[0].id == held.id


def test_two_officers_approving_at_once_pay_once(store: Store, db: Db) -> None:
    app_id = approved(store, db)
    money.grant(store, application_id=app_id, tranches=None, key="g", actor="web:alice", above=HIGH)
    held = money.pay_tranche(
        store, application_id=app_id, seq=1, reference="B-1", key="p", actor="web:alice", above=LOW
    )
    assert isinstance(held, money.HeldView)
    barrier = threading.Barrier(2)

    def approve(who: str) -> Any:
        barrier.wait()
        try:
            return money.approve_move(store, approval_id=held.id, key=f"approve-{who}", actor=who)
        except ApprovalNotAwaiting as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(approve, ["web:bob", "web:carol"]))
    assert sum(isinstance(a, money.HeldView) for a in answers) == 1, answers
    assert sum(isinstance(a, ApprovalNotAwaiting) for a in answers) == 1, answers
    assert count(db, LedgerTransaction, LedgerTransaction.kind == "pay") == 1
    assert money.list_awards(store).items[0].paid == Decimal("100.00")
    with db.session() as s:
        assert verify_ledger(session=s).ok


def test_a_milestone_is_paid_only_with_its_evidence(store: Store, db: Db) -> None:
    app_id = approved(store, db)
    plan = [
        (Decimal("60.00"), dt.date(2027, 6, 30), "office opened"),
        (Decimal("40.00"), dt.date(2027, 12, 31), "award granted"),
    ]
    money.grant(store, application_id=app_id, tranches=plan, key="g", actor="web:alice", above=HIGH)
    with pytest.raises(TrancheNotPayable, match="office opened"):
        money.pay_tranche(store, application_id=app_id, seq=1, reference="", key="p1", actor="a", above=HIGH)
    with pytest.raises(TrancheNotPayable, match="not a file of application"):
        money.pay_tranche(
            store,
            application_id=app_id,
            seq=1,
            reference="",
            key="p1",
            actor="a",
            evidence="f" * 64,
            above=HIGH,
        )
    sha = "a" * 64
    with db.session() as s:
        s.add(EvidenceFile(sha256=sha, size=3, media_type="application/pdf"))
        s.flush()
        s.add(ApplicationEvidence(application_id=app_id, sha256=sha, filename="opened.pdf", description=""))
        s.commit()
    paid = money.pay_tranche(
        store, application_id=app_id, seq=1, reference="B-1", key="p1", actor="a", evidence=sha, above=HIGH
    )
    assert isinstance(paid, money.Payment) and paid.seq == 1
    # the grant's own milestone needs no evidence
    last = money.pay_tranche(
        store, application_id=app_id, seq=2, reference="B-2", key="p2", actor="a", above=HIGH
    )
    assert isinstance(last, money.Payment) and last.award_status == "completed"


def test_a_call_draws_on_its_programmes_pool_inside_the_pools_period(db: Db) -> None:
    store = Store(engine=db.engine, factory=db.factory, url=db.url)
    programmes = load_pack("shanghai")
    year = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))

    def pool(pool_id: str, programme_id: str | None = None) -> None:
        money.create_pool(
            store,
            pool_id=pool_id,
            name=pool_id,
            size=Decimal("1000.00"),
            period_start=year[0],
            period_end=year[1],
            per_firm_cap=None,
            key=f"pool:{pool_id}",
            actor="t",
            programme_id=programme_id,
        )

    def call(call_id: str, programme: str, pool_id: str, opens: dt.date, closes: dt.date) -> calls.CallView:
        tz = dt.timezone(dt.timedelta(hours=8))
        return calls.open_call(
            store,
            call_id=call_id,
            programme_id=programme,
            programme_version=programmes[programme].version,
            pool_id=pool_id,
            opens_at=dt.datetime.combine(opens, dt.time(), tz),
            closes_at=dt.datetime.combine(closes, dt.time(), tz),
            allocation_mode="fcfs",
            actor="t",
            programmes=programmes,
        )

    pool("shanghai.ai.model")
    pool("rent", "shanghai.hq.rent-subsidy")
    pool("loose")
    september = (dt.date(2025, 9, 1), dt.date(2025, 10, 1))
    rent, model = "shanghai.hq.rent-subsidy", "shanghai.ai.model-voucher"
    refused = InvalidCall
    with pytest.raises(
        refused, match=re.escape("declares no pool, and pool 'shanghai.ai.model' was not created for it")
    ):
        call("c1", rent, "shanghai.ai.model", *september)
    with pytest.raises(
        refused, match=re.escape("draws on its pool 'shanghai.ai.model', not on pool 'loose'")
    ):
        call("c2", model, "loose", *september)
    with pytest.raises(refused, match=re.escape("pool 'rent' funds programme 'shanghai.hq.rent-subsidy'")):
        call("c3", model, "rent", *september)
    with pytest.raises(
        refused, match=r"window 2024-12-01 .. 2025-01-31 is not inside pool .*2025-01-01 .. 2025-12-31"
    ):
        call("c4", model, "shanghai.ai.model", dt.date(2024, 12, 1), dt.date(2025, 2, 1))
    with pytest.raises(refused, match="is not inside"):
        call("c5", rent, "rent", dt.date(2025, 12, 1), dt.date(2026, 1, 2))
    assert call("c6", model, "shanghai.ai.model", *september).pool_id == "shanghai.ai.model"
    assert call("c7", rent, "rent", dt.date(2025, 12, 1), dt.date(2026, 1, 1)).pool_id == "rent"
    assert [c.id for c in calls.list_calls(store)] == ["c6", "c7"]
    linked = {p.id: p.programme_id for p in money.list_pools(store)}
    assert linked == {"shanghai.ai.model": None, "rent": rent, "loose": None}
    assert money.get_pool(store, pool_id="rent").programme_id == rent
    # a call runs a served version in force on some date: not a withdrawn one, not one never loaded
    version = programmes[model].version
    gone = programmes.withdrawing({(model, version)})
    tz = dt.timezone(dt.timedelta(hours=8))
    window = {
        "opens_at": dt.datetime(2025, 9, 1, tzinfo=tz),
        "closes_at": dt.datetime(2025, 10, 1, tzinfo=tz),
    }
    common: dict[str, Any] = {
        "pool_id": "shanghai.ai.model",
        "allocation_mode": "fcfs",
        "actor": "t",
        **window,
    }
    with pytest.raises(refused, match=re.escape(f"version {version} of {model} was withdrawn")):
        calls.open_call(
            store, call_id="c8", programme_id=model, programme_version=version, programmes=gone, **common
        )
    with pytest.raises(refused, match=re.escape(f"programme {model} has no version 1999.9")):
        calls.open_call(
            store,
            call_id="c9",
            programme_id=model,
            programme_version="1999.9",
            programmes=programmes,
            **common,
        )
    assert [c.id for c in calls.list_calls(store)] == ["c6", "c7"]


def test_reversing_what_is_not_a_payment_is_refused_by_the_ledger(store: Store, db: Db) -> None:
    with db.session() as s:
        fund = s.scalar(select(LedgerTransaction.id).where(LedgerTransaction.kind == "fund"))
    assert fund is not None
    with pytest.raises(NotReversible):
        money.reverse_payment(store, transaction_id=fund, reason="probe", key="r1", actor="a", above=LOW)
    with pytest.raises(TransactionNotFound):
        money.reverse_payment(store, transaction_id="nope", reason="probe", key="r2", actor="a", above=LOW)
