"""The demo's designation call in a real browser: ``huiqi demo`` leaves reviews waiting for the demo user
``reviewer`` (the rest of the panel has scored); the reviewer declares and scores, the officer normalises
and selects, and the Chinese published list shows the grants as grouped yuan. Screenshots of every step."""

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
    officer_page.click("button:has-text('Confirm: select and award the grants')")  # the summary first
    officer_page.wait_for_load_state()
    shot(officer_page, "demo-review", "3-selected")
    with server.api("officer") as officer:
        view = officer.get(f"/api/v1/calls/{call}/selection").json()
    assert len(view["designations"]) == 4, view  # one a sector

    page.goto(f"/published/designated/{call}?lang=zh")
    assert page.locator("table tbody tr").count() == 4
    amounts = page.locator("table tbody td.num").all_inner_texts()
    assert amounts and all(re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}元", a) for a in amounts), amounts
    shot(page, "demo-review", "4-published-zh")
