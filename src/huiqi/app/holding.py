"""Maker-checker for every money move (issue 14): the summary an officer confirms, the move held for a second
officer above the configured amount (``HUIQI_SECOND_APPROVAL_ABOVE``), and its read models.

The ledger's moves (``huiqi.app.money``) know their amount before they run; the selection's (select and
award, end a designation and promote: ``huiqi.app.selection``) know it only once worked out, so they run
through ``run_or_hold`` here: done under the key at or below the amount, else rolled back and held under the
same key, so that a retry (even at the same moment) answers the same held move.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from huiqi.app.idempotency import run_once
from huiqi.app.jsonable import as_json, from_json
from huiqi.app.store import Store
from huiqi.config import get_settings
from huiqi.workflows import approvals


def limit_of(above: Decimal | None) -> Decimal:
    """The second-approval amount: the one given (an adapter's settings), else the settings'."""
    return get_settings().second_approval_above if above is None else above


@dataclass(frozen=True)
class MoveSummary:
    """What a money move would do, worked out and rolled back, for the officer to confirm before it happens:
    the firm (name first), the amount, the pool and what remains in it after, the tranche and its due date,
    and whether a second officer must approve it."""

    operation: str
    application_id: str | None
    firm_uscc: str | None
    firm_name: str | None
    pool_id: str
    pool_name: str
    amount: Decimal
    available_before: Decimal
    available_after: Decimal
    tranche_seq: int | None
    due_date: dt.date | None
    milestone: str | None
    outcome: str
    second_approval: bool
    second_approval_above: Decimal
    #: The designation call a selection's move acts on (its page), when it is one.
    call_id: str | None = None


@dataclass(frozen=True)
class HeldView:
    """A money move held for a second officer: ``awaiting``, then ``approved`` (with the move's answer in
    ``result``) or ``rejected`` (with the checker's reason)."""

    id: str
    operation: str
    status: str
    amount: Decimal
    application_id: str | None
    pool_id: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str
    summary: MoveSummary
    result: dict[str, Any] | None = None
    replayed: bool = False

    @classmethod
    def of(cls, h: approvals.HeldMove, replayed: bool = False) -> HeldView:
        """The view of a stored held move."""
        return cls(
            h.id,
            h.operation,
            h.status,
            h.amount,
            h.application_id,
            h.pool_id,
            h.requested_by,
            h.requested_at,
            h.decided_by,
            h.decided_at,
            h.reason,
            from_json(MoveSummary, h.summary),
            h.result,
            replayed,
        )


@dataclass(frozen=True)
class HeldPage:
    """A page of held money moves and how many there are in all."""

    total: int
    items: tuple[HeldView, ...]


def held_view(store: Store, out: Mapping[str, Any]) -> HeldView | None:
    """The held move a use case's stored answer names (``{"held": id}``), None when the move was done."""
    if "held" not in out:
        return None
    held_id = str(out["held"])
    return store.read(
        lambda s: HeldView.of(approvals.get(session=s, approval_id=held_id), bool(out.get("replayed")))
    )


class _AboveLimit(Exception):
    """Internal: the move worked out is above the limit (its transaction rolls back; it is held instead)."""

    def __init__(self, summary: MoveSummary) -> None:
        super().__init__(summary.operation)
        self.summary = summary


#: A move worked out in a session under the ledger's key: its answer and its summary (given the limit).
Work = Callable[[Session, str, Decimal], tuple[dict[str, Any], MoveSummary]]


def run_or_hold(
    store: Store,
    *,
    operation: str,
    body: Mapping[str, Any],
    params: dict[str, Any],
    key: str,
    actor: str,
    above: Decimal | None,
    work: Work,
) -> dict[str, Any]:
    """Do a move whose amount is known once worked out, once per key; above the limit it is rolled back and
    held for a second officer (who does it from ``params``) and the answer is ``{"held": id}``, which the
    same key replays, even from two requests at once."""
    limit = limit_of(above)

    def direct(s: Session, lk: str) -> dict[str, Any]:
        out, summary = work(s, lk, limit)
        if summary.amount > limit:
            raise _AboveLimit(summary)
        return out

    try:
        return run_once(store, key=key, operation=operation, body=body, work=direct)
    except _AboveLimit as above_limit:
        summary = replace(above_limit.summary, second_approval=True, second_approval_above=limit)

    return run_once(
        store,
        key=key,
        operation=operation,
        body=body,
        work=lambda s, _lk: held_in(
            s, params=params, key=key, amount=summary.amount, summary=summary, actor=actor
        ),
    )


def held_in(
    s: Session, *, params: dict[str, Any], key: str, amount: Decimal, summary: MoveSummary, actor: str
) -> dict[str, Any]:
    """Hold the move ``summary`` sums up in session ``s``, under the maker's key; the answer the key keeps."""
    held = approvals.hold(
        session=s,
        operation=summary.operation,
        params=params,
        request_key=key,
        amount=amount,
        application_id=summary.application_id,
        pool_id=summary.pool_id,
        summary=dict(as_json(summary)),
        actor=actor,
    )
    return {"held": held.id}
