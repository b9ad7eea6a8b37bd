"""Conflicts of interest, the declaration before the confidential view, reassignment, score sheets and
normalisation, on both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from tests.dbfixtures import Db
from tests.selection import factory

from huiqi.applications import service as apps
from huiqi.applications.models import State
from huiqi.applications.service import Claim
from huiqi.review import service as review
from huiqi.review.errors import (
    AlreadyScored,
    Conflicted,
    DeclarationRequired,
    InvalidScore,
    NotEnoughReviewers,
)
from huiqi.review.models import AssignmentStatus
from huiqi.selection.callfile import parse_call_file
from huiqi.selection.service import rubric_of

ON = dt.date(2023, 11, 1)
RUBRIC = rubric_of(parse_call_file(factory.CALL_FILE))


def _world(db: Db, n: int = 8) -> tuple[list[str], list[str]]:
    firms = factory.firms(n, seed=3)
    from huiqi.ledger import service as ledger

    with db.session() as s:
        ledger.create_pool(
            session=s,
            pool_id="p",
            name="p",
            size="1000.00",
            period_start=dt.date(2023, 1, 1),
            period_end=dt.date(2023, 12, 31),
            actor="t",
            idempotency_key="p",
        )
        apps.open_call(
            session=s,
            call_id="c",
            programme_id="shanghai.hq.designation",
            programme_version="2023.1",
            pool_id="p",
            opens_at=factory.OPENS,
            closes_at=factory.CLOSES,
            allocation_mode="ranked",
            actor="t",
        )
        ids = []
        for i, f in enumerate(firms):
            a = apps.submit(
                session=s,
                call_id="c",
                firm=f,
                claims=[Claim("HQ-1", Decimal("1.00"))],
                actor="f",
                now=factory.OPENS + dt.timedelta(minutes=i),
            )
            apps.transition(session=s, application_id=a.id, to=State.CHECKED, actor="t", reason="ok")
            apps.transition(session=s, application_id=a.id, to=State.UNDER_REVIEW, actor="t", reason="ok")
            ids.append(a.id)
        s.commit()
    return ids, [f.uscc for f in firms]


def test_conflicts_cover_affiliation_competitors_and_recent_employment(db: Db) -> None:
    _ids, usccs = _world(db, 4)
    with db.session() as s:
        r = review.add_reviewer(
            session=s,
            reviewer_id="r",
            name="专家",
            fields=["integrated_circuits"],
            affiliations=[usccs[1]],
            former_employers=[
                {"uscc": usccs[0], "until": "2021-06-30"},
                {"uscc": usccs[2], "until": "2019-01-01"},
            ],
            actor="t",
        )
        assert any(
            "affiliated with the applicant" in c
            for c in review.conflicts(r, usccs[1], [], on=ON, recent_years=3)
        )
        assert any(
            "competitor" in c for c in review.conflicts(r, usccs[3], [usccs[1]], on=ON, recent_years=3)
        )
        assert any(
            "employed by the applicant" in c for c in review.conflicts(r, usccs[0], [], on=ON, recent_years=3)
        )
        assert review.conflicts(r, usccs[2], [], on=ON, recent_years=3) == []  # left over three years ago
        assert review.conflicts(r, usccs[3], [], on=ON, recent_years=3) == []


def test_declaration_opens_the_view_and_a_conflict_reassigns(db: Db) -> None:
    ids, usccs = _world(db, 8)
    with db.session() as s:
        for sector in factory.SECTORS:
            for j in range(3):
                review.add_reviewer(
                    session=s,
                    reviewer_id=f"{sector[:3]}{j}",
                    name="x",
                    fields=[sector],
                    affiliations=[usccs[0]] if j == 0 else [],
                    actor="t",
                )
        review.name_competitors(session=s, application_id=ids[1], usccs=[usccs[0]], actor="f")
        s.commit()
        with pytest.raises(NotEnoughReviewers):
            review.assign(session=s, call_id="c", per_application=3, on=ON, recent_years=3, actor="t")
        s.rollback()
    with db.session() as s:
        made = review.assign(session=s, call_id="c", per_application=2, on=ON, recent_years=3, actor="t")
        assert len(made) == 16
        loads: dict[str, int] = {}
        for a in made:
            loads[a.reviewer_id] = loads.get(a.reviewer_id, 0) + 1
            assert not (a.application_id in (ids[0], ids[1]) and a.reviewer_id.endswith("0"))
        assert max(loads.values()) - min(loads.values()) <= 2
        a = next(x for x in made if x.application_id == ids[4])
        with pytest.raises(DeclarationRequired):
            review.confidential_view(session=s, application_id=ids[4], reviewer_id=a.reviewer_id)
        with pytest.raises(DeclarationRequired):
            review.submit_scores(
                session=s,
                application_id=ids[4],
                reviewer_id=a.reviewer_id,
                rubric=RUBRIC,
                scores={},
                actor="r",
            )
        d = review.declare(
            session=s,
            application_id=ids[4],
            reviewer_id=a.reviewer_id,
            conflict="my brother is the CEO",
            on=ON,
            recent_years=3,
            actor="r",
        )
        assert d.assignment.status == AssignmentStatus.CONFLICTED.value
        assert d.replacement is not None and d.replacement.reviewer_id != a.reviewer_id
        with pytest.raises(Conflicted):
            review.confidential_view(session=s, application_id=ids[4], reviewer_id=a.reviewer_id)
        other = d.replacement.reviewer_id
        review.declare(
            session=s,
            application_id=ids[4],
            reviewer_id=other,
            conflict=None,
            on=ON,
            recent_years=3,
            actor="r",
        )
        view = review.confidential_view(session=s, application_id=ids[4], reviewer_id=other)
        assert view["firm"]["uscc"] == usccs[4]
        s.commit()


def test_score_sheets_refuse_missing_out_of_range_and_unknown_scores() -> None:
    full = {c.id: "5" for c in RUBRIC}
    assert review.check_sheet(RUBRIC, full, {})["innovation"] == Decimal(5)
    for bad, words in [
        ({k: v for k, v in full.items() if k != "growth"}, "growth: missing score"),
        ({**full, "growth": "11"}, "growth: 11 is outside the scale 0..10"),
        ({**full, "growth": "2.5"}, "not on the scale's step of 1"),
        ({**full, "growth": 2.5}, "write the score as a decimal number"),
        ({**full, "charm": "3"}, "unknown criterion 'charm'"),
        ({**full, "growth": "many"}, "'many' is not a number"),
    ]:
        with pytest.raises(InvalidScore, match=words):
            review.check_sheet(RUBRIC, bad, {})


def test_normalisation_removes_a_reviewers_bias(sqlite_db: Db) -> None:
    """Two reviewers score the same firms in the same order, one two points harsher: equal z-scores."""
    db = sqlite_db
    ids, _usccs = _world(db, 8)
    with db.session() as s:
        for rid in ("harsh", "kind"):
            review.add_reviewer(session=s, reviewer_id=rid, name=rid, fields=factory.SECTORS, actor="t")
        review.assign(session=s, call_id="c", per_application=2, on=ON, recent_years=3, actor="t")
        for i, aid in enumerate(ids):
            for rid, shift in (("harsh", 0), ("kind", 2)):
                review.declare(
                    session=s,
                    application_id=aid,
                    reviewer_id=rid,
                    conflict=None,
                    on=ON,
                    recent_years=3,
                    actor=rid,
                )
                review.submit_scores(
                    session=s,
                    application_id=aid,
                    reviewer_id=rid,
                    rubric=RUBRIC,
                    scores={c.id: str(min(10, i + shift)) for c in RUBRIC},
                    actor=rid,
                )
        with pytest.raises(AlreadyScored):
            review.submit_scores(
                session=s, application_id=ids[0], reviewer_id="kind", rubric=RUBRIC, scores={}, actor="k"
            )
        out = review.normalise(session=s, call_id="c", rubric=RUBRIC, min_reviews_for_z=5, actor="t")
        scores = [n.score for n in out]
        by_app = {n.application_id: n for n in out}
        assert [by_app[a].score for a in ids] == sorted(scores)  # order kept
        for n in out:
            z = [d[1] for d in n.detail.values()]
            assert abs(z[0] - z[1]) < 0.35  # the bias is gone up to the clipping at 10
        assert apps.get_application(session=s, application_id=ids[0]).score == str(by_app[ids[0]].score)
