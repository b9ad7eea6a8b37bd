"""Each role's main pages in Chinese, in Chromium, saved as screenshots: the whole pages to
``test-output/screenshots/zh-<role>-<page>.png`` and a small first-screen copy of each (a 256-colour PNG,
under 300 KB) to ``test-output/screenshots/curated/``, from which docs/screenshots/ is taken. Every page is
checked to be in Chinese: ``lang="zh-CN"``, a Chinese title, and no English sentence outside code and data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import SHOTS, Server, login

#: role -> (name, address) of its main pages; ``None`` as the user is a visitor.
PAGES: dict[str, list[tuple[str, str]]] = {
    "public": [
        ("home", "/"),
        ("calculator", "/calculator?example=small-ai-firm"),
        ("programmes", "/programmes"),
        ("published", "/published"),
    ],
    "firm": [("home", "/home"), ("calculator", "/calculator")],
    "officer": [
        ("dashboard", "/officer"),
        ("applications", "/officer/applications"),
        ("pools", "/officer/pools"),
        ("sandbox", "/officer/sandbox"),
        ("calls", "/officer/calls"),
        ("selection", "/officer/selection"),
        ("approvals", "/officer/approvals"),
    ],
    "reviewer": [("home", "/review")],
    "auditor": [("home", "/audit"), ("pools", "/audit/pools")],
    "admin": [("users", "/admin/users")],
}
#: The first-screen copies kept for docs/screenshots/ (at most 12).
CURATED = {
    ("public", "calculator"),
    ("public", "programmes"),
    ("firm", "home"),
    ("firm", "calculator"),
    ("officer", "dashboard"),
    ("officer", "applications"),
    ("officer", "pools"),
    ("officer", "selection"),
    ("public", "published"),
    ("reviewer", "home"),
    ("auditor", "pools"),
    ("admin", "users"),
}
#: Data that is English as it was typed: the journeys' firm user's display name (conftest.py).
DATA = {"Shanghai small AI firm"}
#: Who logs in for each role: the demo's accounts (its firm: the match's messages in its inbox).
USERS = {"firm": "firm"}
#: Three or more English words in a row: a sentence left untranslated.
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){3,}\b")


def small_copy(page: Any, path: Path) -> Path:
    """The first screen as a 256-colour PNG (a few tens of KB: fit to be committed)."""
    from PIL import Image

    full = path.with_suffix(".raw.png")
    page.screenshot(path=str(full), full_page=False)
    with Image.open(full) as im:
        im.convert("RGB").quantize(colors=256).save(path, optimize=True)
    full.unlink()
    return path


def english_sentences(page: Any) -> list[str]:
    """English sentences a reader sees: not in code, pre, textarea, inputs, nor the user's own name (data);
    a programme's clause citations are read too (the files give each clause in Chinese)."""
    text: str = page.evaluate(
        """() => { const c = document.body.cloneNode(true);
        c.querySelectorAll('code,pre,textarea,script,style,[lang=en],svg,select,.user')
          .forEach(e => e.remove());
        return c.innerText; }"""
    )
    return [m.group(0) for m in ENGLISH.finditer(text) if m.group(0) not in DATA]


@pytest.mark.slow
@pytest.mark.parametrize("role", list(PAGES))
def test_each_roles_main_pages_in_chinese(page: Any, server: Server, role: str) -> None:
    if role != "public":
        login(page, server, USERS.get(role, role))
    curated = SHOTS / "curated"
    curated.mkdir(parents=True, exist_ok=True)
    for name, address in PAGES[role]:
        page.goto(f"/lang/zh?next={address}")
        page.wait_for_load_state()
        if role in ("public", "firm") and name == "calculator":  # the questionnaire with its answers
            page.click("#calc button[value=form]")
            page.wait_for_selector("#results section.results")
        assert page.get_attribute("html", "lang") == "zh-CN", address
        assert re.search(r"[\u4e00-\u9fff]", page.title()), (address, page.title())
        stem = f"zh-{role}-{name}"
        page.screenshot(path=str(SHOTS / f"{stem}.png"), full_page=True)
        if (role, name) in CURATED:
            assert small_copy(page, curated / f"{stem}.png").stat().st_size < 300_000
        english = english_sentences(page)
        assert not english, (address, english[:5])
