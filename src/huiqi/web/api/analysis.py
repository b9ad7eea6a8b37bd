"""Matching (issue 4) through the API: run a match over the register in the background and follow it as a
job; the latest run's summary and pool pressure; the stored results; the outbox; a firm's "you qualify"
inbox; any background job's state.

The register is the directory in ``HUIQI_REGISTER_DIR`` when set, otherwise the register stored in the
database (``huiqi register import --register db``) — the same two sources as ``huiqi match --register``.
Every route calls ``huiqi.app.matching`` / ``huiqi.app.jobs``, the same use cases as ``huiqi match``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from huiqi.app import jobs, matching
from huiqi.app.errors import JobNotFound, NoRun
from huiqi.app.jsonable import as_json
from huiqi.web.api.common import Day, Flag, Limit, Offset, Page, WebError, actor, page
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.i18n import language
from huiqi.web.security import Principal, principal_of, state_of
from huiqi.web.state import AppState

router = APIRouter(prefix="/api/v1", tags=["matching and the policy sandbox"])


def register_source(st: AppState) -> str:
    """``HUIQI_REGISTER_DIR`` when it is a directory, else the register stored in the database."""
    d = st.settings.register_dir
    return str(d) if d is not None and d.is_dir() else "db"


# --- matching ----------------------------------------------------------------------------------------------


def start_matching(st: AppState, me: Principal, on: dt.date | None, ids: list[str], notify: bool) -> str:
    """Check the programmes at once, then match in the background; the job's id."""
    return matching.start_match(
        st.store,
        programmes=st.registry.programmes(),
        register=register_source(st),
        on=on or today_in_shanghai(),
        ids=ids,
        notify=notify,
        lang=language(),
        actor=actor(me),
    )


def latest_matching(st: AppState) -> dict[str, Any] | None:
    """The latest run's report as JSON (names in the reader's language), None before the first run."""
    try:
        report = matching.latest_match(st.store, programmes=st.registry.programmes(), lang=language())
    except NoRun:
        return None
    out: dict[str, Any] = as_json(report)
    return out


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


def message_dict(m: matching.MessageView, lang: str | None = None) -> dict[str, Any]:
    """A message for the API: both texts, or the one in ``lang``."""
    out: dict[str, Any] = as_json(m)
    if lang is not None:
        out["message"] = m.message(lang)
        del out["message_zh"], out["message_en"]
    return out


@router.get("/matching/outbox", response_model=Page[dict[str, Any]])
def outbox(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    status: str | None = Query(None, description="pending, sent, ..."),
) -> Page[dict[str, Any]]:
    """Every firm's 'you qualify' messages, newest first (``huiqi match outbox``)."""
    st = state_of(request)
    box = matching.outbox(
        st.store, programmes=st.registry.programmes(), status=status, limit=limit, offset=offset
    )
    return page([message_dict(m) for m in box.items], box.total, limit, offset)


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
    """The current firm x programme results of a date (``huiqi match results``), filtered and paged."""
    found = matching.results(
        state_of(request).store,
        on=on,
        programme=programme,
        eligible=eligible,
        uscc=uscc,
        limit=limit,
        offset=offset,
    )
    return page([as_json(r) for r in found.items], found.total, limit, offset)


@router.get("/firms/{uscc}/inbox", response_model=Page[dict[str, Any]])
def inbox(uscc: str, request: Request, limit: Limit = 50, offset: Offset = 0) -> Page[dict[str, Any]]:
    """The firm's 'you qualify' messages (zh and en, with the explanation), newest first."""
    principal_of(request).check_firm(uscc)
    st = state_of(request)
    box = matching.firm_inbox(
        st.store, uscc=uscc, programmes=st.registry.programmes(), limit=limit, offset=offset
    )
    return page([message_dict(m) for m in box.items], box.total, limit, offset)


@router.get("/firms/{uscc}/match-results")
def firm_match_results(uscc: str, request: Request) -> dict[str, Any]:
    """What the latest stored match found for the firm: the programmes it qualifies for, with amounts
    (``huiqi match firm``); ``run_id`` is null before the first match."""
    principal_of(request).check_firm(uscc)
    out: dict[str, Any] = as_json(matching.firm_results(state_of(request).store, uscc=uscc))
    return out


# --- background jobs ---------------------------------------------------------------------------------------


def job_of(st: AppState, job_id: str, kind: str | None = None) -> jobs.JobView:
    """The job (one left behind by a process that is gone is recorded as failed first); 404 when unknown."""
    try:
        return jobs.job(st.store, job_id=job_id, kind=kind)
    except JobNotFound as exc:
        raise WebError(404, str(exc)) from None


def job_links(job: jobs.JobView) -> dict[str, str]:
    links = {"self": f"/api/v1/jobs/{job.id}"}
    if job.kind == "simulation" and job.state == jobs.SUCCEEDED:
        links["report"] = f"/api/v1/simulations/{job.id}/report"
    return links


def job_dict(job: jobs.JobView) -> dict[str, Any]:
    """A job for the API: its state and progress, its error, and its result once it succeeded."""
    result = job.result
    if isinstance(result, dict):
        result = {k: v for k, v in result.items() if k != "charts"}  # inline SVG is for the page
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "done": job.done,
        "total": job.total,
        "message": job.message,
        "params": job.params,
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
