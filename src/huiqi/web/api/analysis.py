# ruff: noqa: E501
"""Matching (issue 4) and the policy sandbox (issue 7) through the API: run a match over the register and see
the summary and pool pressure; a firm's "you qualify" inbox; simulate a reform (cost, gainers and losers,
breakdowns, pool sufficiency, charts, the HTML report); compare a firm's plan across five cities.

The register is the directory in ``HUIQI_REGISTER_DIR`` when set, otherwise the register stored in the
database (``huiqi register import --register db``) — the same two sources as ``huiqi match --register``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.jobs import service as jobs
from huiqi.jobs.models import SUCCEEDED, Job
from huiqi.matching.models import MatchRun, Notification
from huiqi.rules.errors import UnknownProgramme
from huiqi.rules.programme import Programme
from huiqi.web.api.common import (
    Day,
    Flag,
    Limit,
    Offset,
    Page,
    WebError,
    actor,
    page,
)
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.i18n import language
from huiqi.web.security import Principal, principal_of, state_of
from huiqi.web.state import AppState

router = APIRouter(prefix="/api/v1", tags=["matching and the policy sandbox"])


# --- the register ---------------------------------------------------------------------------------------------


def register_source(st: AppState) -> str:
    d = st.settings.register_dir
    return str(d) if d is not None and d.is_dir() else "db"


def register_tables(st: AppState, source: str) -> dict[str, pa.Table]:
    """The register's Arrow tables: a register directory, or the register stored in the database."""
    if source == "db":
        from huiqi.matching.store import load_register

        tables = st.read(load_register)
    else:
        from huiqi.firms.register import read_register

        tables = read_register(source)
    if tables["firms"].num_rows == 0:
        raise WebError(
            409,
            "the register is empty: import one (`huiqi register import ... --register db`) or set "
            "HUIQI_REGISTER_DIR to a register directory (`huiqi register synth`)",
        )
    return tables


def _choose(programmes: dict[str, Programme], ids: list[str]) -> list[str]:
    for pid in ids:
        if pid not in programmes:
            raise UnknownProgramme(pid)
    return sorted(ids) if ids else sorted(programmes)


# --- matching -------------------------------------------------------------------------------------------------


def _money(v: Any) -> str:
    return str(Decimal(v))


def match_report(
    run: MatchRun, results: pa.Table, firms: pa.Table, programmes: dict[str, Programme]
) -> dict[str, Any]:
    """What ``huiqi match`` prints: the run, eligible firms by programme/sector/district, pool pressure."""
    from huiqi.matching.run import pool_pressure, summary

    eligible = results.filter(results["eligible"])
    by_programme: dict[str, dict[str, Any]] = {}
    for pid, amount in zip(eligible["programme"].to_pylist(), eligible["amount"].to_pylist(), strict=True):
        row = by_programme.setdefault(pid, {"programme": pid, "firms": 0, "amount": Decimal(0)})
        row["firms"] += 1
        row["amount"] += amount
    lang = language()
    return {
        "run": {
            "id": run.id,
            "on": run.on.isoformat(),
            "register": run.register,
            "backend": run.backend,
            "firms": run.firms,
            "programmes": [p for p in run.programmes.split(",") if p],
            "recomputed_programmes": [p for p in run.recomputed_programmes.split(",") if p],
            "recomputed_firms": run.recomputed_firms,
            "rows_computed": run.rows_computed,
            "notifications": run.notifications,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
        "by_programme": [
            {
                "programme": r["programme"],
                "name": programmes[r["programme"]].spec.name.get(lang),
                "firms": r["firms"],
                "amount": str(r["amount"]),
            }
            for r in sorted(by_programme.values(), key=lambda r: r["programme"])
        ],
        "summary": [
            {
                "programme": r["programme"],
                "sector": r["sector"],
                "district": r["district"],
                "firms": r["firms"],
                "amount": _money(r["amount"]),
                "pool_share": None
                if r["pool_share"] is None
                else str(r["pool_share"].quantize(Decimal("0.0001"))),
            }
            for r in summary(results, firms, programmes)
        ],
        "pools": [
            {
                "pool": p["pool"],
                "size": _money(p["size"]),
                "demand": _money(p["demand"]),
                "firms": p["firms"],
                "programmes": p["programmes"],
                "ratio": None if p["ratio"] is None else str(p["ratio"].quantize(Decimal("0.0001"))),
                "oversubscribed": p["oversubscribed"],
            }
            for p in pool_pressure(results, programmes)
        ],
    }


#: The steps of a match as the job reports them (``run_match`` ticks the ones in between).
MATCH_STEPS = ("register", "digests", "programmes", "firms", "store", "outbox", "report")
STEP_MESSAGES = {
    "register": "reading the register",
    "digests": "comparing the firms with the last run",
    "programmes": "computing the changed programmes for every firm",
    "firms": "computing the changed firms",
    "store": "storing the results",
    "outbox": "writing the 'you qualify' messages",
    "report": "summarising by programme, sector, district and pool",
    "reform": "reading the register",
    "simulate": "computing the baseline and the reform",
    "charts": "drawing the charts and the report",
}


def run_matching(
    st: AppState,
    on: dt.date | None,
    ids: list[str],
    notify: bool,
    progress: jobs.Progress | None = None,
) -> dict[str, Any]:
    from huiqi.matching.run import run_match

    def step(name: str, finished: bool) -> None:
        if progress is not None:
            i = MATCH_STEPS.index(name)
            progress(i + int(finished), len(MATCH_STEPS), STEP_MESSAGES[name])

    programmes = st.registry.programmes()
    chosen = _choose(programmes, ids)
    source = register_source(st)
    step("register", False)
    tables = register_tables(st, source)
    step("register", True)
    day = on or today_in_shanghai()

    def work(s: Session) -> dict[str, Any]:
        outcome = run_match(
            s,
            programmes,
            tables,
            day,
            ids=chosen,
            register=source,
            notify=notify,
            progress=lambda label, n: step(label, bool(n)),
        )
        step("report", False)
        report = match_report(outcome.run, outcome.results, tables["firms"], programmes)
        report["run"]["new_notifications"] = len(outcome.notifications)
        return report

    return st.write(work)


def start_matching(st: AppState, me: Principal, on: dt.date | None, ids: list[str], notify: bool) -> str:
    """Check what can be checked at once (the programmes), then match in the background; the job's id."""
    _choose(st.registry.programmes(), ids)

    def work(progress: jobs.Progress) -> jobs.Outcome:
        report = run_matching(st, on, ids, notify, progress)
        return jobs.Outcome(report, result_id=report["run"]["id"])

    params = {"on": on.isoformat() if on else None, "programmes": ids, "notify": notify}
    return jobs.start(
        st.factory, kind="matching", created_by=actor(me), work=work, params=params, total=len(MATCH_STEPS)
    )


def latest_matching(st: AppState) -> dict[str, Any] | None:
    from huiqi.matching.run import current_results

    programmes = st.registry.programmes()

    def work(s: Session) -> tuple[MatchRun, pa.Table] | None:
        run = s.scalars(
            select(MatchRun).order_by(MatchRun.started_at.desc(), MatchRun.id.desc()).limit(1)
        ).first()
        if run is None:
            return None
        ids = [p for p in run.programmes.split(",") if p in programmes]
        return run, current_results(s, programmes, run.on, ids)

    found = st.read(work)
    if found is None:
        return None
    run, results = found
    cache: dict[str, dict[str, Any]] = st.__dict__.setdefault("_latest_match", {})
    if run.id not in cache:  # the register is read once per run, not on every page view
        cache.clear()
        cache[run.id] = match_report(run, results, register_tables(st, run.register)["firms"], programmes)
    return cache[run.id]


class MatchIn(BaseModel):
    on: Day | None = Field(None, description="the date to evaluate on (default: today in Shanghai)")
    programmes: list[str] = Field(default_factory=list, description="programme ids; default all")
    notify: Flag = Field(True, description="write 'you qualify' messages to the outbox")


@router.post("/matching/runs", status_code=202)
def post_match(body: MatchIn, request: Request, response: Response) -> dict[str, Any]:
    """``huiqi match`` over the register, in the background: the answer (202) is the job, and its
    ``Location`` the job to follow (``GET /api/v1/jobs/{id}``) until it carries the report: incremental
    (only changed programmes and firms are recomputed), the 'you qualify' outbox, the summary by
    programme/sector/district and each pool's pressure."""
    st = state_of(request)
    job_id = start_matching(st, principal_of(request), body.on, body.programmes, body.notify)
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return job_dict(job_of(st, job_id))


@router.get("/matching/runs/latest")
def get_latest_match(request: Request) -> dict[str, Any]:
    out = latest_matching(state_of(request))
    if out is None:
        raise WebError(404, "no match has been run yet: POST /api/v1/matching/runs (or `huiqi match`)")
    return out


@router.get("/matching/outbox", response_model=Page[dict[str, Any]])
def outbox(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    status: str | None = Query(None, description="pending, sent, ..."),
) -> Page[dict[str, Any]]:
    """Every firm's 'you qualify' messages, newest first (``huiqi match outbox``)."""

    def work(s: Session) -> Page[dict[str, Any]]:
        q = select(Notification)
        n = select(func.count()).select_from(Notification)
        if status:
            q, n = q.where(Notification.status == status), n.where(Notification.status == status)
        rows = s.scalars(
            q.order_by(Notification.created_at.desc(), Notification.id).offset(offset).limit(limit)
        )
        return page([notification_dict(r) for r in rows], s.scalar(n) or 0, limit, offset)

    return state_of(request).read(work)


@router.get("/matching/results", response_model=Page[dict[str, Any]])
def results(
    request: Request,
    on: Annotated[Day, Query(description="the date matched")],
    programme: str | None = Query(None),
    eligible: bool | None = Query(None),
    uscc: str | None = Query(None),
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[dict[str, Any]]:
    """The current firm x programme results of a date (``huiqi match --out``), filtered and paged."""
    from huiqi.matching.models import MatchCurrent

    def work(s: Session) -> Page[dict[str, Any]]:
        cond = [MatchCurrent.on == on]
        if programme:
            cond.append(MatchCurrent.programme == programme)
        if eligible is not None:
            cond.append(MatchCurrent.eligible == eligible)
        if uscc:
            cond.append(MatchCurrent.uscc == uscc)
        total = s.scalar(select(func.count()).select_from(MatchCurrent).where(*cond)) or 0
        rows = s.scalars(
            select(MatchCurrent)
            .where(*cond)
            .order_by(MatchCurrent.programme, MatchCurrent.uscc)
            .offset(offset)
            .limit(limit)
        )
        items = [
            {
                "uscc": r.uscc,
                "programme": r.programme,
                "version": r.version,
                "date": r.on.isoformat(),
                "eligible": r.eligible,
                "amount": str(r.amount),
                "unmet": [u for u in r.unmet.split(",") if u] if r.unmet else [],
                "run_id": r.run_id,
            }
            for r in rows
        ]
        return page(items, total, limit, offset)

    return state_of(request).read(work)


def notification_dict(n: Notification, lang: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": n.id,
        "uscc": n.uscc,
        "programme": n.programme,
        "version": n.version,
        "on": n.on.isoformat(),
        "amount": str(n.amount),
        "status": n.status,
        "created_at": n.created_at.isoformat(),
    }
    if lang is None:
        out["message_zh"], out["message_en"] = n.message_zh, n.message_en
    else:
        out["message"] = n.message_zh if lang == "zh" else n.message_en
    return out


def inbox_of(s: Session, uscc: str, limit: int, offset: int) -> tuple[int, list[Notification]]:
    total = s.scalar(select(func.count()).select_from(Notification).where(Notification.uscc == uscc)) or 0
    rows = s.scalars(
        select(Notification)
        .where(Notification.uscc == uscc)
        .order_by(Notification.created_at.desc(), Notification.id)
        .offset(offset)
        .limit(limit)
    )
    return total, list(rows)


@router.get("/firms/{uscc}/inbox", response_model=Page[dict[str, Any]])
def inbox(uscc: str, request: Request, limit: Limit = 50, offset: Offset = 0) -> Page[dict[str, Any]]:
    """The firm's 'you qualify' messages (zh and en, with the explanation), newest first."""
    principal_of(request).check_firm(uscc)

    def work(s: Session) -> Page[dict[str, Any]]:
        total, rows = inbox_of(s, uscc, limit, offset)
        return page([notification_dict(n) for n in rows], total, limit, offset)

    return state_of(request).read(work)


# --- the policy sandbox ---------------------------------------------------------------------------------------


def job_of(st: AppState, job_id: str, kind: str | None = None) -> Job:
    """The job (one left behind by a process that is gone is recorded as failed first)."""
    job = jobs.get(st.factory, job_id)
    if job is None or (kind is not None and job.kind != kind):
        what = "simulation" if kind == "simulation" else "job"
        raise WebError(404, f"no {what} {job_id!r}: start a new one")
    return job


def job_links(job: Job) -> dict[str, str]:
    links = {"self": f"/api/v1/jobs/{job.id}"}
    if job.kind == "simulation" and job.state == SUCCEEDED:
        links["report"] = f"/api/v1/simulations/{job.id}/report"
    return links


def job_dict(job: Job) -> dict[str, Any]:
    """A job for the API: its state and progress, its error, and its result once it succeeded."""
    result = jobs.result_of(job) if job.state == SUCCEEDED else None
    if isinstance(result, dict):
        result.pop("charts", None)  # inline SVG is for the page; the report carries the charts
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "done": job.done,
        "total": job.total,
        "message": job.message,
        "params": jobs.params_of(job),
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
        "result_id": job.result_id,
        "result": result,
        "links": job_links(job),
    }


@router.get("/jobs/{job_id}")
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    """A background job (a match, a simulation): ``state`` queued, running, succeeded or failed; ``done``
    of ``total`` steps with a ``message``; ``error`` when it failed (a job whose server process stopped is
    failed, interrupted); ``result`` when it succeeded."""
    return job_dict(job_of(state_of(request), job_id))
