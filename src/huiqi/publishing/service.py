"""The lifecycle's steps on a session (the use case in ``huiqi.app.lifecycle`` owns the transaction): each
checks the state table and the two-person rule, changes the draft and appends one audit link."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.db.types import utcnow
from huiqi.publishing.errors import (
    DraftNotFound,
    IllegalStep,
    NotTheAuthor,
    ReasonRequired,
    SecondOfficerRequired,
)
from huiqi.publishing.models import ProgrammeDraft
from huiqi.publishing.states import DRAFT, PUBLISHED, STEPS, WITHDRAWN, person


def sha256(text: str) -> str:
    """The digest a draft's text is known by (the same as a loaded programme's)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record(session: Session, draft: ProgrammeDraft, actor: str, step: str, **extra: object) -> None:
    audit.append(
        session=session,
        actor=actor,
        entity=f"programme:{draft.programme_id}",
        action=f"draft-{step}",
        payload={"draft": draft.id, "version": draft.version, "sha256": draft.sha256, **extra},
    )


#: the largest draft number (PostgreSQL's INTEGER)
LARGEST_ID = 2**31 - 1


def _move(draft: ProgrammeDraft, step: str) -> None:
    allowed, target = STEPS[step]
    if draft.status not in allowed:
        raise IllegalStep(draft.id, draft.status, step, allowed)
    draft.status = target
    draft.updated_at = utcnow()


def get(session: Session, draft_id: int) -> ProgrammeDraft:
    """One draft (``DraftNotFound``, also for a number no draft can have: the column is 32-bit on PostgreSQL
    and SQLite refuses integers past 64 bits, so such a number is looked for nowhere)."""
    if not 1 <= draft_id <= LARGEST_ID:
        raise DraftNotFound(draft_id)
    draft = session.get(ProgrammeDraft, draft_id)
    if draft is None:
        raise DraftNotFound(draft_id)
    return draft


def drafts(
    session: Session, *, statuses: Sequence[str] = (), programme_id: str | None = None
) -> list[ProgrammeDraft]:
    """Drafts, newest first, optionally of some states or of one programme."""
    q = select(ProgrammeDraft).order_by(ProgrammeDraft.id.desc())
    if statuses:
        q = q.where(ProgrammeDraft.status.in_(statuses))
    if programme_id is not None:
        q = q.where(ProgrammeDraft.programme_id == programme_id)
    return list(session.scalars(q))


def create(
    session: Session, *, programme_id: str, version: str, filename: str, text: str, tests: str, author: str
) -> ProgrammeDraft:
    """Keep a new draft (the caller has validated the file)."""
    draft = ProgrammeDraft(
        programme_id=programme_id,
        version=version,
        filename=filename,
        text=text,
        tests=tests,
        sha256=sha256(text),
        status=DRAFT,
        author=author,
    )
    session.add(draft)
    session.flush()
    _record(session, draft, author, "created")
    return draft


def edit(
    session: Session,
    *,
    draft_id: int,
    programme_id: str,
    version: str,
    filename: str,
    text: str,
    tests: str,
    actor: str,
) -> ProgrammeDraft:
    """Replace a draft's text and tests (its author, while it is a draft)."""
    draft = get(session, draft_id)
    if person(actor) != person(draft.author):
        raise NotTheAuthor(draft.id, draft.author)
    _move(draft, "edited")
    draft.programme_id, draft.version, draft.filename = programme_id, version, filename
    draft.text, draft.tests, draft.sha256 = text, tests, sha256(text)
    session.flush()
    _record(session, draft, actor, "edited")
    return draft


def submit(session: Session, *, draft_id: int, actor: str) -> ProgrammeDraft:
    """Ask for review (its author)."""
    draft = get(session, draft_id)
    if person(actor) != person(draft.author):
        raise NotTheAuthor(draft.id, draft.author)
    _move(draft, "submitted")
    draft.submitted_at = draft.updated_at
    session.flush()
    _record(session, draft, actor, "submitted")
    return draft


def check_reviewer(draft: ProgrammeDraft, actor: str, step: str) -> None:
    """The two-person rule: the author may not review their own draft."""
    if person(actor) == person(draft.author):
        raise SecondOfficerRequired(draft.id, draft.author, step)


def check_step(draft: ProgrammeDraft, step: str, actor: str) -> None:
    """Whether a second officer may take this step now (``IllegalStep``, ``SecondOfficerRequired``), so a
    refusal comes before any slow work (a publication's test cases)."""
    check_reviewer(draft, actor, "publish" if step == "published" else "reject")
    allowed, _ = STEPS[step]
    if draft.status not in allowed:
        raise IllegalStep(draft.id, draft.status, step, allowed)


def reject(session: Session, *, draft_id: int, actor: str, reason: str) -> ProgrammeDraft:
    """Send a draft in review back to its author with a reason (a second officer)."""
    draft = get(session, draft_id)
    check_reviewer(draft, actor, "reject")
    if not reason.strip():
        raise ReasonRequired("reject a draft")
    _move(draft, "rejected")
    draft.reviewer, draft.reason = actor, reason.strip()
    session.flush()
    _record(session, draft, actor, "rejected", reason=draft.reason)
    return draft


def publish(
    session: Session, *, draft_id: int, actor: str, previous_version: str | None, tests_passed: int
) -> ProgrammeDraft:
    """Mark a draft in review as published (a second officer; the caller has run its tests and put it in
    force)."""
    draft = get(session, draft_id)
    check_reviewer(draft, actor, "publish")
    _move(draft, "published")
    draft.reviewer, draft.published_at = actor, draft.updated_at
    session.flush()
    _record(session, draft, actor, "published", previous_version=previous_version, tests_passed=tests_passed)
    return draft


def withdraw(
    session: Session, *, programme_id: str, version: str, sha: str, actor: str, reason: str
) -> list[ProgrammeDraft]:
    """Record that a version was taken out of force, with the reason; the drafts it was published from are
    marked withdrawn (a bundled version has none)."""
    if not reason.strip():
        raise ReasonRequired("withdraw a version")
    found = [
        d for d in drafts(session, statuses=(PUBLISHED,), programme_id=programme_id) if d.version == version
    ]
    for d in found:
        d.status, d.reason = WITHDRAWN, reason.strip()
        d.updated_at = d.withdrawn_at = utcnow()
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"programme:{programme_id}",
        action="withdrawn",
        payload={
            "version": version,
            "sha256": sha,
            "reason": reason.strip(),
            "drafts": [d.id for d in found],
        },
    )
    return found
