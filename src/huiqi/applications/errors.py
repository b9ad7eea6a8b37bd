"""Conditions of calls and applications, each refused with a message that says what to do."""

from __future__ import annotations

import datetime as dt


class ApplicationsError(Exception):
    """Base class: the operation was refused and nothing was written. One raised with its words only may
    name its reason (``why``) and figures, so that a page can word it in its own language."""

    def __init__(self, *args: object, why: str = "", **figures: object) -> None:
        super().__init__(*args)
        self.why, self.figures = why, figures


class CallNotFound(ApplicationsError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r}; list calls with `huiqi calls list`")
        self.call_id = call_id


class CallExists(ApplicationsError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} already exists; choose another id")
        self.call_id = call_id


class InvalidCall(ApplicationsError):
    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(f"call: {message}", why=why, **figures)
        self.message = message


class CallNotOpen(ApplicationsError):
    def __init__(self, call_id: str, opens: dt.datetime, closes: dt.datetime, now: dt.datetime) -> None:
        super().__init__(
            f"call {call_id} takes applications from {opens.isoformat()} to {closes.isoformat()}; it is "
            f"{now.isoformat()} now"
        )
        self.call_id = call_id
        self.opens = opens
        self.closes = closes
        self.now = now


class ApplicationNotFound(ApplicationsError):
    def __init__(self, application_id: str) -> None:
        super().__init__(f"no application {application_id!r}")
        self.application_id = application_id


class IllegalTransition(ApplicationsError):
    def __init__(self, application_id: str, current: str, target: str, allowed: list[str]) -> None:
        options = ", ".join(allowed) if allowed else "none: it is final"
        super().__init__(
            f"application {application_id} is {current}; it cannot become {target} (allowed next: {options})"
        )
        self.current = current
        self.target = target
        self.application_id = application_id
        self.allowed = allowed


class ConcurrentChange(ApplicationsError):
    def __init__(self, application_id: str, expected: str) -> None:
        super().__init__(
            f"application {application_id} changed while this request ran (it is no longer {expected}); "
            "look at it again and retry"
        )
        self.application_id = application_id
        self.expected = expected


class InvalidClaim(ApplicationsError):
    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(f"claims: {message}", why=why, **figures)
        self.message = message


class MissingReason(ApplicationsError):
    """A state change without a reason: the audit trail must say why every application moved."""

    def __init__(self, application_id: str, to: str) -> None:
        super().__init__(
            f"reason: moving application {application_id!r} to {to!r} needs a reason (a sentence saying "
            "why); nothing was changed"
        )
        self.application_id = application_id
        self.to = to


class VerdictMismatch(ApplicationsError):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"the verdict is for programme {got!r} but the call runs {expected!r}")
        self.expected = expected
        self.got = got


class EvidenceTooLarge(ApplicationsError):
    def __init__(self, filename: str, size: int, limit: int) -> None:
        super().__init__(f"evidence {filename!r} is {size:,} bytes; the limit is {limit:,} bytes")
        self.filename = filename
        self.size = size
        self.limit = limit


class EvidenceTypeRefused(ApplicationsError):
    def __init__(self, filename: str) -> None:
        super().__init__(
            f"evidence {filename!r} is not a PDF, PNG, JPEG or Office (docx/xlsx/pptx) file by its content; "
            "the name does not matter, the bytes do"
        )
        self.filename = filename
