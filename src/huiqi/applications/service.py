"""Calls and applications: open a call, submit, attach evidence, move through the state machine.

Every transition is one conditional UPDATE (``WHERE state = :from``), so two reviewers acting at once
cannot both win; it records who, when and why, and appends a link to the audit chain. Services flush and
never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from huiqi.applications import evidence as evidence_store
from huiqi.applications.errors import (
    ApplicationNotFound,
    CallExists,
    CallNotFound,
    CallNotOpen,
    ConcurrentChange,
    IllegalTransition,
    InvalidCall,
    InvalidClaim,
    MissingReason,
    VerdictMismatch,
)
from huiqi.applications.models import (
    TRANSITIONS,
    AllocationMode,
    Application,
    ApplicationEvent,
    ApplicationEvidence,
    Call,
    EligibilityVerdict,
    EvidenceFile,
    State,
)
from huiqi.applications.reasons import Reason
from huiqi.audit import chain as audit
from huiqi.db.base import new_id
from huiqi.db.types import utcnow
from huiqi.firms import Firm
from huiqi.money import MoneyError, yuan


@dataclass(frozen=True)
class Claim:
    """One item claimed for: a contract of the firm's profile and the amount asked for it."""

    contract_id: str
    amount: Decimal


def open_call(
    *,
    session: Session,
    call_id: str,
    programme_id: str,
    programme_version: str,
    pool_id: str,
    opens_at: dt.datetime,
    closes_at: dt.datetime,
    allocation_mode: str,
    actor: str,
) -> Call:
    try:
        mode = AllocationMode(allocation_mode)
    except ValueError:
        raise InvalidCall(
            f"allocation mode {allocation_mode!r} is not one of {', '.join(m.value for m in AllocationMode)}",
            why="bad_mode",
            mode=allocation_mode,
            modes=[m.value for m in AllocationMode],
        ) from None
    if opens_at.tzinfo is None or closes_at.tzinfo is None:
        raise InvalidCall("window times need a timezone (e.g. 2025-09-01T00:00:00+08:00)", why="no_timezone")
    if closes_at <= opens_at:
        raise InvalidCall(
            f"the window closes ({closes_at.isoformat()}) before it opens ({opens_at.isoformat()})",
            why="window_backwards",
            opens=opens_at,
            closes=closes_at,
        )
    if session.get(Call, call_id) is not None:
        raise CallExists(call_id)
    period = session.execute(
        text("SELECT period_start, period_end FROM pools WHERE id = :id"), {"id": pool_id}
    ).first()
    if period is None:
        raise InvalidCall(
            f"no pool {pool_id!r}; create it first with `huiqi ledger pool-create`",
            why="no_pool",
            pool=pool_id,
        )
    start, end = (p if isinstance(p, dt.date) else dt.date.fromisoformat(str(p)) for p in period)
    if closes_at.astimezone(dt.UTC).date() < start or opens_at.astimezone(dt.UTC).date() > end:
        raise InvalidCall(
            f"the window {opens_at.date()} .. {closes_at.date()} lies outside pool {pool_id}'s period "
            f"{start} .. {end}; awards could never be drawn from it",
            why="window_outside_period",
            opens=opens_at.date(),
            closes=closes_at.date(),
            pool=pool_id,
            start=start,
            end=end,
        )
    call = Call(
        id=call_id,
        programme_id=programme_id,
        programme_version=programme_version,
        pool_id=pool_id,
        opens_at=opens_at,
        closes_at=closes_at,
        allocation_mode=mode.value,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(call)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"call:{call_id}",
        action="opened",
        payload={
            "programme_id": programme_id,
            "programme_version": programme_version,
            "pool_id": pool_id,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "allocation_mode": mode.value,
        },
    )
    return call


def get_call(*, session: Session, call_id: str) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise CallNotFound(call_id)
    return call


def list_calls(*, session: Session) -> list[Call]:
    return list(session.scalars(select(Call).order_by(Call.opens_at, Call.id)))


def _check_claims(firm: Firm, claims: Sequence[Claim]) -> Decimal:
    if not claims:
        raise InvalidClaim("an application claims at least one contract or item", why="no_claims")
    contracts = {c.id: c for c in firm.contracts}
    seen: set[str] = set()
    total = Decimal(0)
    for claim in claims:
        if claim.contract_id in seen:
            raise InvalidClaim(
                f"contract {claim.contract_id!r} is claimed twice",
                why="claimed_twice",
                contract=claim.contract_id,
            )
        seen.add(claim.contract_id)
        if claim.contract_id not in contracts:
            raise InvalidClaim(
                f"contract {claim.contract_id!r} is not in the firm's profile",
                why="not_in_profile",
                contract=claim.contract_id,
            )
        if contracts[claim.contract_id].claimed:
            raise InvalidClaim(
                f"contract {claim.contract_id!r} is marked as already claimed",
                why="already_claimed",
                contract=claim.contract_id,
            )
        try:
            amount = yuan(claim.amount, what=f"amount for {claim.contract_id}")
        except MoneyError as exc:
            raise InvalidClaim(
                str(exc), why="bad_amount", contract=claim.contract_id, amount=str(claim.amount)
            ) from None
        if amount <= 0:
            raise InvalidClaim(
                f"amount for {claim.contract_id} must be positive",
                why="not_positive",
                contract=claim.contract_id,
            )
        total += amount
    return total


def _event(
    session: Session,
    app: Application,
    from_state: str | None,
    to: State,
    actor: str,
    reason: Reason,
    at: dt.datetime,
) -> None:
    seq = session.scalar(
        select(func.coalesce(func.max(ApplicationEvent.seq), 0)).where(
            ApplicationEvent.application_id == app.id
        )
    )
    session.add(
        ApplicationEvent(
            id=new_id(),
            application_id=app.id,
            seq=int(seq or 0) + 1,
            from_state=from_state,
            to_state=to.value,
            actor=actor,
            at=at,
            reason=reason.text,
            reason_code=reason.code,
            reason_args=dict(reason.args),
        )
    )
    session.flush()


def submit(
    *,
    session: Session,
    call_id: str,
    firm: Firm,
    claims: Sequence[Claim],
    actor: str,
    now: dt.datetime | None = None,
) -> Application:
    """Create the application (draft) and submit it inside the call's window, with the firm's snapshot."""
    now = now or utcnow()
    call = get_call(session=session, call_id=call_id)
    if not call.opens_at <= now < call.closes_at:
        raise CallNotOpen(call_id, call.opens_at, call.closes_at, now)
    requested = _check_claims(firm, claims)
    app = Application(
        id=new_id(),
        call_id=call_id,
        firm_uscc=firm.uscc,
        firm_snapshot=firm.model_dump(mode="json"),
        claims=[{"contract_id": c.contract_id, "amount": str(yuan(c.amount))} for c in claims],
        requested=requested,
        state=State.DRAFT.value,
        created_at=now,
        updated_at=now,
    )
    session.add(app)
    session.flush()
    _event(session, app, None, State.DRAFT, actor, Reason.of("created"), now)
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{app.id}",
        action="created",
        payload={"call_id": call_id, "firm_uscc": firm.uscc, "requested": requested, "claims": app.claims},
    )
    return transition(
        session=session,
        application_id=app.id,
        to=State.SUBMITTED,
        actor=actor,
        reason=Reason.of("submitted"),
        now=now,
    )


def get_application(*, session: Session, application_id: str) -> Application:
    app = session.get(Application, application_id)
    if app is None:
        raise ApplicationNotFound(application_id)
    return app


def history(*, session: Session, application_id: str) -> list[ApplicationEvent]:
    return list(
        session.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == application_id)
            .order_by(ApplicationEvent.seq)
        )
    )


def transition(
    *,
    session: Session,
    application_id: str,
    to: State | str,
    actor: str,
    reason: Reason | str,
    now: dt.datetime | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Application:
    """Move to ``to`` if the state machine allows it; otherwise raise and change nothing. ``reason``: the
    system's (a code and its data) or a person's words (kept as typed)."""
    target = State(to)
    why = reason if isinstance(reason, Reason) else Reason.typed(reason)
    if not why.text.strip():
        raise MissingReason(application_id, target.value)
    app = get_application(session=session, application_id=application_id)
    current = State(app.state)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            app.id, current.value, target.value, sorted(s.value for s in TRANSITIONS[current])
        )
    now = now or utcnow()
    values: dict[str, Any] = {"state": target.value, "updated_at": now, **(changes or {})}
    if target is State.WAITLISTED:
        last = session.scalar(select(func.max(Application.waitlist_seq)))
        values["waitlist_seq"] = int(last or 0) + 1
    result = session.execute(
        update(Application)
        .where(Application.id == app.id, Application.state == current.value)
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentChange(app.id, current.value)
    session.refresh(app)
    _event(session, app, current.value, target, actor, why, now)
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{app.id}",
        action=f"to_{target.value}",
        payload={
            "from": current.value,
            "to": target.value,
            "reason": why.text,
            **{k: v for k, v in (changes or {}).items() if k != "verdict"},
        },
    )
    return app


def record_verdict(
    *, session: Session, application_id: str, verdict: EligibilityVerdict, actor: str
) -> Application:
    """submitted -> checked, keeping the rules engine's verdict and explanation with the programme version."""
    app = get_application(session=session, application_id=application_id)
    call = get_call(session=session, call_id=app.call_id)
    if verdict.programme_id != call.programme_id:
        raise VerdictMismatch(call.programme_id, verdict.programme_id)
    reason = Reason.of(
        "eligible_under" if verdict.eligible else "not_eligible_under",
        programme=verdict.programme_id,
        version=verdict.programme_version,
        amount=verdict.amount,
    )
    return transition(
        session=session,
        application_id=application_id,
        to=State.CHECKED,
        actor=actor,
        reason=reason,
        changes={"verdict": verdict.to_json()},
    )


def set_score(*, session: Session, application_id: str, score: Decimal, actor: str) -> Application:
    """The selection score a ranked call sorts by (from the review panel)."""
    app = get_application(session=session, application_id=application_id)
    app.score = str(score)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"application:{app.id}",
        action="scored",
        payload={"score": str(score)},
    )
    return app


def attach_evidence(
    *,
    session: Session,
    application_id: str,
    filename: str,
    content: bytes,
    evidence_dir: Path,
    actor: str,
    description: str = "",
    max_bytes: int = evidence_store.MAX_BYTES,
) -> EvidenceFile:
    app = get_application(session=session, application_id=application_id)
    digest, media = evidence_store.store(
        content, filename=filename, evidence_dir=evidence_dir, max_bytes=max_bytes
    )
    stored = session.get(EvidenceFile, digest)
    if stored is None:
        stored = EvidenceFile(sha256=digest, size=len(content), media_type=media, created_at=utcnow())
        session.add(stored)
        session.flush()
    if session.get(ApplicationEvidence, (app.id, digest)) is None:
        session.add(
            ApplicationEvidence(
                application_id=app.id, sha256=digest, filename=filename, description=description
            )
        )
        session.flush()
        audit.append(
            session=session,
            actor=actor,
            entity=f"application:{app.id}",
            action="evidence_attached",
            payload={"sha256": digest, "filename": filename, "media_type": media, "size": len(content)},
        )
    return stored


def evidence_of(*, session: Session, application_id: str) -> list[tuple[ApplicationEvidence, EvidenceFile]]:
    rows = session.execute(
        select(ApplicationEvidence, EvidenceFile)
        .join(EvidenceFile, EvidenceFile.sha256 == ApplicationEvidence.sha256)
        .where(ApplicationEvidence.application_id == application_id)
    ).all()
    return [(a, e) for a, e in rows]


def verdict_of(app: Application) -> EligibilityVerdict | None:
    return None if app.verdict is None else EligibilityVerdict.from_json(app.verdict)
