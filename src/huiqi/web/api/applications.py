"""Calls, applications, evidence, the eligibility check, scores and moves through the state machine."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from huiqi.app import calls
from huiqi.firms import Firm, firm_from_data
from huiqi.money import parse_decimal
from huiqi.web.api.common import (
    IdempotencyKeyHeader,
    Limit,
    Moment,
    Offset,
    Page,
    Reason,
    WebError,
    actor,
    answer,
    api_key,
    page,
    require_key,
)
from huiqi.web.security import Forbidden, Principal, principal_of, state_of

router = APIRouter(prefix="/api/v1", tags=["calls and applications"])


class NewCall(BaseModel):
    id: str
    programme_id: str
    programme_version: str
    pool_id: str
    opens_at: Moment = Field(description="with timezone, e.g. 2025-09-01T00:00:00+08:00")
    closes_at: Moment
    allocation_mode: str = "fcfs"


class ClaimIn(BaseModel):
    contract_id: str
    amount: str = Field(description="yuan, as a decimal string")


class NewApplication(BaseModel):
    call_id: str
    claims: list[ClaimIn]
    firm_uscc: str | None = Field(None, description="use the firm's stored profile")
    firm: dict[str, Any] | None = Field(None, description="or send a profile (it is snapshotted)")


class ScoreIn(BaseModel):
    score: str


class TransitionIn(BaseModel):
    to: str
    reason: Reason


class ReasonIn(BaseModel):
    reason: Reason


# --- calls --------------------------------------------------------------------------------------------------


@router.get("/calls")
def list_calls(request: Request) -> list[dict[str, Any]]:
    """Every call with its window, pool and allocation mode."""
    return [answer(c) for c in calls.list_calls(state_of(request).store)]


@router.get("/calls/{call_id}")
def get_call(call_id: str, request: Request) -> dict[str, Any]:
    """One call."""
    return dict(answer(calls.get_call(state_of(request).store, call_id=call_id)))


@router.post("/calls", status_code=201)
def open_call(body: NewCall, request: Request) -> dict[str, Any]:
    """Open a programme for applications in a window, drawing on one pool."""
    view = calls.open_call(
        state_of(request).store,
        call_id=body.id,
        programme_id=body.programme_id,
        programme_version=body.programme_version,
        pool_id=body.pool_id,
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        allocation_mode=body.allocation_mode,
        actor=actor(principal_of(request)),
        programmes=state_of(request).registry.programmes(),
    )
    return dict(answer(view))


# --- applications -------------------------------------------------------------------------------------------


def owned(request: Request, me: Principal, application_id: str) -> calls.ApplicationView:
    """The application, if the caller may see it (a firm member only their own firm's); a firm member is
    refused another firm's before anything is written."""
    view = calls.get_application(state_of(request).store, application_id=application_id)
    me.check_firm(view.firm_uscc)
    return view


def claims_of(claims: list[tuple[str, str]]) -> list[tuple[str, Decimal]]:
    """Claimed amounts as exact decimals (a refusal names the contract)."""
    return [(c, parse_decimal(a, what=f"claims: amount for {c}")) for c, a in claims]


def firm_of(
    me: Principal, firm_uscc: str | None, firm_data: dict[str, Any] | None
) -> tuple[Firm | None, str]:
    """The profile sent (or none: the stored one of ``firm_uscc``, by default the caller's firm) and whose
    it is, checked against the caller."""
    if firm_data is not None:
        firm = firm_from_data(firm_data, source="firm")
        me.check_firm(firm.uscc)
        return firm, firm.uscc
    uscc = firm_uscc if firm_uscc is not None else me.firm_uscc
    if uscc is None:
        raise HTTPException(
            422, detail="name the firm (firm_uscc, whose stored profile is used) or send its profile"
        )
    me.check_firm(uscc)
    return None, uscc


@router.get("/applications", response_model=Page[dict[str, Any]])
def list_applications(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    state: str | None = None,
    call_id: str | None = None,
    firm_uscc: Annotated[str | None, Query(description="a firm member sees only their own")] = None,
) -> Page[dict[str, Any]]:
    """Applications, newest first, by state, call or firm."""
    me = principal_of(request)
    only = me.firm_filter()
    if only is not None:
        if firm_uscc not in (None, only):
            raise Forbidden("you can list only your own firm's applications")
        firm_uscc = only
    listing = calls.list_applications(
        state_of(request).store, state=state, call_id=call_id, firm_uscc=firm_uscc, limit=limit, offset=offset
    )
    return page([answer(a) for a in listing.items], listing.total, limit, offset)


@router.get("/applications/by-state")
def applications_by_state(request: Request) -> dict[str, int]:
    """How many applications are in each state (what needs attention)."""
    return calls.count_by_state(state_of(request).store)


@router.post("/applications", status_code=201)
def create_application(body: NewApplication, request: Request) -> dict[str, Any]:
    """Submit an application (draft -> submitted) with its claims; the firm's profile is snapshotted."""
    me = principal_of(request)
    firm, uscc = firm_of(me, body.firm_uscc, body.firm)
    view = calls.submit_application(
        state_of(request).store,
        call_id=body.call_id,
        claims=claims_of([(c.contract_id, c.amount) for c in body.claims]),
        firm=firm,
        firm_uscc=uscc,
        actor=actor(me),
    )
    return dict(answer(view))


@router.get("/applications/{application_id}")
def get_application(application_id: str, request: Request) -> dict[str, Any]:
    """The application, its verdict, evidence and full history."""
    return dict(answer(owned(request, principal_of(request), application_id)))


async def read_upload(file: UploadFile) -> bytes:
    """The upload's bytes; a bad name or an oversize upload is refused before anything is read into memory
    (the parser has already spooled the upload to a temporary file and knows its size)."""
    calls.check_upload(filename=file.filename or "", size=file.size)
    return await file.read(calls.EVIDENCE_MAX_BYTES + 1)


@router.post("/applications/{application_id}/evidence", status_code=201)
async def upload_evidence(
    application_id: str,
    request: Request,
    file: Annotated[UploadFile, File(description="PDF, image or Office document, at most 20 MB")],
    description: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    """Attach a file to an application; it is checked by its content, not its name."""
    me = principal_of(request)
    content = await read_upload(file)
    owned(request, me, application_id)
    st = state_of(request)
    view = calls.add_evidence(
        st.store,
        application_id=application_id,
        filename=file.filename or "",
        content=content,
        evidence_dir=st.settings.evidence_dir,
        actor=actor(me),
        description=description,
    )
    return dict(answer(view))


def attachment(filename: str) -> str:
    """Content-Disposition for a download: an ASCII fallback and the exact name (RFC 6266 / RFC 8187)."""
    stem, ext = os.path.splitext(filename)
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "evidence"
    fallback += re.sub(r"[^A-Za-z0-9.]", "", ext)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/applications/{application_id}/evidence/{sha256}")
def download_evidence(application_id: str, sha256: str, request: Request) -> FileResponse:
    """One evidence file, always as a download."""
    st = state_of(request)
    owned(request, principal_of(request), application_id)
    found = calls.get_evidence(
        st.store, application_id=application_id, sha256=sha256, evidence_dir=st.settings.evidence_dir
    )
    if found is None:
        raise WebError(404, f"application {application_id} has no evidence {sha256}")
    # Always a download, never rendered here: no sniffing, no scripts, no framing, no caching.
    return FileResponse(
        found.path,
        media_type=found.media_type,
        headers={
            "Content-Disposition": attachment(found.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/applications/{application_id}/check")
def check(application_id: str, request: Request) -> dict[str, Any]:
    """Run the rules engine on the submitted snapshot: checked, then under review (eligible) or rejected."""
    st = state_of(request)
    view = calls.check_application(
        st.store,
        application_id=application_id,
        programmes=st.registry.programmes(),
        actor=actor(principal_of(request)),
    )
    return dict(answer(view))


@router.post("/applications/{application_id}/score")
def score(application_id: str, body: ScoreIn, request: Request) -> dict[str, Any]:
    """Set the score a ranked call sorts by."""
    number = parse_decimal(body.score, what="score")
    view = calls.score_application(
        state_of(request).store,
        application_id=application_id,
        score=number,
        actor=actor(principal_of(request)),
    )
    return dict(answer(view))


@router.post("/applications/{application_id}/transition")
def transition(application_id: str, body: TransitionIn, request: Request) -> dict[str, Any]:
    """Move to another state, for moves that move no money (others have their own endpoints)."""
    view = calls.move_application(
        state_of(request).store,
        application_id=application_id,
        to=body.to,
        reason=body.reason,
        actor=actor(principal_of(request)),
    )
    return dict(answer(view))


@router.post("/applications/{application_id}/withdraw")
def withdraw(
    application_id: str, body: ReasonIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """Withdraw; money reserved for it goes back to the pool and on to the waitlist."""
    k = require_key(key)
    me = principal_of(request)
    owned(request, me, application_id)  # refuse another firm's before anything is recorded under the key
    done = calls.withdraw_application(
        state_of(request).store,
        application_id=application_id,
        reason=body.reason,
        key=api_key(k),
        actor=actor(me),
    )
    return dict(answer(done))
