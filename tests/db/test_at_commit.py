"""Statements queued to run just before COMMIT (``run_at_commit``) and savepoints: releasing a savepoint
does not run them early, rolling back to one drops only those queued since it began, and a rollback of the
whole transaction drops them all."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from huiqi.db.engine import AtCommit, make_engine, make_session_factory, run_at_commit


def _insert(value: int) -> AtCommit:
    return AtCommit("INSERT INTO t (x) VALUES (:x)", {"x": value}, lambda exc: None)


def _rows(factory: sessionmaker[Session]) -> list[int]:
    with factory() as s:
        return [r[0] for r in s.execute(text("SELECT x FROM t ORDER BY x"))]


def test_savepoints_neither_run_nor_lose_what_waits_for_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    factory = make_session_factory(engine)
    with factory() as s:
        s.execute(text("SELECT 1"))
        run_at_commit(s, _insert(1))
        with s.begin_nested():
            run_at_commit(s, _insert(2))
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0  # released, not yet run
        nested = s.begin_nested()
        run_at_commit(s, _insert(3))
        nested.rollback()
        s.commit()
    assert _rows(factory) == [1, 2]
    with factory() as s:
        s.execute(text("SELECT 1"))
        run_at_commit(s, _insert(4))
        s.rollback()
        s.commit()
    assert _rows(factory) == [1, 2]
