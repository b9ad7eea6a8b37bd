"""Names in the page's language, never ids or English where Chinese exists: the sandbox's result page (the
firms that gain or lose most by name with their credit code under it, programme and pool names) and a
firm's "you qualify" messages (the programme's name, its id secondary)."""

from __future__ import annotations

import re

from sqlalchemy import select

from dbfixtures import Db
from huiqi.firms.synth import synth_register
from huiqi.matching.models import Notification

from .conftest import Web
from .test_analysis import ON, REFORM, register_web
from .test_jobs import follow

__all__ = ["register_web"]


#: compute rentals paid more, self-built compute less: firms gain and lose
SETS = "shanghai.ai.compute-voucher.rental_rate=50%\nshanghai.ai.compute-voucher.selfbuild_rate=1%"


def test_the_sandbox_names_firms_programmes_and_pools_in_chinese(register_web: Web) -> None:
    officer = register_web.client("officer")
    r = officer.post("/officer/sandbox", data={"on": ON, "sets": SETS, "reform": REFORM})
    assert r.status_code == 303, r.text
    job = follow(register_web.bearer("officer"), r)
    sim = job["result"]
    tops = sim["top_gainers"] + sim["top_losers"]
    assert sim["top_gainers"] and sim["top_losers"] and all(g["name"] for g in tops)
    names = {f["uscc"]: f["name_zh"] for f in synth_register(400, 11)["firms"].to_pylist()}
    assert all(names[g["uscc"]] == g["name"] for g in tops)  # the register's own names
    page = officer.get(f"/officer/sandbox/{job['id']}?lang=zh").text
    table = page[page.index("受益与受损最大的企业") :]
    for first in (sim["top_gainers"][0], sim["top_losers"][0]):
        assert re.search(
            rf"<td>{re.escape(first['name'])}<br><span class=\"muted\">{first['uscc']}</span></td>", table
        )
    assert "模型券" in page and "Model vouchers</td>" not in page and "AI model voucher fund" not in page
    assert "模型券资金" in page  # the pool, by its Chinese name


def test_the_firms_messages_name_the_programme_in_chinese(register_web: Web, db: Db) -> None:
    officer = register_web.bearer("officer")
    follow(officer, officer.post("/api/v1/matching/runs", json={"on": ON}))
    with db.session() as s:
        first = s.execute(
            select(Notification.uscc, Notification.programme).order_by(Notification.uscc)
        ).first()
        assert first is not None
        uscc, programme = first._tuple()
    name = officer.get(f"/api/v1/programmes/{programme}").json()["name_zh"]
    page = register_web.client("officer").get(f"/firms/{uscc}?lang=zh").text
    inbox = page[page.index("免申即享") : page.index('id="profile-heading"')]
    assert f"<strong>{name}</strong>" in inbox and f"<strong>{programme}</strong>" not in inbox


#: the report's headings in English; a zh report shows none of them outside code (ids) and the charts' SVG
REPORT_HEADINGS = ("By programme", "By sector", "By district", "Pool sufficiency", "Largest gains and losses")


def _report_of(web: Web, lang: str) -> str:
    """The report.html an officer whose pages are in ``lang`` downloads from the sandbox's result page."""
    officer = web.client("officer")
    r = officer.post(f"/officer/sandbox?lang={lang}", data={"on": ON, "sets": SETS, "reform": REFORM})
    assert r.status_code == 303, r.text
    job = follow(web.bearer("officer"), r)
    page = officer.get(f"/officer/sandbox/{job['id']}?lang={lang}").text
    link = re.search(r'href="(/api/v1/simulations/[^"]+/report)"', page)
    assert link is not None, page
    report = officer.get(link.group(1))
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    return report.text


def _words(html: str) -> str:
    """The report's text a reader sees: no charts' SVG, no ids in <code>, no tags."""
    html = re.sub(r"<svg.*?</svg>|<code>.*?</code>|<style>.*?</style>", "", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", html)


def test_a_zh_officer_downloads_the_sandbox_report_in_chinese(register_web: Web) -> None:
    html = _report_of(register_web, "zh")
    words = _words(html)
    assert '<html lang="zh-CN">' in html
    assert "按政策" in words and "按行业" in words and "资金池充足性" in words
    assert "模型券" in words and "模型券资金" in words  # programme and pool by their Chinese names
    assert "人工智能" in words  # a sector as a word, not the register's key
    assert not [h for h in REPORT_HEADINGS if h in words], words
    assert "artificial_intelligence" not in words
    assert "<span class='note'>Model vouchers" not in html and "AI model voucher fund" not in html
    assert ">模型券</text>" in html and ">Model vouchers</text>" not in html  # the charts' bars too


def test_an_en_officer_downloads_the_sandbox_report_in_english(register_web: Web) -> None:
    html = _report_of(register_web, "en")
    words = _words(html)
    assert '<html lang="en">' in html
    assert all(h in words for h in REPORT_HEADINGS), words
    assert "按政策" not in words and "资金池充足性" not in words
    assert "<span class='note'>Model vouchers" in html and "AI model voucher fund" in html
