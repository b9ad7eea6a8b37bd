"""Background jobs: long work (a match, a simulation) started from the web runs in a thread of the server
process while its progress, end and result are recorded, so any worker can show them.

``start_job`` is the one entry point every kind of job goes through: the work gets a ``JobProgress``
(``progress(done, total, message)``) and returns a ``JobOutcome`` (its JSON-able result, the id of what it
made, an optional document such as the sandbox's HTML report).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from huiqi.app.store import Store
from huiqi.jobs import service
from huiqi.jobs.errors import JobError, JobNotFinished, JobNotFound
from huiqi.jobs.models import FAILED, QUEUED, RUNNING, SUCCEEDED, Job

#: What a job's work returns, and what it reports its progress through.
JobOutcome = service.Outcome
JobProgress = service.Progress
JobWork = service.Work


@dataclass(frozen=True)
class JobView:
    """A background job: its state and progress, its error, and its result once it succeeded."""

    id: str
    kind: str
    state: str
    done: int
    total: int
    message: str
    params: dict[str, Any]
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None
    result_id: str | None
    result: Any
    #: The document the job made (the sandbox's HTML report), if any.
    report: str | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        """The read model of a job record."""
        return cls(
            id=job.id,
            kind=job.kind,
            state=job.state,
            done=job.done,
            total=job.total,
            message=job.message,
            params=service.params_of(job),
            created_by=job.created_by,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=job.error,
            result_id=job.result_id,
            result=service.result_of(job) if job.state == SUCCEEDED else None,
            report=job.report,
        )


def start_job(
    store: Store,
    *,
    kind: str,
    created_by: str,
    work: JobWork,
    params: dict[str, Any] | None = None,
    total: int = 0,
    message: str = "",
) -> str:
    """Run long work in the background so the request answers at once; the job's id to follow it by."""
    return service.start(
        store.factory,
        kind=kind,
        created_by=created_by,
        work=work,
        params=params,
        total=total,
        message=message,
    )


def job(store: Store, *, job_id: str, kind: str | None = None) -> JobView:
    """Follow a background job (one whose process is gone is recorded as failed, interrupted, first)."""
    found = service.get(store.factory, job_id)
    if found is None or (kind is not None and found.kind != kind):
        raise JobNotFound(job_id, kind)
    return JobView.of(found)


def _finished(store: Store, *, job_id: str, kind: str | None = None) -> JobView:
    """A job that has succeeded (its result is there); one still running or failed is refused."""
    found = job(store, job_id=job_id, kind=kind)
    if found.state != SUCCEEDED:
        raise JobNotFinished(
            f"{found.kind} {job_id!r} is {found.state}"
            + (f" ({found.error})" if found.error else f": follow /api/v1/jobs/{job_id}")
        )
    return found


def job_report(store: Store, *, job_id: str, kind: str | None = None) -> str:
    """The document a finished job made (the sandbox's HTML report)."""
    return _finished(store, job_id=job_id, kind=kind).report or ""


def recent_jobs(store: Store, *, kind: str, limit: int = 5) -> tuple[JobView, ...]:
    """The latest jobs of a kind, newest first, so an officer who left a job's page finds it again."""
    return tuple(JobView.of(j) for j in service.recent(store.factory, kind, limit))


__all__ = [
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "JobError",
    "JobNotFinished",
    "JobNotFound",
    "JobOutcome",
    "JobProgress",
    "JobView",
    "job",
    "job_report",
    "recent_jobs",
    "start_job",
]
