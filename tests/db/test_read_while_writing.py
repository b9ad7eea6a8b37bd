"""A read on the embedded database waits for no writer: while a match or an import holds the write lock
(SQLite's BEGIN IMMEDIATE), a page's ``Store.read`` sees the last committed state; writes still queue."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from huiqi.app.store import Store


def _answer_within(seconds: float, work: object) -> tuple[bool, list[object]]:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)  # type: ignore[operator]
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), out


def test_a_read_goes_on_while_another_connection_writes(tmp_path: Path) -> None:
    db = tmp_path / "huiqi.db"
    store = Store.open(f"sqlite:///{db}")
    try:
        store.write(lambda s: s.execute(text("CREATE TABLE t (n INTEGER)")))
        store.write(lambda s: s.execute(text("INSERT INTO t VALUES (1)")))
        writer = sqlite3.connect(db, isolation_level=None, timeout=0)
        writer.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
        writer.execute("INSERT INTO t VALUES (2)")
        try:
            done, out = _answer_within(
                10, lambda: store.read(lambda s: s.execute(text("SELECT sum(n) FROM t")).scalar())
            )
            assert done, "a read waited for the writer's lock"
            assert out == [1]  # the committed state, not the writer's row
            # a write still waits for the lock (it would time out after 30 s; it is not asked to here)
            blocked = sqlite3.connect(db, isolation_level=None, timeout=0)
            try:
                blocked.execute("BEGIN IMMEDIATE")
                raise AssertionError("a second writer took the lock")
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
            finally:
                blocked.close()
        finally:
            writer.execute("COMMIT")
            writer.close()
        assert store.read(lambda s: s.execute(text("SELECT sum(n) FROM t")).scalar()) == 3
    finally:
        store.close()
