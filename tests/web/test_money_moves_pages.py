"""The officer's pages confirm every money move on a summary before it happens, and above the
second-approval amount hold it in the 待复核 queue until a different officer approves it (issue 14)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from tests.web.conftest import Web


def test_a_move_is_confirmed_then_held_then_approved_by_another_officer(sqlite_web: Web) -> None:
    web = sqlite_web
    web.app.state.huiqi.settings.second_approval_above = Decimal("1000.00")
    maker, checker, api = web.client("officer"), web.client("probe"), web.bearer("auditor")
    app_id = web.ids["open_own"]
    assert maker.post(f"/applications/{app_id}/check").status_code == 303
    before = Decimal(api.get("/api/v1/pools/pool").json()["available"])

    page = maker.get(f"/applications/{app_id}").text
    assert 'name="move" value="decide"' in page and 'name="to" value="rejected"' in page  # approve or reject
    summary = maker.post(f"/applications/{app_id}/confirm", data={"move": "decide"})
    assert summary.status_code == 200, summary.text[-500:]
    assert "150,000.00" in summary.text and "模型券" in summary.text
    assert f'action="/applications/{app_id}/decide"' in summary.text
    assert Decimal(api.get("/api/v1/pools/pool").json()["available"]) == before  # the summary wrote nothing

    key = uuid.uuid4().hex
    held = maker.post(f"/applications/{app_id}/decide", data={"idempotency_key": key})
    assert held.status_code == 303 and held.headers["location"].startswith("/officer/approvals?held="), (
        held.text
    )
    held_id = held.headers["location"].split("=", 1)[1]
    assert Decimal(api.get("/api/v1/pools/pool").json()["available"]) == before
    queue = maker.get("/officer/approvals").text
    assert "待复核" in queue and f'id="approval-{held_id}"' in queue
    assert f'action="/officer/approvals/{held_id}/confirm"' not in queue  # the maker cannot approve
    assert (
        maker.post(
            f"/officer/approvals/{held_id}/approve", data={"idempotency_key": uuid.uuid4().hex}
        ).status_code
        == 403
    )
    # the same form sent again answers the same held move
    again = maker.post(f"/applications/{app_id}/decide", data={"idempotency_key": key})
    assert again.headers["location"] == held.headers["location"]

    assert f'action="/officer/approvals/{held_id}/confirm"' in checker.get("/officer/approvals").text
    confirm = checker.post(f"/officer/approvals/{held_id}/confirm")
    assert confirm.status_code == 200 and "web:officer" in confirm.text and "150,000.00" in confirm.text
    form_key = re.search(r'name="idempotency_key" value="([^"]+)"', confirm.text)
    assert form_key is not None
    for _ in range(2):  # the confirmation sent twice approves once
        done = checker.post(f"/officer/approvals/{held_id}/approve", data={"idempotency_key": form_key[1]})
        assert done.status_code == 303, done.text[-500:]
    after = Decimal(api.get("/api/v1/pools/pool").json()["available"])
    assert before - after == Decimal("150000.00")
    assert web.bearer("officer").get(f"/api/v1/applications/{app_id}").json()["state"] == "approved"
    shown = api.get(f"/api/v1/approvals/{held_id}").json()
    assert (shown["status"], shown["requested_by"], shown["decided_by"]) == (
        "approved",
        "web:officer",
        "web:probe",
    )


def test_a_call_is_decided_after_its_summary_and_rejects_name_a_reason(sqlite_web: Web) -> None:
    web = sqlite_web
    officer, api = web.client("officer"), web.bearer("officer")
    for name in ("open_own", "open_other"):
        assert officer.post(f"/applications/{web.ids[name]}/check").status_code == 303
    summary = officer.post("/officer/calls/call/confirm")
    assert summary.status_code == 200 and "300,000.00" in summary.text, summary.text[-500:]
    assert 'action="/officer/calls/call/decide"' in summary.text
    assert api.get(f"/api/v1/applications/{web.ids['open_own']}").json()["state"] == "under_review"
    # a held move is rejected with a reason, never without one; nothing moves
    web.app.state.huiqi.settings.second_approval_above = Decimal("1000.00")
    held = officer.post("/officer/calls/call/decide", data={"idempotency_key": uuid.uuid4().hex})
    held_id = held.headers["location"].split("=", 1)[1]
    checker = web.client("probe")
    assert checker.post(f"/officer/approvals/{held_id}/reject", data={"reason": " "}).status_code in (
        409,
        422,
    )
    r = checker.post(f"/officer/approvals/{held_id}/reject", data={"reason": "budget frozen"})
    assert r.status_code == 303
    assert "budget frozen" in checker.get("/officer/approvals?status=rejected").text
    assert api.get(f"/api/v1/applications/{web.ids['open_own']}").json()["state"] == "under_review"


def test_the_api_previews_holds_and_approves_with_the_same_use_cases(sqlite_web: Web) -> None:
    web = sqlite_web
    maker, checker = web.bearer("officer"), web.bearer("probe")
    app_id = web.ids["open_own"]
    assert maker.post(f"/api/v1/applications/{app_id}/check").json()["state"] == "under_review"
    url = f"/api/v1/applications/{app_id}/decide"
    preview = maker.post(f"{url}/preview")  # as the selection's previews: nothing written, no key
    assert preview.status_code == 200, preview.text
    sm = preview.json()
    assert (sm["amount"], sm["pool_id"], sm["outcome"], sm["second_approval"]) == (
        "150000.00",
        "pool",
        "approved",
        False,
    )
    assert Decimal(sm["available_before"]) - Decimal(sm["available_after"]) == Decimal("150000.00")
    assert maker.get(f"/api/v1/applications/{app_id}").json()["state"] == "under_review"
    web.app.state.huiqi.settings.second_approval_above = Decimal("1000.00")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    held = maker.post(url, headers=key)
    assert held.status_code == 202 and held.json()["status"] == "awaiting", held.text
    assert maker.post(url, headers=key).json()["id"] == held.json()["id"]  # the same key, the same move
    approval = f"/api/v1/approvals/{held.json()['id']}/approve"
    assert maker.post(approval, headers={"Idempotency-Key": uuid.uuid4().hex}).status_code == 403
    assert [h["id"] for h in checker.get("/api/v1/approvals").json()["items"]] == [held.json()["id"]]
    done = checker.post(approval, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert done.status_code == 200 and done.json()["result"]["state"] == "approved", done.text
    assert checker.post(approval, headers={"Idempotency-Key": uuid.uuid4().hex}).status_code == 409
    assert maker.get(f"/api/v1/applications/{app_id}").json()["state"] == "approved"
