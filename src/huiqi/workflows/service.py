"""approve -> reserve -> award -> disburse, and the ways back (withdraw, miss a milestone, claw back), keeping
the application's state and the ledger in step inside the caller's one transaction.

A request that does not fit the pool is tried inside a SAVEPOINT: when the conditional UPDATE refuses it,
only the savepoint is rolled back and the application goes to the waitlist instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.applications import service as apps
from huiqi.applications.models import AllocationMode, Application, Call, EligibilityVerdict, State
from huiqi.applications.reasons import NOT_ELIGIBLE, Reason
from huiqi.ledger import service as ledger
from huiqi.ledger.errors import FirmCapExceeded, InsufficientFunds
from huiqi.ledger.models import Award, IdempotencyKey, LedgerTransaction, Reservation, ReservationStatus
from huiqi.ledger.service import ClawbackResult, TranchePlan
from huiqi.money import FEN
from huiqi.workflows.errors import MissingScore, NoAward, NoPendingReservation, WrongAllocationMode


def not_eligible(verdict: EligibilityVerdict) -> Reason:
    """Why the engine found the firm not eligible: the programme, its version and each failed condition's
    id with its plain label and gaps in every language the verdict explains (never a formula's text alone:
    a page shows the label and the gap in its reader's language)."""
    failed: dict[str, dict[str, Any]] = {}
    for lang, explanation in verdict.explanation.items():
        if not isinstance(explanation, dict):
            continue
        for c in explanation.get("checks", []):
            if c.get("met", True):
                continue
            entry = failed.setdefault(str(c["id"]), {"id": str(c["id"]), "label": {}, "gap": {}})
            entry["label"][lang] = str(c.get("label", c["id"]))
            entry["gap"][lang] = [str(g) for g in c.get("gap", [])]
    return Reason.of(
        NOT_ELIGIBLE,
        programme=verdict.programme_id,
        version=verdict.programme_version,
        failed=list(failed.values()),
    )


def check(*, session: Session, application_id: str, verdict: EligibilityVerdict, actor: str) -> Application:
    """Store the verdict (submitted -> checked); an ineligible application is rejected with its reason."""
    app = apps.record_verdict(session=session, application_id=application_id, verdict=verdict, actor=actor)
    if not verdict.eligible:
        return apps.transition(
            session=session,
            application_id=app.id,
            to=State.REJECTED,
            actor=actor,
            reason=not_eligible(verdict),
        )
    return apps.transition(
        session=session,
        application_id=app.id,
        to=State.UNDER_REVIEW,
        actor=actor,
        reason=Reason.of("sent_to_review"),
    )


def _amount_for(app: Application) -> Decimal:
    """What the application can get: the verdict's amount when the engine computed one, else the request."""
    verdict = apps.verdict_of(app)
    if verdict is not None and verdict.amount > 0:
        return min(verdict.amount, app.requested)
    return app.requested


def _try_reserve(session: Session, app: Application, pool_id: str, amount: Decimal, actor: str) -> bool:
    try:
        with session.begin_nested():
            ledger.reserve(
                session=session,
                pool_id=pool_id,
                firm_uscc=app.firm_uscc,
                amount=amount,
                actor=actor,
                idempotency_key=f"reserve:{app.id}:{app.updated_at.isoformat()}",
                application_id=app.id,
            )
        return True
    except InsufficientFunds:
        return False


@dataclass(frozen=True)
class Decision:
    application_id: str
    state: str
    amount: Decimal | None


def decide(
    *, session: Session, application_id: str, actor: str, reason: Reason | str | None = None
) -> Decision:
    """First come, first served: approve and reserve, or waitlist when the pool is short."""
    app = apps.get_application(session=session, application_id=application_id)
    call = apps.get_call(session=session, call_id=app.call_id)
    if call.allocation_mode != AllocationMode.FCFS.value:
        raise WrongAllocationMode(call.id, call.allocation_mode, "fcfs (use `huiqi awards decide --call`)")
    why = Reason.typed(reason) if isinstance(reason, str) else reason or Reason.of("approved_by_review")
    return _approve_or_waitlist(session, app, call, _amount_for(app), actor, why)


def _approve_or_waitlist(
    session: Session, app: Application, call: Call, amount: Decimal, actor: str, reason: Reason
) -> Decision:
    current = State(app.state)
    if current not in (State.UNDER_REVIEW, State.WAITLISTED):
        # let the state machine produce the precise refusal
        apps.transition(session=session, application_id=app.id, to=State.APPROVED, actor=actor, reason=reason)
    if amount > 0 and _try_reserve(session, app, call.pool_id, amount, actor):
        apps.transition(
            session=session,
            application_id=app.id,
            to=State.APPROVED,
            actor=actor,
            reason=Reason.of("reserved", reason=reason, amount=amount),
        )
        return Decision(app.id, State.APPROVED.value, amount)
    if current is not State.WAITLISTED:
        apps.transition(
            session=session,
            application_id=app.id,
            to=State.WAITLISTED,
            actor=actor,
            reason=Reason.of("pool_short", pool=call.pool_id, amount=amount),
        )
    return Decision(app.id, State.WAITLISTED.value, None)


def decide_call(*, session: Session, call_id: str, actor: str) -> list[Decision]:
    """Allocate every application under review in a ranked or pro-rata call, in one go."""
    call = apps.get_call(session=session, call_id=call_id)
    pending = list(
        session.scalars(
            select(Application)
            .where(Application.call_id == call_id, Application.state == State.UNDER_REVIEW.value)
            .order_by(Application.created_at, Application.id)
        )
    )
    if call.allocation_mode == AllocationMode.FCFS.value:
        return [decide(session=session, application_id=a.id, actor=actor) for a in pending]
    if call.allocation_mode == AllocationMode.RANKED.value:
        for a in pending:
            if a.score is None:
                raise MissingScore(a.id)
        ranked = sorted(pending, key=lambda a: (-Decimal(a.score or 0), a.created_at, a.id))
        return [
            _approve_or_waitlist(session, a, call, _amount_for(a), actor, Reason.of("ranked", rank=i))
            for i, a in enumerate(ranked, 1)
        ]
    # pro rata: everyone gets the same share of what they asked, rounded down to the fen
    pool = ledger.get_pool(session=session, pool_id=call.pool_id)
    asked = sum((_amount_for(a) for a in pending), Decimal(0))
    ratio = Decimal(1) if asked <= pool.available or asked == 0 else pool.available / asked
    return [
        _approve_or_waitlist(
            session,
            a,
            call,
            (_amount_for(a) * ratio).quantize(FEN, rounding=ROUND_DOWN),
            actor,
            Reason.of("pro_rata", ratio=f"{ratio:.6f}"),
        )
        for a in pending
    ]


def _pending_reservation(session: Session, application_id: str) -> Reservation:
    reservation = session.scalar(
        select(Reservation).where(
            Reservation.application_id == application_id,
            Reservation.status == ReservationStatus.PENDING.value,
        )
    )
    if reservation is None:
        raise NoPendingReservation(application_id)
    return reservation


def grant(
    *, session: Session, application_id: str, actor: str, tranches: Sequence[TranchePlan] | None = None
) -> Award:
    """approved -> awarded: the reservation is posted as an award, claiming the application's contracts."""
    app = apps.get_application(session=session, application_id=application_id)
    if app.state != State.APPROVED.value:
        apps.transition(
            session=session, application_id=app.id, to=State.AWARDED, actor=actor, reason=Reason.of("grant")
        )
    reservation = _pending_reservation(session, app.id)
    award = ledger.post_reservation(
        session=session,
        reservation_id=reservation.id,
        actor=actor,
        idempotency_key=f"grant:{app.id}",
        tranches=tranches,
        contracts=[str(c["contract_id"]) for c in app.claims],
    )
    apps.transition(
        session=session,
        application_id=app.id,
        to=State.AWARDED,
        actor=actor,
        reason=Reason.of("awarded", award=award.id, amount=award.amount),
    )
    return award


def award_of(*, session: Session, application_id: str) -> Award:
    award = session.scalar(select(Award).where(Award.application_id == application_id))
    if award is None:
        raise NoAward(application_id)
    return award


def pay(
    *, session: Session, application_id: str, seq: int, actor: str, idempotency_key: str, reference: str = ""
) -> tuple[Award, LedgerTransaction]:
    """Pay a tranche; the application becomes paying, then completed with the last tranche."""
    award = award_of(session=session, application_id=application_id)
    txn = ledger.pay_tranche(
        session=session,
        award_id=award.id,
        seq=seq,
        actor=actor,
        idempotency_key=idempotency_key,
        reference=reference,
    )
    session.refresh(award)
    app = apps.get_application(session=session, application_id=application_id)
    if app.state == State.AWARDED.value and award.status != "completed":
        apps.transition(
            session=session,
            application_id=app.id,
            to=State.PAYING,
            actor=actor,
            reason=Reason.of("tranche_paid", seq=seq),
        )
    if award.status == "completed" and app.state != State.COMPLETED.value:
        apps.transition(
            session=session,
            application_id=app.id,
            to=State.COMPLETED,
            actor=actor,
            reason=Reason.joined(Reason.of("tranche_paid", seq=seq), Reason.of("all_paid")),
        )
    return award, txn


def promote_waitlist(*, session: Session, pool_id: str, actor: str) -> list[Decision]:
    """Released money goes to the waitlist in order; the queue stops at the first that does not fit."""
    waiting = session.execute(
        select(Application, Call)
        .join(Call, Call.id == Application.call_id)
        .where(Call.pool_id == pool_id, Application.state == State.WAITLISTED.value)
        .order_by(Application.waitlist_seq, Application.id)
    ).all()
    promoted: list[Decision] = []
    for app, call in waiting:
        try:
            decision = _approve_or_waitlist(
                session, app, call, _amount_for(app), actor, Reason.of("money_released")
            )
        except FirmCapExceeded:
            # its firm has reached its cap meanwhile: it does not fit, and must not fail the caller (the
            # withdrawal or clawback of another firm); its savepoint is rolled back, it keeps its place
            break
        if decision.state != State.APPROVED.value:
            break
        promoted.append(decision)
    return promoted


def withdraw(*, session: Session, application_id: str, actor: str, reason: str) -> list[Decision]:
    """Withdrawing gives any reserved money back, and the waitlist gets it."""
    app = apps.get_application(session=session, application_id=application_id)
    call = apps.get_call(session=session, call_id=app.call_id)
    had_money = app.state == State.APPROVED.value
    apps.transition(session=session, application_id=app.id, to=State.WITHDRAWN, actor=actor, reason=reason)
    if not had_money:
        return []
    reservation = _pending_reservation(session, app.id)
    ledger.void_reservation(
        session=session,
        reservation_id=reservation.id,
        actor=actor,
        reason=reason,
        idempotency_key=f"void:{reservation.id}",
    )
    return promote_waitlist(session=session, pool_id=call.pool_id, actor=actor)


def _replayed(session: Session, idempotency_key: str) -> bool:
    """The key was used before: the ledger replays (or refuses) it, and this call must write nothing else."""
    return session.get(IdempotencyKey, idempotency_key) is not None


def miss_milestone(
    *,
    session: Session,
    application_id: str,
    seq: int,
    as_of: dt.date,
    actor: str,
    reason: str,
    idempotency_key: str,
    installments: int = 1,
) -> tuple[ClawbackResult, list[Decision]]:
    award = award_of(session=session, application_id=application_id)
    replayed = _replayed(session, idempotency_key)
    result = ledger.miss_milestone(
        session=session,
        award_id=award.id,
        seq=seq,
        as_of=as_of,
        actor=actor,
        reason=reason,
        idempotency_key=idempotency_key,
        installments=installments,
    )
    app = apps.get_application(session=session, application_id=application_id)
    if app.state != State.CLAWED_BACK.value:
        apps.transition(
            session=session,
            application_id=app.id,
            to=State.CLAWED_BACK,
            actor=actor,
            reason=Reason.of("milestone_missed", seq=seq, reason=reason),
        )
    if replayed:  # the waitlist had its turn the first time; a replay writes nothing
        return result, []
    return result, promote_waitlist(session=session, pool_id=award.pool_id, actor=actor)


def clawback(
    *,
    session: Session,
    application_id: str,
    actor: str,
    reason: str,
    idempotency_key: str,
    first_due: dt.date,
    installments: int = 1,
) -> tuple[ClawbackResult, list[Decision]]:
    award = award_of(session=session, application_id=application_id)
    replayed = _replayed(session, idempotency_key)
    result = ledger.clawback(
        session=session,
        award_id=award.id,
        actor=actor,
        reason=reason,
        idempotency_key=idempotency_key,
        installments=installments,
        first_due=first_due,
    )
    app = apps.get_application(session=session, application_id=application_id)
    if app.state != State.CLAWED_BACK.value:
        apps.transition(
            session=session, application_id=app.id, to=State.CLAWED_BACK, actor=actor, reason=reason
        )
    if replayed:
        return result, []
    return result, promote_waitlist(session=session, pool_id=award.pool_id, actor=actor)
