"""The administrator's journey in a real browser (issue 13, 14): add a user, see their failed logins and
unlock them, disable and re-enable them, change their role (the demo firm's messages are read in its journey,
test_journeys.py). Screenshots in test-output/screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tests.web.browser.conftest import Server, login, shot

CATALOGUE_ZH = Path(__file__).resolve().parents[3] / "src/huiqi/web/translations/zh/LC_MESSAGES/messages.mo"

USER, PASSWORD = "journey-clerk", "journey clerk password"


def api_login(server: Server, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": USER, "password": password}, timeout=30
    )


def row(page: Any) -> str:
    text: str = page.inner_text(f"#user-{USER}")
    return text


def test_admin_adds_unlocks_disables_enables_and_changes_a_role(page: Any, server: Server) -> None:
    login(page, server, "admin")
    assert page.url.endswith("/admin/users"), page.url
    page.fill("form[action='/admin/users'] input[name=username]", USER)
    page.fill("form[action='/admin/users'] input[name=password]", PASSWORD)
    page.select_option("form[action='/admin/users'] select[name=role]", "officer")
    page.click("form[action='/admin/users'] button")
    page.wait_for_load_state()
    assert f"User {USER} was added." in page.inner_text("[role=status]")
    shot(page, "admin", "1-added")

    # someone guesses the clerk's password: the list shows it, and the administrator unlocks
    assert [api_login(server, "a wrong guess!").status_code for _ in range(5)] == [401] * 5
    assert api_login(server).status_code == 429, "a delay runs for this name from this address"
    page.goto("/admin/users")
    assert "Failed logins in the last hour: 5" in row(page), row(page)
    shot(page, "admin", "2-failed-logins")
    page.click(f"form[action='/admin/users/{USER}/unlock'] button")
    page.wait_for_load_state()
    assert "forgotten" in page.inner_text("[role=status]")
    assert api_login(server).status_code == 200

    page.click(f"form[action='/admin/users/{USER}/disable'] button")
    page.wait_for_load_state()
    assert "Disabled" in row(page)
    refused = api_login(server)
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    shot(page, "admin", "3-disabled")
    page.click(f"form[action='/admin/users/{USER}/enable'] button")
    page.wait_for_load_state()
    assert "Enabled" in row(page) and api_login(server).status_code == 200

    page.locator(f"#user-{USER} details").first.evaluate("d => d.open = true")
    page.select_option(f"form[action='/admin/users/{USER}/role'] select[name=role]", "auditor")
    page.click(f"form[action='/admin/users/{USER}/role'] button")
    page.wait_for_load_state()
    assert "auditor" in row(page).lower()
    assert api_login(server).json()["user"]["role"] == "auditor"

    page.goto("/lang/zh?next=/admin/users")
    if CATALOGUE_ZH.exists():
        text = page.inner_text("main")
        assert "停用" in text and "更改角色" in text and "重置密码" in text, text[:500]
    shot(page, "admin", "4-zh")
