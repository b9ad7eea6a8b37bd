"""Sessions, CSRF and the authorization check every request goes through.

* A browser holds the session token in an HttpOnly, SameSite=Lax cookie (Secure over https); API clients may
  send it as ``Authorization: Bearer <token>`` instead.
* Every unsafe request (POST/PUT/PATCH/DELETE) authenticated by the cookie must carry the session's CSRF
  token (form field ``csrf_token`` or header ``X-CSRF-Token``). Anonymous form posts (login, calculator) carry
  a token derived from a random pre-session cookie with the secret key. Bearer requests need none: a browser
  never adds that header on its own.
* Cookie-authenticated unsafe requests (and anonymous form posts) that a browser marks as coming from another
  site (``Sec-Fetch-Site: cross-site`` or ``same-site``; without it, an ``Origin`` other than the Host) are
  refused before the token is even looked at.
* Money-moving writes (the routes that take an Idempotency-Key) are rate-limited per user in the database
  (``HUIQI_MONEY_RATE_LIMIT`` per ``HUIQI_MONEY_RATE_WINDOW`` seconds), so the limit holds across workers.
* Every answer carries ``SECURITY_HEADERS`` (``SecurityHeaders`` middleware).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huiqi.app import accounts
from huiqi.app.accounts import Role
from huiqi.web.authz import FRAMEWORK_ROUTES, MATRIX, Access
from huiqi.web.i18n import language, pick_language, set_language
from huiqi.web.state import AppState

SESSION_COOKIE = "huiqi_session"
ANON_COOKIE = "huiqi_anon"
LANG_COOKIE = "huiqi_lang"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class Forbidden(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status_code=403, detail=detail)


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            status_code=401,
            detail="log in first (POST /api/v1/auth/login, or the login page)",
            headers={"WWW-Authenticate": "Bearer"},
        )


class RouteNotInMatrix(RuntimeError):
    """A route nobody decided access for: a programming error, never served."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    display_name: str
    role: Role
    firm_uscc: str | None
    csrf_token: str
    token: str
    via: str  # "cookie" or "bearer"
    access: Access

    @property
    def is_firm(self) -> bool:
        return self.role is Role.FIRM_MEMBER

    def may_see_all_firms(self) -> bool:
        return self.role in self.access.roles

    def check_firm(self, uscc: str) -> None:
        """Refuse a firm member (allowed on this route for their own firm only) another firm's data."""
        if self.role not in self.access.roles and uscc != self.firm_uscc:
            raise Forbidden("this belongs to another firm; you can see and act only for your own firm")

    def firm_filter(self) -> str | None:
        """The firm lists must be limited to, or None when the role sees every firm."""
        return None if self.may_see_all_firms() else self.firm_uscc


def state_of(request: Request) -> AppState:
    st: AppState = request.app.state.huiqi
    return st


def anon_csrf(secret: str, anon: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{anon}".encode(), hashlib.sha256).hexdigest()


def route_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    path = getattr(route, "path", None)  # routers carry their full prefix, so this is the whole template
    if path is None:
        for candidate in request.app.router.routes:
            match, _ = candidate.matches(request.scope)
            if match is Match.FULL:
                path = getattr(candidate, "path", None)
                break
    return request.method, str(path)


def _token(request: Request) -> tuple[str | None, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


async def _submitted_csrf(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def authorize(request: Request) -> None:
    """The app-wide dependency: language, who is calling, CSRF, and the matrix cell for this route."""
    set_language(
        pick_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
    )
    method, path = route_key(request)
    if path in FRAMEWORK_ROUTES:
        return
    access = MATRIX.get((method, path))
    if access is None:
        raise RouteNotInMatrix(f"{method} {path} is not in the authorization matrix (huiqi.web.authz.MATRIX)")
    st = state_of(request)
    token, via = _token(request)
    principal: Principal | None = None
    if token:
        found = accounts.session_user(st.store, token=token)
        if found is not None:
            principal = Principal(
                user_id=found.user_id,
                username=found.username,
                display_name=found.display_name,
                role=found.role,
                firm_uscc=found.firm_uscc,
                csrf_token=found.csrf_token,
                token=token,
                via=via,
                access=access,
            )
    request.state.principal = principal
    request.state.access = access
    if not access.public:
        if principal is None:
            raise LoginRequired()
        if not access.allows(principal.role):
            raise Forbidden(f"a {principal.role.value.replace('_', ' ')} may not use {method} {path}")
    if method in UNSAFE:
        await _check_csrf(request, principal, st.settings.secret_key, path)
        if principal is not None and (method, path) in money_routes():
            _limit_money_writes(st, principal)


def cross_site(request: Request) -> str | None:
    """Why the browser says this request comes from another site, or None. ``Sec-Fetch-Site`` is set by the
    browser and cannot be changed by a page; older browsers send only ``Origin``."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = (request.headers.get("host") or "").lower()
    return None if urlsplit(origin).netloc.lower() == host else f"Origin: {origin}"


async def _check_csrf(request: Request, principal: Principal | None, secret: str, path: str) -> None:
    if principal is not None and principal.via == "bearer":
        return
    is_api = path.startswith("/api/")
    if principal is not None or not is_api:
        reason = cross_site(request)
        if reason is not None:
            raise Forbidden(
                f"this request came from another site ({reason}); nothing was done. Use the form on this "
                "site's own page"
            )
    if principal is None:
        if is_api:
            # Anonymous API writes (login, the calculator) must be JSON (certificate verification: the
            # PDF itself): a cross-site form cannot send either without a CORS preflight, which this app
            # never grants.
            ctype = request.headers.get("content-type", "")
            if not ctype.startswith("application/json") and not (
                path == "/api/v1/certificates/verify" and ctype.startswith("application/pdf")
            ):
                raise HTTPException(415, detail="send this request as application/json")
            return
        anon = request.cookies.get(ANON_COOKIE)
        sent = await _submitted_csrf(request)
        if not anon or not sent or not hmac.compare_digest(sent, anon_csrf(secret, anon)):
            raise Forbidden(
                "the form has expired or did not come from this site; reload the page and try again"
            )
        return
    sent = await _submitted_csrf(request)
    if not sent or not hmac.compare_digest(sent, principal.csrf_token):
        raise Forbidden(
            "missing or wrong CSRF token: send the X-CSRF-Token header (from login) or reload the form"
        )


@functools.cache
def money_routes() -> frozenset[tuple[str, str]]:
    """The (method, path) of every money-moving write: the routes that take an Idempotency-Key (the API's
    header or a page form's ``idempotency_key`` field). Read from the routes once, so a new money route is
    limited without being listed anywhere."""
    from huiqi.web.app import routers  # the app imports this module

    keys: set[tuple[str, str]] = set()
    for router in routers():
        for route in router.routes:
            if isinstance(route, APIRoute) and _takes_idempotency_key(route.dependant):
                keys.update((m, route.path) for m in route.methods or () if m in UNSAFE)
    return frozenset(keys)


def _takes_idempotency_key(dependant: Dependant) -> bool:
    return (
        any(p.alias.lower() == "idempotency-key" for p in dependant.header_params)
        or any(p.name == "idempotency_key" for p in dependant.body_params)
        or any(_takes_idempotency_key(d) for d in dependant.dependencies)
    )


def _limit_money_writes(st: AppState, principal: Principal) -> None:
    """Count this write for its user in the database (committed before the handler runs, so every worker sees
    it) or refuse it with 429, uncounted, when the user is at the limit; the handler then never runs, so no
    money moves."""
    limit = st.settings.money_rate_limit
    if limit <= 0:
        return
    window = dt.timedelta(seconds=st.settings.money_rate_window)
    accounts.count_money_write(st.store, user_id=principal.user_id, limit=limit, window=window)


def principal_of(request: Request) -> Principal:
    p: Principal | None = getattr(request.state, "principal", None)
    if p is None:
        raise LoginRequired()
    return p


def maybe_principal(request: Request) -> Principal | None:
    p: Principal | None = getattr(request.state, "principal", None)
    return p


def back_to(request: Request) -> str:
    """The page to come back to after logging in: this address for a GET; for a POST (a form sent after
    the session expired) the same-site page the form was on, never the POST's own address (GET: a 405)."""
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return request.url.path + ("?" + query if query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    host = (request.headers.get("host") or "").lower()
    if referer.netloc.lower() != host or not referer.path.startswith("/") or referer.path == "/login":
        return "/"
    return referer.path + ("?" + referer.query if referer.query else "")


def login_redirect(request: Request) -> Response:
    """A page that needs a login: to the login form, saying so when the session has expired, with the page
    to come back to; the page's language is kept in the language cookie so the user comes back in it."""
    params = {"next": back_to(request)}
    if request.cookies.get(SESSION_COOKIE):
        params["expired"] = "1"
    response = RedirectResponse("/login?" + urlencode(params), status_code=303)
    response.set_cookie(LANG_COOKIE, language(), **cookie_args(request, max_age=365 * 24 * 3600))
    return response


def new_anon() -> str:
    return secrets.token_urlsafe(24)


def cookie_args(request: Request, max_age: int | None = None) -> dict[str, Any]:
    """With ``max_age``, Expires too, the same instant as an RFC 7231 date: browsers that ignore Max-Age
    (old Internet Explorer) would otherwise keep the cookie until they close."""
    args: dict[str, Any] = {
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "path": "/",
    }
    if max_age is not None:
        args["max_age"] = max_age
        args["expires"] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max_age)
    return args


#: Sent with every answer (an answer that sets one itself keeps its own): no MIME sniffing, no framing by
#: other sites (clickjacking), no full URLs leaked to other sites.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Pure ASGI middleware adding ``SECURITY_HEADERS`` to every HTTP answer (cheaper than BaseHTTPMiddleware
    and it leaves streamed bodies alone)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
