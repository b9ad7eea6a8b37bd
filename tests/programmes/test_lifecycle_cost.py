"""The cost of publishing a draft over a register (the sandbox's simulation, version in force against the
draft, on the draft's first day): next year's model voucher at 30% instead of 50% pays the same firms less."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from dbfixtures import Db, sqlite_db
from huiqi.app import lifecycle as life
from huiqi.app.register import synth_register
from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store
from huiqi.rules.errors import ProgrammeError

from .lifecycle_helpers import MODEL, cases_for, next_year

__all__ = ["sqlite_db"]


def test_cost_of_a_draft_over_a_synthetic_register(sqlite_db: Db, tmp_path: Path) -> None:
    store = Store.open(sqlite_db.url, pool_size=2)
    registry = ProgrammeRegistry(tmp_path / "programmes", recheck_seconds=0)
    register = tmp_path / "register"
    synth_register(None, firms=3000, seed=7, out=register, last_year=2026)
    d = life.create_draft(
        store,
        registry=registry,
        filename="m.programme.yaml",
        text=next_year(),
        tests=cases_for(),
        actor="web:a",
    )
    cost = life.change_cost(store, registry=registry, draft_id=d.id, register=str(register))
    assert (cost.old_version, cost.new_version, cost.on) == ("2025.1", "2026.1", dt.date(2027, 1, 1))
    (row,) = [p for p in cost.result["programmes"] if p["programme"] == MODEL]
    assert row["eligible_before"] == row["eligible_after"] > 0  # the conditions did not change
    before, after = Decimal(row["cost_before"]), Decimal(row["cost_after"])
    assert Decimal(0) < after < before
    assert cost.result["losers"]["firms"] > 0 and cost.result["gainers"]["firms"] == 0
    assert MODEL in cost.text
    with pytest.raises(ProgrammeError, match="not in force"):
        life.change_cost(
            store, registry=registry, draft_id=d.id, register=str(register), on=dt.date(2026, 6, 1)
        )
    store.close()
