"""A firm's pages: its profile, the programmes it matches (with explanations and gaps), applying, an
application's progress, evidence upload and withdrawal. Staff see the same pages for any firm."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from huiqi.app import accounts, calls, certificates, matching, money, programmes
from huiqi.app.errors import FirmProfileNotFound
from huiqi.firms import Firm
from huiqi.firms.errors import ProfileError
from huiqi.firms.io import parse_text
from huiqi.web.api.applications import claims_of, owned, read_upload
from huiqi.web.api.common import actor, api_key
from huiqi.web.calculator import check_firm, plain_check, problem_text, today_in_shanghai
from huiqi.web.i18n import _, language
from huiqi.web.pages.sandbox import names_in
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


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


def progress(history: tuple[calls.EventView, ...], state: str) -> list[dict[str, Any]]:
    """The steps of the main road, each done or not, and the current one."""
    reached = {h.to for h in history}
    return [{"label": state_label(s), "done": s in reached, "current": s == state} for s in calls.PROGRESS]


@router.get("/firms/{uscc}")
def firm_page(uscc: str, request: Request, on: str = "") -> Response:
    me = principal_of(request)
    me.check_firm(uscc)
    try:
        when = dt.date.fromisoformat(on) if on else today_in_shanghai()
    except ValueError:
        when = today_in_shanghai()
    return render(request, "firm.html", firm_context(request, uscc, when))


def firm_context(
    request: Request, uscc: str, when: dt.date, text: str | None = None, problems: list[str] | None = None
) -> dict[str, Any]:
    """The firm page's data; ``text`` and ``problems``: a profile that was not saved, kept as typed."""
    st = state_of(request)
    try:
        firm: Firm | None = accounts.firm_profile(st.store, uscc=uscc)
    except FirmProfileNotFound:
        firm = None
    applications = calls.list_applications(st.store, firm_uscc=uscc, limit=500)
    awards = money.list_awards(st.store, firm_uscc=uscc, limit=500)
    # the programmes this worker serves: without them the inbox would read the bundled files every time
    inbox = matching.firm_inbox(st.store, uscc=uscc, programmes=st.registry.programmes(), limit=20)
    matches = (  # the firm's own city's programmes in force, as the calculator answers by default
        check_firm(st.registry, firm=firm, on=when, lang=language()) if firm is not None else None
    )
    stored = json.dumps(firm.model_dump(mode="json"), ensure_ascii=False, indent=2) if firm else ""
    return {
        "firm": firm,
        "applications": applications.items,
        "awards": awards.items,
        "inbox": inbox.items,
        # what the latest match over the register found for the firm, whether or not a profile is stored
        "stored": matching.firm_results(st.store, uscc=uscc),
        "certificates": certificates.firm_certificates(st.store, uscc=uscc),
        "uscc": uscc,
        "matches": matches,
        "on": when.isoformat(),
        "profile_text": stored if text is None else text,
        "state_label": state_label,
        "problems": problems or [],
        "plain_check": plain_check,
        **names_of(request),
    }


def names_of(request: Request) -> dict[str, dict[str, str]]:
    """What a firm's pages name things by, in the page's language: programmes by id, each call by its
    programme's name, pools by their names (ids stay secondary)."""
    st = state_of(request)
    lang = language()
    programme_names = {p.id: p.name for p in programmes.list_programmes(st.registry, lang=lang)}
    _, pool_names = names_in(request, lang)
    return {
        "programme_names": programme_names,
        "call_names": {
            c.id: programme_names.get(c.programme_id, c.programme_id) for c in calls.list_calls(st.store)
        },
        "pool_names": pool_names | {p.id: pool_names.get(p.id, p.name) for p in money.list_pools(st.store)},
    }


@router.post("/firms/{uscc}/profile")
def save_profile(uscc: str, request: Request, profile: Annotated[str, Form()]) -> Response:
    """Save the profile; refused, the firm page again with the problems beside the profile, as typed."""
    me = principal_of(request)
    me.check_firm(uscc)
    try:
        data = parse_text(profile, source="profile")
        if not isinstance(data, dict) or data.get("uscc") != uscc:
            raise ProfileError("profile", [])
        accounts.save_firm_profile(state_of(request).store, data=data, actor=actor(me))
    except ProfileError as exc:
        problems = [problem_text(p) for p in exc.problems] or [
            _("The profile must be for this firm (uscc %(uscc)s).") % {"uscc": uscc}
        ]
        context = firm_context(request, uscc, today_in_shanghai(), profile, problems)
        return render(request, "firm.html", context, status=422)
    return RedirectResponse(f"/firms/{uscc}", status_code=303)


@router.get("/firms/{uscc}/apply")
def apply_form(uscc: str, request: Request, call: str = "") -> Response:
    me = principal_of(request)
    me.check_firm(uscc)

    st = state_of(request)
    firm = accounts.firm_profile(st.store, uscc=uscc)
    return render(
        request,
        "apply.html",
        {
            "firm": firm,
            "calls": calls.list_calls(st.store, open_at=dt.datetime.now(dt.UTC)),
            "uscc": uscc,
            "contracts": [c for c in firm.contracts if not c.claimed],
            "selected": call,
            **names_of(request),
        },
    )


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
    view = calls.submit_application(
        state_of(request).store, call_id=call_id, claims=claims_of(claims), firm_uscc=uscc, actor=actor(me)
    )
    return RedirectResponse(f"/applications/{view.id}", status_code=303)


@router.get("/applications/{application_id}")
def application_page(application_id: str, request: Request) -> Response:
    me = principal_of(request)

    st = state_of(request)
    app = calls.get_application(st.store, application_id=application_id)
    me.check_firm(app.firm_uscc)
    found = money.list_awards(st.store, application_id=app.id, limit=1).items
    award = money.get_award(st.store, award_id=found[0].id) if found else None
    call = calls.get_call(st.store, call_id=app.call_id)
    held = money.list_approvals(st.store, application_id=app.id).items  # awaiting a second officer
    explanation = (app.verdict or {}).get("explanation", {}).get(language()) if app.verdict else None
    return render(
        request,
        "application.html",
        {
            "app": app,
            "award": award,
            "held": held,
            "operations": money.OPERATIONS,
            "call": call,
            "steps": progress(app.history, app.state),
            "moves": calls.next_moves(app.state),
            "state_label": state_label,
            "explanation": explanation,
            "key": uuid.uuid4().hex,
            "max_mb": calls.EVIDENCE_MAX_BYTES // (1024 * 1024),
            "evidence_accept": calls.EVIDENCE_ACCEPT,
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
    owned(request, me, application_id)
    st = state_of(request)
    calls.add_evidence(
        st.store,
        application_id=application_id,
        filename=file.filename or "",
        content=content,
        evidence_dir=st.settings.evidence_dir,
        actor=actor(me),
        description=description,
    )
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


@router.post("/applications/{application_id}/withdraw")
def withdraw_submit(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
) -> Response:
    me = principal_of(request)
    owned(request, me, application_id)
    calls.withdraw_application(
        state_of(request).store,
        application_id=application_id,
        reason=reason,
        key=api_key(idempotency_key),
        actor=actor(me),
    )
    return RedirectResponse(f"/applications/{application_id}", status_code=303)
