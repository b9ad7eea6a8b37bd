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
from huiqi.money import MoneyError, parse_decimal, yuan
from huiqi.web import charts
from huiqi.web.api.common import actor, api_key
from huiqi.web.calculator import today_in_shanghai
from huiqi.web.i18n import SHANGHAI, _, language
from huiqi.web.pages.firm import state_label
from huiqi.web.security import principal_of, state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)


def _back(application_id: str, done: object = None) -> Response:
    """Back to the application; a move held for a second officer goes to the 待复核 queue instead."""
    if isinstance(done, money.HeldView):
        return RedirectResponse(f"/officer/approvals?held={quote(done.id)}", status_code=303)
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


def _above(request: Request) -> Decimal:
    return state_of(request).settings.second_approval_above


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
        programmes=st.registry.programmes(),
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
    st = state_of(request)
    pools = money.list_pools(st.store)
    programmes = sorted(st.registry.programmes().values(), key=lambda p: p.id)
    return render(
        request, "officer_pools.html", {"pools": pools, "key": uuid.uuid4().hex, "programmes": programmes}
    )


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
    programme_id: Annotated[str, Form()] = "",
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
        programme_id=programme_id or None,
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
    done = money.decide(
        state_of(request).store,
        application_id=application_id,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


@router.post("/applications/{application_id}/grant")
def grant_submit(application_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """Grant with the default plan (one tranche, the whole amount); the API takes a tranche plan."""
    done = money.grant(
        state_of(request).store,
        application_id=application_id,
        tranches=None,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


@router.post("/applications/{application_id}/pay")
def pay_submit(
    application_id: str,
    request: Request,
    seq: Annotated[int, Form()],
    idempotency_key: Annotated[str, Form()],
    reference: Annotated[str, Form()] = "",
    evidence: Annotated[str, Form()] = "",
) -> Response:
    done = money.pay_tranche(
        state_of(request).store,
        application_id=application_id,
        seq=seq,
        reference=reference,
        evidence=evidence or None,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


@router.post("/applications/{application_id}/clawback")
def clawback_submit(
    application_id: str,
    request: Request,
    reason: Annotated[str, Form()],
    first_due: Annotated[dt.date, Form()],
    idempotency_key: Annotated[str, Form()],
    installments: Annotated[int, Form()] = 1,
) -> Response:
    done = money.clawback(
        state_of(request).store,
        application_id=application_id,
        reason=reason,
        first_due=first_due,
        installments=installments,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


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
    done = money.miss_milestone(
        state_of(request).store,
        application_id=application_id,
        seq=seq,
        reason=reason,
        as_of=today_in_shanghai(),
        installments=installments,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


@router.post("/applications/{application_id}/recover")
def recover_submit(
    application_id: str,
    request: Request,
    amount: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
    reference: Annotated[str, Form()] = "",
) -> Response:
    done = money.recover(
        state_of(request).store,
        application_id=application_id,
        amount=yuan(amount, what="amount"),
        reference=reference,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


@router.post("/applications/{application_id}/reverse")
def reverse_submit(
    application_id: str,
    request: Request,
    transaction_id: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
) -> Response:
    """A payment of this application came back from the bank: reverse it; the tranche is payable again."""
    done = money.reverse_payment(
        state_of(request).store,
        transaction_id=transaction_id,
        reason=reason,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return _back(application_id, done)


@router.post("/officer/calls/{call_id}/decide")
def decide_call_submit(call_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """Allocate a whole ranked or pro-rata call; the queue then shows the outcome."""
    done = money.decide_call(
        state_of(request).store,
        call_id=call_id,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    if isinstance(done, money.HeldView):
        return RedirectResponse(f"/officer/approvals?held={quote(done.id)}", status_code=303)
    return RedirectResponse(f"/officer/applications?call_id={quote(call_id)}", status_code=303)


# --- confirm before money moves; the second officer's queue (待复核) ----------------------------------------

#: The money moves an application page confirms first: the route each posts to once confirmed.
CONFIRMED = ("decide", "grant", "pay", "miss-milestone", "clawback", "recover", "reverse")


def _whole(text: str, what: str) -> int:
    """A whole number from a form field, or a refusal naming the field."""
    if not text.strip().isdigit():
        raise MoneyError(f"{what}: a whole number, not {text!r}", why="not_whole", what=what, value=text)
    return int(text)


def _day(text: str, what: str) -> dt.date:
    """A date from a form field (YYYY-MM-DD), or a refusal naming the field."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise MoneyError(
            f"{what}: a date such as 2026-12-31, not {text!r}", why="not_a_date", what=what, value=text
        ) from None


def _move_of(application_id: str, form: dict[str, str]) -> money.Move:
    """The money move a confirmation form describes (the same fields its action route takes)."""
    kind = form.get("move", "")
    seq = _whole(form.get("seq") or "1", "seq")
    reason = form.get("reason", "")
    if kind == "decide":
        return money.decide_move(application_id=application_id)
    if kind == "grant":
        return money.grant_move(application_id=application_id, tranches=None)
    if kind == "pay":
        evidence = form.get("evidence") or None
        return money.pay_move(
            application_id=application_id, seq=seq, reference=form.get("reference", ""), evidence=evidence
        )
    if kind == "miss-milestone":
        return money.miss_move(
            application_id=application_id,
            seq=seq,
            reason=reason,
            as_of=today_in_shanghai(),
            installments=_whole(form.get("installments") or "1", "installments"),
        )
    if kind == "clawback":
        return money.clawback_move(
            application_id=application_id,
            reason=reason,
            first_due=_day(form.get("first_due") or today_in_shanghai().isoformat(), "first_due"),
            installments=_whole(form.get("installments") or "1", "installments"),
        )
    if kind == "recover":
        return money.recover_move(
            application_id=application_id,
            amount=yuan(form.get("amount", ""), what="amount"),
            reference=form.get("reference", ""),
        )
    if kind == "reverse":
        return money.reverse_move(transaction_id=form.get("transaction_id", ""), reason=reason)
    raise MoneyError(f"move: one of {', '.join(CONFIRMED)}, not {kind!r}", why="unknown_move", value=kind)


@router.post("/applications/{application_id}/confirm")
async def confirm_move(application_id: str, request: Request) -> Response:
    """Before any money moves: the summary (firm, amount, pool, what remains, tranche) to confirm; the
    confirmation posts the same fields to the move's own route."""
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
    move = _move_of(application_id, form)
    summary = money.preview(
        state_of(request).store, move=move, actor=actor(principal_of(request)), above=_above(request)
    )
    fields = {k: v for k, v in form.items() if k not in ("move", "idempotency_key")}
    return render(
        request,
        "money_confirm.html",
        {
            "summary": summary,
            "action": f"/applications/{application_id}/{form['move']}",
            "back": f"/applications/{application_id}",
            "fields": fields,
            "key": form.get("idempotency_key") or uuid.uuid4().hex,
            "operations": money.OPERATIONS,
        },
    )


@router.post("/officer/calls/{call_id}/confirm")
def confirm_call(call_id: str, request: Request) -> Response:
    """Before a whole ranked or pro-rata call is decided: what it reserves in all and what remains."""
    summary = money.preview(
        state_of(request).store,
        move=money.decide_call_move(call_id=call_id),
        actor=actor(principal_of(request)),
        above=_above(request),
    )
    return render(
        request,
        "money_confirm.html",
        {
            "summary": summary,
            "action": f"/officer/calls/{quote(call_id)}/decide",
            "back": "/officer/calls",
            "fields": {},
            "key": uuid.uuid4().hex,
            "operations": money.OPERATIONS,
        },
    )


@router.get("/officer/approvals")
def approvals_page(request: Request, held: str = "", status: str = "awaiting") -> Response:
    """The 待复核 queue: money moves above the second-approval amount, waiting for another officer."""
    st = state_of(request)
    listing = money.list_approvals(st.store, status=None if status == "all" else status, limit=200)
    return render(
        request,
        "officer_approvals.html",
        {
            "items": listing.items,
            "total": listing.total,
            "held": held,
            "status": status,
            "me": actor(principal_of(request)),
            "above": _above(request),
            "operations": money.OPERATIONS,
        },
    )


@router.post("/officer/approvals/{approval_id}/confirm")
def approval_confirm(approval_id: str, request: Request) -> Response:
    """Before approving: the held move's summary, to confirm."""
    held = money.get_approval(state_of(request).store, approval_id=approval_id)
    return render(
        request,
        "money_confirm.html",
        {
            "summary": held.summary,
            "held": held,
            "action": f"/officer/approvals/{approval_id}/approve",
            "back": "/officer/approvals",
            "fields": {},
            "key": uuid.uuid4().hex,
            "operations": money.OPERATIONS,
        },
    )


@router.post("/officer/approvals/{approval_id}/approve")
def approval_approve(approval_id: str, request: Request, idempotency_key: Annotated[str, Form()]) -> Response:
    """The second officer approves: the held move is done now, once."""
    st = state_of(request)
    money.approve_move(
        st.store,
        approval_id=approval_id,
        key=api_key(idempotency_key),
        actor=actor(principal_of(request)),
        programmes=st.registry.programmes(),
    )
    return RedirectResponse("/officer/approvals?status=approved", status_code=303)


@router.post("/officer/approvals/{approval_id}/reject")
def approval_reject(approval_id: str, request: Request, reason: Annotated[str, Form()]) -> Response:
    """The second officer rejects with a reason; nothing moves."""
    money.reject_move(
        state_of(request).store,
        approval_id=approval_id,
        reason=reason,
        actor=actor(principal_of(request)),
    )
    return RedirectResponse("/officer/approvals?status=rejected", status_code=303)
