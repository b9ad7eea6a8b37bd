"""Jinja2 with Babel's gettext: every page gets the caller, the language, a CSRF token and the filters."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from huiqi.web import i18n, labels, reasons
from huiqi.web.security import ANON_COOKIE, anon_csrf, cookie_args, maybe_principal, new_anon, state_of

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["yuan"] = i18n.money
    env.filters["local"] = i18n.local_time
    env.filters["keys"] = labels.keys_shown
    env.filters["reason"] = reasons.reason_shown
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = maybe_principal(request)
    anon = request.cookies.get(ANON_COOKIE)
    set_anon = False
    if principal is None and not anon:
        anon, set_anon = new_anon(), True
    if principal is not None:
        csrf = principal.csrf_token
    else:
        csrf = anon_csrf(state_of(request).settings.secret_key, anon or "")
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=principal,
            lang=i18n.language(),
            csrf_token=csrf,
            path=request.url.path,
            **(context or {}),
        )
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if set_anon and anon:
        response.set_cookie(ANON_COOKIE, anon, **cookie_args(request, max_age=24 * 3600))
    return response
