"""Logging in and out, and user administration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.accounts.errors import InvalidCredentials
from huiqi.accounts.models import Role
from huiqi.web.api.common import actor
from huiqi.web.security import SESSION_COOKIE, Principal, cookie_args, principal_of, state_of

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


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def do_login(request: Request, username: str, password: str) -> accounts.Login:
    """Rate-limited login; a failure is recorded in its own transaction so that it counts."""
    st = state_of(request)
    address = client_address(request)
    previous = request.cookies.get(SESSION_COOKIE)
    try:
        return st.write(
            lambda s: accounts.start_session(
                session=s,
                user=accounts.authenticate(session=s, username=username, password=password, address=address),
                previous_token=previous,
            )
        )
    except InvalidCredentials:
        st.write(lambda s: accounts.record_failure(session=s, username=username, address=address))
        raise


def set_session_cookie(request: Request, response: Response, login: accounts.Login) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        login.token,
        **cookie_args(request, max_age=int(accounts.SESSION_LIFETIME.total_seconds())),
    )


def _user_out(u: Any) -> UserOut:
    return UserOut(username=u.username, display_name=u.display_name, role=u.role, firm_uscc=u.firm_uscc)


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginBody, request: Request, response: Response) -> LoginOut:
    """Log in: a new session (any session this client had is ended)."""
    result = do_login(request, body.username, body.password)
    set_session_cookie(request, response, result)
    return LoginOut(
        token=result.token,
        csrf_token=result.csrf_token,
        expires_at=result.expires_at.isoformat(),
        user=_user_out(result.user),
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, me: Me) -> Response:
    state_of(request).write(lambda s: accounts.end_session(session=s, token=me.token))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=UserOut)
def me(me: Me) -> UserOut:
    return UserOut(
        username=me.username, display_name=me.display_name, role=me.role.value, firm_uscc=me.firm_uscc
    )


@router.get("/users", response_model=list[UserOut])
def list_users(request: Request) -> list[UserOut]:
    return state_of(request).read(lambda s: [_user_out(u) for u in accounts.list_users(session=s)])


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: NewUser, request: Request, me: Me) -> UserOut:
    def work(s: Session) -> UserOut:
        return _user_out(
            accounts.create_user(
                session=s,
                username=body.username,
                password=body.password,
                role=body.role,
                display_name=body.display_name,
                firm_uscc=body.firm_uscc,
                actor=actor(me),
            )
        )

    return state_of(request).write(work)


@router.post("/users/{username}/password", status_code=204)
def set_password(username: str, body: NewPassword, request: Request, me: Me) -> Response:
    state_of(request).write(
        lambda s: accounts.set_password(session=s, username=username, password=body.password, actor=actor(me))
    )
    return Response(status_code=204)
