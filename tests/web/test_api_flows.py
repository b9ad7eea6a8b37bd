"""The REST API's flows on both backends (SQLite and PostgreSQL, through the ``web`` fixture): the calculator,
an application carried to a paid award (done by the fixture through the API), idempotent money writes,
problem+json errors, pagination, a firm member's view limited to their firm, evidence, withdrawal, and the
ledger and audit chain verifying after all of it."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from tests.web.conftest import EXAMPLE, PDF, Web, key

from dbfixtures import FIRM_A, FIRM_B


def problem_of(r: object) -> dict[str, object]:
    """The body of an error answer, checked to be application/problem+json with a detail to act on."""
    from httpx import Response

    assert isinstance(r, Response)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, object] = r.json()
    assert body["status"] == r.status_code and body["detail"], body
    return body


def test_calculator_answers_anyone_with_amounts_reasons_and_gaps(web: Web) -> None:
    firm = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    r = web.client().post("/api/v1/calculator", json={"firm": firm, "on": "2025-12-01", "lang": "en"})
    assert r.status_code == 200, r.text
    out = r.json()
    eligible = [x for x in out["results"] if x["eligible"]]
    assert eligible and out["eligible_count"] == len(eligible)
    assert Decimal(out["total"]) == sum(Decimal(x["amount"]) for x in eligible)
    assert all(x["explanation"]["checks"] for x in out["results"])
    assert any(c.get("gap") for x in out["results"] if not x["eligible"] for c in x["explanation"]["checks"])

    bad = web.client().post("/api/v1/calculator", json={"firm": {**firm, "uscc": "123"}})
    assert bad.status_code == 422
    assert "uscc" in json.dumps(problem_of(bad))
    form = web.client().post("/api/v1/calculator", data={"firm": "x"})
    assert form.status_code == 415  # anonymous API writes are JSON only (no cross-site form posts)


def test_paid_award_is_in_the_ledger_and_both_verify(web: Web) -> None:
    officer = web.bearer("officer")
    app = officer.get(f"/api/v1/applications/{web.ids['app_own']}").json()
    assert app["state"] in ("paying", "completed"), app
    award = officer.get(f"/api/v1/awards/{web.ids['award_own']}").json()
    assert Decimal(award["paid"]) > 0
    statement = officer.get("/api/v1/pools/pool/statement").json()
    assert Decimal(statement["pool"]["size"]) == Decimal("1000000.00")
    assert len(statement["transactions"]) >= 5  # funding, 2 reservations, 2 grants, 2 payments
    auditor = web.bearer("auditor")
    ledger = auditor.get("/api/v1/ledger/verify").json()
    assert ledger["ok"] and not ledger["problems"], ledger
    chain = auditor.get("/api/v1/audit/verify").json()
    assert chain["ok"] and chain["checked"] > 10, chain


def test_money_writes_need_a_key_and_a_replay_moves_nothing(web: Web) -> None:
    officer = web.bearer("officer")
    app_id = web.ids["open_own"]
    assert officer.post(f"/api/v1/applications/{app_id}/check").json()["state"] == "under_review"
    missing = officer.post(f"/api/v1/applications/{app_id}/decide")
    assert missing.status_code == 428 and "Idempotency-Key" in str(problem_of(missing)["detail"])
    k = key()
    first = officer.post(f"/api/v1/applications/{app_id}/decide", headers=k)
    assert first.status_code == 200, first.text
    before = officer.get("/api/v1/pools/pool/statement").json()
    again = officer.post(f"/api/v1/applications/{app_id}/decide", headers=k)
    assert again.status_code == 200 and again.json().get("replayed") is True
    assert officer.get("/api/v1/pools/pool/statement").json() == before
    # the same key for another operation is refused, not silently replayed
    other = officer.post(f"/api/v1/applications/{web.ids['open_other']}/check")
    assert other.status_code == 200
    clash = officer.post(f"/api/v1/applications/{web.ids['open_other']}/decide", headers=k)
    assert clash.status_code == 409, clash.text
    problem_of(clash)
    # paying the same tranche again under a new key is refused: nothing is paid twice
    twice = officer.post(
        f"/api/v1/applications/{web.ids['app_own']}/tranches/1/pay", headers=key(), json={"reference": "B-2"}
    )
    assert twice.status_code in (409, 422), twice.text
    assert web.bearer("auditor").get("/api/v1/ledger/verify").json()["ok"]


def test_lists_are_paginated_and_a_firm_sees_only_its_own(web: Web) -> None:
    officer = web.bearer("officer")
    everything = officer.get("/api/v1/applications", params={"limit": 500}).json()
    assert everything["total"] == 4 and len(everything["items"]) == 4
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        pg = officer.get("/api/v1/applications", params={"limit": 3, "offset": offset}).json()
        assert pg["limit"] == 3 and len(pg["items"]) <= 3
        seen += [a["id"] for a in pg["items"]]
        offset = pg["next_offset"]
    assert sorted(seen) == sorted(a["id"] for a in everything["items"])

    member = web.client("firm_member")
    own = member.get("/api/v1/applications").json()
    assert own["total"] == 2 and {a["firm_uscc"] for a in own["items"]} == {FIRM_A}
    refused = member.get("/api/v1/applications", params={"firm_uscc": FIRM_B})
    assert refused.status_code == 403
    problem_of(refused)
    other = member.get(f"/api/v1/applications/{web.ids['app_other']}")
    assert other.status_code == 403 and "another firm" in str(problem_of(other)["detail"])
    assert member.get(f"/api/v1/firms/{FIRM_B}").status_code == 403
    assert member.get(f"/api/v1/firms/{FIRM_A}").status_code == 200


def test_evidence_round_trip_and_withdrawal_by_the_firm(web: Web) -> None:
    member = web.client("firm_member")
    app_id = web.ids["open_own"]
    up = member.post(
        f"/api/v1/applications/{app_id}/evidence",
        files={"file": ("contract.pdf", PDF + b"%more\n", "application/pdf")},
    )
    assert up.status_code == 201, up.text
    sha = up.json()["sha256"]
    down = member.get(f"/api/v1/applications/{app_id}/evidence/{sha}")
    assert down.status_code == 200 and down.content == PDF + b"%more\n"
    assert web.client("firm_b").get(f"/api/v1/applications/{app_id}/evidence/{sha}").status_code == 403
    not_pdf = member.post(
        f"/api/v1/applications/{app_id}/evidence", files={"file": ("x.exe", b"MZ\x90\x00", "application/pdf")}
    )
    assert not_pdf.status_code in (415, 422), not_pdf.text
    problem_of(not_pdf)

    r = member.post(
        f"/api/v1/applications/{app_id}/withdraw", headers=key(), json={"reason": "wrong contract"}
    )
    assert r.status_code == 200, r.text
    assert member.get(f"/api/v1/applications/{app_id}").json()["state"] == "withdrawn"
    assert web.bearer("auditor").get("/api/v1/audit/verify").json()["ok"]


@pytest.mark.parametrize("missing", ["csrf", "session"])
def test_cookie_writes_need_the_csrf_token(web: Web, missing: str) -> None:
    member = web.client("firm_member")
    if missing == "csrf":
        del member.headers["X-CSRF-Token"]
        r = member.post(
            f"/api/v1/applications/{web.ids['open_own']}/evidence", files={"file": ("a.pdf", PDF)}
        )
        assert r.status_code == 403 and "CSRF" in str(problem_of(r)["detail"])
    else:
        member.cookies.clear()
        r = member.post(
            f"/api/v1/applications/{web.ids['open_own']}/evidence", files={"file": ("a.pdf", PDF)}
        )
        assert r.status_code == 401
        problem_of(r)


def test_login_is_rate_limited_with_an_answer_saying_when_to_retry(web: Web) -> None:
    c = web.client()
    name = f"nobody-{uuid.uuid4().hex[:6]}"
    codes = [
        c.post("/api/v1/auth/login", json={"username": name, "password": "wrong"}).status_code
        for _ in range(12)
    ]
    assert codes[0] == 401 and codes[-1] == 429, codes
    last = c.post("/api/v1/auth/login", json={"username": name, "password": "wrong"})
    problem_of(last)
    assert int(last.headers["retry-after"]) > 0
