"""When a tranche may be paid: its milestone must be met, and shown to be.

The grant's own milestone (``award granted``, the one tranche of a default plan) is met by the grant. Any
other milestone ("office opened", "final report") needs evidence: a file attached to the application that
the officer names when paying. Without it the tranche is not yet due, whatever its date says: its due date
is the deadline by which the milestone must be met (after it, the milestone can be recorded as missed).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.applications.models import ApplicationEvidence
from huiqi.ledger.models import Award, Tranche, TrancheStatus
from huiqi.workflows.errors import NoAward, WorkflowError

#: The milestone of a default plan's one tranche (ledger/plan.py): met when the award is granted.
GRANT_MILESTONE = "award granted"


class TrancheNotPayable(WorkflowError):
    """The tranche's milestone is not shown to be met. ``why`` (``no_tranche``, ``no_evidence``,
    ``not_attached``) and the figures beside it let a page word it in its language."""

    def __init__(
        self,
        message: str,
        *,
        why: str = "",
        application_id: str = "",
        seq: int = 0,
        award_id: str = "",
        milestone: str = "",
        due: dt.date | None = None,
        evidence: str = "",
    ) -> None:
        super().__init__(message)
        self.message, self.why, self.application_id, self.seq = message, why, application_id, seq
        self.award_id, self.milestone, self.due, self.evidence = award_id, milestone, due, evidence


def needs_evidence(milestone: str) -> bool:
    """Whether paying a tranche with this milestone needs a file that shows it was met."""
    return milestone.strip().lower() != GRANT_MILESTONE


def tranche_of(*, session: Session, application_id: str, seq: int) -> tuple[Award, Tranche]:
    """The application's award and its tranche ``seq`` (refusals name what is missing)."""
    award = session.scalar(select(Award).where(Award.application_id == application_id))
    if award is None:
        raise NoAward(application_id)
    tranche = session.scalar(select(Tranche).where(Tranche.award_id == award.id, Tranche.seq == seq))
    if tranche is None:
        raise TrancheNotPayable(
            f"award {award.id} of application {application_id} has no tranche {seq}; "
            "its tranches are listed on the application page and by `huiqi awards show`",
            why="no_tranche",
            application_id=application_id,
            seq=seq,
            award_id=award.id,
        )
    return award, tranche


def check_payable(
    *, session: Session, application_id: str, seq: int, evidence: str | None, on: dt.date
) -> Tranche:
    """Refuse paying a tranche whose milestone is not shown to be met (a tranche "due in a year paid today
    with no evidence"); the evidence named must be a file of this application."""
    _, tranche = tranche_of(session=session, application_id=application_id, seq=seq)
    if tranche.status != TrancheStatus.PENDING.value or not needs_evidence(tranche.milestone):
        return tranche  # paid twice, clawed back...: the ledger gives the precise refusal
    if not evidence:
        when = (
            f"due by {tranche.due_date.isoformat()}, in {(tranche.due_date - on).days} days"
            if tranche.due_date > on
            else f"due since {tranche.due_date.isoformat()}"
        )
        raise TrancheNotPayable(
            f"tranche {seq} is not due for payment: its milestone {tranche.milestone!r} ({when}) is not "
            "shown to be met; attach the evidence to the application and name it when paying (the file's "
            'sha256: --evidence on the command line, "evidence" in the API, the list on the page)',
            why="no_evidence",
            application_id=application_id,
            seq=seq,
            milestone=tranche.milestone,
            due=tranche.due_date,
        )
    attached = session.get(ApplicationEvidence, (application_id, evidence))
    if attached is None:
        raise TrancheNotPayable(
            f"evidence {evidence[:12]!r} is not a file of application {application_id}; name the sha256 of a "
            "file attached to it",
            why="not_attached",
            application_id=application_id,
            seq=seq,
            evidence=evidence[:12],
        )
    return tranche
