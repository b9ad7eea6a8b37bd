"""The officer's matching pages: run a match over the register in the background and see its summary and
pool pressure (issue 4), and follow any background job's progress (a match, a simulation)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from huiqi.app import jobs, matching
from huiqi.app.errors import JobNotFound, NoRun
from huiqi.app.jobs import SUCCEEDED, JobView
from huiqi.app.jsonable import as_json
from huiqi.web import charts
from huiqi.web.api.analysis import register_source
from huiqi.web.api.common import WebError, actor
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.errors import page_message
from huiqi.web.i18n import _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


# --- matching ----------------------------------------------------------------------------------------------


def _pressure_chart(report: dict[str, Any]) -> str:
    rows = [(p["pool"], [Decimal(p["demand"]), Decimal(p["size"])]) for p in report["pools"]]
    return charts.bar_chart(
        _("Matched demand against pool size"), rows, [_("matched demand"), _("pool size")]
    )


def recent_jobs(request: Request, kind: str) -> dict[str, Any]:
    """The latest jobs of the page's kind, so an officer who left a job's page finds it again."""
    return {"jobs": jobs.recent_jobs(state_of(request).store, kind=kind), "labels": job_labels()}


def _job(request: Request, job_id: str, kind: str | None = None) -> JobView:
    try:
        return jobs.job(state_of(request).store, job_id=job_id, kind=kind)
    except JobNotFound as exc:
        raise WebError(404, page_message(exc)) from None


def _matching_page(request: Request, report: dict[str, Any] | None, status: int = 200) -> Response:
    st = state_of(request)
    programmes = st.registry.programmes()
    if report:  # programme names in the reader's language, whoever started the run
        for row in report["by_programme"]:
            if row["programme"] in programmes:
                row["name"] = programmes[row["programme"]].spec.name.get(language())
    return render(
        request,
        "matching.html",
        {
            "report": report,
            "chart": _pressure_chart(report) if report else "",
            "programmes": sorted(programmes),
            "today": today_in_shanghai().isoformat(),
            **recent_jobs(request, "matching"),
        },
        status=status,
    )


@router.get("/officer/matching")
def matching_page(request: Request) -> Response:
    st = state_of(request)
    try:
        report = matching.latest_match(st.store, programmes=st.registry.programmes(), lang=language())
    except NoRun:
        return _matching_page(request, None)
    return _matching_page(request, as_json(report))


@router.post("/officer/matching")
async def matching_run(request: Request) -> Response:
    """The match runs in the background: the officer follows its progress on the job's page."""
    form = await request.form()
    on_text = str(form.get("on", "") or "")
    try:
        on = dt.date.fromisoformat(on_text) if on_text else None
    except ValueError:
        raise WebError(422, f"on: expected a date YYYY-MM-DD, got {on_text!r}") from None
    ids = [str(p) for p in form.getlist("programme") if str(p)]
    notify = form.get("notify") is not None
    st = state_of(request)
    job_id = matching.start_match(
        st.store,
        programmes=st.registry.programmes(),
        register=register_source(st),
        on=on or today_in_shanghai(),
        ids=ids,
        notify=notify,
        lang=language(),
        actor=actor(principal_of(request)),
    )
    return RedirectResponse(f"/officer/jobs/{job_id}", status_code=303)


@router.get("/officer/matching/{job_id}")
def matching_result(job_id: str, request: Request) -> Response:
    job = _job(request, job_id, "matching")
    if job.state != SUCCEEDED:
        return RedirectResponse(f"/officer/jobs/{job_id}", status_code=303)
    return _matching_page(request, job.result)


# --- background jobs ---------------------------------------------------------------------------------------


def result_url(job: JobView) -> str:
    return f"/officer/{'sandbox' if job.kind == 'simulation' else 'matching'}/{job.id}"


def job_labels() -> dict[str, str]:
    """The steps' messages and the states in the reader's language (the job stores them in English)."""
    return {
        "reading the register": _("reading the register"),
        "comparing the firms with the last run": _("comparing the firms with the last run"),
        "computing the changed programmes for every firm": _(
            "computing the changed programmes for every firm"
        ),
        "computing the changed firms": _("computing the changed firms"),
        "storing the results": _("storing the results"),
        "writing the 'you qualify' messages": _("writing the 'you qualify' messages"),
        "summarising by programme, sector, district and pool": _(
            "summarising by programme, sector, district and pool"
        ),
        "computing the baseline and the reform": _("computing the baseline and the reform"),
        "drawing the charts and the report": _("drawing the charts and the report"),
        "queued": _("queued"),
        "running": _("running"),
        "succeeded": _("succeeded"),
        "failed": _("failed"),
        "matching": _("Matching"),
        "simulation": _("Simulation"),
    }


@router.get("/officer/jobs/{job_id}")
def job_page(job_id: str, request: Request) -> Response:
    """The job's progress; HTMX asks for it every second (the fragment alone) and goes to the result when
    the job has succeeded. A failed job shows its error and stops the polling."""
    job = _job(request, job_id)
    fragment = request.headers.get("HX-Request") == "true"
    headers = {"HX-Redirect": result_url(job)} if fragment and job.state == SUCCEEDED else None
    return render(
        request,
        "job_progress.html" if fragment else "job.html",
        {
            "job": job,
            "labels": job_labels(),
            "result_url": result_url(job),
        },
        headers=headers,
    )
