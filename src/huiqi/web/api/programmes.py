"""Programmes (read them, validate and load a new version, run their test cases; drafts, their review by a
second officer, publication, withdrawal and the diff between versions), the policy calculator, and the JSON
Schemas."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from huiqi.app import catalogue, lifecycle
from huiqi.app import programmes as use
from huiqi.app.registry import open_packs
from huiqi.firms.profile import Sector
from huiqi.web.api.common import Day, actor, json_body
from huiqi.web.i18n import language
from huiqi.web.programmes import view_json
from huiqi.web.security import authorize, principal_of, state_of

router = APIRouter(prefix="/api/v1", tags=["programmes"])

#: a draft's number, bounded as the database holds it (outside the bound: 422 naming it, as the schema says)
DraftId = Annotated[
    int, Path(ge=lifecycle.DRAFT_ID_MIN, le=lifecycle.DRAFT_ID_MAX, description="the draft's number")
]


class ProgrammeFile(BaseModel):
    filename: str = "upload.programme.yaml"
    text: str


#: what ?min_amount= takes (``catalogue.min_amount_of``, as the page and the CLI): yuan below 10^15 with at
#: most two decimals, thousands optionally grouped by commas, or blank (no minimum)
_AMOUNT_OR_BLANK: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": catalogue.MIN_AMOUNT_PATTERN}, {"type": "null"}]
}


@router.get("/programmes")
def list_programmes(
    request: Request,
    on: Annotated[Day | None, Query(description="the date of each version's status (default today)")] = None,
    q: Annotated[str, Query(max_length=200, description="words of the names, documents, conditions")] = "",
    city: Annotated[catalogue.City | None, Query(description="the city's pack")] = None,
    sector: Annotated[Sector | None, Query(description="open to firms of this sector")] = None,
    benefit: Annotated[catalogue.BenefitKind | None, Query(description="the kind of benefit")] = None,
    min_amount: Annotated[
        Decimal | None,
        BeforeValidator(catalogue.min_amount_of),
        WithJsonSchema(_AMOUNT_OR_BLANK),
        Query(
            description="may pay a firm at least this (yuan, e.g. 1000000 or 1,000,000); empty: no minimum"
        ),
    ] = None,
    status: Annotated[catalogue.StatusFilter, Query(description="status on the date")] = "all",
) -> list[dict[str, Any]]:
    """Every version of every programme on this site, by id then period, with its period and status
    (`?lang=zh` for Chinese names); with any filter, the catalogue's search (each entry adds its city,
    sectors and cap per firm)."""
    if not (q or city or sector or benefit or min_amount is not None or status != "all"):
        return view_json(use.list_programmes(state_of(request).registry, lang=language(), on=on))  # type: ignore[no-any-return]
    found = catalogue.search_programmes(
        state_of(request).registry,
        q=q,
        city=city,
        sector=sector.value if sector else None,
        benefit=benefit,
        min_amount=min_amount,
        status=status,
        on=on,
        lang=language(),
    )
    return view_json(found.entries)  # type: ignore[no-any-return]


@router.get("/programmes/{programme_id}")
def show_programme(
    programme_id: str,
    request: Request,
    version: Annotated[str | None, Query(description="this version (default: the one in force)")] = None,
    on: Annotated[Day | None, Query(description="the version in force on this date (default today)")] = None,
) -> dict[str, Any]:
    """The programme as a readable document: basis, parameters, conditions and exclusions with clauses,
    and every version with its period."""
    doc = use.show_programme(
        state_of(request).registry, programme_id=programme_id, version=version, on=on, lang=language()
    )
    return view_json(doc)  # type: ignore[no-any-return]


@router.post("/programmes/validate")
def validate_programme(body: ProgrammeFile, request: Request) -> dict[str, Any]:
    """Check a programme file against the programmes in force; every problem is listed with
    file:line:column."""
    upload = use.ProgrammeUpload(body.filename, body.text)
    (checked,) = use.validate_programmes(state_of(request).registry, uploads=[upload], lang=language())
    return {"ok": True, **view_json(checked.programme)}


@router.post("/programmes", status_code=201)
def load_programme(body: ProgrammeFile, request: Request) -> dict[str, Any]:
    """Validate and put a new version in force (recorded in the audit chain)."""
    st = state_of(request)
    loaded = use.load_programme(
        st.store,
        registry=st.registry,
        filename=body.filename,
        text=body.text,
        actor=actor(principal_of(request)),
        lang=language(),
    )
    return view_json(loaded)  # type: ignore[no-any-return]


@router.get("/programme-tests")
def run_programme_tests() -> dict[str, Any]:
    """Run the bundled packs' test cases (``*.tests.yaml``) against the bundled programmes."""
    return view_json(use.run_programme_tests(open_packs()))  # type: ignore[no-any-return]


@router.get("/schema/{kind}")
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a firm profile (``firm``) or a programme file (``programme``)."""
    try:
        return use.json_schema(kind=kind)
    except KeyError:
        raise HTTPException(404, detail=f"no schema {kind!r}; there are 'firm' and 'programme'") from None


_CALC_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["firm"],
                    "properties": {
                        "firm": {"type": "object", "description": "a firm profile (GET /api/v1/schema/firm)"},
                        "on": {
                            "type": "string",
                            "format": "date",
                            "description": "default: today in Shanghai",
                        },
                        "programmes": {"type": "array", "items": {"type": "string"}},
                        "lang": {"type": "string", "enum": ["en", "zh"]},
                    },
                }
            }
        },
    }
}


@router.post("/calculator", openapi_extra=_CALC_SCHEMA)
async def calculator(request: Request, all_cities: Annotated[bool, Query(alias="all")] = False) -> Response:
    """The policy calculator: which programmes the firm qualifies for on a date, how much, why, and what is
    missing. By default the programmes of the firm's registration city in force on the date; `?all=true`:
    every city's in force; `programmes`: exactly those. The answer's `scope` says which. Amounts are decimal
    strings in yuan; write amounts in the profile as strings or numbers."""
    return await calculator_answer(request, all_cities)


async def calculator_answer(request: Request, all_cities: bool) -> Response:
    """The calculator's answer to an authorized request (``calculator`` above, or ``CalculatorRoute``).

    It yields to the event loop once before the work (a millisecond or two of CPU that never awaits). Without
    that, requests that arrive while a worker is busy are not served in the order they arrived: at 32
    keep-alive clients two workers each served 14 of their 16 clients in 28 ms and the other two in 46 ms,
    every time (the p99); with it, all 16 in 27-32 ms."""
    data = await json_body(request)
    await asyncio.sleep(0)
    if not isinstance(data, dict) or "firm" not in data:
        raise HTTPException(422, detail='body: expected {"firm": {...profile...}, "on": "YYYY-MM-DD"}')
    on_text = data.get("on")
    try:
        on = dt.date.fromisoformat(on_text) if on_text else None
    except (TypeError, ValueError):
        raise HTTPException(422, detail=f"on: expected a date like 2025-12-01, got {on_text!r}") from None
    ids = data.get("programmes")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise HTTPException(422, detail="programmes: expected a list of programme ids")
    lang = data.get("lang") or language()
    if lang not in ("en", "zh"):
        raise HTTPException(422, detail=f"lang: expected 'en' or 'zh', got {lang!r}")
    firm = use.parse_firm(data["firm"])
    answer = use.check_firm(
        state_of(request).registry, firm=firm, on=on, ids=ids, all_cities=all_cities, lang=lang
    )
    # serialised once, here: the answer is JSON-ready (FastAPI's encoder would walk it all again)
    return Response(use.to_json_bytes(answer), media_type="application/json")


#: the query strings the lean route answers itself (anything else goes through FastAPI's parsing)
_LEAN_QUERIES = {b"": False, b"all=true": True, b"all=false": False, b"all=1": True, b"all=0": False}


class CalculatorRoute(Route):
    """``POST /api/v1/calculator`` without FastAPI's per-request machinery (included-router matching, the
    dependency solver, endpoint wrapping): a quarter of the framework's cost an answer, which at 32 clients
    on two cores is what stands between the calculator and its latency target. It sits first in the app's
    routes and, for the query strings it knows, shadows the ``calculator`` route above; that route stays for
    the OpenAPI document, the authorization matrix and every other request to the path (it matches nothing
    else, so the app's router goes on to the normal route). It calls the same ``authorize`` as the app-wide
    dependency and the same ``calculator_answer``; errors go through the app's exception handlers, as from
    any route."""

    def __init__(self, path: str) -> None:
        super().__init__(path, self._lean, methods=["POST"], name="calculator_lean", include_in_schema=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("method") != "POST" or scope.get("query_string", b"") not in _LEAN_QUERIES:
            return Match.NONE, {}
        return super().matches(scope)

    @staticmethod
    async def _lean(request: Request) -> Response:
        await authorize(request)
        return await calculator_answer(request, _LEAN_QUERIES[request.scope.get("query_string", b"")])


def lean_routes() -> list[BaseRoute]:
    """The lean routes to put first among the app's routes (each shadows an API route of the same path)."""
    path = next(r.path for r in router.routes if isinstance(r, APIRoute) and r.endpoint is calculator)
    return [CalculatorRoute(path)]


# --- programmes through their life (issue 15): drafts, review by a second officer, publish, withdraw, diff


class DraftFile(BaseModel):
    filename: str = Field("draft.programme.yaml", max_length=200)
    text: str
    tests: str = ""


class Reason(BaseModel):
    reason: str = Field(
        max_length=2000,
        pattern=r"^[^\x00]*[^\s\x00][^\x00]*$",
        description="why (not blank, no NUL character; kept in the audit)",
    )


class CostRequest(BaseModel):
    on: Day | None = None


@router.get("/programme-drafts")
def list_drafts(
    request: Request,
    status: Annotated[
        Literal["draft", "in-review", "published", "withdrawn"] | None, Query(description="of this state")
    ] = None,
    programme: Annotated[str | None, Query(max_length=120, description="of this programme id")] = None,
) -> list[dict[str, Any]]:
    """Programme drafts, newest first (``?status=in-review``: what waits for a second officer)."""
    rows = lifecycle.list_drafts(state_of(request).store, status=status, programme_id=programme)
    return view_json(rows)  # type: ignore[no-any-return]


@router.post("/programme-drafts", status_code=201)
def create_draft(body: DraftFile, request: Request) -> dict[str, Any]:
    """Keep a programme file (and its test cases) as your draft; it is validated first (problems with
    file:line:column) and in force nowhere until a second officer publishes it."""
    st = state_of(request)
    d = lifecycle.create_draft(
        st.store,
        registry=st.registry,
        filename=body.filename,
        text=body.text,
        tests=body.tests,
        actor=actor(principal_of(request)),
    )
    return view_json(d)  # type: ignore[no-any-return]


@router.get("/programme-drafts/{draft_id}")
def get_draft(draft_id: DraftId, request: Request) -> dict[str, Any]:
    """One draft with its text, test cases, state, author and reviewer."""
    return view_json(lifecycle.get_draft(state_of(request).store, draft_id=draft_id))  # type: ignore[no-any-return]


@router.put("/programme-drafts/{draft_id}")
def edit_draft(draft_id: DraftId, body: DraftFile, request: Request) -> dict[str, Any]:
    """Replace your draft's text and test cases (while it is a draft, e.g. after a rejection)."""
    st = state_of(request)
    d = lifecycle.edit_draft(
        st.store,
        registry=st.registry,
        draft_id=draft_id,
        filename=body.filename,
        text=body.text,
        tests=body.tests,
        actor=actor(principal_of(request)),
    )
    return view_json(d)  # type: ignore[no-any-return]


@router.post("/programme-drafts/{draft_id}/submit")
def submit_draft(draft_id: DraftId, request: Request) -> dict[str, Any]:
    """Ask a second officer to review your draft."""
    d = lifecycle.submit_draft(state_of(request).store, draft_id=draft_id, actor=actor(principal_of(request)))
    return view_json(d)  # type: ignore[no-any-return]


@router.post("/programme-drafts/{draft_id}/test")
def test_draft(draft_id: DraftId, request: Request) -> dict[str, Any]:
    """Run the draft's test cases with it in force beside the programmes served (nothing is kept)."""
    st = state_of(request)
    return view_json(lifecycle.test_draft(st.store, registry=st.registry, draft_id=draft_id))  # type: ignore[no-any-return]


@router.post("/programme-drafts/{draft_id}/reject")
def reject_draft(draft_id: DraftId, body: Reason, request: Request) -> dict[str, Any]:
    """Send a draft in review back to its author with a reason (a second officer)."""
    d = lifecycle.reject_draft(
        state_of(request).store, draft_id=draft_id, actor=actor(principal_of(request)), reason=body.reason
    )
    return view_json(d)  # type: ignore[no-any-return]


@router.post("/programme-drafts/{draft_id}/publish")
def publish_draft(draft_id: DraftId, request: Request) -> dict[str, Any]:
    """Approve and publish a draft in review (a second officer, not its author; its test cases must pass):
    in force from its effective date beside the other versions."""
    st = state_of(request)
    d = lifecycle.publish_draft(
        st.store, registry=st.registry, draft_id=draft_id, actor=actor(principal_of(request))
    )
    return view_json(d)  # type: ignore[no-any-return]


@router.get("/programme-drafts/{draft_id}/diff")
def diff_draft(
    draft_id: DraftId,
    request: Request,
    against: Annotated[
        str | None, Query(max_length=60, description="this version (default: the one it follows)")
    ] = None,
) -> dict[str, Any]:
    """What the draft changes: parameters old -> new with their dates, rules with their clauses, tests."""
    st = state_of(request)
    d = lifecycle.diff_draft(
        st.store, registry=st.registry, draft_id=draft_id, against=against, lang=language()
    )
    return view_json(d)  # type: ignore[no-any-return]


@router.post("/programme-drafts/{draft_id}/cost")
def draft_cost(draft_id: DraftId, body: CostRequest, request: Request) -> dict[str, Any]:
    """The cost of publishing the draft over the register in the database on a date (default its first
    day): eligible firms and amounts before and after, gainers and losers."""
    st = state_of(request)
    c = lifecycle.change_cost(st.store, registry=st.registry, draft_id=draft_id, register="db", on=body.on)
    return {
        "draft": c.draft,
        "programme_id": c.programme_id,
        "old_version": c.old_version,
        "new_version": c.new_version,
        "on": c.on.isoformat(),
        "result": c.result,
    }


@router.post("/programmes/{programme_id}/versions/{version}/withdraw")
def withdraw_version(programme_id: str, version: str, body: Reason, request: Request) -> dict[str, Any]:
    """Take a version out of force with a reason; it stays readable (``?version=``) for the calls and
    decisions pinned to it."""
    st = state_of(request)
    w = lifecycle.withdraw_version(
        st.store,
        registry=st.registry,
        programme_id=programme_id,
        version=version,
        actor=actor(principal_of(request)),
        reason=body.reason,
    )
    return view_json(w)  # type: ignore[no-any-return]


@router.get("/programmes/{programme_id}/diff")
def diff_versions(
    programme_id: str,
    request: Request,
    old: Annotated[str | None, Query(max_length=60, description="default: the version in force")] = None,
    new: Annotated[str | None, Query(max_length=60, description="default: the next version")] = None,
) -> dict[str, Any]:
    """What changes between two versions of a programme (parameters, rules with clauses, test cases)."""
    d = lifecycle.diff_versions(
        state_of(request).registry, programme_id=programme_id, old=old, new=new, lang=language()
    )
    return view_json(d)  # type: ignore[no-any-return]
