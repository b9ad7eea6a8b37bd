"""An audit in the browser, in Chinese and in English: the auditor reads the audit log, verifies the ledger
and the audit chain, reads every pool, the open call's pool's statement (balances by account), its burn-down
and its whole history, read-only: no form that changes anything, and the officer's pages stay closed.
Screenshots go to test-output/screenshots/audit-<lang>-<step>.png."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.web.browser.conftest import Server, login, shot, words

HTML_LANG = {"zh": "zh-CN", "en": "en"}
LEDGER_VERIFIES = (
    "The ledger verifies: %(t)s transactions, %(p)s pools; every transaction balances, no pool is below "
    "zero, nothing was paid twice."
)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_auditor_verifies_and_reads_each_pools_statement(page: Any, server: Server, lang: str) -> None:
    def w(msgid: str) -> str:
        return words(lang, msgid)

    journey = f"audit-{lang}"
    with server.api("auditor") as api:
        pools = api.get("/api/v1/pools").json()
        assert pools
        pool_id = api.get(f"/api/v1/calls/{server.call_id}").json()["pool_id"]
        pool = next(p for p in pools if p["id"] == pool_id)  # funded, reserved from and paid out of
        history = api.get(f"/api/v1/pools/{pool['id']}/history", params={"limit": 500}).json()

    # the audit log, then the ledger and the audit chain verified on the same page
    login(page, server, "auditor")
    assert page.url.endswith("/audit")
    assert page.get_attribute("html", "lang") == HTML_LANG[lang]
    assert page.inner_text("h1") == w("Audit log")
    assert page.locator("table.audit tbody tr").count() >= 5
    shot(page, journey, "1-log")
    button = page.locator("#verify-button")
    assert button.inner_text() == w("Verify the ledger and the audit chain")
    button.click()
    page.wait_for_selector("#verify #verify-result")
    text = page.inner_text("#verify")
    assert w(LEDGER_VERIFIES) in text, text
    assert w("The audit chain verifies: %(n)s links.") in text, text
    assert page.locator("#verify .card.error").count() == 0
    shot(page, journey, "2-verified")

    # every pool, then one pool's statement: balances, burn-down, the history with what was available
    page.click("nav a[href='/audit/pools']")
    page.wait_for_load_state()
    assert page.url.endswith("/audit/pools") and page.inner_text("h1") == w("Ledger statements")
    assert page.locator("main table tbody tr").count() == len(pools)
    shot(page, journey, "3-pools")
    page.click(f"main a[href='/audit/pools/{pool['id']}']")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert w("Balances by account") in main and pool["name"] in main and w("History") in main, main[:500]
    assert (
        page.locator("table.audit tbody tr").count() == min(history["total"], 100) and history["total"] >= 1
    )
    assert Decimal(history["items"][-1]["available"]) == Decimal(pool["available"])  # the last line is now
    assert page.locator("figure svg polyline").count() == 1
    kinds = page.locator("table.audit tbody tr td:nth-child(2)").all_inner_texts()
    assert w("Funding") in kinds and w("Reservation") in kinds, kinds  # each transaction's kind in words
    memos = page.locator("table.audit tbody tr td:nth-child(6)").all_inner_texts()  # the ledger's own memos
    assert memos[0] == w("fund pool %(name)s") + (" " if lang == "en" else "") + pool["name"], memos
    assert all(m.startswith((w("fund pool %(name)s"), w("reservation %(id)s"))) for m in memos[:2]), memos
    shot(page, journey, "4-statement")

    # read-only: no form that changes anything, and the officer's pages stay closed
    assert page.locator("main form[method=post]").count() == 0
    for address in ("/officer", "/officer/pools"):
        resp = page.goto(address)
        assert resp is not None and resp.status == 403, address
    shot(page, journey, "5-officer-refused")
