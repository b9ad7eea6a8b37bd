"""A firm's stored match results through the API (``huiqi match firm``): what the latest run found for it,
for staff and for the firm's own members only; the results page of the run agrees."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from dbfixtures import FIRM_A, Db
from huiqi.app import matching
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.rules.loader import load_pack
from web.conftest import build

ON = dt.date(2025, 9, 1)


def test_a_firms_match_results(sqlite_db: Db, tmp_path: Path) -> None:
    web = build(sqlite_db, tmp_path)
    try:
        officer = web.bearer("officer")
        before = officer.get(f"/api/v1/firms/{FIRM_A}/match-results")
        assert before.status_code == 200 and before.json()["run_id"] is None
        register = write_register(synth_register(150, 12), tmp_path / "register")
        store = web.app.state.huiqi.store
        report = matching.match(store, programmes=load_pack(), register=str(register), on=ON)
        page = matching.results(store, on=ON, eligible=True, limit=1000)
        assert page.total == report.run.eligible > 0
        uscc = page.items[0].uscc
        got = officer.get(f"/api/v1/firms/{uscc}/match-results").json()
        assert got["run_id"] == report.run.id and got["on"] == ON.isoformat()
        want = sorted((r.programme, r.amount) for r in page.items if r.uscc == uscc)
        assert sorted((r["programme"], Decimal(r["amount"])) for r in got["results"]) == want
        assert web.bearer("firm_member").get(f"/api/v1/firms/{uscc}/match-results").status_code == 403
        own = web.bearer("firm_member").get(f"/api/v1/firms/{FIRM_A}/match-results")
        assert own.status_code == 200 and own.json()["results"] == []
    finally:
        web.app.state.huiqi.store.close()
