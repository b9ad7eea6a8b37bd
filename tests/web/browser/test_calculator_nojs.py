"""The calculator without JavaScript (a plain form post, as a browser with scripts off sends it): the
questionnaire answers, a wrong answer comes back beside its field with every answer kept, and the advanced
box's profile is checked by its own button; in Chinese."""

from __future__ import annotations

from typing import Any

from .conftest import Server, shot


def test_the_questionnaire_works_without_javascript(browser: Any, server: Server) -> None:
    context = browser.new_context(
        base_url=server.url, java_script_enabled=False, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    try:
        page = context.new_page()
        page.goto("/lang/zh?next=/calculator%3Fexample%3Dsmall-ai-firm")
        assert page.get_attribute("html", "lang") == "zh-CN"
        page.fill("input[name=registered_capital]", "５００万元")
        page.click("#calc button[value=form]")  # a full page comes back: the form and the results under it
        page.wait_for_selector("#results section.results")
        assert page.locator("#results details.result.ok").count() >= 1
        assert page.input_value("input[name=registered_capital]") == "５００万元"
        shot(page, "calculator-nojs", "1-results")

        page.fill("input[name=employees]", "3")  # fewer than the 17 R&D staff
        page.fill("input[name='contracts[0].value']", "很多")
        page.click("#calc button[value=form]")
        errors = page.locator(".field-error")
        assert errors.count() >= 2
        assert "研发人员不能多于职工人数" in page.inner_text("label[for=f-rd_staff]")
        assert "请填写金额" in page.inner_text("label[for=f-contracts-0-value]")
        assert page.input_value("input[name='contracts[0].value']") == "很多"
        assert page.locator("#results section.results").count() == 0
        shot(page, "calculator-nojs", "2-problems")

        page.click("details.advanced summary")
        page.fill("#profile", '{"uscc": "123"}')
        page.click("#check-json")
        assert "uscc" in page.inner_text("#profile-problems")
        shot(page, "calculator-nojs", "3-advanced")
    finally:
        context.close()
