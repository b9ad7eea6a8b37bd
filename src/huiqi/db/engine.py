"""Engines and sessions: SQLite made safe for a ledger (WAL, synchronous FULL, BEGIN IMMEDIATE), PostgreSQL
as is; and the one retry loop for transactions that lose a race to a concurrent writer."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from huiqi.db.errors import TooManyRetries

T = TypeVar("T")

#: An execution option of an engine whose transactions only read (``reading``): on SQLite they begin
#: without taking the write lock, so a page is not kept waiting while a match or an import commits.
READ_ONLY = "huiqi_read_only"

#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, unique violation (a concurrent
#: writer inserted the same idempotency key or claim first; the retry sees it and answers properly).
_RETRY_SQLSTATES = {"40001", "40P01", "23505"}


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, open transactions (so they can be IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A read takes no lock: it reads the last committed state (WAL) while a writer goes on.
            conn.exec_driver_sql("BEGIN")
            return
        # Take the write lock up front: a read-then-write transaction can never be overtaken by another.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, pool_size: int = 40, echo: bool = False) -> Engine:
    """An engine for ``url`` (default: settings' database_url); creates the SQLite file's directory."""
    if url is None:
        from huiqi.config import get_settings

        url = get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, echo=echo, pool_size=pool_size, max_overflow=8, connect_args={"timeout": 30}
        )
        _sqlite_setup(engine)
        return engine
    return create_engine(parsed, echo=echo, pool_size=pool_size, max_overflow=8, pool_pre_ping=False)


def reading(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they wait for no writer (see ``READ_ONLY``)."""
    return engine.execution_options(**{READ_ONLY: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so a CLI can print what it just wrote."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def is_retryable(exc: BaseException) -> bool:
    """A conflict with a concurrent writer, as opposed to a mistake that would fail again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _RETRY_SQLSTATES:
        return True
    text = str(orig).lower()
    if isinstance(exc, OperationalError) and ("database is locked" in text or "database is busy" in text):
        return True
    return isinstance(exc, IntegrityError) and "unique constraint failed" in text


@dataclass(frozen=True)
class AtCommit:
    """A statement that must be the transaction's last, run just before COMMIT.

    On PostgreSQL ``run_in_transaction`` sends it and COMMIT in one pipeline, so a row lock it takes is
    held for the statement and the commit only, with no client round trip in between. It must *fail*
    (not just change no row) when it cannot apply, so that the COMMIT behind it never runs; ``translate``
    turns that database error into the domain error the caller should see.
    """

    sql: str  # driver-level SQL, pyformat parameters
    params: dict[str, Any]
    translate: Callable[[BaseException], BaseException | None]


_AT_COMMIT = "huiqi.at_commit"


def run_at_commit(session: Session, statement: AtCommit) -> None:
    session.info.setdefault(_AT_COMMIT, []).append(statement)


def _raise_translated(pending: list[AtCommit], exc: BaseException) -> None:
    for statement in pending:
        translated = statement.translate(exc)
        if translated is not None:
            raise translated from exc


@event.listens_for(Session, "before_commit")
def _run_pending(session: Session) -> None:
    """The portable path: a plain ``session.commit()`` runs the pending statements first. Releasing a
    savepoint fires this event too: the statements wait for the real commit."""
    if session.in_nested_transaction():
        return
    session.info.pop(_MARKS, None)
    pending: list[AtCommit] = session.info.pop(_AT_COMMIT, [])
    for statement in pending:
        try:
            session.connection().exec_driver_sql(statement.sql, statement.params)
        except DBAPIError as exc:
            _raise_translated(pending, exc.orig if exc.orig is not None else exc)
            raise


_MARKS = "huiqi.at_commit_marks"


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    """Remember how many statements were pending when a savepoint began, to drop only its own."""
    if transaction.nested:
        marks = session.info.setdefault(_MARKS, {})
        marks[transaction] = len(session.info.get(_AT_COMMIT, []))


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous: SessionTransaction) -> None:
    """A rollback of the whole transaction drops every pending statement; rolling back to a savepoint drops
    those queued since it began (what was queued before it still stands)."""
    if previous.parent is None:
        session.info.pop(_AT_COMMIT, None)
        session.info.pop(_MARKS, None)
    elif previous.nested:
        mark = session.info.get(_MARKS, {}).pop(previous, None)
        pending = session.info.get(_AT_COMMIT)
        if mark is not None and pending:
            del pending[mark:]


def _commit_pipelined(session: Session) -> None:
    """Send the pending statements and COMMIT together (PostgreSQL, psycopg pipeline mode)."""
    import psycopg

    pending: list[AtCommit] = session.info.pop(_AT_COMMIT, [])
    if pending:
        session.flush()
        raw = session.connection().connection.driver_connection
        if not isinstance(raw, psycopg.Connection):
            raise TypeError(f"pipelined commit needs a psycopg connection, got {type(raw).__name__}")
        try:
            with raw.pipeline():
                with raw.cursor() as cursor:
                    for statement in pending:
                        cursor.execute(statement.sql, statement.params)
                raw.commit()
        except psycopg.Error as exc:
            _raise_translated(pending, exc)
            raise DBAPIError(pending[0].sql, pending[0].params, exc) from exc
    session.commit()  # bookkeeping: the driver's transaction is already committed, its COMMIT is a no-op


def run_in_transaction(
    factory: Callable[[], Session],
    work: Callable[[Session], T],
    *,
    attempts: int = 12,
    base_delay: float = 0.002,
    max_delay: float = 0.2,
) -> T:
    """Run ``work`` in a fresh session and commit; on a retryable conflict roll back and try again.

    ``work`` must be safe to re-run from the start (services flush and never commit, so a rollback undoes
    everything). Backoff is exponential with full jitter, bounded by ``attempts``.
    """
    last: BaseException | None = None
    for attempt in range(attempts):
        session = factory()
        try:
            result = work(session)
            if session.info.get(_AT_COMMIT) and session.get_bind().dialect.name == "postgresql":
                _commit_pipelined(session)
            else:
                session.commit()
            return result
        except DBAPIError as exc:
            session.rollback()
            if not is_retryable(exc):
                raise
            last = exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        time.sleep(random.uniform(0, min(max_delay, base_delay * (2**attempt))))  # nosec B311  # jitter
    if last is None:
        raise ValueError(f"run_in_transaction needs at least one attempt, got attempts={attempts}")
    raise TooManyRetries(attempts, last) from last
