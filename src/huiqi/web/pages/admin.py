"""The administrator's pages: user accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from huiqi.accounts import service as accounts
from huiqi.accounts.models import Role
from huiqi.web.api.common import actor
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/admin/users")
def users_page(request: Request) -> Response:
    users = state_of(request).read(lambda s: accounts.list_users(session=s))
    return render(request, "admin_users.html", {"users": users, "roles": [r.value for r in Role]})


@router.post("/admin/users")
def users_submit(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    firm_uscc: Annotated[str, Form()] = "",
) -> Response:
    me = principal_of(request)
    state_of(request).write(
        lambda s: accounts.create_user(
            session=s,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            firm_uscc=firm_uscc or None,
            actor=actor(me),
        )
    )
    return RedirectResponse("/admin/users", status_code=303)
