"""The audit head is taken at COMMIT, not at the first link: a long money-moving transaction does not block
other writers' links, and the chain keeps its guarantees (gap-free, hash-linked, order = commit order, every
committed write has its links, nothing of a rolled-back transaction or savepoint appears)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dbfixtures import FIRM_A, FIRM_B, Db, make_firm, make_pool, open_call, submit_checked
from huiqi.audit import chain as audit
from huiqi.audit.models import AuditEntry, AuditHead
from huiqi.db import run_in_transaction
from huiqi.ledger import service as ledger
from huiqi.ledger.errors import InsufficientFunds
from huiqi.ledger.models import Pool
from huiqi.workflows import service as flows

PROGRAMME = "shanghai.ai.model-voucher"
DURING = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)


def _links(db: Db) -> list[tuple[int, str, str]]:
    with db.session() as s:
        return [(e.seq, e.entity, e.action) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def _ok(db: Db) -> None:
    with db.session() as s:
        report = audit.verify_chain(session=s)
        assert report.ok, report.problem
        head = s.get_one(AuditHead, 1)
        assert head.seq == report.checked


def _note(s: Session, entity: str, action: str = "noted") -> None:
    audit.append(session=s, actor="t", entity=entity, action=action, payload={"n": entity})


@pytest.mark.postgres
def test_a_long_write_does_not_hold_the_head_before_commit(pg_db: Db) -> None:
    """decide and grant in one open transaction (the pool row is held) while another connection appends
    links and commits: with the head taken at the first link, its commit would wait for the lock and fail
    on lock_timeout instead."""
    make_pool(pg_db, size="100.00")
    open_call(pg_db)
    app_id = submit_checked(pg_db, make_firm(FIRM_A), "60.00")
    before = len(_links(pg_db))

    def other_writer(entity: str) -> None:
        with pg_db.session() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            _note(other, entity)
            other.commit()  # chains the link: needs the head's lock

    holder = pg_db.session()
    try:
        assert flows.decide(session=holder, application_id=app_id, actor="panel").state == "approved"
        holder.flush()
        other_writer("other:during-decide")
        flows.grant(session=holder, application_id=app_id, actor="director")
        holder.flush()
        other_writer("other:during-grant")
        assert len(audit.queued(holder)) >= 4  # reservation, approval, award, awarded: all still queued
        holder.commit()
    finally:
        holder.close()

    links = _links(pg_db)[before:]
    # commit order: the two short writes committed first, then the holder's links, together and in order
    assert [e for _, e, _ in links[:2]] == ["other:during-decide", "other:during-grant"]
    actions = [a for _, _, a in links[2:]]
    assert actions[0] == "reserved" and "granted" in actions, actions
    assert actions.index("reserved") < actions.index("granted")
    _ok(pg_db)


def test_links_of_rolled_back_savepoints_and_transactions_vanish(db: Db) -> None:
    with db.session() as s:
        _note(s, "kept:1")
        with pytest.raises(RuntimeError), s.begin_nested():
            _note(s, "dropped:savepoint")
            raise RuntimeError("roll the savepoint back")
        with s.begin_nested():
            _note(s, "kept:2")
            with pytest.raises(RuntimeError), s.begin_nested():
                _note(s, "dropped:inner")
                raise RuntimeError("roll the inner savepoint back")
            _note(s, "kept:3")
        _note(s, "kept:4")
        s.commit()
        _note(s, "dropped:rollback")
        s.rollback()
        _note(s, "kept:5")  # the same session, a new transaction: a clean queue
        s.commit()
    assert [e for _, e, _ in _links(db)] == ["kept:1", "kept:2", "kept:3", "kept:4", "kept:5"]
    _ok(db)


def test_a_commit_that_fails_writes_no_link(db: Db) -> None:
    make_pool(db)
    before = _links(db)
    with db.session() as s:
        _note(s, "dropped:failed-commit")
        s.add(Pool(id="pool", name="again", size=Decimal(1), available=Decimal(1)))  # duplicate key
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        _note(s, "kept")
        s.commit()
    assert _links(db) == [*before, (len(before) + 1, "kept", "noted")]
    _ok(db)


def test_links_are_in_commit_order_and_each_transaction_is_contiguous(db: Db) -> None:
    """Concurrent transactions each queue several links with pauses between them: every transaction's links
    come out consecutive and in call order, and a transaction that committed before another began its
    commit has the earlier links."""
    threads, rounds, per = (6, 4, 3) if db.name == "postgresql" else (3, 3, 3)
    spans: dict[str, tuple[float, float]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for r in range(rounds):
                name = f"t{t}r{r}"

                def body(s: Session, name: str = name) -> None:
                    for i in range(per):
                        _note(s, f"{name}:{i}")
                        time.sleep(0.002)

                session = db.session()
                try:
                    body(session)
                    started = time.monotonic()
                    session.commit()
                    spans[name] = (started, time.monotonic())
                finally:
                    session.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    links = _links(db)
    assert len(links) == threads * rounds * per
    first: dict[str, int] = {}
    for seq, entity, _ in links:
        name, i = entity.split(":")
        if i == "0":
            first[name] = seq
        assert seq == first[name] + int(i), (name, links)  # contiguous, in call order
    for a, (_, a_end) in spans.items():
        for b, (b_start, _) in spans.items():
            if a_end < b_start:
                assert first[a] < first[b], (a, b)
    _ok(db)


def test_settle_at_commit_chains_the_transactions_links_with_the_pool_charge(db: Db) -> None:
    make_pool(db, size="100.00")
    before = len(_links(db))

    def grant(amount: str, key: str, firm: str) -> object:
        def work(s: Session) -> object:
            _note(s, f"before:{key}")
            award = ledger.grant_award(
                session=s,
                pool_id="pool",
                firm_uscc=firm,
                amount=amount,
                actor="t",
                idempotency_key=key,
                settle_at_commit=True,
            )
            if db.name == "postgresql":  # the links now travel with the pool charge: no more may join
                with pytest.raises(RuntimeError, match="sealed"):
                    _note(s, f"after:{key}")
            return award

        return work

    run_in_transaction(db.factory, grant("70.00", "s1", FIRM_A))  # type: ignore[arg-type]
    with pytest.raises(InsufficientFunds):
        run_in_transaction(db.factory, grant("40.00", "s2", FIRM_B))  # type: ignore[arg-type]
    links = _links(db)[before:]
    assert [(e.split(":")[0], a) for _, e, a in links] == [("before", "noted"), ("award", "granted")]
    _ok(db)


@pytest.mark.postgres
def test_no_savepoint_after_settle_at_commit(pg_db: Db) -> None:
    """The sealed links travel with an at-commit statement, which a savepoint's rollback would drop: a
    savepoint after it is refused, and the whole unit of work rolls back."""
    make_pool(pg_db, size="100.00")
    before = _links(pg_db)

    def work(s: Session) -> None:
        ledger.grant_award(
            session=s,
            pool_id="pool",
            firm_uscc=FIRM_A,
            amount="10.00",
            actor="t",
            idempotency_key="late-savepoint",
            settle_at_commit=True,
        )
        with s.begin_nested():
            _note(s, "never")

    with pytest.raises(RuntimeError, match="no savepoint"):
        run_in_transaction(pg_db.factory, work)
    assert _links(pg_db) == before
    with pg_db.session() as s:
        assert s.get_one(Pool, "pool").available == Decimal("100.00")
    _ok(pg_db)
