"""Awards, payments, milestones, clawbacks, recoveries and pools: every write here moves money and needs an
Idempotency-Key header (kept in the ledger's idempotency table with the answer, in the same transaction)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from huiqi.app import money
from huiqi.money import yuan
from huiqi.web.api.common import (
    Day,
    IdempotencyKeyHeader,
    Limit,
    Offset,
    Page,
    Reason,
    Whole,
    actor,
    answer,
    api_key,
    page,
    require_key,
)
from huiqi.web.security import Forbidden, principal_of, state_of

router = APIRouter(prefix="/api/v1", tags=["awards, payments and the ledger"])


class TrancheIn(BaseModel):
    amount: str
    due: Day
    milestone: str


class GrantIn(BaseModel):
    tranches: list[TrancheIn] | None = Field(None, description="default: one tranche, the whole amount")


class PayIn(BaseModel):
    reference: str = ""
    evidence: str | None = Field(
        None, description="sha256 of the application's evidence file showing the milestone is met"
    )


class MissIn(BaseModel):
    seq: Whole = Field(ge=1, le=10_000, description="the tranche whose milestone was missed")
    reason: Reason
    as_of: Day | None = None
    installments: Whole = Field(1, ge=1, le=120)


class ClawbackIn(BaseModel):
    reason: Reason
    first_due: Day
    installments: Whole = Field(1, ge=1, le=120)


class RecoveryIn(BaseModel):
    amount: str
    reference: str = ""


class ReverseIn(BaseModel):
    reason: Reason


class NewPool(BaseModel):
    id: str
    name: str
    size: str
    period_start: Day
    period_end: Day
    per_firm_cap: str | None = None
    programme_id: str | None = Field(
        None, description="the programme this pool funds (for a programme whose file declares no pool)"
    )


class RejectIn(BaseModel):
    reason: Reason


def moved(request: Request, response: Response, key: str | None, run: Any) -> dict[str, Any]:
    """Run the move under the Idempotency-Key; a move held for a second officer answers 202 with it."""
    st = state_of(request)
    k = api_key(require_key(key))
    done = run(st.store, key=k, actor=actor(principal_of(request)), above=st.settings.second_approval_above)
    if isinstance(done, money.HeldView):
        response.status_code = 202
    return dict(answer(done))


def previewed(request: Request, move: money.Move) -> dict[str, Any]:
    """What the move would do (firm, amount, pool, what remains, tranche), worked out and rolled back: the
    summary an officer confirms before the move (as the selection's ``/preview`` routes)."""
    st = state_of(request)
    who = actor(principal_of(request))
    return dict(
        answer(money.preview(st.store, move=move, actor=who, above=st.settings.second_approval_above))
    )


def plan_of(tranches: list[TrancheIn] | None) -> list[tuple[Decimal, dt.date, str]] | None:
    """A tranche plan as exact amounts (a refusal names the tranche); None: the default plan."""
    if not tranches:
        return None
    return [
        (yuan(t.amount, what=f"tranches[{i}].amount"), t.due, t.milestone) for i, t in enumerate(tranches)
    ]


# Each money move has its ``/preview`` (as the selection's): the summary, nothing written, no key needed.


@router.post("/applications/{application_id}/decide")
def decide(
    application_id: str, request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """First come, first served: approve and reserve the money, or waitlist when the pool is short."""
    return moved(request, response, key, partial(money.decide, application_id=application_id))


@router.post("/applications/{application_id}/decide/preview")
def decide_preview(application_id: str, request: Request) -> dict[str, Any]:
    """What approving would reserve, from which pool, and what would remain in it; nothing is written."""
    return previewed(request, money.decide_move(application_id=application_id))


@router.post("/calls/{call_id}/decide")
def decide_call(
    call_id: str, request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """Allocate a whole call (ranked or pro rata; first-come calls one by one in arrival order)."""
    return moved(request, response, key, partial(money.decide_call, call_id=call_id))


@router.post("/calls/{call_id}/decide/preview")
def decide_call_preview(call_id: str, request: Request) -> dict[str, Any]:
    """What deciding the whole call would reserve and what would remain in the pool; nothing is written."""
    return previewed(request, money.decide_call_move(call_id=call_id))


@router.post("/applications/{application_id}/grant")
def grant(
    application_id: str,
    body: GrantIn,
    request: Request,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """approved -> awarded: the reservation becomes an award, paid in tranches."""
    run = partial(money.grant, application_id=application_id, tranches=plan_of(body.tranches))
    return moved(request, response, key, run)


@router.post("/applications/{application_id}/grant/preview")
def grant_preview(application_id: str, body: GrantIn, request: Request) -> dict[str, Any]:
    """What granting would award, from which pool; nothing is written."""
    return previewed(
        request, money.grant_move(application_id=application_id, tranches=plan_of(body.tranches))
    )


Seq = Annotated[int, Path(ge=1, le=10_000, description="the tranche's number, from 1")]


@router.post("/applications/{application_id}/tranches/{seq}/pay")
def pay(
    application_id: str,
    seq: Seq,
    body: PayIn,
    request: Request,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Pay one tranche whose milestone is met (shown by ``evidence`` unless it is the grant's own)."""
    run = partial(
        money.pay_tranche,
        application_id=application_id,
        seq=seq,
        reference=body.reference,
        evidence=body.evidence,
    )
    return moved(request, response, key, run)


@router.post("/applications/{application_id}/tranches/{seq}/pay/preview")
def pay_preview(application_id: str, seq: Seq, body: PayIn, request: Request) -> dict[str, Any]:
    """What paying the tranche would pay, its milestone and due date; refused as the payment would be."""
    move = money.pay_move(
        application_id=application_id, seq=seq, reference=body.reference, evidence=body.evidence
    )
    return previewed(request, move)


def _miss(application_id: str, body: MissIn) -> dict[str, Any]:
    return {
        "application_id": application_id,
        "seq": body.seq,
        "reason": body.reason,
        "as_of": body.as_of,
        "installments": body.installments,
    }


@router.post("/applications/{application_id}/miss-milestone")
def miss_milestone(
    application_id: str, body: MissIn, request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """A milestone was missed: the unpaid part goes back to the pool, the paid part becomes recoverable."""
    return moved(request, response, key, partial(money.miss_milestone, **_miss(application_id, body)))


@router.post("/applications/{application_id}/miss-milestone/preview")
def miss_milestone_preview(application_id: str, body: MissIn, request: Request) -> dict[str, Any]:
    """What recording the missed milestone would release and make recoverable; nothing is written."""
    return previewed(request, money.miss_move(**_miss(application_id, body)))


def _claw(application_id: str, body: ClawbackIn) -> dict[str, Any]:
    return {
        "application_id": application_id,
        "reason": body.reason,
        "first_due": body.first_due,
        "installments": body.installments,
    }


@router.post("/applications/{application_id}/clawback")
def clawback(
    application_id: str,
    body: ClawbackIn,
    request: Request,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Claw an award back: unpaid money to the pool, paid money recoverable on a schedule."""
    return moved(request, response, key, partial(money.clawback, **_claw(application_id, body)))


@router.post("/applications/{application_id}/clawback/preview")
def clawback_preview(application_id: str, body: ClawbackIn, request: Request) -> dict[str, Any]:
    """What clawing back would return to the pool and make recoverable; nothing is written."""
    return previewed(request, money.clawback_move(**_claw(application_id, body)))


@router.post("/applications/{application_id}/recoveries")
def recover(
    application_id: str,
    body: RecoveryIn,
    request: Request,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Money received back from the firm; it returns to the pool."""
    run = partial(
        money.recover,
        application_id=application_id,
        amount=yuan(body.amount, what="amount"),
        reference=body.reference,
    )
    return moved(request, response, key, run)


@router.post("/applications/{application_id}/recoveries/preview")
def recover_preview(application_id: str, body: RecoveryIn, request: Request) -> dict[str, Any]:
    """What recording the money recovered would return to the pool; nothing is written."""
    move = money.recover_move(
        application_id=application_id, amount=yuan(body.amount, what="amount"), reference=body.reference
    )
    return previewed(request, move)


@router.post("/payments/{transaction_id}/reverse")
def reverse_payment(
    transaction_id: str,
    body: ReverseIn,
    request: Request,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """A payment came back: a reversing entry, and the tranche is payable again."""
    run = partial(money.reverse_payment, transaction_id=transaction_id, reason=body.reason)
    return moved(request, response, key, run)


@router.post("/payments/{transaction_id}/reverse/preview")
def reverse_payment_preview(transaction_id: str, body: ReverseIn, request: Request) -> dict[str, Any]:
    """What reversing the payment would undo; nothing is written."""
    return previewed(request, money.reverse_move(transaction_id=transaction_id, reason=body.reason))


# --- the second officer (maker-checker) ---------------------------------------------------------------------


@router.get("/approvals", response_model=Page[dict[str, Any]])
def list_approvals(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Literal["awaiting", "approved", "rejected", "all"] = "awaiting",
    application_id: Annotated[
        str | None, Query(max_length=64, description="only the moves on this application (and its call's)")
    ] = None,
) -> Page[dict[str, Any]]:
    """Money moves held for a second officer's approval (待复核), oldest first."""
    listing = money.list_approvals(
        state_of(request).store,
        status=None if status == "all" else status,
        limit=limit,
        offset=offset,
        application_id=application_id,
    )
    return page([answer(h) for h in listing.items], listing.total, limit, offset)


@router.get("/approvals/{approval_id}")
def get_approval(approval_id: str, request: Request) -> dict[str, Any]:
    """One held money move with the summary its maker confirmed."""
    return dict(answer(money.get_approval(state_of(request).store, approval_id=approval_id)))


@router.post("/approvals/{approval_id}/approve")
def approve(approval_id: str, request: Request, key: IdempotencyKeyHeader = None) -> dict[str, Any]:
    """Approve a held money move as a second officer (never its maker): it is done now, once."""
    st = state_of(request)
    done = money.approve_move(
        st.store,
        approval_id=approval_id,
        key=api_key(require_key(key)),
        actor=actor(principal_of(request)),
        programmes=st.registry.programmes(),
    )
    return dict(answer(done))


@router.post("/approvals/{approval_id}/reject")
def reject(approval_id: str, body: RejectIn, request: Request) -> dict[str, Any]:
    """Reject a held money move with a reason, as a second officer; nothing moves."""
    done = money.reject_move(
        state_of(request).store,
        approval_id=approval_id,
        reason=body.reason,
        actor=actor(principal_of(request)),
    )
    return dict(answer(done))


@router.get("/awards", response_model=Page[dict[str, Any]])
def list_awards(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    pool_id: str | None = None,
    firm_uscc: str | None = None,
) -> Page[dict[str, Any]]:
    """Awards, newest first, of one pool or one firm (a firm member: only their own)."""
    me = principal_of(request)
    only = me.firm_filter()
    if only is not None and firm_uscc not in (None, only):
        raise Forbidden("you can list only your own firm's awards")
    listing = money.list_awards(
        state_of(request).store, pool_id=pool_id, firm_uscc=only or firm_uscc, limit=limit, offset=offset
    )
    return page([answer(a) for a in listing.items], listing.total, limit, offset)


@router.get("/awards/by/{field}")
def awards_by(field: Literal["sector", "district"], request: Request) -> list[dict[str, Any]]:
    """Awarded amounts (net of releases and clawbacks) by the firms' sector or district, largest first."""
    return [{field: k, "amount": str(v)} for k, v in money.awards_by(state_of(request).store, field=field)]


@router.get("/awards/{award_id}")
def get_award(award_id: str, request: Request) -> dict[str, Any]:
    """One award with its tranches."""
    view = money.get_award(state_of(request).store, award_id=award_id)
    principal_of(request).check_firm(view.firm_uscc)
    return dict(answer(view))


@router.get("/pools")
def list_pools(request: Request) -> list[dict[str, Any]]:
    """Every pool with its size and what is still available."""
    return [answer(p) for p in money.list_pools(state_of(request).store)]


@router.post("/pools", status_code=201)
def post_pool(body: NewPool, request: Request, key: IdempotencyKeyHeader = None) -> dict[str, Any]:
    """Create and fund a pool."""
    k = api_key(require_key(key))
    done = money.create_pool(
        state_of(request).store,
        pool_id=body.id,
        name=body.name,
        size=yuan(body.size, what="size"),
        period_start=body.period_start,
        period_end=body.period_end,
        per_firm_cap=None
        if body.per_firm_cap in (None, "")
        else yuan(body.per_firm_cap, what="per_firm_cap"),
        key=k,
        actor=actor(principal_of(request)),
        programme_id=body.programme_id or None,
    )
    return dict(answer(done))


@router.get("/pools/{pool_id}")
def get_pool(pool_id: str, request: Request) -> dict[str, Any]:
    """One pool: size, what is still available, period and per-firm cap."""
    return dict(answer(money.get_pool(state_of(request).store, pool_id=pool_id)))


@router.get("/pools/{pool_id}/statement")
def statement(pool_id: str, request: Request, limit: Limit = 50) -> dict[str, Any]:
    """Balances by account kind and the latest transactions (with their effect on what is available)."""
    return dict(answer(money.statement(state_of(request).store, pool_id=pool_id, limit=limit)))


@router.get("/pools/{pool_id}/history", response_model=Page[dict[str, Any]])
def pool_history(
    pool_id: str, request: Request, limit: Limit = 50, offset: Offset = 0
) -> Page[dict[str, Any]]:
    """Every transaction of the pool from its funding on, oldest first, with what was available after it."""
    h = money.pool_history(state_of(request).store, pool_id=pool_id, limit=limit, offset=offset)
    return page([answer(t) for t in h.items], h.total, limit, offset)


@router.get("/ledger/verify")
def ledger_verify(request: Request) -> dict[str, Any]:
    """Every invariant: balanced transactions, no pool below zero, awards + available = size, nothing paid
    twice, balances equal postings."""
    return dict(answer(money.check_ledger(state_of(request).store)))
