"""WCAG 2.1 AA: every text colour in the stylesheet reaches 4.5:1 on every surface it can sit on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "src/huiqi/web/static/style.css"
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
HEX = re.compile(r"#[0-9a-fA-F]{3,6}\b")


def luminance(colour: str) -> float:
    h = colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    rgb = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ratio(a: str, b: str) -> float:
    low, high = sorted((luminance(a), luminance(b)))
    return (high + 0.05) / (low + 0.05)


def rules() -> list[tuple[str, dict[str, str]]]:
    text = re.sub(r"/\*.*?\*/", "", CSS.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"@media[^{]*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", r"\1", text)
    variables: dict[str, str] = {}
    found = []
    for selector, body in RULE.findall(text):
        decls = {}
        for part in body.split(";"):
            if ":" in part:
                key, value = part.split(":", 1)
                decls[key.strip()] = value.strip()
        for key, value in decls.items():
            if key.startswith("--"):
                variables[key] = value
        found.append((selector.strip(), decls))

    def resolve(value: str) -> str:
        return re.sub(r"var\((--[\w-]+)\)", lambda m: variables[m.group(1)], value)

    return [(sel, {k: resolve(v) for k, v in d.items()}) for sel, d in found]


def colour_of(value: str) -> str | None:
    match = HEX.search(value)
    return match.group(0) if match else None


def test_the_stylesheet_is_parsed() -> None:
    texts = [d for _, d in rules() if "color" in d]
    assert len(texts) >= 10


def test_ratio_of_known_pairs() -> None:
    assert ratio("#000", "#fff") == pytest.approx(21.0)
    assert ratio("#6b7785", "#f6f8fa") == pytest.approx(4.29, abs=0.01)  # the old grey: fails AA


def test_every_text_colour_reaches_4_5_to_1() -> None:
    found = rules()
    # Surfaces dark text may sit on: every light background (dark ones, the buttons, carry white text).
    surfaces = {"#fff"}
    for _, decls in found:
        bg = colour_of(decls.get("background", "") or decls.get("background-color", ""))
        if bg and luminance(bg) > 0.5:
            surfaces.add(bg)
    failures = []
    for selector, decls in found:
        fg = colour_of(decls.get("color", "") or decls.get("fill", "") if "text" in selector else "")
        fg = colour_of(decls.get("color", "")) or fg
        if fg is None:
            continue
        own = colour_of(decls.get("background", "") or decls.get("background-color", ""))
        if own is not None:
            against = {own}
        elif luminance(fg) > 0.5:
            continue  # light text only ever sits on its own rule's background
        else:
            against = surfaces
        failures += [f"{selector}: {fg} on {bg} {ratio(fg, bg):.2f}" for bg in against if ratio(fg, bg) < 4.5]
    assert not failures, failures
