"""Refusals of the programme lifecycle; each message says what was wrong and what is expected."""

from __future__ import annotations


class PublishingError(Exception):
    """Base of every lifecycle refusal."""


class DraftNotFound(PublishingError):
    def __init__(self, draft_id: int) -> None:
        super().__init__(f"no programme draft {draft_id}; `huiqi programmes drafts` lists them")
        self.draft_id = draft_id


class IllegalStep(PublishingError):
    """The draft is not in a state that allows this step."""

    def __init__(self, draft_id: int, status: str, step: str, allowed_from: tuple[str, ...]) -> None:
        super().__init__(
            f"draft {draft_id} is {status}: it cannot be {step} (only a draft that is "
            f"{' or '.join(allowed_from)} can)"
        )
        self.draft_id = draft_id
        self.status = status
        self.step = step
        self.allowed_from = allowed_from


class SecondOfficerRequired(PublishingError):
    """The two-person rule: the author of a draft may not approve, reject or publish it."""

    def __init__(self, draft_id: int, author: str, step: str) -> None:
        super().__init__(
            f"draft {draft_id} was written by {author}: a second officer, not its author, must {step} it"
        )
        self.draft_id = draft_id
        self.author = author
        self.step = step


class NotTheAuthor(PublishingError):
    def __init__(self, draft_id: int, author: str) -> None:
        super().__init__(f"draft {draft_id} is {author}'s: only its author edits or submits it")
        self.draft_id = draft_id
        self.author = author


class ReasonRequired(PublishingError):
    def __init__(self, step: str) -> None:
        super().__init__(f"give a reason to {step} (it is kept in the audit chain)")
        self.step = step


class TestsFailed(PublishingError):
    """The programme's own test cases do not pass (or there are none) with the draft in force."""

    __test__ = False  # not a pytest class

    def __init__(self, draft_id: int, failures: tuple[str, ...]) -> None:
        self.failures = failures
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        super().__init__(f"draft {draft_id} cannot be published: its test cases do not pass: {shown}")
        self.draft_id = draft_id
