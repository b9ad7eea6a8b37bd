"""Officer pages: the dashboard, calls, the applications queue, pools, and the money actions on an
application. Every page and action calls the same ``huiqi.app`` use case as the CLI and the API."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from huiqi.app import accounts, calls, money
from huiqi.money import parse_decimal, yuan
from huiqi.web import charts
from huiqi.web.api.common import actor, api_key
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.i18n import SHANGHAI, _, language
from huiqi.web.pages.firm import state_label
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


def _back(application_id: str) -> Response:
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


# --- dashboard ----------------------------------------------------------------------------------------------


def _demand(request: Request, on: dt.date) -> tuple[dict[str, Decimal], int, str]:
    """What every eligible firm could claim by programme: over the register when one is configured (cached
    a day), else over the firms' stored profiles."""
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
    demand, n = charts.matched_demand(programmes, list(accounts.firm_profiles(st.store)), on)
    return demand, n, _("the firms' stored profiles")


def burn_charts(histories: list[money.PoolHistory]) -> list[str]:
    """One burn-down chart a pool, over the pool's period."""
    return [
        charts.line_chart(
            h.pool.name,
            [(t.at, t.available) for t in h.items],
            h.pool.size,
            period=(h.pool.period_start, h.pool.period_end),
        )
        for h in histories
    ]


@router.get("/officer")
def dashboard(request: Request) -> Response:
    st = state_of(request)
    on = today_in_shanghai()
    histories = [money.pool_history(st.store, pool_id=p.id) for p in money.list_pools(st.store)]
    by_sector = money.awards_by(st.store, field="sector")
    by_district = money.awards_by(st.store, field="district")
    demand, n, source = _demand(request, on)
    pool_sizes = {h.pool.id: h.pool.size for h in histories}
    rows = charts.demand_vs_pools(st.registry.programmes(), demand, pool_sizes, language())
    return render(
        request,
        "dashboard.html",
        {
            "pools": [h.pool for h in histories],
            "burn": burn_charts(histories),
            "states": calls.count_by_state(st.store),
            "state_label": state_label,
            "sector_chart": charts.bar_chart(
                _("Awards by sector"), [(_(k), [v]) for k, v in by_sector], [_("awarded")]
            ),
            "district_chart": charts.bar_chart(
                _("Awards by district"), [(_(k), [v]) for k, v in by_district], [_("awarded")]
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
    return render(
        request,
        "officer_calls.html",
        {
            "calls": calls.list_calls(st.store),
            "pools": money.list_pools(st.store),
            "programmes": sorted(st.registry.programmes().values(), key=lambda p: p.id),
            "modes": calls.ALLOCATION_MODES,
            "key": uuid.uuid4().hex,
        },
    )


def _moment(text: str) -> dt.datetime:
    """A time from a datetime-local field: Shanghai time unless it names its zone."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


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
    st = state_of(request)
    programme = st.registry.programmes()[programme_id]
    calls.open_call(
        st.store,
        call_id=call_id,
        programme_id=programme_id,
        programme_version=programme.version,
        pool_id=pool_id,
        opens_at=_moment(opens),
        closes_at=_moment(closes),
        allocation_mode=allocation_mode,
        actor=actor(principal_of(request)),
    )
    return RedirectResponse("/officer/calls", status_code=303)


@router.get("/officer/applications")
def queue(request: Request, state: str = "", call_id: str = "") -> Response:
    listing = calls.list_applications(
        state_of(request).store, state=state or None, call_id=call_id or None, limit=500, oldest_first=True
    )
    return render(
        request,
        "officer_applications.html",
        {"applications": listing.items, "state": state, "call_id": call_id, "state_label": state_label},
    )


@router.get("/officer/pools")
def pools_page(request: Request) -> Response:
    pools = money.list_pools(state_of(request).store)
    return render(request, "officer_pools.html", {"pools": pools, "key": uuid.uuid4().hex})


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
    money.create_pool(
        state_of(request).store,
        pool_id=pool_id,
        name=name,
        size=yuan(size, what="size"),
        period_start=period_start,
        period_end=period_end,
        per_firm_cap=yuan(per_firm_cap, what="per_firm_cap") if per_firm_cap else None,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return RedirectResponse("/officer/pools", status_code=303)


# --- money actions on one application -----------------------------------------------------------------------


@router.post("/applications/{application_id}/check")
def check_submit(application_id: str, request: Request) -> Response:
    st = state_of(request)
    calls.check_application(
        st.store,
        application_id=application_id,
        programmes=st.registry.programmes(),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/decide")
def decide_submit(application_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    money.decide(
        state_of(request).store,
        application_id=application_id,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/grant")
def grant_submit(application_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """Grant with the default plan (one tranche, the whole amount); the API takes a tranche plan."""
    money.grant(
        state_of(request).store,
        application_id=application_id,
        tranches=None,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/pay")
def pay_submit(
    application_id: str,
    request: Request,
    seq: Annotated[int, Form()],
    idempotency_key: Annotated[str, Form()],
    reference: Annotated[str, Form()] = "",
) -> Response:
    money.pay_tranche(
        state_of(request).store,
        application_id=application_id,
        seq=seq,
        reference=reference,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
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
    money.clawback(
        state_of(request).store,
        application_id=application_id,
        reason=reason,
        first_due=first_due,
        installments=installments,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/score")
def score_submit(application_id: str, request: Request, score: Annotated[str, Form()]) -> Response:
    """The score a ranked call sorts by, set by the officer from the panel's result."""
    calls.score_application(
        state_of(request).store,
        application_id=application_id,
        score=parse_decimal(score, what="score"),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/move")
def move_submit(
    application_id: str, request: Request, to: Annotated[str, Form()], reason: Annotated[str, Form()]
) -> Response:
    """Reject, waitlist, appeal or send back to review, with the reason recorded (no money moves)."""
    calls.move_application(
        state_of(request).store,
        application_id=application_id,
        to=to,
        reason=reason,
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/miss-milestone")
def miss_submit(
    application_id: str,
    request: Request,
    seq: Annotated[int, Form()],
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
    installments: Annotated[int, Form()] = 1,
) -> Response:
    money.miss_milestone(
        state_of(request).store,
        application_id=application_id,
        seq=seq,
        reason=reason,
        as_of=today_in_shanghai(),
        installments=installments,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/recover")
def recover_submit(
    application_id: str,
    request: Request,
    amount: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
    reference: Annotated[str, Form()] = "",
) -> Response:
    money.recover(
        state_of(request).store,
        application_id=application_id,
        amount=yuan(amount, what="amount"),
        reference=reference,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/applications/{application_id}/reverse")
def reverse_submit(
    application_id: str,
    request: Request,
    transaction_id: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
) -> Response:
    """A payment of this application came back from the bank: reverse it; the tranche is payable again."""
    money.reverse_payment(
        state_of(request).store,
        transaction_id=transaction_id,
        reason=reason,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return _back(application_id)


@router.post("/officer/calls/{call_id}/decide")
def decide_call_submit(call_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """Allocate a whole ranked or pro-rata call; the queue then shows the outcome."""
    money.decide_call(
        state_of(request).store,
        call_id=call_id,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
    )
    return RedirectResponse(f"/officer/applications?call_id={quote(call_id)}", status_code=303)
