"""The auditor's ledger statements, read-only across pools: the API (a pool, its statement, its history with
the running available balance) and the pages (every pool; one pool's balances, burn-down and history, in zh
and en), and who may see them."""

from __future__ import annotations

from decimal import Decimal

from tests.web.conftest import Web, key

POOL = "pool"


def test_a_pools_history_runs_from_its_funding_to_what_is_available_now(web: Web) -> None:
    auditor = web.client("auditor")
    pool = auditor.get(f"/api/v1/pools/{POOL}")
    assert pool.status_code == 200, pool.text
    history = auditor.get(f"/api/v1/pools/{POOL}/history", params={"limit": 500})
    assert history.status_code == 200, history.text
    page = history.json()
    lines = page["items"]
    assert page["total"] == len(lines) >= 5  # funded, reserved, awarded and paid twice over by the fixture
    assert lines[0]["kind"] == "fund"
    assert Decimal(lines[0]["effect_on_available"]) == Decimal(pool.json()["size"])
    running = Decimal(0)
    for line in lines:
        running += Decimal(line["effect_on_available"])
        assert Decimal(line["available"]) == running, line
    assert running == Decimal(pool.json()["available"])
    assert [x["at"] for x in lines] == sorted(x["at"] for x in lines)
    # the statement's latest transactions are the history's last ones, with the same effects
    statement = auditor.get(f"/api/v1/pools/{POOL}/statement", params={"limit": 3}).json()
    tail = [(x["id"], x["effect_on_available"]) for x in lines[-3:]]
    assert [(x["id"], x["effect_on_available"]) for x in statement["transactions"]] == tail
    assert Decimal(statement["balances"]["available"]) == running
    # pages of the history
    second = auditor.get(f"/api/v1/pools/{POOL}/history", params={"limit": 2, "offset": 2}).json()
    assert [x["id"] for x in second["items"]] == [x["id"] for x in lines[2:4]]
    assert auditor.get("/api/v1/pools/nope/history").status_code == 404


def test_the_auditor_reads_every_pools_statement_in_the_browser(sqlite_web: Web) -> None:
    auditor = sqlite_web.client("auditor")
    listing = auditor.get("/audit/pools?lang=zh")
    assert listing.status_code == 200, listing.text
    assert "账本对账单" in listing.text and f'href="/audit/pools/{POOL}"' in listing.text
    page = auditor.get(f"/audit/pools/{POOL}?lang=zh")
    assert page.status_code == 200, page.text
    history = auditor.get(f"/api/v1/pools/{POOL}/history", params={"limit": 500}).json()
    for line in history["items"]:
        assert line["id"][:12] in page.text
    for word in ("各账户余额", "注资", "拨付", "已拨付", "对可用余额的影响", "<svg"):
        assert word in page.text, word
    english = auditor.get(f"/audit/pools/{POOL}?lang=en")
    assert "Balances by account" in english.text and "Funding" in english.text
    assert auditor.get("/audit/pools/nope").status_code == 404
    # read-only: the officer's pool page and creating a pool stay the officer's
    assert auditor.get("/officer/pools").status_code == 403
    created = auditor.post(
        "/api/v1/pools",
        headers=key(),
        json={
            "id": "p2",
            "name": "x",
            "size": "1.00",
            "period_start": "2025-01-01",
            "period_end": "2025-12-31",
        },
    )
    assert created.status_code == 403


def test_firms_and_reviewers_do_not_see_the_ledger(sqlite_web: Web) -> None:
    for role in ("firm_member", "reviewer"):
        client = sqlite_web.client(role)
        for url in (
            "/audit/pools",
            f"/audit/pools/{POOL}",
            f"/api/v1/pools/{POOL}/history",
            f"/api/v1/pools/{POOL}",
        ):
            assert client.get(url).status_code == 403, (role, url)
