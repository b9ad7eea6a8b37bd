"""Calls and applications: open a call, submit, attach evidence, the eligibility check, score, move through
the state machine, withdraw; and what the CLI, the API and the pages show of them.

Read models keep the API's JSON keys as field names (``EventView.from_`` is the key ``from``: a trailing
underscore marks a Python keyword, and the web's encoder drops it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.accounts import service as accounts
from huiqi.app.idempotency import run_once
from huiqi.app.jsonable import as_json, from_json
from huiqi.app.programmes import SHANGHAI
from huiqi.app.registry import open_packs
from huiqi.app.store import Store
from huiqi.applications import evidence as evidence_store
from huiqi.applications import service as apps
from huiqi.applications.errors import ApplicationsError, EvidenceTooLarge, InvalidCall
from huiqi.applications.models import (
    TRANSITIONS,
    AllocationMode,
    Application,
    ApplicationEvent,
    Call,
    EligibilityVerdict,
    State,
)
from huiqi.firms import Firm
from huiqi.ledger import pool_programmes
from huiqi.ledger.models import Pool
from huiqi.rules.errors import UnknownProgramme
from huiqi.rules.programme import Programme
from huiqi.rules.versions import Versions
from huiqi.workflows import service as flows
from huiqi.workflows.checking import engine_verdict

#: The largest evidence file taken, and the ``accept`` attribute of an upload field (for the pages).
EVIDENCE_MAX_BYTES = evidence_store.MAX_BYTES
EVIDENCE_ACCEPT = evidence_store.ACCEPT_ATTRIBUTE
#: Every state and allocation mode, for forms and filters.
STATES = tuple(s.value for s in State)
ALLOCATION_MODES = tuple(m.value for m in AllocationMode)
#: The main road of an application, for a progress indicator.
PROGRESS = (
    State.SUBMITTED.value,
    State.CHECKED.value,
    State.UNDER_REVIEW.value,
    State.APPROVED.value,
    State.AWARDED.value,
    State.PAYING.value,
    State.COMPLETED.value,
)
#: Moves that move money have their own use cases (decide, grant, pay, withdraw, claw back).
_MONEY_STATES = frozenset(
    {State.APPROVED, State.AWARDED, State.PAYING, State.COMPLETED, State.CLAWED_BACK, State.WITHDRAWN}
)


# --- read models --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallView:
    """A programme open for applications in a window, drawing on one pool."""

    id: str
    programme_id: str
    programme_version: str
    pool_id: str
    opens_at: dt.datetime
    closes_at: dt.datetime
    allocation_mode: str

    @classmethod
    def of(cls, c: Call) -> CallView:
        """The view of a stored call."""
        return cls(
            c.id, c.programme_id, c.programme_version, c.pool_id, c.opens_at, c.closes_at, c.allocation_mode
        )

    def is_open(self, at: dt.datetime) -> bool:
        """Whether the call takes applications at ``at``."""
        return self.opens_at <= at < self.closes_at


@dataclass(frozen=True)
class EvidenceView:
    """One evidence file of an application: its content digest, name, type and size."""

    sha256: str
    filename: str
    media_type: str
    size: int


@dataclass(frozen=True)
class EvidenceFileView:
    """Where an evidence file's bytes are, to send them as a download."""

    filename: str
    media_type: str
    path: Path


@dataclass(frozen=True)
class EventView:
    """One move of an application: from what state (``from``) to what, by whom, when and why."""

    seq: int
    from_: str | None
    to: str
    actor: str
    at: dt.datetime
    #: The system's English words, or a person's words as typed (what the audit chain keeps).
    reason: str
    #: The reason as a code and its data (``app.reasons.render`` shows it in a language); None on rows
    #: stored before codes existed.
    reason_code: str | None = None
    reason_args: dict[str, Any] | None = None

    @classmethod
    def of(cls, h: ApplicationEvent) -> EventView:
        """The view of a stored event."""
        return cls(h.seq, h.from_state, h.to_state, h.actor, h.at, h.reason, h.reason_code, h.reason_args)


@dataclass(frozen=True)
class ApplicationSummary:
    """An application as lists show it."""

    id: str
    call_id: str
    firm_uscc: str
    firm_name: str | None
    state: str
    requested: Decimal
    score: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, a: Application) -> ApplicationSummary:
        """The summary of a stored application."""
        return cls(
            a.id,
            a.call_id,
            a.firm_uscc,
            (a.firm_snapshot or {}).get("name_zh"),
            a.state,
            a.requested,
            a.score,
            a.created_at,
            a.updated_at,
        )


@dataclass(frozen=True)
class ApplicationView(ApplicationSummary):
    """An application in full: its claims, the verdict, evidence and history."""

    claims: tuple[dict[str, Any], ...]
    verdict: dict[str, Any] | None
    evidence: tuple[EvidenceView, ...]
    history: tuple[EventView, ...]

    @classmethod
    def full(cls, s: Session, a: Application) -> ApplicationView:
        """The full view of a stored application, read in the session ``s``."""
        head = ApplicationSummary.of(a)
        return cls(
            **{f.name: getattr(head, f.name) for f in fields(ApplicationSummary)},
            claims=tuple(a.claims),
            verdict=a.verdict,
            evidence=_evidence(s, a.id),
            history=tuple(EventView.of(h) for h in apps.history(session=s, application_id=a.id)),
        )


@dataclass(frozen=True)
class ApplicationPage:
    """A page of applications and how many there are in all."""

    total: int
    items: tuple[ApplicationSummary, ...]


@dataclass(frozen=True)
class Promoted:
    """A waitlisted application that got money someone else gave back."""

    application_id: str
    amount: Decimal | None


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawn application and the waitlisted ones approved with the money it gave back."""

    application_id: str
    state: str
    promoted: tuple[Promoted, ...]
    replayed: bool = False


def _evidence(s: Session, application_id: str) -> tuple[EvidenceView, ...]:
    return tuple(
        EvidenceView(e.sha256, link.filename, e.media_type, e.size)
        for link, e in apps.evidence_of(session=s, application_id=application_id)
    )


def _full(s: Session, application_id: str) -> ApplicationView:
    return ApplicationView.full(s, apps.get_application(session=s, application_id=application_id))


# --- calls --------------------------------------------------------------------------------------------------


def _pool_of_programme(s: Session, pool_id: str, programme_id: str, programme: Programme | None) -> Pool:
    """The pool, if a call of this programme may draw on it: the pool the programme's file declares, or a
    pool created for the programme (``programme_id``); never a pool that funds another programme."""
    pool = s.get(Pool, pool_id)
    if pool is None:
        raise InvalidCall(
            f"no pool {pool_id!r}; create it first with `huiqi ledger pool-create`",
            why="no_pool",
            pool=pool_id,
        )
    declared = programme.spec.pool.id if programme is not None and programme.spec.pool else None
    funds = pool_programmes.programme_of(session=s, pool_id=pool_id)
    if funds and funds != programme_id:
        raise InvalidCall(
            f"pool {pool_id!r} funds programme {funds!r}, not {programme_id!r}; "
            + (f"open the call on the programme's pool {declared!r}" if declared else "choose its own pool"),
            why="pool_funds_other" if declared else "pool_funds_other_undeclared",
            pool=pool_id,
            funds=funds,
            programme=programme_id,
            declared=declared or "",
        )
    if funds == programme_id or pool.id == declared or programme is None:
        return pool
    if declared:
        raise InvalidCall(
            f"programme {programme_id!r} draws on its pool {declared!r}, not on pool {pool_id!r}; open the "
            f"call on {declared!r} (or on a pool created for the programme: --programme {programme_id})",
            why="not_its_pool",
            programme=programme_id,
            declared=declared,
            pool=pool_id,
        )
    raise InvalidCall(
        f"programme {programme_id!r} declares no pool, and pool {pool_id!r} was not created for it; create "
        f"a pool for the programme (`huiqi ledger pool-create --programme {programme_id}`) and open the call "
        "on it",
        why="no_pool_declared",
        programme=programme_id,
        pool=pool_id,
    )


def _served_version(known: Versions, programme_id: str, version: str) -> None:
    """Refuse a call on a version that is not served or was withdrawn: its decisions would cite a version
    in force on no date (issue 15)."""
    try:
        programme = known.version(programme_id, version)
    except UnknownProgramme:
        raise InvalidCall(
            f"programme {programme_id} has no version {version} here",
            why="no_version",
            programme=programme_id,
            version=version,
        ) from None
    if known.is_withdrawn(programme):
        raise InvalidCall(
            f"version {version} of {programme_id} was withdrawn; open the call on a version in force",
            why="version_withdrawn",
            programme=programme_id,
            version=version,
        )


def _inside_period(pool: Pool, opens_at: dt.datetime, closes_at: dt.datetime) -> None:
    """Refuse a window (Shanghai dates) that starts before the pool's period or ends after it."""
    if opens_at.tzinfo is None or closes_at.tzinfo is None:
        return  # the domain names the missing timezone
    first = opens_at.astimezone(SHANGHAI).date()
    last = (closes_at.astimezone(SHANGHAI) - dt.timedelta(microseconds=1)).date()
    if first < pool.period_start or last > pool.period_end:
        raise InvalidCall(
            f"the call's window {first} .. {last} is not inside pool {pool.id!r}'s period "
            f"{pool.period_start} .. {pool.period_end}; choose dates inside the period (or a pool whose "
            "period covers the window)",
            why="window_outside_period",
            opens=first,
            closes=last,
            pool=pool.id,
            start=pool.period_start,
            end=pool.period_end,
        )


def open_call(
    store: Store,
    *,
    call_id: str,
    programme_id: str,
    programme_version: str,
    pool_id: str,
    opens_at: dt.datetime,
    closes_at: dt.datetime,
    allocation_mode: str,
    actor: str,
    programmes: Versions | None = None,
) -> CallView:
    """Open a programme for applications in a window, drawing on the programme's pool inside its period
    (``programmes``: those served, default the bundled packs)."""
    known = open_packs().programmes() if programmes is None else programmes
    programme = known.get(programme_id)

    def work(s: Session) -> CallView:
        pool = _pool_of_programme(s, pool_id, programme_id, programme)
        _inside_period(pool, opens_at, closes_at)
        _served_version(known, programme_id, programme_version)
        return CallView.of(
            apps.open_call(
                session=s,
                call_id=call_id,
                programme_id=programme_id,
                programme_version=programme_version,
                pool_id=pool_id,
                opens_at=opens_at,
                closes_at=closes_at,
                allocation_mode=allocation_mode,
                actor=actor,
            )
        )

    return store.write(work)


def list_calls(store: Store, *, open_at: dt.datetime | None = None) -> list[CallView]:
    """Every call (or those taking applications at ``open_at``), by opening time."""
    calls = store.read(lambda s: [CallView.of(c) for c in apps.list_calls(session=s)])
    return calls if open_at is None else [c for c in calls if c.is_open(open_at)]


def get_call(store: Store, *, call_id: str) -> CallView:
    """One call, to show its window, pool and allocation mode."""
    return store.read(lambda s: CallView.of(apps.get_call(session=s, call_id=call_id)))


# --- applications -------------------------------------------------------------------------------------------


def submit_application(
    store: Store,
    *,
    call_id: str,
    claims: Sequence[tuple[str, Decimal]],
    actor: str,
    firm: Firm | None = None,
    firm_uscc: str | None = None,
    evidence: Sequence[tuple[str, bytes]] = (),
    evidence_dir: Path | None = None,
) -> ApplicationView:
    """Submit an application in the call's window with its claims (the firm's profile, given or the one
    stored for ``firm_uscc``, is snapshotted) and any evidence files, all or nothing."""
    if evidence and evidence_dir is None:
        raise ApplicationsError("evidence: no evidence folder is configured")
    items = [apps.Claim(contract, amount) for contract, amount in claims]

    def work(s: Session) -> ApplicationView:
        if firm is not None:
            profile = firm
        elif firm_uscc is not None:
            profile = accounts.get_firm_profile(session=s, uscc=firm_uscc)
        else:
            raise ApplicationsError("name the firm (its stored profile is used) or send its profile")
        a = apps.submit(session=s, call_id=call_id, firm=profile, claims=items, actor=actor)
        if evidence and evidence_dir is None:
            raise ApplicationsError("evidence needs the evidence store's folder (HUIQI_EVIDENCE_DIR)")
        for name, content in evidence:
            assert evidence_dir is not None  # nosec B101  # refused just above; narrows the type for mypy
            apps.attach_evidence(
                session=s,
                application_id=a.id,
                filename=name,
                content=content,
                evidence_dir=evidence_dir,
                actor=actor,
            )
        return ApplicationView.full(s, a)

    return store.write(work)


def list_applications(
    store: Store,
    *,
    state: str | None = None,
    call_id: str | None = None,
    firm_uscc: str | None = None,
    limit: int = 50,
    offset: int = 0,
    oldest_first: bool = False,
) -> ApplicationPage:
    """Applications, newest first (the officer's queue: oldest first), filtered by state, call or firm."""

    def work(s: Session) -> ApplicationPage:
        q = select(Application)
        if state:
            q = q.where(Application.state == state)
        if call_id:
            q = q.where(Application.call_id == call_id)
        if firm_uscc:
            q = q.where(Application.firm_uscc == firm_uscc)
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        order = Application.created_at if oldest_first else Application.created_at.desc()
        rows = s.scalars(q.order_by(order, Application.id).offset(offset).limit(limit))
        return ApplicationPage(total, tuple(ApplicationSummary.of(a) for a in rows))

    return store.read(work)


def count_by_state(store: Store) -> dict[str, int]:
    """How many applications are in each state (what needs attention)."""
    return store.read(
        lambda s: {
            str(k): int(n)
            for k, n in s.execute(select(Application.state, func.count()).group_by(Application.state))
        }
    )


def get_application(store: Store, *, application_id: str) -> ApplicationView:
    """The application, its verdict, evidence and full history."""
    return store.read(lambda s: _full(s, application_id))


def check_upload(*, filename: str, size: int | None) -> None:
    """Refuse a badly named or oversize upload before its bytes are read into memory."""
    evidence_store.check_name(filename)
    if size is not None and size > EVIDENCE_MAX_BYTES:
        raise EvidenceTooLarge(filename, size, EVIDENCE_MAX_BYTES)


def add_evidence(
    store: Store,
    *,
    application_id: str,
    filename: str,
    content: bytes,
    evidence_dir: Path,
    actor: str,
    description: str = "",
) -> EvidenceView:
    """Attach a file (PDF, image or Office document, checked by its content) to an application."""

    def work(s: Session) -> EvidenceView:
        stored = apps.attach_evidence(
            session=s,
            application_id=application_id,
            filename=filename,
            content=content,
            evidence_dir=evidence_dir,
            actor=actor,
            description=description,
        )
        return EvidenceView(stored.sha256, filename, stored.media_type, stored.size)

    return store.write(work)


def get_evidence(
    store: Store, *, application_id: str, sha256: str, evidence_dir: Path
) -> EvidenceFileView | None:
    """Where one evidence file of an application is, to download it; None when it has no such file."""

    def work(s: Session) -> tuple[EvidenceView, ...]:
        apps.get_application(session=s, application_id=application_id)
        return _evidence(s, application_id)

    for e in store.read(work):
        if e.sha256 == sha256:
            return EvidenceFileView(
                e.filename, e.media_type, evidence_store.path_of(sha256, evidence_dir=evidence_dir)
            )
    return None


def _parse_verdict(data: Any) -> EligibilityVerdict:
    """A verdict written as JSON (programme, version, eligible, amount as a string, explanation)."""
    try:
        if not isinstance(data, Mapping):
            raise TypeError("not a JSON object")
        verdict = EligibilityVerdict.from_json(dict(data))
        if isinstance(data.get("amount"), float) or verdict.amount < 0:
            raise ValueError("amount must be a non-negative decimal string")
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ApplicationsError(
            f"verdict: expected programme_id, programme_version, eligible, amount, explanation ({exc})"
        ) from None
    return verdict


def check_application(
    store: Store,
    *,
    application_id: str,
    actor: str,
    programmes: Mapping[str, Programme] | None = None,
    verdict: Any = None,
) -> ApplicationView:
    """The eligibility check: the rules engine on the submitted snapshot with the call's programme version
    (or a verdict given as JSON); the application is then under review, or rejected with the reason."""
    given = None if verdict is None else _parse_verdict(verdict)
    if given is None and programmes is None:
        raise ApplicationsError("the eligibility check needs the programmes in force or a verdict")

    def work(s: Session) -> ApplicationView:
        found = given
        if found is None:
            assert programmes is not None  # nosec B101  # refused before the transaction; for mypy
            app = apps.get_application(session=s, application_id=application_id)
            found = engine_verdict(programmes, app, apps.get_call(session=s, call_id=app.call_id))
        flows.check(session=s, application_id=application_id, verdict=found, actor=actor)
        return _full(s, application_id)

    return store.write(work)


def score_application(store: Store, *, application_id: str, score: Decimal, actor: str) -> ApplicationSummary:
    """Set the score a ranked call sorts by."""
    return store.write(
        lambda s: ApplicationSummary.of(
            apps.set_score(session=s, application_id=application_id, score=score, actor=actor)
        )
    )


def next_moves(state: str) -> tuple[str, ...]:
    """The moves from ``state`` that ``move_application`` makes (none moves money), for a page's buttons."""
    if State(state) in _MONEY_STATES:
        return ()
    allowed = TRANSITIONS[State(state)] - _MONEY_STATES - {State.SUBMITTED, State.CHECKED}
    return tuple(sorted(s.value for s in allowed))


def move_application(
    store: Store, *, application_id: str, to: str, reason: str, actor: str
) -> ApplicationView:
    """Move an application to another state the state machine allows, for moves that move no money."""
    try:
        target = State(to)
    except ValueError:
        raise ApplicationsError(f"to: {to!r} is not a state; states: {', '.join(STATES)}") from None
    if target in (State.SUBMITTED, State.CHECKED):
        raise ApplicationsError(
            f"to {target.value}: submit the application or run its eligibility check",
            why="not_by_a_move",
            to=target.value,
        )
    if target in _MONEY_STATES:
        raise ApplicationsError(
            f"to {target.value} moves money: decide, grant, pay a tranche, claw back or withdraw instead",
            why="moves_money",
            to=target.value,
        )

    def work(s: Session) -> ApplicationView:
        current = apps.get_application(session=s, application_id=application_id).state
        if State(current) in _MONEY_STATES:
            raise ApplicationsError(
                f"application {application_id} is {current}: money is reserved or granted for it; "
                "withdraw it, grant, pay or claw back instead",
                why="money_held",
                application=application_id,
                current=current,
            )
        apps.transition(session=s, application_id=application_id, to=target, actor=actor, reason=reason)
        return _full(s, application_id)

    return store.write(work)


def withdraw_application(
    store: Store, *, application_id: str, reason: str, key: str, actor: str
) -> Withdrawal:
    """Withdraw; money reserved for it goes back to the pool and on to the waitlist (once per key)."""

    def work(s: Session, _key: str) -> dict[str, Any]:
        promoted = flows.withdraw(session=s, application_id=application_id, actor=actor, reason=reason)
        done = Withdrawal(
            application_id,
            State.WITHDRAWN.value,
            tuple(Promoted(d.application_id, d.amount) for d in promoted),
        )
        return dict(as_json(done))

    body = {"application": application_id, "reason": reason}
    return from_json(Withdrawal, run_once(store, key=key, operation="api.withdraw", body=body, work=work))
