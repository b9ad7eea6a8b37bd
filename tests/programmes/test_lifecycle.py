"""Programmes through their life (issue 15): a draft, its review by a second officer, publication only when
its test cases pass, rejection with a reason, withdrawal (readable, not in force), every step in the audit
chain; references to withdrawn or unknown programmes refused; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dbfixtures import Db, db, pg_db, pg_url, sqlite_db
from huiqi.app import lifecycle as life
from huiqi.app import programmes as use
from huiqi.app.errors import PublishingError
from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store
from huiqi.audit.models import AuditEntry
from huiqi.publishing.errors import (
    DraftNotFound,
    IllegalStep,
    NotTheAuthor,
    ReasonRequired,
    SecondOfficerRequired,
    TestsFailed,
)
from huiqi.rules.errors import ProgrammeError

from .lifecycle_helpers import MODEL, cases_for, next_year

EXAMPLE = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]

ALICE, BOB = "web:alice", "web:bob"


@pytest.fixture
def store(db: Db) -> Iterator[Store]:
    s = Store.open(db.url, pool_size=2)
    yield s
    s.close()


@pytest.fixture
def registry(tmp_path: Path) -> ProgrammeRegistry:
    return ProgrammeRegistry(tmp_path / "programmes", recheck_seconds=0)


def submitted(store: Store, registry: ProgrammeRegistry, tests: str | None = None) -> int:
    d = life.create_draft(
        store,
        registry=registry,
        filename="model-2026.programme.yaml",
        text=next_year(),
        tests=cases_for() if tests is None else tests,
        actor=ALICE,
    )
    assert d.status == "draft" and d.author == ALICE and d.version == "2026.1"
    assert life.submit_draft(store, draft_id=d.id, actor=ALICE).status == "in-review"
    return d.id


def test_two_person_rule_and_publication(store: Store, registry: ProgrammeRegistry) -> None:
    draft_id = submitted(store, registry)
    with pytest.raises(SecondOfficerRequired, match="second officer"):
        life.publish_draft(store, registry=registry, draft_id=draft_id, actor=ALICE)
    with pytest.raises(SecondOfficerRequired):  # the same person from the CLI
        life.publish_draft(store, registry=registry, draft_id=draft_id, actor="cli:alice")
    assert "2026.1" not in [p.version for p in registry.programmes().versions(MODEL)]
    done = life.publish_draft(store, registry=registry, draft_id=draft_id, actor=BOB)
    assert (done.status, done.reviewer, done.previous_version) == ("published", BOB, "2025.1")
    assert done.tests_passed >= 1
    served = registry.programmes()
    assert served.on(dt.date(2027, 2, 1))[MODEL].version == "2026.1"
    assert served.on(dt.date(2026, 6, 1))[MODEL].version == "2025.1"
    with pytest.raises(IllegalStep, match="published"):
        life.publish_draft(store, registry=registry, draft_id=draft_id, actor=BOB)
    steps = _actions(store)
    assert (ALICE, "draft-created") in steps and (ALICE, "draft-submitted") in steps
    assert (BOB, "draft-published") in steps


def _actions(store: Store) -> list[tuple[str, str]]:
    """Who did what to the model voucher, from the audit chain."""

    def read(s: Session) -> list[tuple[str, str]]:
        where = AuditEntry.entity == f"programme:{MODEL}"
        return [
            (r.actor, r.action) for r in s.scalars(select(AuditEntry).where(where).order_by(AuditEntry.seq))
        ]

    return store.read(read)


def test_failing_or_missing_tests_refuse_publication(store: Store, registry: ProgrammeRegistry) -> None:
    wrong = submitted(store, registry, tests=cases_for(amount="500_000"))
    with pytest.raises(TestsFailed, match="amount: expected 500000"):
        life.publish_draft(store, registry=registry, draft_id=wrong, actor=BOB)
    run = life.test_draft(store, registry=registry, draft_id=wrong)
    assert run.failed == 1 and any("expected 500000" in f for c in run.cases for f in c.failures)
    none = submitted(store, registry, tests="")
    with pytest.raises(TestsFailed, match="no test case of its own"):
        life.publish_draft(store, registry=registry, draft_id=none, actor=BOB)
    assert life.get_draft(store, draft_id=wrong).status == "in-review"
    assert [p.version for p in registry.programmes().versions(MODEL)] == ["2025.1"]


def test_reject_edit_resubmit(store: Store, registry: ProgrammeRegistry) -> None:
    draft_id = submitted(store, registry)
    with pytest.raises(SecondOfficerRequired):
        life.reject_draft(store, draft_id=draft_id, actor=ALICE, reason="no")
    with pytest.raises(ReasonRequired):
        life.reject_draft(store, draft_id=draft_id, actor=BOB, reason="  ")
    back = life.reject_draft(
        store, draft_id=draft_id, actor=BOB, reason="the rate is 35% in the new measures"
    )
    assert (back.status, back.reason) == ("draft", "the rate is 35% in the new measures")
    with pytest.raises(NotTheAuthor):
        life.edit_draft(
            store,
            registry=registry,
            draft_id=draft_id,
            filename="m.programme.yaml",
            text=next_year(rate="35%"),
            tests=cases_for("350_000"),
            actor=BOB,
        )
    edited = life.edit_draft(
        store,
        registry=registry,
        draft_id=draft_id,
        filename="m.programme.yaml",
        text=next_year(rate="35%"),
        tests=cases_for("350_000"),
        actor=ALICE,
    )
    assert "35%" in edited.text
    life.submit_draft(store, draft_id=draft_id, actor=ALICE)
    assert life.publish_draft(store, registry=registry, draft_id=draft_id, actor=BOB).status == "published"
    assert [d.status for d in life.list_drafts(store, programme_id=MODEL)] == ["published"]
    assert (BOB, "draft-rejected") in _actions(store) and (ALICE, "draft-edited") in _actions(store)


def test_withdrawn_version_stays_readable_but_not_in_force(store: Store, registry: ProgrammeRegistry) -> None:
    draft_id = submitted(store, registry)
    life.publish_draft(store, registry=registry, draft_id=draft_id, actor=BOB)
    with pytest.raises(ReasonRequired):
        life.withdraw_version(
            store, registry=registry, programme_id=MODEL, version="2026.1", actor=BOB, reason=""
        )
    out = life.withdraw_version(
        store, registry=registry, programme_id=MODEL, version="2026.1", actor=BOB, reason="court ruling"
    )
    assert out.drafts == (draft_id,)
    served = registry.programmes()
    assert served.on(dt.date(2027, 2, 1))[MODEL].version == "2025.1"  # the earlier version runs on
    assert served.version(MODEL, "2026.1").version == "2026.1"  # readable
    doc = use.show_programme(registry, programme_id=MODEL, version="2026.1")
    assert doc.status == "withdrawn"
    rows = {(r.id, r.version): r.status for r in use.list_programmes(registry)}
    assert rows[MODEL, "2026.1"] == "withdrawn" and rows[MODEL, "2025.1"] == "in-force"
    assert life.get_draft(store, draft_id=draft_id).status == "withdrawn"
    assert (BOB, "withdrawn") in _actions(store)
    # a fresh registry (another worker) sees the same
    other = ProgrammeRegistry(registry.uploads, recheck_seconds=0).programmes()
    assert other.is_withdrawn(other.version(MODEL, "2026.1"))
    # the same version cannot come back; the period is free for a corrected version
    with pytest.raises(ProgrammeError, match="was withdrawn"):
        registry.load("again.programme.yaml", next_year())
    registry.load("fixed.programme.yaml", next_year(version="2026.2"))
    assert registry.programmes().on(dt.date(2027, 2, 1))[MODEL].version == "2026.2"
    with pytest.raises(ProgrammeError, match="already withdrawn"):
        life.withdraw_version(
            store, registry=registry, programme_id=MODEL, version="2026.1", actor=BOB, reason="x"
        )


def test_references_to_withdrawn_or_unknown_programmes_are_refused(
    store: Store, registry: ProgrammeRegistry
) -> None:
    designation = "shanghai.hq.designation"
    with pytest.raises(ProgrammeError, match="refer"):
        life.withdraw_version(
            store,
            registry=registry,
            programme_id=designation,
            version=registry.programmes()[designation].version,
            actor=BOB,
            reason="ended",
        )
    text = next_year().replace(
        "    test: >-\n      any(c.kind", '    test: eligible("nowhere.programme") and\n      any(c.kind', 1
    )
    assert "nowhere.programme" in text
    with pytest.raises(ProgrammeError) as caught:
        life.create_draft(store, registry=registry, filename="ref.programme.yaml", text=text, actor=ALICE)
    (problem,) = caught.value.problems
    assert "unknown programme 'nowhere.programme'" in problem.message
    assert problem.location.path == "ref.programme.yaml" and problem.location.line > 1
    # withdraw the compute voucher's only version, then refer to it
    compute = "shanghai.ai.compute-voucher"
    version = registry.programmes()[compute].version
    life.withdraw_version(
        store, registry=registry, programme_id=compute, version=version, actor=BOB, reason="ended"
    )
    assert compute not in list(registry.programmes())
    with pytest.raises(ProgrammeError, match="every version of it was withdrawn"):
        life.create_draft(
            store,
            registry=registry,
            filename="ref.programme.yaml",
            text=text.replace("nowhere.programme", compute),
            actor=ALICE,
        )


def test_publishing_errors_are_user_errors() -> None:
    from huiqi.app.errors import USER_ERRORS

    assert issubclass(PublishingError, USER_ERRORS)


def test_a_referred_programme_can_go_once_its_referrers_have(
    store: Store, registry: ProgrammeRegistry
) -> None:
    designation = "shanghai.hq.designation"
    served = registry.programmes()
    referrers = sorted(p.id for p in served.values() if designation in p.depends_on and p.id != designation)
    assert len(referrers) == 3
    for pid in [*referrers, designation]:
        life.withdraw_version(
            store, registry=registry, programme_id=pid, version=served[pid].version, actor=BOB, reason="ended"
        )
    fresh = ProgrammeRegistry(registry.uploads, recheck_seconds=0).programmes()  # another worker
    assert not {designation, *referrers} & set(fresh)
    assert all(
        fresh.is_withdrawn(fresh.version(pid, served[pid].version)) for pid in [designation, *referrers]
    )
    assert "shanghai.ai.model-voucher" in fresh


def test_a_programme_with_every_version_withdrawn_stays_readable(
    store: Store, registry: ProgrammeRegistry
) -> None:
    compute = "shanghai.ai.compute-voucher"
    version = registry.programmes()[compute].version
    life.withdraw_version(
        store, registry=registry, programme_id=compute, version=version, actor=BOB, reason="ended"
    )
    doc = use.show_programme(registry, programme_id=compute)
    assert (doc.version, doc.status) == (version, "withdrawn")
    firm = use.parse_firm(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    answer = use.check_firm(registry, firm=firm, all_cities=True)
    assert compute not in [r.programme for r in answer.results]


@pytest.mark.parametrize("number", [0, -1, 2**31, 2**63, 2**70])
def test_a_number_no_draft_can_have_is_not_found(store: Store, number: int) -> None:
    """Schemathesis sent 2**63+: SQLite overflowed (a 500) and PostgreSQL refused the value (422)."""
    with pytest.raises(DraftNotFound):
        life.get_draft(store, draft_id=number)
