"""The designation call end to end: check eligibility with the rules engine, review, select, award the
start-up grants through the ledger, issue certificates, and replace a designated firm from the reserve.

Money only moves through ``huiqi.ledger.service`` and application states only through
``huiqi.applications.service``. The generic waitlist promotion of ``workflows.service`` is not used here:
it serves first come, first served, while a designation call's reserve list is per sector.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.applications import service as apps
from huiqi.applications.models import Application, EligibilityVerdict, State
from huiqi.applications.reasons import NO_GRANT_IN_CALL, Reason
from huiqi.certificates import service as certs
from huiqi.certificates.keys import SigningKey
from huiqi.firms import Firm
from huiqi.ledger import service as ledger
from huiqi.ledger.models import Award, Reservation, ReservationStatus
from huiqi.ledger.service import TranchePlan
from huiqi.money import FEN
from huiqi.rules.evaluator import Engine
from huiqi.rules.explain import explain
from huiqi.rules.programme import Programme
from huiqi.selection import service as selection
from huiqi.selection.callfile import CallFile
from huiqi.selection.models import Designation, Outcome
from huiqi.workflows import service as workflows

ISSUER = {
    "zh": "上海市发展和改革委员会",
    "en": "Shanghai Development and Reform Commission",
}


def verdict_for(
    programmes: Mapping[str, Programme], firm: Firm, cf: CallFile, on: dt.date
) -> EligibilityVerdict:
    """The rules engine's verdict on the call's programme, with the grant programme's verdict beside it."""
    engine = Engine(programmes, firm, on)
    result = engine.evaluate(cf.programme)
    explanation: dict[str, object] = {
        "en": explain(result, "en"),
        "zh": explain(result, "zh"),
        "unmet": result.unmet,
    }
    if cf.grant_programme:
        grant = engine.evaluate(cf.grant_programme)
        explanation[selection.GRANT_KEY] = {
            "programme_id": grant.programme.id,
            "eligible": grant.eligible,
            "amount": str(grant.amount),
            "unmet": grant.unmet,
        }
    return EligibilityVerdict(
        programme_id=result.programme.id,
        programme_version=result.programme.version,
        eligible=result.eligible,
        amount=result.amount,
        explanation=explanation,
    )


def check_all(
    *,
    session: Session,
    call_id: str,
    programmes: Mapping[str, Programme],
    cf: CallFile,
    on: dt.date,
    actor: str,
) -> list[Application]:
    """Every submitted application: eligible ones go to review, the others are rejected with the verdict."""
    pending = list(
        session.scalars(
            select(Application)
            .where(Application.call_id == call_id, Application.state == State.SUBMITTED.value)
            .order_by(Application.id)
        )
    )
    out = []
    for app in pending:
        firm = Firm.model_validate(app.firm_snapshot)
        verdict = verdict_for(programmes, firm, cf, on)
        out.append(workflows.check(session=session, application_id=app.id, verdict=verdict, actor=actor))
    return out


def tranche_plan(cf: CallFile, amount: Decimal) -> list[TranchePlan] | None:
    """The call's tranche shares applied to an amount, rounded down to the fen; the last takes the rest."""
    if not cf.tranches:
        return None
    plan: list[TranchePlan] = []
    left = amount
    for i, t in enumerate(cf.tranches):
        part = left if i == len(cf.tranches) - 1 else (amount * t.share).quantize(FEN, rounding=ROUND_DOWN)
        left -= part
        plan.append(TranchePlan(amount=part, milestone=t.milestone, due=t.due))
    return plan


def _content(cf: CallFile, d: Designation, programme_names: tuple[str, str]) -> dict[str, object]:
    return {
        "firm": {"name_zh": d.name_zh, "name_en": d.name_en, "uscc": d.firm_uscc},
        "programme": {"id": cf.programme, "name_zh": programme_names[0], "name_en": programme_names[1]},
        "batch": {"zh": cf.batch.zh, "en": cf.batch.en},
        "sector": {"zh": selection.sector_name(d.sector, "zh"), "en": selection.sector_name(d.sector, "en")},
        "date": cf.date.isoformat(),
        "call_id": d.call_id,
        "issuer": ISSUER,
    }


def _names(programmes: Mapping[str, Programme], cf: CallFile) -> tuple[str, str]:
    spec = programmes[cf.programme].spec
    return spec.name.get("zh"), spec.name.get("en")


def _award(
    session: Session, app: Application, pool_id: str, amount: Decimal, cf: CallFile, why: Reason, actor: str
) -> Award | None:
    """Designate in the application's state, and award the grant through the ledger when there is one."""
    if amount <= 0:
        verdict = apps.verdict_of(app)
        grant = (verdict.explanation.get(selection.GRANT_KEY) if verdict else None) or {}
        unmet = [str(u) for u in grant.get("unmet", [])]
        apps.transition(
            session=session,
            application_id=app.id,
            to=State.APPROVED,
            actor=actor,
            reason=Reason.of("designated_no_grant", why=why, unmet=unmet or Reason.of(NO_GRANT_IN_CALL)),
        )
        return None
    ledger.reserve(
        session=session,
        pool_id=pool_id,
        firm_uscc=app.firm_uscc,
        amount=amount,
        actor=actor,
        idempotency_key=f"designation-reserve:{app.id}",
        application_id=app.id,
    )
    apps.transition(
        session=session,
        application_id=app.id,
        to=State.APPROVED,
        actor=actor,
        reason=Reason.of("designated_grant", why=why, amount=amount),
    )
    return workflows.grant(
        session=session, application_id=app.id, actor=actor, tranches=tranche_plan(cf, amount)
    )


@dataclass(frozen=True)
class Designated:
    designation: Designation
    award: Award | None
    certificate_serial: str


def _issue(
    session: Session, cf: CallFile, d: Designation, names: tuple[str, str], key: SigningKey, actor: str
) -> str:
    serial = certs.next_serial(session, f"{d.call_id}")
    certs.issue(
        session=session,
        serial=serial,
        subject=f"designation:{d.application_id}",
        content=_content(cf, d, names),
        key=key,
        actor=actor,
    )
    return serial


def select_and_award(
    *,
    session: Session,
    call_id: str,
    cf: CallFile,
    programmes: Mapping[str, Programme],
    key: SigningKey,
    actor: str,
) -> list[Designated]:
    """Run the selection, then move every application: designated (grant awarded, certificate issued),
    reserve (waitlisted), or rejected with the binding reason."""
    call = apps.get_call(session=session, call_id=call_id)
    result = selection.run(session=session, call_id=call_id, cf=cf, actor=actor)
    names = _names(programmes, cf)
    designations = {d.application_id: d for d in result.designations}
    done: list[Designated] = []
    for dec in result.decisions:
        if dec.outcome == Outcome.INELIGIBLE.value:
            continue
        app = apps.get_application(session=session, application_id=dec.application_id)
        why = decision_reason(dec.reason)
        if dec.outcome == Outcome.DESIGNATED.value:
            d = designations[app.id]
            award = _award(session, app, call.pool_id, d.amount, cf, why, actor)
            done.append(Designated(d, award, _issue(session, cf, d, names, key, actor)))
        elif dec.outcome == Outcome.RESERVE.value:
            apps.transition(
                session=session,
                application_id=app.id,
                to=State.WAITLISTED,
                actor=actor,
                reason=why,
            )
        else:
            apps.transition(
                session=session,
                application_id=app.id,
                to=State.REJECTED,
                actor=actor,
                reason=why,
            )
    return done


def decision_reason(reason: Mapping[str, object]) -> Reason:
    """A selection decision's reason for the application's history: its code and figures when the run kept
    them, else its English words."""
    history = reason.get("history")
    if isinstance(history, Mapping):
        return Reason.from_json(history)
    return Reason.typed(str(reason["en"]))


def _release_money(session: Session, app: Application, why: Reason, on: dt.date, actor: str) -> None:
    """Give the firm's grant back to the pool: void a pending reservation, or claw back an award."""
    reason = why.text
    state = State(app.state)
    if state in (State.AWARDED, State.PAYING, State.COMPLETED):
        award = workflows.award_of(session=session, application_id=app.id)
        ledger.clawback(
            session=session,
            award_id=award.id,
            actor=actor,
            reason=reason,
            idempotency_key=f"designation-clawback:{app.id}",
            first_due=on,
        )
        apps.transition(session=session, application_id=app.id, to=State.CLAWED_BACK, actor=actor, reason=why)
        return
    reservation = session.scalar(
        select(Reservation).where(
            Reservation.application_id == app.id, Reservation.status == ReservationStatus.PENDING.value
        )
    )
    if reservation is not None:
        ledger.void_reservation(
            session=session,
            reservation_id=reservation.id,
            actor=actor,
            reason=reason,
            idempotency_key=f"designation-void:{reservation.id}",
        )
    apps.transition(session=session, application_id=app.id, to=State.WITHDRAWN, actor=actor, reason=why)


@dataclass(frozen=True)
class Replacement:
    ended: Designation
    revoked: Sequence[str]
    promoted: Designated | None
    #: Why nobody was promoted, when nobody was.
    note: str = ""


def end_and_replace(
    *,
    session: Session,
    application_id: str,
    cause: str,
    reason: str,
    cf: CallFile,
    programmes: Mapping[str, Programme],
    key: SigningKey,
    on: dt.date,
    actor: str,
) -> Replacement:
    """A designated firm withdraws (``cause="withdrew"``) or loses a condition (``cause="lost a condition"``):
    its designation ends, its certificate is revoked, its grant goes back to the pool, and the next firm of
    the same sector's reserve list that fits the quotas and the budget is designated in its place."""
    why = selection.ended_reason(cause, reason)
    app = apps.get_application(session=session, application_id=application_id)
    ended = selection.end(session=session, application_id=application_id, reason=why.text, actor=actor)
    revoked = []
    for cert in certs.of_subject(session=session, subject=f"designation:{application_id}"):
        certs.revoke(session=session, serial=cert.serial, reason=why.text, actor=actor)
        revoked.append(cert.serial)
    _release_money(session, app, why, on, actor)
    nxt = selection.next_from_reserve(session=session, call_id=ended.call_id, ended=ended, cf=cf)
    if nxt is None:
        return Replacement(ended, revoked, None, f"no firm left on the {ended.sector} reserve list fits")
    d = selection.promote(
        session=session, call_id=ended.call_id, decision=nxt, ended=ended, why=why, actor=actor
    )
    call = apps.get_call(session=session, call_id=ended.call_id)
    promoted_app = apps.get_application(session=session, application_id=nxt.application_id)
    award = _award(
        session, promoted_app, call.pool_id, d.amount, cf, selection.promotion_reason(nxt, ended, why), actor
    )
    serial = _issue(session, cf, d, _names(programmes, cf), key, actor)
    return Replacement(ended, revoked, Designated(d, award, serial))
