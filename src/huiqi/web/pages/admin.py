"""The administrator's pages: user accounts (add, change a role, reset a password, unlock, disable and
re-enable), each a ``huiqi.app.accounts`` use case recorded in the audit chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from huiqi.app import accounts
from huiqi.app.errors import USER_ERRORS, LastAdmin, UserExists, UserNotFound, WeakPassword
from huiqi.web.api.common import actor
from huiqi.web.errors import page_message
from huiqi.web.i18n import N_, _
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


def users_view(
    request: Request,
    *,
    refused: Exception | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """The users page with the outcome of the last action (a refusal keeps what was typed in the form)."""
    users = accounts.list_users(state_of(request).store)
    status = 200 if refused is None else 404 if isinstance(refused, UserNotFound) else 422
    error = None if refused is None else said(refused)
    return render(
        request,
        "admin_users.html",
        {"users": users, "roles": accounts.ROLES, "error": error, "notice": notice, "form": form or {}},
        status=status,
    )


#: Refusals said in the page's language (most specific first); any other keeps the domain's own message.
REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (LastAdmin, N_("This is the last active administrator: make another user an administrator first.")),
    (WeakPassword, N_("A password needs at least 10 characters and no space at either end.")),
    (UserExists, N_("That user name is taken: choose another.")),
    (UserNotFound, N_("There is no such user.")),
)


def said(refused: Exception) -> str:
    """What the page tells the administrator about a refusal, in the page's language where it can."""
    for kind, message in REFUSALS:
        if isinstance(refused, kind):
            return _(message)
    return page_message(refused)


def act(request: Request, work: Callable[[], accounts.UserView], notice: str) -> Response:
    """Run an administrator's action; back to the list with a notice, or the list with the refusal."""
    try:
        done = work()
    except USER_ERRORS as exc:
        return users_view(request, refused=exc)
    return done_redirect(done.username, notice)


def done_redirect(username: str, what: str) -> Response:
    """Back to the list, which then says what was done (after a POST, so a reload repeats nothing)."""
    return RedirectResponse(f"/admin/users?{urlencode({'done': username, 'what': what})}", status_code=303)


#: What the list says after each action (the ``what`` of the redirect).
NOTICES = {
    "created": N_("User {name} was added."),
    "password": N_("User {name} has a new password; their sessions have ended."),
    "unlocked": N_("The failed logins of {name} are forgotten; no delay holds them back."),
    "disabled": N_("User {name} is disabled and logged out everywhere."),
    "enabled": N_("User {name} can log in again."),
    "role": N_("User {name} has a new role."),
}


@router.get("/admin/users")
def users_page(request: Request, done: str = "", what: str = "") -> Response:
    """Every user with role, firm, whether enabled, failed logins, and the actions on each."""
    template = NOTICES.get(what)
    notice = _(template).format(name=done) if template and done else None
    return users_view(request, notice=notice)


@router.post("/admin/users")
def users_submit(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    firm_uscc: Annotated[str, Form()] = "",
) -> Response:
    """Add a user; a refusal shows the list again with the reason and the form as typed (not the password)."""
    me = principal_of(request)
    try:
        made = accounts.create_user(
            state_of(request).store,
            username=username.strip(),
            password=password,
            role=role,
            display_name=display_name.strip(),
            firm_uscc=firm_uscc.strip() or None,
            actor=actor(me),
        )
    except USER_ERRORS as exc:
        typed = {"username": username, "display_name": display_name, "role": role, "firm_uscc": firm_uscc}
        return users_view(request, refused=exc, form=typed)
    return done_redirect(made.username, "created")


@router.post("/admin/users/{username}/password")
def password_submit(username: str, request: Request, password: Annotated[str, Form()]) -> Response:
    """Give the user a new password (their sessions end)."""
    st, by = state_of(request).store, actor(principal_of(request))
    return act(
        request,
        lambda: accounts.reset_password(st, username=username, password=password, actor=by),
        "password",
    )


@router.post("/admin/users/{username}/unlock")
def unlock_submit(username: str, request: Request) -> Response:
    """Forget the user's failed logins."""
    st, by = state_of(request).store, actor(principal_of(request))
    return act(request, lambda: accounts.unlock_user(st, username=username, actor=by), "unlocked")


@router.post("/admin/users/{username}/disable")
def disable_submit(username: str, request: Request) -> Response:
    """Stop the user logging in; their sessions end."""
    st, by = state_of(request).store, actor(principal_of(request))
    return act(request, lambda: accounts.disable_user(st, username=username, actor=by), "disabled")


@router.post("/admin/users/{username}/enable")
def enable_submit(username: str, request: Request) -> Response:
    """Let a disabled user log in again."""
    st, by = state_of(request).store, actor(principal_of(request))
    return act(request, lambda: accounts.enable_user(st, username=username, actor=by), "enabled")


@router.post("/admin/users/{username}/role")
def role_submit(
    username: str,
    request: Request,
    role: Annotated[str, Form()],
    firm_uscc: Annotated[str, Form()] = "",
) -> Response:
    """Give the user another role (a firm member: the firm's credit code)."""
    st, by = state_of(request).store, actor(principal_of(request))
    firm = firm_uscc.strip() or None
    return act(
        request,
        lambda: accounts.change_role(st, username=username, role=role, firm_uscc=firm, actor=by),
        "role",
    )
