"""A match holds SQLite's write lock only while it stores: loading, compiling and evaluating the register run
outside any write transaction, so the rest of the server (and a background match's own progress polling) can
write meanwhile; a run that another run overtook between its reading and its storing still stores exactly
what a full evaluation of its register gives; a failure stores nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dbfixtures import Db
from huiqi.accounts import service as accounts
from huiqi.accounts.models import Role, User
from huiqi.db import make_engine, make_session_factory, run_in_transaction
from huiqi.firms.synth import synth_register
from huiqi.matching.models import MatchEligible, MatchRun, Notification
from huiqi.matching.run import Outcome, current_results, run_match
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack

PACK = load_pack("shanghai")
ON = dt.date(2025, 7, 28)
N = 80
#: How long the other writer waits for the lock: far less than any match, so a held lock shows as an error.
BUSY_MS = 200
PASSWORD = "a long enough password 42"
#: Generous bound for a paused thread to reach its pause point (a failing run must not hang the suite).
WAIT = 60.0

Row = tuple[str, str, bool, Decimal, str]


def full(tables: dict[str, pa.Table]) -> list[Row]:
    long = evaluate_register(PACK, tables, ON)
    cols = ("uscc", "programme", "eligible", "amount", "unmet")
    return sorted(
        (u, p, e, a, n or "") for u, p, e, a, n in zip(*(long[c].to_pylist() for c in cols), strict=True)
    )


def stored(db: Db) -> list[Row]:
    with db.session() as s:
        r = current_results(s, PACK, ON, sorted(PACK))
    cols = ("uscc", "programme", "eligible", "amount", "unmet")
    return sorted(zip(*(r[c].to_pylist() for c in cols), strict=True))


def impatient_engine(db: Db) -> Engine:
    """The same database, but a writer that gives up after ``BUSY_MS`` instead of the usual 30 s."""
    engine = make_engine(db.url, pool_size=1)

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_connection: Any, _record: Any) -> None:  # runs after huiqi's own setup
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_MS}")

    return engine


class Pause:
    """A progress callback that stops the match once, at ``label``/``done``, until released."""

    def __init__(self, label: str, done: int) -> None:
        self.at = (label, done)
        self.reached = threading.Event()
        self.release = threading.Event()
        self.seen: list[tuple[str, int]] = []

    def __call__(self, label: str, done: int) -> None:
        self.seen.append((label, done))
        if (label, done) == self.at and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(WAIT), "the test never released the match"


def in_thread(db: Db, work: Callable[[Session], Outcome]) -> tuple[threading.Thread, list[Any]]:
    """Run a match as the web's background job does: one transaction, retried on a conflict."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(run_in_transaction(db.factory, work))
        except BaseException as exc:  # handed to the test, which fails on it
            out.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def finish(thread: threading.Thread, out: list[Any], pause: Pause) -> Outcome:
    pause.release.set()
    thread.join(WAIT)
    assert not thread.is_alive() and len(out) == 1
    if isinstance(out[0], BaseException):
        raise out[0]
    assert isinstance(out[0], Outcome)
    return out[0]


def test_others_can_write_while_a_match_computes(sqlite_db: Db) -> None:
    tables = synth_register(N, 5)
    pause = Pause("programmes", 0)
    thread, out = in_thread(sqlite_db, lambda s: run_match(s, PACK, tables, ON, progress=pause))
    try:
        assert pause.reached.wait(WAIT), f"the match never reached its compute phase: {pause.seen}, {out}"
        other = impatient_engine(sqlite_db)
        try:
            # a write from elsewhere in the server (a new user, a job's progress) goes through at once
            with make_session_factory(other)() as s:
                accounts.create_user(
                    session=s,
                    username="written-meanwhile",
                    password=PASSWORD,
                    role=Role.OFFICER,
                    actor="test",
                )
                s.commit()
        except OperationalError as exc:
            pytest.fail(f"a write while the match computes waited for its lock: {exc}")
        finally:
            other.dispose()
    finally:
        outcome = finish(thread, out, pause)
    assert outcome.rows_computed == N * len(PACK) and outcome.results.num_rows == N * len(PACK)
    want = full(tables)
    assert stored(sqlite_db) == want
    with sqlite_db.session() as s:
        meanwhile = select(func.count()).select_from(User).where(User.username == "written-meanwhile")
        assert s.scalar(meanwhile) == 1
        assert s.scalar(select(func.count()).select_from(Notification)) == sum(row[2] for row in want)


def test_a_run_overtaken_between_reading_and_storing_still_stores_its_register(sqlite_db: Db) -> None:
    """A reads what the last run left, B (a changed firm) stores meanwhile, then A stores: A's view is stale,
    so A must notice and work again from what B left, ending with exactly its own register's results."""
    tables = synth_register(N, 6)
    with sqlite_db.session() as s:
        run_match(s, PACK, tables, ON)
        s.commit()
    firms = tables["firms"]
    sales = firms["sales_2024"].to_pylist()
    sales[3] = (sales[3] or Decimal(0)) + Decimal("987654321.00")
    changed = dict(tables)
    changed["firms"] = firms.set_column(
        firms.schema.get_field_index("sales_2024"), "sales_2024", pa.array(sales, firms["sales_2024"].type)
    )
    want_a, want_b = full(tables), full(changed)
    assert want_a != want_b

    pause = Pause("store", 0)  # A has read (nothing changed for it) and computed; it has not stored
    thread, out = in_thread(sqlite_db, lambda s: run_match(s, PACK, tables, ON, progress=pause))
    try:
        assert pause.reached.wait(WAIT), f"A never got to its storing: {pause.seen}, {out}"
        with sqlite_db.session() as s:  # B
            b = run_match(s, PACK, changed, ON)
            s.commit()
        assert b.recomputed_firms == 1
        assert stored(sqlite_db) == want_b
    finally:
        a = finish(thread, out, pause)
    assert a.recomputed_firms == 1 and a.rows_computed == len(PACK)
    assert stored(sqlite_db) == want_a
    with sqlite_db.session() as s:
        keys = s.execute(
            select(Notification.uscc, Notification.programme, Notification.programme_digest)
        ).all()
    assert len(keys) == len(set(keys)), "no firm is told twice"


def test_a_failure_while_storing_stores_nothing(sqlite_db: Db) -> None:
    tables = synth_register(40, 7)

    def counts() -> tuple[int, int, int]:
        with sqlite_db.session() as s:
            return tuple(  # type: ignore[return-value]
                s.scalar(select(func.count()).select_from(m)) or 0
                for m in (MatchRun, MatchEligible, Notification)
            )

    with sqlite_db.session() as s:
        run_match(s, PACK, tables, ON)
        s.commit()
    before = counts()

    class Boom(Exception):
        pass

    def fail_late(s: Session, label: str, done: int) -> None:
        if (label, done) == ("outbox", 1):  # the last tick: the rows are in the database, not committed
            assert s.scalar(select(func.count()).select_from(MatchRun)) == before[0] + 1
            raise Boom(label)

    edited = dict(PACK)
    pid = "shanghai.hq.designation"
    edited[pid] = dataclasses.replace(PACK[pid], digest="0" * 64)
    with pytest.raises(Boom):
        run_in_transaction(
            sqlite_db.factory,
            lambda s: run_match(
                s, edited, tables, ON, progress=lambda label, done: fail_late(s, label, done)
            ),
        )
    assert counts() == before
