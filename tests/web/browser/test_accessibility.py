"""axe-core runs in Debian's Chromium and can fail: a page with known serious violations is caught, and the
home page and login form, in both languages, have none (every journey's pages are checked by the ``page``
fixture as the journey ends)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.web.browser.conftest import Server, axe_violations, login


def test_axe_catches_serious_violations(page: Any) -> None:
    page.set_content(
        '<html lang="en"><body><main><img src="x.png">'
        '<p style="color:#aaa;background:#fff">faint text</p><a href="/x"></a></main></body></html>'
    )
    found = " ".join(axe_violations(page))
    assert "image-alt" in found and "color-contrast" in found, found


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("path", ["/", "/login", "/calculator", "/programmes"])
def test_public_pages_have_no_serious_violation(page: Any, server: Server, lang: str, path: str) -> None:
    page.goto(f"/lang/{lang}?next={path}")
    page.wait_for_load_state()
    assert axe_violations(page) == []


@pytest.mark.parametrize("path", ["/officer", "/officer/applications", "/officer/calls", "/officer/pools"])
def test_officer_pages_fit_a_390_px_screen(page: Any, server: Server, path: str) -> None:
    """Wide tables scroll inside their own box and charts shrink: the page itself never scrolls sideways."""
    login(page, server, "officer")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(path)
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide at 390 px"
    boxes = page.evaluate(
        "[...document.querySelectorAll('main svg, main img')].map(e => e.getBoundingClientRect().right)"
    )
    assert all(right <= 390 for right in boxes), boxes
