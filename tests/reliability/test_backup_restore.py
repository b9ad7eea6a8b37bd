"""The restore in docs/operations.md, run for real: a PostgreSQL database filled through the services is
dumped with ``pg_dump -Fc``, restored with ``pg_restore`` into a fresh database, and the copy must verify with
the project's own checks (``huiqi ledger verify``, ``huiqi audit verify``), hold the same rows in every table,
continue its sequences and audit chain, and accept new money. A backup nobody has restored is a hope."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dbfixtures import (
    FIRM_A,
    FIRM_B,
    Db,
    create_pg_database,
    drop_pg_database,
    make_firm,
    make_pool,
    open_call,
    pg_unavailable,
    submit_checked,
)
from huiqi.accounts import service as accounts
from huiqi.audit import chain as audit
from huiqi.cli.main import app as cli
from huiqi.config import get_settings
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.firms import Firm
from huiqi.ledger import service as ledger
from huiqi.ledger.service import TranchePlan
from huiqi.ledger.verify import verify_ledger
from huiqi.workflows import service as flows

pytestmark = pytest.mark.postgres

PROGRAMME = "shanghai.ai.model-voucher"
DURING = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
PLAN = [
    TranchePlan(Decimal("30.00"), "office opened", dt.date(2025, 11, 1)),
    TranchePlan(Decimal("40.00"), "sales reached", dt.date(2026, 3, 1)),
]


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pg_unavailable(f"{name} is not installed")
    assert path is not None
    return path


def _libpq_url(url: str) -> str:
    """pg_dump and pg_restore take libpq URLs, without SQLAlchemy's driver suffix."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def databases() -> Iterator[tuple[Db, str]]:
    """A migrated source database (as a Db) and the URL of an empty target database, both dropped after."""
    names: list[str] = []
    engines: list[sa.Engine] = []
    try:
        try:
            source_name, source_url = create_pg_database("huiqi_backup_src")
        except sa.exc.OperationalError as exc:
            pg_unavailable(str(exc).splitlines()[0])
            raise
        names.append(source_name)
        target_name, target_url = create_pg_database("huiqi_backup_dst")
        names.append(target_name)
        upgrade(source_url)
        engine = make_engine(source_url, pool_size=2)
        engines.append(engine)
        yield Db("postgresql", source_url, engine, make_session_factory(engine)), target_url
    finally:
        for engine in engines:
            engine.dispose()
        for name in names:
            drop_pg_database(name)


def _fill(db: Db) -> None:
    """Every kind of row the money touches: users, a firm profile, a call, applications through their
    states, an award paid in part, a missed milestone with a recovery reversed, a direct grant, evidence."""
    make_pool(db, "pool", size="500.00")
    with db.session() as s:
        accounts.create_user(
            session=s, username="officer", password="a long enough secret", role="officer", actor="setup"
        )
        accounts.create_user(
            session=s,
            username="firm-a",
            password="another long secret",
            role="firm_member",
            firm_uscc=FIRM_A,
            actor="setup",
        )
        firm_a = make_firm(FIRM_A)
        assert isinstance(firm_a, Firm)
        accounts.save_firm_profile(session=s, data=firm_a.model_dump(mode="json"), actor="firm-a")
        s.commit()
    open_call(db)
    ids = []
    for uscc, amount in ((FIRM_A, "70.00"), (FIRM_B, "50.00")):
        application_id = submit_checked(db, make_firm(uscc), amount, rule="ok, 合格")
        with db.session() as s:
            flows.decide(session=s, application_id=application_id, actor="panel")
            s.commit()
        ids.append(application_id)
    a, b = ids
    with db.session() as s:
        flows.grant(session=s, application_id=a, actor="director", tranches=PLAN)
        flows.pay(session=s, application_id=a, seq=1, actor="treasury", idempotency_key="pay-a-1")
        flows.grant(session=s, application_id=b, actor="director")
        s.commit()
    with db.session() as s:
        flows.miss_milestone(
            session=s,
            application_id=a,
            seq=2,
            as_of=dt.date(2026, 3, 2),
            actor="officer",
            reason="sales not reached",
            idempotency_key="miss-a-2",
            installments=2,
        )
        s.commit()
    with db.session() as s:
        award = flows.award_of(session=s, application_id=a)
        recovery = ledger.record_recovery(
            session=s, award_id=award.id, amount="15.00", actor="treasury", idempotency_key="bank-1"
        )
        ledger.reverse_recovery(
            session=s, transaction_id=recovery.id, actor="treasury", reason="bounced", idempotency_key="rev-1"
        )
        ledger.record_recovery(
            session=s, award_id=award.id, amount="15.00", actor="treasury", idempotency_key="bank-2"
        )
        ledger.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_B,
            amount="123.45",
            actor="officer",
            idempotency_key="direct-1",
            tranches=[TranchePlan(Decimal("123.45"), "signed", dt.date(2025, 12, 31))],
            contracts=["C2"],
        )
        s.commit()


def _tables(conn: sa.Connection) -> list[str]:
    return list(
        conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).scalars()
    )


def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and the md5 of its rows in a fixed order, and every sequence's position."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            out: dict[str, tuple[int, str]] = {}
            for table in _tables(conn):
                rows = "string_agg(t::text, E'\\n' ORDER BY t::text)"
                count, digest = conn.execute(
                    sa.text(f"SELECT count(*), coalesce(md5({rows}), '') FROM \"{table}\" t")
                ).one()
                out[table] = (int(count), str(digest))
            for (seq,) in conn.execute(
                sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            ):
                last = conn.execute(sa.text(f'SELECT last_value, is_called FROM "{seq}"')).one()
                out[f"sequence {seq}"] = (int(last[0]), str(last[1]))
            return out
    finally:
        engine.dispose()


def _cli(url: str, *args: str) -> str:
    runner = CliRunner()
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, list(args), env={"HUIQI_DATABASE_URL": url})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_pg_dump_and_pg_restore_give_back_the_same_verified_money(
    databases: tuple[Db, str], tmp_path: Path
) -> None:
    source, target_url = databases
    _fill(source)
    before = _fingerprint(source.url)
    assert before["audit_log"][0] >= 20 and before["ledger_postings"][0] >= 20, before
    assert before["users"][0] == 2 and before["applications"][0] == 2

    # the procedure of docs/operations.md, "Backups"
    dump = tmp_path / "huiqi.dump"
    subprocess.run(
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), _libpq_url(source.url)],
        check=True,
        timeout=120,
    )
    subprocess.run(
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            _libpq_url(target_url),
            str(dump),
        ],
        check=True,
        timeout=120,
    )

    assert _fingerprint(target_url) == before
    assert "ledger verifies" in _cli(target_url, "ledger", "verify")
    assert f"audit chain verifies: {before['audit_log'][0]} links" in _cli(target_url, "audit", "verify")

    # the copy is live: its audit chain and ledger take new work and still verify
    engine = make_engine(target_url, pool_size=2)
    try:
        restored = Db("postgresql", target_url, engine, make_session_factory(engine))
        with restored.session() as s:
            ledger.grant_award(
                session=s,
                pool_id="pool",
                firm_uscc=FIRM_A,
                amount="10.00",
                actor="officer",
                idempotency_key="after-restore",
                contracts=["C9"],
            )
            s.commit()
        with restored.session() as s:
            replay = ledger.grant_award(
                session=s,
                pool_id="pool",
                firm_uscc=FIRM_B,
                amount="123.45",
                actor="officer",
                idempotency_key="direct-1",
                tranches=[TranchePlan(Decimal("123.45"), "signed", dt.date(2025, 12, 31))],
                contracts=["C2"],
            )
            s.commit()
        with restored.session() as s:
            assert verify_ledger(session=s).ok
            report = audit.verify_chain(session=s)
            assert report.ok and report.checked == before["audit_log"][0] + 1, report
            # the idempotency keys came back too: the repeated request replayed, it did not pay twice
            assert replay.amount == Decimal("123.45")
            assert s.scalar(sa.text("SELECT count(*) FROM awards")) == before["awards"][0] + 1

        # and the checks above can fail: one edited payload is caught by the chain and by the fingerprint
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_log SET payload = payload || ' ' WHERE seq = 3"))
        with restored.session() as s:
            broken = audit.verify_chain(session=s)
        assert not broken.ok and broken.problem is not None and broken.problem.seq == 3
    finally:
        engine.dispose()
    assert _fingerprint(source.url) == before  # the backup changed nothing at the source
