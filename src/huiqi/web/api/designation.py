# ruff: noqa: E501
"""Designation calls through the API (issue 5): reviewers, the call file, review panels (assignment, the
conflict declaration before any confidential material, score sheets, normalisation), selection with every
decision's reason, the start-up grants through the ledger, reserve promotion, the published list and the
signed certificates (download, verify, revoke).

A reviewer account acts as the reviewer whose id is its username (``huiqi reviewers add --id <username>``).
The call file the CLI reads from ``--call-file`` is uploaded once per call and kept in ``web_call_files``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.accounts.models import CallFileText
from huiqi.applications import service as apps
from huiqi.certificates import service as certs
from huiqi.certificates.errors import CertificateNotFound
from huiqi.certificates.keys import signing_key
from huiqi.certificates.models import Certificate, Revocation
from huiqi.review import service as review
from huiqi.review.models import Assignment
from huiqi.selection import publish as pub
from huiqi.selection import service as selection
from huiqi.selection.callfile import CallFile, parse_call_file
from huiqi.selection.errors import AlreadySelected
from huiqi.selection.models import Designation, Outcome, SelectionDecision, SelectionRun
from huiqi.web.api.common import (
    Day,
    Flag,
    IdempotencyKeyHeader,
    WebError,
    actor,
    idempotent,
    require_key,
)
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.security import Principal, principal_of, state_of
from huiqi.web.state import AppState
from huiqi.workflows import designation as flow

router = APIRouter(prefix="/api/v1", tags=["review, selection and certificates"])


# --- the call file ------------------------------------------------------------------------------------------


class CallFileNotUploaded(WebError):
    def __init__(self, call_id: str) -> None:
        super().__init__(
            409,
            f"call {call_id} has no call file yet: an officer uploads its YAML (rubric, quotas, budget) with "
            f"PUT /api/v1/calls/{call_id}/call-file or on the selection page",
        )


def call_file_of(s: Session, call_id: str) -> CallFile:
    row = s.get(CallFileText, call_id)
    if row is None:
        raise CallFileNotUploaded(call_id)
    return parse_call_file(row.text, path=f"call file of {call_id}")


def save_call_file(st: AppState, me: Principal, call_id: str, text: str) -> dict[str, Any]:
    """Validate (every problem at line:column) and keep the call file; refused once the call is selected."""
    cf = parse_call_file(text, path=f"call file of {call_id}")
    if cf.call != call_id:
        raise WebError(
            422, f"call: the file is for call {cf.call!r}, not {call_id!r} (the call in the address)"
        )

    def work(s: Session) -> dict[str, Any]:
        apps.get_call(session=s, call_id=call_id)  # 404 for an unknown call
        run = s.scalar(select(SelectionRun).where(SelectionRun.call_id == call_id))
        if run is not None:
            raise AlreadySelected(call_id, run.id)
        digest = hashlib.sha256(text.encode()).hexdigest()
        row = s.get(CallFileText, call_id)
        if row is None:
            row = CallFileText(call_id=call_id, text=text, sha256=digest, uploaded_by=actor(me))
            s.add(row)
        else:
            row.text, row.sha256, row.uploaded_by = text, digest, actor(me)
        s.flush()
        return call_file_summary(call_id, cf, digest)

    return st.write(work)


def call_file_summary(call_id: str, cf: CallFile, digest: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sha256": digest,
        "programme": cf.programme,
        "grant_programme": cf.grant_programme,
        "batch": {"zh": cf.batch.zh, "en": cf.batch.en},
        "rubric": [rubric_row(c) for c in cf.rubric],
        "reviewers_per_application": cf.review.reviewers_per_application,
        "quota_total": cf.quotas.total,
        "budget": None if cf.budget is None else str(cf.budget.amount),
    }


def rubric_row(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "label": {"zh": c.label.zh, "en": c.label.en},
        "weight": str(c.weight),
        "min": str(c.scale.min),
        "max": str(c.scale.max),
        "step": str(c.scale.step),
    }


class CallFileIn(BaseModel):
    text: str = Field(description="the call file's YAML, as `huiqi selection validate` reads it")


@router.get("/calls/{call_id}/call-file")
def get_call_file(call_id: str, request: Request) -> dict[str, Any]:
    def work(s: Session) -> dict[str, Any]:
        row = s.get(CallFileText, call_id)
        if row is None:
            raise CallFileNotUploaded(call_id)
        out = call_file_summary(call_id, call_file_of(s, call_id), row.sha256)
        out["text"] = row.text
        return out

    return state_of(request).read(work)


@router.put("/calls/{call_id}/call-file")
def put_call_file(call_id: str, body: CallFileIn, request: Request) -> dict[str, Any]:
    """Upload (or replace, until the call is selected) the call's rubric, quotas, budget and tranches."""
    return save_call_file(state_of(request), principal_of(request), call_id, body.text)


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


def reviewer_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "fields": r.fields,
        "affiliations": r.affiliations,
        "former_employers": r.former_employers,
        "active": r.active,
    }


@router.get("/reviewers")
def list_reviewers(request: Request) -> list[dict[str, Any]]:
    return state_of(request).read(lambda s: [reviewer_dict(r) for r in review.list_reviewers(session=s)])


@router.post("/reviewers", status_code=201)
def add_reviewer(body: NewReviewer, request: Request) -> dict[str, Any]:
    me = principal_of(request)
    return state_of(request).write(
        lambda s: reviewer_dict(
            review.add_reviewer(
                session=s,
                reviewer_id=body.id,
                name=body.name,
                fields=body.fields,
                affiliations=body.affiliations,
                former_employers=[
                    {"uscc": f.uscc, "until": f.until.isoformat()} for f in body.former_employers
                ],
                actor=actor(me),
            )
        )
    )


# --- review panels ------------------------------------------------------------------------------------------


class OnIn(BaseModel):
    on: Day | None = Field(None, description="the date conflicts or criteria are judged on (default today)")


def assign_call(st: AppState, me: Principal, call_id: str, on: dt.date | None) -> dict[str, Any]:
    def work(s: Session) -> dict[str, Any]:
        cf = call_file_of(s, call_id)
        made = review.assign(
            session=s,
            call_id=call_id,
            per_application=cf.review.reviewers_per_application,
            on=on or today_in_shanghai(),
            recent_years=cf.review.recent_employment_years,
            actor=actor(me),
        )
        return {"call_id": call_id, "assignments_made": len(made)}

    return st.write(work)


@router.post("/calls/{call_id}/review/assign")
def assign(call_id: str, request: Request, body: OnIn | None = None) -> dict[str, Any]:
    """Assign the call file's number of reviewers of the right field, without known conflicts, to each
    application under review (balanced load; idempotent: existing assignments are kept)."""
    return assign_call(state_of(request), principal_of(request), call_id, body.on if body else None)


def normalise_call(st: AppState, me: Principal, call_id: str) -> dict[str, Any]:
    def work(s: Session) -> dict[str, Any]:
        cf = call_file_of(s, call_id)
        out = review.normalise(
            session=s,
            call_id=call_id,
            rubric=selection.rubric_of(cf),
            min_reviews_for_z=cf.review.min_reviews_for_z,
            actor=actor(me),
        )
        return {
            "call_id": call_id,
            "scores": [{"application_id": n.application_id, "score": str(n.score)} for n in out],
        }

    return st.write(work)


@router.post("/calls/{call_id}/review/normalise")
def normalise(call_id: str, request: Request) -> dict[str, Any]:
    """z-score every reviewer's totals; each application gets its normalised score (all sheets needed)."""
    return normalise_call(state_of(request), principal_of(request), call_id)


def assignment_dict(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.id,
        "call_id": a.call_id,
        "application_id": a.application_id,
        "reviewer_id": a.reviewer_id,
        "status": a.status,
        "conflict_reason": a.conflict_reason,
        "declared_at": a.declared_at.isoformat() if a.declared_at else None,
        "replaces_id": a.replaces_id,
    }


def assignments_for(s: Session, me: Principal, call_id: str | None) -> list[Assignment]:
    """A reviewer sees their own assignments; officers and auditors see everyone's."""
    q = select(Assignment).order_by(Assignment.call_id, Assignment.application_id, Assignment.reviewer_id)
    if me.role.value == "reviewer":
        q = q.where(Assignment.reviewer_id == me.username)
    if call_id:
        q = q.where(Assignment.call_id == call_id)
    return list(s.scalars(q))


@router.get("/reviews")
def list_assignments(request: Request, call_id: str | None = Query(None)) -> list[dict[str, Any]]:
    """Review assignments: a reviewer's own, or (officers, auditors) all of them."""
    me = principal_of(request)
    return state_of(request).read(lambda s: [assignment_dict(a) for a in assignments_for(s, me, call_id)])


class DeclarationIn(BaseModel):
    conflict: str | None = Field(
        None, description="null: no conflict of interest (opens the material); text: the conflict, in words"
    )
    on: Day | None = None


def declare_on(
    st: AppState, me: Principal, application_id: str, conflict: str | None, on: dt.date | None
) -> dict[str, Any]:
    def work(s: Session) -> dict[str, Any]:
        app = apps.get_application(session=s, application_id=application_id)
        cf = call_file_of(s, app.call_id)
        d = review.declare(
            session=s,
            application_id=application_id,
            reviewer_id=me.username,
            conflict=conflict,
            on=on or today_in_shanghai(),
            recent_years=cf.review.recent_employment_years,
            actor=actor(me),
        )
        return {
            "assignment": assignment_dict(d.assignment),
            "reassigned_to": d.replacement.reviewer_id if d.replacement else None,
        }

    return st.write(work)


@router.post("/reviews/{application_id}/declaration")
def declare(application_id: str, body: DeclarationIn, request: Request) -> dict[str, Any]:
    """Declare no conflict (the confidential material opens) or a conflict (the application is reassigned
    to another reviewer of the field without one; the declaring reviewer never sees it)."""
    return declare_on(state_of(request), principal_of(request), application_id, body.conflict, body.on)


def material_of(st: AppState, me: Principal, application_id: str) -> dict[str, Any]:
    return st.read(
        lambda s: review.confidential_view(session=s, application_id=application_id, reviewer_id=me.username)
    )


@router.get("/reviews/{application_id}/material")
def material(application_id: str, request: Request) -> dict[str, Any]:
    """The confidential material (profile, claims, evidence): refused until the reviewer declared no conflict."""
    return material_of(state_of(request), principal_of(request), application_id)


class ScoresIn(BaseModel):
    scores: dict[str, str | int] = Field(
        description="criterion id -> score on its scale (decimal text or integer)"
    )
    comments: dict[str, str] = Field(default_factory=dict)


def score_on(
    st: AppState,
    me: Principal,
    application_id: str,
    scores: Mapping[str, object],
    comments: Mapping[str, str],
) -> dict[str, Any]:
    def work(s: Session) -> dict[str, Any]:
        app = apps.get_application(session=s, application_id=application_id)
        cf = call_file_of(s, app.call_id)
        a = review.submit_scores(
            session=s,
            application_id=application_id,
            reviewer_id=me.username,
            rubric=selection.rubric_of(cf),
            scores=scores,
            comments=comments,
            actor=actor(me),
        )
        return assignment_dict(a)

    return st.write(work)


@router.post("/reviews/{application_id}/scores")
def submit_scores(application_id: str, body: ScoresIn, request: Request) -> dict[str, Any]:
    """A score sheet: every rubric criterion once, on its scale and step (else 422 naming each criterion)."""
    return score_on(state_of(request), principal_of(request), application_id, body.scores, body.comments)


# --- selection ----------------------------------------------------------------------------------------------


def check_call(st: AppState, me: Principal, call_id: str, on: dt.date | None) -> dict[str, Any]:
    programmes = st.registry.programmes()

    def work(s: Session) -> dict[str, Any]:
        cf = call_file_of(s, call_id)
        done = flow.check_all(
            session=s,
            call_id=call_id,
            programmes=programmes,
            cf=cf,
            on=on or today_in_shanghai(),
            actor=actor(me),
        )
        return {"call_id": call_id, "checked": [{"application_id": a.id, "state": a.state} for a in done]}

    return st.write(work)


@router.post("/calls/{call_id}/selection/check")
def check(call_id: str, request: Request, body: OnIn | None = None) -> dict[str, Any]:
    """Judge every submitted application with the rules engine: eligible ones go to review, the others are
    rejected with the verdict."""
    return check_call(state_of(request), principal_of(request), call_id, body.on if body else None)


def decision_dict(d: SelectionDecision) -> dict[str, Any]:
    return {
        "application_id": d.application_id,
        "firm_uscc": d.firm_uscc,
        "sector": d.sector,
        "district": d.district,
        "outcome": d.outcome,
        "rank": d.rank,
        "sector_rank": d.sector_rank,
        "score": d.score,
        "amount": str(d.amount),
        "reserve_seq": d.reserve_seq,
        "reason": d.reason,
    }


def designation_dict(d: Designation) -> dict[str, Any]:
    return {
        "application_id": d.application_id,
        "firm_uscc": d.firm_uscc,
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "sector": d.sector,
        "district": d.district,
        "rank": d.rank,
        "sector_rank": d.sector_rank,
        "score": d.score,
        "amount": str(d.amount),
        "status": d.status,
        "source": d.source,
        "replaces_application_id": d.replaces_application_id,
        "reason": d.reason,
        "end_reason": d.end_reason,
    }


def selection_view(s: Session, call_id: str) -> dict[str, Any]:
    """The run, every decision with its reason, the designations and the reserve list in order."""
    run = selection.get_run(session=s, call_id=call_id)
    decisions = selection.decisions_of(session=s, call_id=call_id)
    designations = selection.designations_of(session=s, call_id=call_id, active_only=False)
    reserve = sorted(
        (d for d in decisions if d.outcome == Outcome.RESERVE.value),
        key=lambda d: (d.sector, d.reserve_seq or 0),
    )
    promoted = {d.application_id for d in designations}
    return {
        "call_id": call_id,
        "run": {
            "id": run.id,
            "config_digest": run.config_digest,
            "budget": None if run.budget is None else str(run.budget),
            "spent": str(run.spent),
            "total_score": run.total_score,
            "seconds": run.seconds,
            "created_at": run.created_at.isoformat(),
        },
        "designations": [designation_dict(d) for d in designations],
        "left_out": [
            decision_dict(d)
            for d in decisions
            if d.outcome in (Outcome.NOT_SELECTED.value, Outcome.INELIGIBLE.value)
        ],
        "reserve": [decision_dict(d) | {"promoted": d.application_id in promoted} for d in reserve],
        "decisions": [decision_dict(d) for d in decisions],
    }


@router.get("/calls/{call_id}/selection")
def get_selection(call_id: str, request: Request) -> dict[str, Any]:
    """Designated firms (rank, score, grant), every left-out firm's binding reason, the reserve list."""
    return state_of(request).read(lambda s: selection_view(s, call_id))


def run_selection(st: AppState, me: Principal, call_id: str, key: str) -> dict[str, Any]:
    programmes = st.registry.programmes()

    def work(s: Session, _k: str) -> dict[str, Any]:
        cf = call_file_of(s, call_id)
        skey = signing_key()
        done = flow.select_and_award(
            session=s, call_id=call_id, cf=cf, programmes=programmes, key=skey, actor=actor(me)
        )
        return {
            "call_id": call_id,
            "designated": [
                designation_dict(d.designation)
                | {
                    "award_id": d.award.id if d.award else None,
                    "certificate_serial": d.certificate_serial,
                }
                for d in done
            ],
        }

    return idempotent(st, key, "api.selection_run", {"call": call_id}, work)


@router.post("/calls/{call_id}/selection")
def post_selection(call_id: str, request: Request, key: IdempotencyKeyHeader = None) -> dict[str, Any]:
    """Select under quotas and budget, award the start-up grants through the ledger (money moves: needs an
    Idempotency-Key), issue the signed certificates; reserve and left-out firms get their reasons."""
    return run_selection(state_of(request), principal_of(request), call_id, require_key(key))


class EndIn(BaseModel):
    reason: str = Field(min_length=1, description="why, in words")
    lost_condition: Flag = Field(False, description="true: it lost a condition; false: it withdrew")
    on: Day | None = None


def end_designation(
    st: AppState, me: Principal, application_id: str, body: EndIn, key: str
) -> dict[str, Any]:
    programmes = st.registry.programmes()

    def work(s: Session, _k: str) -> dict[str, Any]:
        app = apps.get_application(session=s, application_id=application_id)
        cf = call_file_of(s, app.call_id)
        skey = signing_key()
        rep = flow.end_and_replace(
            session=s,
            application_id=application_id,
            cause="lost a condition" if body.lost_condition else "withdrew",
            reason=body.reason,
            cf=cf,
            programmes=programmes,
            key=skey,
            on=body.on or today_in_shanghai(),
            actor=actor(me),
        )
        return {
            "ended": designation_dict(rep.ended),
            "revoked": list(rep.revoked),
            "promoted": None
            if rep.promoted is None
            else designation_dict(rep.promoted.designation)
            | {"certificate_serial": rep.promoted.certificate_serial},
            "note": rep.note,
        }

    return idempotent(
        st, key, "api.designation_end", {"application": application_id, **body.model_dump(mode="json")}, work
    )


@router.post("/designations/{application_id}/end")
def end(
    application_id: str, body: EndIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """End a designation (certificate revoked, grant back to the pool) and promote the sector's next reserve
    firm that fits the quotas and budget (money moves: needs an Idempotency-Key)."""
    return end_designation(state_of(request), principal_of(request), application_id, body, require_key(key))


# --- publication and certificates ---------------------------------------------------------------------------


def published_rows(s: Session, call_id: str, lang: str) -> dict[str, Any]:
    cf = call_file_of(s, call_id)
    ds = selection.designations_of(session=s, call_id=call_id)
    return {
        "call_id": call_id,
        "batch": cf.batch.zh if lang == "zh" else cf.batch.en,
        "date": cf.date.isoformat(),
        "rows": selection.published_rows(ds, cf, lang),
    }


@router.get("/calls/{call_id}/designated")
def designated(
    call_id: str,
    request: Request,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """The published designated list (public), in Chinese or English, as JSON or CSV."""

    def work(s: Session) -> Any:
        if format == "csv":
            cf = call_file_of(s, call_id)
            text = pub.render_csv(selection.designations_of(session=s, call_id=call_id), cf, lang)
            return Response(
                text,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="designated.{lang}.csv"'},
            )
        return published_rows(s, call_id, lang)

    return state_of(request).read(work)


def certificate_dict(c: Certificate, s: Session) -> dict[str, Any]:
    return {
        "serial": c.serial,
        "subject": c.subject,
        "issued_at": c.issued_at.isoformat(),
        "key_id": c.key_id,
        "revoked": s.get(Revocation, c.serial) is not None,
    }


def firm_certificates(s: Session, uscc: str) -> list[Certificate]:
    """The certificates issued to a firm, newest first."""
    return list(
        s.scalars(
            select(Certificate).where(Certificate.firm_uscc == uscc).order_by(Certificate.issued_at.desc())
        )
    )


@router.get("/firms/{uscc}/certificates")
def list_certificates(uscc: str, request: Request) -> list[dict[str, Any]]:
    principal_of(request).check_firm(uscc)
    return state_of(request).read(lambda s: [certificate_dict(c, s) for c in firm_certificates(s, uscc)])


def certificate_pdf(request: Request, uscc: str, serial: str) -> Response:
    principal_of(request).check_firm(uscc)

    def work(s: Session) -> bytes:
        for c in firm_certificates(s, uscc):
            if c.serial == serial:
                return c.pdf
        raise CertificateNotFound(serial)

    pdf = state_of(request).read(work)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{serial}.pdf"'},
    )


@router.get("/firms/{uscc}/certificates/{serial}")
def download_certificate(uscc: str, serial: str, request: Request) -> Response:
    """The signed PDF certificate (the firm's own, or any for staff)."""
    return certificate_pdf(request, uscc, serial)


@router.get("/calls/{call_id}/certificates")
def export_certificates(call_id: str, request: Request) -> Response:
    """Every certificate of the call's designations (ended ones too) as SERIAL.pdf in one zip
    (``huiqi certificates export``)."""
    import io
    import zipfile

    def work(s: Session) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for d in selection.designations_of(session=s, call_id=call_id, active_only=False):
                for c in certs.of_subject(session=s, subject=f"designation:{d.application_id}"):
                    z.writestr(f"{c.serial}.pdf", c.pdf)
        return buf.getvalue()

    # a call not selected yet is refused (409) rather than answered with an empty zip
    state_of(request).read(lambda s: selection.get_run(session=s, call_id=call_id))
    return Response(
        state_of(request).read(work),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="certificates-{call_id}.zip"'},
    )


MAX_PDF = 10 * 1024 * 1024


def verify_bytes(st: AppState, data: bytes) -> dict[str, Any]:
    if not data:
        raise WebError(422, "file: empty; upload the certificate PDF")
    if len(data) > MAX_PDF:
        raise WebError(
            413, f"file: {len(data):,} bytes; a certificate is far below {MAX_PDF // (1024 * 1024)} MB"
        )
    result = st.read(lambda s: certs.verify(session=s, data=data))
    return {
        "ok": result.ok,
        "status": result.status,
        "serial": result.serial,
        "findings": list(result.findings),
        "text": result.text(),
        "content": result.payload,
    }


@router.post("/certificates/verify")
async def verify(
    request: Request, pdf: Annotated[bytes, Body(media_type="application/pdf")] = b""
) -> dict[str, Any]:
    """Send the certificate PDF as the body (Content-Type: application/pdf): valid, what was altered, or
    revoked. Public: anyone shown a certificate can check it."""
    return verify_bytes(state_of(request), pdf or await request.body())


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1)


@router.post("/certificates/{serial}/revoke")
def revoke(serial: str, body: RevokeIn, request: Request) -> dict[str, Any]:
    me = principal_of(request)
    r = state_of(request).write(
        lambda s: certs.revoke(session=s, serial=serial, reason=body.reason, actor=actor(me))
    )
    return {"serial": r.serial, "reason": r.reason, "revoked_at": r.revoked_at.isoformat()}
