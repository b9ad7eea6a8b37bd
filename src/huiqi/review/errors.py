"""Conditions of the review domain; each message says what to do."""

from __future__ import annotations


class ReviewError(Exception):
    """Base class: the operation was refused and nothing was written."""


class ReviewerNotFound(ReviewError):
    def __init__(self, reviewer_id: str) -> None:
        super().__init__(f"no reviewer {reviewer_id!r}; add one with `huiqi reviewers add`")


class ReviewerExists(ReviewError):
    def __init__(self, reviewer_id: str) -> None:
        super().__init__(f"reviewer {reviewer_id!r} already exists")


class InvalidReviewer(ReviewError):
    """A reviewer record with a bad field (named)."""


class AssignmentNotFound(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(f"reviewer {reviewer_id} is not assigned to application {application_id}")


class NotEnoughReviewers(ReviewError):
    def __init__(self, application_id: str, sector: str, needed: int, found: int) -> None:
        super().__init__(
            f"application {application_id} ({sector}) needs {needed} reviewers without a conflict who "
            f"cover {sector}; only {found} are available: add reviewers for that field"
        )


class DeclarationRequired(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has not declared on application {application_id}: declare no conflict "
            "(`huiqi review declare --none`) before the confidential material is shown"
        )


class Conflicted(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str, reason: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has a conflict of interest with application {application_id} "
            f"({reason}) and may neither see nor score it"
        )


class AlreadyDeclared(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str, status: str) -> None:
        super().__init__(
            f"reviewer {reviewer_id} has already declared on application {application_id} ({status})"
        )


class InvalidScore(ReviewError):
    """A score sheet refused: a missing, unknown or out-of-range score, named by criterion."""


class AlreadyScored(ReviewError):
    def __init__(self, application_id: str, reviewer_id: str) -> None:
        super().__init__(f"reviewer {reviewer_id} has already scored application {application_id}")


class ReviewIncomplete(ReviewError):
    def __init__(self, missing: int, example: str) -> None:
        super().__init__(
            f"{missing} assignment(s) are not scored yet (e.g. {example}); every assigned reviewer "
            "must score before scores are normalised"
        )
