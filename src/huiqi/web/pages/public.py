"""Public pages: home, the policy calculator, published lists; login and language (the catalogue of
programmes is pages/catalogue.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from huiqi.app import accounts
from huiqi.app import programmes as use
from huiqi.app.accounts import Role
from huiqi.app.disclosure import disclosure
from huiqi.app.errors import AccountDisabled, AccountsError, InvalidCredentials, TooManyAttempts
from huiqi.firms import ProfileError
from huiqi.firms.io import parse_text
from huiqi.web.api.auth import do_login, set_session_cookie
from huiqi.web.i18n import LANGUAGES, _, language
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


@router.get("/calculator")
def calculator_form(
    request: Request,
    example: str = "small-ai-firm",
    all_cities: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    examples = example_firms()
    return render(
        request,
        "calculator.html",
        {
            "examples": sorted(examples),
            "example": example,
            "profile": examples.get(example, ""),
            "on": use.today().isoformat(),
            "all_cities": all_cities,
            "outcome": None,
            "problems": [],
        },
    )


@router.post("/calculator")
def calculator_submit(
    request: Request,
    profile: Annotated[str, Form()],
    on: Annotated[str, Form()] = "",
    all_cities: Annotated[bool, Form(alias="all")] = False,
) -> Response:
    """The same answer as the API (same scope: the firm's city in force on the date, or every city's with the
    checkbox), rendered."""
    problems: list[str] = []
    outcome: use.Calculation | None = None
    try:
        when = dt.date.fromisoformat(on) if on else use.today()
    except ValueError:
        problems.append(_("Date: expected a date like 2025-12-01."))
        when = use.today()
    if not problems:
        try:
            firm = use.parse_firm(parse_text(profile, source="profile"), source="profile")
            outcome = use.check_firm(
                state_of(request).registry, firm=firm, on=when, all_cities=all_cities, lang=language()
            )
        except ProfileError as exc:
            problems = [str(p) for p in exc.problems]
    fragment = request.headers.get("hx-request") == "true"
    context = {
        "outcome": outcome,
        "problems": problems,
        "profile": profile,
        "on": when.isoformat(),
        "all_cities": all_cities,
        "examples": sorted(example_firms()),
        "example": "",
    }
    return render(
        request,
        "calculator_results.html" if fragment else "calculator.html",
        context,
        status=200 if not problems else 422,
    )


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
        return render(request, "login.html", {**again, "error": str(exc)}, status=429, headers=headers)
    except AccountDisabled:
        error = _("This account is disabled: ask an administrator to enable it again.")
        return render(request, "login.html", {**again, "error": error})
    except InvalidCredentials:
        return render(request, "login.html", {**again, "error": _("Wrong user name or password.")})
    except AccountsError as exc:
        return render(request, "login.html", {**again, "error": str(exc)})
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
