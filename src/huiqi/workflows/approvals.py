"""Maker-checker: a money move above the configured amount is held until a second officer approves it.

The officer who asks (the maker) and the officer who approves or rejects (the checker) must differ. A held
move keeps the operation and its parameters, the client's idempotency key and the summary the maker saw; its
status goes ``awaiting -> approved`` or ``awaiting -> rejected`` once, by a conditional UPDATE, so of two
checkers approving at the same moment only one moves the money. Every step is a link of the audit chain.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from huiqi.audit import chain as audit
from huiqi.db.base import Base, new_id
from huiqi.db.types import Money, UTCDateTime, utcnow
from huiqi.workflows.errors import ApprovalNotFound, SameOfficer, WorkflowError


class HeldStatus(StrEnum):
    AWAITING = "awaiting"
    APPROVED = "approved"
    REJECTED = "rejected"


class HeldMove(Base):
    """A money move waiting for (or decided by) a second officer."""

    __tablename__ = "money_approvals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: The use case's operation (``grant``, ``pay``, ...) and its parameters as JSON text values.
    operation: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The maker's idempotency key: the held request replays its "held" answer under it.
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    application_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    pool_id: Mapped[str] = mapped_column(String(120))
    #: What the maker confirmed: firm, amount, pool, what remains, tranche (the preview's read model).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default=HeldStatus.AWAITING.value)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The executed move's answer (approved), for the checker's replay and the list.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


Index("ix_money_approvals_status", HeldMove.status, HeldMove.requested_at)


# --- refusals (ApprovalNotFound, SameOfficer: in workflows/errors.py for the web's status table) ----


class ApprovalNotAwaiting(WorkflowError):
    def __init__(self, approval_id: str, status: str) -> None:
        super().__init__(
            f"money move {approval_id} is already {status}; only a move awaiting approval can be approved "
            "or rejected"
        )
        self.approval_id = approval_id
        self.status = status


class AlreadyAwaiting(WorkflowError):
    def __init__(self, operation: str, approval_id: str) -> None:
        super().__init__(
            f"the same {operation} already awaits a second officer's approval as money move {approval_id}; "
            "approve or reject that one (待复核, `huiqi ledger approvals`) instead of asking again"
        )
        self.operation = operation
        self.approval_id = approval_id


class ReasonRequired(WorkflowError):
    def __init__(self) -> None:
        super().__init__("reason: say why the money move is rejected (it is recorded and shown to the maker)")


# --- the service --------------------------------------------------------------------------------------------


def hold(
    *,
    session: Session,
    operation: str,
    params: dict[str, Any],
    request_key: str,
    amount: Decimal,
    application_id: str | None,
    pool_id: str,
    summary: dict[str, Any],
    actor: str,
) -> HeldMove:
    """Record a money move as awaiting a second officer's approval (nothing moves yet); the same move asked
    again under another key while the first awaits is refused (``AlreadyAwaiting``)."""
    waiting = session.scalars(
        select(HeldMove).where(HeldMove.operation == operation, HeldMove.status == HeldStatus.AWAITING.value)
    )
    for other in waiting:
        if other.params == params:
            raise AlreadyAwaiting(operation, other.id)
    held = HeldMove(
        id=new_id(),
        operation=operation,
        params=params,
        request_key=request_key,
        amount=amount,
        application_id=application_id,
        pool_id=pool_id,
        summary=summary,
        status=HeldStatus.AWAITING.value,
        requested_by=actor,
        requested_at=utcnow(),
        reason="",
    )
    session.add(held)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"approval:{held.id}",
        action="held_for_second_approval",
        payload={"operation": operation, "params": params, "amount": amount, "pool": pool_id},
    )
    return held


def get(*, session: Session, approval_id: str) -> HeldMove:
    """The held move, or ``ApprovalNotFound``."""
    held = session.get(HeldMove, approval_id)
    if held is None:
        raise ApprovalNotFound(approval_id)
    return held


#: The operations held for a whole call (no one application): their parameters name the call.
CALL_OPERATIONS = ("selection.run",)


def listed(
    *,
    session: Session,
    status: str | None,
    limit: int,
    offset: int,
    application_id: str | None = None,
    call_id: str | None = None,
) -> tuple[int, list[HeldMove]]:
    """Held moves of one status (all when None), oldest first, and how many there are; with
    ``application_id``, only the moves on that application and those on its whole call (``call_id``)."""
    q = select(HeldMove)
    if status:
        q = q.where(HeldMove.status == status)
    if application_id is None:
        total = len(list(session.scalars(q.with_only_columns(HeldMove.id))))
        rows = session.scalars(q.order_by(HeldMove.requested_at, HeldMove.id).offset(offset).limit(limit))
        return total, list(rows)
    q = q.where(
        or_(
            HeldMove.application_id == application_id,
            HeldMove.application_id.is_(None) & HeldMove.operation.in_(CALL_OPERATIONS),
        )
    )
    found = [
        h
        for h in session.scalars(q.order_by(HeldMove.requested_at, HeldMove.id))
        if h.application_id == application_id or (h.params or {}).get("call") == call_id
    ]
    return len(found), found[offset : offset + limit]


def decide(*, session: Session, approval_id: str, approve: bool, reason: str, actor: str) -> HeldMove:
    """The checker's decision: awaiting -> approved or rejected, once (a racing second decision is refused),
    never by the maker."""
    held = get(session=session, approval_id=approval_id)
    if held.requested_by == actor:
        raise SameOfficer(approval_id, actor)
    if not approve and not reason.strip():
        raise ReasonRequired()
    if held.status != HeldStatus.AWAITING.value:
        raise ApprovalNotAwaiting(approval_id, held.status)
    to = HeldStatus.APPROVED if approve else HeldStatus.REJECTED
    changed = session.execute(
        update(HeldMove)
        .where(HeldMove.id == approval_id, HeldMove.status == HeldStatus.AWAITING.value)
        .values(status=to.value, decided_by=actor, decided_at=utcnow(), reason=reason)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(held)
        raise ApprovalNotAwaiting(approval_id, held.status)
    session.refresh(held)
    audit.append(
        session=session,
        actor=actor,
        entity=f"approval:{approval_id}",
        action="second_approval_given" if approve else "second_approval_refused",
        payload={"operation": held.operation, "amount": held.amount, "reason": reason},
    )
    return held


def settle(*, session: Session, held: HeldMove, result: dict[str, Any]) -> None:
    """Keep the executed move's answer with the approval."""
    held.result = result
    session.flush()
