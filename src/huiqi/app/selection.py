"""Designation calls from the call file to the published list: eligibility by the rules engine, selection
under quotas and budget by the exact optimiser, the start-up grants through the ledger, the reserve list and
promotion when a designated firm leaves, and the list published in Chinese and English.

Selecting and ending a designation move money: they run once per idempotency key
(``huiqi.app.idempotency.run_once``), so a retry answers the first result and never awards twice; above the
second-approval amount (the total the action moves) they are held for a second officer instead
(``huiqi.app.holding``: the same 待复核 queue as the ledger's moves), who does them from the stored request.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiqi.app import call_files
from huiqi.app.holding import HeldView, MoveSummary, held_view, limit_of, run_or_hold
from huiqi.app.jsonable import as_json, from_json
from huiqi.app.review import RubricRow, rubric_rows
from huiqi.app.store import Store
from huiqi.applications import service as apps
from huiqi.certificates.keys import SigningKey, signing_key
from huiqi.ledger.models import Pool
from huiqi.rules.programme import Programme
from huiqi.selection import service as selection
from huiqi.selection.callfile import CallFile, load_call_file
from huiqi.selection.errors import AlreadySelected
from huiqi.selection.models import Designation, Outcome, SelectionDecision, SelectionRun
from huiqi.selection.service import COLUMNS, sector_name
from huiqi.workflows import designation as flow

__all__ = ["COLUMNS", "CallFile", "Outcome", "read_call_file", "sector_name"]

#: The selection's money moves, as their idempotency keys and held moves name them.
SELECT = "selection.run"
END = "designation.end"
HELD_OPERATIONS = (SELECT, END)


# --- read models -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFileView:
    """A call's file as the officer sees it: what it sets, its digest, and its text."""

    call_id: str
    sha256: str
    programme: str
    grant_programme: str | None
    batch: dict[str, str]
    rubric: list[RubricRow]
    reviewers_per_application: int
    quota_total: int
    budget: str | None
    text: str

    @classmethod
    def of(cls, call_id: str, cf: CallFile, digest: str, text: str) -> CallFileView:
        return cls(
            call_id,
            digest,
            cf.programme,
            cf.grant_programme,
            {"zh": cf.batch.zh, "en": cf.batch.en},
            rubric_rows(cf),
            cf.review.reviewers_per_application,
            cf.quotas.total,
            None if cf.budget is None else str(cf.budget.amount),
            text,
        )


@dataclass(frozen=True)
class DesignationCall:
    """A call an officer can run as a designation call, and how far it got."""

    id: str
    programme_id: str
    allocation_mode: str
    has_call_file: bool
    selected: bool


@dataclass(frozen=True)
class CheckedRow:
    application_id: str
    state: str


@dataclass(frozen=True)
class Checked:
    call_id: str
    checked: list[CheckedRow]


@dataclass(frozen=True)
class DecisionView:
    """What the selection decided for one application, and why (``reason``: code, en, zh, figures)."""

    application_id: str
    firm_uscc: str
    sector: str
    district: str | None
    outcome: str
    rank: int | None
    sector_rank: int | None
    score: str | None
    amount: str
    reserve_seq: int | None
    reason: dict[str, Any]

    @classmethod
    def of(cls, d: SelectionDecision) -> DecisionView:
        return cls(
            d.application_id,
            d.firm_uscc,
            d.sector,
            d.district,
            d.outcome,
            d.rank,
            d.sector_rank,
            d.score,
            str(d.amount),
            d.reserve_seq,
            d.reason,
        )


@dataclass(frozen=True)
class ReserveView(DecisionView):
    #: True once the firm was promoted into a designation that ended.
    promoted: bool = False


@dataclass(frozen=True)
class DesignationView:
    """A designated firm: rank, score, grant, and where the designation came from or why it ended."""

    application_id: str
    firm_uscc: str
    name_zh: str
    name_en: str | None
    sector: str
    district: str | None
    rank: int
    sector_rank: int
    score: str
    amount: str
    status: str
    source: str
    replaces_application_id: str | None
    reason: str
    end_reason: str | None

    @classmethod
    def of(cls, d: Designation) -> DesignationView:
        return cls(
            d.application_id,
            d.firm_uscc,
            d.name_zh,
            d.name_en,
            d.sector,
            d.district,
            d.rank,
            d.sector_rank,
            d.score,
            str(d.amount),
            d.status,
            d.source,
            d.replaces_application_id,
            d.reason,
            d.end_reason,
        )


@dataclass(frozen=True)
class DesignatedView(DesignationView):
    """A designation made by this operation, with its award (none when the grant programme refused the
    firm) and its certificate."""

    award_id: str | None = None
    certificate_serial: str | None = None

    @classmethod
    def made(cls, done: flow.Designated) -> DesignatedView:
        base = asdict(DesignationView.of(done.designation))
        return cls(
            **base, award_id=done.award.id if done.award else None, certificate_serial=done.certificate_serial
        )


@dataclass(frozen=True)
class RunView:
    id: str
    config_digest: str
    budget: str | None
    spent: str
    total_score: str
    seconds: str
    created_at: str

    @classmethod
    def of(cls, r: SelectionRun) -> RunView:
        return cls(
            r.id,
            r.config_digest,
            None if r.budget is None else str(r.budget),
            str(r.spent),
            r.total_score,
            r.seconds,
            r.created_at.isoformat(),
        )


@dataclass(frozen=True)
class SelectionView:
    """The run, the designated firms, every left-out firm's binding reason, the reserve list in order."""

    call_id: str
    run: RunView
    designations: list[DesignationView]
    left_out: list[DecisionView]
    reserve: list[ReserveView]
    decisions: list[DecisionView]


@dataclass(frozen=True)
class Selected:
    """The firms designated by a selection (grants awarded, certificates issued)."""

    call_id: str
    designated: list[DesignatedView]
    #: What it moves (the total of the grants, the pool before and after) and whether a second officer
    #: must approve it.
    summary: MoveSummary | None = None
    replayed: bool = False


@dataclass(frozen=True)
class Ended:
    """A designation ended (certificate revoked, grant back to the pool) and who was promoted, if anyone."""

    ended: DesignationView
    revoked: list[str]
    promoted: DesignatedView | None
    note: str
    #: What it moves (the grant returned plus the promoted firm's) and whether a second officer must approve.
    summary: MoveSummary | None = None
    replayed: bool = False


@dataclass(frozen=True)
class PublishedList:
    """The designated list as published, in one language: one row per firm, keyed by ``columns``."""

    call_id: str
    programme: str
    batch: str
    date: str
    columns: list[str]
    rows: list[dict[str, Any]]

    def csv(self) -> str:
        """The list as CSV (the columns in the language's order)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buf.getvalue()


# --- the call file -----------------------------------------------------------------------------------------


def read_call_file(*, path: Path) -> CallFile:
    """A call file from disk, validated: every problem is reported at file:line:column."""
    return load_call_file(path)


def save_call_file(store: Store, *, call_id: str, text: str, actor: str) -> CallFileView:
    """Keep the call's rubric, quotas, budget and tranches (validated first); refused once it is selected."""
    cf = call_files.parse(text, call_id)

    def work(s: Session) -> CallFileView:
        apps.get_call(session=s, call_id=call_id)
        run = s.scalar(select(SelectionRun).where(SelectionRun.call_id == call_id))
        if run is not None:
            raise AlreadySelected(call_id, run.id)
        row = call_files.keep(s, call_id, text, actor)
        return CallFileView.of(call_id, cf, row.sha256, text)

    return store.write(work)


def get_call_file(store: Store, *, call_id: str) -> CallFileView:
    """The call file an officer uploaded for the call (refused when there is none)."""

    def work(s: Session) -> CallFileView:
        cf = call_files.for_call(s, call_id)
        row = call_files.stored(s, call_id)
        assert row is not None  # nosec B101  # for_call refused a call without one
        return CallFileView.of(call_id, cf, row.sha256, row.text)

    return store.read(work)


def designation_calls(store: Store) -> list[DesignationCall]:
    """Every call with whether it has a call file and a selection, for the officer's list."""

    def work(s: Session) -> list[DesignationCall]:
        selected = set(s.scalars(select(SelectionRun.call_id)))
        return [
            DesignationCall(
                c.id,
                c.programme_id,
                c.allocation_mode,
                call_files.stored(s, c.id) is not None,
                c.id in selected,
            )
            for c in apps.list_calls(session=s)
        ]

    return store.read(work)


# --- eligibility, selection, designations -----------------------------------------------------------------


def check_applications(
    store: Store,
    *,
    call_id: str,
    programmes: Mapping[str, Programme],
    on: dt.date,
    actor: str,
    call_file: CallFile | None = None,
) -> Checked:
    """Judge every submitted application by the rules: eligible ones go to review, others are rejected."""

    def work(s: Session) -> Checked:
        cf = call_files.for_call(s, call_id, call_file)
        done = flow.check_all(session=s, call_id=call_id, programmes=programmes, cf=cf, on=on, actor=actor)
        return Checked(call_id, [CheckedRow(a.id, a.state) for a in done])

    return store.write(work)


def _pool_now(s: Session, call_id: str) -> tuple[str, str, Decimal]:
    """The call's pool: its id, name and what is available in it now (read from the database)."""
    pool_id = apps.get_call(session=s, call_id=call_id).pool_id
    name, available = s.execute(select(Pool.name, Pool.available).where(Pool.id == pool_id)).one()
    return pool_id, name, Decimal(available)


def _summary(
    s: Session,
    operation: str,
    call_id: str,
    before: Decimal,
    awarded: Decimal,
    limit: Decimal,
    ended: DesignationView | None = None,
    outcome: str = "",
) -> MoveSummary:
    """What a selection's move did in ``s``: the grants it awarded plus what it returned to the pool."""
    pool_id, name, after = _pool_now(s, call_id)
    amount = awarded + max(after - before + awarded, Decimal(0))
    return MoveSummary(
        operation,
        None if ended is None else ended.application_id,
        None if ended is None else ended.firm_uscc,
        None if ended is None else ended.name_zh,
        pool_id,
        name,
        amount,
        before,
        after,
        None,
        None,
        None,
        outcome,
        amount > limit,
        limit,
        call_id,
    )


def _granted(views: list[DesignatedView]) -> Decimal:
    return sum((Decimal(d.amount) for d in views if d.award_id), Decimal(0))


def selected_in(
    s: Session,
    call_id: str,
    programmes: Mapping[str, Programme],
    key: SigningKey,
    actor: str,
    call_file: CallFile | None,
    limit: Decimal | None = None,
) -> Selected:
    """The selection made in session ``s`` (committed by the caller, or rolled back for a preview), with what
    it moves."""
    before = _pool_now(s, call_id)[2]
    cf = call_files.for_call(s, call_id, call_file)
    done = flow.select_and_award(
        session=s, call_id=call_id, cf=cf, programmes=programmes, key=key, actor=actor
    )
    made = [DesignatedView.made(d) for d in done]
    outcome = f"{len(made)} designated"
    summary = _summary(s, SELECT, call_id, before, _granted(made), limit_of(limit), outcome=outcome)
    return Selected(call_id, made, summary)


def _moved(
    store: Store,
    operation: str,
    body: dict[str, Any],
    call_file: CallFile | None,
    key: str,
    actor: str,
    above: Decimal | None,
    made: Callable[[Session, Decimal], Selected | Ended],
) -> dict[str, Any]:
    """A selection's move done once per key, or held for a second officer above the amount: the answer
    kept under the key. The approval does it again from the request and the call file given (if any)."""

    def work(s: Session, _ledger_key: str, limit: Decimal) -> tuple[dict[str, Any], MoveSummary]:
        done = made(s, limit)
        assert done.summary is not None  # nosec B101  # selected_in and ended_in always sum up
        return dict(as_json(done)), done.summary

    params = body if call_file is None else {**body, "call_file": call_file.model_dump(mode="json")}
    return run_or_hold(
        store,
        operation=operation,
        body=body,
        params=params,
        key=key,
        actor=actor,
        above=above,
        work=work,
    )


def select_and_award(
    store: Store,
    *,
    call_id: str,
    programmes: Mapping[str, Programme],
    idempotency_key: str,
    actor: str,
    call_file: CallFile | None = None,
    above: Decimal | None = None,
) -> Selected | HeldView:
    """Select under quotas and budget, award the grants and issue the certificates, once per key; when the
    grants total more than the second-approval amount, held for a second officer instead."""
    key = signing_key()
    out = _moved(
        store,
        SELECT,
        {"call": call_id},
        call_file,
        idempotency_key,
        actor,
        above,
        lambda s, limit: selected_in(s, call_id, programmes, key, actor, call_file, limit),
    )
    return held_view(store, out) or from_json(Selected, out)


def preview_selection(
    store: Store,
    *,
    call_id: str,
    programmes: Mapping[str, Programme],
    call_file: CallFile | None = None,
    above: Decimal | None = None,
) -> Selected:
    """What selecting would designate and award, worked out and rolled back, for the officer to confirm (and
    whether a second officer must approve it)."""
    key = signing_key()
    return store.read(lambda s: selected_in(s, call_id, programmes, key, "preview", call_file, above))


def selection_of(store: Store, *, call_id: str) -> SelectionView:
    """Every decision of a call's selection with its reason, the designations and the reserve list."""

    def work(s: Session) -> SelectionView:
        run = selection.get_run(session=s, call_id=call_id)
        decisions = selection.decisions_of(session=s, call_id=call_id)
        designations = selection.designations_of(session=s, call_id=call_id, active_only=False)
        reserve = sorted(
            (d for d in decisions if d.outcome == Outcome.RESERVE.value),
            key=lambda d: (d.sector, d.reserve_seq or 0),
        )
        promoted = {d.application_id for d in designations}
        left = (Outcome.NOT_SELECTED.value, Outcome.INELIGIBLE.value)
        return SelectionView(
            call_id,
            RunView.of(run),
            [DesignationView.of(d) for d in designations],
            [DecisionView.of(d) for d in decisions if d.outcome in left],
            [
                ReserveView(**asdict(DecisionView.of(d)), promoted=d.application_id in promoted)
                for d in reserve
            ],
            [DecisionView.of(d) for d in decisions],
        )

    return store.read(work)


def ended_in(
    s: Session,
    application_id: str,
    cause: str,
    reason: str,
    on: dt.date,
    programmes: Mapping[str, Programme],
    key: SigningKey,
    actor: str,
    call_file: CallFile | None,
    limit: Decimal | None = None,
) -> Ended:
    """The designation ended in session ``s`` (committed by the caller, or rolled back for a preview), with
    what it moves."""
    call_id = apps.get_application(session=s, application_id=application_id).call_id
    before = _pool_now(s, call_id)[2]
    cf = call_files.for_application(s, application_id, call_file)
    rep = flow.end_and_replace(
        session=s,
        application_id=application_id,
        cause=cause,
        reason=reason,
        cf=cf,
        programmes=programmes,
        key=key,
        on=on,
        actor=actor,
    )
    promoted = None if rep.promoted is None else DesignatedView.made(rep.promoted)
    ended = DesignationView.of(rep.ended)
    awarded = _granted([] if promoted is None else [promoted])
    outcome = "ended" if promoted is None else f"ended; promoted {promoted.name_zh}"
    summary = _summary(s, END, call_id, before, awarded, limit_of(limit), ended, outcome)
    return Ended(ended, list(rep.revoked), promoted, rep.note, summary)


def _cause(lost_condition: bool) -> str:
    return "lost a condition" if lost_condition else "withdrew"


def end_designation(
    store: Store,
    *,
    application_id: str,
    reason: str,
    lost_condition: bool,
    on: dt.date,
    programmes: Mapping[str, Programme],
    idempotency_key: str,
    actor: str,
    call_file: CallFile | None = None,
    above: Decimal | None = None,
) -> Ended | HeldView:
    """A firm that withdrew or lost a condition leaves; its money returns and the reserve's next comes in;
    when that moves more than the second-approval amount, held for a second officer instead."""
    key = signing_key()
    cause = _cause(lost_condition)

    body = {
        "application": application_id,
        "reason": reason,
        "lost_condition": lost_condition,
        "on": on.isoformat(),
    }
    out = _moved(
        store,
        END,
        body,
        call_file,
        idempotency_key,
        actor,
        above,
        lambda s, limit: ended_in(
            s, application_id, cause, reason, on, programmes, key, actor, call_file, limit
        ),
    )
    return held_view(store, out) or from_json(Ended, out)


def preview_end(
    store: Store,
    *,
    application_id: str,
    reason: str,
    lost_condition: bool,
    on: dt.date,
    programmes: Mapping[str, Programme],
    call_file: CallFile | None = None,
    above: Decimal | None = None,
) -> Ended:
    """What ending a designation would return and whom it would promote, rolled back, to confirm first (and
    whether a second officer must approve it)."""
    key = signing_key()
    cause = _cause(lost_condition)
    return store.read(
        lambda s: ended_in(s, application_id, cause, reason, on, programmes, key, "preview", call_file, above)
    )


def done_on_approval(
    s: Session,
    operation: str,
    params: dict[str, Any],
    *,
    actor: str,
    programmes: Mapping[str, Programme] | None,
) -> dict[str, Any]:
    """A held selection's move done in ``s`` as its maker asked (``actor``), when a second officer approves
    it: from the stored request, with the programmes the site serves now."""
    if programmes is None:
        raise ValueError(f"{operation}: approving a selection's move needs the programmes the site serves")
    key = signing_key()
    given = params.get("call_file")
    cf = None if given is None else CallFile.model_validate(given)
    if operation == SELECT:
        return dict(as_json(selected_in(s, str(params["call"]), programmes, key, actor, cf)))
    ended = ended_in(
        s,
        str(params["application"]),
        _cause(bool(params["lost_condition"])),
        str(params["reason"]),
        dt.date.fromisoformat(str(params["on"])),
        programmes,
        key,
        actor,
        cf,
    )
    return dict(as_json(ended))


def published_list(
    store: Store, *, call_id: str, lang: str, call_file: CallFile | None = None
) -> PublishedList:
    """The designated list for the public, in Chinese or English, ordered by sector and rank."""

    def work(s: Session) -> PublishedList:
        cf = call_files.for_call(s, call_id, call_file)
        ds = selection.designations_of(session=s, call_id=call_id)
        return PublishedList(
            call_id,
            cf.programme,
            cf.batch.zh if lang == "zh" else cf.batch.en,
            cf.date.isoformat(),
            list(COLUMNS[lang]),
            selection.published_rows(ds, cf, lang),
        )

    return store.read(work)
