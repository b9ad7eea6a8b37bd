"""The main journeys in a real browser (Chromium via Playwright) against a real server; screenshots of every
step go to test-output/screenshots/<journey>-<step>.png."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

from tests.web.browser.conftest import FIRM_USER, Server, login, shot

from huiqi.web.i18n import SHANGHAI

CATALOGUE = Path(__file__).resolve().parents[3] / "src/huiqi/web/translations/zh/LC_MESSAGES/messages.mo"
JOURNEY_CONTRACT = "HT-2025-0902"  # the firm applies for this one in the browser
OFFICER_CONTRACT = "HT-2025-0903"  # the officer journey's own application, made through the API


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


def test_firm_applies_and_uploads_evidence(page: Any, server: Server, tmp_path: Path) -> None:
    login(page, server, FIRM_USER)
    assert page.url.endswith(f"/firms/{server.firm_uscc}"), page.url
    shot(page, "firm", "1-home")
    assert page.locator("details.result.ok").count() >= 1  # the programmes it qualifies for

    page.click(f"a[href='/firms/{server.firm_uscc}/apply']")
    page.select_option("select[name=call_id]", server.call_id)
    page.check(f"input[name=contract][value='{JOURNEY_CONTRACT}']")
    page.fill(f"input[name='amount_{JOURNEY_CONTRACT}']", "150000.00")
    shot(page, "firm", "2-apply")
    page.click("form[action$='/applications'] button[type=submit]")
    page.wait_for_url(re.compile(r"/applications/[0-9a-f-]+$"))
    assert current_step(page) == "Submitted"
    assert "150,000.00" in page.inner_text("main")
    server.ids["firm_application"] = page.url.rsplit("/", 1)[1]

    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(invoice_pdf())
    page.set_input_files("input[name=file]", str(pdf))
    page.fill("input[name=description]", "model-use invoice")
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("a[href*='/evidence/']", has_text="invoice.pdf").count() == 1
    steps = page.locator("ol.progress li")
    assert steps.count() >= 5 and page.locator("ol.progress li.done").count() >= 1
    shot(page, "firm", "3-evidence")

    # the evidence downloads as the same bytes
    href = page.locator("a[href*='/evidence/']").first.get_attribute("href")
    got = page.request.get(href)
    assert got.status == 200 and got.body() == pdf.read_bytes()


def test_officer_checks_decides_awards_and_pays(page: Any, server: Server) -> None:
    with server.api(FIRM_USER) as firm:
        r = firm.post(
            "/api/v1/applications",
            json={
                "call_id": server.call_id,
                "firm_uscc": server.firm_uscc,
                "claims": [{"contract_id": OFFICER_CONTRACT, "amount": "120000.00"}],
            },
        )
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]

    login(page, server, "officer")
    assert page.url.endswith("/officer")
    assert page.locator("svg").count() >= 1  # the dashboard's charts
    shot(page, "officer", "1-dashboard")
    page.goto("/officer/applications")
    assert app_id[:8] in page.inner_text("main")
    # times are Shanghai wall-clock time, as the footer says (the database keeps UTC)
    created = dt.datetime.fromisoformat(r.json()["created_at"]).astimezone(SHANGHAI)
    assert created.strftime("%Y-%m-%d %H:%M") in page.inner_text("main")
    shot(page, "officer", "2-queue")

    page.goto(f"/applications/{app_id}")
    assert current_step(page) == "Submitted"
    page.click("button:has-text('Run the eligibility check')")
    page.wait_for_load_state()
    assert current_step(page) == "Under review", page.inner_text("main")
    assert "Eligibility check" in page.inner_text("main")
    shot(page, "officer", "3-checked")

    # every money move is confirmed on a summary first (firm, amount, pool, what remains)
    page.click("button:has-text('Approve and reserve the money')")
    page.wait_for_load_state()
    assert "Nothing has been written yet." in page.inner_text("main"), page.inner_text("main")
    page.click("button:has-text('Confirm:')")
    page.wait_for_load_state()
    assert current_step(page) == "Approved", page.inner_text("main")
    page.click("button:has-text('Grant the award')")
    page.click("button:has-text('Confirm:')")
    page.wait_for_load_state()
    assert page.locator("h2", has_text="Award").count() == 1
    shot(page, "officer", "4-awarded")

    page.locator("button", has_text="Pay").first.click()
    page.click("button:has-text('Confirm:')")
    page.wait_for_load_state()
    with server.api("officer") as officer:
        award = officer.get(f"/api/v1/applications/{app_id}").json()
        assert award["state"] in ("paying", "completed"), json.dumps(award)[:500]
    assert "paid" in page.inner_text("main")
    shot(page, "officer", "5-paid")


def test_auditor_verifies_the_ledger_and_the_audit_chain(page: Any, server: Server) -> None:
    login(page, server, "auditor")
    assert page.url.endswith("/audit")
    assert page.locator("table.audit tbody tr").count() >= 5
    shot(page, "auditor", "1-log")
    page.click("#verify-button")
    page.wait_for_selector("#verify #verify-result")
    text = page.inner_text("#verify")
    assert "The ledger verifies" in text and "The audit chain verifies" in text, text
    assert page.locator("#verify .card.error").count() == 0
    shot(page, "auditor", "2-verified")
    # read-only: the auditor has no officer actions and may not reach the officer pages
    resp = page.goto("/officer")
    assert resp is not None and resp.status == 403
    shot(page, "auditor", "3-officer-refused")
