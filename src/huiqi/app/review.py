"""Review panels: reviewers, assignment without conflicts of interest, the declaration before the
confidential view, score sheets, normalisation, and the officer's reassignment when a review cannot go on.

A reviewer acts through a user account with the reviewer role whose username is the reviewer's id, so a
declared conflict passes the application only to a reviewer who has such an account; when nobody eligible
has one, the officer reassigns it (who reviews instead, and why, in the audit chain).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.app import call_files
from huiqi.app.store import Store
from huiqi.applications import service as apps
from huiqi.applications.models import Application, State
from huiqi.review import service as review
from huiqi.review.errors import AssignmentNotFound, ReviewerWithoutAccount
from huiqi.review.models import Assignment, AssignmentStatus, Reviewer
from huiqi.selection.callfile import CallFile
from huiqi.selection.models import SelectionRun
from huiqi.selection.service import rubric_of

__all__ = ["AssignmentStatus", "CallFile"]

#: Assignment states in which a review still waits for its reviewer.
WAITING = (AssignmentStatus.ASSIGNED.value, AssignmentStatus.CLEARED.value)


# --- read models -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewerView:
    """A reviewer: the fields they review, what they are tied to, and whether they can log in."""

    id: str
    name: str
    fields: list[str]
    affiliations: list[str]
    former_employers: list[dict[str, Any]]
    active: bool
    has_account: bool

    @classmethod
    def of(cls, r: Reviewer, logins: set[str]) -> ReviewerView:
        return cls(
            r.id,
            r.name,
            list(r.fields),
            list(r.affiliations),
            list(r.former_employers),
            r.active,
            r.id in logins,
        )


@dataclass(frozen=True)
class AssignmentView:
    """One reviewer on one application, with the declaration's state."""

    id: str
    call_id: str
    application_id: str
    reviewer_id: str
    status: str
    conflict_reason: str | None
    declared_at: str | None
    replaces_id: str | None

    @classmethod
    def of(cls, a: Assignment) -> AssignmentView:
        return cls(
            a.id,
            a.call_id,
            a.application_id,
            a.reviewer_id,
            a.status,
            a.conflict_reason,
            a.declared_at.isoformat() if a.declared_at else None,
            a.replaces_id,
        )


@dataclass(frozen=True)
class AssignmentsMade:
    call_id: str
    assignments_made: int


@dataclass(frozen=True)
class DeclarationView:
    """The declaration, and who took the application over after a conflict (None: the officer chooses)."""

    assignment: AssignmentView
    reassigned_to: str | None


@dataclass(frozen=True)
class Material:
    """An application's confidential material, shown only after a declaration of no conflict."""

    application_id: str
    firm: dict[str, Any]
    claims: list[dict[str, Any]]
    evidence: list[dict[str, Any]]


@dataclass(frozen=True)
class RubricRow:
    id: str
    label: dict[str, str]
    weight: str
    min: str
    max: str
    step: str


@dataclass(frozen=True)
class ReviewSheet:
    """What a reviewer is asked to do on one application: the call, the firm's name, the rubric."""

    assignment: AssignmentView
    call_id: str
    firm_uscc: str
    firm_name: dict[str, str]
    rubric: list[RubricRow]


@dataclass(frozen=True)
class ScoreRow:
    application_id: str
    score: str


@dataclass(frozen=True)
class Normalised:
    call_id: str
    scores: list[ScoreRow]


@dataclass(frozen=True)
class WaitingReview:
    """A review the call waits for, and who could take it over (reviewers who can act, no known
    conflict; those of the field first)."""

    application_id: str
    firm_uscc: str
    firm_name: str
    reviewer_id: str
    status: str
    #: The reviewer can do it: has a reviewer account (or no reviewer has one: a panel run from the CLI).
    has_account: bool
    #: True when only the officer can move it on: its reviewer cannot log in, or a conflict found nobody.
    stalled: bool
    candidates: list[str]


@dataclass(frozen=True)
class ReviewProgress:
    """Where a designation call stands: the call, its file, the applications' states, the reviews."""

    call_id: str
    programme_id: str
    pool_id: str
    allocation_mode: str
    has_call_file: bool
    applications: dict[str, int]
    assignments: dict[str, int]
    waiting: list[WaitingReview]
    scored_applications: int
    selected: bool


@dataclass(frozen=True)
class Reassignment:
    """The officer's override: who reviews instead of whom, and why."""

    application_id: str
    from_reviewer: str
    to_reviewer: str
    reason: str
    assignment: AssignmentView


# --- helpers -----------------------------------------------------------------------------------------------


def reviewer_logins(session: Session) -> set[str]:
    """Usernames of the active reviewer accounts: the reviewers who can do a review."""
    return {u.username for u in accounts.list_users(session=session) if u.role == "reviewer" and u.active}


def reviewers_who_can_act(session: Session) -> set[str] | None:
    """The reviewers who can do a review when reviewers act through accounts (at least one of them has
    one); None when none has: a panel run wholly from the CLI, where any reviewer can act."""
    logins = reviewer_logins(session)
    if any(r.id in logins for r in review.list_reviewers(session=session)):
        return logins
    return None


def rubric_rows(cf: CallFile) -> list[RubricRow]:
    """The call file's rubric as shown to reviewers and officers."""
    return [
        RubricRow(
            c.id,
            {"zh": c.label.zh, "en": c.label.en},
            str(c.weight),
            str(c.scale.min),
            str(c.scale.max),
            str(c.scale.step),
        )
        for c in cf.rubric
    ]


def firm_names(app: Application) -> dict[str, str]:
    snap = app.firm_snapshot or {}
    zh = str(snap.get("name_zh") or app.firm_uscc)
    return {"zh": zh, "en": str(snap.get("name_en") or zh)}


# --- reviewers ---------------------------------------------------------------------------------------------


def add_reviewer(
    store: Store,
    *,
    reviewer_id: str,
    name: str,
    fields: Sequence[str],
    affiliations: Sequence[str] = (),
    former_employers: Sequence[Mapping[str, str]] = (),
    actor: str,
) -> ReviewerView:
    """Add an expert with the sectors they review and what they are tied to (for conflicts of interest)."""

    def work(s: Session) -> ReviewerView:
        r = review.add_reviewer(
            session=s,
            reviewer_id=reviewer_id,
            name=name,
            fields=fields,
            affiliations=affiliations,
            former_employers=former_employers,
            actor=actor,
        )
        return ReviewerView.of(r, reviewer_logins(s))

    return store.write(work)


def list_reviewers(store: Store) -> list[ReviewerView]:
    """Every reviewer, so an officer sees who can review what and who can log in."""
    return store.read(
        lambda s: [ReviewerView.of(r, reviewer_logins(s)) for r in review.list_reviewers(session=s)]
    )


# --- assignment and declarations ----------------------------------------------------------------------------


def assign_reviewers(
    store: Store, *, call_id: str, on: dt.date, actor: str, call_file: CallFile | None = None
) -> AssignmentsMade:
    """Give each application under review its reviewers of the field, without known conflicts, loads even."""

    def work(s: Session) -> AssignmentsMade:
        cf = call_files.for_call(s, call_id, call_file)
        made = review.assign(
            session=s,
            call_id=call_id,
            per_application=cf.review.reviewers_per_application,
            on=on,
            recent_years=cf.review.recent_employment_years,
            actor=actor,
        )
        return AssignmentsMade(call_id, len(made))

    return store.write(work)


def list_assignments(
    store: Store, *, reviewer_id: str | None = None, call_id: str | None = None
) -> list[AssignmentView]:
    """Review assignments: one reviewer's own (``reviewer_id``), or everyone's, of one call or all."""

    def work(s: Session) -> list[AssignmentView]:
        q = select(Assignment).order_by(Assignment.call_id, Assignment.application_id, Assignment.reviewer_id)
        if reviewer_id is not None:
            q = q.where(Assignment.reviewer_id == reviewer_id)
        if call_id:
            q = q.where(Assignment.call_id == call_id)
        return [AssignmentView.of(a) for a in s.scalars(q)]

    return store.read(work)


def declare(
    store: Store,
    *,
    application_id: str,
    reviewer_id: str,
    conflict: str | None,
    on: dt.date,
    actor: str,
    call_file: CallFile | None = None,
) -> DeclarationView:
    """Declare before any material: no conflict opens it, a conflict passes it to one who can log in."""

    def work(s: Session) -> DeclarationView:
        cf = call_files.for_application(s, application_id, call_file)
        d = review.declare(
            session=s,
            application_id=application_id,
            reviewer_id=reviewer_id,
            conflict=conflict,
            on=on,
            recent_years=cf.review.recent_employment_years,
            actor=actor,
            among=reviewers_who_can_act(s),
        )
        return DeclarationView(
            AssignmentView.of(d.assignment), d.replacement.reviewer_id if d.replacement else None
        )

    return store.write(work)


def confidential_view(store: Store, *, application_id: str, reviewer_id: str) -> Material:
    """The application's profile, claims and evidence, for a reviewer who declared no conflict."""

    def work(s: Session) -> Material:
        m = review.confidential_view(session=s, application_id=application_id, reviewer_id=reviewer_id)
        return Material(m["application_id"], m["firm"], list(m["claims"]), m["evidence"])

    return store.read(work)


def review_sheet(store: Store, *, application_id: str, reviewer_id: str) -> ReviewSheet:
    """What a reviewer sees before the material: the call, the firm's name, the rubric, their status."""

    def work(s: Session) -> ReviewSheet:
        mine = [
            a
            for a in review.assignments_of(session=s, application_id=application_id)
            if a.reviewer_id == reviewer_id
        ]
        if not mine:
            raise AssignmentNotFound(application_id, reviewer_id)
        app = apps.get_application(session=s, application_id=application_id)
        row = call_files.stored(s, app.call_id)  # a call run from the CLI may have no uploaded file
        rubric = rubric_rows(call_files.parse(row.text, app.call_id)) if row else []
        return ReviewSheet(AssignmentView.of(mine[0]), app.call_id, app.firm_uscc, firm_names(app), rubric)

    return store.read(work)


def submit_scores(
    store: Store,
    *,
    application_id: str,
    reviewer_id: str,
    scores: Mapping[str, object],
    comments: Mapping[str, str] | None = None,
    actor: str,
    call_file: CallFile | None = None,
) -> AssignmentView:
    """A score sheet: every rubric criterion once, on its scale and step (each problem named)."""

    def work(s: Session) -> AssignmentView:
        cf = call_files.for_application(s, application_id, call_file)
        a = review.submit_scores(
            session=s,
            application_id=application_id,
            reviewer_id=reviewer_id,
            rubric=rubric_of(cf),
            scores=scores,
            comments=comments or {},
            actor=actor,
        )
        return AssignmentView.of(a)

    return store.write(work)


def normalise_scores(
    store: Store, *, call_id: str, actor: str, call_file: CallFile | None = None
) -> Normalised:
    """Standardise each reviewer's totals so harsh and lenient reviewers weigh alike (all reviews needed)."""

    def work(s: Session) -> Normalised:
        cf = call_files.for_call(s, call_id, call_file)
        out = review.normalise(
            session=s,
            call_id=call_id,
            rubric=rubric_of(cf),
            min_reviews_for_z=cf.review.min_reviews_for_z,
            actor=actor,
        )
        return Normalised(call_id, [ScoreRow(n.application_id, str(n.score)) for n in out])

    return store.write(work)


# --- progress and the officer's override -----------------------------------------------------------------


def waiting_reviews(
    s: Session, call_id: str, on: dt.date, recent_years: int, can_act: set[str] | None
) -> list[WaitingReview]:
    """Reviews the call waits for, the stalled first: assignments not scored yet of applications under
    review, and conflicts nobody took over."""
    rows = list(s.scalars(select(Assignment).where(Assignment.call_id == call_id)))
    taken = {a.replaces_id for a in rows if a.replaces_id}
    under = {
        a.id: a
        for a in s.scalars(
            select(Application).where(
                Application.call_id == call_id, Application.state == State.UNDER_REVIEW.value
            )
        )
    }
    pending = [
        a
        for a in rows
        if a.application_id in under
        and (a.status in WAITING or (a.status == AssignmentStatus.CONFLICTED.value and a.id not in taken))
    ]
    candidates = review.eligible_reviewers_for(
        session=s,
        call_id=call_id,
        application_ids=[a.application_id for a in pending],
        on=on,
        recent_years=recent_years,
        among=can_act,
        any_field=True,
    )
    out = [
        WaitingReview(
            a.application_id,
            under[a.application_id].firm_uscc,
            firm_names(under[a.application_id])["zh"],
            a.reviewer_id,
            a.status,
            can_act is None or a.reviewer_id in can_act,
            a.status == AssignmentStatus.CONFLICTED.value
            or (can_act is not None and a.reviewer_id not in can_act),
            [r.id for r in candidates[a.application_id]],
        )
        for a in pending
    ]
    return sorted(out, key=lambda w: (not w.stalled, w.application_id, w.reviewer_id))


def review_progress(store: Store, *, call_id: str, on: dt.date) -> ReviewProgress:
    """Where a designation call stands and which reviews it waits for, so an officer can move it on."""

    def work(s: Session) -> ReviewProgress:
        call = apps.get_call(session=s, call_id=call_id)
        row = call_files.stored(s, call_id)
        recent = call_files.parse(row.text, call_id).review.recent_employment_years if row else 3
        states: dict[str, int] = {}
        scored = 0
        for app in s.scalars(select(Application).where(Application.call_id == call_id)):
            states[app.state] = states.get(app.state, 0) + 1
            scored += app.state == State.UNDER_REVIEW.value and app.score is not None
        counts: dict[str, int] = {}
        for a in s.scalars(select(Assignment).where(Assignment.call_id == call_id)):
            counts[a.status] = counts.get(a.status, 0) + 1
        selected = s.scalar(select(SelectionRun.id).where(SelectionRun.call_id == call_id)) is not None
        return ReviewProgress(
            call_id,
            call.programme_id,
            call.pool_id,
            call.allocation_mode,
            row is not None,
            dict(sorted(states.items())),
            dict(sorted(counts.items())),
            waiting_reviews(s, call_id, on, recent, reviewers_who_can_act(s)),
            scored,
            selected,
        )

    return store.read(work)


def reassign(
    store: Store,
    *,
    application_id: str,
    from_reviewer: str,
    to_reviewer: str,
    reason: str,
    on: dt.date,
    actor: str,
    call_file: CallFile | None = None,
) -> Reassignment:
    """The officer's override so a stalled review goes on: another reviewer with an account takes it."""

    def work(s: Session) -> Reassignment:
        can_act = reviewers_who_can_act(s)
        if can_act is not None and to_reviewer not in can_act:
            review.get_reviewer(session=s, reviewer_id=to_reviewer)  # an unknown reviewer is a 404
            raise ReviewerWithoutAccount(to_reviewer)
        cf = call_files.for_application(s, application_id, call_file)
        new = review.reassign(
            session=s,
            application_id=application_id,
            from_reviewer=from_reviewer,
            to_reviewer=to_reviewer,
            reason=reason,
            on=on,
            recent_years=cf.review.recent_employment_years,
            actor=actor,
        )
        return Reassignment(application_id, from_reviewer, to_reviewer, reason, AssignmentView.of(new))

    return store.write(work)
