"""Calls, applications, evidence, the eligibility check, scores and moves through the state machine."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.applications import evidence as evidence_store
from huiqi.applications import service as apps
from huiqi.applications.errors import EvidenceTooLarge
from huiqi.applications.models import Application, State
from huiqi.firms import firm_from_data
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
    idempotent,
    page,
    require_key,
)
from huiqi.web.api.views import application_dict, call_dict
from huiqi.web.security import Forbidden, Principal, principal_of, state_of
from huiqi.workflows import service as flows
from huiqi.workflows.checking import engine_verdict

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
    return state_of(request).read(lambda s: [call_dict(c) for c in apps.list_calls(session=s)])


@router.get("/calls/{call_id}")
def get_call(call_id: str, request: Request) -> dict[str, Any]:
    return state_of(request).read(lambda s: call_dict(apps.get_call(session=s, call_id=call_id)))


@router.post("/calls", status_code=201)
def open_call(body: NewCall, request: Request) -> dict[str, Any]:
    me = principal_of(request)
    return state_of(request).write(
        lambda s: call_dict(
            apps.open_call(
                session=s,
                call_id=body.id,
                programme_id=body.programme_id,
                programme_version=body.programme_version,
                pool_id=body.pool_id,
                opens_at=body.opens_at,
                closes_at=body.closes_at,
                allocation_mode=body.allocation_mode,
                actor=actor(me),
            )
        )
    )


# --- applications -------------------------------------------------------------------------------------------


def owned(s: Session, me: Principal, application_id: str) -> Application:
    """The application, if the caller may see it (a firm member only their own firm's)."""
    app = apps.get_application(session=s, application_id=application_id)
    me.check_firm(app.firm_uscc)
    return app


@router.get("/applications", response_model=Page[dict[str, Any]])
def list_applications(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    state: str | None = None,
    call_id: str | None = None,
    firm_uscc: Annotated[str | None, Query(description="a firm member sees only their own")] = None,
) -> Page[dict[str, Any]]:
    me = principal_of(request)
    only = me.firm_filter()
    if only is not None:
        if firm_uscc not in (None, only):
            raise Forbidden("you can list only your own firm's applications")
        firm_uscc = only

    def work(s: Session) -> Page[dict[str, Any]]:
        q = select(Application)
        if state:
            q = q.where(Application.state == state)
        if call_id:
            q = q.where(Application.call_id == call_id)
        if firm_uscc:
            q = q.where(Application.firm_uscc == firm_uscc)
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = s.scalars(
            q.order_by(Application.created_at.desc(), Application.id).offset(offset).limit(limit)
        )
        return page([application_dict(s, a) for a in rows], total, limit, offset)

    return state_of(request).read(work)


def submit_application(
    request: Request,
    me: Principal,
    call_id: str,
    claims: list[tuple[str, str]],
    firm_uscc: str | None,
    firm_data: dict[str, Any] | None,
) -> dict[str, Any]:
    if firm_data is None and firm_uscc is None:
        firm_uscc = me.firm_uscc
    if firm_data is not None:
        firm = firm_from_data(firm_data, source="firm")
    elif firm_uscc is not None:
        me.check_firm(firm_uscc)
        firm = state_of(request).read(lambda s: accounts.get_firm_profile(session=s, uscc=firm_uscc))
    else:
        raise HTTPException(
            422, detail="name the firm (firm_uscc, whose stored profile is used) or send its profile"
        )
    me.check_firm(firm.uscc)
    items = [apps.Claim(c, parse_decimal(a, what=f"claims: amount for {c}")) for c, a in claims]

    def work(s: Session) -> dict[str, Any]:
        a = apps.submit(session=s, call_id=call_id, firm=firm, claims=items, actor=actor(me))
        return application_dict(s, a, full=True)

    result: dict[str, Any] = state_of(request).write(work)
    return result


@router.post("/applications", status_code=201)
def create_application(body: NewApplication, request: Request) -> dict[str, Any]:
    """Submit an application (draft -> submitted) with its claims; the firm's profile is snapshotted."""
    me = principal_of(request)
    return submit_application(
        request, me, body.call_id, [(c.contract_id, c.amount) for c in body.claims], body.firm_uscc, body.firm
    )


@router.get("/applications/{application_id}")
def get_application(application_id: str, request: Request) -> dict[str, Any]:
    me = principal_of(request)
    return state_of(request).read(lambda s: application_dict(s, owned(s, me, application_id), full=True))


def add_evidence(
    request: Request, me: Principal, application_id: str, filename: str, content: bytes, description: str
) -> dict[str, Any]:
    st = state_of(request)

    def work(s: Session) -> dict[str, Any]:
        owned(s, me, application_id)
        stored = apps.attach_evidence(
            session=s,
            application_id=application_id,
            filename=filename,
            content=content,
            evidence_dir=st.settings.evidence_dir,
            actor=actor(me),
            description=description,
        )
        return {
            "sha256": stored.sha256,
            "media_type": stored.media_type,
            "size": stored.size,
            "filename": filename,
        }

    result: dict[str, Any] = st.write(work)
    return result


@router.post("/applications/{application_id}/evidence", status_code=201)
async def upload_evidence(
    application_id: str,
    request: Request,
    file: Annotated[UploadFile, File(description="PDF, image or Office document, at most 20 MB")],
    description: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    me = principal_of(request)
    content = await read_upload(file)
    return add_evidence(request, me, application_id, file.filename or "", content, description)


async def read_upload(file: UploadFile) -> bytes:
    """The upload's bytes; a bad name or an oversize upload is refused before anything is read into memory
    (the parser has already spooled the upload to a temporary file and knows its size)."""
    name = file.filename or ""
    evidence_store.check_name(name)
    if file.size is not None and file.size > evidence_store.MAX_BYTES:
        raise EvidenceTooLarge(name, file.size, evidence_store.MAX_BYTES)
    return await file.read(evidence_store.MAX_BYTES + 1)


def attachment(filename: str) -> str:
    """Content-Disposition for a download: an ASCII fallback and the exact name (RFC 6266 / RFC 8187)."""
    stem, ext = os.path.splitext(filename)
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "evidence"
    fallback += re.sub(r"[^A-Za-z0-9.]", "", ext)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/applications/{application_id}/evidence/{sha256}")
def download_evidence(application_id: str, sha256: str, request: Request) -> FileResponse:
    me = principal_of(request)
    st = state_of(request)

    def work(s: Session) -> tuple[str, str]:
        owned(s, me, application_id)
        for link, stored in apps.evidence_of(session=s, application_id=application_id):
            if stored.sha256 == sha256:
                return link.filename, stored.media_type
        raise WebError(404, f"application {application_id} has no evidence {sha256}")

    filename, media = st.read(work)
    path = evidence_store.path_of(sha256, evidence_dir=st.settings.evidence_dir)
    # Always a download, never rendered here: no sniffing, no scripts, no framing, no caching.
    return FileResponse(
        path,
        media_type=media,
        headers={
            "Content-Disposition": attachment(filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def check_application(request: Request, me: Principal, application_id: str) -> dict[str, Any]:
    st = state_of(request)
    programmes = st.registry.programmes()

    def work(s: Session) -> dict[str, Any]:
        app = apps.get_application(session=s, application_id=application_id)
        verdict = engine_verdict(programmes, app, apps.get_call(session=s, call_id=app.call_id))
        app = flows.check(session=s, application_id=application_id, verdict=verdict, actor=actor(me))
        return application_dict(s, app, full=True)

    result: dict[str, Any] = st.write(work)
    return result


@router.post("/applications/{application_id}/check")
def check(application_id: str, request: Request) -> dict[str, Any]:
    """Run the rules engine on the submitted snapshot: checked, then under review (eligible) or rejected."""
    return check_application(request, principal_of(request), application_id)


@router.post("/applications/{application_id}/score")
def score(application_id: str, body: ScoreIn, request: Request) -> dict[str, Any]:
    """Set the score a ranked call sorts by."""
    me = principal_of(request)
    number = parse_decimal(body.score, what="score")
    return state_of(request).write(
        lambda s: application_dict(
            s, apps.set_score(session=s, application_id=application_id, score=number, actor=actor(me))
        )
    )


_MONEY_STATES = {
    State.APPROVED,
    State.AWARDED,
    State.PAYING,
    State.COMPLETED,
    State.CLAWED_BACK,
    State.WITHDRAWN,
}


@router.post("/applications/{application_id}/transition")
def transition(application_id: str, body: TransitionIn, request: Request) -> dict[str, Any]:
    """Move to another state, for moves that move no money (others have their own endpoints)."""
    me = principal_of(request)
    try:
        target = State(body.to)
    except ValueError:
        raise HTTPException(
            422, detail=f"to: {body.to!r} is not a state; states: {', '.join(s.value for s in State)}"
        ) from None
    if target in (State.SUBMITTED, State.CHECKED):
        raise HTTPException(422, detail=f"to {target.value}: use POST /applications or .../check")
    if target in _MONEY_STATES:
        raise HTTPException(
            422,
            detail=f"to {target.value} moves money; use .../decide, .../grant, .../tranches/N/pay "
            "or .../withdraw",
        )
    return state_of(request).write(
        lambda s: application_dict(
            s,
            apps.transition(
                session=s, application_id=application_id, to=target, actor=actor(me), reason=body.reason
            ),
            full=True,
        )
    )


def withdraw_application(
    request: Request, me: Principal, application_id: str, reason: str, key: str
) -> dict[str, Any]:
    def work(s: Session, _key: str) -> dict[str, Any]:
        owned(s, me, application_id)
        promoted = flows.withdraw(session=s, application_id=application_id, actor=actor(me), reason=reason)
        return {
            "application_id": application_id,
            "state": State.WITHDRAWN.value,
            "promoted": [{"application_id": d.application_id, "amount": str(d.amount)} for d in promoted],
        }

    return idempotent(
        state_of(request), key, "api.withdraw", {"application": application_id, "reason": reason}, work
    )


@router.post("/applications/{application_id}/withdraw")
def withdraw(
    application_id: str, body: ReasonIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """Withdraw; money reserved for it goes back to the pool and on to the waitlist."""
    key = require_key(key)
    me = principal_of(request)
    # refuse another firm's application before anything is recorded under the key
    state_of(request).read(lambda s: owned(s, me, application_id))
    return withdraw_application(request, me, application_id, body.reason, key)
