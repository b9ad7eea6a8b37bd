"""Issue 5's proof: 400 applications in four sectors, three reviewers each (some conflicts declared), end
with 40 designations, 10 per sector, every decision explained, the grants within budget in the ledger,
every certificate verified, a one-byte alteration caught, and a withdrawal replaced from the reserve."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.dbfixtures import Db
from tests.selection import factory

from huiqi.applications import service as apps
from huiqi.applications.models import Application, State
from huiqi.applications.service import Claim
from huiqi.certificates import service as certs
from huiqi.certificates.keys import from_seed
from huiqi.ledger import service as ledger
from huiqi.ledger.models import Award
from huiqi.ledger.verify import verify_ledger
from huiqi.review import service as review
from huiqi.review.errors import DeclarationRequired
from huiqi.review.models import Assignment, AssignmentStatus
from huiqi.rules.loader import load_pack
from huiqi.selection import publish
from huiqi.selection import service as selection
from huiqi.selection.callfile import parse_call_file
from huiqi.workflows import designation

KEY = from_seed(base64.b64encode(bytes(range(32))).decode())
ON = dt.date(2023, 11, 1)


def _build(db: Db) -> dict[str, object]:
    cf = parse_call_file(factory.CALL_FILE)
    programmes = load_pack("shanghai")
    firms = factory.firms()
    quality = {f.uscc: random.Random(f.uscc).uniform(2, 9) for f in firms}
    with db.session() as s:
        ledger.create_pool(
            session=s,
            pool_id="hq-startup",
            name="HQ start-up grants",
            size="120000000.00",
            period_start=dt.date(2023, 1, 1),
            period_end=dt.date(2023, 12, 31),
            actor="test",
            idempotency_key="pool:hq",
        )
        apps.open_call(
            session=s,
            call_id="hq-2023-1",
            programme_id=cf.programme,
            programme_version="2023.1",
            pool_id="hq-startup",
            opens_at=factory.OPENS,
            closes_at=factory.CLOSES,
            allocation_mode="ranked",
            actor="test",
        )
        for i, f in enumerate(firms):
            apps.submit(
                session=s,
                call_id="hq-2023-1",
                firm=f,
                claims=[Claim("HQ-1", Decimal("5000000.00"))],
                actor="firm",
                now=factory.OPENS + dt.timedelta(minutes=i),
            )
        designation.check_all(
            session=s, call_id="hq-2023-1", programmes=programmes, cf=cf, on=ON, actor="checker"
        )
        for r in factory.reviewers(firms):
            review.add_reviewer(session=s, actor="admin", **r)
        review.assign(
            session=s,
            call_id="hq-2023-1",
            per_application=cf.review.reviewers_per_application,
            on=ON,
            recent_years=cf.review.recent_employment_years,
            actor="admin",
        )
        s.commit()
    return {"cf": cf, "programmes": programmes, "firms": firms, "quality": quality}


def _review(db: Db, world: dict[str, object]) -> int:
    cf = world["cf"]
    quality: dict[str, float] = world["quality"]  # type: ignore[assignment]
    rubric = selection.rubric_of(cf)  # type: ignore[arg-type]
    bias = {f"R{s}{j}": (j - 2.5) * 0.6 for s in range(4) for j in range(6)}
    declared = 0
    with db.session() as s:
        first = s.scalars(select(Assignment).order_by(Assignment.id)).first()
        assert first is not None
        with pytest.raises(DeclarationRequired):
            review.confidential_view(
                session=s, application_id=first.application_id, reviewer_id=first.reviewer_id
            )
        rng = random.Random(5)
        while True:
            todo = list(
                s.scalars(
                    select(Assignment)
                    .where(Assignment.status == AssignmentStatus.ASSIGNED.value)
                    .order_by(Assignment.application_id, Assignment.reviewer_id)
                )
            )
            if not todo:
                break
            for a in todo:
                # every 15th application's first reviewer finds a tie the register did not show
                conflict = (
                    "advised the applicant's parent company last year"
                    if a.replaces_id is None
                    and int(a.application_id, 16) % 15 == 0
                    and declared < 40
                    and a.reviewer_id.endswith("5")
                    else None
                )
                d = review.declare(
                    session=s,
                    application_id=a.application_id,
                    reviewer_id=a.reviewer_id,
                    conflict=conflict,
                    on=ON,
                    recent_years=3,
                    actor=a.reviewer_id,
                )
                if conflict:
                    declared += 1
                    assert d.replacement is not None
                    continue
                view = review.confidential_view(
                    session=s, application_id=a.application_id, reviewer_id=a.reviewer_id
                )
                q = quality[view["firm"]["uscc"]]
                review.submit_scores(
                    session=s,
                    application_id=a.application_id,
                    reviewer_id=a.reviewer_id,
                    rubric=rubric,
                    scores=factory.sheet(q, bias[a.reviewer_id], rng, [c.id for c in rubric]),
                    comments={"innovation": "solid"},
                    actor=a.reviewer_id,
                )
        review.normalise(
            session=s, call_id="hq-2023-1", rubric=rubric, min_reviews_for_z=5, actor="secretariat"
        )
        s.commit()
    return declared


def test_designation_call_end_to_end(db: Db, tmp_path: Path) -> None:
    world = _build(db)
    cf = world["cf"]
    programmes = world["programmes"]
    firms = world["firms"]
    declared = _review(db, world)
    assert declared > 0
    with db.session() as s:
        # three scored reviewers each, none with a known conflict
        scored = Counter(
            s.scalars(
                select(Assignment.application_id).where(Assignment.status == AssignmentStatus.SCORED.value)
            )
        )
        under = s.scalar(select(func.count()).select_from(Application).where(Application.score.is_not(None)))
        assert under == 360 and set(scored.values()) == {3}
        by_uscc = {f.uscc: f for f in firms}  # type: ignore[attr-defined]
        for a, app in s.execute(
            select(Assignment, Application).join(Application, Application.id == Assignment.application_id)
        ):
            reviewer = review.get_reviewer(session=s, reviewer_id=a.reviewer_id)
            if a.status == AssignmentStatus.SCORED.value:
                assert review.conflicts(reviewer, app.firm_uscc, [], on=ON, recent_years=3) == []
                assert by_uscc[app.firm_uscc].sector in reviewer.fields

        done = designation.select_and_award(
            session=s,
            call_id="hq-2023-1",
            cf=cf,
            programmes=programmes,
            key=KEY,
            actor="commission",  # type: ignore[arg-type]
        )
        s.commit()

    with db.session() as s:
        active = selection.designations_of(session=s, call_id="hq-2023-1")
        assert len(active) == len(done) == 40
        assert Counter(d.sector for d in active) == dict.fromkeys(factory.SECTORS, 10)
        assert sum(1 for d in active if d.district == "Yangpu") <= 6
        decisions = selection.decisions_of(session=s, call_id="hq-2023-1")
        assert len(decisions) == 400
        outcomes = Counter(d.outcome for d in decisions)
        assert outcomes["designated"] == 40 and outcomes["ineligible"] == 40 and outcomes["reserve"] == 12
        for d in decisions:
            assert d.reason["en"] and d.reason["zh"], d.application_id
            if d.outcome == "designated":
                assert f"score {d.score}" in d.reason["en"] and d.rank is not None
            elif d.outcome == "ineligible":
                assert "core IP" in d.reason["en"], d.reason
            else:
                assert d.reason["code"] in {
                    "sector_cutoff",
                    "district_quota",
                    "budget",
                    "combination",
                    "total_cutoff",
                }
        # a firm left out below its sector's cut-off names the cut-off
        cut = next(d for d in decisions if d.reason.get("code") == "sector_cutoff")
        lowest = min(Decimal(x.score) for x in active if x.sector == cut.sector)
        assert Decimal(cut.reason["data"]["cutoff"]) == lowest >= Decimal(cut.score or 0)
        # every application's state matches its decision
        states = {a.id: a.state for a in s.scalars(select(Application))}
        for d in decisions:
            expected = {
                "designated": {State.AWARDED.value, State.APPROVED.value},
                "reserve": {State.WAITLISTED.value},
                "not_selected": {State.REJECTED.value},
                "ineligible": {State.REJECTED.value},
            }[d.outcome]
            assert states[d.application_id] in expected
        # money: grants within budget, through the ledger, which verifies
        awards = list(s.scalars(select(Award)))
        total = sum((a.amount for a in awards), Decimal(0))
        assert total == sum((d.amount for d in active), Decimal(0)) <= cf.budget.amount  # type: ignore[attr-defined]
        assert len(awards) == sum(1 for d in active if d.amount > 0) > 0
        assert verify_ledger(session=s).ok
        # the published list, in Chinese and English, as CSV and JSON
        files = publish.publish(active, cf, tmp_path / "public")  # type: ignore[arg-type]
        zh_csv = (tmp_path / "public" / "designated.zh.csv").read_text(encoding="utf-8-sig").splitlines()
        assert (
            len(files) == 4
            and zh_csv[0].startswith("领域,领域排名,企业名称,统一社会信用代码")
            and len(zh_csv) == 41
        )
        en = json.loads((tmp_path / "public" / "designated.en.json").read_text(encoding="utf-8"))
        assert len(en["designated"]) == 40 and en["batch"] == "2023, first batch"
        assert {r["credit_code"] for r in en["designated"]} == {d.firm_uscc for d in active}
        # every certificate verifies; one altered byte does not
        issued = [certs.of_subject(session=s, subject=f"designation:{d.application_id}")[0] for d in active]
        for cert in issued:
            assert certs.verify(session=s, data=cert.pdf).status == "valid"
        data = bytearray(issued[0].pdf)
        middle = len(data) // 2
        data[middle] ^= 0x01
        result = certs.verify(session=s, data=bytes(data))
        assert result.status == "altered" and any(str(middle) in f for f in result.findings), result.findings

    # a designated firm withdraws: its certificate is revoked, the sector's first reserve takes its place
    with db.session() as s:
        leaving = next(d for d in selection.designations_of(session=s, call_id="hq-2023-1") if d.amount > 0)
        reserve = min(
            (
                d
                for d in selection.decisions_of(session=s, call_id="hq-2023-1")
                if d.outcome == "reserve" and d.sector == leaving.sector
            ),
            key=lambda d: d.reserve_seq or 0,
        )
        old_pdf = certs.of_subject(session=s, subject=f"designation:{leaving.application_id}")[0].pdf
        rep = designation.end_and_replace(
            session=s,
            application_id=leaving.application_id,
            cause="withdrew",
            reason="moved its headquarters to another city",
            cf=cf,  # type: ignore[arg-type]
            programmes=programmes,  # type: ignore[arg-type]
            key=KEY,
            on=dt.date(2023, 12, 20),
            actor="commission",
        )
        s.commit()
        assert rep.promoted is not None
        assert rep.promoted.designation.application_id == reserve.application_id
        assert "withdrew: moved its headquarters" in rep.promoted.designation.reason
        assert certs.verify(session=s, data=old_pdf).status == "revoked"
        new = certs.get(session=s, serial=rep.promoted.certificate_serial)
        assert certs.verify(session=s, data=new.pdf).status == "valid"
        active = selection.designations_of(session=s, call_id="hq-2023-1")
        assert Counter(d.sector for d in active) == dict.fromkeys(factory.SECTORS, 10)
        assert sum((d.amount for d in active), Decimal(0)) <= Decimal("100000000.00")
        assert verify_ledger(session=s).ok
