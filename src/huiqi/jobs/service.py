"""Background jobs: long work (a match over the register, a simulation) leaves the request at once and runs
in a thread of the server process, while its progress, its end and its result go to the ``jobs`` table, so
that whichever worker the next request reaches can show them.

Why a writer thread per job: the work reports progress through a plain call that never touches the
database. On SQLite the work may hold the write lock while it stores its results (a match computes first
and takes the lock only to store; a simulation, or the CLI's `--register db`, may hold it longer), so a
progress write from the working thread itself could wait for a lock its own thread holds; the job's writer
thread writes the latest
progress (and a heartbeat every few seconds) whenever the database lets it, and the working thread never
waits for it.

A job whose process is gone (a crash, a restart, a deployment) would stay ``running`` for ever; reading it
finds that out and records it as failed (interrupted): on the same host the process named in ``worker`` no
longer exists (pid and start time), on any host its heartbeat is older than ``STALE``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from huiqi.db import run_in_transaction
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.jobs.models import FAILED, QUEUED, RUNNING, SUCCEEDED, Job

log = logging.getLogger(__name__)

#: How often a running job proves it is alive, and after how long without that it counts as interrupted.
HEARTBEAT = 5.0
STALE = dt.timedelta(minutes=2)
#: Jobs running at once in one process (the others wait, queued): matching and simulation use every core.
PARALLEL = 2
_slots = threading.BoundedSemaphore(PARALLEL)

INTERRUPTED = "interrupted: the process running this job stopped before it finished; start it again"


@dataclass
class Outcome:
    """What a job's work returns: its answer (JSON-able), the id of what it made, an optional document."""

    result: Any
    result_id: str | None = None
    report: str | None = None


class Progress:
    """Handed to the work: ``progress(done, total, message)`` records how far it got, without waiting."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._lock = threading.Lock()
        self._pending: tuple[int, int, str] | None = None
        self.wake = threading.Event()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        with self._lock:
            self._pending = (max(0, done), max(0, total), message[:500])
        self.wake.set()

    def take(self) -> tuple[int, int, str] | None:
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def put_back(self, value: tuple[int, int, str]) -> None:
        with self._lock:
            if self._pending is None:
                self._pending = value


Work = Callable[[Progress], Outcome]


# --- which process runs a job -------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so that a reused pid is not mistaken."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def this_worker() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def worker_alive(worker: str) -> bool | None:
    """Whether the process named by ``worker`` still runs; None when it is on another host."""
    parts = worker.rsplit(":", 2)
    if len(parts) != 3:
        return None
    host, pid_text, ticks = parts
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if Path("/proc/self/stat").exists():
        return bool(ticks) and _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupted(job: Job, now: dt.datetime | None = None) -> bool:
    """A queued or running job whose process is gone; on another host, one that has not proved alive for
    ``STALE``. A process seen alive is trusted whatever its heartbeat: on SQLite a job storing its
    results holds the write lock, so the heartbeat may wait, and the job still ends recorded (``_run``
    records any end)."""
    if job.state not in (QUEUED, RUNNING):
        return False
    alive = worker_alive(job.worker)
    if alive is not None:
        return not alive
    return (now or utcnow()) - job.heartbeat_at > STALE


# --- reading ------------------------------------------------------------------------------------------------


def find(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get(factory: sessionmaker[Session], job_id: str) -> Job | None:
    """The job as it is; one left behind by a process that is gone is recorded as failed first."""
    with factory() as s:
        job = find(s, job_id)
    if job is None or not interrupted(job):
        return job

    def mark(s: Session) -> Job | None:
        found = s.get(Job, job_id)
        if found is not None and interrupted(found):
            found.state, found.error, found.finished_at = FAILED, INTERRUPTED, utcnow()
            s.flush()
        return found

    return run_in_transaction(factory, mark)


def recent(factory: sessionmaker[Session], kind: str, limit: int = 5) -> list[Job]:
    """The latest jobs of a kind, newest first (those left behind by a gone process recorded as failed)."""
    with factory() as s:
        ids = list(
            s.scalars(
                select(Job.id).where(Job.kind == kind).order_by(Job.created_at.desc(), Job.id).limit(limit)
            )
        )
    return [job for job in (get(factory, job_id) for job_id in ids) if job is not None]


def result_of(job: Job) -> Any:
    return None if job.result is None else json.loads(job.result)


def params_of(job: Job) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(job.params or "{}")
    return out


# --- running ------------------------------------------------------------------------------------------------


def start(
    factory: sessionmaker[Session],
    *,
    kind: str,
    created_by: str,
    work: Work,
    params: dict[str, Any] | None = None,
    total: int = 0,
    message: str = "",
) -> str:
    """Record the job (queued) and start it in a background thread; returns its id at once.

    The work runs in a copy of the caller's context (so the language of the request goes with it)."""
    job_id = new_id()
    now = utcnow()

    def add(s: Session) -> None:
        s.add(
            Job(
                id=job_id,
                kind=kind,
                state=QUEUED,
                total=total,
                message=message,
                params=json.dumps(params or {}, ensure_ascii=False, default=str),
                created_by=created_by,
                worker=this_worker(),
                created_at=now,
                heartbeat_at=now,
            )
        )

    run_in_transaction(factory, add)
    ctx = contextvars.copy_context()
    thread = threading.Thread(
        target=ctx.run, args=(_run, factory, job_id, work), name=f"huiqi-job-{job_id[:8]}", daemon=True
    )
    thread.start()
    return job_id


def _set(factory: sessionmaker[Session], job_id: str, only_unfinished: bool = True, **values: Any) -> None:
    def work(s: Session) -> None:
        q = update(Job).where(Job.id == job_id)
        if only_unfinished:
            q = q.where(Job.state.in_((QUEUED, RUNNING)))
        s.execute(q.values(**values))

    run_in_transaction(factory, work)


class _Writer(threading.Thread):
    """Writes the job's latest progress and a heartbeat, whenever the database lets it."""

    def __init__(self, factory: sessionmaker[Session], job_id: str, progress: Progress) -> None:
        super().__init__(name=f"huiqi-job-writer-{job_id[:8]}", daemon=True)
        self.factory, self.job_id, self.progress = factory, job_id, progress
        #: Set by ``stop``: the writer ends, and the pause between writes ends at once (the job's end is not
        #: delayed by it).
        self.halt = threading.Event()

    def run(self) -> None:
        last_beat = time.monotonic()
        while True:
            self.progress.wake.wait(HEARTBEAT)
            self.progress.wake.clear()
            if self.halt.is_set():
                return
            pending = self.progress.take()
            if pending is None and time.monotonic() - last_beat < HEARTBEAT:
                continue
            values: dict[str, Any] = {"heartbeat_at": utcnow()}
            if pending is not None:
                values.update(done=pending[0], total=pending[1], message=pending[2])
            try:
                _set(self.factory, self.job_id, **values)
                last_beat = time.monotonic()
            except DBAPIError as exc:  # busy for longer than the retries: try again on the next round
                log.info("job %s: progress not written yet (%s)", self.job_id, exc.orig)
                if pending is not None:
                    self.progress.put_back(pending)
            self.halt.wait(0.2)  # let several quick steps make one write

    def stop(self) -> None:
        self.halt.set()
        self.progress.wake.set()
        self.join()


def _describe(exc: BaseException) -> str:
    """The domain's message, which already says what to do; the type name for anything unexpected."""
    text = str(exc) or type(exc).__name__
    module = type(exc).__module__
    return text if module.startswith("huiqi.") else f"{type(exc).__name__}: {text}"


def _run(factory: sessionmaker[Session], job_id: str, work: Work) -> None:
    progress = Progress(job_id)
    writer = _Writer(factory, job_id, progress)
    writer.start()
    try:
        with _slots:
            _set(factory, job_id, state=RUNNING, started_at=utcnow(), heartbeat_at=utcnow())
            outcome = work(progress)
    except BaseException as exc:  # the job must end recorded, whatever happened
        writer.stop()
        log.exception("job %s failed", job_id)
        last = progress.take()
        extra = {} if last is None else {"done": last[0], "total": last[1], "message": last[2]}
        _set(factory, job_id, False, state=FAILED, error=_describe(exc), finished_at=utcnow(), **extra)
        return
    writer.stop()
    last = progress.take()

    def finish(s: Session) -> None:
        job = s.get_one(Job, job_id)
        if last is not None:
            job.total, job.message = last[1], last[2]
        job.total = max(job.total, 1)
        job.done = job.total  # a finished job's bar is full
        job.state, job.finished_at, job.error = SUCCEEDED, utcnow(), None
        job.result = json.dumps(outcome.result, ensure_ascii=False, default=str)
        job.result_id, job.report = outcome.result_id, outcome.report

    try:
        run_in_transaction(factory, finish)
    except BaseException as exc:
        log.exception("job %s: its result could not be stored", job_id)
        _set(factory, job_id, False, state=FAILED, error=_describe(exc), finished_at=utcnow())
