"""One table from domain exceptions to HTTP statuses. The message is kept: it already says what to do.

API paths answer ``application/problem+json`` (RFC 9457); pages show the message on an error page."""

from __future__ import annotations

import logging
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from huiqi.app.errors import ValueNotStorable
from huiqi.app.errors import accounts_errors as acc
from huiqi.app.errors import applications_errors as app_err
from huiqi.app.errors import certificates_errors as cert
from huiqi.app.errors import db_errors as db
from huiqi.app.errors import ledger_errors as led
from huiqi.app.errors import publishing_errors as pub
from huiqi.app.errors import review_errors as rev
from huiqi.app.errors import selection_errors as sel
from huiqi.app.errors import workflows_errors as wf
from huiqi.firms.errors import ProfileError, format_loc
from huiqi.firms.io import TextFileError
from huiqi.firms.register import RegisterError
from huiqi.money import MoneyError
from huiqi.rules.errors import EvaluationError, ProgrammeError, UnknownProgramme
from huiqi.web.limits import TITLES
from huiqi.web.refusals import worded
from huiqi.web.security import login_redirect

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
    wf.ApprovalNotFound: 404,
    acc.UserNotFound: 404,
    acc.FirmProfileNotFound: 404,
    UnknownProgramme: 404,
    pub.DraftNotFound: 404,
    # the two-person rule: the author may not review their own draft; only the author edits it
    pub.SecondOfficerRequired: 403,
    pub.NotTheAuthor: 403,
    pub.ReasonRequired: 422,
    pub.IllegalStep: 409,
    pub.TestsFailed: 409,
    pub.PublishingError: 409,
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
    sel.CallFileMissing: 409,
    rev.AlreadyAssigned: 409,
    rev.NotReassignable: 409,
    rev.ReviewerConflict: 409,
    rev.ReviewerWithoutAccount: 409,
    sel.AlreadySelected: 409,
    sel.NotDesignated: 409,
    sel.ScoresMissing: 409,
    sel.Infeasible: 409,
    cert.AlreadyRevoked: 409,
    # the reviewer must declare first, or may not see it at all (a declared conflict)
    rev.DeclarationRequired: 403,
    wf.SameOfficer: 403,
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
    # a programme, call or reform file that is not YAML at all (e.g. control characters): the loaders'
    # positioned errors cover YAML they can read, this the rest
    yaml.YAMLError: 422,
    # a value the database cannot hold or compare (PostgreSQL: a NUL character in text; out of range)
    ValueNotStorable: 422,
    # a file that is not text in an encoding huiqi reads
    TextFileError: 422,
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
    db.TooManyRetries: 503,
    db.DatabaseError: 503,
}

#: The exceptions a person can act on (everything in the table).
DOMAIN_ERRORS: tuple[type[BaseException], ...] = tuple(STATUS)


# --- the errors in the OpenAPI ------------------------------------------------------------------------------

PROBLEM_REF = "#/components/schemas/Problem"

#: RFC 9457 problem details, as every API error is answered.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "urn:huiqi:problem:<title>"},
        "title": {"type": "string", "description": "the kind of problem (the domain exception's name)"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong and what to do"},
        "instance": {"type": "string", "description": "the path asked for"},
        "errors": {
            "type": "array",
            "description": "one entry per problem, each with its path (or location) and message",
            "items": {"type": "object"},
        },
    },
}

#: What each error status means in this API (the description in the OpenAPI).
MEANING: dict[int, str] = {
    400: "the body could not be read (not JSON, not UTF-8, nested too deep, a number too long)",
    408: "the body stopped arriving before its Content-Length was reached; the connection is closed",
    401: "not logged in (no session, or it expired)",
    403: "your role may not do this, or the data is another firm's, or the CSRF token is missing",
    404: "not found",
    409: "refused because of the current state of things (the message says which)",
    413: "too large (a request body at most 1 MiB unless configured, an upload the evidence limit)",
    414: "the path and query string are too long",
    415: "unsupported media type",
    422: "bad input: each problem is named by its path",
    428: "this request moves money: send an Idempotency-Key header",
    429: "too many attempts: wait for Retry-After seconds",
    431: "the request's headers are too large",
    503: "the database could not finish in time, or the server lacks its signing key: retry later",
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or MEANING[status],
        "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}},
    }


_API = "/api/v1"
_NF, _ST, _IN = 404, 409, 422  # not found, refused in this state, bad input

#: The domain errors each API route can answer, beyond what every route may (see ``document``): one table,
#: like the authorization matrix; ``tests/web/test_api_fuzz.py`` fuzzes every route against it and checks
#: that every key is a route.
ROUTE_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", f"{_API}/auth/login"): (401, 429),
    ("POST", f"{_API}/users"): (_ST, _IN),
    ("POST", f"{_API}/users/{{username}}/password"): (_NF, _IN),
    ("POST", f"{_API}/users/{{username}}/unlock"): (_NF,),
    ("POST", f"{_API}/users/{{username}}/disable"): (_NF, _IN),
    ("POST", f"{_API}/users/{{username}}/enable"): (_NF,),
    ("PUT", f"{_API}/users/{{username}}/role"): (_NF, _IN),
    ("GET", f"{_API}/programmes/{{programme_id}}"): (_NF,),
    ("POST", f"{_API}/programmes/validate"): (_IN,),
    ("POST", f"{_API}/programmes"): (_IN,),
    ("GET", f"{_API}/programme-drafts"): (_IN,),
    ("POST", f"{_API}/programme-drafts"): (_IN,),
    ("GET", f"{_API}/programme-drafts/{{draft_id}}"): (_NF,),
    ("PUT", f"{_API}/programme-drafts/{{draft_id}}"): (403, _NF, _ST, _IN),
    ("POST", f"{_API}/programme-drafts/{{draft_id}}/submit"): (403, _NF, _ST),
    ("POST", f"{_API}/programme-drafts/{{draft_id}}/test"): (_NF, _IN),
    ("POST", f"{_API}/programme-drafts/{{draft_id}}/reject"): (403, _NF, _ST, _IN),
    ("POST", f"{_API}/programme-drafts/{{draft_id}}/publish"): (403, _NF, _ST, _IN),
    ("GET", f"{_API}/programme-drafts/{{draft_id}}/diff"): (_NF, _IN),
    ("POST", f"{_API}/programme-drafts/{{draft_id}}/cost"): (_NF, _IN),
    ("POST", f"{_API}/programmes/{{programme_id}}/versions/{{version}}/withdraw"): (_NF, _IN),
    ("GET", f"{_API}/programmes/{{programme_id}}/diff"): (_NF,),
    ("GET", f"{_API}/schema/{{kind}}"): (_NF,),
    ("POST", f"{_API}/calculator"): (_NF, _IN),
    ("GET", f"{_API}/firms/{{uscc}}"): (_NF,),
    ("PUT", f"{_API}/firms/{{uscc}}"): (_IN,),
    ("GET", f"{_API}/firms/{{uscc}}/matches"): (_NF,),
    ("GET", f"{_API}/calls/{{call_id}}"): (_NF,),
    ("POST", f"{_API}/calls"): (_NF, _ST, _IN),
    ("POST", f"{_API}/calls/{{call_id}}/decide"): (_NF, _ST),
    ("POST", f"{_API}/applications"): (_NF, _ST, _IN),
    ("GET", f"{_API}/applications/{{application_id}}"): (_NF,),
    ("POST", f"{_API}/applications/{{application_id}}/evidence"): (_NF, _ST, 413, 415, _IN),
    ("GET", f"{_API}/applications/{{application_id}}/evidence/{{sha256}}"): (_NF,),
    ("POST", f"{_API}/applications/{{application_id}}/check"): (_NF, _ST),
    ("POST", f"{_API}/applications/{{application_id}}/score"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/transition"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/withdraw"): (_NF, _ST),
    ("POST", f"{_API}/applications/{{application_id}}/decide"): (_NF, _ST),
    ("POST", f"{_API}/applications/{{application_id}}/grant"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/tranches/{{seq}}/pay"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/miss-milestone"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/clawback"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/recoveries"): (_NF, _ST, _IN),
    ("POST", f"{_API}/payments/{{transaction_id}}/reverse"): (_NF, _ST),
    ("POST", f"{_API}/applications/{{application_id}}/decide/preview"): (_NF, _ST),
    ("POST", f"{_API}/calls/{{call_id}}/decide/preview"): (_NF, _ST),
    ("POST", f"{_API}/applications/{{application_id}}/grant/preview"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/tranches/{{seq}}/pay/preview"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/miss-milestone/preview"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/clawback/preview"): (_NF, _ST, _IN),
    ("POST", f"{_API}/applications/{{application_id}}/recoveries/preview"): (_NF, _ST, _IN),
    ("POST", f"{_API}/payments/{{transaction_id}}/reverse/preview"): (_NF, _ST),
    ("GET", f"{_API}/approvals/{{approval_id}}"): (_NF,),
    ("POST", f"{_API}/approvals/{{approval_id}}/approve"): (_NF, _ST, _IN),
    ("POST", f"{_API}/approvals/{{approval_id}}/reject"): (_NF, _ST, _IN),
    ("GET", f"{_API}/awards/{{award_id}}"): (_NF,),
    ("POST", f"{_API}/pools"): (_ST, _IN),
    ("GET", f"{_API}/pools/{{pool_id}}/statement"): (_NF,),
    ("GET", f"{_API}/pools/{{pool_id}}"): (_NF,),
    ("GET", f"{_API}/pools/{{pool_id}}/history"): (_NF,),
    ("GET", f"{_API}/awards/by/{{field}}"): (_NF,),
    ("POST", f"{_API}/matching/runs"): (_NF, _ST),
    ("GET", f"{_API}/matching/runs/latest"): (_NF,),
    ("POST", f"{_API}/simulations"): (_NF, _ST, _IN),
    ("GET", f"{_API}/simulations/{{simulation_id}}/report"): (_NF,),
    ("GET", f"{_API}/jobs/{{job_id}}"): (_NF,),
    # a firm member may compare with a stored profile only of their own firm
    ("POST", f"{_API}/compare-cities"): (403, _NF, _IN),
    ("GET", f"{_API}/calls/{{call_id}}/call-file"): (_NF, _ST),
    ("PUT", f"{_API}/calls/{{call_id}}/call-file"): (_NF, _ST, _IN),
    ("POST", f"{_API}/reviewers"): (_ST, _IN),
    ("POST", f"{_API}/calls/{{call_id}}/review/assign"): (_NF, _ST, _IN),
    ("POST", f"{_API}/calls/{{call_id}}/review/normalise"): (_NF, _ST, _IN),
    ("POST", f"{_API}/reviews/{{application_id}}/declaration"): (_NF, _ST, _IN),
    ("GET", f"{_API}/reviews/{{application_id}}/material"): (_NF,),
    ("POST", f"{_API}/reviews/{{application_id}}/scores"): (_NF, _ST, _IN),
    ("POST", f"{_API}/reviews/{{application_id}}/reassign"): (_NF, _ST, _IN),
    ("POST", f"{_API}/calls/{{call_id}}/selection/preview"): (_NF, _ST, _IN),
    ("POST", f"{_API}/designations/{{application_id}}/end/preview"): (_NF, _ST, _IN),
    ("GET", f"{_API}/reviews/{{application_id}}"): (_NF, _ST, _IN),
    ("GET", f"{_API}/calls/{{call_id}}/review"): (_NF, _IN),
    ("GET", f"{_API}/certificates/{{serial}}"): (_NF,),
    ("POST", f"{_API}/calls/{{call_id}}/selection/check"): (_NF, _ST, _IN),
    ("GET", f"{_API}/calls/{{call_id}}/selection"): (_NF, _ST),
    ("POST", f"{_API}/calls/{{call_id}}/selection"): (_NF, _ST, _IN),
    ("POST", f"{_API}/designations/{{application_id}}/end"): (_NF, _ST, _IN),
    ("GET", f"{_API}/calls/{{call_id}}/designated"): (_NF, _ST),
    ("GET", f"{_API}/firms/{{uscc}}/certificates/{{serial}}"): (_NF,),
    ("GET", f"{_API}/calls/{{call_id}}/certificates"): (_NF, _ST),
    ("POST", f"{_API}/certificates/verify"): (413, _IN),
    ("POST", f"{_API}/certificates/{{serial}}/revoke"): (_NF, _ST),
}

#: API routes whose success is not JSON: the media types their 200 answer may have.
ROUTE_MEDIA: dict[tuple[str, str], tuple[str, ...]] = {
    # evidence is served as the type it was stored as (applications/evidence.py)
    ("GET", f"{_API}/applications/{{application_id}}/evidence/{{sha256}}"): (
        "application/pdf",
        "image/png",
        "image/jpeg",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("GET", f"{_API}/simulations/{{simulation_id}}/report"): ("text/html",),
    ("GET", f"{_API}/firms/{{uscc}}/certificates/{{serial}}"): ("application/pdf",),
    ("GET", f"{_API}/calls/{{call_id}}/certificates"): ("application/zip",),
    ("GET", f"{_API}/calls/{{call_id}}/designated"): ("application/json", "text/csv"),
}


def document(openapi: dict[str, Any], access_of: Any) -> dict[str, Any]:
    """Put in the API's OpenAPI what its routes answer besides success. Every route: 503 (the database gave
    up, or the signing key is missing); 422 as a problem wherever there is input (FastAPI documents its own
    validation error shape, which this app never sends); 401 and 403 where the matrix asks for a login
    (``access_of(method, path)``), 415 on anonymous writes (JSON only); 428 and 409 where an
    Idempotency-Key is needed (required in the document, though the handler checks it so as to answer 428
    rather than 422) and 429 (money writes are rate-limited); then each route's own from ``ROUTE_ERRORS``."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, methods in openapi.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, op in methods.items():
            key = (method.upper(), path)
            responses = op.setdefault("responses", {})
            extra: list[int] = [503]
            if "422" in responses or op.get("parameters") or op.get("requestBody"):
                extra.append(422)
            access = access_of(*key)
            if access is not None and not access.public:
                extra += [401, 403]
            elif key[0] in ("POST", "PUT", "PATCH", "DELETE"):
                extra.append(415)
            if op.get("requestBody"):
                extra += [400, 408, 413]
            for param in op.get("parameters", []):
                if param.get("in") == "header" and param.get("name", "").lower() == "idempotency-key":
                    # a string: the handler's ``None`` default (for the 428) is no value a client may send
                    branches = param["schema"].get("anyOf", [param["schema"]])
                    string = next(s for s in branches if "pattern" in s)
                    param["required"] = True
                    param["schema"] = {**string, "description": param["schema"].get("description", "")}
                    extra += [428, 409, 429]
            extra += ROUTE_ERRORS.get(key, ())
            for status in sorted(set(extra)):
                responses[str(status)] = problem_response(status)
            media = ROUTE_MEDIA.get(key)
            if media is not None:
                ok = responses[next(s for s in responses if s.startswith("2"))]
                json_schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
                ok["content"] = {
                    m: {"schema": json_schema if m == "application/json" else {"type": "string"}}
                    for m in media
                }
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return openapi


def status_for(exc: BaseException) -> int:
    from huiqi.web.api.common import WebError

    if isinstance(exc, WebError):
        return exc.status
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def message_of(exc: BaseException) -> str:
    if isinstance(exc, ValueNotStorable):  # the driver's words only, never the statement
        first = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        return f"a value the database cannot store or compare ({first}); remove it and send again"
    return str(exc)


def page_message(exc: BaseException) -> str:
    """A refusal as a page shows it: in the page's language with its figures (``web.refusals`` words every
    class a page can show, so a zh officer never reads the domain's English), else as the API says it; the
    API's problem details stay in English."""
    return worded(exc) or message_of(exc)


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
            **TITLES,
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
            return login_redirect(request)
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
        return _page(request, status, type(exc).__name__, page_message(exc), headers=headers)

    from huiqi.web.api.common import WebError

    for cls in (*STATUS, WebError):
        app.add_exception_handler(cls, _domain)

    async def _unexpected(request: Request, exc: Exception) -> Response:
        """A fault of huiqi's, not of the request: logged with its trace, answered as a problem like every
        other error (never uvicorn's text/plain), with nothing of the trace in the answer."""
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = "the server failed to answer this request; it has been logged: try again, or report it"
        if _is_api(request) or request.method != "GET":
            return problem(request, 500, "InternalError", detail)
        return _page(request, 500, "InternalError", detail)

    app.add_exception_handler(Exception, _unexpected)

    def openapi() -> dict[str, Any]:
        """FastAPI's document with the errors each route answers (built once, on first request)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            from huiqi.web.authz import MATRIX

            app.openapi_schema = document(
                get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                ),
                lambda method, path: MATRIX.get((method, path)),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
