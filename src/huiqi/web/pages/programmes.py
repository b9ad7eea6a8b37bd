"""The officer's programmes pages: the programmes served and the drafts; validating and loading a file;
authoring in the browser (issue 15): a draft's YAML edited with validation as it is typed (each problem
beside its line), its test cases run, a firm profile turned into a test case, a form for dated parameter
values; save, submit for review; a second officer sees the diff and the test results and publishes or
rejects with a reason; a published version withdrawn with a reason. The same use cases as the CLI and
``/api/v1`` (``app.lifecycle``, ``app.authoring``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from huiqi.app import authoring, lifecycle
from huiqi.app import programmes as use
from huiqi.app.authoring import DraftNotFound, MatchingError, PublishingError
from huiqi.firms.io import TextFileError, decode_any_encoding
from huiqi.rules.errors import Location, Problem, ProgrammeError, UnknownProgramme
from huiqi.rules.yamlpos import MAX_CHARS
from huiqi.web.api.common import actor
from huiqi.web.errors import page_message
from huiqi.web.i18n import N_, _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)

DRAFTS = "/officer/programmes/drafts"
#: a draft's states and the kinds of change of a diff, shown through ``_()`` (msgids in both catalogues)
DRAFT_STATES = (N_("draft"), N_("in-review"), N_("published"), N_("withdrawn"))
CHANGES = (N_("added"), N_("removed"), N_("changed"))


@router.get("/officer/programmes")
def programmes_admin(request: Request) -> Response:
    """The programmes served and the drafts, so an officer sees what is in force and what awaits review."""
    return _programmes_page(request, None)


def _programmes_page(request: Request, result: dict[str, Any] | None) -> Response:
    """The programmes in force and the drafts, with the outcome of a validation or a load if there was one."""
    st = state_of(request)
    return render(
        request,
        "officer_programmes.html",
        {
            "programmes": use.list_programmes(st.registry, lang=language()),
            "drafts": lifecycle.list_drafts(st.store),
            "result": result,
        },
        status=422 if result is not None and not result["ok"] else 200,
    )


def _accepted(message: str) -> dict[str, Any]:
    return {"ok": True, "message": message, "problems": []}


def _refused(exc: ProgrammeError) -> dict[str, Any]:
    return {
        "ok": False,
        "message": _("The file was refused; nothing was loaded."),
        "problems": [str(pr) for pr in exc.problems],
    }


async def _upload(file: UploadFile) -> use.ProgrammeUpload:
    """The uploaded file's text in any encoding the command line reads (GBK, UTF-16, a BOM); a file too
    large, binary or in no encoding is refused naming why (it was refused with no reason at all)."""
    name = file.filename or "upload.programme.yaml"
    raw = await file.read(MAX_CHARS + 1)
    if len(raw) > MAX_CHARS:
        raise ProgrammeError([Problem(Location(name), f"the file is larger than {MAX_CHARS:,} bytes")])
    try:
        text, _encoding = decode_any_encoding(raw, source=name)
    except TextFileError as exc:
        raise ProgrammeError([Problem(Location(name), exc.message)]) from None
    return use.ProgrammeUpload(name, text)


@router.post("/officer/programmes/validate")
async def programme_validate(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    """Check an uploaded file, so an officer knows before loading it."""
    try:
        upload = await _upload(file)
        (checked,) = use.validate_programmes(state_of(request).registry, uploads=[upload], lang=language())
    except ProgrammeError as exc:
        return _programmes_page(request, _refused(exc))
    p = checked.programme
    message = _("%(id)s version %(version)s is valid.") % {"id": p.id, "version": p.version}
    return _programmes_page(request, _accepted(message))


@router.post("/officer/programmes/load")
async def programme_load(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    """Put an uploaded version in force (the operator's bootstrap; officers publish drafts)."""
    st = state_of(request)
    try:
        upload = await _upload(file)
        p = use.load_programme(
            st.store,
            registry=st.registry,
            filename=upload.filename,
            text=upload.text,
            actor=actor(principal_of(request)),
            lang=language(),
        )
    except ProgrammeError as exc:
        return _programmes_page(request, _refused(exc))
    message = _("%(id)s version %(version)s is now in force.") % {"id": p.id, "version": p.version}
    return _programmes_page(request, _accepted(message))


# --- authoring ----------------------------------------------------------------------------------------------


def _problems_of(exc: Exception) -> list[str]:
    if isinstance(exc, ProgrammeError):
        return [str(p) for p in exc.problems] or [_("The file could not be read as UTF-8 text.")]
    if hasattr(exc, "failures"):
        return [page_message(exc), *exc.failures]
    return [page_message(exc)]


def _editor(
    request: Request,
    *,
    draft: lifecycle.DraftDocument | None,
    filename: str,
    text: str,
    tests: str,
    problems: list[str] | None = None,
    message: str | None = None,
    run: use.TestRun | None = None,
    cost: lifecycle.ChangeCost | None = None,
    status: int = 200,
) -> Response:
    """The draft page: the editor (the author, while a draft), the review (a second officer, in review), or
    the version as published; with what the last step said."""
    st = state_of(request)
    me = principal_of(request)
    who = actor(me)
    check = authoring.check_text(st.registry, filename=filename, text=text, tests=tests, lang=language())
    diff = None
    diff_problem = None
    if draft is not None:
        try:
            diff = lifecycle.diff_draft(st.store, registry=st.registry, draft_id=draft.id, lang=language())
        except (ProgrammeError, UnknownProgramme) as exc:
            diff_problem = str(exc)
    same_person = draft is not None and draft.author.split(":", 1)[-1] == who.split(":", 1)[-1]
    context = {
        "draft": draft,
        "filename": filename,
        "text": text,
        "tests": tests,
        "check": check,
        "problems": problems or [],
        "message": message,
        "run": run,
        "cost": cost,
        "cost_problem": None,
        "diff": diff,
        "diff_problem": diff_problem,
        "is_author": draft is None or same_person,
        "examples": sorted(use.example_firms()),
        "today": use.today().isoformat(),
    }
    return render(request, "programme_draft.html", context, status=status)


def _draft_or_404(request: Request, draft_id: int) -> lifecycle.DraftDocument | Response:
    try:
        return lifecycle.get_draft(state_of(request).store, draft_id=draft_id)
    except DraftNotFound:
        detail = _("There is no draft %(id)s.") % {"id": draft_id}
        return render(request, "error.html", {"status": 404, "detail": detail}, status=404)


@router.get(f"{DRAFTS}/new")
def draft_new(request: Request, programme: str = "", version: str = "") -> Response:
    """An editor started from a served version's file (the next version is written from the current one)."""
    text, tests, filename = "", "", "new.programme.yaml"
    problems: list[str] = []
    if programme:
        try:
            src = authoring.programme_source(
                state_of(request).registry, programme_id=programme, version=version or None
            )
            text, tests, filename = src.text, src.tests, src.filename
        except UnknownProgramme as exc:
            problems = [_("Unknown programme: %(id)s") % {"id": str(exc)}]
    return _editor(request, draft=None, filename=filename, text=text, tests=tests, problems=problems)


@router.post("/officer/programmes/check")
def draft_check(
    request: Request,
    text: Annotated[str, Form()] = "",
    tests: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "draft.programme.yaml",
) -> Response:
    """Validation as the officer types: the problems with their lines (an htmx fragment)."""
    check = authoring.check_text(
        state_of(request).registry, filename=filename, text=text, tests=tests, lang=language()
    )
    return render(request, "programme_check.html", {"check": check})


@router.post(DRAFTS)
def draft_create(
    request: Request,
    text: Annotated[str, Form()],
    tests: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "draft.programme.yaml",
) -> Response:
    """Save a new draft (validated first: refused, the editor again with the problems and the text kept)."""
    st = state_of(request)
    try:
        d = lifecycle.create_draft(
            st.store,
            registry=st.registry,
            filename=filename,
            text=text,
            tests=tests,
            actor=actor(principal_of(request)),
        )
    except (ProgrammeError, PublishingError) as exc:
        return _editor(
            request,
            draft=None,
            filename=filename,
            text=text,
            tests=tests,
            problems=_problems_of(exc),
            status=422,
        )
    return RedirectResponse(f"{DRAFTS}/{d.id}", status_code=303)


def _again(
    request: Request,
    draft_id: int,
    *,
    problems: list[str] | None = None,
    message: str | None = None,
    run: use.TestRun | None = None,
    typed: tuple[str, str, str] | None = None,
    cost: lifecycle.ChangeCost | None = None,
    status: int = 200,
) -> Response:
    """The draft's page again (404 when there is no such draft), with the text as typed if refused."""
    d = _draft_or_404(request, draft_id)
    if isinstance(d, Response):
        return d
    filename, text, tests = typed or (d.filename, d.text, d.tests)
    return _editor(
        request,
        draft=d,
        filename=filename,
        text=text,
        tests=tests,
        problems=problems,
        message=message,
        run=run,
        cost=cost,
        status=status,
    )


@router.get(DRAFTS + "/{draft_id}")
def draft_page(request: Request, draft_id: int) -> Response:
    """A draft: the editor for its author, the review for a second officer."""
    return _again(request, draft_id)


def _step(request: Request, draft_id: int, step: Any, done: str, **kwargs: Any) -> Response:
    """Run a lifecycle step on a draft and show the draft again with what it said (a refusal: 422)."""
    st = state_of(request)
    try:
        step(st.store, draft_id=draft_id, actor=actor(principal_of(request)), **kwargs)
    except (ProgrammeError, PublishingError, UnknownProgramme, authoring.AuthoringError) as exc:
        return _again(request, draft_id, problems=_problems_of(exc), status=422)
    return _again(request, draft_id, message=done)


@router.post(DRAFTS + "/{draft_id}")
def draft_save(
    request: Request,
    draft_id: int,
    text: Annotated[str, Form()],
    tests: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "draft.programme.yaml",
) -> Response:
    """Save the draft's text and tests (its author, while a draft); refused, the text as typed is kept."""
    st = state_of(request)
    me = actor(principal_of(request))
    kept = (filename, text, tests)
    try:
        lifecycle.edit_draft(
            st.store,
            registry=st.registry,
            draft_id=draft_id,
            filename=filename,
            text=text,
            tests=tests,
            actor=me,
        )
    except (ProgrammeError, PublishingError) as exc:
        return _again(request, draft_id, problems=_problems_of(exc), typed=kept, status=422)
    return _again(request, draft_id, message=_("Draft saved."))


@router.post(DRAFTS + "/{draft_id}/test")
def draft_test(request: Request, draft_id: int) -> Response:
    """Run the draft's test cases (its own and the pack's outside its period) and show each outcome."""
    st = state_of(request)
    try:
        run = lifecycle.test_draft(st.store, registry=st.registry, draft_id=draft_id)
    except (ProgrammeError, PublishingError) as exc:
        return _again(request, draft_id, problems=_problems_of(exc), status=422)
    if request.headers.get("hx-request") == "true":
        return render(request, "programme_tests.html", {"run": run})
    return _again(request, draft_id, run=run)


@router.post(DRAFTS + "/{draft_id}/cost")
def draft_cost(request: Request, draft_id: int, on: Annotated[str, Form()] = "") -> Response:
    """What publishing the draft would cost over the register in the database (the sandbox's simulation of
    the version it follows against the draft), so the reviewer weighs it before publishing."""
    st = state_of(request)
    problem = None
    cost = None
    try:
        day = dt.date.fromisoformat(on) if on.strip() else None
    except ValueError:
        day, problem = None, _("Date: expected a date like 2025-12-01.")
    if problem is None:
        try:
            cost = lifecycle.change_cost(
                st.store, registry=st.registry, draft_id=draft_id, register="db", on=day
            )
        except (ProgrammeError, PublishingError, MatchingError) as exc:
            problem = (
                " ".join(_problems_of(exc))
                if not isinstance(exc, MatchingError)
                else _("There is no register in the database to cost the change over: import one first.")
            )
    if request.headers.get("hx-request") == "true":
        return render(request, "programme_cost.html", {"cost": cost, "cost_problem": problem})
    return _again(
        request, draft_id, problems=[problem] if problem else None, cost=cost, status=422 if problem else 200
    )


@router.post(DRAFTS + "/{draft_id}/case")
def draft_case(
    request: Request,
    draft_id: int,
    on: Annotated[str, Form()],
    example: Annotated[str, Form()] = "",
    uscc: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Turn a firm profile (an example, or a firm by its credit code) into a test case of the draft."""
    try:
        day = dt.date.fromisoformat(on)
    except ValueError:
        day = None
    if day is None:
        return _refusal(request, draft_id, _("Date: expected a date like 2025-12-01."))
    st = state_of(request)
    return _step(
        request,
        draft_id,
        lambda store, **kw: authoring.add_firm_case(store, registry=st.registry, **kw),
        _("Test case added from the firm's profile: check its expectation."),
        on=day,
        example=example or None,
        uscc=uscc or None,
        name=name,
    )


def _refusal(request: Request, draft_id: int, problem: str) -> Response:
    return _again(request, draft_id, problems=[problem], status=422)


@router.post(DRAFTS + "/{draft_id}/parameter")
def draft_parameter(
    request: Request,
    draft_id: int,
    name: Annotated[str, Form()],
    value: Annotated[str, Form()],
    start: Annotated[str, Form()],
    clause: Annotated[str, Form()] = "",
) -> Response:
    """A dated parameter value from the form (no YAML to write), saved in the draft's file."""
    try:
        day = dt.date.fromisoformat(start)
    except ValueError:
        return _refusal(request, draft_id, _("From: expected a date like 2027-01-01."))
    st = state_of(request)
    return _step(
        request,
        draft_id,
        lambda store, **kw: authoring.set_parameter_value(store, registry=st.registry, **kw),
        _("Parameter %(name)s: %(value)s from %(start)s.") % {"name": name, "value": value, "start": start},
        name=name.strip(),
        value=value,
        start=day,
        clause=clause,
    )


@router.post(DRAFTS + "/{draft_id}/submit")
def draft_submit(request: Request, draft_id: int) -> Response:
    """Ask a second officer to review the draft."""
    return _step(request, draft_id, lifecycle.submit_draft, _("Submitted for review by a second officer."))


@router.post(DRAFTS + "/{draft_id}/publish")
def draft_publish(request: Request, draft_id: int) -> Response:
    """Publish a draft in review (a second officer; its test cases must pass)."""
    st = state_of(request)
    return _step(
        request,
        draft_id,
        lambda store, **kw: lifecycle.publish_draft(store, registry=st.registry, **kw),
        _("Published: the version is in force from its first day."),
    )


@router.post(DRAFTS + "/{draft_id}/reject")
def draft_reject(request: Request, draft_id: int, reason: Annotated[str, Form()] = "") -> Response:
    """Send the draft back to its author with a reason."""
    if not reason.strip():
        return _refusal(request, draft_id, _("Reason: say why the draft goes back to its author."))
    return _step(
        request, draft_id, lifecycle.reject_draft, _("Sent back to its author."), reason=reason.strip()
    )


@router.post("/officer/programmes/withdraw")
def version_withdraw(
    request: Request,
    programme_id: Annotated[str, Form()],
    version: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Take a published version out of force with a reason (it stays readable)."""
    st = state_of(request)
    try:
        lifecycle.withdraw_version(
            st.store,
            registry=st.registry,
            programme_id=programme_id,
            version=version,
            actor=actor(principal_of(request)),
            reason=reason,
        )
    except (ProgrammeError, PublishingError, UnknownProgramme) as exc:
        return _programmes_page(
            request,
            {"ok": False, "message": _("The version was not withdrawn."), "problems": _problems_of(exc)},
        )
    done = _("%(id)s version %(version)s is withdrawn.") % {"id": programme_id, "version": version}
    return _programmes_page(request, _accepted(done))
