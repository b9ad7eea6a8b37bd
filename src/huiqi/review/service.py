"""Reviewers, conflicts of interest, assignment, declarations, score sheets and normalisation.

Services flush and never commit. Conflicts are checked twice: automatically when reviewers are assigned
(affiliations, named competitors, recent employment), and by the reviewer, who must declare before the
confidential view of an application opens; a declared conflict replaces the reviewer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.applications import service as apps
from huiqi.applications.models import Application, State
from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms.uscc import validate_uscc
from huiqi.review.errors import (
    AlreadyAssigned,
    AlreadyDeclared,
    AlreadyScored,
    AssignmentNotFound,
    Conflicted,
    DeclarationRequired,
    InvalidReviewer,
    InvalidScore,
    NotEnoughReviewers,
    NotReassignable,
    ReviewerConflict,
    ReviewerExists,
    ReviewerNotFound,
    ReviewIncomplete,
)
from huiqi.review.models import Assignment, AssignmentStatus, NamedCompetitor, Reviewer, Score

ACTIVE = (AssignmentStatus.ASSIGNED.value, AssignmentStatus.CLEARED.value, AssignmentStatus.SCORED.value)


@dataclass(frozen=True)
class Criterion:
    """What scoring needs of a rubric criterion (the call file's ``rubric`` entries map onto this)."""

    id: str
    weight: Decimal
    min: Decimal
    max: Decimal
    step: Decimal


# --- reviewers --------------------------------------------------------------------------------------------


def _uscc(value: str, what: str) -> str:
    try:
        return str(validate_uscc(value))
    except Exception as exc:
        raise InvalidReviewer(f"{what}: {exc}", why="bad_uscc", field=what, uscc=value) from None


def add_reviewer(
    *,
    session: Session,
    reviewer_id: str,
    name: str,
    fields: Sequence[str],
    affiliations: Sequence[str] = (),
    former_employers: Sequence[Mapping[str, Any]] = (),
    actor: str,
) -> Reviewer:
    if not reviewer_id.strip() or not name.strip():
        raise InvalidReviewer("a reviewer needs an id and a name", why="needs_id_and_name")
    if not fields:
        raise InvalidReviewer(
            f"reviewer {reviewer_id}: name at least one field (a sector they review)",
            why="needs_a_field",
            reviewer=reviewer_id,
        )
    if session.get(Reviewer, reviewer_id) is not None:
        raise ReviewerExists(reviewer_id)
    former: list[dict[str, Any]] = []
    for i, f in enumerate(former_employers):
        if "uscc" not in f or "until" not in f:
            raise InvalidReviewer(
                f"reviewer {reviewer_id}: former_employers[{i}] needs uscc and until",
                why="former_incomplete",
                reviewer=reviewer_id,
                n=i + 1,
            )
        try:
            until = dt.date.fromisoformat(str(f["until"]))
        except ValueError:
            raise InvalidReviewer(
                f"reviewer {reviewer_id}: former_employers[{i}].until: expected YYYY-MM-DD, "
                f"got {f['until']!r}",
                why="former_bad_date",
                reviewer=reviewer_id,
                n=i + 1,
                value=str(f["until"]),
            ) from None
        former.append({"uscc": _uscc(str(f["uscc"]), f"former_employers[{i}]"), "until": until.isoformat()})
    reviewer = Reviewer(
        id=reviewer_id,
        name=name,
        fields=sorted(set(fields)),
        affiliations=sorted({_uscc(a, f"reviewer {reviewer_id} affiliation") for a in affiliations}),
        former_employers=former,
        active=True,
        created_at=utcnow(),
    )
    session.add(reviewer)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"reviewer:{reviewer_id}",
        action="added",
        payload={
            "name": name,
            "fields": reviewer.fields,
            "affiliations": reviewer.affiliations,
            "former_employers": former,
        },
    )
    return reviewer


def get_reviewer(*, session: Session, reviewer_id: str) -> Reviewer:
    reviewer = session.get(Reviewer, reviewer_id)
    if reviewer is None:
        raise ReviewerNotFound(reviewer_id)
    return reviewer


def list_reviewers(*, session: Session) -> list[Reviewer]:
    return list(session.scalars(select(Reviewer).order_by(Reviewer.id)))


def name_competitors(*, session: Session, application_id: str, usccs: Sequence[str], actor: str) -> None:
    """The applicant names competitors; reviewers affiliated with them are conflicted."""
    apps.get_application(session=session, application_id=application_id)
    for value in sorted({_uscc(u, "competitor") for u in usccs}):
        if session.get(NamedCompetitor, (application_id, value)) is None:
            session.add(NamedCompetitor(application_id=application_id, firm_uscc=value))
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{application_id}",
        action="competitors_named",
        payload={"competitors": sorted(usccs)},
    )


# --- conflicts and assignment -----------------------------------------------------------------------------


def conflicts(
    reviewer: Reviewer, firm_uscc: str, competitors: Sequence[str], *, on: dt.date, recent_years: int
) -> list[str]:
    """Every conflict of interest between a reviewer and an applicant, in words (empty: none found)."""
    out: list[str] = []
    if firm_uscc in reviewer.affiliations:
        out.append(f"affiliated with the applicant {firm_uscc}")
    for c in competitors:
        if c in reviewer.affiliations:
            out.append(f"affiliated with {c}, a competitor the applicant named")
    cutoff = on.replace(year=on.year - recent_years) if recent_years else on
    for f in reviewer.former_employers:
        until = dt.date.fromisoformat(str(f["until"]))
        if until >= cutoff and (f["uscc"] == firm_uscc or f["uscc"] in competitors):
            whom = "the applicant" if f["uscc"] == firm_uscc else "a named competitor"
            out.append(f"employed by {whom} {f['uscc']} until {until} (within {recent_years} years)")
    return out


def _competitors(session: Session, application_ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in session.scalars(
        select(NamedCompetitor).where(NamedCompetitor.application_id.in_(list(application_ids)))
    ):
        out.setdefault(row.application_id, []).append(row.firm_uscc)
    return out


def _sector(app: Application) -> str:
    return str(app.firm_snapshot.get("sector"))


def _loads(session: Session, call_id: str) -> dict[str, int]:
    loads: dict[str, int] = {}
    for a in session.scalars(
        select(Assignment).where(Assignment.call_id == call_id, Assignment.status.in_(ACTIVE))
    ):
        loads[a.reviewer_id] = loads.get(a.reviewer_id, 0) + 1
    return loads


def assign(
    *, session: Session, call_id: str, per_application: int, on: dt.date, recent_years: int, actor: str
) -> list[Assignment]:
    """Give every application under review ``per_application`` reviewers of its field, without conflict.

    Balanced: applications with the fewest possible reviewers are served first, and each takes the least
    loaded reviewers (ties by reviewer id), so loads differ by at most one where the fields allow.
    """
    reviewers = [r for r in list_reviewers(session=session) if r.active]
    pending = list(
        session.scalars(
            select(Application)
            .where(Application.call_id == call_id, Application.state == State.UNDER_REVIEW.value)
            .order_by(Application.id)
        )
    )
    have: dict[str, set[str]] = {}
    active: dict[str, int] = {}
    for a in session.scalars(select(Assignment).where(Assignment.call_id == call_id)):
        have.setdefault(a.application_id, set()).add(a.reviewer_id)
        if a.status in ACTIVE:
            active[a.application_id] = active.get(a.application_id, 0) + 1
    competitors = _competitors(session, [a.id for a in pending])
    options: dict[str, list[Reviewer]] = {}
    for app in pending:
        sector = _sector(app)
        options[app.id] = [
            r
            for r in reviewers
            if sector in r.fields
            and r.id not in have.get(app.id, set())
            and not conflicts(r, app.firm_uscc, competitors.get(app.id, []), on=on, recent_years=recent_years)
        ]
    loads = _loads(session, call_id)
    made: list[Assignment] = []
    now = utcnow()
    for app in sorted(pending, key=lambda a: (len(options[a.id]), a.id)):
        needed = per_application - active.get(app.id, 0)
        if needed <= 0:
            continue
        choice = sorted(options[app.id], key=lambda r: (loads.get(r.id, 0), r.id))[:needed]
        if len(choice) < needed:
            raise NotEnoughReviewers(app.id, _sector(app), needed, len(choice))
        for r in choice:
            loads[r.id] = loads.get(r.id, 0) + 1
            made.append(
                Assignment(
                    id=new_id(),
                    call_id=call_id,
                    application_id=app.id,
                    reviewer_id=r.id,
                    status=AssignmentStatus.ASSIGNED.value,
                    created_at=now,
                )
            )
    session.add_all(made)
    session.flush()
    if made:
        audit.append(
            session=session,
            actor=actor,
            entity=f"call:{call_id}",
            action="reviewers_assigned",
            payload={"assignments": sorted([a.application_id, a.reviewer_id] for a in made)},
        )
    return made


def assignments_of(*, session: Session, application_id: str) -> list[Assignment]:
    return list(
        session.scalars(
            select(Assignment)
            .where(Assignment.application_id == application_id)
            .order_by(Assignment.created_at, Assignment.id)
        )
    )


def _assignment(session: Session, application_id: str, reviewer_id: str) -> Assignment:
    found = session.scalar(
        select(Assignment).where(
            Assignment.application_id == application_id, Assignment.reviewer_id == reviewer_id
        )
    )
    if found is None:
        raise AssignmentNotFound(application_id, reviewer_id)
    return found


@dataclass(frozen=True)
class Declaration:
    assignment: Assignment
    #: The reviewer who took over after a declared conflict (None: no conflict, or nobody left to take it).
    replacement: Assignment | None


def eligible_reviewers_for(
    *,
    session: Session,
    call_id: str,
    application_ids: Sequence[str],
    on: dt.date,
    recent_years: int,
    among: Collection[str] | None = None,
    any_field: bool = False,
) -> dict[str, list[Reviewer]]:
    """Who could take over each application: active, of its field (unless ``any_field``), not already on
    it (nor conflicted with it), without a known conflict, and in ``among`` when given (reviewers who can
    log in, say); reviewers of the field first, then the least loaded (ties by id). One read of the
    reviewers, the loads and the competitors for all the applications."""
    ids = sorted(set(application_ids))
    found = {a.id: a for a in session.scalars(select(Application).where(Application.id.in_(ids)))}
    tried: dict[str, set[str]] = {}
    for a in session.scalars(select(Assignment).where(Assignment.application_id.in_(ids))):
        tried.setdefault(a.application_id, set()).add(a.reviewer_id)
    comp = _competitors(session, ids)
    loads = _loads(session, call_id)
    reviewers = [r for r in list_reviewers(session=session) if r.active and (among is None or r.id in among)]
    out: dict[str, list[Reviewer]] = {}
    for aid in ids:
        app = found.get(aid) or apps.get_application(session=session, application_id=aid)
        sector = _sector(app)
        out[aid] = sorted(
            (
                r
                for r in reviewers
                if (any_field or sector in r.fields)
                and r.id not in tried.get(aid, set())
                and not conflicts(r, app.firm_uscc, comp.get(aid, []), on=on, recent_years=recent_years)
            ),
            key=lambda r: (sector not in r.fields, loads.get(r.id, 0), r.id),
        )
    return out


def declare(
    *,
    session: Session,
    application_id: str,
    reviewer_id: str,
    conflict: str | None,
    on: dt.date,
    recent_years: int,
    actor: str,
    among: Collection[str] | None = None,
) -> Declaration:
    """The reviewer declares no conflict (``conflict=None``) or one (in words); a conflict reassigns the
    application to the least-loaded eligible reviewer of its field (in ``among`` when given)."""
    a = _assignment(session, application_id, reviewer_id)
    if a.status != AssignmentStatus.ASSIGNED.value:
        raise AlreadyDeclared(application_id, reviewer_id, a.status)
    now = utcnow()
    a.declared_at = now
    if conflict is None:
        a.status = AssignmentStatus.CLEARED.value
        session.flush()
        audit.append(
            session=session,
            actor=actor,
            entity=f"application:{application_id}",
            action="no_conflict_declared",
            payload={"reviewer": reviewer_id},
        )
        return Declaration(a, None)
    if not conflict.strip():
        raise InvalidReviewer("a declared conflict needs a reason in words", why="conflict_needs_reason")
    a.status = AssignmentStatus.CONFLICTED.value
    a.conflict_reason = conflict
    session.flush()
    candidates = eligible_reviewers_for(
        session=session,
        call_id=a.call_id,
        application_ids=[application_id],
        on=on,
        recent_years=recent_years,
        among=among,
    )[application_id]
    replacement = None
    if candidates:
        replacement = Assignment(
            id=new_id(),
            call_id=a.call_id,
            application_id=application_id,
            reviewer_id=candidates[0].id,
            status=AssignmentStatus.ASSIGNED.value,
            replaces_id=a.id,
            created_at=now,
        )
        session.add(replacement)
        session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{application_id}",
        action="conflict_declared",
        payload={
            "reviewer": reviewer_id,
            "conflict": conflict,
            "reassigned_to": replacement.reviewer_id if replacement else None,
        },
    )
    return Declaration(a, replacement)


def reassign(
    *,
    session: Session,
    application_id: str,
    from_reviewer: str,
    to_reviewer: str,
    reason: str,
    on: dt.date,
    recent_years: int,
    actor: str,
) -> Assignment:
    """An officer's override: ``to_reviewer`` reviews the application instead of ``from_reviewer`` (whose
    assignment waits, or ended in a conflict nobody took over), for ``reason``, recorded in the audit chain.

    The new reviewer may be of another field (the override is for when the field has nobody left), but never
    one with a known conflict or one already on the application."""
    if not reason.strip():
        raise InvalidReviewer("an override needs a reason in words", why="override_needs_reason")
    old = _assignment(session, application_id, from_reviewer)
    taken = session.scalar(select(Assignment).where(Assignment.replaces_id == old.id))
    if old.status == AssignmentStatus.SCORED.value or old.status == AssignmentStatus.REASSIGNED.value:
        raise NotReassignable(application_id, from_reviewer, old.status)
    if old.status == AssignmentStatus.CONFLICTED.value and taken is not None:
        raise NotReassignable(application_id, from_reviewer, "taken over")
    reviewer = get_reviewer(session=session, reviewer_id=to_reviewer)
    if not reviewer.active:
        raise InvalidReviewer(f"reviewer {to_reviewer} is not active", why="not_active", reviewer=to_reviewer)
    tried = {x.reviewer_id for x in assignments_of(session=session, application_id=application_id)}
    if to_reviewer in tried:
        raise AlreadyAssigned(application_id, to_reviewer)
    app = apps.get_application(session=session, application_id=application_id)
    comp = _competitors(session, [application_id]).get(application_id, [])
    found = conflicts(reviewer, app.firm_uscc, comp, on=on, recent_years=recent_years)
    if found:
        raise ReviewerConflict(application_id, to_reviewer, found)
    if old.status != AssignmentStatus.CONFLICTED.value:
        old.status = AssignmentStatus.REASSIGNED.value
        old.conflict_reason = f"reassigned: {reason}"
    new = Assignment(
        id=new_id(),
        call_id=old.call_id,
        application_id=application_id,
        reviewer_id=to_reviewer,
        status=AssignmentStatus.ASSIGNED.value,
        replaces_id=old.id,
        created_at=utcnow(),
    )
    session.add(new)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{application_id}",
        action="reviewer_reassigned",
        payload={
            "from": from_reviewer,
            "to": to_reviewer,
            "reason": reason,
            "out_of_field": _sector(app) not in reviewer.fields,
        },
    )
    return new


def _may_see(a: Assignment) -> None:
    if a.status == AssignmentStatus.REASSIGNED.value:  # an officer gave it to someone else
        raise AssignmentNotFound(a.application_id, a.reviewer_id)
    if a.status == AssignmentStatus.ASSIGNED.value:
        raise DeclarationRequired(a.application_id, a.reviewer_id)
    if a.status == AssignmentStatus.CONFLICTED.value:
        raise Conflicted(a.application_id, a.reviewer_id, a.conflict_reason or "declared")


def confidential_view(*, session: Session, application_id: str, reviewer_id: str) -> dict[str, Any]:
    """The application's confidential material (profile, claims, evidence), only after a clear declaration."""
    a = _assignment(session, application_id, reviewer_id)
    _may_see(a)
    app = apps.get_application(session=session, application_id=application_id)
    return {
        "application_id": app.id,
        "firm": app.firm_snapshot,
        "claims": app.claims,
        "evidence": [
            {"filename": ae.filename, "sha256": ef.sha256, "media_type": ef.media_type}
            for ae, ef in apps.evidence_of(session=session, application_id=app.id)
        ],
    }


# --- scores -----------------------------------------------------------------------------------------------


def check_sheet(
    rubric: Sequence[Criterion], scores: Mapping[str, object], comments: Mapping[str, str]
) -> dict[str, Decimal]:
    """Every criterion scored once, on its scale and step; unknown criteria refused. Returns exact values."""
    known = {c.id for c in rubric}
    problems = [f"unknown criterion {k!r}" for k in sorted(set(scores) - known)]
    out: dict[str, Decimal] = {}
    for c in rubric:
        if c.id not in scores or scores[c.id] is None:
            problems.append(f"{c.id}: missing score (expected {c.min}..{c.max})")
            continue
        raw = scores[c.id]
        if isinstance(raw, float | bool):
            problems.append(f"{c.id}: write the score as a decimal number or text, got {raw!r}")
            continue
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            problems.append(f"{c.id}: {raw!r} is not a number")
            continue
        if not value.is_finite() or not c.min <= value <= c.max:
            problems.append(f"{c.id}: {value} is outside the scale {c.min}..{c.max}")
            continue
        if (value - c.min) % c.step != 0:
            problems.append(f"{c.id}: {value} is not on the scale's step of {c.step}")
            continue
        out[c.id] = value
    for k in comments:
        if k not in known:
            problems.append(f"comment for unknown criterion {k!r}")
    if problems:
        raise InvalidScore("score sheet refused: " + "; ".join(problems))
    return out


def submit_scores(
    *,
    session: Session,
    application_id: str,
    reviewer_id: str,
    rubric: Sequence[Criterion],
    scores: Mapping[str, object],
    comments: Mapping[str, str] | None = None,
    actor: str,
) -> Assignment:
    a = _assignment(session, application_id, reviewer_id)
    _may_see(a)
    if a.status == AssignmentStatus.SCORED.value:
        raise AlreadyScored(application_id, reviewer_id)
    comments = comments or {}
    values = check_sheet(rubric, scores, comments)
    now = utcnow()
    for cid, value in values.items():
        session.add(
            Score(
                assignment_id=a.id,
                criterion=cid,
                value=str(value),
                comment=comments.get(cid, ""),
                created_at=now,
            )
        )
    a.status = AssignmentStatus.SCORED.value
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{application_id}",
        action="scored_by_reviewer",
        payload={"reviewer": reviewer_id, "scores": {k: str(v) for k, v in values.items()}},
    )
    return a


# --- normalisation ----------------------------------------------------------------------------------------

NORMALISED = Decimal("0.0001")


@dataclass(frozen=True)
class Normalised:
    """An application's normalised score (T-scale: 50 + 10 x the mean of its reviewers' z-scores)."""

    application_id: str
    score: Decimal
    mean_raw: Decimal
    reviewers: int
    #: reviewer id -> (raw weighted total on 0..100, z-score)
    detail: dict[str, tuple[float, float]]


def weighted_total(rubric: Sequence[Criterion], values: Mapping[str, Decimal]) -> float:
    """A sheet as one number on 0..100: each criterion scaled to 0..1, weighted, summed."""
    total_w = sum((c.weight for c in rubric), Decimal(0))
    acc = Decimal(0)
    for c in rubric:
        acc += c.weight * (values[c.id] - c.min) / (c.max - c.min)
    return float(acc * 100 / total_w)


def _mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    mean = math.fsum(xs) / len(xs)
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs))


def normalise(
    *, session: Session, call_id: str, rubric: Sequence[Criterion], min_reviews_for_z: int, actor: str
) -> list[Normalised]:
    """z-scores per reviewer, averaged per application, stored as the application's score.

    A reviewer who scored fewer than ``min_reviews_for_z`` applications, or gave every one the same total,
    has no spread to learn from: their totals are standardised with the pooled mean and spread of all
    reviewers instead. Deterministic: sums run in sorted order, results are rounded half-even to 10^-4.
    """
    rows = session.execute(
        select(Assignment, Score)
        .join(Score, Score.assignment_id == Assignment.id)
        .where(Assignment.call_id == call_id, Assignment.status == AssignmentStatus.SCORED.value)
        .order_by(Assignment.reviewer_id, Assignment.application_id, Score.criterion)
    ).all()
    open_ = session.scalars(
        select(Assignment).where(
            Assignment.call_id == call_id,
            Assignment.status.in_([AssignmentStatus.ASSIGNED.value, AssignmentStatus.CLEARED.value]),
        )
    ).all()
    if open_:
        raise ReviewIncomplete(len(open_), open_[0].reviewer_id, open_[0].application_id)
    sheets: dict[tuple[str, str], dict[str, Decimal]] = {}
    for a, s in rows:
        sheets.setdefault((a.reviewer_id, a.application_id), {})[s.criterion] = Decimal(s.value)
    totals = {key: weighted_total(rubric, vals) for key, vals in sorted(sheets.items())}
    if not totals:
        return []
    pooled = _mean_sd(list(totals.values()))
    by_reviewer: dict[str, list[float]] = {}
    for (rid, _), t in totals.items():
        by_reviewer.setdefault(rid, []).append(t)
    stats: dict[str, tuple[float, float]] = {}
    for rid, ts in by_reviewer.items():
        mean, sd = _mean_sd(ts)
        stats[rid] = (mean, sd) if len(ts) >= min_reviews_for_z and sd > 0 else pooled
    per_app: dict[str, dict[str, tuple[float, float]]] = {}
    for (rid, aid), t in totals.items():
        mean, sd = stats[rid]
        z = (t - mean) / sd if sd > 0 else 0.0
        per_app.setdefault(aid, {})[rid] = (t, z)
    out: list[Normalised] = []
    for aid in sorted(per_app):
        detail = per_app[aid]
        zs = [detail[r][1] for r in sorted(detail)]
        raws = [detail[r][0] for r in sorted(detail)]
        score = Decimal(repr(50 + 10 * math.fsum(zs) / len(zs))).quantize(NORMALISED, ROUND_HALF_EVEN)
        mean_raw = Decimal(repr(math.fsum(raws) / len(raws))).quantize(NORMALISED, ROUND_HALF_EVEN)
        out.append(Normalised(aid, score, mean_raw, len(zs), detail))
        apps.set_score(session=session, application_id=aid, score=score, actor=actor)
    return out


def mean_raw_scores(*, session: Session, call_id: str, rubric: Sequence[Criterion]) -> dict[str, Decimal]:
    """Each application's mean raw weighted total (the first tie-break after the normalised score)."""
    rows = session.execute(
        select(Assignment, Score)
        .join(Score, Score.assignment_id == Assignment.id)
        .where(Assignment.call_id == call_id, Assignment.status == AssignmentStatus.SCORED.value)
    ).all()
    sheets: dict[tuple[str, str], dict[str, Decimal]] = {}
    for a, s in rows:
        sheets.setdefault((a.reviewer_id, a.application_id), {})[s.criterion] = Decimal(s.value)
    per: dict[str, list[float]] = {}
    for (_, aid), vals in sorted(sheets.items()):
        per.setdefault(aid, []).append(weighted_total(rubric, vals))
    return {
        aid: Decimal(repr(math.fsum(v) / len(v))).quantize(NORMALISED, ROUND_HALF_EVEN)
        for aid, v in per.items()
    }
