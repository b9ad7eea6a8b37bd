"""Refusals about background jobs."""

from __future__ import annotations


class JobError(LookupError):
    """A background job that cannot be shown as asked."""


class JobNotFound(JobError):
    """No job of that id (and kind)."""

    def __init__(self, job_id: str, kind: str | None = None) -> None:
        what = "simulation" if kind == "simulation" else "job"
        super().__init__(f"no {what} {job_id!r}: start a new one")
        self.job_id, self.kind = job_id, kind


class JobNotFinished(JobError):
    """The job has not succeeded (yet): its result is not there."""
