"""Designation pages: the reviewer's assignments, the conflict declaration that must come before any
confidential material, the scoring form; the officer's selection page for a call (call file, check,
assign, the reviews it waits for with their reassignment, normalise, select and award, reasons, reserve,
promotion); the public designated list, certificate verification and the revocation list.

Every handler calls the same use case as the API (``huiqi.app.review``, ``.selection``, ``.certificates``).
An officer's action that is refused shows the selection page again with the reason, the input kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from huiqi.app import certificates, review, selection
from huiqi.app.errors import USER_ERRORS, ReviewError
from huiqi.app.holding import HeldView
from huiqi.web.api.common import WebError, actor
from huiqi.web.api.designation import checked_pdf, pdf_response, zip_of
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.errors import page_message, status_for
from huiqi.web.i18n import _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)

#: What an officer's step may be refused with: shown on the call's page with the reason.
REFUSALS: tuple[type[Exception], ...] = (*USER_ERRORS, WebError)


def status_label(status: str) -> str:
    return {
        review.AssignmentStatus.ASSIGNED.value: _("Declaration needed"),
        review.AssignmentStatus.CLEARED.value: _("No conflict declared: to score"),
        review.AssignmentStatus.CONFLICTED.value: _("Conflict declared: reassigned"),
        review.AssignmentStatus.SCORED.value: _("Scored"),
        review.AssignmentStatus.REASSIGNED.value: _("Reassigned by an officer"),
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
    mine = me.username if me.role.value == "reviewer" else None
    rows = review.list_assignments(state_of(request).store, reviewer_id=mine)
    return render(request, "review_list.html", {"assignments": rows, "status_label": status_label})


def review_page_of(request: Request, application_id: str, **extra: Any) -> Response:
    """The reviewer's page: before a clear declaration only the call and the firm's name, never the
    material (the use case refuses it; the page does not even ask)."""
    me = principal_of(request)
    store = state_of(request).store
    sheet = review.review_sheet(store, application_id=application_id, reviewer_id=me.username)
    lang = language()
    material = None
    if sheet.assignment.status in (
        review.AssignmentStatus.CLEARED.value,
        review.AssignmentStatus.SCORED.value,
    ):
        material = review.confidential_view(store, application_id=application_id, reviewer_id=me.username)
    ctx = {
        "assignment": sheet.assignment,
        "call_id": sheet.call_id,
        "firm_name": sheet.firm_name[lang],
        "firm_uscc": sheet.firm_uscc,
        "rubric": [{**asdict(c), "label": c.label[lang]} for c in sheet.rubric],
        "material": material,
        "status_label": status_label,
        "values": extra.pop("values", {}),
        **extra,
    }
    return render(request, "review.html", ctx, status=422 if extra.get("error") else 200)


@router.get("/review/{application_id}")
def review_page(application_id: str, request: Request) -> Response:
    return review_page_of(request, application_id)


@router.post("/review/{application_id}/declare")
def review_declare(
    application_id: str,
    request: Request,
    decision: Annotated[str, Form()],
    conflict: Annotated[str, Form()] = "",
) -> Response:
    me = principal_of(request)
    if decision not in ("none", "conflict"):
        return review_page_of(
            request, application_id, error=_("Choose whether you have a conflict of interest.")
        )
    if decision == "conflict" and not conflict.strip():
        return review_page_of(request, application_id, error=_("Describe the conflict in words."))
    done = review.declare(
        state_of(request).store,
        application_id=application_id,
        reviewer_id=me.username,
        conflict=None if decision == "none" else conflict.strip(),
        on=today_in_shanghai(),
        actor=actor(me),
    )
    if decision == "conflict":  # the application went to another reviewer, or waits for the officer
        outcome = "conflict" if done.reassigned_to else "conflict-waiting"
        return RedirectResponse(f"/review?declared={outcome}", status_code=303)
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
        review.submit_scores(
            state_of(request).store,
            application_id=application_id,
            reviewer_id=me.username,
            scores=scores,
            comments=comments,
            actor=actor(me),
        )
    except ReviewError as exc:
        if status_for(exc) != 422:
            raise
        return review_page_of(request, application_id, error=page_message(exc), values=scores)
    return RedirectResponse("/review?scored=1", status_code=303)


# --- officer: selection ------------------------------------------------------------------------------------


@router.get("/officer/selection")
def selection_index(request: Request) -> Response:
    store = state_of(request).store
    ctx = {"calls": selection.designation_calls(store), "reviewers": review.list_reviewers(store)}
    return render(request, "selection_index.html", ctx)


def selection_page_of(
    request: Request, call_id: str, *, error: str = "", status: int = 200, **kept: Any
) -> Response:
    """The officer's page of a call: its file, where the review stands, the selection once made."""
    store = state_of(request).store
    progress = review.review_progress(store, call_id=call_id, on=today_in_shanghai())
    call_file = None
    if progress.has_call_file:
        call_file = selection.get_call_file(store, call_id=call_id)
    view = selection.selection_of(store, call_id=call_id) if progress.selected else None
    return render(
        request,
        "selection.html",
        {
            "call": progress,
            "call_file": call_file,
            "call_file_text": kept.get("text", call_file.text if call_file else ""),
            "view": view,
            "review_counts": progress.assignments,
            "waiting": progress.waiting,
            "call_id": call_id,
            "key": uuid.uuid4().hex,
            "outcome_label": outcome_label,
            "status_label": status_label,
            "error": error,
            "kept": kept,
        },
        status=status,
    )


@router.get("/officer/selection/{call_id}")
def selection_page(call_id: str, request: Request) -> Response:
    return selection_page_of(request, call_id)


def officer_step(request: Request, call_id: str, step: Callable[[], object], **kept: Any) -> Response:
    """Do one step of the call; back to the call's page, or the page again with the refusal and the input."""
    try:
        step()
    except REFUSALS as exc:
        return selection_page_of(request, call_id, error=page_message(exc), status=status_for(exc), **kept)
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
            error = _("%(name)s is not UTF-8 text: save the call file as UTF-8 YAML.") % {
                "name": file.filename
            }
            return selection_page_of(request, call_id, error=error, status=422, text=text)
    store = state_of(request).store
    return officer_step(
        request,
        call_id,
        lambda: selection.save_call_file(store, call_id=call_id, text=text, actor=actor(me)),
        text=text,
    )


def day_of(text: str) -> dt.date:
    """The date given in the form, or today in Shanghai."""
    try:
        return dt.date.fromisoformat(text) if text else today_in_shanghai()
    except ValueError:
        raise WebError(422, _("Enter the date as YYYY-MM-DD (got %(text)s).") % {"text": text}) from None


@router.post("/officer/selection/{call_id}/check")
def selection_check(call_id: str, request: Request, on: Annotated[str, Form()] = "") -> Response:
    """The date the criteria are judged on (default today)."""
    st, me = state_of(request), principal_of(request)
    return officer_step(
        request,
        call_id,
        lambda: selection.check_applications(
            st.store, call_id=call_id, programmes=st.registry.programmes(), on=day_of(on), actor=actor(me)
        ),
    )


@router.post("/officer/selection/{call_id}/assign")
def selection_assign(call_id: str, request: Request, on: Annotated[str, Form()] = "") -> Response:
    """The date conflicts are judged on (default today)."""
    store, me = state_of(request).store, principal_of(request)
    return officer_step(
        request,
        call_id,
        lambda: review.assign_reviewers(store, call_id=call_id, on=day_of(on), actor=actor(me)),
    )


@router.post("/officer/selection/{call_id}/reassign")
def selection_reassign(
    call_id: str,
    request: Request,
    application_id: Annotated[str, Form()],
    from_reviewer: Annotated[str, Form()],
    to_reviewer: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """The officer's override: who reviews instead, and why (kept in the audit chain)."""
    store, me = state_of(request).store, principal_of(request)
    kept = {"application_id": application_id, "reason": reason}
    if not to_reviewer or not reason.strip():
        error = _("Choose who reviews instead and give the reason.")
        return selection_page_of(request, call_id, error=error, status=422, **kept)
    return officer_step(
        request,
        call_id,
        lambda: review.reassign(
            store,
            application_id=application_id,
            from_reviewer=from_reviewer,
            to_reviewer=to_reviewer,
            reason=reason.strip(),
            on=today_in_shanghai(),
            actor=actor(me),
        ),
        **kept,
    )


@router.post("/officer/selection/{call_id}/normalise")
def selection_normalise(call_id: str, request: Request) -> Response:
    store, me = state_of(request).store, principal_of(request)
    return officer_step(
        request, call_id, lambda: review.normalise_scores(store, call_id=call_id, actor=actor(me))
    )


def _held_or_back(request: Request, call_id: str, step: Callable[[], object]) -> Response:
    """Do a selection's money move; held for a second officer, on to the 待复核 queue, else as any step."""
    done: list[object] = []
    back = officer_step(request, call_id, lambda: done.append(step()))
    if done and isinstance(done[0], HeldView):
        return RedirectResponse(f"/officer/approvals?held={quote(done[0].id)}", status_code=303)
    return back


@router.post("/officer/selection/{call_id}/run")
def selection_run(call_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """Select and award (after the summary); above the second-approval amount it waits for a second
    officer."""
    st, me = state_of(request), principal_of(request)
    return _held_or_back(
        request,
        call_id,
        lambda: selection.select_and_award(
            st.store,
            call_id=call_id,
            programmes=st.registry.programmes(),
            idempotency_key=f"api:{idempotency_key}",
            actor=actor(me),
            above=st.settings.second_approval_above,
        ),
    )


@router.post("/officer/selection/{call_id}/confirm")
def selection_confirm(call_id: str, request: Request) -> Response:
    """Before any money moves: the firms the selection would designate and their grants, to confirm."""
    st = state_of(request)
    try:
        preview = selection.preview_selection(
            st.store,
            call_id=call_id,
            programmes=st.registry.programmes(),
            above=st.settings.second_approval_above,
        )
    except REFUSALS as exc:
        return selection_page_of(request, call_id, error=page_message(exc), status=status_for(exc))
    total = sum((Decimal(d.amount) for d in preview.designated), Decimal(0))
    ctx = {"kind": "select", "call_id": call_id, "preview": preview, "total": total, "key": uuid.uuid4().hex}
    return render(request, "designation_confirm.html", ctx)


@router.get("/officer/selection/{call_id}/certificates")
def selection_certificates(call_id: str, request: Request) -> Response:
    """Every certificate of the call as one zip."""
    return zip_of(certificates.call_certificates(state_of(request).store, call_id=call_id), call_id)


@router.post("/officer/designations/{application_id}/confirm-end")
def designation_confirm_end(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()] = "",
    call_id: Annotated[str, Form()] = "",
    lost_condition: Annotated[str, Form()] = "",
) -> Response:
    """Before any money moves: what ending the designation returns and whom it promotes, to confirm."""
    st = state_of(request)
    try:
        if not reason.strip():
            raise WebError(422, _("Give the reason the designation ends."))
        preview = selection.preview_end(
            st.store,
            application_id=application_id,
            reason=reason.strip(),
            lost_condition=bool(lost_condition),
            on=today_in_shanghai(),
            programmes=st.registry.programmes(),
            above=st.settings.second_approval_above,
        )
    except REFUSALS as exc:
        if not call_id:
            raise
        return selection_page_of(request, call_id, error=page_message(exc), status=status_for(exc))
    ctx = {
        "kind": "end",
        "application_id": application_id,
        "call_id": call_id,
        "preview": preview,
        "reason": reason.strip(),
        "lost_condition": bool(lost_condition),
        "key": uuid.uuid4().hex,
    }
    return render(request, "designation_confirm.html", ctx)


@router.post("/officer/designations/{application_id}/end")
def designation_end(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
    call_id: Annotated[str, Form()] = "",
    lost_condition: Annotated[str, Form()] = "",
) -> Response:
    st, me = state_of(request), principal_of(request)

    def end() -> object:
        return selection.end_designation(
            st.store,
            application_id=application_id,
            reason=reason,
            lost_condition=bool(lost_condition),
            on=today_in_shanghai(),
            programmes=st.registry.programmes(),
            idempotency_key=f"api:{idempotency_key}",
            actor=actor(me),
            above=st.settings.second_approval_above,
        )

    if not call_id:
        done = end()
        if isinstance(done, HeldView):
            return RedirectResponse(f"/officer/approvals?held={quote(done.id)}", status_code=303)
        return RedirectResponse("/officer/selection", status_code=303)
    return _held_or_back(request, call_id, end)


@router.post("/officer/reviewers")
def add_reviewer_page(
    request: Request,
    reviewer_id: Annotated[str, Form()],
    name: Annotated[str, Form()],
    fields: Annotated[str, Form()],
    affiliations: Annotated[str, Form()] = "",
) -> Response:
    review.add_reviewer(
        state_of(request).store,
        reviewer_id=reviewer_id.strip(),
        name=name.strip(),
        fields=[f.strip() for f in fields.split(",") if f.strip()],
        affiliations=[a.strip() for a in affiliations.split(",") if a.strip()],
        actor=actor(principal_of(request)),
    )
    return RedirectResponse("/officer/selection", status_code=303)


# --- public: the designated list, certificate verification -----------------------------------------------


@router.get("/published/designated/{call_id}")
def designated_page(call_id: str, request: Request) -> Response:
    view = selection.published_list(state_of(request).store, call_id=call_id, lang=language())
    return render(request, "designated.html", asdict(view))


def verify_page_of(request: Request, **ctx: Any) -> Response:
    """The verification page with the revocation list under it."""
    revoked = certificates.revocation_list(state_of(request).store)
    return render(request, "verify.html", {"result": None, "record": None, "revocations": revoked, **ctx})


@router.get("/certificates/verify")
def verify_page(request: Request) -> Response:
    return verify_page_of(request)


@router.post("/certificates/verify")
async def verify_submit(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    data = checked_pdf(await file.read(certificates.MAX_PDF + 1))
    result = certificates.verify_certificate(state_of(request).store, data=data)
    return verify_page_of(request, result=result, filename=file.filename)


@router.get("/certificates/verify/{serial}")
def verify_serial_page(serial: str, request: Request) -> Response:
    """Where a certificate's QR code points: what the register holds for the serial (to whom, for what,
    revoked or not); the file itself is checked by uploading it on the same page."""
    return verify_page_of(
        request, record=certificates.certificate_record(state_of(request).store, serial=serial)
    )


@router.post("/officer/certificates/{serial}/revoke")
def revoke_page(serial: str, request: Request, reason: Annotated[str, Form()] = "") -> Response:
    """An officer revokes a certificate from its verification page, with the reason."""
    if not reason.strip():
        return verify_page_of(
            request,
            record=certificates.certificate_record(state_of(request).store, serial=serial),
            error=_("Give the reason for the revocation."),
        )
    certificates.revoke_certificate(
        state_of(request).store, serial=serial, reason=reason.strip(), actor=actor(principal_of(request))
    )
    return RedirectResponse(f"/certificates/verify/{serial}", status_code=303)


@router.get("/firms/{uscc}/certificates/{serial}")
def certificate_download(uscc: str, serial: str, request: Request) -> Response:
    """A firm downloads its own certificate from its page (staff any)."""
    principal_of(request).check_firm(uscc)
    return pdf_response(certificates.certificate_file(state_of(request).store, serial=serial, firm_uscc=uscc))
