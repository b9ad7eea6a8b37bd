"""Migrations create exactly what the models describe, on both backends, and the engine is set up safely."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from dbfixtures import Db
from huiqi.app.models import all_tables as load_all_models
from huiqi.db.migrate import current_head
from huiqi.db.types import Money, UTCDateTime
from huiqi.ledger.models import Pool
from huiqi.money import MoneyError


def test_migrations_match_models(db: Db) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, load_all_models()) == []
        assert context.get_current_revision() == current_head()


def test_sqlite_pragmas(sqlite_db: Db) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_money_round_trips_as_fen(db: Db) -> None:
    with db.session() as s:
        s.add(
            Pool(
                id="p",
                name="p",
                size=Decimal("600000000.00"),
                available=Decimal("0.01"),
                period_start=dt.date(2025, 1, 1),
                period_end=dt.date(2025, 12, 31),
            )
        )
        s.commit()
    with db.engine.connect() as conn:
        raw = conn.execute(text("SELECT size, available FROM pools")).one()
    assert (int(raw[0]), int(raw[1])) == (60_000_000_000, 1)
    with db.session() as s:
        pool = s.scalars(select(Pool)).one()
        assert pool.size == Decimal("600000000.00") and pool.created_at.tzinfo is not None


def test_money_type_refuses_floats_and_fractions_of_fen() -> None:
    from sqlalchemy.dialects import sqlite

    m = Money()
    with pytest.raises(MoneyError):
        m.process_bind_param(0.1, sqlite.dialect())
    with pytest.raises(MoneyError):
        m.process_bind_param(Decimal("0.001"), sqlite.dialect())
    assert m.process_bind_param(Decimal("12.34"), sqlite.dialect()) == 1234
    assert m.process_result_value(Decimal(1234), sqlite.dialect()) == Decimal("12.34")
    with pytest.raises(ValueError, match="timezone-aware"):
        UTCDateTime().process_bind_param(dt.datetime(2025, 1, 1), sqlite.dialect())


def test_db_upgrade_creates_sqlite_parent_dir(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from huiqi.db.migrate import upgrade

    target = Path(str(tmp_path)) / "deep" / "dir" / "huiqi.db"
    upgrade(f"sqlite:///{target}")
    assert target.exists()


def test_upgrade_keeps_data_on_sqlite(tmp_path: pytest.TempPathFactory) -> None:
    """0002 rebuilds SQLite tables; rows written under 0001 survive with their references intact."""
    from pathlib import Path

    from huiqi.db import make_engine, make_session_factory
    from huiqi.db.migrate import upgrade
    from huiqi.ledger import service

    url = f"sqlite:///{Path(str(tmp_path)) / 'old.db'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        service.create_pool(
            session=s,
            pool_id="p",
            name="p",
            size="100.00",
            period_start=dt.date(2025, 1, 1),
            period_end=dt.date(2025, 12, 31),
            actor="t",
            idempotency_key="k",
        )
        service.grant_award(
            session=s, pool_id="p", firm_uscc="F", amount="10.00", actor="t", idempotency_key="a"
        )
        s.commit()
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_postings").scalar() == 4
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    from huiqi.ledger.verify import verify_ledger

    with make_session_factory(engine)() as s:
        assert verify_ledger(session=s).ok
    engine.dispose()


def test_the_sqlite_fixture_is_a_fresh_migration(sqlite_db: Db, tmp_path: pytest.TempPathFactory) -> None:
    """``sqlite_db`` copies one migrated template (tests/dbfixtures.py): the copy holds what migrating a new
    file does, schema and rows (the audit chain's head, the reason codes), and no more."""
    import sqlite3
    from pathlib import Path

    from huiqi.db.migrate import upgrade

    fresh = Path(str(tmp_path)) / "fresh.db"
    upgrade(f"sqlite:///{fresh}")

    def dump(path: Path | str) -> list[list[str]]:
        """The statements of the file's SQL dump, each with its lines sorted, in order: migrating twice can
        give a table rebuilt by a batch operation its constraints, and the indexes, in another order."""
        conn = sqlite3.connect(path)
        try:
            statements = conn.iterdump()
            return sorted(sorted(line.strip().rstrip(",") for line in s.splitlines()) for s in statements)
        finally:
            conn.close()

    copied = dump(str(sqlite_db.engine.url.database))
    assert copied == dump(fresh)
    assert any(s[0].startswith('INSERT INTO "audit_head"') for s in copied)
    assert any(s[0].startswith('INSERT INTO "alembic_version"') for s in copied)
