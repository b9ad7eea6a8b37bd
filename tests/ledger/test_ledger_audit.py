"""The audit chain catches an edited, a deleted and a reordered link, naming the first broken one."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dbfixtures import FIRM_A, Db, make_pool
from huiqi.audit import chain as audit
from huiqi.ledger import service


def _chain(db: Db, links: int = 6) -> None:
    make_pool(db)  # one link
    with db.session() as s:
        for i in range(links - 1):
            service.grant_award(
                session=s, pool_id="pool", firm_uscc=FIRM_A, amount="1.00", actor="t", idempotency_key=f"a{i}"
            )
        s.commit()


def _report(db: Db) -> audit.ChainReport:
    with db.session() as s:
        return audit.verify_chain(session=s)


def _tamper(db: Db, *statements: str) -> None:
    with db.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))


def test_intact_chain_verifies(db: Db) -> None:
    _chain(db)
    report = _report(db)
    assert report.ok and report.checked == 6


def test_edited_link_is_found(db: Db) -> None:
    _chain(db)
    _tamper(db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = _report(db)
    assert report.problem is not None and report.problem.seq == 3
    assert "altered" in report.problem.message


def test_edited_payload_with_recomputed_hash_breaks_the_next_link(db: Db) -> None:
    _chain(db)
    with db.session() as s:
        entry = s.get_one(audit.AuditEntry, 3)
        forged = audit.link_hash(
            prev_hash=entry.prev_hash,
            seq=3,
            at=entry.at,
            actor=entry.actor,
            entity=entry.entity,
            action=entry.action,
            payload='{"amount":"999.00"}',
        )
    _tamper(
        db, f"UPDATE audit_log SET payload = '{{\"amount\":\"999.00\"}}', hash = '{forged}' WHERE seq = 3"
    )
    report = _report(db)
    assert report.problem is not None and report.problem.seq == 4


def test_deleted_link_is_found(db: Db) -> None:
    _chain(db)
    _tamper(db, "DELETE FROM audit_log WHERE seq = 4")
    report = _report(db)
    assert report.problem is not None and report.problem.seq == 5
    assert "missing" in report.problem.message


def test_deleted_last_link_is_found(db: Db) -> None:
    _chain(db)
    _tamper(db, "DELETE FROM audit_log WHERE seq = 6")
    report = _report(db)
    assert report.problem is not None and "deleted" in report.problem.message


def test_reordered_links_are_found(db: Db) -> None:
    _chain(db)
    _tamper(
        db,
        "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 1000",
    )
    report = _report(db)
    assert report.problem is not None and report.problem.seq == 2


def test_cli_reports_first_broken_link(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from huiqi.cli.main import app
    from huiqi.config import get_settings

    _chain(db)
    _tamper(db, "UPDATE audit_log SET action = 'nothing' WHERE seq = 2")
    monkeypatch.setenv("HUIQI_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["audit", "verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "broken at link 2" in result.output


def test_same_hash_in_python_and_postgresql(db: Db) -> None:
    """The PostgreSQL one-statement append and the Python verifier agree byte for byte (incl. non-ASCII)."""
    make_pool(db)
    with db.session() as s:
        audit.append(
            session=s,
            actor="审核员",
            entity="call:测试",
            action="opened",
            payload={"name": '模型券 "quoted" \\ back', "n": 1},
        )
        s.commit()
    assert _report(db).ok
