"""Conditions of the selection domain; each message says what to do."""

from __future__ import annotations

from collections.abc import Sequence

from huiqi.rules.errors import Problem


class SelectionError(Exception):
    """Base class: the operation was refused and nothing was written."""


class CallFileError(SelectionError):
    """A call file refused whole, with every problem at file:line:column."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Infeasible(SelectionError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"the optimiser found no selection: {detail}")
        self.detail = detail


class NotSelected(SelectionError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id} has no selection yet: select and award first")
        self.call_id = call_id


class AlreadySelected(SelectionError):
    def __init__(self, call_id: str, run_id: str) -> None:
        super().__init__(
            f"call {call_id} was already selected (run {run_id}); a designation is final, "
            "use withdraw/promote to change it"
        )
        self.call_id = call_id
        self.run_id = run_id


class NotDesignated(SelectionError):
    def __init__(self, application_id: str) -> None:
        super().__init__(f"application {application_id} holds no active designation")
        self.application_id = application_id


class ScoresMissing(SelectionError):
    def __init__(self, application_ids: Sequence[str]) -> None:
        shown = ", ".join(application_ids[:5]) + (" ..." if len(application_ids) > 5 else "")
        super().__init__(
            f"{len(application_ids)} application(s) under review have no normalised score ({shown}); "
            "every assigned reviewer must score them, then normalise the scores"
        )
        self.application_ids = application_ids


class CallFileMissing(SelectionError):
    def __init__(self, call_id: str) -> None:
        super().__init__(
            f"call {call_id} has no call file yet: an officer uploads its YAML (rubric, quotas, budget) "
            "before reviewers are assigned or firms selected"
        )
        self.call_id = call_id


class CallFileMismatch(SelectionError):
    def __init__(self, call_id: str, found: str) -> None:
        super().__init__(f"call: the file is for call {found!r}, not {call_id!r}")
        self.call_id = call_id
        self.found = found
