"""An auditor reads the ledger in the browser, read-only across pools: every pool, one pool's statement
(balances by account), its burn-down and its whole history, in English and in Chinese; screenshots go to
test-output/screenshots/auditor-ledger-<step>.png."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.web.browser.conftest import Server, login, shot


def test_auditor_reads_each_pools_statement_and_history(page: Any, server: Server) -> None:
    with server.api("auditor") as api:
        pools = api.get("/api/v1/pools").json()
        assert pools
        pool = pools[0]
        history = api.get(f"/api/v1/pools/{pool['id']}/history", params={"limit": 500}).json()
    login(page, server, "auditor")
    page.click("nav a[href='/audit/pools']")
    page.wait_for_load_state()
    assert page.url.endswith("/audit/pools")
    assert page.locator("main table tbody tr").count() == len(pools)
    shot(page, "auditor-ledger", "1-pools")
    page.click(f"main a[href='/audit/pools/{pool['id']}']")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "Balances by account" in main and pool["name"] in main
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == min(history["total"], 100) and history["total"] >= 1
    # the last line of the history shows what is available now
    last = history["items"][-1]
    assert Decimal(last["available"]) == Decimal(pool["available"])
    assert page.locator("figure svg polyline").count() == 1
    shot(page, "auditor-ledger", "2-statement-en")
    page.goto(f"/lang/zh?next=/audit/pools/{pool['id']}")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "各账户余额" in main and "注资" in main, main[:500]
    shot(page, "auditor-ledger", "3-statement-zh")
    # read-only: no forms that change anything, and the officer's pool page stays closed
    assert page.locator("main form[method=post]").count() == 0
    resp = page.goto("/officer/pools")
    assert resp is not None and resp.status == 403
