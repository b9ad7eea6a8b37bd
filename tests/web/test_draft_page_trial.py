"""A draft's page reloaded does not try the draft again (its trial is remembered by the draft's digest,
``app.lifecycle``; the diff on the page used to run it, ~1.4 s, on every load)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.programmes.lifecycle_helpers import cases_for, next_year

from huiqi.app.registry import ProgrammeRegistry

from .conftest import Web


def test_the_draft_page_reloaded_runs_no_second_trial(
    sqlite_web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = ProgrammeRegistry.trial

    def trial(self: ProgrammeRegistry, filename: str, text: str) -> Any:
        calls.append(filename)
        return real(self, filename, text)

    monkeypatch.setattr(ProgrammeRegistry, "trial", trial)
    officer = sqlite_web.client("officer")
    body = {"filename": "m.programme.yaml", "text": next_year(rate="36%"), "tests": cases_for("360_000")}
    made = officer.post("/api/v1/programme-drafts", json=body)
    assert made.status_code in (200, 201), made.text
    page = f"/officer/programmes/drafts/{made.json()['id']}"
    first = officer.get(page)
    assert first.status_code == 200 and "36%" in first.text
    tried = len(calls)
    assert tried >= 1 and officer.get(page).text == first.text
    assert len(calls) == tried
