"""Public pages: home, the policy calculator, published lists; login and language (the catalogue of
programmes is pages/catalogue.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from huiqi.app import accounts
from huiqi.app import programmes as use
from huiqi.app.accounts import Role
from huiqi.app.disclosure import disclosure
from huiqi.app.errors import (
    AccountDisabled,
    AccountsError,
    FirmProfileNotFound,
    InvalidCredentials,
    TooManyAttempts,
)
from huiqi.firms import Firm, ProfileError
from huiqi.firms.io import parse_text
from huiqi.firms.profile import Sector
from huiqi.web.api.auth import do_login, set_session_cookie
from huiqi.web.api.common import WebError
from huiqi.web.calculator import (
    CITIES,
    CREDIT_KINDS,
    DESIGNATIONS,
    ROWS,
    SUBSECTORS,
    Answers,
    answers_from_form,
    answers_of,
    plain_check,
    problem_text,
    read_date,
    years_for,
)
from huiqi.web.errors import page_message
from huiqi.web.i18n import LANGUAGES, _, language
from huiqi.web.labels import CONTRACT_KINDS, DISTRICTS
from huiqi.web.security import (
    LANG_COOKIE,
    SESSION_COOKIE,
    cookie_args,
    maybe_principal,
    principal_of,
    state_of,
)
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


def example_firms() -> dict[str, str]:
    """The bundled example profiles (name -> JSON text) the forms offer."""
    return use.example_firms()


def example_names(lang: str) -> dict[str, str]:
    """Each bundled example by its firm's name in the page's language (the file's name when it has none)."""
    names = {}
    for key, text in example_firms().items():
        data = json.loads(text)
        names[key] = (data.get("name_en") if lang == "en" else None) or data.get("name_zh") or key
    return names


def home_of(role: Role, firm_uscc: str | None) -> str:
    return {
        Role.FIRM_MEMBER: f"/firms/{firm_uscc}",
        Role.OFFICER: "/officer",
        Role.REVIEWER: "/review",
        Role.AUDITOR: "/audit",
        Role.ADMIN: "/admin/users",
    }[role]


@router.get("/")
def index(request: Request) -> Response:
    programmes = use.list_programmes(state_of(request).registry, lang=language())
    return render(request, "index.html", {"programmes": programmes})


@router.get("/home")
def home(request: Request) -> Response:
    me = principal_of(request)
    return RedirectResponse(home_of(me.role, me.firm_uscc), status_code=303)


def calculator_context(
    request: Request, answers: Answers, *, on: dt.date, all_cities: bool, example: str = "", profile: str = ""
) -> dict[str, Any]:
    """What the questionnaire's template needs: the answers, the choices in the page's language."""
    registry = state_of(request).registry
    lang = language()
    return {
        "answers": answers,
        "examples": sorted(example_firms()),
        "example_names": example_names(language()),
        "example": example,
        "profile": profile,
        "on": on.isoformat(),
        "all_cities": all_cities,
        "outcome": None,
        "profile_problems": [],
        "date_problem": "",
        "plain_check": plain_check,
        "sectors": [(s.value, _(s.value)) for s in Sector],
        "subsectors": [(k, _(k)) for k in SUBSECTORS],
        "enterprise_types": [(k, _(k)) for k in ("industrial", "service")],
        "cities": [(c, _(c)) for c in CITIES],
        "districts": [(d, _(d)) for d in DISTRICTS],
        "contract_kinds": [(k, _(k)) for k in CONTRACT_KINDS],
        "tenures": [(k, _(k)) for k in ("rented", "owned")],
        "credit_kinds": [(k, _(k)) for k in CREDIT_KINDS],
        "designations": [(k, _(v)) for k, v in DESIGNATIONS.items()]
        + [
            (k.removeprefix("designation."), k.removeprefix("designation."))
            for k in answers.values
            if k.startswith("designation.") and k.removeprefix("designation.") not in DESIGNATIONS
        ],
        "programme_choices": sorted(
            {(p.id, p.name) for p in use.list_programmes(registry, lang=lang)}, key=lambda c: c[0]
        ),
    }


@router.get("/calculator")
def calculator_form(
    request: Request,
    example: str = "",
    all_cities: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    """The questionnaire: empty, an example's answers, or a logged-in firm's stored profile."""
    examples = example_firms()
    on = use.today()
    firm: Firm | None = None
    me = maybe_principal(request)
    if example in examples:
        firm = use.parse_firm(parse_text(examples[example], source="example"))
    elif not example and me is not None and me.firm_uscc:
        try:
            firm = accounts.firm_profile(state_of(request).store, uscc=me.firm_uscc)
        except FirmProfileNotFound:
            firm = None
    text = examples.get(example, "")
    if firm is not None and not text:
        text = json.dumps(firm.model_dump(mode="json"), ensure_ascii=False, indent=2)
    context = calculator_context(
        request, answers_of(firm, on), on=on, all_cities=all_cities, example=example, profile=text
    )
    return render(request, "calculator.html", context)


@router.post("/calculator")
async def calculator_submit(request: Request) -> Response:
    """The same answer as the API (same scope: the firm's city in force on the date, or every city's with the
    checkbox), rendered; from the questionnaire (``mode=form``) or the advanced box's JSON or YAML. Problems
    stand beside their fields, every answer kept (status 422)."""
    form = {k: v for k, v in (await request.form()).multi_items() if isinstance(v, str)}
    profile = form.get("profile", "")
    all_cities = form.get("all", "") in ("true", "on", "1")
    on = form.get("on", "").strip()
    date_problem = ""
    try:
        when = read_date(on) if on else use.today()
    except ValueError:
        date_problem, when = _("Expected a date such as 2025-12-01."), use.today()
    saving = form.get("mode") == "save"  # a firm's member keeps the answers as its profile
    questionnaire = saving or form.get("mode") == "form" or "profile" not in form
    answers = answers_from_form(form, when) if questionnaire else Answers({}, years_for(when), dict(ROWS))
    if saving and not answers.errors:
        return save_answers(request, answers)
    context = calculator_context(request, answers, on=when, all_cities=all_cities, profile=profile)
    context["date_problem"] = date_problem
    if not date_problem and not answers.errors:
        try:
            data = answers.profile if questionnaire else parse_text(profile, source="profile")
            firm = use.parse_firm(data, source="profile")
            context["outcome"] = use.check_firm(
                state_of(request).registry, firm=firm, on=when, all_cities=all_cities, lang=language()
            )
            if not questionnaire:
                context["answers"] = answers_of(firm, when)
        except ProfileError as exc:
            context["profile_problems"] = [problem_text(p) for p in exc.problems] or [str(exc)]
    failed = bool(date_problem or answers.errors or context["profile_problems"])
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "calculator_form.html" if fragment else "calculator.html",
        context,
        status=422 if failed else 200,
    )


def save_answers(request: Request, answers: Answers) -> Response:
    """The questionnaire's answers kept as the logged-in firm's profile (its own credit code), then its page;
    refused, the questionnaire again with the problems beside their fields."""
    me = principal_of(request)
    if not me.firm_uscc:
        raise WebError(403, _("Only a member of a firm can save the answers as its profile."))
    try:
        accounts.save_firm_profile(
            state_of(request).store, data=answers.profile | {"uscc": me.firm_uscc}, actor=f"web:{me.username}"
        )
    except ProfileError as exc:
        for p in exc.problems:
            answers.errors.setdefault(p.path or "profile", problem_text(p))
        context = calculator_context(request, answers, on=use.today(), all_cities=False)
        fragment = request.headers.get("hx-request") == "true"
        return render(request, "calculator_form.html" if fragment else "calculator.html", context, status=422)
    target = f"/firms/{me.firm_uscc}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.get("/published")
def published(request: Request) -> Response:
    """The calls open to firms and the awards granted (public disclosure, 公示)."""
    shown = disclosure(state_of(request).store)
    return render(
        request,
        "published.html",
        {"calls": shown.calls, "designated_calls": shown.designated_calls, "awards": shown.awards},
    )


@router.get("/lang/{lang}")
def switch_language(lang: str, request: Request, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, **cookie_args(request, max_age=365 * 24 * 3600))
    return response


@router.get("/login")
def login_form(request: Request, next: str = "", expired: bool = False) -> Response:
    """The login form; after an expired session it says so and brings the user back to ``next``."""
    return render(request, "login.html", {"next": next, "error": None, "expired": expired})


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    """Log in from the form; refused, the form again with the reason and the user name as typed."""
    again = {"next": next, "username": username}
    try:
        result = do_login(request, username.strip(), password)
    except TooManyAttempts as exc:  # with the API's Retry-After
        headers = {"Retry-After": str(exc.retry_after_seconds)}
        return render(
            request, "login.html", {**again, "error": page_message(exc)}, status=429, headers=headers
        )
    except AccountDisabled:
        error = _("This account is disabled: ask an administrator to enable it again.")
        return render(request, "login.html", {**again, "error": error})
    except InvalidCredentials:
        return render(request, "login.html", {**again, "error": _("Wrong user name or password.")})
    except AccountsError as exc:
        return render(request, "login.html", {**again, "error": page_message(exc)})
    target = (
        next
        if next.startswith("/") and not next.startswith("//")
        else home_of(Role(result.user.role), result.user.firm_uscc)
    )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, result)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End this browser's session and go home."""
    me = maybe_principal(request)
    if me is not None:
        accounts.log_out(state_of(request).store, token=me.token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
