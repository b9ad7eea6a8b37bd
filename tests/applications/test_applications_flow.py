from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dbfixtures import FIRM_A, FIRM_B, Db, make_firm, make_pool, open_call, submit_checked
from huiqi.applications import service as apps
from huiqi.applications.errors import (
    CallNotOpen,
    EvidenceTooLarge,
    EvidenceTypeRefused,
    IllegalTransition,
    InvalidCall,
    InvalidClaim,
    MissingReason,
)
from huiqi.applications.evidence import path_of, sniff
from huiqi.applications.models import TRANSITIONS, Application, ApplicationEvent, EligibilityVerdict, State
from huiqi.audit import chain as audit
from huiqi.firms import Firm
from huiqi.ledger.models import Pool
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import verify_ledger
from huiqi.workflows import service as flows

OPEN = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
CLOSE = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
DURING = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
PROGRAMME = "shanghai.ai.model-voucher"


def _call(db: Db, mode: str = "fcfs", size: str = "100.00", call_id: str = "call") -> None:
    make_pool(db, "pool", size=size)
    open_call(db, call_id, mode)


def _state(db: Db, app_id: str) -> str:
    with db.session() as s:
        return s.get_one(Application, app_id).state


def test_full_cycle_with_waitlist_and_clawback(db: Db) -> None:
    _call(db)
    a = submit_checked(db, make_firm(FIRM_A), "70.00")
    b = submit_checked(db, make_firm(FIRM_B), "50.00")
    with db.session() as s:
        snapshot = s.get_one(Application, a).firm_snapshot
        assert snapshot["uscc"] == FIRM_A and snapshot["contracts"][0]["value"] == "200.00"
        assert apps.verdict_of(s.get_one(Application, a)) == EligibilityVerdict(
            PROGRAMME, "2025.1", True, Decimal("70.00"), {"rule": "ok"}
        )
        assert flows.decide(session=s, application_id=a, actor="panel").state == "approved"
        assert flows.decide(session=s, application_id=b, actor="panel").state == "waitlisted"
        s.commit()
    plan = [
        TranchePlan(Decimal("30.00"), "office opened", dt.date(2025, 11, 1)),
        TranchePlan(Decimal("40.00"), "sales reached", dt.date(2026, 3, 1)),
    ]
    with db.session() as s:
        flows.grant(session=s, application_id=a, actor="director", tranches=plan)
        flows.pay(session=s, application_id=a, seq=1, actor="treasury", idempotency_key="pay-a-1")
        s.commit()
    assert _state(db, a) == "paying"
    with db.session() as s:
        result, promoted = flows.miss_milestone(
            session=s,
            application_id=a,
            seq=2,
            as_of=dt.date(2026, 3, 2),
            actor="officer",
            reason="sales not reached",
            idempotency_key="miss-a-2",
            installments=2,
        )
        s.commit()
    assert result.released == Decimal("40.00") and result.recoverable == Decimal("30.00")
    assert [d.application_id for d in promoted] == [b]  # the released money went to the waitlist
    assert _state(db, a) == "clawed_back" and _state(db, b) == "approved"
    with db.session() as s:
        assert s.get_one(Pool, "pool").available == Decimal("20.00")
        assert verify_ledger(session=s).ok
        assert audit.verify_chain(session=s).ok
        events = s.scalars(
            select(ApplicationEvent.to_state)
            .where(ApplicationEvent.application_id == a)
            .order_by(ApplicationEvent.seq)
        ).all()
    assert events == [
        "draft",
        "submitted",
        "checked",
        "under_review",
        "approved",
        "awarded",
        "paying",
        "clawed_back",
    ]


def test_illegal_transition_is_refused_and_changes_nothing(db: Db) -> None:
    _call(db)
    a = submit_checked(db, make_firm(), "10.00")
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(ApplicationEvent))
        with pytest.raises(IllegalTransition, match="under_review; it cannot become paying"):
            apps.transition(session=s, application_id=a, to=State.PAYING, actor="x", reason="skip ahead")
        s.commit()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ApplicationEvent)) == before
    assert _state(db, a) == "under_review"
    # a blank reason is refused before anything else, naming the field and the move
    with db.session() as s:
        with pytest.raises(MissingReason, match=rf"^reason: moving application '{a}' to 'rejected' needs a"):
            apps.transition(session=s, application_id=a, to=State.REJECTED, actor="x", reason="  ")
        s.commit()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ApplicationEvent)) == before
    assert _state(db, a) == "under_review"


def test_every_state_pair_follows_the_table() -> None:
    final = {s for s, nxt in TRANSITIONS.items() if not nxt}
    assert final == {State.WITHDRAWN, State.CLAWED_BACK}
    assert State.APPEALED in TRANSITIONS[State.REJECTED]
    assert State.AWARDED not in TRANSITIONS[State.UNDER_REVIEW]


def test_window_and_claims_are_checked(db: Db) -> None:
    _call(db)
    firm = make_firm()
    assert isinstance(firm, Firm)
    with db.session() as s:
        with pytest.raises(CallNotOpen):
            apps.submit(
                session=s,
                call_id="call",
                firm=firm,
                claims=[apps.Claim("C1", Decimal(1))],
                actor="f",
                now=CLOSE,
            )
        with pytest.raises(InvalidClaim, match="not in the firm's profile"):
            apps.submit(
                session=s,
                call_id="call",
                firm=firm,
                claims=[apps.Claim("ZZ", Decimal(1))],
                actor="f",
                now=DURING,
            )
        with pytest.raises(InvalidClaim, match="claimed twice"):
            apps.submit(
                session=s,
                call_id="call",
                firm=firm,
                claims=[apps.Claim("C1", Decimal(1)), apps.Claim("C1", Decimal(2))],
                actor="f",
                now=DURING,
            )
        with pytest.raises(InvalidCall, match="outside pool pool's period"):
            apps.open_call(
                session=s,
                call_id="c3",
                programme_id=PROGRAMME,
                programme_version="1",
                pool_id="pool",
                opens_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
                closes_at=dt.datetime(2027, 2, 1, tzinfo=dt.UTC),
                allocation_mode="fcfs",
                actor="o",
            )
        with pytest.raises(InvalidCall, match="allocation mode"):
            apps.open_call(
                session=s,
                call_id="c2",
                programme_id=PROGRAMME,
                programme_version="1",
                pool_id="pool",
                opens_at=OPEN,
                closes_at=CLOSE,
                allocation_mode="lottery",
                actor="o",
            )


def test_ranked_and_pro_rata(db: Db) -> None:
    _call(db, mode="ranked", size="100.00")
    ids = [submit_checked(db, make_firm(u), amt) for u, amt in ((FIRM_A, "60.00"), (FIRM_B, "60.00"))]
    with db.session() as s:
        apps.set_score(session=s, application_id=ids[0], score=Decimal("70"), actor="panel")
        apps.set_score(session=s, application_id=ids[1], score=Decimal("90"), actor="panel")
        decisions = {
            d.application_id: d.state for d in flows.decide_call(session=s, call_id="call", actor="p")
        }
        s.commit()
    assert decisions == {ids[1]: "approved", ids[0]: "waitlisted"}


def test_pro_rata_shares_the_pool(db: Db) -> None:
    _call(db, mode="pro_rata", size="100.00")
    ids = [submit_checked(db, make_firm(u), amt) for u, amt in ((FIRM_A, "100.00"), (FIRM_B, "50.00"))]
    with db.session() as s:
        decisions = {
            d.application_id: d.amount for d in flows.decide_call(session=s, call_id="call", actor="p")
        }
        s.commit()
        assert verify_ledger(session=s).ok
    assert decisions == {ids[0]: Decimal("66.66"), ids[1]: Decimal("33.33")}


def test_evidence_typed_by_content_and_stored_by_hash(db: Db, tmp_path: Path) -> None:
    _call(db)
    a = submit_checked(db, make_firm(), "10.00")
    pdf = b"%PDF-1.7\n" + b"x" * 100 + b"\n%%EOF\n"
    with db.session() as s:
        stored = apps.attach_evidence(
            session=s,
            application_id=a,
            filename="contract.pdf",
            content=pdf,
            evidence_dir=tmp_path,
            actor="firm",
        )
        again = apps.attach_evidence(
            session=s, application_id=a, filename="copy.pdf", content=pdf, evidence_dir=tmp_path, actor="firm"
        )
        s.commit()
        assert stored.sha256 == again.sha256 and stored.media_type == "application/pdf"
        assert path_of(stored.sha256, evidence_dir=tmp_path).read_bytes() == pdf
        with pytest.raises(EvidenceTypeRefused):
            apps.attach_evidence(
                session=s,
                application_id=a,
                filename="invoice.pdf",
                content=b"MZ\x90\x00evil",
                evidence_dir=tmp_path,
                actor="firm",
            )
        with pytest.raises(EvidenceTooLarge):
            apps.attach_evidence(
                session=s,
                application_id=a,
                filename="big.pdf",
                content=pdf,
                evidence_dir=tmp_path,
                actor="firm",
                max_bytes=50,
            )


def test_sniff_office_and_images() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w/>")
    assert sniff(buf.getvalue()) is not None and "wordprocessing" in (sniff(buf.getvalue()) or "")
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("a.txt", "hi")
    assert sniff(plain_zip.getvalue()) is None
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0....") == "image/jpeg"


def test_withdrawal_returns_money_to_the_waitlist(db: Db) -> None:
    _call(db, size="100.00")
    a = submit_checked(db, make_firm(FIRM_A), "80.00")
    b = submit_checked(db, make_firm(FIRM_B), "50.00")
    with db.session() as s:
        flows.decide(session=s, application_id=a, actor="p")
        flows.decide(session=s, application_id=b, actor="p")
        s.commit()
    assert (_state(db, a), _state(db, b)) == ("approved", "waitlisted")
    with db.session() as s:
        promoted = flows.withdraw(session=s, application_id=a, actor="firm", reason="project cancelled")
        s.commit()
        assert [d.application_id for d in promoted] == [b]
        assert s.get_one(Pool, "pool").available == Decimal("50.00")
        assert verify_ledger(session=s).ok
    assert (_state(db, a), _state(db, b)) == ("withdrawn", "approved")


def test_rejection_can_be_appealed_back_into_review(db: Db) -> None:
    _call(db)
    firm = make_firm()
    assert isinstance(firm, Firm)
    with db.session() as s:
        app = apps.submit(
            session=s, call_id="call", firm=firm, claims=[apps.Claim("C1", Decimal(5))], actor="f", now=DURING
        )
        flows.check(
            session=s,
            application_id=app.id,
            actor="engine",
            verdict=EligibilityVerdict(PROGRAMME, "2025.1", False, Decimal(0), {"failed": "sector"}),
        )
        assert app.state == "rejected"
        apps.transition(
            session=s, application_id=app.id, to=State.APPEALED, actor="firm", reason="wrong sector"
        )
        apps.transition(
            session=s, application_id=app.id, to=State.UNDER_REVIEW, actor="board", reason="upheld"
        )
        s.commit()
    assert _state(db, app.id) == "under_review"
    with db.session() as s, pytest.raises(IllegalTransition, match="final"):
        apps.transition(session=s, application_id=app.id, to=State.WITHDRAWN, actor="firm", reason="x")
        apps.transition(session=s, application_id=app.id, to=State.SUBMITTED, actor="firm", reason="x")
