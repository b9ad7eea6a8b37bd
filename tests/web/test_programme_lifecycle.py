"""Programmes through their life over the API (issue 15): an officer drafts next year's model voucher, may
not publish it herself (403), another officer rejects it with a reason, the author edits and resubmits,
failing test cases refuse publication (409), the second officer publishes it, the diff shows the rate, a
withdrawal keeps the version readable but out of force; roles from the matrix; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.programmes.lifecycle_helpers import MODEL, cases_for, next_year

from .conftest import Web


def body(rate: str = "30%", amount: str = "300_000") -> dict[str, Any]:
    return {"filename": "model-2026.programme.yaml", "text": next_year(rate=rate), "tests": cases_for(amount)}


def test_draft_review_publish_withdraw(web: Web) -> None:
    author, second = web.bearer("officer"), web.bearer("probe")  # two officers
    auditor, firm = web.bearer("auditor"), web.bearer("firm_member")

    assert firm.post("/api/v1/programme-drafts", json=body()).status_code == 403
    r = author.post("/api/v1/programme-drafts", json=body(rate="35%", amount="350_000"))
    assert r.status_code == 201, r.text
    draft = r.json()
    assert (draft["status"], draft["author"], draft["version"]) == ("draft", "web:officer", "2026.1")
    did = draft["id"]

    bad = author.post("/api/v1/programme-drafts", json={**body(), "text": "id: [unclosed"})
    assert bad.status_code == 422 and "model-2026.programme.yaml:1:" in bad.text, bad.text

    assert second.post(f"/api/v1/programme-drafts/{did}/submit").status_code == 403  # not the author
    assert author.post(f"/api/v1/programme-drafts/{did}/submit").json()["status"] == "in-review"

    r = author.post(f"/api/v1/programme-drafts/{did}/publish")
    assert r.status_code == 403 and "second officer" in r.json()["detail"], r.text

    r = auditor.get(f"/api/v1/programme-drafts/{did}/diff")
    assert r.status_code == 200, r.text
    diff = r.json()
    (rate,) = [p for p in diff["parameters"] if p["name"] == "rate"]
    assert (rate["old"][0]["value"], rate["new"][0]["value"]) == ("50%", "35%")
    assert [t["change"] for t in diff["tests"]] == ["added"]

    r = second.post(f"/api/v1/programme-drafts/{did}/reject", json={"reason": "the measures say 30%"})
    assert r.status_code == 200 and r.json()["status"] == "draft", r.text
    r = author.put(f"/api/v1/programme-drafts/{did}", json=body(amount="500_000"))  # a wrong expectation
    assert r.status_code == 200, r.text
    author.post(f"/api/v1/programme-drafts/{did}/submit")
    r = second.post(f"/api/v1/programme-drafts/{did}/publish")
    assert r.status_code == 409 and "expected 500000" in r.json()["detail"], r.text
    r = second.post(f"/api/v1/programme-drafts/{did}/test")
    assert r.status_code == 200 and r.json()["failed"] == 1

    second.post(f"/api/v1/programme-drafts/{did}/reject", json={"reason": "the test expects 500,000"})
    author.put(f"/api/v1/programme-drafts/{did}", json=body())
    author.post(f"/api/v1/programme-drafts/{did}/submit")
    assert [d["id"] for d in auditor.get("/api/v1/programme-drafts?status=in-review").json()] == [did]
    r = second.post(f"/api/v1/programme-drafts/{did}/publish")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reviewer"], r.json()["previous_version"]) == (
        "published",
        "web:probe",
        "2025.1",
    )
    on = web.client().get(f"/api/v1/programmes/{MODEL}?on=2027-02-01").json()
    assert on["version"] == "2026.1"
    r = web.client().get(f"/api/v1/programmes/{MODEL}/diff?old=2025.1&new=2026.1")
    assert r.status_code == 200 and r.json()["new_version"] == "2026.1", r.text

    r = second.post(f"/api/v1/programmes/{MODEL}/versions/2026.1/withdraw", json={"reason": "  "})
    assert r.status_code == 422, r.text
    r = second.post(f"/api/v1/programmes/{MODEL}/versions/2026.1/withdraw", json={"reason": "court ruling"})
    assert r.status_code == 200 and r.json()["drafts"] == [did], r.text
    on = web.client().get(f"/api/v1/programmes/{MODEL}?on=2027-02-01").json()
    assert on["version"] == "2025.1"
    kept = web.client().get(f"/api/v1/programmes/{MODEL}?version=2026.1").json()
    assert kept["status"] == "withdrawn"
    # the calculator no longer answers with it on a date in its period
    firm_profile = web.client().get(f"/api/v1/programmes/{MODEL}").json()
    assert firm_profile["id"] == MODEL
    r = web.client().post(
        "/api/v1/calculator",
        json={"firm": _example(), "on": dt.date(2027, 3, 1).isoformat(), "programmes": [MODEL]},
    )
    assert r.status_code == 200 and r.json()["results"][0]["version"] == "2025.1", r.text

    trail = auditor.get("/api/v1/audit", params={"entity": f"programme:{MODEL}"})
    assert trail.status_code == 200, trail.text
    text = trail.text
    for action in (
        "draft-created",
        "draft-submitted",
        "draft-rejected",
        "draft-edited",
        "draft-published",
        "withdrawn",
    ):
        assert action in text, action
    assert auditor.get("/api/v1/audit/verify").json()["ok"] is True


def _example() -> dict[str, Any]:
    import json

    from .conftest import EXAMPLE

    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_unknown_draft_and_version(web: Web) -> None:
    officer = web.bearer("officer")
    r = officer.get("/api/v1/programme-drafts/999")
    assert r.status_code == 404 and "no programme draft 999" in r.json()["detail"]
    r = officer.post(f"/api/v1/programmes/{MODEL}/versions/9.9/withdraw", json={"reason": "x"})
    assert r.status_code in (404, 422) and "9.9" in r.json()["detail"], r.text
