"""The states of a programme draft and the steps between them (the one table every step checks).

draft --submit--> in-review --publish (a second officer, tests passing)--> published --withdraw--> withdrawn
                  in-review --reject (a second officer, a reason)--> draft
"""

from __future__ import annotations

DRAFT = "draft"
IN_REVIEW = "in-review"
PUBLISHED = "published"
WITHDRAWN = "withdrawn"
STATES = (DRAFT, IN_REVIEW, PUBLISHED, WITHDRAWN)

#: step -> (the states it may start from, the state it leads to)
STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "edited": ((DRAFT,), DRAFT),
    "submitted": ((DRAFT,), IN_REVIEW),
    "rejected": ((IN_REVIEW,), DRAFT),
    "published": ((IN_REVIEW,), PUBLISHED),
    "withdrawn": ((PUBLISHED,), WITHDRAWN),
}


def person(actor: str) -> str:
    """The person behind an actor (``web:alice`` and ``cli:alice`` are the same person), for the two-person
    rule: an author may not review their own draft from another adapter."""
    return actor.split(":", 1)[-1].strip().casefold()
