"""Maker-checker for the selection's money moves (issue 14): "select and award" and "end and promote" above
the second-approval amount (the total they move) are held for a second officer as the ledger's moves are,
in the same table and queue, under the same idempotency rules; the checker's approval does them from the
stored request, the maker cannot approve, a rejection needs a reason and moves nothing. On SQLite and
PostgreSQL, over the demo's designation call (four designations of 5,000,000 yuan: 20,000,000 in all)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli_helpers import run, sqlite_url
from dbfixtures import Db
from huiqi.app import call_files, money, selection
from huiqi.app import review as review_cases
from huiqi.app.demo_designation import setup_designation
from huiqi.app.holding import HeldView
from huiqi.app.store import Store
from huiqi.audit.models import AuditEntry
from huiqi.db import make_engine, make_session_factory
from huiqi.ledger.models import Award, LedgerTransaction, Pool
from huiqi.ledger.verify import verify_ledger
from huiqi.review import service as review
from huiqi.review.models import Assignment
from huiqi.rules.loader import load_pack
from huiqi.rules.programme import Programme
from huiqi.selection.models import Designation, SelectionRun
from huiqi.workflows.approvals import AlreadyAwaiting, HeldMove, ReasonRequired, SameOfficer

LIMIT = Decimal("1000000.00")  # the default second-approval amount
HIGH = Decimal("100000000.00")
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
MAKER, CHECKER = "web:alice", "web:bob"


@pytest.fixture(scope="module")
def programmes() -> Mapping[str, Programme]:
    return load_pack("shanghai")


def ready_call(db: Db, programmes: Mapping[str, Programme]) -> str:
    """The demo's designation call with every review scored and normalised (ready to select): its id."""
    with db.session() as s:
        call_id, _waiting = setup_designation(s, programmes, NOW, reviewer="reviewer", actor="demo")
        cf = call_files.for_call(s, call_id)
        for a in list(s.scalars(select(Assignment).where(Assignment.reviewer_id == "reviewer"))):
            review.declare(
                session=s,
                application_id=a.application_id,
                reviewer_id="reviewer",
                conflict=None,
                on=NOW.date(),
                recent_years=3,
                actor="reviewer:reviewer",
            )
            review.submit_scores(
                session=s,
                application_id=a.application_id,
                reviewer_id="reviewer",
                rubric=review_cases.rubric_of(cf),
                scores={c.id: "7" for c in cf.rubric},
                actor="reviewer:reviewer",
            )
        s.commit()
    store = Store(engine=db.engine, factory=db.factory, url=db.url)
    review_cases.normalise_scores(store, call_id=call_id, actor="demo")
    return call_id


@pytest.fixture
def ready(db: Db, programmes: Mapping[str, Programme]) -> tuple[Store, str]:
    call_id = ready_call(db, programmes)
    return Store(engine=db.engine, factory=db.factory, url=db.url), call_id


def count(db: Db, what: Any, *where: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(what).where(*where)) or 0)


def available(db: Db, call_id: str) -> Decimal:
    with db.session() as s:
        return Decimal(s.scalar(select(Pool.available).where(Pool.id == f"hq-startup.{NOW.year}")) or 0)


def select_as(
    store: Store, call_id: str, programmes: Mapping[str, Programme], key: str, above: Decimal
) -> Any:
    return selection.select_and_award(
        store, call_id=call_id, programmes=programmes, idempotency_key=key, actor=MAKER, above=above
    )


def test_a_selection_above_the_amount_waits_for_a_second_officer(
    db: Db, ready: tuple[Store, str], programmes: Mapping[str, Programme]
) -> None:
    store, call_id = ready
    before = available(db, call_id)
    preview = selection.preview_selection(store, call_id=call_id, programmes=programmes, above=LIMIT)
    assert preview.summary is not None and preview.summary.second_approval
    assert preview.summary.amount == Decimal("20000000.00") == before - preview.summary.available_after

    # two requests at once with one key: one held move, both answered with it
    barrier = threading.Barrier(2)

    def at_once(_i: int) -> Any:
        barrier.wait()
        return select_as(store, call_id, programmes, "sel-1", LIMIT)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(at_once, range(2)))
    assert all(isinstance(a, HeldView) for a in answers) and answers[0].id == answers[1].id, answers
    assert count(db, HeldMove) == 1
    held = answers[0]
    assert held.status == "awaiting"
    assert (held.operation, held.amount, held.requested_by) == (
        "selection.run",
        Decimal("20000000.00"),
        MAKER,
    )
    assert held.summary.call_id == call_id and held.summary.outcome == "4 designated"
    # nothing moved: no selection run, no designation, no award, the pool untouched
    assert count(db, SelectionRun) == count(db, Designation) == count(db, Award) == 0
    assert available(db, call_id) == before
    # the same key later answers the same held move; the same selection under another key is refused
    again = select_as(store, call_id, programmes, "sel-1", LIMIT)
    assert isinstance(again, HeldView) and again.id == held.id and again.replayed
    with pytest.raises(AlreadyAwaiting, match=held.id):
        select_as(store, call_id, programmes, "sel-2", LIMIT)
    assert count(db, HeldMove) == 1

    # the application's page finds the held selection of its call
    with db.session() as s:
        app_id = s.scalar(select(Assignment.application_id).limit(1))
    assert held.id in {h.id for h in money.list_approvals(store, application_id=app_id).items}
    assert money.list_approvals(store, application_id="nosuchapp").total == 0


def test_the_checker_approves_it_and_the_grants_are_awarded_once(
    db: Db, ready: tuple[Store, str], programmes: Mapping[str, Programme]
) -> None:
    store, call_id = ready
    before = available(db, call_id)
    held = select_as(store, call_id, programmes, "sel-1", LIMIT)
    assert isinstance(held, HeldView)
    with pytest.raises(SameOfficer):
        money.approve_move(store, approval_id=held.id, key="a0", actor=MAKER, programmes=programmes)
    with pytest.raises(ReasonRequired):
        money.reject_move(store, approval_id=held.id, reason=" ", actor=CHECKER)
    done = money.approve_move(store, approval_id=held.id, key="a1", actor=CHECKER, programmes=programmes)
    assert (done.status, done.decided_by) == ("approved", CHECKER)
    assert done.result is not None and len(done.result["designated"]) == 4
    assert count(db, Designation) == 4 and count(db, Award) == 4
    assert before - available(db, call_id) == Decimal("20000000.00")
    with db.session() as s:
        assert verify_ledger(session=s).ok
        steps = list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == f"approval:{held.id}")
                .order_by(AuditEntry.seq)
            )
        )
        assert steps == ["held_for_second_approval", "second_approval_given"]
        # the grants were awarded as the maker asked, on the checker's approval
        kinds = set(s.scalars(select(LedgerTransaction.actor).where(LedgerTransaction.kind == "award")))
        assert kinds == {MAKER}, kinds
    # the maker's retry replays the held move (now approved); nothing is awarded twice
    again = select_as(store, call_id, programmes, "sel-1", LIMIT)
    assert isinstance(again, HeldView) and again.id == held.id and again.status == "approved"
    assert count(db, Award) == 4

    # ending a designation moves its grant back and the promoted firm's out: above the amount, held too
    with db.session() as s:
        leaving = s.scalars(select(Designation).order_by(Designation.rank)).first()
        assert leaving is not None
    ended = selection.end_designation(
        store,
        application_id=leaving.application_id,
        reason="moved away",
        lost_condition=False,
        on=NOW.date(),
        programmes=programmes,
        idempotency_key="end-1",
        actor=MAKER,
        above=LIMIT,
    )
    assert isinstance(ended, HeldView) and ended.operation == "designation.end"
    assert ended.application_id == leaving.application_id and ended.amount >= Decimal("5000000.00")
    assert money.list_approvals(store, application_id=leaving.application_id).items[-1].id == ended.id
    with db.session() as s:
        assert s.get(Designation, leaving.id).status == "active"  # type: ignore[union-attr]
    approved = money.approve_move(store, approval_id=ended.id, key="a2", actor=CHECKER, programmes=programmes)
    assert approved.status == "approved" and approved.result is not None
    with db.session() as s:
        assert s.get(Designation, leaving.id).status != "active"  # type: ignore[union-attr]
        assert verify_ledger(session=s).ok


def test_a_rejected_selection_moves_nothing_and_below_the_amount_it_is_done_at_once(
    db: Db, ready: tuple[Store, str], programmes: Mapping[str, Programme]
) -> None:
    store, call_id = ready
    before = available(db, call_id)
    held = select_as(store, call_id, programmes, "sel-1", LIMIT)
    assert isinstance(held, HeldView)
    rejected = money.reject_move(
        store, approval_id=held.id, reason="the budget line is not signed", actor=CHECKER
    )
    assert rejected.status == "rejected" and rejected.reason == "the budget line is not signed"
    assert count(db, Award) == 0 and available(db, call_id) == before
    done = select_as(store, call_id, programmes, "sel-2", HIGH)
    assert isinstance(done, selection.Selected) and len(done.designated) == 4
    assert done.summary is not None and not done.summary.second_approval
    assert before - available(db, call_id) == Decimal("20000000.00")


def test_the_cli_holds_a_selection_and_a_second_officer_approves_it(
    cli_env: Path, programmes: Mapping[str, Programme]
) -> None:
    run("db", "upgrade")
    url = sqlite_url(cli_env)
    engine = make_engine(url)
    db = Db("sqlite", url, engine, make_session_factory(engine))
    call_id = ready_call(db, programmes)
    with db.session() as s:
        app_id = s.scalar(select(Assignment.application_id).limit(1))
    engine.dispose()

    out = run("selection", "run", "--call", call_id, "--idempotency-key", "k1", "--actor", "alice")
    found = re.search(r"held for a second officer's approval \(待复核\): approval (\w+), 20,000,000\.00", out)
    assert found, out
    held_id = found.group(1)
    again = run("selection", "run", "--call", call_id, "--idempotency-key", "k1", "--actor", "alice")
    assert f"approval {held_id}," in again and "replayed" in again
    assert held_id in run("ledger", "approvals", "list", "--application", str(app_id))
    refused = run("ledger", "approvals", "approve", held_id, "--actor", "alice", code=2)
    assert "a different officer must approve" in refused, refused
    done = run("ledger", "approvals", "approve", held_id, "--actor", "bob")
    assert "approved by bob" in done and "select and award" in done, done
    explained = run("selection", "explain", "--call", call_id)
    assert explained.count("\tdesignated\t") == 4, explained
    in_zh = run("selection", "explain", "--call", call_id, "--lang", "zh")  # outcomes as words too
    assert in_zh.count("\t已认定\t") == 4 and not re.search(r"\t[a-z_]+\t", in_zh), in_zh
