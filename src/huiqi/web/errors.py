"""One table from domain exceptions to HTTP statuses. The message is kept: it already says what to do.

API paths answer ``application/problem+json`` (RFC 9457); pages show the message on an error page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from huiqi.accounts import errors as acc
from huiqi.applications import errors as app_err
from huiqi.certificates import errors as cert
from huiqi.db.errors import DatabaseError, TooManyRetries
from huiqi.firms.errors import ProfileError, format_loc
from huiqi.firms.register import RegisterError
from huiqi.ledger import errors as led
from huiqi.money import MoneyError
from huiqi.review import errors as rev
from huiqi.rules.errors import EvaluationError, ProgrammeError, UnknownProgramme
from huiqi.selection import errors as sel
from huiqi.workflows import errors as wf

log = logging.getLogger("huiqi.web")

#: Exception class -> HTTP status. Looked up along the class's MRO, so a subclass not listed gets its base's.
STATUS: dict[type[BaseException], int] = {
    # not found
    app_err.CallNotFound: 404,
    app_err.ApplicationNotFound: 404,
    led.PoolNotFound: 404,
    led.ReservationNotFound: 404,
    led.AwardNotFound: 404,
    led.TrancheNotFound: 404,
    led.TransactionNotFound: 404,
    wf.NoAward: 404,
    acc.UserNotFound: 404,
    acc.FirmProfileNotFound: 404,
    UnknownProgramme: 404,
    rev.ReviewerNotFound: 404,
    rev.AssignmentNotFound: 404,
    cert.CertificateNotFound: 404,
    # refused because of the current state of things
    app_err.CallExists: 409,
    app_err.CallNotOpen: 409,
    app_err.IllegalTransition: 409,
    app_err.ConcurrentChange: 409,
    led.PoolExists: 409,
    led.InsufficientFunds: 409,
    led.FirmCapExceeded: 409,
    led.ContractAlreadyClaimed: 409,
    led.IdempotencyConflict: 409,
    led.ReservationNotPending: 409,
    led.AwardNotActive: 409,
    led.TrancheAlreadyPaid: 409,
    led.TrancheNotPending: 409,
    led.MilestoneNotDue: 409,
    led.RecoveryTooLarge: 409,
    led.NotReversible: 409,
    wf.WorkflowError: 409,
    acc.UserExists: 409,
    rev.ReviewerExists: 409,
    rev.NotEnoughReviewers: 409,
    rev.AlreadyDeclared: 409,
    rev.AlreadyScored: 409,
    rev.ReviewIncomplete: 409,
    sel.NotSelected: 409,
    sel.AlreadySelected: 409,
    sel.NotDesignated: 409,
    sel.ScoresMissing: 409,
    sel.Infeasible: 409,
    cert.AlreadyRevoked: 409,
    # the reviewer must declare first, or may not see it at all (a declared conflict)
    rev.DeclarationRequired: 403,
    rev.Conflicted: 403,
    # bad input
    app_err.ApplicationsError: 422,
    led.LedgerError: 422,
    MoneyError: 422,
    ProfileError: 422,
    ProgrammeError: 422,
    EvaluationError: 422,
    acc.InvalidUser: 422,
    acc.WeakPassword: 422,
    rev.InvalidReviewer: 422,
    rev.InvalidScore: 422,
    rev.ReviewError: 422,
    sel.CallFileError: 422,
    sel.SelectionError: 422,
    RegisterError: 422,
    # the server is missing its certificate signing key (configuration, not the caller)
    cert.SigningKeyMissing: 503,
    cert.BadSigningKey: 503,
    cert.CertificateError: 422,
    app_err.EvidenceTooLarge: 413,
    app_err.EvidenceTypeRefused: 415,
    # accounts
    acc.InvalidCredentials: 401,
    acc.TooManyAttempts: 429,
    acc.AccountsError: 400,
    # the database could not finish in time
    TooManyRetries: 503,
    DatabaseError: 503,
}

#: The exceptions a person can act on (everything in the table).
DOMAIN_ERRORS: tuple[type[BaseException], ...] = tuple(STATUS)


def status_for(exc: BaseException) -> int:
    from huiqi.web.api.common import WebError

    if isinstance(exc, WebError):
        return exc.status
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def message_of(exc: BaseException) -> str:
    return str(exc)


def _details(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ProfileError):
        return {"errors": [{"path": p.path, "message": p.message} for p in exc.problems]}
    if isinstance(exc, (ProgrammeError, sel.CallFileError)):
        return {"errors": [{"location": str(p.location), "message": p.message} for p in exc.problems]}
    return {}


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": f"urn:huiqi:problem:{title}", "title": title, "status": status, "detail": detail}
    body["instance"] = request.url.path
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _page(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    from huiqi.web.templating import render

    return render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {
            401: "LoginRequired",
            403: "Forbidden",
            404: "NotFound",
            405: "MethodNotAllowed",
            415: "UnsupportedMediaType",
            428: "PreconditionRequired",
        }.get(exc.status_code, "HTTPError")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"nothing at {request.url.path}"
        if _is_api(request):
            return problem(request, exc.status_code, title, detail, headers=dict(exc.headers or {}))
        if exc.status_code == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return _page(request, exc.status_code, title, detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"path": format_loc([p for p in e["loc"] if isinstance(p, (str, int))]), "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        if _is_api(request):
            return problem(request, 422, "InvalidRequest", detail, errors=errors)
        return _page(request, 422, "InvalidRequest", detail)

    async def _domain(request: Request, exc: Exception) -> Response:
        status = status_for(exc)
        headers = None
        if isinstance(exc, acc.TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        if _is_api(request):
            return problem(
                request, status, type(exc).__name__, message_of(exc), headers=headers, **_details(exc)
            )
        return _page(request, status, type(exc).__name__, message_of(exc), headers=headers)

    from huiqi.web.api.common import WebError

    for cls in (*STATUS, WebError):
        app.add_exception_handler(cls, _domain)
