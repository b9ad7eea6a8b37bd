"""The policy sandbox (issue 7) through the API: simulate a reform (cost, gainers and losers, breakdowns,
pool sufficiency, charts, the HTML report) in the background; compare a firm's plan across five cities."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from huiqi.accounts import service as accounts
from huiqi.firms import Firm
from huiqi.jobs import service as jobs
from huiqi.jobs.models import SUCCEEDED, Job
from huiqi.web.api.analysis import STEP_MESSAGES, job_dict, job_of, register_source, register_tables
from huiqi.web.api.common import Day, WebError, actor, json_body, json_object_body
from huiqi.web.calculator import parse_firm, today_in_shanghai
from huiqi.web.i18n import language
from huiqi.web.security import Forbidden, Principal, principal_of, state_of
from huiqi.web.state import AppState

if TYPE_CHECKING:
    from huiqi.simulation.reform import AppliedReform

router = APIRouter(prefix="/api/v1", tags=["matching and the policy sandbox"])

SIMULATION_STEPS = ("reform", "simulate", "charts")


def prepare_reform(
    st: AppState, reform_text: str, sets: list[str], source_name: str = "reform.yaml"
) -> AppliedReform:
    """Validate the reform (file and/or overrides, positioned errors) and apply it to the programmes:
    quick, so that a refusal is answered at once, not by a failed job."""
    from huiqi.simulation.reform import apply_reform, parse_reform, parse_sets

    if not reform_text.strip() and not sets:
        raise WebError(
            422, "reform: give a reform file or at least one override (programme.id.parameter=value)"
        )
    parts = []
    if reform_text.strip():
        parts.append(parse_reform(reform_text, source=source_name))
    if sets:
        parts.append(parse_sets(sets))
    combined = parts[0]
    for p in parts[1:]:
        combined = combined.combine(p)
    return apply_reform(st.registry.programmes(), combined)


def simulate_reform(
    st: AppState, applied: AppliedReform, on: dt.date | None, progress: jobs.Progress
) -> jobs.Outcome:
    """Baseline and reform over the register, the charts and the self-contained HTML report (``huiqi
    simulate --out``); the result keeps the charts' SVG for the page."""
    from huiqi.reports.charts import simulation_charts
    from huiqi.reports.html import simulation_html
    from huiqi.simulation.run import simulate

    steps = SIMULATION_STEPS
    progress(0, len(steps), STEP_MESSAGES["reform"])
    tables = register_tables(st, register_source(st))
    progress(1, len(steps), STEP_MESSAGES["simulate"])
    sim = simulate(applied, tables, on or today_in_shanghai())
    progress(2, len(steps), STEP_MESSAGES["charts"])
    with tempfile.TemporaryDirectory(prefix="huiqi-sandbox-") as tmp:
        charts = simulation_charts(sim, Path(tmp))
        html = simulation_html(sim, charts)
        svgs = [{"title": c.title, "svg": c.svg_text()} for c in charts]
    progress(3, len(steps), STEP_MESSAGES["charts"])
    result = {"id": progress.job_id, **sim.to_json(), "charts": svgs}
    return jobs.Outcome(result, result_id=progress.job_id, report=html)


def start_simulation(
    st: AppState,
    me: Principal,
    reform_text: str,
    sets: list[str],
    on: dt.date | None,
    source_name: str = "reform.yaml",
) -> str:
    """Validate the reform now, simulate in the background; the job's id (also the simulation's)."""
    applied = prepare_reform(st, reform_text, sets, source_name)
    params = {
        "reform": reform_text,
        "sets": sets,
        "on": on.isoformat() if on else None,
        "source": source_name,
    }
    return jobs.start(
        st.factory,
        kind="simulation",
        created_by=actor(me),
        work=lambda progress: simulate_reform(st, applied, on, progress),
        params=params,
        total=len(SIMULATION_STEPS),
    )


class SimulationIn(BaseModel):
    reform: str = Field("", description="a reform file's YAML (as `huiqi simulate --reform` reads)")
    sets: list[str] = Field(
        default_factory=list, description="overrides programme.id.parameter[@YYYY-MM-DD]=value"
    )
    on: Day | None = None


@router.post("/simulations", status_code=202)
def post_simulation(body: SimulationIn, request: Request, response: Response) -> dict[str, Any]:
    """Baseline and reform over the register, in the background: a refused reform is answered at once
    (422, with positions); otherwise the answer (202) is the job, its ``Location`` the job to follow until
    it carries the result: cost and change, gainers and losers, breakdowns by sector, district and size,
    pool sufficiency. The simulation's id is the job's; its HTML report stays downloadable."""
    st = state_of(request)
    job_id = start_simulation(st, principal_of(request), body.reform, body.sets, body.on)
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return job_dict(job_of(st, job_id))


def finished_simulation(st: AppState, simulation_id: str) -> Job:
    job = job_of(st, simulation_id, "simulation")
    if job.state != SUCCEEDED:
        raise WebError(
            409,
            f"simulation {simulation_id!r} is {job.state}"
            + (f" ({job.error})" if job.error else f": follow /api/v1/jobs/{simulation_id}"),
        )
    return job


@router.get("/simulations/{simulation_id}/report")
def simulation_report(simulation_id: str, request: Request) -> HTMLResponse:
    """The self-contained HTML report (charts inline) of a simulation."""
    job = finished_simulation(state_of(request), simulation_id)
    return HTMLResponse(
        job.report or "",
        headers={"Content-Disposition": f'attachment; filename="simulation-{simulation_id}.html"'},
    )


def compare(st: AppState, firm: Firm, on: dt.date | None, lang: str) -> tuple[dict[str, Any], str]:
    """The plan in five cities (JSON for ``lang``) and the chart's SVG."""
    from huiqi.reports.charts import city_chart
    from huiqi.simulation.cities import compare_cities

    comp = compare_cities(firm, on or today_in_shanghai(), st.registry.programmes())
    with tempfile.TemporaryDirectory(prefix="huiqi-cities-") as tmp:
        svg = city_chart(comp, Path(tmp)).svg_text()
    return comp.to_json(lang), svg


@router.post(
    "/compare-cities",
    openapi_extra=json_object_body(
        'a firm profile (GET /api/v1/schema/firm), or {"uscc": ...} for a stored one'
    ),
)
async def post_compare(
    request: Request,
    lang: str | None = Query(None, pattern="^(zh|en)$"),
    on: Annotated[Day | None, Query()] = None,
) -> dict[str, Any]:
    """POST a firm profile (JSON; its contracts and offices are the plan): subsidies, net cost and the
    explanations in Shanghai, Beijing, Shenzhen, Hangzhou and Chengdu, side by side. Public."""
    data = await json_body(request)
    if isinstance(data, dict) and set(data) <= {"uscc"} and data.get("uscc"):
        uscc = str(data["uscc"])
        stored_profile_allowed(request, uscc)
        firm = state_of(request).read(lambda s: accounts.get_firm_profile(session=s, uscc=uscc))
    else:
        firm = parse_firm(data, source="body")
    out, _svg = compare(state_of(request), firm, on, lang or language())
    return out


def stored_profile_allowed(request: Request, uscc: str) -> None:
    """A stored profile is confidential: its firm's members and staff may use it, nobody else."""
    me = principal_of(request)
    if me.is_firm and me.firm_uscc != uscc:
        raise Forbidden("this belongs to another firm; you can see and act only for your own firm")
