"""Officer pages (dashboard, programmes, calls, the applications queue, pools, the money actions on an
application), the auditor's pages (audit log, ledger and chain verification; read-only) and user admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.applications import service as apps
from huiqi.applications.models import Application
from huiqi.audit import chain as audit
from huiqi.ledger import service as ledger
from huiqi.ledger.verify import verify_ledger
from huiqi.web import charts
from huiqi.web.api.applications import check_application
from huiqi.web.api.audit import audit_page
from huiqi.web.api.common import actor
from huiqi.web.api.money import (
    NewPool,
    clawback_application,
    create_pool,
    decide_application,
    grant_application,
    pay_tranche,
)
from huiqi.web.api.views import application_dict, pool_dict
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.i18n import SHANGHAI, _, language
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


def _back(application_id: str) -> Response:
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


# --- dashboard ----------------------------------------------------------------------------------------------


def _demand(request: Request, on: dt.date) -> tuple[dict[str, Decimal], int, str]:
    st = state_of(request)
    programmes = st.registry.programmes()
    register = st.settings.register_dir
    if register is not None and register.is_dir():
        cache_key = (str(register), on.isoformat())
        if cache_key not in st.demand_cache:
            from huiqi.firms.register import read_register

            demand, n = charts.matched_demand(programmes, read_register(register), on)
            st.demand_cache[cache_key] = {"demand": demand, "n": n}
        cached = st.demand_cache[cache_key]
        return cached["demand"], int(cached["n"]), _("the synthetic register")  # type: ignore[return-value,call-overload]
    firms = st.read(
        lambda s: [
            accounts.get_firm_profile(session=s, uscc=r.uscc)
            for r in accounts.list_firm_profiles(session=s, limit=10_000)[1]
        ]
    )
    demand, n = charts.matched_demand(programmes, firms, on)
    return demand, n, _("the firms' stored profiles")


@router.get("/officer")
def dashboard(request: Request) -> Response:
    st = state_of(request)
    on = today_in_shanghai()

    def work(s: Session) -> dict[str, Any]:
        pools = ledger.list_pools(session=s)
        states = dict(s.execute(select(Application.state, func.count()).group_by(Application.state)).all())
        return {
            "pools": [pool_dict(p) for p in pools],
            "burn": [charts.line_chart(f"{p.name}", charts.burn_down(s, p), p.size) for p in pools],
            "by_sector": charts.awards_by(s, "sector"),
            "by_district": charts.awards_by(s, "district"),
            "states": states,
        }

    data = st.read(work)
    demand, n, source = _demand(request, on)
    pool_sizes = {p["id"]: Decimal(p["size"]) for p in data["pools"]}
    rows = charts.demand_vs_pools(st.registry.programmes(), demand, pool_sizes, language())
    return render(
        request,
        "dashboard.html",
        {
            **data,
            "sector_chart": charts.bar_chart(
                _("Awards by sector"), [(_(k), [v]) for k, v in data["by_sector"]], [_("awarded")]
            ),
            "district_chart": charts.bar_chart(
                _("Awards by district"), [(k, [v]) for k, v in data["by_district"]], [_("awarded")]
            ),
            "demand_chart": charts.bar_chart(
                _("Matched demand against pool size"), rows, [_("matched demand"), _("pool size")]
            ),
            "demand_source": source,
            "demand_firms": n,
            "on": on.isoformat(),
        },
    )


# --- calls, queue, pools ------------------------------------------------------------------------------------


@router.get("/officer/calls")
def calls_page(request: Request) -> Response:
    st = state_of(request)
    data = st.read(lambda s: {"calls": apps.list_calls(session=s), "pools": ledger.list_pools(session=s)})
    return render(
        request,
        "officer_calls.html",
        {**data, "programmes": sorted(st.registry.programmes().values(), key=lambda p: p.id)},
    )


@router.post("/officer/calls")
def calls_submit(
    request: Request,
    call_id: Annotated[str, Form()],
    programme_id: Annotated[str, Form()],
    pool_id: Annotated[str, Form()],
    opens: Annotated[str, Form()],
    closes: Annotated[str, Form()],
    allocation_mode: Annotated[str, Form()] = "fcfs",
) -> Response:
    me = principal_of(request)
    st = state_of(request)
    programme = st.registry.programmes()[programme_id]

    def moment(text: str) -> dt.datetime:
        value = dt.datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)

    st.write(
        lambda s: apps.open_call(
            session=s,
            call_id=call_id,
            programme_id=programme_id,
            programme_version=programme.version,
            pool_id=pool_id,
            opens_at=moment(opens),
            closes_at=moment(closes),
            allocation_mode=allocation_mode,
            actor=actor(me),
        )
    )
    return RedirectResponse("/officer/calls", status_code=303)


@router.get("/officer/applications")
def queue(request: Request, state: str = "", call_id: str = "") -> Response:
    def work(s: Session) -> list[dict[str, Any]]:
        q = select(Application)
        if state:
            q = q.where(Application.state == state)
        if call_id:
            q = q.where(Application.call_id == call_id)
        return [application_dict(s, a) for a in s.scalars(q.order_by(Application.created_at).limit(500))]

    from huiqi.web.pages.firm import state_label

    return render(
        request,
        "officer_applications.html",
        {
            "applications": state_of(request).read(work),
            "state": state,
            "call_id": call_id,
            "state_label": state_label,
        },
    )


@router.get("/officer/pools")
def pools_page(request: Request) -> Response:
    import uuid

    data = state_of(request).read(lambda s: [pool_dict(p) for p in ledger.list_pools(session=s)])
    return render(request, "officer_pools.html", {"pools": data, "key": uuid.uuid4().hex})


@router.post("/officer/pools")
def pools_submit(
    request: Request,
    pool_id: Annotated[str, Form()],
    name: Annotated[str, Form()],
    size: Annotated[str, Form()],
    period_start: Annotated[dt.date, Form()],
    period_end: Annotated[dt.date, Form()],
    idempotency_key: Annotated[str, Form()],
    per_firm_cap: Annotated[str, Form()] = "",
) -> Response:
    body = NewPool(
        id=pool_id,
        name=name,
        size=size,
        period_start=period_start,
        period_end=period_end,
        per_firm_cap=per_firm_cap or None,
    )
    create_pool(request, principal_of(request), body, idempotency_key)
    return RedirectResponse("/officer/pools", status_code=303)


# --- money actions on one application -----------------------------------------------------------------------


@router.post("/applications/{application_id}/check")
def check_submit(application_id: str, request: Request) -> Response:
    check_application(request, principal_of(request), application_id)
    return _back(application_id)


@router.post("/applications/{application_id}/decide")
def decide_submit(application_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    decide_application(request, principal_of(request), application_id, idempotency_key)
    return _back(application_id)


@router.post("/applications/{application_id}/grant")
def grant_submit(application_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """Grant with the default plan (one tranche, the whole amount); the API takes a tranche plan."""
    grant_application(request, principal_of(request), application_id, None, idempotency_key)
    return _back(application_id)


@router.post("/applications/{application_id}/pay")
def pay_submit(
    application_id: str,
    request: Request,
    seq: Annotated[int, Form()],
    idempotency_key: Annotated[str, Form()],
    reference: Annotated[str, Form()] = "",
) -> Response:
    pay_tranche(request, principal_of(request), application_id, seq, reference, idempotency_key)
    return _back(application_id)


@router.post("/applications/{application_id}/clawback")
def clawback_submit(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()],
    first_due: Annotated[dt.date, Form()],
    idempotency_key: Annotated[str, Form()],
    installments: Annotated[int, Form()] = 1,
) -> Response:
    clawback_application(
        request, principal_of(request), application_id, reason, first_due, installments, idempotency_key
    )
    return _back(application_id)


# --- auditor ------------------------------------------------------------------------------------------------


@router.get("/audit")
def audit_log_page(request: Request, offset: int = 0, entity: str = "") -> Response:
    data = state_of(request).read(lambda s: audit_page(s, 50, max(offset, 0), entity or None))
    return render(request, "audit.html", {"page": data, "entity": entity})


@router.get("/audit/verify")
def audit_verify_page(request: Request) -> Response:
    st = state_of(request)
    ledger_report = st.read(lambda s: verify_ledger(session=s))
    chain = st.read(lambda s: audit.verify_chain(session=s))
    return render(request, "audit_verify.html", {"ledger": ledger_report, "chain": chain}, status=200)
