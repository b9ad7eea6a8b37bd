"""Public disclosure (公示): the calls firms may apply to, the calls whose designated firms are published, and
the awards granted, for anyone to read without an account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.app.calls import CallView
from huiqi.app.store import Store
from huiqi.applications import service as apps
from huiqi.applications.models import Application
from huiqi.ledger.models import Award
from huiqi.selection.models import Designation


@dataclass(frozen=True)
class GrantedView:
    """An award as the public list shows it: the firm (its name when it applied), the call, the amount."""

    firm: str | None
    uscc: str
    call: str
    amount: Decimal
    granted_at: dt.datetime
    status: str


@dataclass(frozen=True)
class Disclosure:
    """What is published: every call, the ids of those with a published designated list, the latest awards."""

    calls: tuple[CallView, ...]
    designated_calls: frozenset[str]
    awards: tuple[GrantedView, ...]


def disclosure(store: Store, *, limit: int = 200) -> Disclosure:
    """The calls and the latest awards granted, so the public can see who received what (公示)."""

    def work(s: Session) -> Disclosure:
        rows = s.execute(
            select(Award, Application)
            .join(Application, Application.id == Award.application_id)
            .order_by(Award.granted_at.desc())
            .limit(limit)
        ).all()
        return Disclosure(
            calls=tuple(CallView.of(c) for c in apps.list_calls(session=s)),
            designated_calls=frozenset(s.scalars(select(Designation.call_id).distinct())),
            awards=tuple(
                GrantedView(
                    (a.firm_snapshot or {}).get("name_zh"),
                    w.firm_uscc,
                    a.call_id,
                    w.amount,
                    w.granted_at,
                    w.status,
                )
                for w, a in rows
            ),
        )

    return store.read(work)
