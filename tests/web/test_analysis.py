"""Matching, the "you qualify" inbox, the policy sandbox and the city comparison through the web (issues 4
and 7), over a small synthetic register (a register directory, as HUIQI_REGISTER_DIR)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from dbfixtures import FIRM_A, Db
from huiqi.accounts import service as accounts
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.matching.models import Notification
from web.conftest import EXAMPLE, PASSWORD, Web, build
from web.test_jobs import follow

ON = "2025-09-01"
REFORM = """id: model-rate-60
title: {en: Model vouchers at 60%, zh: 模型券补贴比例提高至60%}
programmes:
  shanghai.ai.model-voucher:
    parameters:
      rate: 60%
"""


@pytest.fixture
def register_web(db: Db, tmp_path: Path) -> Iterator[Web]:
    web = build(db, tmp_path)
    register = write_register(synth_register(400, 11), tmp_path / "register")
    web.app.state.huiqi.settings.register_dir = register
    yield web
    web.app.state.huiqi.store.close()


def test_match_summary_pool_pressure_and_inbox(register_web: Web, db: Db) -> None:
    web = register_web
    officer = web.bearer("officer")
    assert officer.get("/api/v1/matching/runs/latest").status_code == 404
    r = officer.post("/api/v1/matching/runs", json={"programmes": ["shanghai.nope"]})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")

    r = officer.post("/api/v1/matching/runs", json={"on": ON})
    assert r.status_code == 202, r.text
    report = follow(officer, r)["result"]
    assert report["run"]["firms"] == 400 and report["run"]["new_notifications"] > 0
    # the summary adds up to the per-programme totals, and a pool is oversubscribed exactly when demand > size
    for p in report["by_programme"]:
        rows = [s for s in report["summary"] if s["programme"] == p["programme"]]
        assert sum(s["firms"] for s in rows) == p["firms"]
        assert sum(Decimal(s["amount"]) for s in rows) == Decimal(p["amount"])
    assert report["pools"]
    for pool in report["pools"]:
        assert pool["oversubscribed"] == (Decimal(pool["demand"]) > Decimal(pool["size"]))

    # a second run recomputes nothing and sends nobody a second message
    again = follow(officer, officer.post("/api/v1/matching/runs", json={"on": ON}))["result"]
    assert again["run"]["rows_computed"] == 0 and again["run"]["new_notifications"] == 0
    assert again["pools"] == report["pools"] and again["summary"] == report["summary"]
    latest = web.bearer("auditor").get("/api/v1/matching/runs/latest").json()
    assert latest["run"]["id"] == again["run"]["id"] and latest["pools"] == report["pools"]

    # the stored results and the outbox (`huiqi match --out`, `huiqi match outbox`)
    auditor = web.bearer("auditor")
    first = report["by_programme"][0]
    res = auditor.get(
        f"/api/v1/matching/results?on={ON}&programme={first['programme']}&eligible=true&limit=500"
    )
    assert res.status_code == 200 and res.json()["total"] == first["firms"]
    assert sum(Decimal(x["amount"]) for x in res.json()["items"]) == Decimal(first["amount"])
    box = auditor.get("/api/v1/matching/outbox?limit=5").json()
    assert box["total"] == report["run"]["new_notifications"] and len(box["items"]) == 5

    # the page: the pressure table with the oversubscribed flag and the chart
    page = web.client("officer").get("/officer/matching?lang=en")
    assert page.status_code == 200 and "Pool pressure" in page.text and "<svg" in page.text
    if any(p["oversubscribed"] for p in report["pools"]):
        assert "Oversubscribed" in page.text
    browser = web.client("officer")
    page = browser.post("/officer/matching", data={"on": ON, "notify": "1"})
    assert page.status_code == 303 and page.headers["location"].startswith("/officer/jobs/"), page.text
    follow(officer, page)
    page = browser.get(page.headers["location"].replace("/jobs/", "/matching/"))
    assert page.status_code == 200 and "<svg" in page.text

    # the inbox of a firm that qualified: its member sees it (zh and en), another firm's member does not
    staff_view = officer.get(f"/api/v1/firms/{FIRM_A}/inbox").json()
    assert staff_view["total"] == 0
    with db.session() as s:
        uscc = s.scalars(select(Notification.uscc).order_by(Notification.uscc)).first()
        assert uscc is not None
        accounts.create_user(
            session=s,
            username="qualifier",
            password=PASSWORD,
            role="firm_member",
            firm_uscc=uscc,
            actor="test",
        )
        s.commit()
    member = web.client("qualifier")
    inbox = member.get(f"/api/v1/firms/{uscc}/inbox").json()
    assert inbox["total"] >= 1
    note = inbox["items"][0]
    assert "您符合" in note["message_zh"] and "you qualify for" in note["message_en"]
    assert member.get(f"/api/v1/firms/{FIRM_A}/inbox").status_code == 403
    page = member.get(f"/firms/{uscc}?lang=zh")
    assert page.status_code == 200 and "免申即享" in page.text


def test_sandbox_reform_report_and_refusals(register_web: Web) -> None:
    web = register_web
    officer = web.bearer("officer")
    assert officer.post("/api/v1/simulations", json={}).status_code == 422
    bad = officer.post("/api/v1/simulations", json={"reform": REFORM.replace("rate: 60%", "rat: 60%")})
    assert bad.status_code == 422 and "reform.yaml:" in bad.json()["detail"], bad.text
    r = officer.post("/api/v1/simulations", json={"reform": REFORM, "on": ON})
    assert r.status_code == 202, r.text
    sim = follow(officer, r)["result"]
    assert Decimal(sim["change"]) == Decimal(sim["cost_after"]) - Decimal(sim["cost_before"])
    assert Decimal(sim["change"]) >= 0 and sim["losers"]["firms"] == 0
    assert sim["affected"] == ["shanghai.ai.model-voucher"]
    # overrides alone, the same reform as --set
    r2 = officer.post("/api/v1/simulations", json={"sets": ["shanghai.ai.model-voucher.rate=60%"], "on": ON})
    assert r2.status_code == 202 and follow(officer, r2)["result"]["cost_after"] == sim["cost_after"]
    report = officer.get(f"/api/v1/simulations/{sim['id']}/report")
    assert (
        report.status_code == 200
        and "<svg" in report.text
        and "attachment" in report.headers["content-disposition"]
    )

    # the pages: upload the reform file, see the result with the charts; a refusal is shown in place
    browser = web.client("officer")
    r = browser.post(
        "/officer/sandbox",
        data={"on": ON, "sets": ""},
        files={"file": ("rate.reform.yaml", REFORM.encode(), "application/yaml")},
    )
    assert r.status_code == 303, r.text
    job = follow(officer, r)
    page = browser.get(f"/officer/sandbox/{job['id']}?lang=zh")
    assert page.status_code == 200 and "资金池充足性" in page.text and "<svg" in page.text
    r = browser.post(
        "/officer/sandbox", data={"reform": "", "sets": "shanghai.ai.model-voucher.rate=abc", "on": ON}
    )
    assert r.status_code == 422 and "--set #1" in r.text


def test_compare_cities_public_and_for_the_own_firm(sqlite_web: Web) -> None:
    anon = sqlite_web.client(None)
    profile = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    r = anon.post("/api/v1/compare-cities?lang=en", json=profile)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [c["city"] for c in out["cities"]] == ["shanghai", "beijing", "shenzhen", "hangzhou", "chengdu"]
    for c in out["cities"]:
        assert Decimal(c["net_cost"]) == Decimal(c["spending_total"]) - Decimal(c["subsidy_total"])
        assert all(s["explanation"]["checks"] for s in c["subsidies"])
    assert anon.post("/api/v1/compare-cities", json={"uscc": FIRM_A}).status_code == 401
    bad = anon.post("/api/v1/compare-cities", json={"uscc": "x", "name_zh": "y"})
    assert bad.status_code == 422 and bad.json()["errors"]

    page = anon.post("/compare?lang=zh", data={"profile": EXAMPLE.read_text(encoding="utf-8")})
    assert page.status_code == 200 and "净成本" in page.text and "<svg" in page.text
    assert anon.post("/compare", data={"profile": "{}"}).status_code == 422

    member = sqlite_web.client("firm_member")
    assert member.post("/api/v1/compare-cities", json={"uscc": FIRM_A}).status_code == 200
    other = sqlite_web.client("firm_b")
    assert other.post("/api/v1/compare-cities", json={"uscc": FIRM_A}).status_code == 403
    page = member.post("/compare?lang=en", data={"use_firm": FIRM_A})
    assert page.status_code == 200 and "lowest net cost" in page.text
    assert other.post("/compare", data={"use_firm": FIRM_A}).status_code == 403
