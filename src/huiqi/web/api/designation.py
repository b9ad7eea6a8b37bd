"""Designation calls through the API: reviewers, the call file, review panels (assignment, the conflict
declaration before any confidential material, score sheets, normalisation, the officer's reassignment),
selection with every decision's reason, the start-up grants through the ledger, reserve promotion, the
published list and the signed certificates (download, verify, revoke, the revocation list).

Every route parses its input, calls one use case of ``huiqi.app.review``, ``huiqi.app.selection`` or
``huiqi.app.certificates`` and answers its read model as JSON. A reviewer account acts as the reviewer whose
id is its username.
"""

from __future__ import annotations

import io
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from huiqi.app import certificates, review, selection
from huiqi.app.holding import HeldView
from huiqi.app.jsonable import as_json
from huiqi.web.api.common import Day, Flag, IdempotencyKeyHeader, WebError, actor, require_key
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.security import principal_of, state_of

router = APIRouter(prefix="/api/v1", tags=["review, selection and certificates"])


# --- the call file ------------------------------------------------------------------------------------------


class CallFileIn(BaseModel):
    text: str = Field(description="the call file's YAML, as `huiqi selection validate` reads it")


@router.get("/calls/{call_id}/call-file")
def get_call_file(call_id: str, request: Request) -> Any:
    """The call file uploaded for the call, what it sets and its text."""
    return as_json(selection.get_call_file(state_of(request).store, call_id=call_id))


@router.put("/calls/{call_id}/call-file")
def put_call_file(call_id: str, body: CallFileIn, request: Request) -> Any:
    """Upload (or replace, until the call is selected) the call's rubric, quotas, budget and tranches."""
    me = principal_of(request)
    view = selection.save_call_file(state_of(request).store, call_id=call_id, text=body.text, actor=actor(me))
    return as_json(view)


@router.get("/selection/calls")
def designation_calls(request: Request) -> Any:
    """Every call with whether it has a call file and a selection."""
    return [as_json(c) for c in selection.designation_calls(state_of(request).store)]


# --- reviewers ----------------------------------------------------------------------------------------------


class FormerEmployer(BaseModel):
    uscc: str
    until: Day


class NewReviewer(BaseModel):
    id: str = Field(description="the reviewer's id; give the reviewer a user account with this username")
    name: str
    fields: list[str] = Field(min_length=1, description="sectors they review")
    affiliations: list[str] = Field(default_factory=list, description="USCCs they are tied to")
    former_employers: list[FormerEmployer] = Field(default_factory=list)


@router.get("/reviewers")
def list_reviewers(request: Request) -> Any:
    """Every reviewer, with whether they have an account to review with."""
    return [as_json(r) for r in review.list_reviewers(state_of(request).store)]


@router.post("/reviewers", status_code=201)
def add_reviewer(body: NewReviewer, request: Request) -> Any:
    """Add a reviewer with the sectors they review and what they are tied to."""
    view = review.add_reviewer(
        state_of(request).store,
        reviewer_id=body.id,
        name=body.name,
        fields=body.fields,
        affiliations=body.affiliations,
        former_employers=[{"uscc": f.uscc, "until": f.until.isoformat()} for f in body.former_employers],
        actor=actor(principal_of(request)),
    )
    return as_json(view)


# --- review panels ------------------------------------------------------------------------------------------


class OnIn(BaseModel):
    on: Day | None = Field(None, description="the date conflicts or criteria are judged on (default today)")


@router.post("/calls/{call_id}/review/assign")
def assign(call_id: str, request: Request, body: OnIn | None = None) -> Any:
    """Assign the call file's number of reviewers of the right field, without known conflicts, to each
    application under review (balanced load; idempotent: existing assignments are kept)."""
    view = review.assign_reviewers(
        state_of(request).store,
        call_id=call_id,
        on=(body.on if body else None) or today_in_shanghai(),
        actor=actor(principal_of(request)),
    )
    return as_json(view)


@router.post("/calls/{call_id}/review/normalise")
def normalise(call_id: str, request: Request) -> Any:
    """z-score every reviewer's totals; each application gets its normalised score (all sheets needed)."""
    view = review.normalise_scores(
        state_of(request).store, call_id=call_id, actor=actor(principal_of(request))
    )
    return as_json(view)


@router.get("/calls/{call_id}/review")
def review_progress(call_id: str, request: Request) -> Any:
    """Where the call stands: applications by state, assignments by status, and every review it waits
    for with who could take it over (``stalled``: only an officer's reassignment moves it on)."""
    return as_json(review.review_progress(state_of(request).store, call_id=call_id, on=today_in_shanghai()))


@router.get("/reviews")
def list_assignments(request: Request, call_id: str | None = Query(None)) -> Any:
    """Review assignments: a reviewer's own, or (officers, auditors) all of them."""
    me = principal_of(request)
    mine = me.username if me.role.value == "reviewer" else None
    return [
        as_json(a)
        for a in review.list_assignments(state_of(request).store, reviewer_id=mine, call_id=call_id)
    ]


@router.get("/reviews/{application_id}")
def review_sheet(application_id: str, request: Request) -> Any:
    """The reviewer's assignment on the application: the call, the firm's name, the rubric, the status."""
    me = principal_of(request)
    return as_json(
        review.review_sheet(state_of(request).store, application_id=application_id, reviewer_id=me.username)
    )


class DeclarationIn(BaseModel):
    conflict: str | None = Field(
        None, description="null: no conflict of interest (opens the material); text: the conflict, in words"
    )
    on: Day | None = None


@router.post("/reviews/{application_id}/declaration")
def declare(application_id: str, body: DeclarationIn, request: Request) -> Any:
    """Declare no conflict (the confidential material opens) or a conflict (the application passes to
    another reviewer of the field who has an account, or waits for an officer to reassign it)."""
    me = principal_of(request)
    view = review.declare(
        state_of(request).store,
        application_id=application_id,
        reviewer_id=me.username,
        conflict=body.conflict,
        on=body.on or today_in_shanghai(),
        actor=actor(me),
    )
    return as_json(view)


@router.get("/reviews/{application_id}/material")
def material(application_id: str, request: Request) -> Any:
    """The confidential material (profile, claims, evidence): refused until the reviewer declared no
    conflict."""
    me = principal_of(request)
    view = review.confidential_view(
        state_of(request).store, application_id=application_id, reviewer_id=me.username
    )
    return as_json(view)


class ScoresIn(BaseModel):
    scores: dict[str, str | int] = Field(
        description="criterion id -> score on its scale (decimal text or integer)"
    )
    comments: dict[str, str] = Field(default_factory=dict)


@router.post("/reviews/{application_id}/scores")
def submit_scores(application_id: str, body: ScoresIn, request: Request) -> Any:
    """A score sheet: every rubric criterion once, on its scale and step (else 422 naming each criterion)."""
    me = principal_of(request)
    view = review.submit_scores(
        state_of(request).store,
        application_id=application_id,
        reviewer_id=me.username,
        scores=body.scores,
        comments=body.comments,
        actor=actor(me),
    )
    return as_json(view)


class ReassignIn(BaseModel):
    from_reviewer: str = Field(min_length=1, description="the reviewer whose review cannot go on")
    to_reviewer: str = Field(min_length=1, description="who reviews instead (a reviewer with an account)")
    reason: str = Field(min_length=1, pattern=r"\S", description="why, in words (kept in the audit chain)")
    on: Day | None = Field(None, description="the date conflicts are judged on (default today)")


@router.post("/reviews/{application_id}/reassign")
def reassign(application_id: str, body: ReassignIn, request: Request) -> Any:
    """The officer's override: another reviewer with an account, without a known conflict, reviews the
    application instead of one who cannot (no account, unavailable, or a conflict nobody took over)."""
    view = review.reassign(
        state_of(request).store,
        application_id=application_id,
        from_reviewer=body.from_reviewer,
        to_reviewer=body.to_reviewer,
        reason=body.reason,
        on=body.on or today_in_shanghai(),
        actor=actor(principal_of(request)),
    )
    return as_json(view)


# --- selection ----------------------------------------------------------------------------------------------


@router.post("/calls/{call_id}/selection/check")
def check(call_id: str, request: Request, body: OnIn | None = None) -> Any:
    """Judge every submitted application with the rules engine: eligible ones go to review, the others are
    rejected with the verdict."""
    st = state_of(request)
    view = selection.check_applications(
        st.store,
        call_id=call_id,
        programmes=st.registry.programmes(),
        on=(body.on if body else None) or today_in_shanghai(),
        actor=actor(principal_of(request)),
    )
    return as_json(view)


@router.get("/calls/{call_id}/selection")
def get_selection(call_id: str, request: Request) -> Any:
    """Designated firms (rank, score, grant), every left-out firm's binding reason, the reserve list."""
    return as_json(selection.selection_of(state_of(request).store, call_id=call_id))


def money_answer(
    view: selection.Selected | selection.Ended | HeldView, response: Response | None = None
) -> dict[str, Any]:
    """A money move's answer; ``replayed`` only when a retry got the first answer; a move held for a second
    officer (above the second-approval amount) answers 202 with the held move."""
    out: dict[str, Any] = as_json(view)
    if isinstance(view, HeldView):
        if response is not None:
            response.status_code = 202
        return out
    if not view.replayed:
        del out["replayed"]
    return out


@router.post("/calls/{call_id}/selection")
def post_selection(
    call_id: str, request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> Any:
    """Select under quotas and budget, award the start-up grants through the ledger (money moves: needs an
    Idempotency-Key), issue the signed certificates; reserve and left-out firms get their reasons. When the
    grants total more than the second-approval amount: 202, held for a second officer (``/approvals``)."""
    st = state_of(request)
    view = selection.select_and_award(
        st.store,
        call_id=call_id,
        programmes=st.registry.programmes(),
        idempotency_key=f"api:{require_key(key)}",
        actor=actor(principal_of(request)),
        above=st.settings.second_approval_above,
    )
    return money_answer(view, response)


@router.post("/calls/{call_id}/selection/preview")
def preview_selection(call_id: str, request: Request) -> Any:
    """What selecting would designate and award (firms, ranks, grants, certificates), computed and rolled
    back: nothing is written and no money moves."""
    st = state_of(request)
    view = selection.preview_selection(
        st.store,
        call_id=call_id,
        programmes=st.registry.programmes(),
        above=st.settings.second_approval_above,
    )
    return money_answer(view)


class EndIn(BaseModel):
    reason: str = Field(min_length=1, description="why, in words")
    lost_condition: Flag = Field(False, description="true: it lost a condition; false: it withdrew")
    on: Day | None = None


@router.post("/designations/{application_id}/end")
def end(
    application_id: str,
    body: EndIn,
    request: Request,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> Any:
    """End a designation (certificate revoked, grant back to the pool) and promote the sector's next reserve
    firm that fits the quotas and budget (money moves: needs an Idempotency-Key). When that moves more than
    the second-approval amount: 202, held for a second officer (``/approvals``)."""
    st = state_of(request)
    view = selection.end_designation(
        st.store,
        application_id=application_id,
        reason=body.reason,
        lost_condition=body.lost_condition,
        on=body.on or today_in_shanghai(),
        programmes=st.registry.programmes(),
        idempotency_key=f"api:{require_key(key)}",
        actor=actor(principal_of(request)),
        above=st.settings.second_approval_above,
    )
    return money_answer(view, response)


@router.post("/designations/{application_id}/end/preview")
def preview_end(application_id: str, body: EndIn, request: Request) -> Any:
    """What ending the designation would revoke, return and whom it would promote, computed and rolled
    back: nothing is written and no money moves."""
    st = state_of(request)
    view = selection.preview_end(
        st.store,
        application_id=application_id,
        reason=body.reason,
        lost_condition=body.lost_condition,
        on=body.on or today_in_shanghai(),
        programmes=st.registry.programmes(),
        above=st.settings.second_approval_above,
    )
    return money_answer(view)


# --- publication and certificates ---------------------------------------------------------------------------


@router.get("/calls/{call_id}/designated")
def designated(
    call_id: str,
    request: Request,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """The published designated list (public), in Chinese or English, as JSON or CSV."""
    view = selection.published_list(state_of(request).store, call_id=call_id, lang=lang)
    if format == "csv":
        return Response(
            view.csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="designated.{lang}.csv"'},
        )
    return {"call_id": view.call_id, "batch": view.batch, "date": view.date, "rows": view.rows}


@router.get("/firms/{uscc}/certificates")
def list_certificates(uscc: str, request: Request) -> Any:
    """The certificates issued to the firm (its own, or any for staff), newest first."""
    principal_of(request).check_firm(uscc)
    return [as_json(c) for c in certificates.firm_certificates(state_of(request).store, uscc=uscc)]


def pdf_response(file: certificates.CertificateFile) -> Response:
    """A certificate's PDF as a download."""
    return Response(
        file.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{file.serial}.pdf"'},
    )


@router.get("/firms/{uscc}/certificates/{serial}")
def download_certificate(uscc: str, serial: str, request: Request) -> Response:
    """The signed PDF certificate (the firm's own, or any for staff)."""
    principal_of(request).check_firm(uscc)
    return pdf_response(certificates.certificate_file(state_of(request).store, serial=serial, firm_uscc=uscc))


def zip_of(files: list[certificates.CertificateFile], call_id: str) -> Response:
    """Certificates as SERIAL.pdf in one zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for f in files:
            z.writestr(f"{f.serial}.pdf", f.pdf)
    return Response(
        buf.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="certificates-{call_id}.zip"'},
    )


@router.get("/calls/{call_id}/certificates")
def export_certificates(call_id: str, request: Request) -> Response:
    """Every certificate of the call's designations (ended ones too) as SERIAL.pdf in one zip
    (``huiqi certificates export``); a call not selected yet is refused (409)."""
    return zip_of(certificates.call_certificates(state_of(request).store, call_id=call_id), call_id)


def checked_pdf(data: bytes) -> bytes:
    """The presented file, refused when empty or far larger than any certificate."""
    if not data:
        raise WebError(422, "file: empty; upload the certificate PDF")
    if len(data) > certificates.MAX_PDF:
        limit = certificates.MAX_PDF // (1024 * 1024)
        raise WebError(413, f"file: {len(data):,} bytes; a certificate is far below {limit} MB")
    return data


@router.post("/certificates/verify")
async def verify(request: Request, pdf: Annotated[bytes, Body(media_type="application/pdf")] = b"") -> Any:
    """Send the certificate PDF as the body (Content-Type: application/pdf): valid, what was altered, or
    revoked. Public: anyone shown a certificate can check it."""
    data = checked_pdf(pdf or await request.body())
    return as_json(certificates.verify_certificate(state_of(request).store, data=data))


@router.get("/certificates/revocations")
def revocations(request: Request) -> Any:
    """The revocation list: every revoked certificate with when and why (public)."""
    return [as_json(r) for r in certificates.revocation_list(state_of(request).store)]


@router.get("/certificates/{serial}")
def certificate_record(serial: str, request: Request) -> Any:
    """What the register holds for a serial: to whom, for what, revoked or not (public)."""
    return as_json(certificates.certificate_record(state_of(request).store, serial=serial))


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1)


@router.post("/certificates/{serial}/revoke")
def revoke(serial: str, body: RevokeIn, request: Request) -> Any:
    """Put a certificate on the revocation list."""
    me = principal_of(request)
    view = certificates.revoke_certificate(
        state_of(request).store, serial=serial, reason=body.reason, actor=actor(me)
    )
    return as_json(view)
