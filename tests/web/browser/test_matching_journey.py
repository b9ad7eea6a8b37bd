"""The officer's long work in a real browser: a match over the demo register and a simulation in the policy
sandbox run as background jobs; the page shows a progress bar that HTMX refreshes until the result page
opens by itself. Screenshots of every step."""

from __future__ import annotations

import re
from typing import Any

from tests.web.browser.conftest import Server, login, shot

JOB_URL = re.compile(r".*/officer/jobs/[0-9a-f]{32}$")


def _progress_shown(page: Any, journey: str) -> str:
    """The job's page: a progress bar with its steps (whatever step it is at); returns the job's id."""
    page.wait_for_url(JOB_URL)
    bar = page.locator("#job progress")
    bar.wait_for()
    assert int(bar.get_attribute("max") or 0) >= 1
    assert 0 <= int(bar.get_attribute("value") or -1) <= int(bar.get_attribute("max") or 0)
    assert page.locator("#job[hx-trigger='every 1s']").count() == 1  # it follows the job by itself
    shot(page, journey, "2-progress")
    return str(page.url.rsplit("/", 1)[1])


def test_officer_runs_the_match_with_a_progress_bar(page: Any, server: Server) -> None:
    login(page, server, "officer")
    page.goto("/officer/matching")
    shot(page, "matching", "1-form")
    page.click("form[action='/officer/matching'] button")
    job_id = _progress_shown(page, "matching")

    page.wait_for_url(f"**/officer/matching/{job_id}", timeout=120_000)
    main = page.inner_text("main")
    assert "Pool pressure" in main and "Eligible firms by programme" in main, main[:2000]
    assert page.locator("figure svg").count() >= 1
    with server.api("officer") as officer:
        job = officer.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded" and job["done"] == job["total"], job
    assert f"{job['result']['run']['firms']} firms" in main
    shot(page, "matching", "3-result")


def test_officer_simulates_a_reform_with_a_progress_bar(page: Any, server: Server) -> None:
    login(page, server, "officer")
    page.goto("/officer/sandbox")
    shot(page, "sandbox", "1-form")
    page.click("form[action='/officer/sandbox'] button")
    job_id = _progress_shown(page, "sandbox")

    page.wait_for_url(f"**/officer/sandbox/{job_id}", timeout=120_000)
    main = page.inner_text("main")
    assert "Pool sufficiency" in main and "Cost after" in main, main[:2000]
    assert page.locator(".charts svg").count() >= 1
    report = page.request.get(f"/api/v1/simulations/{job_id}/report")
    assert report.status == 200 and "<svg" in report.text()
    shot(page, "sandbox", "3-result")
