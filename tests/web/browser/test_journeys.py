"""The main journeys in a real browser (Chromium via Playwright) against a real server; screenshots of every
step go to test-output/screenshots/<journey>-<step>.png. A visitor uses the calculator; a firm (the demo's,
whose inbox holds the match's messages) reads its messages, tries the calculator, applies to the first-come
first-served call and attaches its invoice, and an officer checks, approves, grants and pays it, which the
firm then sees: in Chinese and in English, each run asserting the words of its language at every step."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.web.browser.conftest import HAN, Server, login, open_page, shot, words

from huiqi.web.i18n import SHANGHAI

CATALOGUE = Path(__file__).resolve().parents[3] / "src/huiqi/web/translations/zh/LC_MESSAGES/messages.mo"
#: The demo firm's unclaimed model-use contract each language's run applies with (added by ``demo_firm``).
CONTRACTS = {"zh": "HT-2025-1020-ZH", "en": "HT-2025-1020-EN"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}


def invoice_pdf() -> bytes:
    """A small real PDF (one page, text), as a firm would scan an invoice."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.drawString(72, 770, "Invoice HT-2025-0902: model use, 150,000.00 yuan")
    c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture(scope="module")
def demo_firm(server: Server) -> str:
    """The demo firm's credit code, its stored profile given one more unclaimed model-use contract for each
    language's run (a copy of its own)."""
    with server.api("firm") as firm:
        uscc: str = firm.get("/api/v1/auth/me").json()["firm_uscc"]
        profile = firm.get(f"/api/v1/firms/{uscc}").json()
    own = [c for c in profile["contracts"] if c["id"] not in CONTRACTS.values()]
    base = next(c for c in own if c["kind"] == "model_use")
    profile["contracts"] = own + [{**base, "id": cid} for cid in CONTRACTS.values()]
    with server.api("officer") as officer:
        r = officer.put(f"/api/v1/firms/{uscc}", json=profile)
        assert r.status_code == 200, r.text
    return uscc


def confirm(page: Any, lang: str) -> None:
    """Confirm a money move on its summary page, which says that nothing has been written yet."""
    page.wait_for_load_state()
    assert words(lang, "Nothing has been written yet.") in page.inner_text("main"), page.inner_text("main")
    button = page.locator("main form.card button")
    assert button.inner_text().startswith(words(lang, "Confirm")), button.inner_text()
    button.click()
    page.wait_for_load_state()


def current_step(page: Any) -> str:
    text: str = page.inner_text("ol.progress li.current")
    return text.strip()


def test_visitor_uses_the_calculator(page: Any) -> None:
    page.goto("/calculator?example=small-ai-firm")
    assert page.title().startswith("Policy calculator")
    shot(page, "calculator", "1-form")

    # the example's answers are filled in; check them (HTMX puts the results under the form)
    page.click("#calc button[value=form]")
    page.wait_for_selector("#results section.results")
    summary = page.inner_text("#results p.summary")
    assert re.search(r"\d+ of \d+ programmes", summary), summary
    ok = page.locator("#results details.result.ok")
    assert ok.count() >= 1, "the small AI firm qualifies for something"
    first = ok.first.inner_text()
    assert "yuan" in first and "〔" in first, first  # how much, and the clause each check cites
    assert page.locator("#results details.result.no").count() >= 1
    gaps = page.locator("#results .gap")
    assert gaps.count() >= 1, "what is missing is said for a programme it does not qualify for"
    page.locator("#results details.result.no").first.evaluate("d => d.open = true")
    shot(page, "calculator", "2-results")

    # a wrong answer: named beside its field, every answer kept
    page.fill("input[name=total_assets]", "a lot")
    page.click("#calc button[value=form]")
    alert = page.wait_for_selector("#calc .field-error")
    assert "amount" in alert.inner_text(), alert.inner_text()
    assert page.input_value("input[name=total_assets]") == "a lot"
    assert page.input_value("input[name=registered_capital]") == "5,000,000"

    # a broken profile in the advanced box: its problems beside it (not an empty result, not raw JSON)
    page.click("details.advanced summary")
    page.fill("#profile", '{"uscc": "123", "name_zh": "坏"}')
    page.click("#check-json")
    alert = page.wait_for_selector("#profile-problems")
    assert "uscc" in alert.inner_text(), alert.inner_text()
    shot(page, "calculator", "3-problems")

    # the same page in Chinese (the catalogue's strings once compiled; the firm's Chinese name in any case)
    page.goto("/lang/zh?next=/calculator%3Fexample%3Dsmall-ai-firm")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("#calc button[value=form]")
    page.wait_for_selector("#results section.results")
    assert "上海" in page.inner_text("#results h2")
    if CATALOGUE.exists():
        assert "Policy calculator" not in page.inner_text("h1"), "the calculator's title is not translated"
    shot(page, "calculator", "4-zh")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_firm_applies_and_an_officer_pays_it(
    page: Any, browser: Any, server: Server, demo_firm: str, lang: str, tmp_path: Path
) -> None:
    def w(msgid: str) -> str:
        return words(lang, msgid)

    journey, contract = f"fcfs-{lang}", CONTRACTS[lang]
    # the firm's page: the match's "you qualify" messages (in the page's language) and what it qualifies for
    login(page, server, "firm")
    assert page.url.endswith(f"/firms/{demo_firm}"), page.url
    assert page.get_attribute("html", "lang") == HTML_LANG[lang]
    main = page.inner_text("main")
    assert w("You qualify: messages") in main and w("Programmes you qualify for") in main, main[:1000]
    messages = page.locator("details.result.ok:has(pre.message)")
    assert messages.count() >= 3
    programmes = messages.locator(".muted").all_inner_texts()
    assert any(".ai." in p for p in programmes) and any(".hq." in p for p in programmes), programmes
    said = messages.first.locator("pre.message").text_content().splitlines()[0]
    assert ("您符合" in said) if lang == "zh" else ("you qualify for" in said and not HAN.search(said)), said
    shot(page, journey, "1-firm-messages")

    # the calculator opens with the firm's stored profile and answers it
    page.click("main a[href='/calculator']")
    page.click("#calc button[value=form]")
    page.wait_for_selector("#results section.results")
    assert w("programmes") in page.inner_text("#results p.summary")
    assert page.locator("#results details.result.ok").count() >= 1
    shot(page, journey, "2-calculator")

    # it applies to the open call with one contract, then attaches the invoice
    page.goto(f"/firms/{demo_firm}")
    page.click(f"a[href='/firms/{demo_firm}/apply']")
    assert w("What you claim") in page.inner_text("main")
    page.select_option("select[name=call_id]", server.call_id)
    page.check(f"input[name=contract][value='{contract}']")
    page.fill(f"input[name='amount_{contract}']", "150000.00")
    shot(page, journey, "3-apply")
    page.click("form[action$='/applications'] button[type=submit]")
    page.wait_for_url(re.compile(r"/applications/[0-9a-f-]+$"))
    assert current_step(page) == w("Submitted")
    assert "150,000.00" in page.inner_text("main")
    app_id = page.url.rsplit("/", 1)[1]
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(invoice_pdf())
    page.set_input_files("input[name=file]", str(pdf))
    page.fill("input[name=description]", "model-use invoice")
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("a[href*='/evidence/']", has_text="invoice.pdf").count() == 1
    assert page.locator("ol.progress li").count() >= 5 and page.locator("ol.progress li.done").count() >= 1
    shot(page, journey, "4-evidence")
    href = page.locator("a[href*='/evidence/']").first.get_attribute("href")
    got = page.request.get(href)
    assert got.status == 200 and got.body() == pdf.read_bytes()  # the evidence downloads as sent

    # the officer finds it in the queue (times in Shanghai wall-clock time), checks, approves, grants, pays
    officer = open_page(browser, server.url, lang)
    login(officer, server, "officer")
    assert officer.url.endswith("/officer") and officer.locator("svg").count() >= 1  # the dashboard's charts
    assert officer.get_attribute("html", "lang") == HTML_LANG[lang]
    shot(officer, journey, "5-officer-dashboard")
    officer.goto("/officer/applications")
    with server.api("officer") as api:
        created = api.get(f"/api/v1/applications/{app_id}").json()["created_at"]
    when = dt.datetime.fromisoformat(created).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert app_id[:8] in officer.inner_text("main") and when in officer.inner_text("main")
    officer.goto(f"/applications/{app_id}")
    assert current_step(officer) == w("Submitted")
    officer.click(f"button:has-text('{w('Run the eligibility check')}')")
    officer.wait_for_load_state()
    assert current_step(officer) == w("Under review"), officer.inner_text("main")
    assert w("Eligibility check") in officer.inner_text("main")
    shot(officer, journey, "6-checked")
    officer.click(f"button:has-text('{w('Approve and reserve the money')}')")
    confirm(officer, lang)  # every money move: firm, amount, pool and what remains first
    assert current_step(officer) == w("Approved"), officer.inner_text("main")
    officer.click(f"button:has-text('{w('Grant the award')}')")
    confirm(officer, lang)
    assert officer.locator("h2", has_text=w("Award")).count() == 1
    shot(officer, journey, "7-awarded")
    pay = officer.locator("form:has(input[name=move][value=pay]) button").first
    assert pay.inner_text() == w("Pay")
    pay.click()
    confirm(officer, lang)
    with server.api("officer") as api:
        award = api.get(f"/api/v1/applications/{app_id}").json()
    assert award["state"] in ("paying", "completed"), json.dumps(award)[:500]
    assert w("paid") in officer.inner_text("main") and "150,000.00" in officer.inner_text("main")
    main = officer.inner_text("main")  # the tranche's milestone in words of the page's language
    assert w("award granted") in main and (lang == "en" or "award granted" not in main), main
    shot(officer, journey, "8-paid")

    # the firm sees the award paid on its page and its application at its last step
    page.goto(f"/firms/{demo_firm}")
    awards = page.locator("main h2", has_text=w("Awards")).locator("xpath=following-sibling::table[1]")
    assert w("paid") in awards.inner_text() and "150,000.00" in awards.inner_text(), awards.inner_text()
    page.goto(f"/applications/{app_id}")
    assert current_step(page) in (w("Paying"), w("Completed")), page.inner_text("main")
    shot(page, journey, "9-firm-paid")
