"""The policy sandbox (issue 7) through the API: simulate a reform (cost, gainers and losers, breakdowns,
pool sufficiency, charts, the HTML report) in the background; compare a firm's plan across five cities.
The use cases are ``huiqi.app.sandbox``'s, the same as ``huiqi simulate`` and ``huiqi compare-cities``.

The register is the directory in ``HUIQI_REGISTER_DIR`` when set, otherwise the register stored in the
database (``huiqi register import --register db``) — the same two sources as ``huiqi simulate --register``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from huiqi.app import jobs, sandbox
from huiqi.app.errors import JobNotFinished, JobNotFound
from huiqi.web.api.analysis import job_dict, job_of
from huiqi.web.api.common import Day, WebError, actor, json_body, json_object_body
from huiqi.web.calculator import parse_firm
from huiqi.web.i18n import language
from huiqi.web.security import Forbidden, principal_of, state_of
from huiqi.web.state import AppState

router = APIRouter(prefix="/api/v1", tags=["matching and the policy sandbox"])


def register_of(st: AppState) -> str:
    """The register simulations read: ``HUIQI_REGISTER_DIR`` when it is a directory, else the database's."""
    d = st.settings.register_dir
    return str(d) if d is not None and d.is_dir() else sandbox.IN_DATABASE


def start_simulation(request: Request, reform: str, sets: list[str], on: dt.date | None, source: str) -> str:
    """Check the reform now and simulate it in the background for the calling officer, its report in the
    request's language (``?lang=``, the language cookie, ``Accept-Language``); the job's id."""
    st = state_of(request)
    return sandbox.start_simulation(
        st.store,
        programmes=st.registry,
        register=register_of(st),
        reform=reform,
        sets=sets,
        on=on,
        source=source,
        actor=actor(principal_of(request)),
        lang=language(),
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
    pool sufficiency. The simulation's id is the job's; its HTML report, in the request's language, stays
    downloadable."""
    job_id = start_simulation(request, body.reform, body.sets, body.on, "reform.yaml")
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return job_dict(job_of(state_of(request), job_id))


@router.get("/simulations/{simulation_id}/report")
def simulation_report(simulation_id: str, request: Request) -> HTMLResponse:
    """The self-contained HTML report (charts inline) of a simulation."""
    try:
        report = jobs.job_report(state_of(request).store, job_id=simulation_id, kind="simulation")
    except JobNotFound as exc:
        raise WebError(404, str(exc)) from None
    except JobNotFinished as exc:
        raise WebError(409, str(exc)) from None
    return HTMLResponse(
        report, headers={"Content-Disposition": f'attachment; filename="simulation-{simulation_id}.html"'}
    )


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
    st = state_of(request)
    if isinstance(data, dict) and set(data) <= {"uscc"} and data.get("uscc"):
        uscc = str(data["uscc"])
        stored_profile_allowed(request, uscc)
        view = sandbox.compare_cities(
            st.store, programmes=st.registry, uscc=uscc, on=on, lang=lang or language(), text=False
        )
    else:
        firm = parse_firm(data, source="body")
        view = sandbox.compare_cities(
            None, programmes=st.registry, firm=firm, on=on, lang=lang or language(), text=False
        )
    return view.comparison


def stored_profile_allowed(request: Request, uscc: str) -> None:
    """A stored profile is confidential: its firm's members and staff may use it, nobody else."""
    me = principal_of(request)
    if me.is_firm and me.firm_uscc != uscc:
        raise Forbidden("this belongs to another firm; you can see and act only for your own firm")
