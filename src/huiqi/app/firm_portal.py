"""What a firm's own pages read (besides matching and its inbox, ``huiqi.app.matching``): its profile,
applications and awards; the calls it can apply to; one application with its call and award."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.accounts.errors import FirmProfileNotFound
from huiqi.app.calls import ApplicationSummary, ApplicationView, CallView
from huiqi.app.money import AwardSummary, AwardView
from huiqi.app.store import Store
from huiqi.applications import service as apps
from huiqi.applications.models import Application
from huiqi.firms import Contract, Firm
from huiqi.ledger.models import Award


@dataclass(frozen=True)
class FirmOverview:
    """A firm's page: its stored profile (None before it keeps one), its applications and awards."""

    uscc: str
    profile: Firm | None
    applications: tuple[ApplicationSummary, ...]
    awards: tuple[AwardSummary, ...]


@dataclass(frozen=True)
class ApplyForm:
    """What a firm needs to apply: its profile, the calls open now, the contracts not yet claimed."""

    profile: Firm
    calls: tuple[CallView, ...]
    contracts: tuple[Contract, ...]


@dataclass(frozen=True)
class ApplicationOverview:
    """One application with the call it was made to and the award granted on it, if any."""

    application: ApplicationView
    call: CallView
    award: AwardView | None


def firm_overview(store: Store, *, uscc: str) -> FirmOverview:
    """A firm's profile, applications (newest first) and awards, for its own page."""

    def work(s: Session) -> FirmOverview:
        try:
            profile: Firm | None = accounts.get_firm_profile(session=s, uscc=uscc)
        except FirmProfileNotFound:
            profile = None
        rows = s.scalars(
            select(Application).where(Application.firm_uscc == uscc).order_by(Application.created_at.desc())
        )
        awards = s.scalars(select(Award).where(Award.firm_uscc == uscc).order_by(Award.granted_at.desc()))
        return FirmOverview(
            uscc,
            profile,
            tuple(ApplicationSummary.of(a) for a in rows),
            tuple(AwardSummary.of(a) for a in awards),
        )

    return store.read(work)


def apply_form(store: Store, *, uscc: str, now: dt.datetime | None = None) -> ApplyForm:
    """The firm's stored profile and the calls open at ``now``, to apply (FirmProfileNotFound without a
    profile)."""
    at = now or dt.datetime.now(dt.UTC)

    def work(s: Session) -> ApplyForm:
        profile = accounts.get_firm_profile(session=s, uscc=uscc)
        open_calls = tuple(c for c in map(CallView.of, apps.list_calls(session=s)) if c.is_open(at))
        return ApplyForm(profile, open_calls, tuple(c for c in profile.contracts if not c.claimed))

    return store.read(work)


def application_overview(store: Store, *, application_id: str) -> ApplicationOverview:
    """An application in full, its call and its award, read together for the application's page."""

    def work(s: Session) -> ApplicationOverview:
        a = apps.get_application(session=s, application_id=application_id)
        award = s.scalar(select(Award).where(Award.application_id == a.id))
        return ApplicationOverview(
            ApplicationView.full(s, a),
            CallView.of(apps.get_call(session=s, call_id=a.call_id)),
            None if award is None else AwardView.full(s, award),
        )

    return store.read(work)
