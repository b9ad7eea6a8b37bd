"""`huiqi simulate --lang`: the text and HTML reports read in the language asked for (issue 14): headings in
it, sectors and districts as words (``value_label``), not the register's keys; English stays the default."""

from __future__ import annotations

import re
import unicodedata

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.rules.labels import VALUE_LABELS

from .test_cli import REFORM  # the model voucher at 60%

KEYS = {"artificial_intelligence", "software_services", "digital_economy", "Pudong New Area", "Minhang"}
ENGLISH_TITLES = (
    "By sector",
    "By district",
    "By programme",
    "total cost",
    "firms changed",
    "Pool sufficiency",
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """The text and report.html of one reform over a synthetic register, in each language."""
    tmp = tmp_path_factory.mktemp("lang")
    register = write_register(synth_register(8_000, 5), tmp / "register")
    reform = tmp / "reform.yaml"
    reform.write_text(REFORM, encoding="utf-8")
    out: dict[str, tuple[str, str]] = {}
    for lang in ("zh", "en"):
        args = ["simulate", "--reform", str(reform), "--register", str(register), "--on", "2025-10-01"]
        done = CliRunner().invoke(app, [*args, "--lang", lang, "--out", str(tmp / lang)])
        assert done.exit_code == 0, done.output
        out[lang] = (done.stdout, (tmp / lang / "report.html").read_text(encoding="utf-8"))
    return out


def _section(text: str, title: str) -> list[str]:
    """The rows of one breakdown of the text report (after its title and rule, up to the blank line or the
    line that says how many more rows the JSON has)."""
    lines = text.splitlines()
    start = lines.index(title) + 3
    end = next(
        i for i in range(start, len(lines)) if not lines[i].strip() or lines[i].startswith(("(", "（"))
    )
    return lines[start:end]


def _shown_keys(text: str) -> set[str]:
    return {k for k in KEYS if re.search(rf"(^|[>\s]){re.escape(k)}(<|\s{{2}}|$)", text, re.MULTILINE)}


def test_the_zh_text_report_names_sectors_and_districts_in_chinese(
    reports: dict[str, tuple[str, str]],
) -> None:
    text, _ = reports["zh"]
    sectors, districts = _section(text, "按行业"), _section(text, "按区")
    zh_names = {zh for _en, zh in VALUE_LABELS.values()}
    assert sectors and all(row.split("  ")[0].strip() in zh_names for row in sectors), sectors
    assert districts and all(row.split("  ")[0].strip().endswith("区") for row in districts), districts
    assert not [t for t in ENGLISH_TITLES if t in text]
    assert "总成本（元）" in text and "资金池充足性" in text


def test_the_zh_text_report_lines_up_its_columns(reports: dict[str, tuple[str, str]]) -> None:
    """A Chinese character takes two columns: every line of a table is as wide as its rule."""
    text, _ = reports["zh"]
    lines = text.splitlines()
    at = lines.index("按行业")
    table = lines[at + 1 : at + 3 + len(_section(text, "按行业"))]

    def width(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    assert len({width(line) for line in table}) == 1, table


def test_the_en_text_report_names_sectors_in_words(reports: dict[str, tuple[str, str]]) -> None:
    text, _ = reports["en"]
    sectors = _section(text, "By sector")
    en_names = {en for en, _zh in VALUE_LABELS.values()}
    assert sectors and all(row.split("  ")[0].strip() in en_names for row in sectors), sectors
    assert not _shown_keys("\n".join(sectors)) and "software and IT services" in text
    assert "By district" in text and "按区" not in text


def test_the_zh_html_report_is_chinese(reports: dict[str, tuple[str, str]]) -> None:
    _, html = reports["zh"]
    assert '<html lang="zh-CN">' in html
    assert "<h2>按行业</h2>" in html and "<h2>按区</h2>" in html and "<td>浦东新区</td>" in html
    assert "<span class='note'>模型券</span>" in html  # the programme's name in Chinese
    body = re.sub(r"<svg.*?</svg>|<style>.*?</style>", "", html, flags=re.S)
    assert not [t for t in ENGLISH_TITLES if t in body] and not _shown_keys(body)
    _, en = reports["en"]
    assert (
        "<h2>By district</h2>" in en
        and "<td>Pudong New Area</td>" in en
        and "<td>artificial intelligence</td>" in en
    )
