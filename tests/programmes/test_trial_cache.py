"""A draft's trial (validated and loaded beside the programmes served, ~1.4 s) is remembered by the draft's
digest: its page (the diff) reloaded does not run it again; an edited draft, or a change to what is served,
is tried afresh; the cache stays bounded (review of issue 15's draft page)."""

from __future__ import annotations

from typing import Any

import pytest

from dbfixtures import db, pg_db, pg_url, sqlite_db
from huiqi.app import lifecycle as life
from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store

from .lifecycle_helpers import MODEL, cases_for, next_year
from .test_lifecycle import registry, store

__all__ = ["db", "pg_db", "pg_url", "registry", "sqlite_db", "store"]


@pytest.fixture
def counted(
    registry: ProgrammeRegistry, monkeypatch: pytest.MonkeyPatch
) -> tuple[ProgrammeRegistry, list[str]]:
    """The lifecycle tests' registry, its trials counted (the version each was of)."""
    calls: list[str] = []
    real = registry.trial

    def trial(filename: str, text: str) -> Any:
        found = real(filename, text)
        calls.append(found[0].version)
        return found

    monkeypatch.setattr(registry, "trial", trial)
    return registry, calls


def _rates(store: Store, registry: ProgrammeRegistry, draft_id: int) -> list[str]:
    diff = life.diff_draft(store, registry=registry, draft_id=draft_id)
    return [str(v) for p in diff.parameters if p.name == "rate" for v in p.new]


def test_a_draft_reloaded_is_not_tried_again_and_an_edited_one_is(
    store: Store, counted: tuple[ProgrammeRegistry, list[str]]
) -> None:
    registry, calls = counted
    d = life.create_draft(
        store, registry=registry, filename="m.programme.yaml", text=next_year(), tests=cases_for(), actor="a"
    )
    first = _rates(store, registry, d.id)
    assert _rates(store, registry, d.id) == first and "30%" in " ".join(first)
    life.test_draft(store, registry=registry, draft_id=d.id)  # the same digest: the same trial
    assert calls == ["2026.1"]
    life.edit_draft(
        store,
        registry=registry,
        draft_id=d.id,
        filename="m.programme.yaml",
        text=next_year(rate="40%"),
        tests=cases_for("400_000"),
        actor="a",
    )
    assert "40%" in " ".join(_rates(store, registry, d.id)) and len(calls) == 2
    registry.load("next.programme.yaml", next_year(version="2027.1", start="2028-01-01"))
    _rates(store, registry, d.id)  # what is served changed: the draft is tried against it
    assert len(calls) == 3 and MODEL in registry.programmes()


def test_the_cache_is_bounded(
    store: Store, counted: tuple[ProgrammeRegistry, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, calls = counted
    monkeypatch.setattr(life, "TRIAL_CACHE_SIZE", 2)
    ids = [
        life.create_draft(
            store, registry=registry, filename="m.programme.yaml", text=next_year(rate=r), tests="", actor="a"
        ).id
        for r in ("31%", "32%", "33%")
    ]
    for i in ids:
        life.diff_draft(store, registry=registry, draft_id=i)
    life.diff_draft(store, registry=registry, draft_id=ids[0])  # the oldest was let go: tried again
    life.diff_draft(store, registry=registry, draft_id=ids[2])  # the newest is still there
    assert len(calls) == 4
