"""Database fixtures shared by the db, ledger and applications tests: every test runs on SQLite (a temp
file, migrated) and on PostgreSQL (a database made for this test session, migrated, dropped at the end)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from huiqi.app.models import all_tables as load_all_models
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade

PG_ADMIN_URL = os.environ.get("HUIQI_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class Db:
    name: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]

    def session(self) -> Session:
        return self.factory()


def pg_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run the PostgreSQL tests")
    pytest.skip(message + "; set CI=1 to make this a failure")


def create_pg_database(prefix: str) -> tuple[str, str]:
    """A fresh database with a unique name; returns (name, url)."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return name, sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def fresh_pg_database(prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL database (migrated unless ``migrate`` is false), dropped afterwards; its URL. Skips
    (fails under CI) when PostgreSQL is not reachable."""
    try:
        name, url = create_pg_database(prefix)
    except sa.exc.OperationalError as exc:
        pg_unavailable(str(exc).splitlines()[0])
        raise  # unreachable: skip/fail raise
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_pg_database("huiqi_test") as url:
        yield url


def _truncate_pg(engine: Engine) -> None:
    tables = [t.name for t in load_all_models().sorted_tables]
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        conn.exec_driver_sql(
            "INSERT INTO audit_head (id, seq, prev_hash, hash) VALUES (1, 0, '"
            + "0" * 64
            + "', '"
            + "0" * 64
            + "')"
        )


@functools.cache
def migrated_template() -> Path:
    """A SQLite file migrated to the head once per process (a test worker), removed when it exits: migrating
    takes 0.15-0.35 CPU-s, and about 300 tests a run start from a migrated file."""
    folder = Path(tempfile.mkdtemp(prefix="huiqi-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "huiqi.db"
    upgrade(f"sqlite:///{path}")
    return path


def migrated_sqlite(path: Path) -> str:
    """A fresh SQLite database at ``path``, as migrating a new file makes it (a copy of the migrated template
    through SQLite's backup API, a few milliseconds); its URL."""
    source, target = sqlite3.connect(migrated_template()), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Db]:
    url = migrated_sqlite(tmp_path / "huiqi.db")
    engine = make_engine(url)
    try:
        yield Db("sqlite", url, engine, make_session_factory(engine))
    finally:
        engine.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Db]:
    engine = make_engine(pg_url)
    _truncate_pg(engine)
    try:
        yield Db("postgresql", pg_url, engine, make_session_factory(engine))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Db:
    """The same test on both backends."""
    fixture = "sqlite_db" if request.param == "sqlite" else "pg_db"
    result: Db = request.getfixturevalue(fixture)
    return result


FIRM_A = "91310115MA1K3BTP2B"
FIRM_B = "91110000600037341L"


def make_pool(db: Db, pool_id: str = "pool", size: str = "1000.00", cap: str | None = None) -> None:
    import datetime as dt

    from huiqi.ledger import service

    with db.session() as s:
        service.create_pool(
            session=s,
            pool_id=pool_id,
            name=pool_id,
            size=size,
            period_start=dt.date(2025, 1, 1),
            period_end=dt.date(2025, 12, 31),
            per_firm_cap=cap,
            actor="test",
            idempotency_key=f"pool:{pool_id}",
        )
        s.commit()


def make_firm(uscc: str = FIRM_A, contracts: tuple[str, ...] = ("C1", "C2")) -> object:
    """A minimal valid firm profile with model-use contracts (typed loosely to keep this module light)."""
    from huiqi.firms import Firm

    return Firm.model_validate(
        {
            "uscc": uscc,
            "name_zh": "测试公司",
            "sector": "artificial_intelligence",
            "registration_city": "shanghai",
            "registration_date": "2020-01-01",
            "registered_capital": "1000000",
            "paid_in_capital": "1000000",
            "total_assets": "5000000",
            "contracts": [
                {
                    "id": c,
                    "kind": "model_use",
                    "counterparty": "模型公司",
                    "value": "200.00",
                    "signed": "2025-08-01",
                }
                for c in contracts
            ],
        }
    )


PROGRAMME = "shanghai.ai.model-voucher"
CALL_OPENS = (2025, 9, 1)
CALL_CLOSES = (2025, 12, 1)
DURING_CALL = (2025, 10, 1)


def open_call(db: Db, call_id: str = "call", mode: str = "fcfs", pool_id: str = "pool") -> None:
    """A call on the model voucher, open from 1 September to 1 December 2025, drawing on ``pool_id``."""
    import datetime as dt

    from huiqi.applications import service as apps

    with db.session() as s:
        apps.open_call(
            session=s,
            call_id=call_id,
            programme_id=PROGRAMME,
            programme_version="2025.1",
            pool_id=pool_id,
            opens_at=dt.datetime(*CALL_OPENS, tzinfo=dt.UTC),
            closes_at=dt.datetime(*CALL_CLOSES, tzinfo=dt.UTC),
            allocation_mode=mode,
            actor="officer",
        )
        s.commit()


def submit_checked(
    db: Db, firm: object, amount: str, *, contract: str = "C1", call_id: str = "call", rule: str = "ok"
) -> str:
    """An application for ``amount`` submitted during the call and found eligible by the engine (under
    review); returns its id."""
    import datetime as dt
    from decimal import Decimal

    from huiqi.applications import service as apps
    from huiqi.applications.models import EligibilityVerdict
    from huiqi.firms import Firm
    from huiqi.workflows import service as flows

    assert isinstance(firm, Firm)
    with db.session() as s:
        app = apps.submit(
            session=s,
            call_id=call_id,
            firm=firm,
            claims=[apps.Claim(contract, Decimal(amount))],
            actor="firm",
            now=dt.datetime(*DURING_CALL, tzinfo=dt.UTC),
        )
        flows.check(
            session=s,
            application_id=app.id,
            actor="engine",
            verdict=EligibilityVerdict(PROGRAMME, "2025.1", True, Decimal(amount), {"rule": rule}),
        )
        s.commit()
        return app.id
