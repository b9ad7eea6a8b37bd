"""Matching and the policy sandbox pages: the officer's match run with pool pressure (issue 4), the reform
sandbox with its charts and report (issue 7), and the public five-city comparison."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from huiqi.accounts import service as accounts
from huiqi.accounts.errors import FirmProfileNotFound
from huiqi.firms.errors import ProfileError
from huiqi.firms.io import parse_text
from huiqi.jobs import service as jobs
from huiqi.jobs.models import SUCCEEDED, Job
from huiqi.rules.errors import ProgrammeError
from huiqi.web import charts
from huiqi.web.api.analysis import job_of, latest_matching, start_matching
from huiqi.web.api.common import WebError
from huiqi.web.api.sandbox import compare, finished_simulation, start_simulation, stored_profile_allowed
from huiqi.web.calculator import parse_firm, today_in_shanghai
from huiqi.web.i18n import _, language
from huiqi.web.pages.public import example_firms
from huiqi.web.security import maybe_principal, principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


# --- matching ----------------------------------------------------------------------------------------------


def _pressure_chart(report: dict[str, Any]) -> str:
    rows = [(p["pool"], [Decimal(p["demand"]), Decimal(p["size"])]) for p in report["pools"]]
    return charts.bar_chart(
        _("Matched demand against pool size"), rows, [_("matched demand"), _("pool size")]
    )


def _recent(request: Request, kind: str) -> dict[str, Any]:
    """The latest jobs of the page's kind, so an officer who left a job's page finds it again."""
    return {"jobs": jobs.recent(state_of(request).factory, kind), "labels": _job_labels()}


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
            **_recent(request, "matching"),
        },
        status=status,
    )


@router.get("/officer/matching")
def matching_page(request: Request) -> Response:
    return _matching_page(request, latest_matching(state_of(request)))


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
    job_id = start_matching(state_of(request), principal_of(request), on, ids, notify)
    return RedirectResponse(f"/officer/jobs/{job_id}", status_code=303)


@router.get("/officer/matching/{job_id}")
def matching_result(job_id: str, request: Request) -> Response:
    job = job_of(state_of(request), job_id, "matching")
    if job.state != SUCCEEDED:
        return RedirectResponse(f"/officer/jobs/{job_id}", status_code=303)
    return _matching_page(request, json.loads(job.result or "null"))


# --- background jobs ---------------------------------------------------------------------------------------


def result_url(job: Job) -> str:
    return f"/officer/{'sandbox' if job.kind == 'simulation' else 'matching'}/{job.id}"


def _job_labels() -> dict[str, str]:
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
    job = job_of(state_of(request), job_id)
    fragment = request.headers.get("HX-Request") == "true"
    headers = {"HX-Redirect": result_url(job)} if fragment and job.state == SUCCEEDED else None
    return render(
        request,
        "job_progress.html" if fragment else "job.html",
        {
            "job": job,
            "labels": _job_labels(),
            "result_url": result_url(job),
        },
        headers=headers,
    )


# --- the policy sandbox ------------------------------------------------------------------------------------

EXAMPLE_REFORM = """\
id: model-rate-60
title: {en: Model vouchers at 60%, zh: 模型券补贴比例提高至60%}
programmes:
  shanghai.ai.model-voucher:
    parameters:
      rate: 60%
"""


@router.get("/officer/sandbox")
def sandbox_page(request: Request) -> Response:
    return render(
        request,
        "sandbox.html",
        {
            "reform": EXAMPLE_REFORM,
            "sets": "",
            "on": today_in_shanghai().isoformat(),
            "error": None,
            **_recent(request, "simulation"),
        },
    )


@router.post("/officer/sandbox")
async def sandbox_submit(
    request: Request,
    reform: Annotated[str, Form()] = "",
    sets: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The reform is checked at once (a refusal is shown in place); the simulation runs in the background."""
    source = "reform"
    if file is not None and file.filename:
        raw = await file.read(1024 * 1024 + 1)
        try:
            reform = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WebError(422, f"{file.filename}: not UTF-8 text; save the reform as UTF-8 YAML") from None
        source = file.filename
    lines = [line.strip() for line in sets.splitlines() if line.strip()]
    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        raise WebError(422, f"on: expected a date YYYY-MM-DD, got {on!r}") from None
    try:
        job_id = start_simulation(state_of(request), principal_of(request), reform, lines, day, source)
    except ProgrammeError as exc:
        return render(
            request,
            "sandbox.html",
            {"reform": reform, "sets": sets, "on": on, "error": str(exc), **_recent(request, "simulation")},
            status=422,
        )
    return RedirectResponse(f"/officer/jobs/{job_id}", status_code=303)


@router.get("/officer/sandbox/{simulation_id}")
def sandbox_result(simulation_id: str, request: Request) -> Response:
    st = state_of(request)
    job = job_of(st, simulation_id, "simulation")
    if job.state != SUCCEEDED:
        return RedirectResponse(f"/officer/jobs/{simulation_id}", status_code=303)
    sim = json.loads(finished_simulation(st, simulation_id).result or "{}")
    charts_svg = [(c["title"], c["svg"]) for c in sim.pop("charts", [])]
    return render(request, "sandbox_result.html", {"sim": sim, "charts": charts_svg})


# --- the five-city comparison ------------------------------------------------------------------------------


def _compare_page(
    request: Request, profile: str, comparison: dict[str, Any] | None, svg: str, error: str | None
) -> Response:
    me = maybe_principal(request)
    return render(
        request,
        "compare.html",
        {
            "profile": profile,
            "examples": example_firms(),
            "comparison": comparison,
            "chart": svg,
            "error": error,
            "own_firm": me.firm_uscc if me is not None and me.is_firm else None,
            "on": today_in_shanghai().isoformat(),
        },
        status=422 if error else 200,
    )


@router.get("/compare")
def compare_page(request: Request) -> Response:
    return _compare_page(request, next(iter(example_firms().values()), ""), None, "", None)


@router.post("/compare")
def compare_submit(
    request: Request,
    profile: Annotated[str, Form()] = "",
    use_firm: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "",
) -> Response:
    st = state_of(request)
    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        return _compare_page(request, profile, None, "", _("Date: expected YYYY-MM-DD."))
    try:
        if use_firm:
            principal_of(request)
            stored_profile_allowed(request, use_firm)
            firm = st.read(lambda s: accounts.get_firm_profile(session=s, uscc=use_firm))
            profile = json.dumps(firm.model_dump(mode="json"), ensure_ascii=False, indent=2)
        else:
            firm = parse_firm(parse_text(profile, source="profile"), source="profile")
    except ProfileError as exc:
        problems = "; ".join(str(p) for p in exc.problems) or str(exc)
        return _compare_page(request, profile, None, "", problems)
    except FirmProfileNotFound as exc:
        return _compare_page(request, profile, None, "", str(exc))
    comparison, svg = compare(st, firm, day, language())
    return _compare_page(request, profile, comparison, svg, None)
