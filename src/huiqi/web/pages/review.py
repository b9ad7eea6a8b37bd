"""Designation pages (issue 5): the reviewer's assignments, the conflict declaration that must come before
any confidential material, the scoring form; the officer's selection page for a call (call file, check,
assign, normalise, select and award, reasons, reserve, promotion); the public designated list and the
public certificate verification."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from huiqi.accounts.models import CallFileText
from huiqi.applications import service as apps
from huiqi.certificates import service as certs
from huiqi.certificates.models import Revocation
from huiqi.review import service as review
from huiqi.review.errors import InvalidScore
from huiqi.review.models import AssignmentStatus
from huiqi.selection.errors import CallFileError, NotSelected
from huiqi.selection.service import COLUMNS
from huiqi.web.api.common import WebError, actor
from huiqi.web.api.designation import (
    EndIn,
    assign_call,
    assignment_dict,
    assignments_for,
    call_file_of,
    call_file_summary,
    check_call,
    declare_on,
    end_designation,
    normalise_call,
    published_rows,
    reviewer_dict,
    run_selection,
    save_call_file,
    score_on,
    selection_view,
    verify_bytes,
)
from huiqi.web.i18n import _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


def status_label(status: str) -> str:
    return {
        AssignmentStatus.ASSIGNED.value: _("Declaration needed"),
        AssignmentStatus.CLEARED.value: _("No conflict declared: to score"),
        AssignmentStatus.CONFLICTED.value: _("Conflict declared: reassigned"),
        AssignmentStatus.SCORED.value: _("Scored"),
    }.get(status, status)


def outcome_label(outcome: str) -> str:
    return {
        "designated": _("Designated"),
        "reserve": _("Reserve"),
        "not_selected": _("Not selected"),
        "ineligible": _("Ineligible"),
    }.get(outcome, outcome)


# --- reviewer ----------------------------------------------------------------------------------------------


@router.get("/review")
def review_list(request: Request) -> Response:
    me = principal_of(request)
    rows = state_of(request).read(lambda s: [assignment_dict(a) for a in assignments_for(s, me, None)])
    return render(request, "review_list.html", {"assignments": rows, "status_label": status_label})


def _review_context(s: Session, username: str, application_id: str) -> dict[str, Any]:
    """What the page may show: before a clear declaration only the call and the firm's name, never the
    material (the service refuses it; the page does not even ask)."""
    mine = [
        a
        for a in review.assignments_of(session=s, application_id=application_id)
        if a.reviewer_id == username
    ]
    if not mine:
        from huiqi.review.errors import AssignmentNotFound

        raise AssignmentNotFound(application_id, username)
    a = mine[0]
    app = apps.get_application(session=s, application_id=application_id)
    cf = call_file_of(s, app.call_id)
    ctx: dict[str, Any] = {
        "assignment": assignment_dict(a),
        "call_id": app.call_id,
        "firm_name": (app.firm_snapshot or {}).get("name_zh" if language() == "zh" else "name_en")
        or (app.firm_snapshot or {}).get("name_zh"),
        "firm_uscc": app.firm_uscc,
        "rubric": [
            {
                "id": c.id,
                "label": c.label.zh if language() == "zh" else c.label.en,
                "weight": str(c.weight),
                "min": str(c.scale.min),
                "max": str(c.scale.max),
                "step": str(c.scale.step),
            }
            for c in cf.rubric
        ],
        "material": None,
    }
    if a.status in (AssignmentStatus.CLEARED.value, AssignmentStatus.SCORED.value):
        ctx["material"] = review.confidential_view(
            session=s, application_id=application_id, reviewer_id=username
        )
    return ctx


def _review_page(request: Request, application_id: str, **extra: Any) -> Response:
    me = principal_of(request)
    ctx = state_of(request).read(lambda s: _review_context(s, me.username, application_id))
    status = 422 if extra.get("error") else 200
    return render(
        request,
        "review.html",
        {**ctx, **extra, "status_label": status_label, "values": extra.get("values", {})},
        status=status,
    )


@router.get("/review/{application_id}")
def review_page(application_id: str, request: Request) -> Response:
    return _review_page(request, application_id)


@router.post("/review/{application_id}/declare")
def review_declare(
    application_id: str,
    request: Request,
    decision: Annotated[str, Form()],
    conflict: Annotated[str, Form()] = "",
) -> Response:
    me = principal_of(request)
    if decision not in ("none", "conflict"):
        raise WebError(422, "decision: choose 'no conflict' or 'I have a conflict'")
    if decision == "conflict" and not conflict.strip():
        return _review_page(request, application_id, error=_("Describe the conflict in words."))
    declare_on(state_of(request), me, application_id, None if decision == "none" else conflict.strip(), None)
    if decision == "conflict":  # the application went to another reviewer: back to the list
        return RedirectResponse("/review?declared=conflict", status_code=303)
    return RedirectResponse(f"/review/{application_id}", status_code=303)


@router.post("/review/{application_id}/score")
async def review_score(application_id: str, request: Request) -> Response:
    me = principal_of(request)
    form = await request.form()
    scores: dict[str, object] = {}
    comments: dict[str, str] = {}
    for k, v in form.multi_items():
        if not isinstance(v, str):
            continue
        if k.startswith("score_"):
            if v.strip():
                scores[k[6:]] = v.strip()
        elif k.startswith("comment_") and v.strip():
            comments[k[8:]] = v.strip()
    try:
        score_on(state_of(request), me, application_id, scores, comments)
    except InvalidScore as exc:
        return _review_page(request, application_id, error=str(exc), values=scores)
    return RedirectResponse("/review?scored=1", status_code=303)


# --- officer: selection ------------------------------------------------------------------------------------


@router.get("/officer/selection")
def selection_index(request: Request) -> Response:
    def work(s: Session) -> dict[str, Any]:
        calls = apps.list_calls(session=s)
        files = {c.id for c in calls if s.get(CallFileText, c.id) is not None}
        return {
            "calls": calls,
            "with_file": files,
            "reviewers": [reviewer_dict(r) for r in review.list_reviewers(session=s)],
        }

    return render(request, "selection_index.html", state_of(request).read(work))


@router.get("/officer/selection/{call_id}")
def selection_page(call_id: str, request: Request, error: str = "") -> Response:
    def work(s: Session) -> dict[str, Any]:
        call = apps.get_call(session=s, call_id=call_id)
        row = s.get(CallFileText, call_id)
        summary = None
        if row is not None:
            summary = call_file_summary(call_id, call_file_of(s, call_id), row.sha256)
        try:
            view = selection_view(s, call_id)
        except NotSelected:
            view = None
        assignments = [assignment_dict(a) for a in assignments_for(s, principal_of(request), call_id)]
        counts: dict[str, int] = {}
        for a in assignments:
            counts[a["status"]] = counts.get(a["status"], 0) + 1
        return {
            "call": call,
            "call_file": summary,
            "call_file_text": row.text if row else "",
            "view": view,
            "review_counts": counts,
        }

    data = state_of(request).read(work)
    return render(
        request,
        "selection.html",
        {
            **data,
            "call_id": call_id,
            "key": uuid.uuid4().hex,
            "outcome_label": outcome_label,
            "status_label": status_label,
            "error": error,
        },
    )


def _back(call_id: str) -> Response:
    return RedirectResponse(f"/officer/selection/{call_id}", status_code=303)


@router.post("/officer/selection/{call_id}/call-file")
async def selection_call_file(
    call_id: str,
    request: Request,
    text: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    me = principal_of(request)
    if file is not None and file.filename:
        raw = await file.read(1024 * 1024 + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WebError(
                422, f"{file.filename}: not UTF-8 text; save the call file as UTF-8 YAML"
            ) from None
    try:
        save_call_file(state_of(request), me, call_id, text)
    except CallFileError as exc:
        return render(
            request,
            "error.html",
            {"status": 422, "title": _("The call file was refused"), "detail": str(exc)},
            status=422,
        )
    return _back(call_id)


def _on(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise WebError(422, f"on: expected a date YYYY-MM-DD, got {text!r}") from None


@router.post("/officer/selection/{call_id}/check")
def selection_check(call_id: str, request: Request, on: Annotated[str, Form()] = "") -> Response:
    """The date the criteria are judged on (default today), as ``huiqi selection check --on``."""
    check_call(state_of(request), principal_of(request), call_id, _on(on))
    return _back(call_id)


@router.post("/officer/selection/{call_id}/assign")
def selection_assign(call_id: str, request: Request, on: Annotated[str, Form()] = "") -> Response:
    """The date conflicts are judged on (default today), as ``huiqi review assign --on``."""
    assign_call(state_of(request), principal_of(request), call_id, _on(on))
    return _back(call_id)


@router.post("/officer/selection/{call_id}/normalise")
def selection_normalise(call_id: str, request: Request) -> Response:
    normalise_call(state_of(request), principal_of(request), call_id)
    return _back(call_id)


@router.post("/officer/selection/{call_id}/run")
def selection_run(call_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    run_selection(state_of(request), principal_of(request), call_id, idempotency_key)
    return _back(call_id)


@router.post("/officer/designations/{application_id}/end")
def designation_end(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
    lost_condition: Annotated[str, Form()] = "",
) -> Response:
    me = principal_of(request)
    call_id = state_of(request).read(
        lambda s: apps.get_application(session=s, application_id=application_id).call_id
    )
    end_designation(
        state_of(request),
        me,
        application_id,
        EndIn(reason=reason, lost_condition=bool(lost_condition)),
        idempotency_key,
    )
    return _back(call_id)


@router.post("/officer/reviewers")
def add_reviewer_page(
    request: Request,
    reviewer_id: Annotated[str, Form()],
    name: Annotated[str, Form()],
    fields: Annotated[str, Form()],
    affiliations: Annotated[str, Form()] = "",
) -> Response:
    me = principal_of(request)
    state_of(request).write(
        lambda s: review.add_reviewer(
            session=s,
            reviewer_id=reviewer_id.strip(),
            name=name.strip(),
            fields=[f.strip() for f in fields.split(",") if f.strip()],
            affiliations=[a.strip() for a in affiliations.split(",") if a.strip()],
            former_employers=[],
            actor=actor(me),
        )
    )
    return RedirectResponse("/officer/selection", status_code=303)


# --- public: the designated list, certificate verification -----------------------------------------------


@router.get("/published/designated/{call_id}")
def designated_page(call_id: str, request: Request) -> Response:
    lang = language()
    data = state_of(request).read(lambda s: published_rows(s, call_id, lang))
    columns = list(COLUMNS[lang])
    return render(request, "designated.html", {**data, "columns": columns})


@router.get("/certificates/verify")
def verify_page(request: Request) -> Response:
    return render(request, "verify.html", {"result": None, "record": None})


@router.post("/certificates/verify")
async def verify_submit(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    data = await file.read(10 * 1024 * 1024 + 1)
    result = verify_bytes(state_of(request), data)
    return render(request, "verify.html", {"result": result, "filename": file.filename, "record": None})


@router.get("/certificates/verify/{serial}")
def verify_serial_page(serial: str, request: Request) -> Response:
    """Where a certificate's QR code points: what the register holds for the serial (to whom, for what,
    revoked or not); the file itself is checked by uploading it on the same page."""

    def work(s: Session) -> dict[str, Any]:
        cert = certs.get(session=s, serial=serial)
        revoked = s.get(Revocation, serial)
        return {
            "serial": cert.serial,
            "content": cert.payload,
            "issued_at": cert.issued_at,
            "revoked": None if revoked is None else {"at": revoked.revoked_at, "reason": revoked.reason},
        }

    return render(request, "verify.html", {"result": None, "record": state_of(request).read(work)})
