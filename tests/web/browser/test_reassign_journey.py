"""A designation call that stalls, finished in the browser (issue 14), in Chinese and in English (each run on
its own demo, every step asserting the words of its language): a reviewer declares a conflict where nobody
of the field who can log in is left (the third reviewer, expert-li, has no account); the reviewer is told an
officer will reassign it; the officer's selection page marks the stalled reviews, refuses to normalise while
reviews wait (saying why in the page's language), and the officer reassigns each with a reason; once the
reviews are in, the officer normalises and selects on the same page, the selection is held above the
second-approval amount until a second officer approves it, and a designated firm finds its signed
certificate on its page. Screenshots of
every step (reassign-<lang>-<step>.png)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.selection import factory
from tests.web.browser.conftest import Server, login, open_page, serve, shot, words
from tests.web.test_designation import CALL, CALL_FILE, CRITERIA, ON, SECTORS

from huiqi.accounts import service as accounts
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.review import service as review

PASSWORD = "reassign journey password"
WAITING = (
    "Conflict recorded: no other reviewer is free to take the application yet; an officer will give it to "
    "someone else."
)
PANEL = {SECTORS[0]: ["r00", "r01", "expert-li"]} | {
    s: [f"r{i}{j}" for j in range(3)] for i, s in enumerate(SECTORS) if i
}


@pytest.fixture(scope="module", params=["zh", "en"])
def stalled(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Server]:
    """Twelve applicants; every reviewer has an account but expert-li; the call file, check and assignment
    done; ``ids["lang"]``: the language the journey runs in."""
    directory = tmp_path_factory.mktemp(f"browser-reassign-{request.param}")
    url = f"sqlite:///{directory / 'huiqi.db'}"
    upgrade(url)
    engine = make_engine(url)
    users = ["officer", "officer_b", "admin"] + [r for ids in PANEL.values() for r in ids if r != "expert-li"]
    with make_session_factory(engine)() as s:
        factory.open_hq_call(s, CALL, factory.firms(12))
        for u in users:
            role = {"officer_b": "officer", "admin": "admin", "officer": "officer"}.get(u, "reviewer")
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
        srv.ids["lang"] = request.param
        with srv.api("officer") as officer:
            assert officer.put(f"/api/v1/calls/{CALL}/call-file", json={"text": CALL_FILE}).status_code == 200
            assert officer.post(f"/api/v1/calls/{CALL}/selection/check", json={"on": ON}).status_code == 200
            assert officer.post(f"/api/v1/calls/{CALL}/review/assign", json={"on": ON}).status_code == 200
        yield srv


def test_a_conflict_nobody_can_take_is_reassigned_by_the_officer_in_the_browser(
    browser: Any, stalled: Server
) -> None:
    lang = stalled.ids["lang"]
    journey = f"reassign-{lang}"

    def w(msgid: str) -> str:
        return words(lang, msgid)

    def new_page() -> Any:
        pg = open_page(browser, stalled.url, lang)
        pg.set_default_timeout(20_000)
        return pg

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
    assert w("Conflict of interest declaration") in page.inner_text("main")
    page.check("input[name=decision][value=conflict]")
    page.fill("textarea[name=conflict]", "I advised the applicant's board last year")
    page.click(f"button:has-text('{w('Submit the declaration')}')")
    page.wait_for_url("**/review?declared=conflict-waiting")
    waiting = (
        "Conflict recorded: no other reviewer is free to take the application yet; an officer will give it "
    )
    assert w(waiting + "to someone else.") in page.inner_text("main")
    shot(page, journey, "1-conflict-waiting")

    # the officer sees the stalled reviews; normalising is refused while they wait, with no command line
    officer_page = new_page()
    login(officer_page, stalled, "officer")
    officer_page.goto(f"/officer/selection/{CALL}")
    text = officer_page.inner_text("main")
    assert w("Reviews still waiting") in text and w("Stalled: reassign it") in text, text[:3000]
    assert w("has no account") in text
    shot(officer_page, journey, "2-stalled")
    officer_page.click(f"button:has-text('{w('3. Normalise the scores')}')")
    officer_page.wait_for_load_state()
    alert = officer_page.locator("p.error[role=alert]").inner_text()
    assert "huiqi " not in alert and re.search(r"[0-9a-f]{32}", alert), alert  # names a review it waits for
    assert ("尚未评分" if lang == "zh" else "not scored yet") in alert, alert  # in the page's language
    shot(officer_page, journey, "3-normalise-refused")

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
        form.locator(f"button:has-text('{w('Reassign')}')").click()
        officer_page.wait_for_url(f"**/officer/selection/{CALL}")
        return to

    to = reassign(x, "r00", "no integrated-circuits reviewer without a conflict can log in")
    for app in sorted(a for a, who in on_app.items() if "expert-li" in who):
        reassign(app, "expert-li", "expert-li has no account")
    text = officer_page.inner_text("main")
    assert w("Stalled: reassign it") not in text and w("has no account") not in text, text[:3000]
    shot(officer_page, journey, "4-reassigned")

    # the reviewers in place finish the review (through the API), then the officer finishes in the browser
    rng = random.Random(4)
    with stalled.api("officer") as officer:
        todo = [t for t in officer.get(f"/api/v1/calls/{CALL}/review").json()["waiting"]]
    assert any(t["application_id"] == x and t["reviewer_id"] == to for t in todo)
    for t in todo:
        with stalled.api(t["reviewer_id"]) as c:
            if t["status"] == "assigned":
                r = c.post(
                    f"/api/v1/reviews/{t['application_id']}/declaration", json={"conflict": None, "on": ON}
                )
                assert r.status_code == 200, r.text
            sheet = {k: str(rng.randint(3, 10)) for k in CRITERIA}
            r = c.post(f"/api/v1/reviews/{t['application_id']}/scores", json={"scores": sheet})
            assert r.status_code == 200, r.text
    officer_page.goto(f"/officer/selection/{CALL}")
    officer_page.click(f"button:has-text('{w('3. Normalise the scores')}')")
    officer_page.wait_for_load_state()
    assert officer_page.locator("p.error[role=alert]").count() == 0, officer_page.inner_text("main")[:2000]
    officer_page.click(f"button:has-text('{w('4. Select and award the grants')}')")
    officer_page.wait_for_load_state()
    officer_page.click(f"button:has-text('{w('Confirm: select and award the grants')}')")  # the summary first
    officer_page.wait_for_load_state()
    # the grants are above the second-approval amount (1 million yuan by default): held for another officer
    assert "/officer/approvals?held=" in officer_page.url, officer_page.url
    held = officer_page.url.split("held=")[1]
    assert w("Another officer must approve it.") in officer_page.inner_text("main")
    shot(officer_page, journey, "5-held")
    second = new_page()
    login(second, stalled, "officer_b")
    second.goto("/officer/approvals")
    second.locator(f"#approval-{held} button:has-text('{w('Approve')}')").click()
    second.wait_for_load_state()
    assert w("Nothing has been written yet.") in second.inner_text("main")
    second.locator("main form.card button").click()
    second.wait_for_load_state()
    officer_page.goto(f"/officer/selection/{CALL}")
    assert w("Designated firms") in officer_page.inner_text("main")
    shot(officer_page, journey, "6-selected")
    with stalled.api("officer") as officer:
        view = officer.get(f"/api/v1/calls/{CALL}/selection").json()
    assert len(view["designations"]) == 4, view
    assert all(d["firm_uscc"] in officer_page.inner_text("main") for d in view["designations"])

    # a designated firm's member finds the signed certificate on the firm's page and downloads it
    uscc = view["designations"][0]["firm_uscc"]
    with stalled.api("admin") as admin:
        member = {"username": "designated", "password": PASSWORD, "role": "firm_member", "firm_uscc": uscc}
        assert admin.post("/api/v1/users", json=member).status_code == 201
    stalled.passwords["designated"] = PASSWORD
    firm = new_page()
    login(firm, stalled, "designated")
    assert firm.url.endswith(f"/firms/{uscc}"), firm.url
    assert w("Certificates") in firm.locator("main h2").all_inner_texts()
    link = firm.locator("main a[href*='/certificates/']")
    assert link.count() == 1 and link.inner_text() == w("Download the PDF"), firm.inner_text("main")[:2000]
    got = firm.request.get(str(link.get_attribute("href")))
    assert got.status == 200 and got.body().startswith(b"%PDF"), got.status
    shot(firm, journey, "7-certificate")
