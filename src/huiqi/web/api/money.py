"""Awards, payments, milestones, clawbacks, recoveries and pools: every write here moves money and needs an
Idempotency-Key header (kept in the ledger's idempotency table with the answer, in the same transaction)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.ledger import service as ledger
from huiqi.ledger.models import Award
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import pool_statement, verify_ledger
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
    idempotent,
    page,
    require_key,
    text_amount,
)
from huiqi.web.api.views import award_dict, pool_dict
from huiqi.web.security import Forbidden, Principal, principal_of, state_of
from huiqi.workflows import service as flows

router = APIRouter(prefix="/api/v1", tags=["awards, payments and the ledger"])


class TrancheIn(BaseModel):
    amount: str
    due: Day
    milestone: str


class GrantIn(BaseModel):
    tranches: list[TrancheIn] | None = Field(None, description="default: one tranche, the whole amount")


class PayIn(BaseModel):
    reference: str = ""


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


def _decisions(ds: list[flows.Decision]) -> list[dict[str, Any]]:
    return [
        {"application_id": d.application_id, "state": d.state, "amount": text_amount(d.amount)} for d in ds
    ]


def decide_application(request: Request, me: Principal, application_id: str, key: str) -> dict[str, Any]:
    def work(s: Session, _k: str) -> dict[str, Any]:
        return _decisions([flows.decide(session=s, application_id=application_id, actor=actor(me))])[0]

    return idempotent(state_of(request), key, "api.decide", {"application": application_id}, work)


@router.post("/applications/{application_id}/decide")
def decide(application_id: str, request: Request, key: IdempotencyKeyHeader = None) -> dict[str, Any]:
    """First come, first served: approve and reserve the money, or waitlist when the pool is short."""
    return decide_application(request, principal_of(request), application_id, require_key(key))


@router.post("/calls/{call_id}/decide")
def decide_call(call_id: str, request: Request, key: IdempotencyKeyHeader = None) -> dict[str, Any]:
    """Allocate a whole call (ranked or pro rata; first-come calls one by one in arrival order)."""
    k = require_key(key)
    me = principal_of(request)

    def work(s: Session, _k: str) -> dict[str, Any]:
        return {
            "call_id": call_id,
            "decisions": _decisions(flows.decide_call(session=s, call_id=call_id, actor=actor(me))),
        }

    return idempotent(state_of(request), k, "api.decide_call", {"call": call_id}, work)


def grant_application(
    request: Request, me: Principal, application_id: str, tranches: list[TrancheIn] | None, key: str
) -> dict[str, Any]:
    plan = (
        [
            TranchePlan(yuan(t.amount, what=f"tranches[{i}].amount"), t.milestone, t.due)
            for i, t in enumerate(tranches)
        ]
        if tranches
        else None
    )

    def work(s: Session, _k: str) -> dict[str, Any]:
        award = flows.grant(session=s, application_id=application_id, actor=actor(me), tranches=plan)
        return award_dict(s, award, full=True)

    body = {"application": application_id, "tranches": [t.model_dump(mode="json") for t in tranches or []]}
    return idempotent(state_of(request), key, "api.grant", body, work)


@router.post("/applications/{application_id}/grant")
def grant(
    application_id: str, body: GrantIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """approved -> awarded: the reservation becomes an award, paid in tranches."""
    return grant_application(request, principal_of(request), application_id, body.tranches, require_key(key))


def pay_tranche(
    request: Request, me: Principal, application_id: str, seq: int, reference: str, key: str
) -> dict[str, Any]:
    def work(s: Session, k: str) -> dict[str, Any]:
        award, txn = flows.pay(
            session=s,
            application_id=application_id,
            seq=seq,
            actor=actor(me),
            idempotency_key=k,
            reference=reference,
        )
        return {"award_id": award.id, "award_status": award.status, "transaction_id": txn.id, "seq": seq}

    return idempotent(
        state_of(request),
        key,
        "api.pay",
        {"application": application_id, "seq": seq, "reference": reference},
        work,
    )


@router.post("/applications/{application_id}/tranches/{seq}/pay")
def pay(
    application_id: str,
    seq: Annotated[int, Path(ge=1, le=10_000, description="the tranche's number, from 1")],
    body: PayIn,
    request: Request,
    key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Pay one tranche whose milestone is met."""
    return pay_tranche(request, principal_of(request), application_id, seq, body.reference, require_key(key))


def _claw_result(result: ledger.ClawbackResult, promoted: list[flows.Decision]) -> dict[str, Any]:
    return {
        "released": str(result.released),
        "recoverable": str(result.recoverable),
        "schedule": [
            {"seq": i.seq, "amount": str(i.amount), "due_date": i.due_date.isoformat()}
            for i in result.schedule
        ],
        "promoted": _decisions(promoted),
    }


@router.post("/applications/{application_id}/miss-milestone")
def miss_milestone(
    application_id: str, body: MissIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """A milestone was missed: the unpaid part goes back to the pool, the paid part becomes recoverable."""
    k = require_key(key)
    me = principal_of(request)
    as_of = body.as_of or dt.date.today()

    def work(s: Session, lk: str) -> dict[str, Any]:
        result, promoted = flows.miss_milestone(
            session=s,
            application_id=application_id,
            seq=body.seq,
            as_of=as_of,
            actor=actor(me),
            reason=body.reason,
            idempotency_key=lk,
            installments=body.installments,
        )
        return _claw_result(result, promoted)

    return idempotent(
        state_of(request),
        k,
        "api.miss",
        {"application": application_id, **body.model_dump(mode="json")},
        work,
    )


def clawback_application(
    request: Request,
    me: Principal,
    application_id: str,
    reason: str,
    first_due: dt.date,
    installments: int,
    key: str,
) -> dict[str, Any]:
    def work(s: Session, lk: str) -> dict[str, Any]:
        result, promoted = flows.clawback(
            session=s,
            application_id=application_id,
            actor=actor(me),
            reason=reason,
            idempotency_key=lk,
            first_due=first_due,
            installments=installments,
        )
        return _claw_result(result, promoted)

    body = {
        "application": application_id,
        "reason": reason,
        "first_due": first_due.isoformat(),
        "installments": installments,
    }
    return idempotent(state_of(request), key, "api.clawback", body, work)


@router.post("/applications/{application_id}/clawback")
def clawback(
    application_id: str, body: ClawbackIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """Claw an award back: unpaid money to the pool, paid money recoverable on a schedule."""
    return clawback_application(
        request,
        principal_of(request),
        application_id,
        body.reason,
        body.first_due,
        body.installments,
        require_key(key),
    )


@router.post("/applications/{application_id}/recoveries")
def recover(
    application_id: str, body: RecoveryIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """Money received back from the firm; it returns to the pool."""
    k = require_key(key)
    me = principal_of(request)
    value = yuan(body.amount, what="amount")

    def work(s: Session, lk: str) -> dict[str, Any]:
        award = flows.award_of(session=s, application_id=application_id)
        txn = ledger.record_recovery(
            session=s,
            award_id=award.id,
            amount=value,
            actor=actor(me),
            idempotency_key=lk,
            reference=body.reference,
        )
        return {"transaction_id": txn.id, "amount": str(value)}

    return idempotent(
        state_of(request),
        k,
        "api.recover",
        {"application": application_id, **body.model_dump(mode="json")},
        work,
    )


@router.post("/payments/{transaction_id}/reverse")
def reverse_payment(
    transaction_id: str, body: ReverseIn, request: Request, key: IdempotencyKeyHeader = None
) -> dict[str, Any]:
    """A payment came back: a reversing entry, and the tranche is payable again."""
    k = require_key(key)
    me = principal_of(request)

    def work(s: Session, lk: str) -> dict[str, Any]:
        txn = ledger.reverse_payment(
            session=s, transaction_id=transaction_id, actor=actor(me), reason=body.reason, idempotency_key=lk
        )
        return {"transaction_id": txn.id, "reverses": transaction_id}

    return idempotent(
        state_of(request), k, "api.reverse", {"txn": transaction_id, "reason": body.reason}, work
    )


@router.get("/awards", response_model=Page[dict[str, Any]])
def list_awards(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    pool_id: str | None = None,
    firm_uscc: str | None = None,
) -> Page[dict[str, Any]]:
    me = principal_of(request)
    only = me.firm_filter()
    if only is not None and firm_uscc not in (None, only):
        raise Forbidden("you can list only your own firm's awards")
    only = only or firm_uscc

    def work(s: Session) -> Page[dict[str, Any]]:
        q = select(Award)
        if only is not None:
            q = q.where(Award.firm_uscc == only)
        if pool_id:
            q = q.where(Award.pool_id == pool_id)
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = s.scalars(q.order_by(Award.granted_at.desc(), Award.id).offset(offset).limit(limit))
        return page([award_dict(s, a) for a in rows], total, limit, offset)

    return state_of(request).read(work)


@router.get("/awards/{award_id}")
def get_award(award_id: str, request: Request) -> dict[str, Any]:
    me = principal_of(request)

    def work(s: Session) -> dict[str, Any]:
        award = ledger.get_award(session=s, award_id=award_id)
        me.check_firm(award.firm_uscc)
        return award_dict(s, award, full=True)

    return state_of(request).read(work)


@router.get("/pools")
def list_pools(request: Request) -> list[dict[str, Any]]:
    return state_of(request).read(lambda s: [pool_dict(p) for p in ledger.list_pools(session=s)])


def create_pool(request: Request, me: Principal, body: NewPool, key: str) -> dict[str, Any]:
    size = yuan(body.size, what="size")
    cap = None if body.per_firm_cap in (None, "") else yuan(body.per_firm_cap, what="per_firm_cap")

    def work(s: Session, lk: str) -> dict[str, Any]:
        pool = ledger.create_pool(
            session=s,
            pool_id=body.id,
            name=body.name,
            size=size,
            period_start=body.period_start,
            period_end=body.period_end,
            per_firm_cap=cap,
            actor=actor(me),
            idempotency_key=lk,
        )
        return pool_dict(pool)

    return idempotent(state_of(request), key, "api.pool", body.model_dump(mode="json"), work)


@router.post("/pools", status_code=201)
def post_pool(body: NewPool, request: Request, key: IdempotencyKeyHeader = None) -> dict[str, Any]:
    """Create and fund a pool."""
    return create_pool(request, principal_of(request), body, require_key(key))


@router.get("/pools/{pool_id}/statement")
def statement(pool_id: str, request: Request, limit: Limit = 50) -> dict[str, Any]:
    """Balances by account kind and the latest transactions (with their effect on what is available)."""

    def work(s: Session) -> dict[str, Any]:
        st = pool_statement(session=s, pool_id=pool_id, limit=limit)
        return {
            "pool": pool_dict(st.pool),
            "balances": {k: str(v) for k, v in st.balances.items()},
            "transactions": [
                {
                    "id": t.id,
                    "at": t.at.isoformat(),
                    "kind": t.kind,
                    "effect_on_available": str(d),
                    "actor": t.actor,
                    "memo": t.memo,
                }
                for t, d in st.transactions
            ],
        }

    return state_of(request).read(work)


@router.get("/ledger/verify")
def ledger_verify(request: Request) -> dict[str, Any]:
    """Every invariant: balanced transactions, no pool below zero, awards + available = size, nothing paid
    twice, balances equal postings."""
    report = state_of(request).read(lambda s: verify_ledger(session=s))
    return {
        "ok": report.ok,
        "transactions": report.transactions,
        "pools": report.pools,
        "problems": [str(p) for p in report.problems],
    }
