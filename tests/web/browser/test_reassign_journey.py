"""A designation call that stalls, finished in the browser (issue 14): a reviewer declares a conflict where
nobody of the field who can log in is left (the third reviewer, expert-li, has no account); the reviewer is
told an officer will reassign it; the officer's selection page marks the stalled reviews (in Chinese too),
refuses to normalise while reviews wait, and the officer reassigns each with a reason; once the reviews are
in, the officer normalises and selects on the same page. Screenshots of every step."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from tests.selection import factory
from tests.web.browser.conftest import Server, login, serve, shot
from tests.web.test_designation import CALL, CALL_FILE, CRITERIA, ON, SECTORS

from huiqi.accounts import service as accounts
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.review import service as review

PASSWORD = "reassign journey password"
PANEL = {SECTORS[0]: ["r00", "r01", "expert-li"]} | {
    s: [f"r{i}{j}" for j in range(3)] for i, s in enumerate(SECTORS) if i
}


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Twelve applicants; every reviewer has an account but expert-li; the call file, check and assignment
    done."""
    directory = tmp_path_factory.mktemp("browser-reassign")
    url = f"sqlite:///{directory / 'huiqi.db'}"
    upgrade(url)
    engine = make_engine(url)
    users = ["officer"] + [r for ids in PANEL.values() for r in ids if r != "expert-li"]
    with make_session_factory(engine)() as s:
        factory.open_hq_call(s, CALL, factory.firms(12))
        for u in users:
            role = "officer" if u == "officer" else "reviewer"
            accounts.create_user(session=s, username=u, password=PASSWORD, role=role, actor="test")
        for sector, ids in PANEL.items():
            for rid in ids:
                review.add_reviewer(
                    session=s,
                    reviewer_id=rid,
                    name=rid,
                    fields=[sector],
                    affiliations=[],
                    former_employers=[],
                    actor="test",
                )
        s.commit()
    engine.dispose()
    with serve(directory) as base:
        srv = Server(base, directory, dict.fromkeys(users, PASSWORD), "", CALL, directory / "server.log")
        with srv.api("officer") as officer:
            assert officer.put(f"/api/v1/calls/{CALL}/call-file", json={"text": CALL_FILE}).status_code == 200
            assert officer.post(f"/api/v1/calls/{CALL}/selection/check", json={"on": ON}).status_code == 200
            assert officer.post(f"/api/v1/calls/{CALL}/review/assign", json={"on": ON}).status_code == 200
        yield srv


def test_a_conflict_nobody_can_take_is_reassigned_by_the_officer_in_the_browser(
    browser: Any, stalled: Server
) -> None:
    def new_page(locale: str = "en-GB") -> Any:
        ctx = browser.new_context(
            base_url=stalled.url, viewport={"width": 1280, "height": 900}, locale=locale
        )
        ctx.set_default_timeout(20_000)
        return ctx.new_page()

    with stalled.api("officer") as officer:
        rows = officer.get("/api/v1/reviews", params={"call_id": CALL}).json()
    on_app: dict[str, set[str]] = {}
    for a in rows:
        on_app.setdefault(a["application_id"], set()).add(a["reviewer_id"])
    x = next(app for app, who in sorted(on_app.items()) if {"r00", "r01"} <= who)

    # the reviewer declares a conflict: nobody of the field who can log in is left, so it waits
    page = new_page()
    login(page, stalled, "r00")
    page.goto(f"/review/{x}")
    page.check("input[name=decision][value=conflict]")
    page.fill("textarea[name=conflict]", "I advised the applicant's board last year")
    page.click("button:has-text('Submit the declaration')")
    page.wait_for_url("**/review?declared=conflict-waiting")
    assert "an officer will give it to someone else" in page.inner_text("main")
    shot(page, "reassign", "1-conflict-waiting")

    # the officer sees the stalled reviews, in Chinese too
    zh = new_page("zh-CN")
    login(zh, stalled, "officer")
    zh.goto(f"/officer/selection/{CALL}?lang=zh")
    assert "尚未完成的评审" in zh.inner_text("main") and "已停滞：请改派" in zh.inner_text("main")
    shot(zh, "reassign", "2-stalled-zh")

    officer_page = new_page()
    login(officer_page, stalled, "officer")
    officer_page.goto(f"/officer/selection/{CALL}")
    # normalising is refused while reviews wait: the page says why, with no command line in it
    officer_page.click("button:has-text('3. Normalise the scores')")
    officer_page.wait_for_load_state()
    alert = officer_page.locator("p.error[role=alert]").inner_text()
    assert "not scored yet" in alert and "huiqi " not in alert, alert
    shot(officer_page, "reassign", "3-normalise-refused")

    def reassign(application: str, from_reviewer: str, reason: str) -> str:
        form = officer_page.locator(
            f"form[action='/officer/selection/{CALL}/reassign']"
            f":has(input[name=application_id][value='{application}'])"
            f":has(input[name=from_reviewer][value='{from_reviewer}'])"
        )
        to = str(form.locator("select[name=to_reviewer] option").first.get_attribute("value"))
        assert to not in ("expert-li", from_reviewer)
        form.locator("select[name=to_reviewer]").select_option(to)
        form.locator("input[name=reason]").fill(reason)
        form.locator("button:has-text('Reassign')").click()
        officer_page.wait_for_url(f"**/officer/selection/{CALL}")
        return to

    to = reassign(x, "r00", "no integrated-circuits reviewer without a conflict can log in")
    for app in sorted(a for a, who in on_app.items() if "expert-li" in who):
        reassign(app, "expert-li", "expert-li has no account")
    text = officer_page.inner_text("main")
    assert "Stalled: reassign it" not in text and "has no account" not in text, text[:3000]
    shot(officer_page, "reassign", "4-reassigned")

    # the reviewers in place finish the review (through the API), then the officer finishes in the browser
    rng = random.Random(4)
    with stalled.api("officer") as officer:
        todo = [w for w in officer.get(f"/api/v1/calls/{CALL}/review").json()["waiting"]]
    assert any(w["application_id"] == x and w["reviewer_id"] == to for w in todo)
    for w in todo:
        with stalled.api(w["reviewer_id"]) as c:
            if w["status"] == "assigned":
                r = c.post(
                    f"/api/v1/reviews/{w['application_id']}/declaration", json={"conflict": None, "on": ON}
                )
                assert r.status_code == 200, r.text
            sheet = {k: str(rng.randint(3, 10)) for k in CRITERIA}
            r = c.post(f"/api/v1/reviews/{w['application_id']}/scores", json={"scores": sheet})
            assert r.status_code == 200, r.text
    officer_page.goto(f"/officer/selection/{CALL}")
    officer_page.click("button:has-text('3. Normalise the scores')")
    officer_page.wait_for_load_state()
    assert officer_page.locator("p.error[role=alert]").count() == 0, officer_page.inner_text("main")[:2000]
    officer_page.click("button:has-text('4. Select and award the grants')")
    officer_page.wait_for_load_state()
    officer_page.click("button:has-text('Confirm: select and award the grants')")  # the summary first
    officer_page.wait_for_load_state()
    shot(officer_page, "reassign", "5-selected")
    with stalled.api("officer") as officer:
        view = officer.get(f"/api/v1/calls/{CALL}/selection").json()
    assert len(view["designations"]) == 4, view
    assert all(d["firm_uscc"] in officer_page.inner_text("main") for d in view["designations"])
