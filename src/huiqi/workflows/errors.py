"""Conditions of cross-domain operations."""

from __future__ import annotations


class WorkflowError(Exception):
    """Base class: the operation was refused and nothing was written."""


class WrongAllocationMode(WorkflowError):
    def __init__(self, call_id: str, mode: str, needed: str) -> None:
        super().__init__(f"call {call_id} allocates {mode}; this operation is for {needed} calls")
        self.call_id = call_id
        self.mode = mode
        self.needed = needed


class NoPendingReservation(WorkflowError):
    def __init__(self, application_id: str) -> None:
        super().__init__(
            f"application {application_id} has no pending reservation; "
            "decide it first with `huiqi awards decide`"
        )
        self.application_id = application_id


class NoAward(WorkflowError):
    def __init__(self, application_id: str) -> None:
        super().__init__(
            f"application {application_id} has no award; grant it first with `huiqi awards grant`"
        )
        self.application_id = application_id


class MissingScore(WorkflowError):
    def __init__(self, application_id: str) -> None:
        super().__init__(
            f"application {application_id} has no score; a ranked call needs one for every application"
        )
        self.application_id = application_id


class ProgrammeNotLoaded(WorkflowError):
    """The call's programme (at the call's version) is not among the loaded programmes."""


class ApprovalNotFound(WorkflowError):
    def __init__(self, approval_id: str) -> None:
        super().__init__(
            f"no money move awaiting approval has the id {approval_id!r}; "
            "list them with `huiqi ledger approvals list` or on the 待复核 page"
        )
        self.approval_id = approval_id


class SameOfficer(WorkflowError):
    def __init__(self, approval_id: str, actor: str) -> None:
        super().__init__(
            f"money move {approval_id} was requested by {actor}; a different officer must approve or "
            "reject it (two-person rule)"
        )
        self.approval_id = approval_id
        self.actor = actor
