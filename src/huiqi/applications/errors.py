"""Conditions of calls and applications, each refused with a message that says what to do."""

from __future__ import annotations

import datetime as dt


class ApplicationsError(Exception):
    """Base class: the operation was refused and nothing was written."""


class CallNotFound(ApplicationsError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r}; list calls with `huiqi calls list`")


class CallExists(ApplicationsError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} already exists; choose another id")


class InvalidCall(ApplicationsError):
    def __init__(self, message: str) -> None:
        super().__init__(f"call: {message}")


class CallNotOpen(ApplicationsError):
    def __init__(self, call_id: str, opens: dt.datetime, closes: dt.datetime, now: dt.datetime) -> None:
        super().__init__(
            f"call {call_id} takes applications from {opens.isoformat()} to {closes.isoformat()}; it is "
            f"{now.isoformat()} now"
        )


class ApplicationNotFound(ApplicationsError):
    def __init__(self, application_id: str) -> None:
        super().__init__(f"no application {application_id!r}")


class IllegalTransition(ApplicationsError):
    def __init__(self, application_id: str, current: str, target: str, allowed: list[str]) -> None:
        options = ", ".join(allowed) if allowed else "none: it is final"
        super().__init__(
            f"application {application_id} is {current}; it cannot become {target} (allowed next: {options})"
        )
        self.current = current
        self.target = target


class ConcurrentChange(ApplicationsError):
    def __init__(self, application_id: str, expected: str) -> None:
        super().__init__(
            f"application {application_id} changed while this request ran (it is no longer {expected}); "
            "look at it again and retry"
        )


class InvalidClaim(ApplicationsError):
    def __init__(self, message: str) -> None:
        super().__init__(f"claims: {message}")


class MissingReason(ApplicationsError):
    """A state change without a reason: the audit trail must say why every application moved."""

    def __init__(self, application_id: str, to: str) -> None:
        super().__init__(
            f"reason: moving application {application_id!r} to {to!r} needs a reason (a sentence saying "
            "why); nothing was changed"
        )


class VerdictMismatch(ApplicationsError):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"the verdict is for programme {got!r} but the call runs {expected!r}")


class EvidenceTooLarge(ApplicationsError):
    def __init__(self, filename: str, size: int, limit: int) -> None:
        super().__init__(f"evidence {filename!r} is {size:,} bytes; the limit is {limit:,} bytes")


class EvidenceTypeRefused(ApplicationsError):
    def __init__(self, filename: str) -> None:
        super().__init__(
            f"evidence {filename!r} is not a PDF, PNG, JPEG or Office (docx/xlsx/pptx) file by its content; "
            "the name does not matter, the bytes do"
        )
