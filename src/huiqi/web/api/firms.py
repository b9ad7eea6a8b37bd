"""Firms' profiles kept with the commission, and the programmes each one matches (with explanations)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from huiqi.app import accounts
from huiqi.app.jsonable import as_json
from huiqi.web.api.common import Day, Limit, Offset, Page, actor, json_body, json_object_body, page
from huiqi.web.calculator import calculate, today_in_shanghai
from huiqi.web.i18n import language
from huiqi.web.security import principal_of, state_of

router = APIRouter(prefix="/api/v1", tags=["firms"])


@router.get("/firms", response_model=Page[dict[str, Any]])
def list_firms(request: Request, limit: Limit = 50, offset: Offset = 0) -> Page[dict[str, Any]]:
    """The firms that keep a profile with the commission, by credit code."""
    found = accounts.firm_profiles_page(state_of(request).store, offset=offset, limit=limit)
    return page([as_json(f) for f in found.items], found.total, limit, offset)


@router.get("/firms/{uscc}")
def get_firm(uscc: str, request: Request) -> dict[str, Any]:
    """The profile the firm keeps with the commission."""
    principal_of(request).check_firm(uscc)
    return accounts.firm_profile(state_of(request).store, uscc=uscc).model_dump(mode="json")


@router.put(
    "/firms/{uscc}",
    openapi_extra=json_object_body(
        "the firm profile (GET /api/v1/schema/firm), its uscc the one in the path", ("uscc",)
    ),
)
async def put_firm(uscc: str, request: Request) -> dict[str, Any]:
    """Store the firm's profile (validated; every problem named by its path)."""
    me = principal_of(request)
    me.check_firm(uscc)
    data = await json_body(request)
    if not isinstance(data, dict) or data.get("uscc") != uscc:
        raise HTTPException(422, detail=f"uscc: the profile's uscc must be {uscc} (the firm in the address)")
    firm = accounts.save_firm_profile(state_of(request).store, data=data, actor=actor(me), source="profile")
    return firm.model_dump(mode="json")


@router.get("/firms/{uscc}/matches")
def firm_matches(
    uscc: str,
    request: Request,
    on: Annotated[Day | None, Query(description="default: today in Shanghai")] = None,
) -> dict[str, Any]:
    """Every programme evaluated for the firm's stored profile: the "you qualify" list with explanations."""
    principal_of(request).check_firm(uscc)
    st = state_of(request)
    firm = accounts.firm_profile(st.store, uscc=uscc)
    answer: dict[str, Any] = as_json(
        calculate(st.registry.programmes(), firm, on or today_in_shanghai(), None, language())
    )
    return answer
