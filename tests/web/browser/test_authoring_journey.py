"""Authoring a programme version in the browser (issue 15), in Chinese: an officer drafts next year's model
voucher from the served file, sees a mistake placed beside its line as she types, corrects it, sets the new
rate by the dated-value form, turns an example firm into a test case, runs the test cases and submits; a
second officer reviews the diff and the cost over a synthetic register, and publishes; the public catalogue
then lists the new version with its dates. Screenshots (zh) in test-output/screenshots/authoring-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.web.browser.conftest import Server, login, serve, shot

from huiqi.accounts import service as accounts
from huiqi.app.register import synth_register
from huiqi.app.store import Store
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.rules.loader import bundled_pack_dir

PASSWORD = "authoring journey password"
MODEL = "shanghai.ai.model-voucher"
MODEL_FILE = bundled_pack_dir("shanghai") / "ai-model-voucher.programme.yaml"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh site with two officers (the author and the reviewer), serving the bundled programmes."""
    directory = tmp_path_factory.mktemp("browser-authoring")
    url = f"sqlite:///{directory / 'huiqi.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        for user in ("wang", "li"):
            accounts.create_user(session=s, username=user, password=PASSWORD, role="officer", actor="test")
        s.commit()
    engine.dispose()
    store = Store.open(url)
    synth_register(store, firms=300, seed=15)  # the register the reviewer costs the change over
    store.close()
    with serve(directory) as base:
        yield Server(
            base, directory, dict.fromkeys(("wang", "li"), PASSWORD), "", "", directory / "server.log"
        )


def test_an_officer_authors_a_version_a_second_officer_publishes_it_and_the_catalogue_shows_it(
    browser: Any, site: Server
) -> None:
    def new_page() -> Any:
        ctx = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900}, locale="zh-CN")
        ctx.set_default_timeout(30_000)
        pg = ctx.new_page()
        pg.goto("/lang/zh?next=/")
        return pg

    text = MODEL_FILE.read_text(encoding="utf-8")
    next_year = text.replace('version: "2025.1"', 'version: "2026.1"', 1).replace(
        "effective: {from: 2025-07-28}", "effective: {from: 2027-01-01}", 1
    )
    wrong = next_year.replace("test: firm.registration_city == city", "test: firm.registration_city == cty")
    wrong_line = next(i for i, s in enumerate(wrong.splitlines(), 1) if "== cty" in s)

    # the author starts the next version from the served file
    author = new_page()
    login(author, site, "wang")
    author.goto("/officer/programmes")
    author.locator(f"a[href^='/officer/programmes/drafts/new?programme={MODEL}']").first.click()
    author.wait_for_url("**/officer/programmes/drafts/new**")
    assert author.input_value("#text") == text

    # a mistake as she types: the problem stands beside its line in the gutter, and in the list
    author.fill("#text", wrong)
    author.press("#text", "End")
    bad = author.locator(f"#text-gutter span.bad:text-is('{wrong_line}')")
    bad.wait_for()
    assert "unknown name 'cty'" in str(bad.get_attribute("title"))
    assert f"第 {wrong_line} 行" in author.inner_text("#problems")
    shot(author, "authoring", "1-error-beside-its-line-zh")
    author.fill("#text", next_year)
    author.press("#text", "End")
    author.locator("#problems .ok-line").wait_for()
    assert "2026.1" in author.inner_text("#problems")
    author.click("#save")
    author.wait_for_url("**/officer/programmes/drafts/*")
    draft_url = author.url

    # the new rate by the dated-value form, no YAML to write
    author.select_option("#param-name", "rate")
    author.fill("#param-value", "30%")
    author.fill("#param-start", "2027-01-01")
    author.fill("#param-clause", "模型券（2027年起）")
    author.click("#param-save")
    author.wait_for_load_state()
    assert "{from: 2027-01-01, value: 30%" in author.input_value("#text")

    # an example firm becomes a test case; the test cases run and pass
    author.select_option("#case-example", "small-ai-firm")
    author.fill("#case-on", "2027-03-01")
    author.fill("#case-name", "小型人工智能企业（2027年）")
    author.click("#case-add")
    author.wait_for_load_state()
    assert "小型人工智能企业（2027年）" in author.input_value("#tests")
    author.click("#run-tests")
    author.locator("#test-run p").wait_for()
    outcome = author.inner_text("#test-run")
    assert "个通过，0 个失败" in outcome, outcome
    shot(author, "authoring", "2-tests-pass-zh")
    author.click("#submit-review")
    author.wait_for_load_state()
    assert author.inner_text("#draft-status") == "审核中"
    assert author.locator("#publish").count() == 0  # the author cannot publish her own draft

    # the second officer reviews the diff and publishes
    reviewer = new_page()
    login(reviewer, site, "li")
    reviewer.goto(draft_url)
    main = reviewer.inner_text("main")
    assert "变更内容：2025.1 → 2026.1" in main and "30%" in main and "50%" in main
    shot(reviewer, "authoring", "3-review-diff-zh")
    reviewer.click("#cost-run")
    reviewer.locator("#cost p").first.wait_for()
    assert "名录中 300 家企业测算" in reviewer.inner_text("#cost"), reviewer.inner_text("#cost")
    shot(reviewer, "authoring", "3b-cost-over-the-register-zh")
    reviewer.click("#publish")
    reviewer.wait_for_load_state()
    assert reviewer.inner_text("#draft-status") == "已发布", reviewer.inner_text("main")[:2000]
    shot(reviewer, "authoring", "4-published-zh")

    # the public catalogue lists both versions with their dates
    visitor = new_page()
    visitor.goto("/programmes?q=模型券&city=shanghai&status=all")
    rows = visitor.inner_text("table.catalogue")
    assert "2026.1" in rows and "2027-01-01 – …" in rows and "2025-07-28 – 2026-12-31" in rows
    shot(visitor, "authoring", "5-catalogue-zh")
    visitor.goto(f"/programmes/{MODEL}?version=2026.1")
    versions = visitor.inner_text("table.versions")
    assert "2026.1" in versions and "2027-01-01" in versions and "即将生效" in versions
    params = visitor.inner_text("table.parameters")
    assert "自 2027-01-01: 30%" in params
    shot(visitor, "authoring", "6-programme-versions-zh")
