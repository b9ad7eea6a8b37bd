"""A designation call in a real browser (issue 5's pages): the officer saves the call file, checks eligibility
and assigns reviewers; a reviewer declares no conflict (only then sees the application) and scores; the
officer normalises and runs the selection, which (20,000,000 yuan of grants, above the second-approval amount)
waits in 待复核 until a second officer approves it; the public reads the designated list. Screenshots of every
step."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from tests.selection import factory
from tests.web.browser.conftest import Server, login, serve, shot
from tests.web.test_designation import CALL, CALL_FILE, CRITERIA, ON, SECTORS

from huiqi.accounts import service as accounts
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.review import service as review
from huiqi.review.models import Assignment

PASSWORD = "designation journey password"


@pytest.fixture(scope="module")
def designation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Twelve applicants to an HQ designation call (three per sector), twelve reviewers with accounts."""
    directory = tmp_path_factory.mktemp("browser-designation")
    url = f"sqlite:///{directory / 'huiqi.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        factory.open_hq_call(s, CALL, factory.firms(12))
        users = ["officer", "checker"] + [f"r{i}{j}" for i in range(4) for j in range(3)]
        for u in users:
            role = "officer" if u in ("officer", "checker") else "reviewer"
            accounts.create_user(session=s, username=u, password=PASSWORD, role=role, actor="test")
        for i, sector in enumerate(SECTORS):
            for j in range(3):
                review.add_reviewer(
                    session=s,
                    reviewer_id=f"r{i}{j}",
                    name=f"专家{i}{j}",
                    fields=[sector],
                    affiliations=[],
                    former_employers=[],
                    actor="test",
                )
        s.commit()
    engine.dispose()
    with serve(directory) as base:
        yield Server(base, directory, dict.fromkeys(users, PASSWORD), "", CALL, directory / "server.log")


def assignments(server: Server, status: str) -> list[tuple[str, str]]:
    """(application, reviewer) of the assignments in ``status``, read from the server's database."""
    engine = make_engine(f"sqlite:///{server.directory / 'huiqi.db'}")
    try:
        with make_session_factory(engine)() as s:
            rows = s.scalars(select(Assignment).where(Assignment.status == status))
            return sorted((a.application_id, a.reviewer_id) for a in rows)
    finally:
        engine.dispose()


def test_reviewer_scores_and_officer_runs_the_selection(browser: Any, designation: Server) -> None:
    def new_page() -> Any:
        ctx = browser.new_context(base_url=designation.url, viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(20_000)
        return ctx.new_page()

    # the officer: call file, eligibility, assignment
    officer = new_page()
    login(officer, designation, "officer")
    officer.goto(f"/officer/selection/{CALL}")
    shot(officer, "selection", "1-empty")
    officer.fill("textarea[name=text]", CALL_FILE)
    officer.click("button:has-text('Validate and save the call file')")
    officer.wait_for_load_state()
    assert "R&D intensity" in officer.inner_text("main"), officer.inner_text("main")[:2000]
    officer.fill(f"form[action='/officer/selection/{CALL}/check'] input[name=on]", ON)
    officer.click("button:has-text('1. Check eligibility')")
    officer.wait_for_load_state()
    officer.fill(f"form[action='/officer/selection/{CALL}/assign'] input[name=on]", ON)
    officer.click("button:has-text('2. Assign reviewers')")
    officer.wait_for_load_state()
    shot(officer, "selection", "2-assigned")
    todo = assignments(designation, "assigned")
    assert len(todo) == 22, todo  # eleven eligible applications, two reviewers each

    # one reviewer in the browser: the declaration first, only then the material and the scoring form
    app_id, reviewer = todo[0]
    page = new_page()
    login(page, designation, reviewer)
    page.goto("/review")
    shot(page, "reviewer", "1-assignments")
    page.click(f"a[href='/review/{app_id}']")
    page.wait_for_load_state()
    assert page.locator("input[name=decision]").count() == 2
    assert page.locator("input[name^=score_]").count() == 0 and "HQ-1" not in page.inner_text("main")
    shot(page, "reviewer", "2-declaration")
    page.check("input[name=decision][value=none]")
    page.click("button:has-text('Submit the declaration')")
    page.wait_for_url(f"**/review/{app_id}")
    assert "HQ-1" in page.inner_text("main")
    rng = random.Random(5)
    for c in CRITERIA:
        page.fill(f"input[name=score_{c}]", str(rng.randint(4, 9)))
    shot(page, "reviewer", "3-scoring")
    page.click("button:has-text('Submit the scores')")
    page.wait_for_url("**/review?scored=1")
    shot(page, "reviewer", "4-scored")
    assert (app_id, reviewer) in assignments(designation, "scored")

    # every other reviewer through the API, so that the review is complete
    for aid, rid in todo[1:]:
        with designation.api(rid) as c:
            r = c.post(f"/api/v1/reviews/{aid}/declaration", json={"conflict": None, "on": ON})
            assert r.status_code == 200, r.text
            sheet = {k: str(rng.randint(3, 10)) for k in CRITERIA}
            r = c.post(f"/api/v1/reviews/{aid}/scores", json={"scores": sheet})
            assert r.status_code == 200, r.text

    # the officer normalises and selects; every decision has its reason
    officer.goto(f"/officer/selection/{CALL}")
    officer.click("button:has-text('3. Normalise the scores')")
    officer.wait_for_load_state()
    officer.click("button:has-text('4. Select and award the grants')")
    officer.wait_for_load_state()
    assert "it will be held until a second officer approves it" in officer.inner_text("main")
    officer.click("button:has-text('Confirm: select and award the grants')")  # the summary first
    officer.wait_for_load_state()
    assert "/officer/approvals?held=" in officer.url, officer.url  # 待复核: nothing designated yet
    held_id = officer.url.split("held=", 1)[1]
    shot(officer, "selection", "3-held")
    with designation.api("officer") as c:
        assert c.get(f"/api/v1/calls/{CALL}/selection").status_code == 409

    # a second officer approves it after its summary; the grants are awarded
    checker = new_page()
    login(checker, designation, "checker")
    checker.goto("/officer/approvals")
    checker.click(f"form[action='/officer/approvals/{held_id}/confirm'] button")
    checker.wait_for_load_state()
    checker.click(f"form[action='/officer/approvals/{held_id}/approve'] button")
    checker.wait_for_load_state()
    assert "status=approved" in checker.url, checker.url
    officer.goto(f"/officer/selection/{CALL}")
    shot(officer, "selection", "3-selected")
    with designation.api("officer") as c:
        view = c.get(f"/api/v1/calls/{CALL}/selection").json()
    assert len(view["designations"]) == 4, view
    text = officer.inner_text("main")
    assert all(d["firm_uscc"] in text for d in view["designations"]), text[:3000]
    # every left-out and reserve firm with its reason (rendered from the reason's code since e511942)
    assert all(d["firm_uscc"] in text for d in view["left_out"] + view["reserve"]), text[:3000]
    assert all(f"this application scored {d['score']}" in text for d in view["reserve"]), text[:3000]

    # the public list
    page.goto(f"/published/designated/{CALL}?lang=zh")
    shot(page, "selection", "4-published-zh")
    assert page.locator("table tbody tr").count() == 4
