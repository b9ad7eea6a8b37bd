"""The FastAPI app: REST under /api/v1 (OpenAPI at /api/v1/openapi.json... and /docs), server-rendered pages,
static files (htmx vendored, no CDN), one authorization check for every route."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from huiqi import __version__
from huiqi.app.calls import EVIDENCE_MAX_BYTES
from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store
from huiqi.config import Settings, get_settings
from huiqi.web import errors
from huiqi.web.limits import UPLOAD_SLACK, RequestLimits
from huiqi.web.security import SecurityHeaders, authorize
from huiqi.web.state import AppState

STATIC = Path(__file__).resolve().parent / "static"


def routers() -> list[APIRouter]:
    """Every router of the app, API first; each route's path is complete (the matrix is keyed by it)."""
    from huiqi.web.api import analysis, applications, audit, auth, designation, firms, money, programmes
    from huiqi.web.api import sandbox as sandbox_api
    from huiqi.web.pages import admin, auditor, catalogue, firm, matching, officer, public, review, sandbox
    from huiqi.web.pages import programmes as programme_pages

    return [
        m.router
        for m in (
            auth,
            programmes,
            firms,
            applications,
            money,
            audit,
            analysis,
            sandbox_api,
            designation,
            public,
            catalogue,
            firm,
            officer,
            auditor,
            programme_pages,
            admin,
            review,
            sandbox,
            matching,
        )
    ]


def create_app(settings: Settings | None = None, *, pool_size: int = 10) -> FastAPI:
    settings = settings or get_settings()
    store = Store.open(settings.database_url, pool_size=pool_size)
    app = FastAPI(
        title="huiqi (惠企)",
        version=__version__,
        description="Innovation-incentive programmes: the policy calculator, calls, applications, awards, "
        "payments, the ledger and the audit chain. Errors are application/problem+json; writes that move "
        "money need an Idempotency-Key header.",
        dependencies=[Depends(authorize)],
        openapi_url="/openapi.json",
    )
    app.state.huiqi = AppState(
        settings=settings,
        store=store,
        registry=ProgrammeRegistry(settings.programmes_dir),
    )
    errors.install(app)

    for router in routers():
        app.include_router(router)
    from huiqi.web.api.programmes import lean_routes

    app.router.routes[:0] = lean_routes()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        RequestLimits,
        max_body=settings.max_body_bytes,
        max_upload=EVIDENCE_MAX_BYTES + UPLOAD_SLACK,
        timeout=settings.body_timeout,
    )
    app.add_middleware(SecurityHeaders)

    return app
