"""Migration 0012 (reasons as codes) upgrades and downgrades on SQLite and PostgreSQL, keeping every
history row and its words; the rows from before keep no code and are shown from their words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from dbfixtures import DURING_CALL, FIRM_A, Db, fresh_pg_database, make_firm, make_pool, open_call
from huiqi.app.reasons import shown
from huiqi.applications import service as apps
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import alembic_config, current_revision, upgrade

BEFORE = "0011_money_approvals"
AFTER = "0012_reason_codes"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, migrated to head."""
    if request.param == "sqlite":
        target = f"sqlite:///{tmp_path / 'm.db'}"
        upgrade(target)
        yield target
        return
    with fresh_pg_database("huiqi_reasons") as target:
        yield target


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("application_events")}


def _rows(engine: sa.Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(sa.text("SELECT seq, reason FROM application_events"))]


def test_upgrade_and_downgrade_keep_the_history(url: str) -> None:
    engine = make_engine(url)
    try:
        assert current_revision(engine) == AFTER and {"reason_code", "reason_args"} <= _columns(engine)
        db = Db(engine.dialect.name, url, engine, make_session_factory(engine))
        make_pool(db)
        open_call(db)
        with db.session() as s:
            app = apps.submit(
                session=s,
                call_id="call",
                firm=make_firm(FIRM_A),  # type: ignore[arg-type]
                claims=[apps.Claim("C1", Decimal("100.00"))],
                actor="firm",
                now=dt.datetime(*DURING_CALL, tzinfo=dt.UTC),
            )
            s.commit()
            app_id = app.id
        written = _rows(engine)
        assert written == [(1, "created"), (2, "submitted by the firm")]

        command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()
        assert current_revision(engine) == BEFORE
        assert not {"reason_code", "reason_args"} & _columns(engine)
        assert _rows(engine) == written

        upgrade(url)
        engine.dispose()
        assert current_revision(engine) == AFTER
        with db.session() as s:
            events = apps.history(session=s, application_id=app_id)
        assert [(e.reason_code, e.reason_args) for e in events] == [(None, None), (None, None)]
        assert [shown(e.reason_code, e.reason_args) for e in events] == [None, None]
        assert [(e.seq, e.reason) for e in events] == written
    finally:
        engine.dispose()
