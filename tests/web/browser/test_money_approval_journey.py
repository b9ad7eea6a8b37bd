"""Maker-checker in the browser (issue 14): officer A approves an application above the second-approval
amount, confirms it on a summary and sees it held (待复核, nothing reserved); A cannot approve it; officer B
(the demo's second officer, ``checker``) approves it on the queue after a confirmation summary, and the
pool's available money changes once.

The demo's server is shared by the other journeys; this one serves its own demo database with
HUIQI_SECOND_APPROVAL_ABOVE at 1,000 yuan, so that the demo's applications are above it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.web.browser.conftest import Server, demo_site, login, serve, shot

OFFICER_B = "checker"  # the demo's second officer


@pytest.fixture(scope="module")
def checked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("maker-checker")
    passwords, call_id = demo_site(directory, firms=300, applications=6)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUIQI_SECOND_APPROVAL_ABOVE", "1000.00")
        with serve(directory) as url:
            yield Server(url, directory, passwords, "", call_id, directory / "server.log")


def available(server: Server, pool_id: str) -> Decimal:
    with server.api("auditor") as auditor:
        return Decimal(auditor.get(f"/api/v1/pools/{pool_id}").json()["available"])


def test_a_second_officer_approves_a_move_above_the_amount(browser: Any, checked_server: Server) -> None:
    server = checked_server
    with server.api("officer") as officer:
        waiting = officer.get(
            "/api/v1/applications", params={"state": "under_review", "call_id": server.call_id}
        ).json()["items"]
        assert waiting, "the demo leaves applications under review"
        app_id = waiting[0]["id"]
        pool_id = officer.get(f"/api/v1/calls/{server.call_id}").json()["pool_id"]
    before = available(server, pool_id)

    # officer A: approve, confirm on the summary, and the move is held
    a = browser.new_context(base_url=server.url, locale="en-GB").new_page()
    login(a, server, "officer")
    a.goto(f"/applications/{app_id}")
    a.click("button:has-text('Approve and reserve the money')")
    a.wait_for_load_state()
    summary = a.inner_text("main")
    assert "Nothing has been written yet." in summary and "second officer" in summary, summary
    assert "Available in the pool after" in summary and "Pool" in summary
    shot(a, "maker-checker", "1-summary")
    a.click("button:has-text('Confirm:')")
    a.wait_for_load_state()
    assert "/officer/approvals" in a.url, a.url
    row = a.locator("tbody tr", has_text=app_id[:8])
    assert row.count() == 1 and "Another officer must approve it." in row.inner_text()
    assert row.locator("button:has-text('Approve')").count() == 0  # not the maker
    shot(a, "maker-checker", "2-held")
    assert available(server, pool_id) == before  # nothing reserved yet
    with server.api("officer") as officer:
        assert officer.get(f"/api/v1/applications/{app_id}").json()["state"] == "under_review"

    # officer B: the 待复核 queue, the summary, confirm: the money is reserved once
    b = browser.new_context(base_url=server.url, locale="en-GB").new_page()
    login(b, server, OFFICER_B)
    b.goto("/officer/approvals")
    row = b.locator("tbody tr", has_text=app_id[:8])
    row.locator("button:has-text('Approve')").click()
    b.wait_for_load_state()
    assert "Requested by" in b.inner_text("main") and "web:officer" in b.inner_text("main")
    shot(b, "maker-checker", "3-confirm")
    b.click("button:has-text('Confirm:')")
    b.wait_for_load_state()
    assert "status=approved" in b.url
    after = available(server, pool_id)
    with server.api("officer") as officer:
        shown = officer.get(f"/api/v1/applications/{app_id}").json()
        assert shown["state"] == "approved", shown["state"]
        held = officer.get("/api/v1/approvals", params={"status": "approved"}).json()["items"]
        assert [h["decided_by"] for h in held if h["application_id"] == app_id] == [f"web:{OFFICER_B}"]
        history = officer.get(f"/api/v1/pools/{pool_id}/history", params={"limit": 500}).json()["items"]
    reserved = [t for t in history if Decimal(t["effect_on_available"]) < 0 and t["kind"] == "reserve"]
    assert before - after == -Decimal(reserved[-1]["effect_on_available"]) > 0
    # approved again (another officer, another request): refused, nothing moves again
    held_id = next(h["id"] for h in held if h["application_id"] == app_id)
    with server.api(OFFICER_B) as officer:
        again = officer.post(
            f"/api/v1/approvals/{held_id}/approve", headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert again.status_code == 409, again.text
    assert available(server, pool_id) == after
    shot(b, "maker-checker", "4-approved")
    for p in (a, b):
        p.context.close()
