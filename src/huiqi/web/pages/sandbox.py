"""The policy sandbox pages: the reform sandbox with its charts and report (issue 7), and the public
five-city comparison. (The matching pages and a job's progress page are in ``pages/matching.py``.)"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from huiqi.app import jobs, sandbox
from huiqi.app.errors import FirmProfileNotFound
from huiqi.firms import ProfileError
from huiqi.firms.io import parse_text
from huiqi.reports.charts import simulation_drawings
from huiqi.rules.errors import ProgrammeError
from huiqi.web.api.analysis import job_of
from huiqi.web.api.common import WebError
from huiqi.web.api.sandbox import start_simulation, stored_profile_allowed
from huiqi.web.calculator import parse_firm, plain_check, today_in_shanghai
from huiqi.web.errors import page_message
from huiqi.web.i18n import _, language
from huiqi.web.pages.matching import recent_jobs
from huiqi.web.pages.public import example_firms
from huiqi.web.security import maybe_principal, principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


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
            **recent_jobs(request, "simulation"),
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
        job_id = start_simulation(request, reform, lines, day, source)
    except ProgrammeError as exc:
        return render(
            request,
            "sandbox.html",
            {
                "reform": reform,
                "sets": sets,
                "on": on,
                "error": str(exc),
                **recent_jobs(request, "simulation"),
            },
            status=422,
        )
    return RedirectResponse(f"/officer/jobs/{job_id}", status_code=303)


@router.get("/officer/sandbox/{simulation_id}")
def sandbox_result(simulation_id: str, request: Request) -> Response:
    job = job_of(state_of(request), simulation_id, "simulation")
    if job.state != jobs.SUCCEEDED or not isinstance(job.result, dict):
        return RedirectResponse(f"/officer/jobs/{simulation_id}", status_code=303)
    sim = dict(job.result)
    sim.pop("charts", None)  # drawn in English with the job; drawn again below in the page's language
    sim["by_size"] = sorted(sim.get("by_size") or [], key=lambda g: band_start(str(g["key"])))
    names, pools = names_in(request, language())
    for p in sim.get("programmes") or []:
        p["name"] = names.get(p["programme"], p.get("name"))
    for p in sim.get("pools") or []:
        p["name"] = pools.get(p["pool"], p.get("name"))
    charts_svg = [(title, d.svg()) for _name, title, d in simulation_drawings(sim, language())]
    return render(request, "sandbox_result.html", {"sim": sim, "charts": charts_svg})


def names_in(request: Request, lang: str) -> tuple[dict[str, str], dict[str, str]]:
    """Programme names and pool names by id, in the page's language (a simulation stores them in English)."""
    programmes: dict[str, str] = {}
    pools: dict[str, str] = {}
    for p in state_of(request).registry.programmes().every():
        programmes[p.id] = p.spec.name.get(lang)
        if p.spec.pool is not None:
            pools[p.spec.pool.id] = p.spec.pool.name.get(lang)
    return programmes, pools


def band_start(band: str) -> int:
    """A size band's lower bound ("10-99" -> 10), so bands read 0-9, 10-99, 100-299 (not as text sorts)."""
    digits = re.match(r"\d+", band)
    return int(digits.group(0)) if digits else 1 << 62


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
            "plain_check": plain_check,  # a public page: conditions in words, never a rule's formula
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
            view = sandbox.compare_cities(
                st.store,
                programmes=st.registry,
                uscc=use_firm,
                on=day,
                lang=language(),
                chart=True,
                text=False,
            )
            profile = json.dumps(view.profile, ensure_ascii=False, indent=2)
        else:
            firm = parse_firm(parse_text(profile, source="profile"), source="profile")
            view = sandbox.compare_cities(
                None, programmes=st.registry, firm=firm, on=day, lang=language(), chart=True, text=False
            )
    except ProfileError as exc:
        problems = "; ".join(str(p) for p in exc.problems) or str(exc)
        return _compare_page(request, profile, None, "", problems)
    except FirmProfileNotFound as exc:
        return _compare_page(request, profile, None, "", page_message(exc))
    return _compare_page(request, profile, view.comparison, view.svg, None)
