"""Conditions of the review domain; each message says what to do."""

from __future__ import annotations


class ReviewError(Exception):
    """Base class: the operation was refused and nothing was written."""


class ReviewerNotFound(ReviewError):
    def __init__(self, reviewer_id: str) -> None:
        super().__init__(f"no reviewer {reviewer_id!r}; add the reviewer (id, name, fields) first")
        self.reviewer_id = reviewer_id


class ReviewerExists(ReviewError):
    def __init__(self, reviewer_id: str) -> None:
        super().__init__(f"reviewer {reviewer_id!r} already exists")
        self.reviewer_id = reviewer_id


class InvalidReviewer(ReviewError):
    """A reviewer record with a bad field (named); ``why`` and ``figures`` let a page word it in its own
    language."""

    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(message)
        self.message, self.why, self.figures = message, why, figures


class AssignmentNotFound(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(f"reviewer {reviewer_id} is not assigned to application {application_id}")
        self.application_id = application_id
        self.reviewer_id = reviewer_id


class NotEnoughReviewers(ReviewError):
    def __init__(self, application_id: str, sector: str, needed: int, found: int) -> None:
        super().__init__(
            f"application {application_id} ({sector}) needs {needed} reviewers without a conflict who "
            f"cover {sector}; only {found} are available: add reviewers for that field"
        )
        self.application_id = application_id
        self.sector = sector
        self.needed = needed
        self.found = found


class DeclarationRequired(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has not declared on application {application_id}: declare whether you "
            "have a conflict of interest before the confidential material is shown"
        )
        self.application_id = application_id
        self.reviewer_id = reviewer_id


class Conflicted(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str, reason: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has a conflict of interest with application {application_id} "
            f"({reason}) and may neither see nor score it"
        )
        self.application_id = application_id
        self.reviewer_id = reviewer_id
        self.reason = reason


class AlreadyDeclared(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str, status: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has already declared on application {application_id} ({status})"
        )
        self.application_id = application_id
        self.reviewer_id = reviewer_id
        self.status = status


class InvalidScore(ReviewError):
    """A score sheet refused: a missing, unknown or out-of-range score, named by criterion."""


class AlreadyScored(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(f"reviewer {reviewer_id} has already scored application {application_id}")
        self.application_id = application_id
        self.reviewer_id = reviewer_id


class ReviewIncomplete(ReviewError):
    def __init__(self, missing: int, reviewer_id: str, application_id: str) -> None:
        self.missing, self.reviewer_id, self.application_id = missing, reviewer_id, application_id
        super().__init__(
            f"{missing} assignment(s) are not scored yet (e.g. {reviewer_id} on {application_id}); every "
            "assigned reviewer must score before scores are normalised, and a review whose reviewer cannot "
            "go on is reassigned to another reviewer first"
        )


class AlreadyAssigned(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} is already on application {application_id} (or declared a conflict "
            "with it): choose another reviewer"
        )
        self.application_id = application_id
        self.reviewer_id = reviewer_id


class NotReassignable(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str, status: str) -> None:
        super().__init__(
            f"the assignment of reviewer {reviewer_id} to application {application_id} is {status}: "
            + (
                "its scores stand and it cannot be given to anyone else"
                if status == "scored"
                else "another reviewer already took it over"
            )
        )
        self.application_id = application_id
        self.reviewer_id = reviewer_id
        self.status = status


class ReviewerConflict(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str, reasons: list[str]) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has a conflict of interest with application {application_id} "
            f"({'; '.join(reasons)}): choose another reviewer"
        )
        self.application_id = application_id
        self.reviewer_id = reviewer_id
        self.reasons = reasons


class ReviewerWithoutAccount(ReviewError):
    def __init__(self, reviewer_id: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has no active reviewer account, so nobody could do this review: "
            f"create a user with the reviewer role and the username {reviewer_id}, or choose another reviewer"
        )
        self.reviewer_id = reviewer_id
