"""Matching use cases ("benefits without application"): what a firm's page and inbox show.

A firm's current results are the stored firm x programme rows of the latest match for a date; its inbox the
"you qualify" messages the matches wrote for it, newest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.app.store import Store
from huiqi.matching.models import MatchCurrent, Notification


@dataclass(frozen=True)
class ResultView:
    """One firm x programme result of a match (the keys of ``GET /api/v1/matching/results``)."""

    uscc: str
    programme: str
    version: str
    date: dt.date
    eligible: bool
    amount: Decimal
    unmet: tuple[str, ...]
    run_id: str


@dataclass(frozen=True)
class FirmResults:
    """A firm's current results for a date: every programme matched, eligible ones first."""

    uscc: str
    on: dt.date | None
    results: tuple[ResultView, ...]


@dataclass(frozen=True)
class MessageView:
    """A "you qualify" message: the pair, the programme's version, the amount and the text in zh and en."""

    id: str
    uscc: str
    programme: str
    version: str
    on: dt.date
    amount: Decimal
    status: str
    created_at: dt.datetime
    message_zh: str
    message_en: str

    def message(self, lang: str) -> str:
        """The text in ``lang`` (zh or en)."""
        return self.message_zh if lang == "zh" else self.message_en


@dataclass(frozen=True)
class MessagePage:
    """A page of messages and how many there are in all."""

    total: int
    items: tuple[MessageView, ...]


def _message(n: Notification) -> MessageView:
    return MessageView(
        id=n.id,
        uscc=n.uscc,
        programme=n.programme,
        version=n.version,
        on=n.on,
        amount=n.amount,
        status=n.status,
        created_at=n.created_at,
        message_zh=n.message_zh,
        message_en=n.message_en,
    )


def firm_results(store: Store, *, uscc: str, on: dt.date | None = None) -> FirmResults:
    """Show a firm what the latest match found for it (on ``on``, default the latest date matched)."""

    def work(s: Session) -> FirmResults:
        day = on or s.scalar(select(func.max(MatchCurrent.on)).where(MatchCurrent.uscc == uscc))
        if day is None:
            return FirmResults(uscc=uscc, on=None, results=())
        rows = s.scalars(
            select(MatchCurrent)
            .where(MatchCurrent.on == day, MatchCurrent.uscc == uscc)
            .order_by(MatchCurrent.eligible.desc(), MatchCurrent.programme)
        )
        return FirmResults(
            uscc=uscc,
            on=day,
            results=tuple(
                ResultView(
                    uscc=r.uscc,
                    programme=r.programme,
                    version=r.version,
                    date=r.on,
                    eligible=r.eligible,
                    amount=r.amount,
                    unmet=tuple(u for u in r.unmet.split(",") if u),
                    run_id=r.run_id,
                )
                for r in rows
            ),
        )

    return store.read(work)


def firm_inbox(store: Store, *, uscc: str, limit: int = 50, offset: int = 0) -> MessagePage:
    """Tell a firm which programmes it qualifies for without applying, newest message first."""

    def work(s: Session) -> MessagePage:
        total = s.scalar(select(func.count()).select_from(Notification).where(Notification.uscc == uscc)) or 0
        rows = s.scalars(
            select(Notification)
            .where(Notification.uscc == uscc)
            .order_by(Notification.created_at.desc(), Notification.id)
            .offset(offset)
            .limit(limit)
        )
        return MessagePage(total=total, items=tuple(_message(n) for n in rows))

    return store.read(work)
