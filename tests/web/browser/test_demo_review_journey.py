"""The demo's designation call in a real browser: ``huiqi demo`` leaves reviews waiting for the demo user
``reviewer`` (the rest of the panel has scored); the reviewer declares and scores, the officer normalises
and selects; the 20,000,000 yuan of grants are above the second-approval amount, so the selection waits in
待复核 (the application's page says so) until the demo's second officer ``checker`` approves it (issue 14);
then the Chinese published list shows the grants as grouped yuan. Screenshots of every step."""

from __future__ import annotations

import random
import re
from typing import Any

from tests.web.browser.conftest import Server, login, shot

CRITERIA = ("innovation", "rd-intensity", "growth")  # the demo call file's rubric


def test_demo_reviewer_scores_and_the_officer_selects(page: Any, browser: Any, server: Server) -> None:
    with server.api("officer") as officer:
        listed = officer.get("/api/v1/calls").json()
    calls = listed["items"] if isinstance(listed, dict) else listed
    call = next(c["id"] for c in calls if c["programme_id"] == "shanghai.hq.designation")

    login(page, server, "reviewer")
    page.goto("/review")
    links = page.locator("main a[href^='/review/']")
    assert links.count() >= 3, page.inner_text("main")  # the demo left reviews waiting for this reviewer
    shot(page, "demo-review", "1-assignments")
    first = str(links.first.get_attribute("href"))
    page.goto(first)
    page.check("input[name=decision][value=none]")
    page.click("button:has-text('Submit the declaration')")
    page.wait_for_url(f"**{first}")
    rng = random.Random(9)
    for c in CRITERIA:
        page.fill(f"input[name=score_{c}]", str(rng.randint(5, 9)))
    shot(page, "demo-review", "2-scoring")
    page.click("button:has-text('Submit the scores')")
    page.wait_for_url("**/review?scored=1")

    with server.api("reviewer") as reviewer:
        waiting = [a for a in reviewer.get("/api/v1/reviews").json() if a["status"] == "assigned"]
        assert len(waiting) == links.count() - 1
        for a in waiting:
            r = reviewer.post(f"/api/v1/reviews/{a['application_id']}/declaration", json={"conflict": None})
            assert r.status_code == 200, r.text
            sheet = {c: str(rng.randint(4, 9)) for c in CRITERIA}
            r = reviewer.post(f"/api/v1/reviews/{a['application_id']}/scores", json={"scores": sheet})
            assert r.status_code == 200, r.text

    officer_page = browser.new_context(base_url=server.url, locale="en-GB").new_page()
    login(officer_page, server, "officer")
    officer_page.goto(f"/officer/selection/{call}")
    officer_page.click("button:has-text('3. Normalise the scores')")
    officer_page.wait_for_load_state()
    officer_page.click("button:has-text('4. Select and award the grants')")
    officer_page.wait_for_load_state()
    assert "1,000,000.00" in officer_page.inner_text("main")  # the summary: it will be held
    officer_page.click("button:has-text('Confirm: select and award the grants')")  # the summary first
    officer_page.wait_for_load_state()

    # above the second-approval amount: held in 待复核, nothing designated yet, the maker cannot approve it
    assert "/officer/approvals?held=" in officer_page.url, officer_page.url
    held_id = officer_page.url.split("held=", 1)[1]
    row = officer_page.locator(f"#approval-{held_id}")
    assert "Another officer must approve it." in row.inner_text() and "20,000,000.00" in row.inner_text()
    assert row.locator("button").count() == 0
    shot(officer_page, "demo-review", "3-held")
    with server.api("officer") as officer:
        assert officer.get(f"/api/v1/calls/{call}/selection").status_code == 409  # not selected yet
        waiting = officer.get(
            "/api/v1/applications", params={"state": "under_review", "call_id": call}
        ).json()["items"]
    officer_page.goto(f"/applications/{waiting[0]['id']}")
    notice = officer_page.locator(f"#held-{held_id}")
    assert "web:officer" in notice.inner_text() and notice.locator("a[href^='/officer/approvals']").count()

    # the demo's second officer approves it on the 待复核 page (in Chinese), after its summary
    checker = browser.new_context(base_url=server.url, locale="zh-CN").new_page()
    login(checker, server, "checker")
    checker.goto("/officer/approvals")
    assert "待复核" in checker.inner_text("main")
    checker.click(f"form[action='/officer/approvals/{held_id}/confirm'] button")
    checker.wait_for_load_state()
    summary = checker.inner_text("main")
    assert "20,000,000.00" in summary and "web:officer" in summary and call in summary
    shot(checker, "demo-review", "4-second-officer")
    checker.click(f"form[action='/officer/approvals/{held_id}/approve'] button")
    checker.wait_for_load_state()
    assert "status=approved" in checker.url, checker.url
    with server.api("officer") as officer:
        view = officer.get(f"/api/v1/calls/{call}/selection").json()
    assert len(view["designations"]) == 4, view  # one a sector
    officer_page.goto(f"/officer/selection/{call}")
    text = officer_page.inner_text("main")
    assert all(d["firm_uscc"] in text for d in view["designations"]), text[:2000]
    shot(officer_page, "demo-review", "5-selected")

    page.goto(f"/published/designated/{call}?lang=zh")
    assert page.locator("table tbody tr").count() == 4
    amounts = page.locator("table tbody td.num").all_inner_texts()
    assert amounts and all(re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}元", a) for a in amounts), amounts
    shot(page, "demo-review", "6-published-zh")
