"""A firm's pages: its profile, the programmes it matches (with explanations and gaps), applying, an
application's progress, evidence upload and withdrawal. Staff see the same pages for any firm."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.app import certificates
from huiqi.accounts.errors import FirmProfileNotFound
from huiqi.applications import evidence as evidence_store
from huiqi.applications import service as apps
from huiqi.applications.models import Application, State
from huiqi.firms.errors import ProfileError
from huiqi.firms.io import parse_text
from huiqi.ledger.models import Award
from huiqi.web.api.analysis import inbox_of, notification_dict
from huiqi.web.api.applications import (
    add_evidence,
    owned,
    read_upload,
    submit_application,
    withdraw_application,
)
from huiqi.web.api.common import actor
from huiqi.web.api.views import application_dict, award_dict
from huiqi.web.calculator import calculate, today_in_shanghai
from huiqi.web.i18n import _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)

#: The main road of an application, for the progress indicator; other states are shown as where it left it.
PROGRESS = [
    State.SUBMITTED,
    State.CHECKED,
    State.UNDER_REVIEW,
    State.APPROVED,
    State.AWARDED,
    State.PAYING,
    State.COMPLETED,
]


def state_label(state: str) -> str:
    labels = {
        "draft": _("Draft"),
        "submitted": _("Submitted"),
        "checked": _("Checked"),
        "under_review": _("Under review"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "waitlisted": _("Waitlisted"),
        "awarded": _("Awarded"),
        "paying": _("Paying"),
        "completed": _("Completed"),
        "withdrawn": _("Withdrawn"),
        "appealed": _("Appealed"),
        "clawed_back": _("Clawed back"),
    }
    return labels.get(state, state)


def progress(history: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    reached = {h["to"] for h in history}
    steps = []
    for s in PROGRESS:
        steps.append({"label": state_label(s.value), "done": s.value in reached, "current": s.value == state})
    return steps


@router.get("/firms/{uscc}")
def firm_page(uscc: str, request: Request, on: str = "") -> Response:
    me = principal_of(request)
    me.check_firm(uscc)
    st = state_of(request)
    try:
        when = dt.date.fromisoformat(on) if on else today_in_shanghai()
    except ValueError:
        when = today_in_shanghai()

    def work(s: Session) -> dict[str, Any]:
        try:
            firm = accounts.get_firm_profile(session=s, uscc=uscc)
        except FirmProfileNotFound:
            firm = None
        rows = s.scalars(
            select(Application).where(Application.firm_uscc == uscc).order_by(Application.created_at.desc())
        )
        awards = s.scalars(select(Award).where(Award.firm_uscc == uscc).order_by(Award.granted_at.desc()))
        _total, notes = inbox_of(s, uscc, 20, 0)
        return {
            "firm": firm,
            "applications": [application_dict(s, a) for a in rows],
            "awards": [award_dict(s, a) for a in awards],
            "inbox": [notification_dict(n, language()) for n in notes],
        }

    data = st.read(work)
    data["certificates"] = certificates.firm_certificates(st.store, uscc=uscc)
    firm = data["firm"]
    matches = calculate(st.registry.programmes(), firm, when, None, language()) if firm is not None else None
    return render(
        request,
        "firm.html",
        {
            **data,
            "uscc": uscc,
            "matches": matches,
            "on": when.isoformat(),
            "profile_text": json.dumps(firm.model_dump(mode="json"), ensure_ascii=False, indent=2)
            if firm
            else "",
            "state_label": state_label,
            "problems": [],
        },
    )


@router.post("/firms/{uscc}/profile")
def save_profile(uscc: str, request: Request, profile: Annotated[str, Form()]) -> Response:
    me = principal_of(request)
    me.check_firm(uscc)
    try:
        data = parse_text(profile, source="profile")
        if not isinstance(data, dict) or data.get("uscc") != uscc:
            raise ProfileError("profile", [])
        state_of(request).write(lambda s: accounts.save_firm_profile(session=s, data=data, actor=actor(me)))
    except ProfileError as exc:
        problems = [str(p) for p in exc.problems] or [
            _("The profile must be for this firm (uscc %(uscc)s).") % {"uscc": uscc}
        ]
        return render(
            request,
            "error.html",
            {"status": 422, "title": _("The profile was not saved"), "detail": "; ".join(problems)},
            status=422,
        )
    return RedirectResponse(f"/firms/{uscc}", status_code=303)


@router.get("/firms/{uscc}/apply")
def apply_form(uscc: str, request: Request, call: str = "") -> Response:
    me = principal_of(request)
    me.check_firm(uscc)

    def work(s: Session) -> dict[str, Any]:
        firm = accounts.get_firm_profile(session=s, uscc=uscc)
        now = dt.datetime.now(dt.UTC)
        calls = [c for c in apps.list_calls(session=s) if c.opens_at <= now < c.closes_at]
        return {"firm": firm, "calls": calls}

    data = state_of(request).read(work)
    contracts = [c for c in data["firm"].contracts if not c.claimed]
    return render(request, "apply.html", {**data, "uscc": uscc, "contracts": contracts, "selected": call})


@router.post("/firms/{uscc}/applications")
async def apply_submit(uscc: str, request: Request) -> Response:
    me = principal_of(request)
    me.check_firm(uscc)
    form = await request.form()
    call_id = str(form.get("call_id", ""))
    claims = []
    for cid in form.getlist("contract"):
        amount = str(form.get(f"amount_{cid}", "")).strip()
        claims.append((str(cid), amount))
    result = submit_application(request, me, call_id, claims, uscc, None)
    return RedirectResponse(f"/applications/{result['id']}", status_code=303)


@router.get("/applications/{application_id}")
def application_page(application_id: str, request: Request) -> Response:
    me = principal_of(request)

    def work(s: Session) -> dict[str, Any]:
        app = owned(s, me, application_id)
        data = application_dict(s, app, full=True)
        award = s.scalar(select(Award).where(Award.application_id == app.id))
        return {
            "app": data,
            "award": award_dict(s, award, full=True) if award else None,
            "call": apps.get_call(session=s, call_id=app.call_id),
        }

    data = state_of(request).read(work)
    verdict = data["app"]["verdict"]
    explanation = (verdict or {}).get("explanation", {}).get(language()) if verdict else None
    return render(
        request,
        "application.html",
        {
            **data,
            "steps": progress(data["app"]["history"], data["app"]["state"]),
            "state_label": state_label,
            "explanation": explanation,
            "key": uuid.uuid4().hex,
            "max_mb": evidence_store.MAX_BYTES // (1024 * 1024),
            "evidence_accept": evidence_store.ACCEPT_ATTRIBUTE,
            "today": today_in_shanghai().isoformat(),
        },
    )


@router.post("/applications/{application_id}/evidence")
async def evidence_submit(
    application_id: str,
    request: Request,
    file: Annotated[UploadFile, File()],
    description: Annotated[str, Form()] = "",
) -> Response:
    me = principal_of(request)
    content = await read_upload(file)
    add_evidence(request, me, application_id, file.filename or "", content, description)
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


@router.post("/applications/{application_id}/withdraw")
def withdraw_submit(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
) -> Response:
    me = principal_of(request)
    state_of(request).read(lambda s: owned(s, me, application_id))
    withdraw_application(request, me, application_id, reason, idempotency_key)
    return RedirectResponse(f"/applications/{application_id}", status_code=303)
