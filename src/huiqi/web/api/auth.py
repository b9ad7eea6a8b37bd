"""Logging in and out, and user administration (create, list, reset a password, unlock, disable, enable,
change a role), each a ``huiqi.app.accounts`` use case."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from huiqi.app import accounts
from huiqi.app.accounts import Role
from huiqi.web.api.common import actor
from huiqi.web.security import SESSION_COOKIE, LoginRequired, Principal, cookie_args, principal_of, state_of

router = APIRouter(prefix="/api/v1", tags=["accounts"])
Me = Annotated[Principal, Depends(principal_of)]


class LoginBody(BaseModel):
    username: str
    password: str


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str
    firm_uscc: str | None
    active: bool = Field(True, description="false: disabled by an administrator, cannot log in")
    failures: int = Field(0, description="failed logins for this name within the last hour")
    delayed_until: str | None = Field(
        None, description="until when some address must wait before logging in as this user (UTC)"
    )


class LoginOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>` (or keep the cookie)")
    csrf_token: str = Field(description="send as X-CSRF-Token on writes made with the cookie")
    expires_at: str
    user: UserOut


class NewUser(BaseModel):
    username: str
    password: str
    role: Role
    display_name: str = ""
    firm_uscc: str | None = None


class NewPassword(BaseModel):
    password: str


class NewRole(BaseModel):
    role: Role
    firm_uscc: str | None = Field(None, description="the firm a firm member acts for; empty for staff")


def client_address(request: Request) -> str:
    """The caller's address (the proxy's forwarded one under --proxy-headers): a key of login throttling."""
    return request.client.host if request.client else "unknown"


def do_login(request: Request, username: str, password: str) -> accounts.LoginView:
    """A login from this request's address; the session the browser had before is ended."""
    return accounts.log_in(
        state_of(request).store,
        username=username,
        password=password,
        address=client_address(request),
        previous_token=request.cookies.get(SESSION_COOKIE),
    )


def set_session_cookie(request: Request, response: Response, login: accounts.LoginView) -> None:
    """Hand the browser its session token as an HttpOnly cookie living as long as the session."""
    response.set_cookie(
        SESSION_COOKIE,
        login.token,
        **cookie_args(request, max_age=int(accounts.SESSION_LIFETIME.total_seconds())),
    )


def user_out(u: accounts.UserView) -> UserOut:
    """The API's view of a user."""
    until = u.delayed_until.isoformat() if u.delayed_until else None
    return UserOut(
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        firm_uscc=u.firm_uscc,
        active=u.active,
        failures=u.failures,
        delayed_until=until,
    )


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginBody, request: Request, response: Response) -> LoginOut:
    """Log in: a new session (any session this client had is ended). After failed logins for this name
    from this address, 429 with Retry-After until the delay has run (docs/security.md)."""
    result = do_login(request, body.username, body.password)
    set_session_cookie(request, response, result)
    return LoginOut(
        token=result.token,
        csrf_token=result.csrf_token,
        expires_at=result.expires_at.isoformat(),
        user=user_out(result.user),
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, me: Me) -> Response:
    """End this session."""
    accounts.log_out(state_of(request).store, token=me.token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=UserOut)
def me(request: Request, me: Me) -> UserOut:
    """Who this session belongs to (read afresh: a role changed since is shown)."""
    found = accounts.session_user(state_of(request).store, token=me.token)
    if found is None:  # ended between the check and now
        raise LoginRequired()
    return UserOut(
        username=found.username,
        display_name=found.display_name,
        role=found.role.value,
        firm_uscc=found.firm_uscc,
    )


@router.get("/users", response_model=list[UserOut])
def list_users(request: Request) -> list[UserOut]:
    """Every user: role, firm, enabled or not, and failed logins held against the name."""
    return [user_out(u) for u in accounts.list_users(state_of(request).store)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: NewUser, request: Request, me: Me) -> UserOut:
    """A new user (a firm member names the firm's credit code; staff none)."""
    made = accounts.create_user(
        state_of(request).store,
        username=body.username,
        password=body.password,
        role=body.role.value,
        display_name=body.display_name,
        firm_uscc=body.firm_uscc,
        actor=actor(me),
    )
    return user_out(made)


@router.post("/users/{username}/password", status_code=204)
def set_password(username: str, body: NewPassword, request: Request, me: Me) -> Response:
    """A new password: the user's sessions end and their failed logins are forgotten."""
    accounts.reset_password(
        state_of(request).store, username=username, password=body.password, actor=actor(me)
    )
    return Response(status_code=204)


@router.post("/users/{username}/unlock", response_model=UserOut)
def unlock_user(username: str, request: Request, me: Me) -> UserOut:
    """Forget the user's failed logins: no login delay holds them back any more."""
    return user_out(accounts.unlock_user(state_of(request).store, username=username, actor=actor(me)))


@router.post("/users/{username}/disable", response_model=UserOut)
def disable_user(username: str, request: Request, me: Me) -> UserOut:
    """The user can no longer log in and their sessions end now (not the last active administrator)."""
    return user_out(accounts.disable_user(state_of(request).store, username=username, actor=actor(me)))


@router.post("/users/{username}/enable", response_model=UserOut)
def enable_user(username: str, request: Request, me: Me) -> UserOut:
    """A disabled user may log in again."""
    return user_out(accounts.enable_user(state_of(request).store, username=username, actor=actor(me)))


@router.put("/users/{username}/role", response_model=UserOut)
def change_role(username: str, body: NewRole, request: Request, me: Me) -> UserOut:
    """Another role for the user (a firm member: with the firm's credit code), from their next request."""
    changed = accounts.change_role(
        state_of(request).store,
        username=username,
        role=body.role.value,
        firm_uscc=body.firm_uscc,
        actor=actor(me),
    )
    return user_out(changed)
